/*
 * wstool.bench._batch: a closed-loop batch of numbered bench messages in one call,
 * and the echo streams that check and answer a closed-loop connection in C.
 *
 * numbered(prefix, masked_rest, echo_prefix, rest, key, stamp, index, first, count,
 *          text, expected) -> bytes
 * builds what connection.py's numbered_python builds (and is tested against):
 * ``count`` client frames, each
 *
 *     prefix + (stamp + index + number) XOR key + masked_rest
 *
 * where ``prefix`` is the frame header with its mask key, and the payload
 * starts with plan.py's timestamp header: the send time in ns (64 bits),
 * the connection's index and the message's number ``first + i`` (32 bits
 * each, modulo 2**32), as 32 lowercase hex digits (text) or 16 bytes
 * big-endian (binary).  The echoes expected back,
 *
 *     echo_prefix + stamp + index + number + rest
 *
 * are appended to the bytearray ``expected``.
 */
#include "_batch.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

/* n as ``digits`` lowercase hex digits (text) or digits / 2 bytes big-endian. */
static void
put_number(unsigned long long n, int digits, int text, unsigned char *out)
{
    static const char hex[] = "0123456789abcdef";

    if (text) {
        for (int i = digits - 1; i >= 0; i--) {
            out[i] = (unsigned char)hex[n & 0xF];
            n >>= 4;
        }
    } else {
        for (int i = digits / 2 - 1; i >= 0; i--) {
            out[i] = (unsigned char)(n & 0xFF);
            n >>= 8;
        }
    }
}

void
bench_plain_header(const Pieces *p, unsigned long long stamp, unsigned long long number,
                   unsigned char *out)
{
    int half = p->text ? 16 : 8;

    put_number(stamp, 16, p->text, out);
    put_number(p->index & 0xFFFFFFFFULL, 8, p->text, out + half);
    put_number(number & 0xFFFFFFFFULL, 8, p->text, out + half + half / 2);
}

int
bench_pieces_from(Pieces *p, PyObject *const *objects, PyObject *key)
{
    const unsigned char **starts[4] = {&p->prefix, &p->masked_rest, &p->echo_prefix, &p->rest};
    Py_ssize_t *lengths[4] = {&p->prefix_len, &p->masked_rest_len, &p->echo_prefix_len,
                              &p->rest_len};

    for (int i = 0; i < 4; i++) {
        if (!PyBytes_Check(objects[i])) {
            PyErr_SetString(PyExc_TypeError, "the frame pieces must be bytes");
            return -1;
        }
        *starts[i] = (const unsigned char *)PyBytes_AS_STRING(objects[i]);
        *lengths[i] = PyBytes_GET_SIZE(objects[i]);
    }
    if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) != 4) {
        PyErr_SetString(PyExc_ValueError, "mask key must be 4 bytes");
        return -1;
    }
    memcpy(p->key, PyBytes_AS_STRING(key), 4);
    p->stamped = 1;
    return 0;
}

int
bench_stream_init(StreamBase *base, const char *name, PyObject *const *args, Py_ssize_t nargs,
                  Py_ssize_t least)
{
    Pieces pieces;

    if (nargs != least && nargs != least + 1) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd or %zd arguments", name, least, least + 1);
        return -1;
    }
    if (!PyByteArray_Check(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "%s() wants a bytearray and a callable", name);
        return -1;
    }
    if (bench_pieces_from(&pieces, args + 2, args[6]) < 0) {
        return -1;
    }
    pieces.index = PyLong_AsUnsignedLongLongMask(args[7]);
    pieces.text = PyObject_IsTrue(args[8]);
    pieces.stamped = nargs > least ? PyObject_IsTrue(args[least]) : 1;
    base->number = PyLong_AsUnsignedLongLongMask(args[9]);
    if (PyErr_Occurred() || pieces.text < 0 || pieces.stamped < 0) {
        return -1;
    }
    base->pieces = pieces;
    base->buffer = Py_NewRef(args[0]);
    base->sink = Py_NewRef(args[1]);
    for (int i = 0; i < 4; i++) {
        base->owned[i] = Py_NewRef(args[2 + i]);
    }
    base->batches = (BatchRing){NULL, 0, 0, 0};
    memset(&base->hook, 0, sizeof(base->hook));
    base->fd = -1;
    return 0;
}

void
bench_stream_clear(StreamBase *base)
{
    bench_unhook(base);
    for (int i = 0; i < 4; i++) {
        Py_XDECREF(base->owned[i]);
    }
    Py_XDECREF(base->buffer);
    Py_XDECREF(base->sink);
    PyMem_Free(base->batches.items);
}

/* count frames stamped ``stamp`` and numbered from ``first`` into out, their
   echoes into back (frame_len and echo_len bytes a message). The first frame
   and echo are written in full; each next one is a copy of them with its own
   number put in (the header's last 4 bytes, 8 hex digits in text: whole mask
   periods from a period's start, so they are masked with the key as it is). */
static void
fill_batch(const Pieces *p, unsigned long long stamp, unsigned long long first,
           Py_ssize_t count, unsigned char *out, unsigned char *back)
{
    Py_ssize_t size = header_len(p), width = !p->stamped ? 0 : p->text ? 8 : 4;
    Py_ssize_t at = size - width, flen = frame_len(p), elen = echo_len(p);
    unsigned char plain[32], *frame, *echo;

    if (count <= 0) {
        return;
    }
    if (p->stamped) {
        bench_plain_header(p, stamp, first, plain);
    }
    memcpy(out, p->prefix, p->prefix_len);
    for (Py_ssize_t j = 0; j < size; j++) {
        out[p->prefix_len + j] = plain[j] ^ p->key[j & 3];
    }
    memcpy(out + p->prefix_len + size, p->masked_rest, p->masked_rest_len);
    memcpy(back, p->echo_prefix, p->echo_prefix_len);
    memcpy(back + p->echo_prefix_len, plain, size);
    memcpy(back + p->echo_prefix_len + size, p->rest, p->rest_len);
    frame = out + p->prefix_len + at;
    echo = back + p->echo_prefix_len + at;
    for (Py_ssize_t i = 1; i < count; i++) {
        unsigned char *number_out = frame + i * flen, *number_back = echo + i * elen;

        memcpy(out + i * flen, out, flen);
        memcpy(back + i * elen, back, elen);
        if (!width) {
            continue;
        }
        put_number((first + (unsigned long long)i) & 0xFFFFFFFFULL, 8, p->text, number_back);
        for (Py_ssize_t j = 0; j < width; j++) {
            number_out[j] = number_back[j] ^ p->key[j & 3];
        }
    }
}

static PyObject *
numbered(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer prefix, masked_rest, echo_prefix, rest, key;
    Py_buffer *views[5] = {&prefix, &masked_rest, &echo_prefix, &rest, &key};
    PyObject *wire = NULL, *expected;
    unsigned long long stamp, first;
    Py_ssize_t count, old_len;
    Pieces pieces;
    int got = 0;

    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "numbered() takes exactly 11 arguments");
        return NULL;
    }
    stamp = PyLong_AsUnsignedLongLongMask(args[5]);
    pieces.index = PyLong_AsUnsignedLongLongMask(args[6]);
    first = PyLong_AsUnsignedLongLongMask(args[7]);
    count = PyLong_AsSsize_t(args[8]);
    pieces.text = PyObject_IsTrue(args[9]);
    pieces.stamped = 1;
    expected = args[10];
    if (PyErr_Occurred() || pieces.text < 0) {
        return NULL;
    }
    if (count < 0 || !PyByteArray_Check(expected)) {
        PyErr_SetString(PyExc_ValueError, "count must be >= 0 and expected a bytearray");
        return NULL;
    }
    for (; got < 5; got++) {
        if (PyObject_GetBuffer(args[got], views[got], PyBUF_SIMPLE) < 0) {
            goto done;
        }
    }
    if (key.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask key must be 4 bytes");
        goto done;
    }
    pieces.prefix = prefix.buf;
    pieces.prefix_len = prefix.len;
    pieces.masked_rest = masked_rest.buf;
    pieces.masked_rest_len = masked_rest.len;
    pieces.echo_prefix = echo_prefix.buf;
    pieces.echo_prefix_len = echo_prefix.len;
    pieces.rest = rest.buf;
    pieces.rest_len = rest.len;
    memcpy(pieces.key, key.buf, 4);
    if (count && (frame_len(&pieces) > PY_SSIZE_T_MAX / count ||
                  echo_len(&pieces) > PY_SSIZE_T_MAX / count)) {
        PyErr_NoMemory();
        goto done;
    }
    wire = PyBytes_FromStringAndSize(NULL, frame_len(&pieces) * count);
    old_len = PyByteArray_GET_SIZE(expected);
    if (wire == NULL ||
        PyByteArray_Resize(expected, old_len + echo_len(&pieces) * count) < 0) {
        Py_CLEAR(wire);
        goto done;
    }
    fill_batch(&pieces, stamp, first, count, (unsigned char *)PyBytes_AS_STRING(wire),
               (unsigned char *)PyByteArray_AS_STRING(expected) + old_len);
done:
    while (got-- > 0) {
        PyBuffer_Release(views[got]);
    }
    return wire;
}

/* -- the ring of batches, shared with _large.c ----------------------------------------- */

int
bench_ring_reserve(BatchRing *ring)
{
    Py_ssize_t cap;
    Batch *grown;

    if (ring->len < ring->cap) {
        return 0;
    }
    cap = ring->cap ? ring->cap * 2 : 16;
    grown = PyMem_Malloc(cap * sizeof(Batch));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < ring->len; i++) {
        grown[i] = ring->items[(ring->head + i) % ring->cap];
    }
    PyMem_Free(ring->items);
    ring->items = grown;
    ring->head = 0;
    ring->cap = cap;
    return 0;
}

/* Count ``complete`` more latencies of ``value`` µs in the dict ``counts``. */
static int
count_latency(PyObject *counts, long long value, Py_ssize_t complete)
{
    PyObject *key = PyLong_FromLongLong(value), *had, *now;
    long long before = 0;
    int failed;

    if (key == NULL) {
        return -1;
    }
    had = PyDict_GetItemWithError(counts, key);
    if (had != NULL) {
        before = PyLong_AsLongLong(had);
    }
    if (PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    now = PyLong_FromLongLong(before + complete);
    failed = now == NULL || PyDict_SetItem(counts, key, now) < 0;
    Py_XDECREF(now);
    Py_DECREF(key);
    return failed ? -1 : 0;
}

int
bench_ring_complete(BatchRing *ring, long long pos, Py_ssize_t elen, long long now,
                    PyObject *counts, Py_ssize_t *done, long long *last)
{
    *done = 0;
    while (ring->len) {
        Batch *batch = &ring->items[ring->head];
        Py_ssize_t complete;

        if (batch->first_end > pos) {
            break;
        }
        complete = (Py_ssize_t)((pos - batch->first_end) / elen) + 1;
        if (complete > batch->count) {
            complete = batch->count;
        }
        if (counts != NULL) {
            long long waited = now - batch->stamp;
            /* Python's floor division, as the Python path counts. */
            long long value = waited >= 0 ? waited / 1000 : -((-waited + 999) / 1000);

            if (count_latency(counts, value, complete) < 0) {
                return -1;
            }
        }
        *done += complete;
        *last = batch->first_end + (long long)(complete - 1) * elen;
        if (complete < batch->count) {
            batch->first_end = *last + elen;
            batch->count -= complete;
            batch->first += (unsigned long long)complete;
            break;
        }
        ring->head = (ring->head + 1) % ring->cap;
        ring->len--;
    }
    return 0;
}

PyObject *
bench_ring_export(const BatchRing *ring)
{
    PyObject *batches = PyList_New(ring->len);

    if (batches == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < ring->len; i++) {
        const Batch *batch = &ring->items[(ring->head + i) % ring->cap];
        PyObject *item = Py_BuildValue("(LnLK)", batch->first_end, batch->count, batch->stamp,
                                       batch->first);

        if (item == NULL) {
            Py_DECREF(batches);
            return NULL;
        }
        PyList_SET_ITEM(batches, i, item);
    }
    return batches;
}

int
bench_time_ns(PyObject *now, long long *out)
{
    if (now == Py_None) { /* time.time_ns(), without the call */
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        *out = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        return 0;
    }
    *out = PyLong_AsLongLong(now);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* ``done`` echoes of ``payload`` bytes added to the six counters of the tally
   (stats.TALLIED: received, bytes_received, measured, measured_bytes, sent,
   bytes_sent). */
static void
add_to_tally(const StepArgs *step, Py_ssize_t done, Py_ssize_t payload)
{
    long long *counter = step->tally, bytes = (long long)done * payload;

    counter[0] += done;
    counter[1] += bytes;
    if (step->counting) {
        counter[2] += done;
        counter[3] += bytes;
    }
    if (step->sending) {
        counter[4] += done;
        counter[5] += bytes;
    }
}

PyObject *
bench_step_matched(PyObject *stream, BatchRing *ring, long long *pos, long long *done_pos,
                   Py_ssize_t elen, Py_ssize_t payload, const StepArgs *step, bench_send_fn send)
{
    Py_ssize_t done;
    long long last = *done_pos;

    *pos += step->nbytes;
    if (bench_ring_complete(ring, *pos, elen, step->now, step->counts, &done, &last) < 0) {
        return NULL;
    }
    *done_pos = last;
    if (done && step->tally != NULL) {
        add_to_tally(step, done, payload);
    }
    if (done && step->sending && send(stream, done, step->now) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(done);
}

PyObject *
bench_send_method(PyObject *stream, PyObject *const *args, Py_ssize_t nargs, bench_send_fn send)
{
    Py_ssize_t count;
    long long stamp;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send() takes exactly 2 arguments (count, stamp)");
        return NULL;
    }
    count = PyLong_AsSsize_t(args[0]);
    stamp = PyLong_AsLongLong(args[1]);
    if (PyErr_Occurred() || send(stream, count, stamp) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* -- EchoStream: a closed-loop connection's echoes checked and answered in C ---------- */

typedef struct {
    PyObject_HEAD
    StreamBase s;
    unsigned char *expected; /* the echoes still expected; [0] is stream position base */
    Py_ssize_t expected_len, expected_cap;
    long long base, pos, done_pos;
} EchoStream;

static void
stream_dealloc(EchoStream *self)
{
    PyObject_GC_UnTrack(self);
    bench_stream_clear(&self->s);
    PyMem_Free(self->expected);
    PyObject_GC_Del(self);
}

/* Room for ``more`` expected bytes, dropping those already matched when they
   are most of the buffer, and for one more batch. */
static int
stream_reserve(EchoStream *self, Py_ssize_t more)
{
    Py_ssize_t used = (Py_ssize_t)(self->done_pos - self->base);

    if (used > 65536 && used * 2 > self->expected_len) {
        memmove(self->expected, self->expected + used, self->expected_len - used);
        self->expected_len -= used;
        self->base = self->done_pos;
    }
    if (self->expected_len + more > self->expected_cap) {
        Py_ssize_t cap = (self->expected_len + more) * 2;
        unsigned char *grown = PyMem_Realloc(self->expected, cap);

        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->expected = grown;
        self->expected_cap = cap;
    }
    return bench_ring_reserve(&self->s.batches);
}

/* Send ``count`` messages stamped ``stamp``; their echoes become expected. */
static int
stream_send(PyObject *stream, Py_ssize_t count, long long stamp)
{
    EchoStream *self = (EchoStream *)stream;
    Py_ssize_t elen = echo_len(&self->s.pieces), wire_len = frame_len(&self->s.pieces) * count;
    PyObject *wire = NULL;
    unsigned char *out;
    Batch *batch;

    if (count <= 0) {
        return 0;
    }
    if (stream_reserve(self, elen * count) < 0) {
        return -1;
    }
    if (self->s.fd >= 0) { /* in the pump: sent on the socket itself */
        out = bench_direct_buffer(wire_len);
    } else {
        wire = PyBytes_FromStringAndSize(NULL, wire_len);
        out = wire == NULL ? NULL : (unsigned char *)PyBytes_AS_STRING(wire);
    }
    if (out == NULL) {
        return -1;
    }
    fill_batch(&self->s.pieces, (unsigned long long)stamp, self->s.number, count, out,
               self->expected + self->expected_len);
    batch = bench_ring_push(&self->s.batches);
    batch->first_end = self->base + self->expected_len + elen;
    batch->count = count;
    batch->stamp = stamp;
    batch->first = self->s.number;
    self->expected_len += elen * count;
    self->s.number += (unsigned long long)count;
    if (wire == NULL) {
        return bench_send_direct(&self->s, out, wire_len);
    }
    return bench_to_sink(&self->s, wire);
}

/* The tally's six 64-bit counters, held in ``step->view``; 0, or -1 with an exception. */
static int
hold_tally(StepArgs *step, PyObject *tally)
{
    Py_buffer *view = &step->view;

    if (PyObject_GetBuffer(tally, view, PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        return -1;
    }
    if (view->len < 6 * 8 || view->itemsize != 8 || view->format == NULL ||
        strcmp(view->format, "q") != 0) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_TypeError, "the tally must be an array('q') of 6 counters");
        return -1;
    }
    step->tally = view->buf;
    return 0;
}

int
bench_step_arguments(PyObject *buffer, PyObject *const *args, Py_ssize_t nargs, StepArgs *out)
{
    if (nargs != 4 && nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "step() takes 4 or 6 arguments");
        return -1;
    }
    out->tally = NULL;
    out->nbytes = PyLong_AsSsize_t(args[0]);
    if ((out->nbytes == -1 && PyErr_Occurred()) || bench_time_ns(args[1], &out->now) < 0) {
        return -1;
    }
    out->sending = PyObject_IsTrue(args[2]);
    out->counts = args[3] == Py_None ? NULL : args[3];
    out->counting = nargs == 6 ? PyObject_IsTrue(args[5]) : 0;
    if (out->sending < 0 || out->counting < 0) {
        return -1;
    }
    if (out->nbytes < 0 || out->nbytes > PyByteArray_GET_SIZE(buffer) ||
        (out->counts != NULL && !PyDict_Check(out->counts))) {
        PyErr_SetString(PyExc_ValueError, "nbytes outside the buffer, or counts not a dict");
        return -1;
    }
    return nargs == 6 && args[4] != Py_None ? hold_tally(out, args[4]) : 0;
}

void
bench_step_release(StepArgs *step)
{
    if (step->tally != NULL) {
        PyBuffer_Release(&step->view);
        step->tally = NULL;
    }
}

/* EchoStream's: whether the read is the next of the echoes expected. */
static int
stream_matches(PyObject *stream, Py_ssize_t nbytes)
{
    EchoStream *self = (EchoStream *)stream;
    Py_ssize_t offset = (Py_ssize_t)(self->pos - self->base);

    return offset + nbytes <= self->expected_len &&
           memcmp(self->expected + offset, PyByteArray_AS_STRING(self->s.buffer), nbytes) == 0;
}

/* step(nbytes, now, sending, counts[, tally, counting]) -> int: the read of
   nbytes in the buffer (``now``: the time in ns, or None for time.time_ns())
   checked against the echoes expected; the batches it completes counted (their
   latency in ``counts``, µs -> messages, unless None; their messages in
   ``tally``, Stats.tally, the measured ones too when ``counting``) and, when
   ``sending``, as many new messages sent, stamped ``now``.  Returns how many
   echoes the read completed, or -1, changing nothing, when it is not what was
   expected. */
static PyObject *
stream_step(EchoStream *self, PyObject *const *args, Py_ssize_t nargs)
{
    StepArgs step;
    PyObject *result;

    if (bench_step_arguments(self->s.buffer, args, nargs, &step) < 0) {
        return NULL;
    }
    if (!stream_matches((PyObject *)self, step.nbytes)) {
        result = PyLong_FromLong(-1);
    } else {
        result = bench_step_matched((PyObject *)self, &self->s.batches, &self->pos,
                                    &self->done_pos, echo_len(&self->s.pieces),
                                    payload_len(&self->s.pieces), &step, stream_send);
    }
    bench_step_release(&step);
    return result;
}

static PyObject *
stream_buffer_updated(EchoStream *self, PyObject *nbytes)
{
    return bench_buffer_updated((PyObject *)self, &self->s, nbytes, stream_matches, &self->pos,
                                &self->done_pos, stream_send);
}

/* For the pump: a read of ``nbytes`` in the buffer, stepped (see bench_step_read). */
static int
echo_read(PyObject *stream, Py_ssize_t nbytes)
{
    EchoStream *self = (EchoStream *)stream;

    return bench_step_read(stream, &self->s, nbytes, stream_matches, &self->pos, &self->done_pos,
                     stream_send);
}

static PyObject *
stream_send_method(EchoStream *self, PyObject *const *args, Py_ssize_t nargs)
{
    return bench_send_method((PyObject *)self, args, nargs, stream_send);
}

/* export() -> (expected, batches, pos, done_pos, number): the state for the Python
   path: the echoes expected from done_pos on, each batch as (first_end, count,
   stamp, first), the stream position matched, where the last whole echo ended,
   and the next message's number. */
static PyObject *
stream_export(EchoStream *self, PyObject *unused)
{
    Py_ssize_t from = (Py_ssize_t)(self->done_pos - self->base);
    PyObject *batches = bench_ring_export(&self->s.batches);
    /* Nothing sent yet, nothing allocated: y# would make None of a NULL. */
    const char *rest = self->expected == NULL ? "" : (const char *)self->expected + from;

    if (batches == NULL) {
        return NULL;
    }
    return Py_BuildValue("(y#NLLK)", rest, self->expected_len - from, batches, self->pos,
                         self->done_pos, self->s.number);
}

static PyMethodDef stream_methods[] = {
    {"step", (PyCFunction)(void (*)(void))stream_step, METH_FASTCALL,
     "step(nbytes, now, sending, counts[, tally, counting]) -> echoes completed, or -1 if "
     "the read is wrong"},
    {"send", (PyCFunction)(void (*)(void))stream_send_method, METH_FASTCALL,
     "send(count, stamp): send count messages stamped stamp"},
    {"export", (PyCFunction)stream_export, METH_NOARGS,
     "export() -> (expected, batches, pos, done_pos, number), for the Python path"},
    BENCH_HOOK_METHODS,
    {"buffer_updated", (PyCFunction)stream_buffer_updated, METH_O,
     "buffer_updated(nbytes): a read, stepped here or handed to the fallback"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EchoStreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wstool.bench._batch.EchoStream",
    .tp_basicsize = sizeof(EchoStream),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A closed-loop connection's echoes checked and answered in C (see stream()).",
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_traverse = bench_stream_traverse,
    .tp_clear = bench_stream_gc_clear,
    .tp_methods = stream_methods,
};

/* stream(buffer, write, prefix, masked_rest, echo_prefix, rest, key, index, text,
   number, pos[, stamped]) -> EchoStream: reads land in the bytearray ``buffer``,
   batches go to ``write``; the pieces are numbered()'s; ``number`` is the next
   message's number and ``pos`` the stream position of the next echo. With
   ``stamped`` false, messages carry no timestamp header: prefix + masked_rest
   is the whole frame, echo_prefix (the echo's frame header) + rest (its
   payload) the whole echo. */
bench_read_fn
bench_stream_reader(PyObject *obj)
{
    if (Py_IS_TYPE(obj, &EchoStreamType)) {
        return echo_read;
    }
    return Py_IS_TYPE(obj, &LargeStreamType) ? bench_large_read : NULL;
}

static PyObject *
stream_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    EchoStream *self;
    StreamBase base;
    long long pos;

    if (bench_stream_init(&base, "stream", args, nargs, 11) < 0) {
        return NULL;
    }
    pos = PyLong_AsLongLong(args[10]);
    self = PyErr_Occurred() ? NULL : PyObject_GC_New(EchoStream, &EchoStreamType);
    if (self == NULL) {
        bench_stream_clear(&base);
        return NULL;
    }
    self->s = base;
    self->expected = NULL;
    self->expected_len = self->expected_cap = 0;
    self->base = self->pos = self->done_pos = pos;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyMethodDef batch_methods[] = {
    {"large_stream", (PyCFunction)(void (*)(void))bench_large_stream_new, METH_FASTCALL,
     "large_stream(buffer, writelines, prefix, masked_rest, echo_prefix, rest, key, index, "
     "text, number, pos[, stamped]) -> LargeStream: a closed-loop connection's large echoes "
     "in C."},
    {"stream", (PyCFunction)(void (*)(void))stream_new, METH_FASTCALL,
     "stream(buffer, write, prefix, masked_rest, echo_prefix, rest, key, index, text, "
     "number, pos[, stamped]) -> EchoStream: a closed-loop connection's echoes in C."},
    {"numbered", (PyCFunction)(void (*)(void))numbered, METH_FASTCALL,
     "numbered(prefix, masked_rest, echo_prefix, rest, key, stamp, index, first, count, "
     "text, expected) -> bytes: a batch of numbered client frames; their echoes appended "
     "to expected."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef batch_module = {
    PyModuleDef_HEAD_INIT, "wstool.bench._batch",
    "C accelerator for wstool bench's batches of numbered messages.", -1, batch_methods,
};

PyMODINIT_FUNC
PyInit__batch(void)
{
    PyObject *module;

    if (PyType_Ready(&EchoStreamType) < 0 || PyType_Ready(&LargeStreamType) < 0) {
        return NULL;
    }
    module = PyModule_Create(&batch_module);
    if (module != NULL && bench_add_pump(module) < 0) {
        Py_CLEAR(module);
    }
    return module;
}
