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
 * echo_short(data, start) -> (echo, end, count) is a quiet echo server's whole
 * read in one call: it answers the short data frames of ``data`` from
 * ``start`` on (core/connection.py's reflex path, in Python, does the same
 * and is tested against it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include "_xor_mask.h"

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

/* Whether the n bytes at p are valid UTF-8 by Python's strict decoder, which
   is RFC 6455 section 8.1's test (RFC 3629: no surrogates, no overlongs). */
static int
utf8_ok(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    PyObject *text;

    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) {
            break;
        }
    }
    for (; i < n; i++) {
        if (p[i] & 0x80) {
            break;
        }
    }
    if (i == n) {
        return 1;
    }
    text = PyUnicode_DecodeUTF8((const char *)p + i, n - i, "strict");
    if (text == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(text);
    return 1;
}

/* The echo of the short data frames at the start of data[start:], as a quiet
   echo server sends it.  A frame is answered here only when it is FIN, with
   no RSV bit, TEXT or BINARY, masked (RFC 6455 section 5.1: "a server MUST
   close the connection upon receiving a frame that is not masked"), with a
   7-bit length, and (TEXT) valid UTF-8.  The scan stops at the first frame
   that is anything else or not wholly in data: the general path takes it
   from there and gives any fault its close code.  Each echo is the frame
   unmasked, with a 2-byte header. */
static PyObject *
echo_short(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    Py_ssize_t start, pos, end, out_at = 0, count = 0;
    const unsigned char *src;
    unsigned char *dst;
    PyObject *echo, *result = NULL;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "echo_short() takes exactly 2 arguments (data, start)");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
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
    /* Each echo is 4 bytes shorter than its frame: the input's size is enough. */
    echo = PyBytes_FromStringAndSize(NULL, end - start);
    if (echo == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    dst = (unsigned char *)PyBytes_AS_STRING(echo);
    pos = start;
    while (end - pos >= 6) {
        unsigned char b0 = src[pos], b1 = src[pos + 1];
        Py_ssize_t length = b1 & 0x7F;

        if ((b0 != 0x81 && b0 != 0x82) || !(b1 & 0x80) || length > 125) {
            break;
        }
        if (pos + 6 + length > end) {
            break;
        }
        dst[out_at] = b0;
        dst[out_at + 1] = (unsigned char)length;
        xor_mask(src + pos + 6, dst + out_at + 2, length, src + pos + 2);
        if (b0 == 0x81 && !utf8_ok(dst + out_at + 2, length)) {
            break;
        }
        out_at += 2 + length;
        pos += 6 + length;
        count++;
    }
    PyBuffer_Release(&data);
    if (_PyBytes_Resize(&echo, out_at) < 0) {
        return NULL;
    }
    result = Py_BuildValue("(Nnn)", echo, pos, count);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, key) -> bytes: XOR data with the repeating 4-byte key."},
    {"mask_inplace", (PyCFunction)(void (*)(void))mask_inplace, METH_FASTCALL,
     "mask_inplace(buffer, key): XOR a writable buffer with the key, in place."},
    {"echo_short", (PyCFunction)(void (*)(void))echo_short, METH_FASTCALL,
     "echo_short(data, start) -> (echo, end, count): a quiet echo server's answer to "
     "the short data frames of data[start:]."},
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
