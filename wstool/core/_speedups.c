/*
 * wstool.core._speedups: the masking hot path in C (RFC 6455 section 5.3).
 *
 * apply_mask(data, key) -> bytes XORs every byte of data with the 4-byte
 * key, repeating.  The work is done 8 bytes at a time on a 64-bit word built
 * from the key, which lets the compiler vectorise the loop.  The pure-Python
 * version in masking.py gives the same results and is tested against this.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
apply_mask(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key;
    PyObject *result;
    const unsigned char *src;
    unsigned char *dst;
    unsigned char k[4];
    uint64_t k64;
    Py_ssize_t n, i = 0;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "apply_mask() takes exactly 2 arguments (data, key)");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (key.len != 4) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "mask key must be 4 bytes");
        return NULL;
    }
    memcpy(k, key.buf, 4);
    PyBuffer_Release(&key);

    n = data.len;
    result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    src = (const unsigned char *)data.buf;
    dst = (unsigned char *)PyBytes_AS_STRING(result);

    Py_BEGIN_ALLOW_THREADS
    {
        unsigned char k8[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
        memcpy(&k64, k8, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            w ^= k64;
            memcpy(dst + i, &w, 8);
        }
        for (; i < n; i++) {
            dst[i] = src[i] ^ k[i & 3];
        }
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, key) -> bytes: XOR data with the repeating 4-byte key."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "wstool.core._speedups",
    "C accelerator for wstool's masking.", -1, speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
