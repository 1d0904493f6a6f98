/*
 * wstool.session._records: session frame records written in C.
 *
 * frame_lines(data, pos, prefix, data_frames_to_python[, inflate]) -> (lines, pos, stopped)
 *
 * Reads the frames in data from pos on and writes one session record line for
 * each (see docs/session-format.md): prefix (the record's start, with its
 * type, connection, sender and time, ending in a comma), then fin, rsv,
 * opcode, mask, length, head (hex), wire (base64) and, for a text or binary
 * message in one frame, the message (text JSON-escaped, or base64).
 *
 * Only the common frame is written here: FIN set, no RSV bit, opcode text,
 * binary, close, ping or pong (text only if its payload is valid UTF-8), and
 * no data frame while data_frames_to_python is true (a fragmented message is
 * being assembled in Python). With a fifth argument, inflate (a callable
 * taking a compressed message's payload, unmasked, and returning the message
 * inflated, or None where it cannot be inflated), a whole compressed message
 * in one frame (FIN and RSV1 set, RSV2 and RSV3 clear, text or binary) is
 * written here too, its message inflated by that callable (which keeps the
 * permessage-deflate context): text as text when it is UTF-8, else no message,
 * as the Python path writes it. At any other complete frame it stops with
 * stopped = 1 and pos at that frame, for session.recorder to write it (and
 * to inflate, or assemble fragments); at the end of the complete frames it
 * stops with stopped = 0 and pos at the first byte not yet used. Recording a
 * busy server spends its time here otherwise; the Python path writes the same
 * records (tests hold them equal).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "../core/_xor_mask.h"

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
} Out;

static int
reserve(Out *o, Py_ssize_t more)
{
    if (o->len + more <= o->cap) {
        return 0;
    }
    Py_ssize_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more) {
        cap *= 2;
    }
    char *grown = PyMem_Realloc(o->buf, (size_t)cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->buf = grown;
    o->cap = cap;
    return 0;
}

static void
put(Out *o, const char *s, Py_ssize_t n)
{
    memcpy(o->buf + o->len, s, (size_t)n);
    o->len += n;
}

#define PUTS(o, s) put((o), (s), (Py_ssize_t)(sizeof(s) - 1))

static const char HEX[] = "0123456789abcdef";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
put_hex(Out *o, const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        o->buf[o->len++] = HEX[p[i] >> 4];
        o->buf[o->len++] = HEX[p[i] & 15];
    }
}

static void
put_b64(Out *o, const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    char *w = o->buf + o->len;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        *w++ = B64[v >> 18];
        *w++ = B64[(v >> 12) & 63];
        *w++ = B64[(v >> 6) & 63];
        *w++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *w++ = B64[v >> 18];
        *w++ = B64[(v >> 12) & 63];
        *w++ = '=';
        *w++ = '=';
    }
    else if (n - i == 2) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
        *w++ = B64[v >> 18];
        *w++ = B64[(v >> 12) & 63];
        *w++ = B64[(v >> 6) & 63];
        *w++ = '=';
    }
    o->len = w - o->buf;
}

static void
put_int(Out *o, unsigned long long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) {
        o->buf[o->len++] = tmp[--n];
    }
}

/* RFC 3629: well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int
valid_utf8(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
            i += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n) return 0;
            unsigned char c1 = s[i + 1], c2 = s[i + 2];
            if ((c1 & 0xC0) != 0x80 || (c2 & 0xC0) != 0x80) return 0;
            if (c == 0xE0 && c1 < 0xA0) return 0;
            if (c == 0xED && c1 > 0x9F) return 0;
            i += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n) return 0;
            unsigned char c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if (c == 0xF0 && c1 < 0x90) return 0;
            if (c == 0xF4 && c1 > 0x8F) return 0;
            i += 4;
        }
        else {
            return 0;
        }
    }
    return 1;
}

/* A JSON string body (RFC 8259 section 7): quote, backslash and C0 controls escaped. */
static void
put_json_text(Out *o, const unsigned char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            o->buf[o->len++] = '\\';
            o->buf[o->len++] = (char)c;
        }
        else if (c < 0x20) {
            const char *short_form = NULL;
            switch (c) {
            case '\n': short_form = "\\n"; break;
            case '\r': short_form = "\\r"; break;
            case '\t': short_form = "\\t"; break;
            case '\b': short_form = "\\b"; break;
            case '\f': short_form = "\\f"; break;
            }
            if (short_form) {
                o->buf[o->len++] = short_form[0];
                o->buf[o->len++] = short_form[1];
            }
            else {
                PUTS(o, "\\u00");
                o->buf[o->len++] = HEX[c >> 4];
                o->buf[o->len++] = HEX[c & 15];
            }
        }
        else {
            o->buf[o->len++] = (char)c;
        }
    }
}

/* The payload of frame f unmasked: f's own bytes, or scratch. NULL on a memory error. */
static const unsigned char *
unmasked(const unsigned char *f, Py_ssize_t head_len, Py_ssize_t length, int masked,
         unsigned char **scratch, Py_ssize_t *scratch_cap)
{
    const unsigned char *payload = f + head_len;
    if (!masked || length == 0) {
        return payload;
    }
    if (*scratch_cap < length) {
        unsigned char *grown = PyMem_Realloc(*scratch, (size_t)(length ? length : 1));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        *scratch = grown;
        *scratch_cap = length;
    }
    xor_mask(payload, *scratch, length, f + head_len - 4);
    return *scratch;
}

/* The record's fields from fin to wire, after the prefix (room reserved by the caller). */
static void
put_frame_fields(Out *o, const unsigned char *f, Py_ssize_t head_len, Py_ssize_t length,
                 int masked, int rsv1)
{
    int opcode = f[0] & 0x0F;
    const unsigned char *payload = f + head_len;

    if (rsv1) {
        PUTS(o, "\"fin\":true,\"rsv\":[true,false,false],\"opcode\":");
    }
    else {
        PUTS(o, "\"fin\":true,\"rsv\":[false,false,false],\"opcode\":");
    }
    put_int(o, (unsigned long long)opcode);
    if (masked) {
        PUTS(o, ",\"mask\":\"");
        put_hex(o, f + head_len - 4, 4);
        PUTS(o, "\"");
    }
    else {
        PUTS(o, ",\"mask\":null");
    }
    PUTS(o, ",\"length\":");
    put_int(o, (unsigned long long)length);
    PUTS(o, ",\"head\":\"");
    put_hex(o, f, head_len);
    PUTS(o, "\",\"wire\":\"");
    put_b64(o, payload, length);
    PUTS(o, "\"");
}

/* ,"message":{...} for a message of one frame (room reserved by the caller). */
static void
put_message(Out *o, int opcode, const unsigned char *data, Py_ssize_t size, int compressed)
{
    PUTS(o, ",\"message\":{\"opcode\":");
    put_int(o, (unsigned long long)opcode);
    if (compressed) {
        PUTS(o, ",\"frames\":1,\"compressed\":true,\"size\":");
    }
    else {
        PUTS(o, ",\"frames\":1,\"compressed\":false,\"size\":");
    }
    put_int(o, (unsigned long long)size);
    if (opcode == 1) {
        PUTS(o, ",\"text\":\"");
        put_json_text(o, data, size);
    }
    else {
        PUTS(o, ",\"base64\":\"");
        put_b64(o, data, size);
    }
    PUTS(o, "\"}");
}

/* Room for a record: prefix, fixed text, hex head, base64 wire, and a message of size
   bytes (text escapes to 6x at most). */
#define RECORD_ROOM(prefix_len, head_len, length, size) \
    ((prefix_len) + 256 + 2 * (head_len) + 4 * ((length) / 3 + 1) + 6 * (size) + 8)

/* One frame's record after the prefix. Returns 1 written, 0 not for C, -1 error. */
static int
write_frame(Out *o, const char *prefix, Py_ssize_t prefix_len, const unsigned char *f,
            Py_ssize_t head_len, Py_ssize_t length, int masked, unsigned char **scratch,
            Py_ssize_t *scratch_cap)
{
    int opcode = f[0] & 0x0F;
    int message = opcode == 1 || opcode == 2;
    const unsigned char *data = f + head_len;

    if (message) {
        data = unmasked(f, head_len, length, masked, scratch, scratch_cap);
        if (data == NULL) {
            return -1;
        }
    }
    if (opcode == 1 && !valid_utf8(data, length)) {
        return 0;
    }
    if (reserve(o, RECORD_ROOM(prefix_len, head_len, length, message ? length : 0)) < 0) {
        return -1;
    }
    put(o, prefix, prefix_len);
    put_frame_fields(o, f, head_len, length, masked, 0);
    if (message) {
        put_message(o, opcode, data, length, 0);
    }
    PUTS(o, "}\n");
    return 1;
}

/* A whole compressed message in one frame, inflated by inflate(). 1 written, -1 error. */
static int
write_deflated(Out *o, const char *prefix, Py_ssize_t prefix_len, const unsigned char *f,
               Py_ssize_t head_len, Py_ssize_t length, int masked, unsigned char **scratch,
               Py_ssize_t *scratch_cap, PyObject *inflate)
{
    int opcode = f[0] & 0x0F;
    const unsigned char *data = unmasked(f, head_len, length, masked, scratch, scratch_cap);
    if (data == NULL) {
        return -1;
    }
    PyObject *compressed = PyBytes_FromStringAndSize((const char *)data, length);
    if (compressed == NULL) {
        return -1;
    }
    PyObject *inflated = PyObject_CallOneArg(inflate, compressed);
    Py_DECREF(compressed);
    if (inflated == NULL) {
        return -1;
    }
    if (inflated != Py_None && !PyBytes_Check(inflated)) {
        Py_DECREF(inflated);
        PyErr_SetString(PyExc_TypeError, "inflate() must return bytes or None");
        return -1;
    }
    const unsigned char *message = NULL;
    Py_ssize_t size = 0;
    if (inflated != Py_None) {
        message = (const unsigned char *)PyBytes_AS_STRING(inflated);
        size = PyBytes_GET_SIZE(inflated);
        if (opcode == 1 && !valid_utf8(message, size)) {
            message = NULL; /* text that is not UTF-8: no message, as in Python */
        }
    }
    if (reserve(o, RECORD_ROOM(prefix_len, head_len, length, message ? size : 0)) < 0) {
        Py_DECREF(inflated);
        return -1;
    }
    put(o, prefix, prefix_len);
    put_frame_fields(o, f, head_len, length, masked, 1);
    if (message != NULL) {
        put_message(o, opcode, message, size, 1);
    }
    PUTS(o, "}\n");
    Py_DECREF(inflated);
    return 1;
}

static PyObject *
frame_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, prefix;
    Py_ssize_t pos;
    int data_to_python, stopped = 0;
    Out o = {NULL, 0, 0};
    unsigned char *scratch = NULL;
    Py_ssize_t scratch_cap = 0;
    PyObject *result = NULL;

    if (nargs != 4 && nargs != 5) {
        PyErr_SetString(PyExc_TypeError,
                        "frame_lines() takes 4 or 5 arguments "
                        "(data, pos, prefix, data_frames_to_python[, inflate])");
        return NULL;
    }
    PyObject *inflate = nargs == 5 && args[4] != Py_None ? args[4] : NULL;
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    data_to_python = PyObject_IsTrue(args[3]);
    if (data_to_python < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &prefix, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    const unsigned char *buf = data.buf;
    Py_ssize_t n = data.len;
    if (pos < 0 || pos > n) {
        PyErr_SetString(PyExc_ValueError, "pos outside data");
        goto done;
    }
    while (n - pos >= 2) {
        const unsigned char *f = buf + pos;
        int masked = (f[1] & 0x80) != 0;
        Py_ssize_t head_len = 2;
        uint64_t length = f[1] & 0x7F;
        if (length == 126) {
            head_len = 4;
            if (n - pos < 4) break;
            length = ((uint64_t)f[2] << 8) | f[3];
        }
        else if (length == 127) {
            head_len = 10;
            if (n - pos < 10) break;
            length = 0;
            for (int i = 2; i < 10; i++) length = (length << 8) | f[i];
        }
        head_len += masked ? 4 : 0;
        if ((uint64_t)(n - pos) < (uint64_t)head_len ||
            length > (uint64_t)(n - pos - head_len)) {
            break; /* the frame is not complete yet */
        }
        int opcode = f[0] & 0x0F;
        int common = (f[0] & 0xF0) == 0x80 && (opcode == 1 || opcode == 2 || opcode == 8 ||
                                               opcode == 9 || opcode == 10);
        int deflated = inflate != NULL && (f[0] & 0xF0) == 0xC0 && (opcode == 1 || opcode == 2);
        if (data_to_python && (opcode == 1 || opcode == 2)) {
            common = deflated = 0;
        }
        int written = 0;
        if (common) {
            written = write_frame(&o, prefix.buf, prefix.len, f, head_len, (Py_ssize_t)length,
                                  masked, &scratch, &scratch_cap);
        }
        else if (deflated) {
            written = write_deflated(&o, prefix.buf, prefix.len, f, head_len, (Py_ssize_t)length,
                                     masked, &scratch, &scratch_cap, inflate);
        }
        if (written < 0) {
            goto done;
        }
        if (written == 0) {
            stopped = 1;
            break;
        }
        pos += head_len + (Py_ssize_t)length;
    }
    result = Py_BuildValue("(y#ni)", o.buf ? o.buf : "", o.len, pos, stopped);
done:
    PyMem_Free(o.buf);
    PyMem_Free(scratch);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef records_methods[] = {
    {"frame_lines", (PyCFunction)(void (*)(void))frame_lines, METH_FASTCALL,
     "frame_lines(data, pos, prefix, data_frames_to_python[, inflate]) -> (lines, pos, stopped)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef records_module = {
    PyModuleDef_HEAD_INIT, "wstool.session._records",
    "Session frame records written in C.", -1, records_methods,
};

PyMODINIT_FUNC
PyInit__records(void)
{
    return PyModule_Create(&records_module);
}
