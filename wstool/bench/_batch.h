/*
 * What the two streams of wstool.bench._batch share: a connection's frame
 * pieces, the timestamp header that numbers each message, and the ring of
 * batches whose echoes are still to come.
 *
 * _batch.c holds numbered() and EchoStream (small messages, one buffer of
 * expected echoes); _large.c holds LargeStream (large messages, sent and
 * checked piece by piece, their filler never copied); _hook.c the hook that
 * hands a connection's reads to its stream; _pump.c the Pump, which reads and
 * sends for EchoStreams itself.
 */
#ifndef WSTOOL_BENCH_BATCH_H
#define WSTOOL_BENCH_BATCH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

struct iovec;

/* What every frame of a connection's batches shares. A client frame is
   prefix + (timestamp header XOR key) + masked_rest; its echo is
   echo_prefix + timestamp header + rest. Without ``stamped`` (bench
   --no-stamps) there is no timestamp header: every frame is the same. */
typedef struct {
    const unsigned char *prefix, *masked_rest, *echo_prefix, *rest;
    Py_ssize_t prefix_len, masked_rest_len, echo_prefix_len, rest_len;
    unsigned char key[4];
    unsigned long long index;
    int text, stamped;
} Pieces;

static inline Py_ssize_t
header_len(const Pieces *p)
{
    return !p->stamped ? 0 : p->text ? 32 : 16;
}

static inline Py_ssize_t
frame_len(const Pieces *p)
{
    return p->prefix_len + header_len(p) + p->masked_rest_len;
}

static inline Py_ssize_t
echo_len(const Pieces *p)
{
    return p->echo_prefix_len + header_len(p) + p->rest_len;
}

/* A message's payload: its timestamp header and the rest. */
static inline Py_ssize_t
payload_len(const Pieces *p)
{
    return header_len(p) + p->rest_len;
}

/* Messages sent together, sharing their send time. */
typedef struct {
    long long first_end;       /* stream position where the batch's first echo ends */
    Py_ssize_t count;          /* echoes of the batch still to come */
    long long stamp;           /* the batch's send time, ns */
    unsigned long long first;  /* the number of the batch's first message still to come */
} Batch;

/* The batches still expected, oldest first. */
typedef struct {
    Batch *items;
    Py_ssize_t head, len, cap;
} BatchRing;

/* What a hooked stream takes its connection's reads with (see hook() in _batch.c). */
typedef struct {
    PyObject *fallback; /* the connection's own buffer_updated, for everything else */
    PyObject *counts;   /* the latency counts (a dict), while recording */
    PyObject *tally;    /* Stats.tally, whose buffer ``tally_view`` holds */
    PyObject *switches; /* the run's sending, recording, counting, held by ``switch_view`` */
    Py_buffer tally_view, switch_view;
} Hook;

/* What both streams hold: the frame pieces (and their bytes objects), the read
   buffer, where batches are sent, the next message's number, the batches in
   flight, and the hook. Each stream's struct starts with PyObject_HEAD and then
   one of these. */
typedef struct {
    PyObject *owned[4]; /* prefix, masked_rest, echo_prefix, rest */
    PyObject *buffer;   /* the bytearray reads land in */
    PyObject *sink;     /* the transport's write (EchoStream) or writelines (LargeStream) */
    Pieces pieces;
    unsigned long long number;
    BatchRing batches;
    Hook hook;
    int fd; /* the socket a stream in the pump sends on itself, else -1 (see _pump.c) */
} StreamBase;

/* How each stream's struct starts. */
typedef struct {
    PyObject_HEAD
    StreamBase s;
} StreamObject;

/* A stream's constructor arguments checked and kept in ``base``: buffer, sink,
   prefix, masked_rest, echo_prefix, rest, key, index, text, number (args 0 to
   9; what follows up to ``least`` is the constructor's own), and an optional
   last one, stamped (``nargs`` is ``least`` or ``least + 1``). 0, or -1 with
   an exception and nothing kept. */
int bench_stream_init(StreamBase *base, const char *name, PyObject *const *args,
                      Py_ssize_t nargs, Py_ssize_t least);

/* What bench_stream_init kept, released. */
void bench_stream_clear(StreamBase *base);

/* plan.py's timestamp header of message ``number`` (modulo 2**32) sent at
   ``stamp``: 32 lowercase hex digits (text) or 16 bytes big-endian. */
void bench_plain_header(const Pieces *p, unsigned long long stamp, unsigned long long number,
                        unsigned char *out);

/* Pieces (stamped) from the bytes objects prefix, masked_rest, echo_prefix,
   rest and key (4 bytes), which the caller keeps alive; 0, or -1 with an
   exception. */
int bench_pieces_from(Pieces *p, PyObject *const *objects, PyObject *key);

/* Room in the ring for one more batch; 0, or -1 with MemoryError. */
int bench_ring_reserve(BatchRing *ring);

/* The batch at the ring's tail (after bench_ring_reserve). */
static inline Batch *
bench_ring_push(BatchRing *ring)
{
    Batch *batch = &ring->items[(ring->head + ring->len) % ring->cap];

    ring->len++;
    return batch;
}

/* Echoes of ``elen`` bytes each matched up to stream position ``pos``: the
   batches they complete leave the ring (their latency at ``now`` counted in
   the dict ``counts``, µs -> messages, unless NULL). Sets *done to the number
   of echoes completed and *last to where the last one ended (unchanged when
   none); 0, or -1 with an exception. */
int bench_ring_complete(BatchRing *ring, long long pos, Py_ssize_t elen, long long now,
                        PyObject *counts, Py_ssize_t *done, long long *last);

/* ``data`` (a new reference, let go of here; NULL after an error) handed to the
   stream's sink; 0, or -1 with an exception. */
static inline int
bench_to_sink(StreamBase *base, PyObject *data)
{
    PyObject *written;

    if (data == NULL) {
        return -1;
    }
    written = PyObject_CallOneArg(base->sink, data);
    Py_DECREF(data);
    if (written == NULL) {
        return -1;
    }
    Py_DECREF(written);
    return 0;
}

/* The batches as a list of (first_end, count, stamp, first), for the Python path. */
PyObject *bench_ring_export(const BatchRing *ring);

/* ``now`` as step() takes it: an int of ns, or None for the clock now;
   0, or -1 with an exception. */
int bench_time_ns(PyObject *now, long long *out);

/* step()'s arguments: nbytes, now, sending, counts[, tally, counting]. */
typedef struct {
    Py_ssize_t nbytes;  /* read into the buffer */
    long long now;      /* ns */
    int sending;        /* answer each completed echo with a new message */
    PyObject *counts;   /* latency µs -> messages, or NULL */
    long long *tally;   /* Stats.tally's six counters (stats.TALLIED), or NULL */
    int counting;       /* inside the measurement window */
    Py_buffer view;     /* the tally's, held until bench_step_release */
} StepArgs;

/* step()'s arguments checked against the read buffer (None for counts or tally
   comes back NULL); 0, or -1 with an exception. On 0, bench_step_release must
   follow. */
int bench_step_arguments(PyObject *buffer, PyObject *const *args, Py_ssize_t nargs,
                         StepArgs *out);

/* What bench_step_arguments held, let go. */
void bench_step_release(StepArgs *step);

/* Sends ``count`` messages stamped ``stamp`` on a stream; 0, or -1 with an exception. */
typedef int (*bench_send_fn)(PyObject *stream, Py_ssize_t count, long long stamp);

/* The end of a stream's step() once its read matched: the position moved on,
   the batches completed counted (see bench_ring_complete), their messages
   added to the tally (echoes of ``payload`` bytes each) and, when sending, as
   many new messages sent. Returns how many echoes completed. */
PyObject *bench_step_matched(PyObject *stream, BatchRing *ring, long long *pos,
                             long long *done_pos, Py_ssize_t elen, Py_ssize_t payload,
                             const StepArgs *step, bench_send_fn send);

/* A stream's send(count, stamp) method. */
PyObject *bench_send_method(PyObject *stream, PyObject *const *args, Py_ssize_t nargs,
                            bench_send_fn send);

/* Whether the read of ``nbytes`` at the start of the stream's buffer is the
   echoes it expects next (nothing changed). */
typedef int (*bench_match_fn)(PyObject *stream, Py_ssize_t nbytes);

/* What the hook holds, let go (unhook(), and when the stream goes). */
void bench_unhook(StreamBase *base);

/* The methods both streams share: hook(fallback, counts, tally, switches), after
   which the connection's reads are the stream's (see _batch.c); unhook(); and
   get_buffer(sizehint), the read buffer (asyncio's BufferedProtocol). */
PyObject *bench_hook_method(PyObject *stream, PyObject *const *args, Py_ssize_t nargs);
PyObject *bench_unhook_method(PyObject *stream, PyObject *unused);
PyObject *bench_get_buffer(PyObject *stream, PyObject *sizehint);

#define BENCH_HOOK_METHODS                                                    \
    {"hook", (PyCFunction)(void (*)(void))bench_hook_method, METH_FASTCALL,   \
     "hook(fallback, counts, tally, switches): take the connection's reads "  \
     "(get_buffer, buffer_updated) from now on"},                             \
    {"unhook", (PyCFunction)bench_unhook_method, METH_NOARGS,                 \
     "unhook(): let go of what hook() took"},                                 \
    {"get_buffer", (PyCFunction)bench_get_buffer, METH_O,                     \
     "get_buffer(sizehint) -> the read buffer"}

/* Both streams' tp_traverse and tp_clear: the hook makes a cycle (connection ->
   the stream's buffer_updated -> stream -> the connection's own buffer_updated
   -> connection), so the streams take part in garbage collection. */
int bench_stream_traverse(PyObject *stream, visitproc visit, void *arg);
int bench_stream_gc_clear(PyObject *stream);

/* A hooked stream's buffer_updated(nbytes): while the run is sending, a read
   that ``match`` finds to be the echoes expected is stepped as step() steps it
   with the run's arguments; anything else goes to the fallback. */
PyObject *bench_buffer_updated(PyObject *stream, StreamBase *base, PyObject *nbytes,
                               bench_match_fn match, long long *pos, long long *done_pos,
                               bench_send_fn send);

/* A read of ``nbytes`` in a stream's buffer, stepped as its hooked buffer_updated
   steps it: 1 if it was, 0 if it is for the fallback (nothing changed), -1 with
   an exception. */
typedef int (*bench_read_fn)(PyObject *stream, Py_ssize_t nbytes);

/* The pump's way to step reads of ``obj``: its own, for an EchoStream or a
   LargeStream; NULL for anything else. */
bench_read_fn bench_stream_reader(PyObject *obj);

/* LargeStream's (from _large.c). */
int bench_large_read(PyObject *stream, Py_ssize_t nbytes);

/* From _pump.c: a buffer of at least ``len`` bytes for a batch about to be sent
   directly (one batch at a time: the GIL is held), or NULL with MemoryError; */
unsigned char *bench_direct_buffer(Py_ssize_t len);

/* ``len`` bytes sent on the stream's own socket (base->fd). What the socket does not
   take at once goes to the sink, and base->fd becomes -1: the transport sends from
   then on. 0, or -1 with an exception; */
int bench_send_direct(StreamBase *base, const unsigned char *data, Py_ssize_t len);

/* the iovecs ``iov`` (``n`` of them) sent on the stream's own socket in as few
   sendmsg calls as the system allows, and the same as bench_send_direct with
   what the socket does not take: those pieces go to the sink (the transport's
   writelines) as bytes, but for the iovecs that are ``shared``'s whole bytes
   (the filler), which go as that object; */
int bench_send_pieces(StreamBase *base, struct iovec *iov, Py_ssize_t n, PyObject *shared);

/* and the Pump type added to the module (where there is epoll); 0, or -1. */
int bench_add_pump(PyObject *module);

/* From _hook.c: a hooked stream's read of ``nbytes`` (in its buffer), stepped as
   its buffer_updated steps it: 1 if it was, 0 if it is the fallback's (not
   hooked, the run's end, or not the echoes expected; nothing changed), -1 with
   an exception. ``match``, ``pos``, ``done_pos`` and ``send`` are the stream's. */
int bench_step_read(PyObject *stream, StreamBase *base, Py_ssize_t nbytes, bench_match_fn match,
                    long long *pos, long long *done_pos, bench_send_fn send);

/* The large-message stream type, and large_stream(), from _large.c. */
extern PyTypeObject LargeStreamType;
PyObject *bench_large_stream_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
