/*
 * wstool.ui._hexview: the hex+ASCII payload view in C.
 *
 * hex_rows(data, indent, digits) -> str writes what render._hex_ascii_rows
 * writes in Python, 16 bytes a row, rows joined by "\n" (no final one):
 *
 *     <indent spaces><offset, `digits` hex digits>  <8 bytes>  <8 bytes>  |<ASCII>|
 *
 * each half of the hex column padded to 23 characters, the ASCII column as
 * long as the row, bytes outside 0x20..0x7e shown as ".".  The output is
 * pure ASCII, so the string is built in place with one allocation.  Decoding
 * a binary-heavy dump spends most of its time here otherwise; the Python
 * version stays for builds without a compiler and is tested against this.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static const char HEX[] = "0123456789abcdef";

/* Fixed characters of a row besides the indent, the offset and the ASCII:
   two spaces, 23 + two spaces + 23 of hex, two spaces and the two bars. */
#define ROW_FIXED 54

static Py_UCS1 *
write_row(Py_UCS1 *out, const unsigned char *row, Py_ssize_t n, Py_ssize_t offset,
          int indent, int digits)
{
    Py_UCS1 *half;
    int i;

    memset(out, ' ', (size_t)indent);
    out += indent;
    for (i = digits - 1; i >= 0; i--) {
        out[i] = (Py_UCS1)HEX[offset & 0xF];
        offset >>= 4;
    }
    out += digits;
    /* Both hex halves and the gaps around them start as spaces. */
    memset(out, ' ', 2 + 23 + 2 + 23 + 2);
    half = out + 2;
    for (i = 0; i < n; i++) {
        Py_UCS1 *at = half + (i < 8 ? 3 * i : 25 + 3 * (i - 8));
        at[0] = (Py_UCS1)HEX[row[i] >> 4];
        at[1] = (Py_UCS1)HEX[row[i] & 0xF];
    }
    out += 2 + 23 + 2 + 23 + 2;
    *out++ = '|';
    for (i = 0; i < n; i++) {
        unsigned char c = row[i];
        *out++ = (Py_UCS1)((c >= 0x20 && c < 0x7f) ? c : '.');
    }
    *out++ = '|';
    return out;
}

static PyObject *
hex_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    PyObject *result;
    Py_ssize_t rows, length, start;
    long indent, digits;
    Py_UCS1 *out;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "hex_rows() takes exactly 3 arguments (data, indent, digits)");
        return NULL;
    }
    indent = PyLong_AsLong(args[1]);
    if (indent == -1 && PyErr_Occurred()) {
        return NULL;
    }
    digits = PyLong_AsLong(args[2]);
    if (digits == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (indent < 0 || indent > 64 || digits < 1 || digits > 16) {
        PyErr_SetString(PyExc_ValueError, "indent must be 0..64 and digits 1..16");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (digits < 16 && data.len > 0 && ((data.len - 1) >> (4 * digits)) != 0) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "digits too few for the offsets");
        return NULL;
    }
    rows = (data.len + 15) / 16;
    length = rows ? rows * (indent + digits + ROW_FIXED) + data.len + (rows - 1) : 0;
    result = PyUnicode_New(length, 127);
    if (result == NULL) {
        PyBuffer_Release(&data);
        return NULL;
    }
    out = PyUnicode_1BYTE_DATA(result);
    for (start = 0; start < data.len; start += 16) {
        Py_ssize_t n = data.len - start < 16 ? data.len - start : 16;
        if (start) {
            *out++ = '\n';
        }
        out = write_row(out, (const unsigned char *)data.buf + start, n, start, (int)indent,
                        (int)digits);
    }
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef hexview_methods[] = {
    {"hex_rows", (PyCFunction)(void (*)(void))hex_rows, METH_FASTCALL,
     "hex_rows(data, indent, digits) -> str: the hex+ASCII rows of data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef hexview_module = {
    PyModuleDef_HEAD_INIT, "wstool.ui._hexview",
    "C version of wstool's hex+ASCII payload view.", -1, hexview_methods,
};

PyMODINIT_FUNC
PyInit__hexview(void)
{
    return PyModule_Create(&hexview_module);
}
