/*
 * wstool.net._echoloop: the reactor's wait for events, with a quiet echo
 * server's common read answered in C (net/reactor.py, net/wire.py).
 *
 * poll(epfd, timeout, maxevents, table) -> list of (fd, events, error) waits
 * on the epoll instance like select.epoll.poll.  A plain read event of a
 * descriptor in ``table`` (a dict: fd -> (fallback, counts, limit), put there
 * by the wire while its connection is a quiet echo with nothing pending) is
 * handled here: one recv(), and when the read is whole data frames that
 * core's echo scan answers (_echo_scan.h: FIN, no RSV bit, masked, TEXT in
 * valid UTF-8, at most ``limit`` bytes), their answer goes out with one
 * send() and the counts (an array('q') of frames, bytes read, bytes sent)
 * grow.  Anything else goes back to Python at once:
 *
 * - a read that is not all answered: fallback(data, None), and nothing of it
 *   is sent here; the wire's general path judges every frame of it;
 * - an answer the socket did not take whole: fallback(None, rest), which
 *   queues the rest in the transport;
 * - end of file, and every other event or descriptor: returned, with the
 *   errno of a failed recv() (0 otherwise), for the reactor's usual handling;
 * - an exception raised by a fallback: returned as (fd, 0, exception).
 *
 * While every event of a wait was answered here, it waits again (the rest of
 * ``timeout``, which the reactor computed from its next timer), so that a
 * busy echo server does not turn the reactor's loop once per message.  A
 * signal ends the wait (EINTR) and returns, as does a timeout.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <math.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include "../core/_xor_mask.h"
#include "../core/_echo_scan.h"

#define READ_SIZE 65536
#define MAX_EVENTS 1024

/* One read and its answer at a time, with the GIL held: two static buffers. */
static unsigned char read_buffer[READ_SIZE];
static unsigned char echo_buffer[READ_SIZE];

static double
monotonic(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* The counts array of an entry, as 3 int64 (frames, bytes read, bytes sent). */
static int
add_counts(PyObject *counts, Py_ssize_t frames, Py_ssize_t read, Py_ssize_t sent)
{
    Py_buffer view;
    long long *slots;

    if (PyObject_GetBuffer(counts, &view, PyBUF_WRITABLE | PyBUF_FORMAT) < 0) {
        return -1;
    }
    if (view.len < 3 * (Py_ssize_t)sizeof(long long) || view.itemsize != sizeof(long long)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "counts must be an array('q') of 3");
        return -1;
    }
    slots = (long long *)view.buf;
    slots[0] += frames;
    slots[1] += read;
    slots[2] += sent;
    PyBuffer_Release(&view);
    return 0;
}

static int
append_event(PyObject *out, int fd, unsigned int events, PyObject *error)
{
    PyObject *item = Py_BuildValue("(iIO)", fd, events, error);
    int failed;

    if (item == NULL) {
        return -1;
    }
    failed = PyList_Append(out, item);
    Py_DECREF(item);
    return failed;
}

/* Call fallback(data, unsent): 0, or 2 when it raised (the exception is then
   recorded for the reactor), or -1 on an error of this module's own. */
static int
fall_back(PyObject *out, int fd, PyObject *fallback, const unsigned char *data,
          Py_ssize_t len, int unsent)
{
    PyObject *bytes = PyBytes_FromStringAndSize((const char *)data, len);
    PyObject *result, *type, *value, *traceback;
    int failed;

    if (bytes == NULL) {
        return -1;
    }
    result = unsent ? PyObject_CallFunctionObjArgs(fallback, Py_None, bytes, NULL)
                    : PyObject_CallFunctionObjArgs(fallback, bytes, Py_None, NULL);
    Py_DECREF(bytes);
    if (result != NULL) {
        Py_DECREF(result);
        return 0;
    }
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        return -1;
    }
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    failed = append_event(out, fd, 0, value != NULL ? value : Py_None);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    return failed < 0 ? -1 : 2;
}

/* A plain read event of a descriptor in the table.  Returns 1 when it was
   answered here in full, 0 when it went back to Python, 2 when a fallback
   raised, -1 on an error. */
static int
answer_read(PyObject *out, int fd, unsigned int events, PyObject *entry)
{
    PyObject *fallback, *counts;
    long long limit;
    ssize_t got, sent;
    Py_ssize_t used, echo_len, frames;

    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3) {
        PyErr_SetString(PyExc_TypeError, "a table entry is (fallback, counts, limit)");
        return -1;
    }
    fallback = PyTuple_GET_ITEM(entry, 0);
    counts = PyTuple_GET_ITEM(entry, 1);
    limit = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 2));
    if (limit == -1 && PyErr_Occurred()) {
        return -1;
    }
    got = recv(fd, read_buffer, READ_SIZE, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return 1; /* nothing after all: level-triggered, it comes again */
    }
    if (got <= 0) {
        PyObject *error = PyLong_FromLong(got < 0 ? errno : 0);
        int failed = error == NULL ? -1 : append_event(out, fd, events, error);

        Py_XDECREF(error);
        return failed < 0 ? -1 : 0;
    }
    used = echo_scan(read_buffer, got, limit, echo_buffer, &echo_len, &frames);
    if (used != got) {
        return fall_back(out, fd, fallback, read_buffer, got, 0);
    }
    sent = send(fd, echo_buffer, echo_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
        sent = 0; /* the transport meets any error itself when it writes the rest */
    }
    if (add_counts(counts, frames, got, echo_len) < 0) {
        return -1;
    }
    if (sent == echo_len) {
        return 1;
    }
    return fall_back(out, fd, fallback, echo_buffer + sent, echo_len - sent, 1);
}

static PyObject *
echo_poll(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct epoll_event events[MAX_EVENTS];
    int epfd, maxevents, ready, wait_ms, i;
    double timeout = -1, deadline = 0;
    PyObject *table, *out;

    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "poll() takes exactly 4 arguments (epfd, timeout, maxevents, table)");
        return NULL;
    }
    epfd = (int)PyLong_AsLong(args[0]);
    if (epfd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (args[1] != Py_None) {
        timeout = PyFloat_AsDouble(args[1]);
        if (timeout == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (timeout < 0) {
            timeout = 0;
        }
        deadline = monotonic() + timeout;
    }
    maxevents = (int)PyLong_AsLong(args[2]);
    if (maxevents == -1 && PyErr_Occurred()) {
        return NULL;
    }
    maxevents = maxevents < 1 ? 1 : (maxevents > MAX_EVENTS ? MAX_EVENTS : maxevents);
    table = args[3];
    if (!PyDict_Check(table)) {
        PyErr_SetString(PyExc_TypeError, "table must be a dict");
        return NULL;
    }
    out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (;;) {
        int answered_all = 1;

        if (timeout < 0) {
            wait_ms = -1;
        } else {
            double left = deadline - monotonic();
            /* Rounded up, as select.epoll.poll does: never wake before a timer. */
            wait_ms = left <= 0 ? 0 : (left > 2147483.0 ? 2147483647 : (int)ceil(left * 1000));
        }
        Py_BEGIN_ALLOW_THREADS
        ready = epoll_wait(epfd, events, maxevents, wait_ms);
        Py_END_ALLOW_THREADS
        if (ready < 0) {
            if (errno == EINTR) {
                return out; /* a signal: its handler runs in the reactor's turn */
            }
            Py_DECREF(out);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        for (i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            unsigned int flags = events[i].events;
            PyObject *entry = NULL, *key;
            int done;

            if (flags == EPOLLIN) {
                key = PyLong_FromLong(fd);
                if (key == NULL) {
                    goto fail;
                }
                entry = PyDict_GetItemWithError(table, key);
                Py_DECREF(key);
                if (entry == NULL && PyErr_Occurred()) {
                    goto fail;
                }
            }
            if (entry == NULL) {
                PyObject *zero = PyLong_FromLong(0);

                done = zero == NULL ? -1 : append_event(out, fd, flags, zero);
                Py_XDECREF(zero);
                if (done < 0) {
                    goto fail;
                }
                answered_all = 0;
                continue;
            }
            Py_INCREF(entry); /* a fallback may take it out of the table */
            done = answer_read(out, fd, flags, entry);
            Py_DECREF(entry);
            if (done < 0) {
                goto fail;
            }
            if (done == 2) {
                /* A fallback raised: the reactor drops that connection now; the
                   events not yet seen here come again (level-triggered). */
                return out;
            }
            if (done == 0) {
                answered_all = 0;
            }
        }
        if (!answered_all || ready == 0 || wait_ms == 0) {
            return out;
        }
        if (PyErr_CheckSignals() < 0) {
            goto fail;
        }
    }
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef echoloop_methods[] = {
    {"poll", (PyCFunction)(void (*)(void))echo_poll, METH_FASTCALL,
     "poll(epfd, timeout, maxevents, table) -> [(fd, events, error)]: wait on the epoll "
     "instance; the plain reads of the table's descriptors are answered here."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef echoloop_module = {
    PyModuleDef_HEAD_INIT, "wstool.net._echoloop",
    "The reactor's wait, with a quiet echo server's common read answered in C.", -1,
    echoloop_methods,
};

PyMODINIT_FUNC
PyInit__echoloop(void)
{
    return PyModule_Create(&echoloop_module);
}
