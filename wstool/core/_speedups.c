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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static void
xor_mask(const unsigned char *src, unsigned char *dst, Py_ssize_t n, const unsigned char k[4])
{
    unsigned char k8[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
    uint64_t k64;
    Py_ssize_t i = 0;

#ifdef __SSE2__
    /* 16 bytes at a time; the key repeats every 4 bytes, so one 16-byte
       pattern of it serves every block (i stays a multiple of 4). */
    {
        __m128i k128 = _mm_set1_epi32((int)((uint32_t)k[0] | ((uint32_t)k[1] << 8) |
                                            ((uint32_t)k[2] << 16) | ((uint32_t)k[3] << 24)));
        for (; i + 64 <= n; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k128));
        }
        for (; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k128));
        }
    }
#endif
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
