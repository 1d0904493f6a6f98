/*
 * The frame scan of a quiet echo server, shared by wstool's C modules
 * (core/_speedups.c's echo_frames, net/_echoloop.c's read loop): which
 * frames at the start of a read are answered in C, and their answers.
 * Include after <Python.h> and _xor_mask.h.
 */
#ifndef WSTOOL_ECHO_SCAN_H
#define WSTOOL_ECHO_SCAN_H

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

/* The length of the frame header at p (n bytes available) and its payload's,
   or 0 when the header is cut short or its length is not encoded in the
   minimal number of bytes with the top bit clear (RFC 6455 section 5.2). */
static Py_ssize_t
data_frame_header(const unsigned char *p, Py_ssize_t n, unsigned long long *length)
{
    unsigned long long len = p[1] & 0x7F;

    if (len < 126) {
        *length = len;
        return 2;
    }
    if (len == 126) {
        if (n < 4) {
            return 0;
        }
        len = ((unsigned long long)p[2] << 8) | p[3];
        *length = len;
        return len < 126 ? 0 : 4;
    }
    if (n < 10) {
        return 0;
    }
    len = 0;
    for (int i = 2; i < 10; i++) {
        len = (len << 8) | p[i];
    }
    *length = len;
    return (len < 65536 || len >> 63) ? 0 : 10;
}

/* Whether a whole data frame that echo_frames answers (but for its UTF-8)
   starts at p, with n bytes available from p (of which p holds at least
   min(n, 14)); if so, its header's and payload's lengths. */
static int
whole_frame_at(const unsigned char *p, Py_ssize_t n, long long limit, Py_ssize_t *head,
               unsigned long long *length)
{
    if (n < 6 || (p[0] != 0x81 && p[0] != 0x82) || !(p[1] & 0x80)) {
        return 0;
    }
    *head = data_frame_header(p, n, length);
    if (*head == 0 || (limit >= 0 && *length > (unsigned long long)limit)) {
        return 0;
    }
    return n - *head - 4 >= 0 && *length <= (unsigned long long)(n - *head - 4);
}

/* Answer the whole data frames at the start of the n bytes at src into dst
   (which has room for n bytes): each echo is the frame unmasked, with the
   same length encoding and no mask key.  Stops at the first frame that is
   not answered here (see whole_frame_at; TEXT must also be valid UTF-8).
   Returns the bytes of src answered; *out_len and *count get the bytes
   written to dst and the frames answered. */
static Py_ssize_t
echo_scan(const unsigned char *src, Py_ssize_t n, long long limit, unsigned char *dst,
          Py_ssize_t *out_len, Py_ssize_t *count)
{
    Py_ssize_t pos = 0, out_at = 0, frames = 0, head;
    unsigned long long length;

    while (whole_frame_at(src + pos, n - pos, limit, &head, &length)) {
        memcpy(dst + out_at, src + pos, head);
        dst[out_at + 1] &= 0x7F;
        xor_mask(src + pos + head + 4, dst + out_at + head, (Py_ssize_t)length,
                 src + pos + head);
        if (src[pos] == 0x81 && !utf8_ok(dst + out_at + head, (Py_ssize_t)length)) {
            break;
        }
        out_at += head + (Py_ssize_t)length;
        pos += head + 4 + (Py_ssize_t)length;
        frames++;
    }
    *out_len = out_at;
    *count = frames;
    return pos;
}

#endif
