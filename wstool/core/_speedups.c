/*
 * wstool.core._speedups: the masking hot path in C (RFC 6455 section 5.3).
 *
 * apply_mask(data, key) -> bytes XORs every byte of data with the 4-byte
 * key, repeating; mask_inplace(buffer, key) does the same in a writable
 * buffer, for receivers that reuse one.  The work is done 16 bytes at a time
 * with SSE2 where the compiler targets it (every x86-64), then 8 bytes at a
 * time on a 64-bit word built from the key, then byte by byte.  The pure-Python
 * version in masking.py gives the same results and is tested against this.
 *
 * echo_frames(data, start, limit) -> (echo, end, count) is a quiet echo
 * server's whole read in one call: it answers the whole data frames of
 * ``data`` from ``start`` on (core/connection.py's frame-by-frame path, in
 * Python, gives the same answers and is tested against it);
 * echo_frames_parts(parts, limit) does the same for a read taken in parts (a
 * frame cut short by the last read, then the read that ends it) without
 * joining them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "_xor_mask.h"
#include "_echo_scan.h"

static int
get_key(PyObject *obj, unsigned char k[4])
{
    Py_buffer key;

    if (PyObject_GetBuffer(obj, &key, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (key.len != 4) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "mask key must be 4 bytes");
        return -1;
    }
    memcpy(k, key.buf, 4);
    PyBuffer_Release(&key);
    return 0;
}

static PyObject *
apply_mask(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *result;
    unsigned char k[4];

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "apply_mask() takes exactly 2 arguments (data, key)");
        return NULL;
    }
    if (get_key(args[1], k) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        Py_BEGIN_ALLOW_THREADS
        xor_mask((const unsigned char *)data.buf,
                 (unsigned char *)PyBytes_AS_STRING(result), data.len, k);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    return result;
}

static PyObject *
mask_inplace(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    unsigned char k[4];

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "mask_inplace() takes exactly 2 arguments (buffer, key)");
        return NULL;
    }
    if (get_key(args[1], k) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    xor_mask((const unsigned char *)data.buf, (unsigned char *)data.buf, data.len, k);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

/* The echo of the data frames at the start of data[start:], as a quiet echo
   server sends it.  A frame is answered here only when it is FIN, with no
   RSV bit, TEXT or BINARY, masked (RFC 6455 section 5.1: "a server MUST
   close the connection upon receiving a frame that is not masked"), its
   length minimally encoded, at most limit bytes (limit < 0: no limit) and,
   for TEXT, valid UTF-8.  The scan stops at the first frame that is anything
   else or not wholly in data: the general path takes it from there and gives
   any fault its close code.  Each echo is the frame unmasked, with the same
   length encoding and no mask key. */
static PyObject *
echo_frames(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    Py_ssize_t start, pos, end, out_at = 0, count = 0, head;
    unsigned long long length;
    long long limit;
    const unsigned char *src;
    unsigned char *dst;
    PyObject *echo;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "echo_frames() takes exactly 3 arguments (data, start, limit)");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    limit = PyLong_AsLongLong(args[2]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (start < 0 || start > data.len) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "start is outside data");
        return NULL;
    }
    src = (const unsigned char *)data.buf;
    end = data.len;
    if (!whole_frame_at(src + start, end - start, limit, &head, &length)) {
        /* Nothing to answer (a large frame still arriving, say): no buffer. */
        PyBuffer_Release(&data);
        return Py_BuildValue("(y#nn)", "", (Py_ssize_t)0, start, (Py_ssize_t)0);
    }
    /* Each echo is 4 bytes shorter than its frame: the input's size is enough. */
    echo = PyBytes_FromStringAndSize(NULL, end - start);
    if (echo == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    dst = (unsigned char *)PyBytes_AS_STRING(echo);
    pos = start + echo_scan(src + start, end - start, limit, dst, &out_at, &count);
    PyBuffer_Release(&data);
    if (_PyBytes_Resize(&echo, out_at) < 0) {
        return NULL;
    }
    return Py_BuildValue("(Nnn)", echo, pos, count);
}

/* Bytes read in several parts (a frame cut short, then the read that ends
   it), seen as one stream without joining them. */
typedef struct {
    Py_buffer *views;
    Py_ssize_t count;
    Py_ssize_t total;
} Parts;

/* Copy len bytes from stream position pos into dst, XORed with key (masked
   from the key's first byte at pos) when key is not NULL. */
static void
parts_copy(const Parts *parts, Py_ssize_t pos, unsigned char *dst, Py_ssize_t len,
           const unsigned char *key)
{
    Py_ssize_t base = 0, done = 0;

    for (Py_ssize_t i = 0; i < parts->count && done < len; i++) {
        Py_ssize_t size = parts->views[i].len, from, take;
        const unsigned char *src = (const unsigned char *)parts->views[i].buf;

        if (pos + done >= base + size) {
            base += size;
            continue;
        }
        from = pos + done - base;
        take = size - from < len - done ? size - from : len - done;
        if (key == NULL) {
            memcpy(dst + done, src + from, take);
        } else {
            unsigned char turned[4];
            for (int j = 0; j < 4; j++) {
                turned[j] = key[(done + j) & 3];
            }
            xor_mask(src + from, dst + done, take, turned);
        }
        done += take;
        base += size;
    }
}

/* echo_frames for data read in parts (a sequence of buffers), from the
   first part's start: the same answers, without joining the parts. */
static PyObject *
echo_frames_parts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *seq, *echo = NULL, *result = NULL;
    Parts parts = {NULL, 0, 0};
    Py_ssize_t got = 0, pos = 0, out_at = 0, count = 0, head;
    unsigned long long length;
    long long limit;
    unsigned char head_bytes[14];
    unsigned char *dst;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError,
                        "echo_frames_parts() takes exactly 2 arguments (parts, limit)");
        return NULL;
    }
    limit = PyLong_AsLongLong(args[1]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    seq = PySequence_Fast(args[0], "parts must be a sequence of buffers");
    if (seq == NULL) {
        return NULL;
    }
    parts.count = PySequence_Fast_GET_SIZE(seq);
    parts.views = PyMem_Calloc(parts.count ? parts.count : 1, sizeof(Py_buffer));
    if (parts.views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < parts.count; got++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &parts.views[got],
                               PyBUF_SIMPLE) < 0) {
            goto done;
        }
        parts.total += parts.views[got].len;
    }
    parts_copy(&parts, 0, head_bytes, parts.total < 14 ? parts.total : 14, NULL);
    if (!whole_frame_at(head_bytes, parts.total, limit, &head, &length)) {
        result = Py_BuildValue("(y#nn)", "", (Py_ssize_t)0, (Py_ssize_t)0, (Py_ssize_t)0);
        goto done;
    }
    echo = PyBytes_FromStringAndSize(NULL, parts.total);
    if (echo == NULL) {
        goto done;
    }
    dst = (unsigned char *)PyBytes_AS_STRING(echo);
    while (parts.total - pos >= 6) {
        parts_copy(&parts, pos, head_bytes, parts.total - pos < 14 ? parts.total - pos : 14, NULL);
        if (!whole_frame_at(head_bytes, parts.total - pos, limit, &head, &length)) {
            break;
        }
        memcpy(dst + out_at, head_bytes, head);
        dst[out_at + 1] &= 0x7F;
        parts_copy(&parts, pos + head + 4, dst + out_at + head, (Py_ssize_t)length,
                   head_bytes + head);
        if (head_bytes[0] == 0x81 && !utf8_ok(dst + out_at + head, (Py_ssize_t)length)) {
            break;
        }
        out_at += head + (Py_ssize_t)length;
        pos += head + 4 + (Py_ssize_t)length;
        count++;
    }
    if (_PyBytes_Resize(&echo, out_at) == 0) {
        result = Py_BuildValue("(Nnn)", echo, pos, count);
    }
done:
    while (got-- > 0) {
        PyBuffer_Release(&parts.views[got]);
    }
    PyMem_Free(parts.views);
    Py_DECREF(seq);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, key) -> bytes: XOR data with the repeating 4-byte key."},
    {"mask_inplace", (PyCFunction)(void (*)(void))mask_inplace, METH_FASTCALL,
     "mask_inplace(buffer, key): XOR a writable buffer with the key, in place."},
    {"echo_frames", (PyCFunction)(void (*)(void))echo_frames, METH_FASTCALL,
     "echo_frames(data, start, limit) -> (echo, end, count): a quiet echo server's "
     "answer to the whole data frames of data[start:]."},
    {"echo_frames_parts", (PyCFunction)(void (*)(void))echo_frames_parts, METH_FASTCALL,
     "echo_frames_parts(parts, limit) -> (echo, end, count): echo_frames for data read "
     "in parts (a sequence of buffers), without joining them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "wstool.core._speedups",
    "C accelerator for wstool's masking and quiet echo.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
