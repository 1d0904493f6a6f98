/*
 * wstool.core._speedups: the masking hot path in C (RFC 6455 section 5.3).
 *
 * apply_mask(data, key) -> bytes XORs every byte of data with the 4-byte
 * key, repeating; mask_inplace(buffer, key) does the same in a writable
 * buffer, for receivers that reuse one.  The work is done 16 bytes at a time
 * with SSE2 where the compiler targets it (every x86-64), then 8 bytes at a
 * time on a 64-bit word built from the key, then byte by byte.  The pure-Python
 * version in masking.py gives the same results and is tested against this.
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

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     "apply_mask(data, key) -> bytes: XOR data with the repeating 4-byte key."},
    {"mask_inplace", (PyCFunction)(void (*)(void))mask_inplace, METH_FASTCALL,
     "mask_inplace(buffer, key): XOR a writable buffer with the key, in place."},
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
