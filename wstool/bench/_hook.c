/*
 * wstool.bench._batch's hook: a connection's reads handed to its stream (an
 * EchoStream of _batch.c or a LargeStream of _large.c) by the transport, or by
 * the pump (_pump.c), and stepped without running any Python while they are
 * the echoes expected; anything else goes to the connection's own
 * buffer_updated, the fallback.
 */
#include "_batch.h"

#include <string.h>

enum { SENDING, RECORDING, COUNTING, SWITCHES };

/* ``object``'s buffer in ``view``: at least ``count`` 64-bit integers (an array('q')),
   writable; 0, or -1 with an exception and nothing held. */
static int
hold_counters(PyObject *object, Py_buffer *view, Py_ssize_t count, const char *what)
{
    if (PyObject_GetBuffer(object, view, PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        return -1;
    }
    if (view->len < count * 8 || view->itemsize != 8 || view->format == NULL ||
        strcmp(view->format, "q") != 0) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_TypeError, "%s must be an array('q') of %zd counters", what, count);
        return -1;
    }
    return 0;
}

void
bench_unhook(StreamBase *base)
{
    Hook *h = &base->hook;

    if (h->tally != NULL) {
        PyBuffer_Release(&h->tally_view);
    }
    if (h->switches != NULL) {
        PyBuffer_Release(&h->switch_view);
    }
    Py_CLEAR(h->fallback);
    Py_CLEAR(h->counts);
    Py_CLEAR(h->tally);
    Py_CLEAR(h->switches);
}

int
bench_stream_gc_clear(PyObject *stream)
{
    StreamBase *base = &((StreamObject *)stream)->s;

    bench_unhook(base);
    Py_CLEAR(base->sink);
    return 0;
}

int
bench_stream_traverse(PyObject *stream, visitproc visit, void *arg)
{
    StreamBase *base = &((StreamObject *)stream)->s;

    Py_VISIT(base->hook.fallback);
    Py_VISIT(base->hook.counts);
    Py_VISIT(base->hook.tally);
    Py_VISIT(base->hook.switches);
    Py_VISIT(base->sink);
    Py_VISIT(base->buffer);
    return 0;
}

/* hook(fallback, counts, tally, switches): take the connection's reads from now on
   (its get_buffer and buffer_updated are the stream's until unhook()). While the
   run's ``switches`` (array('q'): sending, recording, counting) say it is sending,
   a read of the echoes expected is stepped here; any other read goes to
   ``fallback``, the connection's own buffer_updated. */
PyObject *
bench_hook_method(PyObject *stream, PyObject *const *args, Py_ssize_t nargs)
{
    StreamBase *base = &((StreamObject *)stream)->s;
    Hook *h = &base->hook;

    if (nargs != 4 || !PyCallable_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "hook(fallback, counts: dict, tally: array('q'), switches: array('q'))");
        return NULL;
    }
    bench_unhook(base);
    if (hold_counters(args[2], &h->tally_view, 6, "the tally") < 0) {
        return NULL;
    }
    if (hold_counters(args[3], &h->switch_view, SWITCHES, "the switches") < 0) {
        PyBuffer_Release(&h->tally_view);
        return NULL;
    }
    h->fallback = Py_NewRef(args[0]);
    h->counts = Py_NewRef(args[1]);
    h->tally = Py_NewRef(args[2]);
    h->switches = Py_NewRef(args[3]);
    Py_RETURN_NONE;
}

PyObject *
bench_unhook_method(PyObject *stream, PyObject *unused)
{
    bench_unhook(&((StreamObject *)stream)->s);
    Py_RETURN_NONE;
}

PyObject *
bench_get_buffer(PyObject *stream, PyObject *sizehint)
{
    return Py_NewRef(((StreamObject *)stream)->s.buffer);
}

/* The read to the connection's own buffer_updated (which may unhook the stream). */
static PyObject *
hand_back(StreamBase *base, PyObject *nbytes)
{
    PyObject *fallback = base->hook.fallback, *result;

    if (fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "buffer_updated() of a stream not hooked");
        return NULL;
    }
    Py_INCREF(fallback);
    result = PyObject_CallOneArg(fallback, nbytes);
    Py_DECREF(fallback);
    return result;
}

int
bench_step_read(PyObject *stream, StreamBase *base, Py_ssize_t nbytes, bench_match_fn match,
          long long *pos, long long *done_pos, bench_send_fn send)
{
    Hook *h = &base->hook;
    const long long *switches = h->switches == NULL ? NULL : h->switch_view.buf;
    StepArgs step = {0};
    PyObject *result;

    if (switches == NULL || !switches[SENDING]) {
        return 0;
    }
    if (nbytes < 0 || nbytes > PyByteArray_GET_SIZE(base->buffer) || !match(stream, nbytes)) {
        return 0;
    }
    if (bench_time_ns(Py_None, &step.now) < 0) {
        return -1;
    }
    step.nbytes = nbytes;
    step.sending = 1;
    step.counts = switches[RECORDING] ? h->counts : NULL;
    step.counting = switches[COUNTING] != 0;
    step.tally = h->tally_view.buf;
    result = bench_step_matched(stream, &base->batches, pos, done_pos, echo_len(&base->pieces),
                                payload_len(&base->pieces), &step, send);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 1;
}

PyObject *
bench_buffer_updated(PyObject *stream, StreamBase *base, PyObject *nbytes, bench_match_fn match,
                     long long *pos, long long *done_pos, bench_send_fn send)
{
    Py_ssize_t n = PyLong_AsSsize_t(nbytes);
    int stepped;

    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    stepped = bench_step_read(stream, base, n, match, pos, done_pos, send);
    if (stepped < 0) {
        return NULL;
    }
    if (!stepped) {
        return hand_back(base, nbytes); /* it finds out what came */
    }
    Py_RETURN_NONE;
}
