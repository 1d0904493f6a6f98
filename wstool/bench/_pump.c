/*
 * wstool.bench._batch's Pump: the reads and sends of closed-loop connections
 * made here, without the event loop's transports.
 *
 * A hooked stream (an EchoStream of _batch.c, a LargeStream of _large.c)
 * still takes each read through the transport: the event loop's poll, its
 * read callback, get_buffer and buffer_updated, and for the answer the
 * transport's write (or writelines) and its queue.
 * Over plain TCP, where a read of echoes and its answer are all a connection
 * does for most of a run, that machinery is most of what bench spends outside
 * the kernel. A connection given to the pump instead (its transport's reading
 * paused, its send buffer empty) is read here: the pump's own epoll set holds
 * the sockets, the event loop watches that one descriptor (add_reader), and
 * each time it is ready poll() reads every socket that is, steps its stream
 * in C, and the stream sends its answer on the socket itself (send, or
 * sendmsg for a large batch's heads and shared filler).
 *
 * Anything else goes back to the transport for good, through the
 * connection's ``leave`` callable: leave(n) for a read of n bytes the stream
 * does not take (the run's end, an echo not the one expected, a control
 * frame; it is in the read buffer for the transport's path to look at),
 * leave(0) when the socket is at its end or the stream could not send all of
 * a batch at once (the transport sends the rest, from where it stopped, and
 * sees the end itself), and leave(-errno) for an error the read took.
 */
#include "_batch.h"

#ifdef __linux__

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum { EVENTS_PER_POLL = 256 };

/* A connection in the pump: its socket, its stream and its way back. */
typedef struct {
    PyObject *stream;
    PyObject *leave;
    bench_read_fn read; /* the stream's step of a read */
} Member;

typedef struct {
    PyObject_HEAD
    int epfd;
    Member *members; /* indexed by socket */
    Py_ssize_t nmembers;
    Py_ssize_t count;
} Pump;

static unsigned char *direct_buffer;
static Py_ssize_t direct_cap;

unsigned char *
bench_direct_buffer(Py_ssize_t len)
{
    if (len > direct_cap) {
        unsigned char *grown = PyMem_Realloc(direct_buffer, len);

        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        direct_buffer = grown;
        direct_cap = len;
    }
    return direct_buffer;
}

int
bench_send_direct(StreamBase *base, const unsigned char *data, Py_ssize_t len)
{
    Py_ssize_t sent = 0;

    while (sent < len) {
        ssize_t n = send(base->fd, data + sent, (size_t)(len - sent), MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break; /* full, or broken: the transport finds out which */
        }
        sent += n;
    }
    if (sent == len) {
        return 0;
    }
    /* The socket took part of the batch: the transport queues the rest and sends
       everything from now on (the pump lets go once the step is over). */
    base->fd = -1;
    return bench_to_sink(base, PyBytes_FromStringAndSize((const char *)data + sent, len - sent));
}

/* An int argument: 0, or -1 with an exception. */
static int
int_of(PyObject *arg, int *out)
{
    long value = PyLong_AsLong(arg);

    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (value < INT_MIN || value > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "not a socket number");
        return -1;
    }
    *out = (int)value;
    return 0;
}

static int send_rest(StreamBase *base, const struct iovec *iov, Py_ssize_t n, size_t off,
                     PyObject *shared);

int
bench_send_pieces(StreamBase *base, struct iovec *iov, Py_ssize_t n, PyObject *shared)
{
    Py_ssize_t at = 0; /* the first iovec not sent whole */
    size_t off = 0;    /* how much of it was */

    while (at < n) {
        struct iovec first = iov[at];
        struct msghdr msg = {.msg_iov = iov + at,
                             .msg_iovlen = (size_t)(n - at > IOV_MAX ? IOV_MAX : n - at)};
        ssize_t sent;

        iov[at].iov_base = (char *)first.iov_base + off;
        iov[at].iov_len = first.iov_len - off;
        sent = sendmsg(base->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        iov[at] = first;
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        if (sent <= 0) {
            break; /* full, or broken: the transport finds out which */
        }
        off += (size_t)sent;
        while (at < n && off >= iov[at].iov_len) {
            off -= iov[at].iov_len;
            at++;
        }
    }
    if (at == n) {
        return 0;
    }
    base->fd = -1; /* as in bench_send_direct: the transport sends the rest */
    return send_rest(base, iov + at, n - at, off, shared);
}

/* What bench_send_pieces could not send (``off`` bytes of the first iovec were)
   to the sink, as a list of pieces. */
static int
send_rest(StreamBase *base, const struct iovec *iov, Py_ssize_t n, size_t off, PyObject *shared)
{
    const char *whole = PyBytes_AS_STRING(shared);
    PyObject *rest = PyList_New(n);

    if (rest == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        size_t skip = i == 0 ? off : 0;
        PyObject *piece;

        if (skip == 0 && iov[i].iov_base == whole &&
            iov[i].iov_len == (size_t)PyBytes_GET_SIZE(shared)) {
            piece = Py_NewRef(shared);
        } else {
            piece = PyBytes_FromStringAndSize((const char *)iov[i].iov_base + skip,
                                              (Py_ssize_t)(iov[i].iov_len - skip));
        }
        if (piece == NULL) {
            Py_DECREF(rest);
            return -1;
        }
        PyList_SET_ITEM(rest, i, piece);
    }
    return bench_to_sink(base, rest);
}

static Member *
member_at(Pump *self, int fd)
{
    if (fd < 0 || fd >= self->nmembers || self->members[fd].stream == NULL) {
        return NULL;
    }
    return &self->members[fd];
}

/* The socket out of the epoll set and its stream sending through its sink again. */
static void
let_go(Pump *self, int fd)
{
    Member *m = member_at(self, fd);

    if (m == NULL) {
        return;
    }
    (void)epoll_ctl(self->epfd, EPOLL_CTL_DEL, fd, NULL);
    ((StreamObject *)m->stream)->s.fd = -1;
    Py_CLEAR(m->stream);
    Py_CLEAR(m->leave);
    self->count--;
}

static int
pump_traverse(Pump *self, visitproc visit, void *arg)
{
    for (Py_ssize_t fd = 0; fd < self->nmembers; fd++) {
        Py_VISIT(self->members[fd].stream);
        Py_VISIT(self->members[fd].leave);
    }
    return 0;
}

static int
pump_clear(Pump *self)
{
    for (Py_ssize_t fd = 0; fd < self->nmembers; fd++) {
        let_go(self, (int)fd);
    }
    return 0;
}

static void
pump_dealloc(Pump *self)
{
    PyObject_GC_UnTrack(self);
    pump_clear(self);
    if (self->epfd >= 0) {
        close(self->epfd);
    }
    PyMem_Free(self->members);
    PyObject_GC_Del(self);
}

static PyObject *
pump_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Pump *self;

    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Pump() takes no arguments");
        return NULL;
    }
    self = PyObject_GC_New(Pump, type);
    if (self == NULL) {
        return NULL;
    }
    self->members = NULL;
    self->nmembers = self->count = 0;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* add(fd, stream, leave): take the connection's reads (its stream, hooked,
   on socket fd, whose transport reads no more and holds nothing to send). */
static PyObject *
pump_add(Pump *self, PyObject *const *args, Py_ssize_t nargs)
{
    struct epoll_event event = {.events = EPOLLIN};
    bench_read_fn read = nargs == 3 ? bench_stream_reader(args[1]) : NULL;
    int fd;

    if (read == NULL || !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "add(fd, stream: EchoStream or LargeStream, leave: callable)");
        return NULL;
    }
    if (int_of(args[0], &fd) < 0) {
        return NULL;
    }
    if (fd < 0 || member_at(self, fd) != NULL) {
        PyErr_Format(PyExc_ValueError, "socket %d is not one the pump can take", fd);
        return NULL;
    }
    if (fd >= self->nmembers) {
        Py_ssize_t n = (fd + 1) * 2;
        Member *grown = PyMem_Realloc(self->members, n * sizeof(Member));

        if (grown == NULL) {
            return PyErr_NoMemory();
        }
        memset(grown + self->nmembers, 0, (n - self->nmembers) * sizeof(Member));
        self->members = grown;
        self->nmembers = n;
    }
    event.data.fd = fd;
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &event) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    self->members[fd].stream = Py_NewRef(args[1]);
    self->members[fd].leave = Py_NewRef(args[2]);
    self->members[fd].read = read;
    ((StreamObject *)args[1])->s.fd = fd;
    self->count++;
    Py_RETURN_NONE;
}

/* remove(fd): let go of the connection on socket fd, if the pump has it. */
static PyObject *
pump_remove(Pump *self, PyObject *arg)
{
    int fd;

    if (int_of(arg, &fd) < 0) {
        return NULL;
    }
    let_go(self, fd);
    Py_RETURN_NONE;
}

/* What a read of the member on fd came to: the leave code, or 1 for none
   (stepped in C, or nothing to read yet); -2 with an exception. */
static long
read_member(Member *m, int fd)
{
    StreamBase *base = &((StreamObject *)m->stream)->s;
    ssize_t got;
    int stepped;

    do {
        got = recv(fd, PyByteArray_AS_STRING(base->buffer),
                   (size_t)PyByteArray_GET_SIZE(base->buffer), MSG_DONTWAIT);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -(long)errno;
    }
    if (got == 0) {
        return 0; /* the end: the transport reads it again */
    }
    stepped = m->read(m->stream, got);
    if (stepped < 0) {
        return -2;
    }
    if (!stepped) {
        return (long)got;
    }
    return base->fd < 0 ? 0 : 1; /* the transport sends from now on */
}

/* leave(code) for a connection let go; after an error of the stream's own
   (code -2) the transport is told to read again (leave(0)) and the error raised. */
static PyObject *
hand_over(PyObject *leave, long code)
{
    PyObject *type, *value, *traceback, *arg, *left;

    if (code != -2) {
        arg = PyLong_FromLong(code);
        left = arg == NULL ? NULL : PyObject_CallOneArg(leave, arg);
        Py_XDECREF(arg);
        return left;
    }
    PyErr_Fetch(&type, &value, &traceback);
    arg = PyLong_FromLong(0);
    left = arg == NULL ? NULL : PyObject_CallOneArg(leave, arg);
    Py_XDECREF(arg);
    Py_XDECREF(left);
    PyErr_Restore(type, value, traceback); /* the stream's error, not leave's */
    return NULL;
}

/* poll(): read every socket ready, step its stream, hand back what it does not take. */
static PyObject *
pump_poll(Pump *self, PyObject *unused)
{
    struct epoll_event events[EVENTS_PER_POLL];
    int n = epoll_wait(self->epfd, events, EVENTS_PER_POLL, 0);

    if (n < 0) {
        if (errno == EINTR) {
            Py_RETURN_NONE;
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        Member *m = member_at(self, fd); /* gone if a leave() before let go of it */
        PyObject *stream, *leave, *left;
        long code;

        if (m == NULL) {
            continue;
        }
        stream = Py_NewRef(m->stream);
        leave = Py_NewRef(m->leave);
        code = read_member(m, fd);
        if (code != 1) {
            let_go(self, fd);
        }
        left = code == 1 ? Py_NewRef(Py_None) : hand_over(leave, code);
        Py_DECREF(stream);
        Py_DECREF(leave);
        if (left == NULL) {
            return NULL;
        }
        Py_DECREF(left);
    }
    Py_RETURN_NONE;
}

static PyObject *
pump_fileno(Pump *self, PyObject *unused)
{
    return PyLong_FromLong(self->epfd);
}

static PyObject *
pump_len_method(Pump *self, PyObject *unused)
{
    return PyLong_FromSsize_t(self->count);
}

static PyMethodDef pump_methods[] = {
    {"add", (PyCFunction)(void (*)(void))pump_add, METH_FASTCALL,
     "add(fd, stream, leave): read and answer the connection on socket fd here"},
    {"remove", (PyCFunction)pump_remove, METH_O,
     "remove(fd): let go of the connection on socket fd (nothing if it is not here)"},
    {"poll", (PyCFunction)pump_poll, METH_NOARGS,
     "poll(): read every socket ready and step its stream"},
    {"fileno", (PyCFunction)pump_fileno, METH_NOARGS,
     "fileno() -> the epoll descriptor, readable when a socket is"},
    {"members", (PyCFunction)pump_len_method, METH_NOARGS,
     "members() -> how many connections the pump reads"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PumpType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wstool.bench._batch.Pump",
    .tp_basicsize = sizeof(Pump),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Pump(): the reads and sends of closed-loop connections made in C.",
    .tp_new = pump_new,
    .tp_dealloc = (destructor)pump_dealloc,
    .tp_traverse = (traverseproc)pump_traverse,
    .tp_clear = (inquiry)pump_clear,
    .tp_methods = pump_methods,
};

int
bench_add_pump(PyObject *module)
{
    if (PyType_Ready(&PumpType) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "Pump", (PyObject *)&PumpType);
}

#else /* no epoll: no pump, and no stream ever sends on its own */

int
bench_send_pieces(StreamBase *base, struct iovec *iov, Py_ssize_t n, PyObject *shared)
{
    PyErr_SetString(PyExc_RuntimeError, "no direct sends here");
    return -1;
}

unsigned char *
bench_direct_buffer(Py_ssize_t len)
{
    PyErr_SetString(PyExc_RuntimeError, "no direct sends here");
    return NULL;
}

int
bench_send_direct(StreamBase *base, const unsigned char *data, Py_ssize_t len)
{
    PyErr_SetString(PyExc_RuntimeError, "no direct sends here");
    return -1;
}

int
bench_add_pump(PyObject *module)
{
    return 0;
}

#endif
