/*
 * wstool.bench._batch: a closed-loop batch of numbered bench messages in one call.
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
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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

static PyObject *
numbered(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer prefix, masked_rest, echo_prefix, rest, key;
    Py_buffer *views[5] = {&prefix, &masked_rest, &echo_prefix, &rest, &key};
    PyObject *wire = NULL, *expected;
    unsigned long long stamp, index, first;
    unsigned char plain[32], masked[32];
    Py_ssize_t count, size, frame_len, echo_len, old_len;
    int text, got = 0;

    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "numbered() takes exactly 11 arguments");
        return NULL;
    }
    stamp = PyLong_AsUnsignedLongLongMask(args[5]);
    index = PyLong_AsUnsignedLongLongMask(args[6]);
    first = PyLong_AsUnsignedLongLongMask(args[7]);
    count = PyLong_AsSsize_t(args[8]);
    text = PyObject_IsTrue(args[9]);
    expected = args[10];
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
    /* The timestamp header: stamp, index, number; 32 hex digits or 16 bytes. */
    size = text ? 32 : 16;
    put_number(stamp, 16, text, plain);
    put_number(index & 0xFFFFFFFFULL, 8, text, plain + (text ? 16 : 8));
    for (Py_ssize_t j = 0; j < size; j++) {
        masked[j] = plain[j] ^ ((const unsigned char *)key.buf)[j & 3];
    }
    frame_len = prefix.len + size + masked_rest.len;
    echo_len = echo_prefix.len + size + rest.len;
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
        Py_ssize_t at = size - (text ? 8 : 4); /* where the number starts */

        for (Py_ssize_t i = 0; i < count; i++) {
            put_number((first + (unsigned long long)i) & 0xFFFFFFFFULL, 8, text, plain + at);
            for (Py_ssize_t j = at; j < size; j++) {
                masked[j] = plain[j] ^ k[j & 3];
            }
            memcpy(out, prefix.buf, prefix.len);
            memcpy(out + prefix.len, masked, size);
            memcpy(out + prefix.len + size, masked_rest.buf, masked_rest.len);
            out += frame_len;
            memcpy(back, echo_prefix.buf, echo_prefix.len);
            memcpy(back + echo_prefix.len, plain, size);
            memcpy(back + echo_prefix.len + size, rest.buf, rest.len);
            back += echo_len;
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
    return PyModule_Create(&batch_module);
}
