/*
 * wstool.core._quickhead: core/quickhead.py's one-pass check of the common
 * upgrade request, in C.
 *
 * scan(raw, max_size) -> (target, host, key, origin, protocols, extensions)
 * or None.  It applies the byte, start-line and header rules of
 * quickhead.py's pure-Python path, one pass over the head and no regular
 * expression: None where that path returns None, and otherwise the fields
 * that path builds its ClientRequest from (origin, protocols and extensions
 * are None when absent).  Subprotocol and extension lists are parsed by
 * Python, as before.  tests/core/test_quickhead.py runs every test on both
 * paths and holds them to each other on generated heads.
 *
 * The rules, in the order quickhead.py applies them:
 *   - the head ends with CRLF CRLF and is at most max_size bytes;
 *   - no control byte but HTAB, and every CR and LF part of a CRLF;
 *   - "GET /target HTTP/1.1" (RFC 6455 section 4.1: "The method of the
 *     request MUST be GET, and the HTTP version MUST be at least 1.1"), with
 *     an origin-form target of visible ASCII and no fragment (section 3);
 *   - header lines "token:value", each name at most once (case-insensitive);
 *   - a Host of the host[:port] shape (RFC 7230 section 5.4);
 *   - Upgrade "websocket", Connection holding "Upgrade" (section 4.2.1, both
 *     case-insensitive, in the few spellings real clients send);
 *   - no body announced; Sec-WebSocket-Version 13;
 *   - a Sec-WebSocket-Key that is the canonical base64 of 16 bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    F_HOST,
    F_UPGRADE,
    F_CONNECTION,
    F_TRANSFER_ENCODING,
    F_CONTENT_LENGTH,
    F_VERSION,
    F_KEY,
    F_PROTOCOL,
    F_EXTENSIONS,
    F_ORIGIN,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "host", "upgrade", "connection", "transfer-encoding", "content-length",
    "sec-websocket-version", "sec-websocket-key", "sec-websocket-protocol",
    "sec-websocket-extensions", "origin",
};

typedef struct {
    const unsigned char *at;
    Py_ssize_t len; /* -1: absent */
} span;

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

static int is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One of the characters of a set: strchr would also find the terminating NUL. */
static int in_set(unsigned char c, const char *set) { return c != 0 && strchr(set, c) != NULL; }

/* RFC 7230 section 3.2.6: tchar. */
static int is_tchar(unsigned char c)
{
    return is_alnum(c) || in_set(c, "!#$%&'*+-.^_`|~");
}

/* Whether s[0:n], ASCII letters folded, is the lowercase text. */
static int equals_folded(const unsigned char *s, Py_ssize_t n, const char *text)
{
    Py_ssize_t i;

    if ((size_t)n != strlen(text))
        return 0;
    for (i = 0; i < n; i++)
        if (lower(s[i]) != (unsigned char)text[i])
            return 0;
    return 1;
}

/* No control byte but HTAB, and every CR and LF part of a CRLF pair; counts lines. */
static int clean_bytes(const unsigned char *s, Py_ssize_t n, Py_ssize_t *lines)
{
    Py_ssize_t i;

    *lines = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\r') {
            if (i + 1 >= n || s[i + 1] != '\n')
                return 0;
        }
        else if (c == '\n') {
            if (i == 0 || s[i - 1] != '\r')
                return 0;
            (*lines)++;
        }
        else if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* The names seen so far, folded, in an open-addressing table: whether this one is new. */
typedef struct {
    span *slots;
    size_t mask;
} name_set;

static int add_name(name_set *set, const unsigned char *name, Py_ssize_t len)
{
    uint64_t hash = 1469598103934665603ULL; /* FNV-1a */
    Py_ssize_t i;
    size_t slot;

    for (i = 0; i < len; i++)
        hash = (hash ^ lower(name[i])) * 1099511628211ULL;
    for (slot = (size_t)hash & set->mask;; slot = (slot + 1) & set->mask) {
        span *seen = &set->slots[slot];
        if (seen->len < 0) {
            seen->at = name;
            seen->len = len;
            return 1;
        }
        if (seen->len == len) {
            for (i = 0; i < len && lower(seen->at[i]) == lower(name[i]); i++)
                ;
            if (i == len)
                return 0;
        }
    }
}

static int which_field(const unsigned char *name, Py_ssize_t len)
{
    int f;

    for (f = 0; f < F_COUNT; f++)
        if (equals_folded(name, len, field_names[f]))
            return f;
    return -1;
}

/* The header block s[i:end]: every line "token:value" CRLF, each name once. */
static int scan_fields(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, name_set *names,
                       span fields[F_COUNT])
{
    while (i < end) {
        Py_ssize_t name = i, value, value_end;
        int f;

        while (i < end && is_tchar(s[i]))
            i++;
        if (i == name || i >= end || s[i] != ':')
            return 0; /* obs-fold, a line without a colon, a name that is not a token */
        if (!add_name(names, s + name, i - name))
            return 0; /* repeats: which may and which may not is the full checks' job */
        f = which_field(s + name, i - name);
        for (i++; is_ows(s[i]); i++)
            ;
        value = i;
        while (s[i] != '\r') /* clean_bytes: the line ends in CRLF, before end */
            i++;
        for (value_end = i; value_end > value && is_ows(s[value_end - 1]); value_end--)
            ;
        if (f >= 0) {
            fields[f].at = s + value;
            fields[f].len = value_end - value;
        }
        i += 2;
    }
    return 1;
}

/* RFC 7230 section 5.4 via core/handshake.py's HOST_VALUE: an IP literal or a
 * reg-name, then an optional ":port". */
static int host_ok(span host)
{
    const unsigned char *s = host.at;
    Py_ssize_t n = host.len, i = 0;

    if (n > 0 && s[0] == '[') {
        for (i = 1; i < n && (is_hex(s[i]) || s[i] == ':' || s[i] == '.'); i++)
            ;
        if (i == 1 || i >= n || s[i] != ']')
            return 0;
        i++;
    }
    else {
        for (; i < n && (is_alnum(s[i]) || in_set(s[i], "-._~%!$&'()*+,;=")); i++)
            ;
        if (i == 0)
            return 0;
    }
    if (i < n) {
        if (s[i] != ':')
            return 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ;
    }
    return i == n;
}

/* RFC 6455 section 4.2.1: the base64 of 16 bytes, canonical (the 22nd digit's
 * last four bits, padding, are zero: A, Q, g or w). */
static int key_ok(span key)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Py_ssize_t i;

    if (key.len != 24 || key.at[22] != '=' || key.at[23] != '=')
        return 0;
    for (i = 0; i < 22; i++)
        if (!in_set(key.at[i], digits))
            return 0;
    return in_set(key.at[21], "AQgw");
}

static int connection_ok(span value)
{
    return equals_folded(value.at, value.len, "upgrade")
        || equals_folded(value.at, value.len, "keep-alive, upgrade")
        || equals_folded(value.at, value.len, "upgrade, keep-alive");
}

static int fields_ok(const span target, const span fields[F_COUNT])
{
    if (memchr(target.at, '#', target.len) != NULL)
        return 0; /* RFC 6455 section 3: no fragment identifiers */
    if (fields[F_HOST].len < 0 || !host_ok(fields[F_HOST]))
        return 0;
    if (fields[F_UPGRADE].len < 0
        || !equals_folded(fields[F_UPGRADE].at, fields[F_UPGRADE].len, "websocket"))
        return 0;
    if (fields[F_CONNECTION].len < 0 || !connection_ok(fields[F_CONNECTION]))
        return 0;
    if (fields[F_TRANSFER_ENCODING].len >= 0)
        return 0; /* no body: bytes after the head are frames */
    if (fields[F_CONTENT_LENGTH].len >= 0
        && !(fields[F_CONTENT_LENGTH].len == 1 && fields[F_CONTENT_LENGTH].at[0] == '0'))
        return 0;
    if (fields[F_VERSION].len != 2 || memcmp(fields[F_VERSION].at, "13", 2) != 0)
        return 0;
    return fields[F_KEY].len >= 0 && key_ok(fields[F_KEY]);
}

static PyObject *text_or_none(span value)
{
    if (value.len < 0)
        Py_RETURN_NONE;
    return PyUnicode_DecodeLatin1((const char *)value.at, value.len, NULL);
}

static PyObject *found(span target, const span fields[F_COUNT])
{
    return Py_BuildValue(
        "(NNNNNN)", PyUnicode_DecodeASCII((const char *)target.at, target.len, NULL),
        text_or_none(fields[F_HOST]), text_or_none(fields[F_KEY]),
        text_or_none(fields[F_ORIGIN]), text_or_none(fields[F_PROTOCOL]),
        text_or_none(fields[F_EXTENSIONS]));
}

/* The start line "GET /target HTTP/1.1" CRLF: where the headers begin, or 0. */
static Py_ssize_t start_line(const unsigned char *s, Py_ssize_t n, span *target)
{
    Py_ssize_t i = 4;

    if (n < 5 || memcmp(s, "GET /", 5) != 0)
        return 0;
    while (i < n && s[i] >= 0x21 && s[i] <= 0x7e)
        i++;
    if (n - i < 11 || memcmp(s + i, " HTTP/1.1\r\n", 11) != 0)
        return 0;
    target->at = s + 4;
    target->len = i - 4;
    return i + 11;
}

static PyObject *scan_buffer(const unsigned char *s, Py_ssize_t n, Py_ssize_t max_size)
{
    span fields[F_COUNT], target, small[64];
    name_set names;
    Py_ssize_t lines, headers, size;
    int ok;

    if (n > max_size || n < 4 || memcmp(s + n - 4, "\r\n\r\n", 4) != 0)
        Py_RETURN_NONE;
    if (!clean_bytes(s, n, &lines))
        Py_RETURN_NONE;
    headers = start_line(s, n, &target);
    if (headers == 0)
        Py_RETURN_NONE;
    for (size = 64; size < 2 * lines; size *= 2)
        ;
    names.mask = (size_t)size - 1;
    names.slots = size == 64 ? small : PyMem_New(span, size);
    if (names.slots == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < size; i++)
        names.slots[i].len = -1;
    for (int f = 0; f < F_COUNT; f++)
        fields[f].len = -1;
    ok = scan_fields(s, headers, n - 2, &names, fields) && fields_ok(target, fields);
    if (names.slots != small)
        PyMem_Free(names.slots);
    if (!ok)
        Py_RETURN_NONE;
    return found(target, fields);
}

static PyObject *scan(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t max_size;

    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "scan(raw: bytes, max_size: int)");
        return NULL;
    }
    max_size = PyLong_AsSsize_t(args[1]);
    if (max_size == -1 && PyErr_Occurred())
        return NULL;
    return scan_buffer((const unsigned char *)PyBytes_AS_STRING(args[0]),
                       PyBytes_GET_SIZE(args[0]), max_size);
}

static PyMethodDef quickhead_methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(raw, max_size) -> (target, host, key, origin, protocols, extensions) or None: "
     "core/quickhead.py's checks of a common upgrade request head, in one pass."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef quickhead_module = {
    PyModuleDef_HEAD_INIT, "wstool.core._quickhead",
    "C accelerator for wstool's check of the common upgrade request.", -1, quickhead_methods,
};

PyMODINIT_FUNC PyInit__quickhead(void) { return PyModule_Create(&quickhead_module); }
