/*
 * wstool.bench._batch: a closed-loop batch of numbered bench messages in one call.
 *
 * numbered(head, masked_rest, echo_head, rest, key, first, count, text, expected)
 * -> bytes builds what connection.py's _build_small builds in Python (and is
 * tested against): ``count`` client frames, each
 *
 *     head + (number XOR key) + masked_rest
 *
 * where ``head`` is the frame header, mask key and masked timestamp header
 * up to the number, and the number is message ``first + i`` (modulo 2**32)
 * as 8 lowercase hex digits (text) or 4 bytes big-endian (binary).  The
 * number starts a whole mask period from the payload's start, so it is
 * masked with the key from its first byte.  The echoes expected back,
 *
 *     echo_head + number + rest
 *
 * are appended to the bytearray ``expected``.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static void
number_bytes(uint32_t n, int text, unsigned char *out)
{
    static const char hex[] = "0123456789abcdef";

    if (text) {
        for (int i = 7; i >= 0; i--) {
            out[i] = (unsigned char)hex[n & 0xF];
            n >>= 4;
        }
    } else {
        out[0] = (unsigned char)(n >> 24);
        out[1] = (unsigned char)(n >> 16);
        out[2] = (unsigned char)(n >> 8);
        out[3] = (unsigned char)n;
    }
}

static PyObject *
numbered(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer head, masked_rest, echo_head, rest, key;
    Py_buffer *views[5] = {&head, &masked_rest, &echo_head, &rest, &key};
    PyObject *wire = NULL, *expected;
    unsigned long long first;
    Py_ssize_t count, width, frame_len, echo_len, old_len;
    int text, got = 0;

    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "numbered() takes exactly 9 arguments");
        return NULL;
    }
    first = PyLong_AsUnsignedLongLongMask(args[5]);
    count = PyLong_AsSsize_t(args[6]);
    text = PyObject_IsTrue(args[7]);
    expected = args[8];
    if (PyErr_Occurred() || text < 0) {
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
    width = text ? 8 : 4;
    frame_len = head.len + width + masked_rest.len;
    echo_len = echo_head.len + width + rest.len;
    if (count && (frame_len > PY_SSIZE_T_MAX / count || echo_len > PY_SSIZE_T_MAX / count)) {
        PyErr_NoMemory();
        goto done;
    }
    wire = PyBytes_FromStringAndSize(NULL, frame_len * count);
    old_len = PyByteArray_GET_SIZE(expected);
    if (wire == NULL || PyByteArray_Resize(expected, old_len + echo_len * count) < 0) {
        Py_CLEAR(wire);
        goto done;
    }
    {
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(wire);
        unsigned char *back = (unsigned char *)PyByteArray_AS_STRING(expected) + old_len;
        const unsigned char *k = (const unsigned char *)key.buf;

        for (Py_ssize_t i = 0; i < count; i++) {
            unsigned char digits[8];

            number_bytes((uint32_t)(first + (unsigned long long)i), text, digits);
            memcpy(out, head.buf, head.len);
            out += head.len;
            for (Py_ssize_t j = 0; j < width; j++) {
                out[j] = digits[j] ^ k[j & 3];
            }
            out += width;
            memcpy(out, masked_rest.buf, masked_rest.len);
            out += masked_rest.len;
            memcpy(back, echo_head.buf, echo_head.len);
            back += echo_head.len;
            memcpy(back, digits, width);
            back += width;
            memcpy(back, rest.buf, rest.len);
            back += rest.len;
        }
    }
done:
    while (got-- > 0) {
        PyBuffer_Release(views[got]);
    }
    return wire;
}

static PyMethodDef batch_methods[] = {
    {"numbered", (PyCFunction)(void (*)(void))numbered, METH_FASTCALL,
     "numbered(head, masked_rest, echo_head, rest, key, first, count, text, expected) "
     "-> bytes: a batch of numbered client frames; their echoes appended to expected."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef batch_module = {
    PyModuleDef_HEAD_INIT, "wstool.bench._batch",
    "C accelerator for wstool bench's batches of numbered messages.", -1, batch_methods,
};

PyMODINIT_FUNC
PyInit__batch(void)
{
    return PyModule_Create(&batch_module);
}
