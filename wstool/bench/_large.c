/*
 * wstool.bench._batch's LargeStream: a closed-loop connection of large
 * messages (one size), its echoes checked and answered in C.
 *
 * Each message goes out as two pieces through the transport's writelines (a
 * gather write on uvloop): its frame header and masked timestamp header, a
 * small bytes object of its own, then the connection's one masked filler,
 * which is never copied. Its echo, echo_prefix + timestamp header + rest, is
 * compared where it lands in the read buffer, part by part: the timestamp
 * header computed again from the batch's send time and the message's number,
 * the filler against the one plain copy. Of the messages in flight only their
 * batches are kept (Batch in _batch.h).
 *
 * connection.py's Python path for large frames (_build_large, _match_large)
 * does the same, and the tests hold the two to the same counts and bytes.
 */
#include "_batch.h"

#include <string.h>
#include <sys/uio.h>

typedef struct {
    PyObject_HEAD
    StreamBase s;       /* the sink is the transport's writelines */
    long long pos;      /* stream position matched */
    long long done_pos; /* where the last whole echo ended */
    long long sent_end; /* where the echo of the last message sent will end */
} LargeStream;

static void
large_dealloc(LargeStream *self)
{
    PyObject_GC_UnTrack(self);
    bench_stream_clear(&self->s);
    PyObject_GC_Del(self);
}

/* The expected bytes at ``offset`` into the echo of message ``number`` of
   ``batch``, and how many of them run on before the part ends. ``header``
   holds that message's timestamp header once *have_header is set. */
static const unsigned char *
large_expected(const Pieces *p, const Batch *batch, Py_ssize_t in_batch, Py_ssize_t offset,
               unsigned char *header, int *have_header, Py_ssize_t *run)
{
    Py_ssize_t head_end = p->echo_prefix_len, header_end = head_end + header_len(p);

    if (offset < head_end) {
        *run = head_end - offset;
        return p->echo_prefix + offset;
    }
    if (offset < header_end) {
        if (!*have_header) {
            bench_plain_header(p, (unsigned long long)batch->stamp,
                               batch->first + (unsigned long long)in_batch, header);
            *have_header = 1;
        }
        *run = header_end - offset;
        return header + (offset - head_end);
    }
    *run = echo_len(p) - offset;
    return p->rest + (offset - header_end);
}

/* Whether the ``n`` bytes at ``data`` continue the echoes expected from the
   stream position matched so far (nothing is changed either way). */
static int
large_matches(const LargeStream *self, const unsigned char *data, Py_ssize_t n)
{
    const Pieces *p = &self->s.pieces;
    const BatchRing *ring = &self->s.batches;
    Py_ssize_t elen = echo_len(p), at = 0, in_batch = 0, b = 0, offset;
    unsigned char header[32];
    int have_header = 0;

    if (n == 0) {
        return 1;
    }
    if (ring->len == 0) {
        return 0; /* nothing is expected */
    }
    /* The oldest batch's first message is the one the matched position is in. */
    offset = (Py_ssize_t)(self->pos - (ring->items[ring->head].first_end - elen));
    while (at < n) {
        const Batch *batch;
        const unsigned char *want;
        Py_ssize_t take;

        if (b >= ring->len) {
            return 0; /* more than was sent */
        }
        batch = &ring->items[(ring->head + b) % ring->cap];
        want = large_expected(p, batch, in_batch, offset, header, &have_header, &take);
        if (take > n - at) {
            take = n - at;
        }
        if (memcmp(want, data + at, take) != 0) {
            return 0;
        }
        at += take;
        offset += take;
        if (offset == elen) {
            offset = 0;
            have_header = 0;
            if (++in_batch == batch->count) {
                in_batch = 0;
                b++;
            }
        }
    }
    return 1;
}

static inline Py_ssize_t
head_len(const Pieces *p)
{
    return p->prefix_len + header_len(p);
}

/* One message's first piece into ``out`` (head_len(p) bytes): the frame header,
   then its timestamp header masked. */
static void
large_head_into(const Pieces *p, long long stamp, unsigned long long number, unsigned char *out)
{
    Py_ssize_t hlen = header_len(p);
    unsigned char plain[32];

    memcpy(out, p->prefix, p->prefix_len);
    out += p->prefix_len;
    bench_plain_header(p, (unsigned long long)stamp, number, plain);
    /* The header starts the payload, so the mask starts with it (RFC 6455 5.3:
       octet i of the payload is XORed with octet i MOD 4 of the key). */
    for (Py_ssize_t j = 0; j < hlen; j++) {
        out[j] = plain[j] ^ p->key[j & 3];
    }
}

/* The same as a bytes object of its own. */
static PyObject *
large_head(const Pieces *p, long long stamp, unsigned long long number)
{
    PyObject *head = PyBytes_FromStringAndSize(NULL, head_len(p));

    if (head != NULL) {
        large_head_into(p, stamp, number, (unsigned char *)PyBytes_AS_STRING(head));
    }
    return head;
}

/* ``count`` messages numbered from ``first`` as pieces for writelines: each its
   head, then the one masked filler. */
static PyObject *
large_pieces(LargeStream *self, Py_ssize_t count, long long stamp, unsigned long long first)
{
    PyObject *pieces = PyList_New(2 * count);

    if (pieces == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *head = large_head(&self->s.pieces, stamp, first + (unsigned long long)i);

        if (head == NULL) {
            Py_DECREF(pieces);
            return NULL;
        }
        PyList_SET_ITEM(pieces, 2 * i, head);
        PyList_SET_ITEM(pieces, 2 * i + 1, Py_NewRef(self->s.owned[1]));
    }
    return pieces;
}

/* The same sent on the stream's own socket (in the pump): the heads side by side
   in the direct buffer, each message two iovecs, head and filler. */
static int
large_send_direct(LargeStream *self, Py_ssize_t count, long long stamp, unsigned long long first)
{
    const Pieces *p = &self->s.pieces;
    Py_ssize_t hlen = head_len(p);
    unsigned char *heads = bench_direct_buffer(hlen * count);
    struct iovec *iov = heads == NULL ? NULL : PyMem_Malloc(2 * count * sizeof(struct iovec));
    int result;

    if (iov == NULL) {
        return heads == NULL ? -1 : (PyErr_NoMemory(), -1);
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        large_head_into(p, stamp, first + (unsigned long long)i, heads + i * hlen);
        iov[2 * i] = (struct iovec){heads + i * hlen, (size_t)hlen};
        iov[2 * i + 1] = (struct iovec){(void *)p->masked_rest, (size_t)p->masked_rest_len};
    }
    result = bench_send_pieces(&self->s, iov, 2 * count, self->s.owned[1]);
    PyMem_Free(iov);
    return result;
}

/* Send ``count`` messages stamped ``stamp`` (through writelines, or on the socket
   itself in the pump); their echoes become expected. */
static int
large_send(PyObject *stream, Py_ssize_t count, long long stamp)
{
    LargeStream *self = (LargeStream *)stream;
    Py_ssize_t elen = echo_len(&self->s.pieces);
    unsigned long long first = self->s.number;
    PyObject *pieces = NULL;
    Batch *batch;

    if (count <= 0) {
        return 0;
    }
    if (count > PY_SSIZE_T_MAX / 2 || bench_ring_reserve(&self->s.batches) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        return -1;
    }
    if (self->s.fd < 0 && (pieces = large_pieces(self, count, stamp, first)) == NULL) {
        return -1;
    }
    batch = bench_ring_push(&self->s.batches);
    batch->first_end = self->sent_end + elen;
    batch->count = count;
    batch->stamp = stamp;
    batch->first = first;
    self->sent_end += (long long)elen * count;
    self->s.number += (unsigned long long)count;
    if (pieces == NULL) {
        return large_send_direct(self, count, stamp, first);
    }
    return bench_to_sink(&self->s, pieces);
}

/* step(nbytes, now, sending, counts[, tally, counting]) -> int: as EchoStream.step
   (see _batch.c). */
static PyObject *
large_step(LargeStream *self, PyObject *const *args, Py_ssize_t nargs)
{
    StepArgs step;
    PyObject *result;

    if (bench_step_arguments(self->s.buffer, args, nargs, &step) < 0) {
        return NULL;
    }
    if (!large_matches(self, (const unsigned char *)PyByteArray_AS_STRING(self->s.buffer),
                       step.nbytes)) {
        result = PyLong_FromLong(-1);
    } else {
        result = bench_step_matched((PyObject *)self, &self->s.batches, &self->pos,
                                    &self->done_pos, echo_len(&self->s.pieces),
                                    payload_len(&self->s.pieces), &step, large_send);
    }
    bench_step_release(&step);
    return result;
}

/* The hook's (see _batch.c): whether the read is the next of the echoes expected. */
static int
large_read_matches(PyObject *stream, Py_ssize_t nbytes)
{
    LargeStream *self = (LargeStream *)stream;

    return large_matches(self, (const unsigned char *)PyByteArray_AS_STRING(self->s.buffer),
                         nbytes);
}

int
bench_large_read(PyObject *stream, Py_ssize_t nbytes)
{
    LargeStream *self = (LargeStream *)stream;

    return bench_step_read(stream, &self->s, nbytes, large_read_matches, &self->pos,
                           &self->done_pos, large_send);
}

static PyObject *
large_buffer_updated(LargeStream *self, PyObject *nbytes)
{
    return bench_buffer_updated((PyObject *)self, &self->s, nbytes, large_read_matches,
                                &self->pos, &self->done_pos, large_send);
}

static PyObject *
large_send_method(LargeStream *self, PyObject *const *args, Py_ssize_t nargs)
{
    return bench_send_method((PyObject *)self, args, nargs, large_send);
}

/* export() -> (batches, pos, done_pos, number): the state for the Python path:
   each batch still expected as (first_end, count, stamp, first), the stream
   position matched, where the last whole echo ended, and the next message's
   number. */
static PyObject *
large_export(LargeStream *self, PyObject *unused)
{
    PyObject *batches = bench_ring_export(&self->s.batches);

    if (batches == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NLLK)", batches, self->pos, self->done_pos, self->s.number);
}

static PyMethodDef large_methods[] = {
    {"step", (PyCFunction)(void (*)(void))large_step, METH_FASTCALL,
     "step(nbytes, now, sending, counts[, tally, counting]) -> echoes completed, or -1 if "
     "the read is wrong"},
    {"send", (PyCFunction)(void (*)(void))large_send_method, METH_FASTCALL,
     "send(count, stamp): send count messages stamped stamp"},
    {"export", (PyCFunction)large_export, METH_NOARGS,
     "export() -> (batches, pos, done_pos, number), for the Python path"},
    BENCH_HOOK_METHODS,
    {"buffer_updated", (PyCFunction)large_buffer_updated, METH_O,
     "buffer_updated(nbytes): a read, stepped here or handed to the fallback"},
    {NULL, NULL, 0, NULL},
};

PyTypeObject LargeStreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wstool.bench._batch.LargeStream",
    .tp_basicsize = sizeof(LargeStream),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A closed-loop connection's large echoes checked and answered in C "
              "(see large_stream()).",
    .tp_dealloc = (destructor)large_dealloc,
    .tp_traverse = bench_stream_traverse,
    .tp_clear = bench_stream_gc_clear,
    .tp_methods = large_methods,
};

/* large_stream(buffer, writelines, prefix, masked_rest, echo_prefix, rest, key,
   index, text, number, pos[, stamped]) -> LargeStream: as stream() (see
   _batch.c), with the transport's writelines instead of its write; nothing may
   be in flight. */
PyObject *
bench_large_stream_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    LargeStream *self;
    StreamBase base;
    long long pos;

    if (bench_stream_init(&base, "large_stream", args, nargs, 11) < 0) {
        return NULL;
    }
    pos = PyLong_AsLongLong(args[10]);
    self = PyErr_Occurred() ? NULL : PyObject_GC_New(LargeStream, &LargeStreamType);
    if (self == NULL) {
        bench_stream_clear(&base);
        return NULL;
    }
    self->s = base;
    self->pos = self->done_pos = self->sent_end = pos;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}
