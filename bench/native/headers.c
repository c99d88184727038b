/*
 * _faas_headers: the gateway's header path in C, a measurement prototype (issue 36).
 *
 * Drop-in replacements, same signatures, results and exceptions, for four pure functions
 * of the hot path:
 *
 *   gateway.proxy.headers.forwarded_request_headers
 *   gateway.proxy.headers.downstream_response_headers
 *   gateway.proxy.call_ids.new_call_id
 *   gateway.proxy.http1.request.request_head
 *
 * Each takes a fast path for the shapes the hot path gives it (a list of (bytes, bytes)
 * tuples, text that is latin-1, plain ints and bools) and hands any other call, unchanged,
 * to the Python function it replaces, captured when this module is imported: an odd call
 * then behaves exactly as it did, errors included, and the C never has to imitate
 * Python's handling of odd types. The fast path decides before it does anything a caller
 * could see, so a fallback never repeats work (e.g. it never draws a call id twice).
 *
 * The sets of header names are written out as C below; module init checks them against
 * the Python module's frozensets and refuses to load when they differ, so the two cannot
 * drift apart silently.
 *
 * Not shipped in any image: bench/native/build.py compiles it, bench/native_gateway.py
 * serves a gateway with it, and tests/bench/test_native_headers.py compares it with the
 * Python functions on generated inputs.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* gateway.proxy.headers.MAX_HOPS; module init checks that the Python side agrees. */
#define MAX_HOPS 10
/* A hop count of more digits than this is a loop, not a number to parse (_hop_count). */
#define MAX_HOP_DIGITS 4
/* Random bytes read at once for call ids: 256 ids, as gateway.proxy.call_ids reads them. */
#define POOL_BYTES (16 * 256)
#define UUID_TEXT 36
/* started_ns above this is not a time.time_ns() of this era: handled by the Python
 * function, so that `now - started_ns` can never overflow 64 bits here. */
#define MAX_STARTED_NS ((int64_t)1 << 62)

/* What this module needs from the gateway's Python modules (strong references). */
static PyObject *BadRequest;
static PyObject *LoopDetected;
static PyObject *InvalidRequest;
static PyObject *py_forwarded_request_headers;
static PyObject *py_downstream_response_headers;
static PyObject *py_request_head;

/* Interned keyword names of forwarded_request_headers. */
static PyObject *kw_upstream_host;
static PyObject *kw_client_address;
static PyObject *kw_scheme;

/* Header names the functions add, and the X-Faas-Hops values 1..MAX_HOPS. */
static PyObject *name_host;
static PyObject *name_real_ip;
static PyObject *name_forwarded_for;
static PyObject *name_forwarded_host;
static PyObject *name_forwarded_proto;
static PyObject *name_hops;
static PyObject *name_call_id;
static PyObject *name_call_id_lower;
static PyObject *name_start_time;
static PyObject *name_duration;
static PyObject *hop_values[MAX_HOPS + 1];

/* ------------------------------------------------------------------------------------ */
/* Bytes helpers: Python's bytes.strip() and bytes.lower() are ASCII-only.               */

static inline int
ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

static inline unsigned char
ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static void
strip(const char **start, Py_ssize_t *size)
{
    const char *s = *start;
    Py_ssize_t n = *size;
    while (n > 0 && ascii_space((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n > 0 && ascii_space((unsigned char)s[n - 1])) {
        n--;
    }
    *start = s;
    *size = n;
}

/* Whether `s` (of `n` bytes) lowers to the lower-case literal `lower`. */
static int
equals_lowered(const char *s, Py_ssize_t n, const char *lower, Py_ssize_t lower_size)
{
    if (n != lower_size) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)s[i]) != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return 1;
}

#define LITERAL_SIZE(literal) ((Py_ssize_t)(sizeof(literal) - 1))
#define IS(s, n, literal) ((n) == LITERAL_SIZE(literal) && memcmp((s), (literal), (n)) == 0)
#define IS_LOWERED(s, n, literal) equals_lowered((s), (n), (literal), LITERAL_SIZE(literal))

static int
has_line_break(const char *s, Py_ssize_t n)
{
    return memchr(s, '\r', (size_t)n) != NULL || memchr(s, '\n', (size_t)n) != NULL;
}

/* `o` as latin-1 bytes without encoding: an exact str whose characters are all < 256 is
 * stored one byte per character, which is its latin-1 encoding. 0 for anything else (the
 * caller falls back to Python, which encodes and raises as it always did). */
static int
latin1_text(PyObject *o, const char **data, Py_ssize_t *size)
{
    if (!PyUnicode_CheckExact(o)) {
        return 0;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(o) < 0) {
        PyErr_Clear();
        return 0;
    }
#endif
    if (PyUnicode_KIND(o) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    *data = (const char *)PyUnicode_1BYTE_DATA(o);
    *size = PyUnicode_GET_LENGTH(o);
    return 1;
}

/* An exact (bytes, bytes) tuple, as the hot path's header lists hold: its two items
 * (borrowed), or 0 for anything else. */
static int
bytes_pair(PyObject *item, PyObject **name, PyObject **value)
{
    if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
        return 0;
    }
    *name = PyTuple_GET_ITEM(item, 0);
    *value = PyTuple_GET_ITEM(item, 1);
    return PyBytes_CheckExact(*name) && PyBytes_CheckExact(*value);
}

/* Append the tuple (name, value) to `list`; -1 with an exception set on failure. */
static int
append_pair(PyObject *list, PyObject *name, PyObject *value)
{
    PyObject *pair = PyTuple_Pack(2, name, value);
    if (pair == NULL) {
        return -1;
    }
    int result = PyList_Append(list, pair);
    Py_DECREF(pair);
    return result;
}

/* `joined + b", " + value` if `joined` is not empty, else `value` (X-Forwarded-For). */
static PyObject *
comma_join(PyObject *joined, PyObject *value)
{
    if (joined == NULL || PyBytes_GET_SIZE(joined) == 0) {
        return Py_NewRef(value);
    }
    Py_ssize_t a = PyBytes_GET_SIZE(joined), b = PyBytes_GET_SIZE(value);
    if (a > PY_SSIZE_T_MAX - 2 - b) {
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, a + 2 + b);
    if (out == NULL) {
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    memcpy(p, PyBytes_AS_STRING(joined), (size_t)a);
    memcpy(p + a, ", ", 2);
    memcpy(p + a + 2, PyBytes_AS_STRING(value), (size_t)b);
    return out;
}

/* Add to the set `tokens` the names a Connection header's value lists: split on commas,
 * stripped, lower-cased, empty ones left out (headers._connection_tokens). */
static int
add_connection_tokens(PyObject *tokens, PyObject *value)
{
    const char *s = PyBytes_AS_STRING(value);
    const char *end = s + PyBytes_GET_SIZE(value);
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *token_end = comma != NULL ? comma : end;
        const char *token = s;
        Py_ssize_t size = token_end - s;
        strip(&token, &size);
        if (size > 0) {
            PyObject *lowered = PyBytes_FromStringAndSize(NULL, size);
            if (lowered == NULL) {
                return -1;
            }
            char *out = PyBytes_AS_STRING(lowered);
            for (Py_ssize_t i = 0; i < size; i++) {
                out[i] = (char)ascii_lower((unsigned char)token[i]);
            }
            int added = PySet_Add(tokens, lowered);
            Py_DECREF(lowered);
            if (added < 0) {
                return -1;
            }
        }
        if (comma == NULL) {
            return 0;
        }
        s = comma + 1;
    }
}

/* ------------------------------------------------------------------------------------ */
/* Call ids: random v4 UUIDs as text, from a pool of random bytes.                       */

static unsigned char pool[POOL_BYTES];
static size_t pool_taken = POOL_BYTES; /* empty until the first call fills it */

/* Runs in a forked child (pthread_atfork): the child must not hand out the ids its
 * parent will, so it starts on a pool of its own. */
static void
forget_pool(void)
{
    pool_taken = POOL_BYTES;
}

static int
read_urandom(unsigned char *buffer, size_t size)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, "/dev/urandom");
        return -1;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buffer + got, size - got);
        if (n > 0) {
            got += (size_t)n;
        }
        else if (n < 0 && errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                close(fd);
                return -1;
            }
        }
        else {
            if (n == 0) {
                errno = EIO;
            }
            PyErr_SetFromErrnoWithFilename(PyExc_OSError, "/dev/urandom");
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

/* Fill `buffer` from the kernel's CSPRNG, as os.urandom does: getrandom(2), or
 * /dev/urandom where the kernel lacks it. */
static int
fill_random(unsigned char *buffer, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = getrandom(buffer + got, size - got, 0);
        if (n >= 0) {
            got += (size_t)n;
            continue;
        }
        if (errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                return -1;
            }
            continue;
        }
        if (errno == ENOSYS) {
            return read_urandom(buffer + got, size - got);
        }
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/* 36 characters of a new v4 UUID into `out`; -1 with an exception when the kernel gave
 * no random bytes. */
static int
call_id_text(char out[UUID_TEXT])
{
    static const char hex[] = "0123456789abcdef";
    if (pool_taken + 16 > POOL_BYTES) {
        /* Filled aside, then copied: a signal handler run while the kernel is asked (EINTR)
         * may draw ids itself, and must not see, or leave, a half-filled pool. */
        unsigned char fresh[POOL_BYTES];
        if (fill_random(fresh, POOL_BYTES) < 0) {
            return -1;
        }
        memcpy(pool, fresh, POOL_BYTES);
        pool_taken = 0;
    }
    unsigned char raw[16];
    memcpy(raw, pool + pool_taken, 16);
    pool_taken += 16;
    raw[6] = (unsigned char)((raw[6] & 0x0F) | 0x40); /* version 4 */
    raw[8] = (unsigned char)((raw[8] & 0x3F) | 0x80); /* RFC 9562 variant */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        *p++ = hex[raw[i] >> 4];
        *p++ = hex[raw[i] & 0x0F];
    }
    return 0;
}

static PyObject *
ascii_str(const char *text, Py_ssize_t size)
{
    PyObject *s = PyUnicode_New(size, 127);
    if (s == NULL) {
        return NULL;
    }
    memcpy(PyUnicode_1BYTE_DATA(s), text, (size_t)size);
    return s;
}

PyDoc_STRVAR(new_call_id_doc,
             "new_call_id() -> str\n\n"
             "A new random UUID (version 4, RFC 9562 variant) as 36 characters of text.");

static PyObject *
new_call_id(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    char text[UUID_TEXT];
    if (call_id_text(text) < 0) {
        return NULL;
    }
    return ascii_str(text, UUID_TEXT);
}

/* ------------------------------------------------------------------------------------ */
/* forwarded_request_headers                                                            */

/* What the request side does with a header, by its exact (case-sensitive) name, as
 * headers._REQUEST_READ and headers._REQUEST_DROPPED sort them. */
enum request_kind { KEEP, HOST, DROP, FORWARDED_FOR, CALL_ID, HOPS };

static enum request_kind
request_kind(const char *s, Py_ssize_t n)
{
    switch (n) {
    case 2:
        return IS(s, n, "te") ? DROP : KEEP;
    case 4:
        return IS(s, n, "host") ? HOST : KEEP;
    case 5:
        return IS(s, n, "proxy") ? DROP : KEEP;
    case 6:
        return IS(s, n, "expect") ? DROP : KEEP;
    case 7:
        return IS(s, n, "trailer") || IS(s, n, "upgrade") ? DROP : KEEP;
    case 9:
        if (IS(s, n, "x-call-id")) {
            return CALL_ID;
        }
        return IS(s, n, "forwarded") || IS(s, n, "x-real-ip") ? DROP : KEEP;
    case 10:
        return IS(s, n, "connection") || IS(s, n, "keep-alive") || IS(s, n, "x-function")
                   ? DROP
                   : KEEP;
    case 11:
        return IS(s, n, "x-faas-hops") ? HOPS : KEEP;
    case 15:
        return IS(s, n, "x-forwarded-for") ? FORWARDED_FOR : KEEP;
    case 16:
        return IS(s, n, "proxy-connection") || IS(s, n, "x-forwarded-host") ? DROP : KEEP;
    case 17:
        return IS(s, n, "transfer-encoding") || IS(s, n, "x-forwarded-proto") ? DROP : KEEP;
    case 18:
        return IS(s, n, "proxy-authenticate") ? DROP : KEEP;
    case 19:
        return IS(s, n, "proxy-authorization") ? DROP : KEEP;
    default:
        return KEEP;
    }
}

/* headers._hop_count: the caller's X-Faas-Hops value as a count (MAX_HOPS for a huge
 * one), or -1 with BadRequest set for a value that is not a number. */
static int
hop_count(PyObject *value)
{
    const char *s = PyBytes_AS_STRING(value);
    Py_ssize_t n = PyBytes_GET_SIZE(value);
    strip(&s, &n);
    int digits_only = n > 0;
    for (Py_ssize_t i = 0; i < n && digits_only; i++) {
        digits_only = s[i] >= '0' && s[i] <= '9';
    }
    if (!digits_only) {
        /* The message quotes the value as Python's repr() of its latin-1 text does. */
        PyObject *text = PyUnicode_DecodeLatin1(s, n, NULL);
        if (text == NULL) {
            return -1;
        }
        PyObject *quoted = PyObject_Repr(text);
        Py_DECREF(text);
        if (quoted == NULL) {
            return -1;
        }
        PyObject *message =
            PyUnicode_FromFormat("invalid X-Faas-Hops %U: a number of hops", quoted);
        Py_DECREF(quoted);
        if (message == NULL) {
            return -1;
        }
        PyErr_SetObject(BadRequest, message);
        Py_DECREF(message);
        return -1;
    }
    while (n > 0 && s[0] == '0') {
        s++;
        n--;
    }
    if (n > MAX_HOP_DIGITS) {
        return MAX_HOPS;
    }
    int count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        count = count * 10 + (s[i] - '0');
    }
    return count;
}

/* Whether a list of headers holds a header named exactly b"connection" (the Python
 * function looks for Connection tokens only then); -1 for an item of another shape. */
static int
has_connection(PyObject *headers)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *name, *value;
        if (!bytes_pair(PyList_GET_ITEM(headers, i), &name, &value)) {
            return -1;
        }
        if (IS(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), "connection")) {
            return 1;
        }
    }
    return 0;
}

/* The tokens of every header whose name lowers to b"connection", as a set, or NULL with
 * *shape_ok = 0 for an item of another shape, or NULL with an exception set. */
static PyObject *
connection_tokens(PyObject *headers, int *shape_ok)
{
    PyObject *tokens = PySet_New(NULL);
    if (tokens == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *name, *value;
        if (!bytes_pair(PyList_GET_ITEM(headers, i), &name, &value)) {
            *shape_ok = 0;
            Py_DECREF(tokens);
            return NULL;
        }
        if (IS_LOWERED(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), "connection") &&
            add_connection_tokens(tokens, value) < 0) {
            Py_DECREF(tokens);
            return NULL;
        }
    }
    return tokens;
}

/* Bytes of the latin-1 text `data` (already checked by latin1_text). */
static PyObject *
latin1_bytes(const char *data, Py_ssize_t size)
{
    return PyBytes_FromStringAndSize(data, size);
}

/* The request headers' loop and the headers the gateway adds; see the Python function.
 * Returns NULL with *fall_back = 1 (and no exception) when an item is not a pair of
 * bytes. */
static PyObject *
forward(PyObject *headers, const char *host, Py_ssize_t host_size, const char *client,
        Py_ssize_t client_size, const char *scheme, Py_ssize_t scheme_size, int *fall_back)
{
    PyObject *tokens = NULL, *out = NULL, *original_host = NULL, *forwarded_for = NULL;
    PyObject *call_id = NULL, *call_text = NULL, *address = NULL, *upstream = NULL;
    PyObject *proto = NULL, *call_id_bytes = NULL, *result = NULL;
    int hops = 0;

    int connection = has_connection(headers);
    if (connection < 0) {
        *fall_back = 1;
        return NULL;
    }
    if (connection) {
        int shape_ok = 1;
        tokens = connection_tokens(headers, &shape_ok);
        if (tokens == NULL) {
            *fall_back = !shape_ok;
            return NULL;
        }
        if (PySet_GET_SIZE(tokens) == 0) {
            Py_CLEAR(tokens);
        }
    }
    out = PyList_New(0);
    if (out == NULL) {
        goto done;
    }
    /* The size is read again on each turn: nothing below runs Python code, but the loop
     * must stay within the list whatever happens to it. */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *item = PyList_GET_ITEM(headers, i);
        PyObject *name, *value;
        if (!bytes_pair(item, &name, &value)) {
            *fall_back = 1;
            goto done;
        }
        enum request_kind kind = request_kind(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
        /* A name the caller's Connection header lists is dropped, whatever it is, except
         * Host: the Python function reads Host before it looks at the dropped set. */
        if (tokens != NULL && kind != HOST) {
            int listed = PySet_Contains(tokens, name);
            if (listed < 0) {
                goto done;
            }
            if (listed) {
                kind = DROP;
            }
        }
        switch (kind) {
        case KEEP:
            /* The caller's own (bytes, bytes) tuple: equal to the one Python builds. */
            if (PyList_Append(out, item) < 0) {
                goto done;
            }
            break;
        case HOST:
            Py_XSETREF(original_host, Py_NewRef(value));
            break;
        case DROP:
            break;
        case FORWARDED_FOR: {
            PyObject *joined = comma_join(forwarded_for, value);
            if (joined == NULL) {
                goto done;
            }
            Py_XSETREF(forwarded_for, joined);
            break;
        }
        case CALL_ID:
            if (call_id == NULL || PyBytes_GET_SIZE(call_id) == 0) {
                Py_XSETREF(call_id, Py_NewRef(value));
            }
            break;
        case HOPS: {
            int count = hop_count(value);
            if (count < 0) {
                goto done;
            }
            if (count > hops) {
                hops = count;
            }
            break;
        }
        }
    }
    if (hops >= MAX_HOPS) {
        PyObject *message = PyUnicode_FromFormat(
            "loop detected: the call has passed through the gateway %d times "
            "(X-Faas-Hops, at most %d); does a function's upstream lead back to the gateway?",
            hops, MAX_HOPS);
        if (message != NULL) {
            PyErr_SetObject(LoopDetected, message);
            Py_DECREF(message);
        }
        goto done;
    }
    if (call_id != NULL && PyBytes_GET_SIZE(call_id) > 0) {
        call_text = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(call_id), PyBytes_GET_SIZE(call_id),
                                           NULL);
        if (call_text == NULL) {
            goto done;
        }
        call_id_bytes = Py_NewRef(call_id);
    }
    else {
        char text[UUID_TEXT];
        if (call_id_text(text) < 0) {
            goto done;
        }
        call_text = ascii_str(text, UUID_TEXT);
        call_id_bytes = PyBytes_FromStringAndSize(text, UUID_TEXT);
        if (call_text == NULL || call_id_bytes == NULL) {
            goto done;
        }
    }
    upstream = latin1_bytes(host, host_size);
    if (upstream == NULL || append_pair(out, name_host, upstream) < 0) {
        goto done;
    }
    if (client_size > 0) {
        address = latin1_bytes(client, client_size);
        if (address == NULL) {
            goto done;
        }
        PyObject *joined = comma_join(forwarded_for, address);
        if (joined == NULL) {
            goto done;
        }
        Py_XSETREF(forwarded_for, joined);
        if (append_pair(out, name_real_ip, address) < 0) {
            goto done;
        }
    }
    if (forwarded_for != NULL && PyBytes_GET_SIZE(forwarded_for) > 0 &&
        append_pair(out, name_forwarded_for, forwarded_for) < 0) {
        goto done;
    }
    if (original_host != NULL && PyBytes_GET_SIZE(original_host) > 0 &&
        append_pair(out, name_forwarded_host, original_host) < 0) {
        goto done;
    }
    proto = latin1_bytes(scheme, scheme_size);
    if (proto == NULL || append_pair(out, name_forwarded_proto, proto) < 0 ||
        append_pair(out, name_hops, hop_values[hops + 1]) < 0 ||
        append_pair(out, name_call_id, call_id_bytes) < 0) {
        goto done;
    }
    result = PyTuple_Pack(2, out, call_text);
done:
    Py_XDECREF(tokens);
    Py_XDECREF(out);
    Py_XDECREF(original_host);
    Py_XDECREF(forwarded_for);
    Py_XDECREF(call_id);
    Py_XDECREF(call_text);
    Py_XDECREF(address);
    Py_XDECREF(upstream);
    Py_XDECREF(proto);
    Py_XDECREF(call_id_bytes);
    return result;
}

/* Whether `name` is the keyword `keyword` (interned: identity first, as CPython's own
 * argument parsing does). */
static int
keyword_is(PyObject *name, PyObject *keyword)
{
    return name == keyword || (PyUnicode_CheckExact(name) && PyUnicode_Compare(name, keyword) == 0);
}

PyDoc_STRVAR(forwarded_request_headers_doc,
             "forwarded_request_headers(headers, *, upstream_host, client_address, scheme)\n\n"
             "gateway.proxy.headers.forwarded_request_headers in C (same results and errors).");

static PyObject *
forwarded_request_headers(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames)
{
    PyObject *given[3] = {NULL, NULL, NULL}; /* upstream_host, client_address, scheme */
    if (nargs != 1 || kwnames == NULL || PyTuple_GET_SIZE(kwnames) != 3) {
        goto fall_back;
    }
    for (Py_ssize_t i = 0; i < 3; i++) {
        PyObject *keyword = PyTuple_GET_ITEM(kwnames, i);
        int slot = keyword_is(keyword, kw_upstream_host)    ? 0
                   : keyword_is(keyword, kw_client_address) ? 1
                   : keyword_is(keyword, kw_scheme)         ? 2
                                                            : -1;
        if (slot < 0 || given[slot] != NULL) {
            goto fall_back;
        }
        given[slot] = args[1 + i];
    }
    PyObject *headers = args[0];
    const char *host, *scheme, *client = NULL;
    Py_ssize_t host_size, scheme_size, client_size = 0;
    if (!PyList_CheckExact(headers) || !latin1_text(given[0], &host, &host_size) ||
        !latin1_text(given[2], &scheme, &scheme_size)) {
        goto fall_back;
    }
    if (given[1] != Py_None && !latin1_text(given[1], &client, &client_size)) {
        goto fall_back;
    }
    int fall_back = 0;
    PyObject *result =
        forward(headers, host, host_size, client, client_size, scheme, scheme_size, &fall_back);
    if (result != NULL || !fall_back) {
        return result;
    }
fall_back:
    return PyObject_Vectorcall(py_forwarded_request_headers, args, (size_t)nargs, kwnames);
}

/* ------------------------------------------------------------------------------------ */
/* downstream_response_headers                                                          */

/* headers._RESPONSE_DROPPED, by lower-case name: hop-by-hop, and the gateway's own. */
static int
response_dropped(const char *s, Py_ssize_t n)
{
    switch (n) {
    case 2:
        return IS(s, n, "te");
    case 4:
        return IS(s, n, "date");
    case 7:
        return IS(s, n, "trailer") || IS(s, n, "upgrade");
    case 9:
        return IS(s, n, "x-call-id");
    case 10:
        return IS(s, n, "connection") || IS(s, n, "keep-alive");
    case 12:
        return IS(s, n, "x-start-time");
    case 16:
        return IS(s, n, "proxy-connection");
    case 17:
        return IS(s, n, "transfer-encoding");
    case 18:
        return IS(s, n, "proxy-authenticate") || IS(s, n, "x-duration-seconds");
    case 19:
        return IS(s, n, "proxy-authorization");
    default:
        return 0;
    }
}

/* `name` lower-cased: the same object when it has no upper-case letter. */
static PyObject *
lowered_name(PyObject *name)
{
    const char *s = PyBytes_AS_STRING(name);
    Py_ssize_t n = PyBytes_GET_SIZE(name), first = 0;
    while (first < n && !(s[first] >= 'A' && s[first] <= 'Z')) {
        first++;
    }
    if (first == n) {
        return Py_NewRef(name);
    }
    PyObject *lower = PyBytes_FromStringAndSize(NULL, n);
    if (lower == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(lower);
    memcpy(out, s, (size_t)first);
    for (Py_ssize_t i = first; i < n; i++) {
        out[i] = (char)ascii_lower((unsigned char)s[i]);
    }
    return lower;
}

/* The items of `list` whose name is not in `tokens` (the Connection header's extra
 * hop-by-hop names). */
static PyObject *
without_tokens(PyObject *list, PyObject *tokens)
{
    PyObject *kept = PyList_New(0);
    if (kept == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *pair = PyList_GET_ITEM(list, i);
        int listed = PySet_Contains(tokens, PyTuple_GET_ITEM(pair, 0));
        if (listed < 0 || (!listed && PyList_Append(kept, pair) < 0)) {
            Py_DECREF(kept);
            return NULL;
        }
    }
    return kept;
}

/* X-Start-Time and X-Duration-Seconds, formatted as b"%d" and b"%f" format them. */
static int
append_timing(PyObject *out, int64_t started_ns)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) { /* time.time_ns()'s clock */
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    char digits[32];
    int size = snprintf(digits, sizeof digits, "%lld", (long long)started_ns);
    if (size < 0 || (size_t)size >= sizeof digits) {
        PyErr_SetString(PyExc_SystemError, "X-Start-Time did not fit");
        return -1;
    }
    PyObject *start = PyBytes_FromStringAndSize(digits, size);
    if (start == NULL) {
        return -1;
    }
    int result = append_pair(out, name_start_time, start);
    Py_DECREF(start);
    if (result < 0) {
        return -1;
    }
    /* int / float in Python: the int is rounded to a double first, then divided; %f is
     * PyOS_double_to_string(x, 'f', 6), the very function bytes formatting calls. */
    double seconds = (double)(now_ns - started_ns) / 1e9;
    char *text = PyOS_double_to_string(seconds, 'f', 6, 0, NULL);
    if (text == NULL) {
        return -1;
    }
    PyObject *duration = PyBytes_FromString(text);
    PyMem_Free(text);
    if (duration == NULL) {
        return -1;
    }
    result = append_pair(out, name_duration, duration);
    Py_DECREF(duration);
    return result;
}

/* The response side; NULL with *fall_back = 1 (no exception) for an item that is not a
 * pair of bytes. */
static PyObject *
downstream(PyObject *raw_headers, const char *call_id, Py_ssize_t call_id_size,
           int64_t started_ns, int *fall_back)
{
    PyObject *out = PyList_New(0), *tokens = NULL, *result = NULL;
    if (out == NULL) {
        return NULL;
    }
    PyObject *sequence = raw_headers;
    int is_list = PyList_CheckExact(sequence);
    for (Py_ssize_t i = 0;
         i < (is_list ? PyList_GET_SIZE(sequence) : PyTuple_GET_SIZE(sequence)); i++) {
        PyObject *item = is_list ? PyList_GET_ITEM(sequence, i) : PyTuple_GET_ITEM(sequence, i);
        /* Held while its name and value (borrowed from it) are used: the objects made
         * below may run the collector, and a finalizer could change the caller's list. */
        Py_INCREF(item);
        PyObject *name, *value;
        if (!bytes_pair(item, &name, &value)) {
            Py_DECREF(item);
            *fall_back = 1;
            goto done;
        }
        PyObject *lower = lowered_name(name);
        if (lower == NULL) {
            Py_DECREF(item);
            goto done;
        }
        const char *s = PyBytes_AS_STRING(lower);
        Py_ssize_t n = PyBytes_GET_SIZE(lower);
        int failed = 0;
        if (IS(s, n, "connection")) {
            if (tokens == NULL && (tokens = PySet_New(NULL)) == NULL) {
                failed = 1;
            }
            else {
                failed = add_connection_tokens(tokens, value) < 0;
            }
        }
        else if (!response_dropped(s, n)) {
            /* A lower-case name keeps the replica's own tuple: equal to (lower, value). */
            failed = (lower == name ? PyList_Append(out, item) : append_pair(out, lower, value)) < 0;
        }
        Py_DECREF(lower);
        Py_DECREF(item);
        if (failed) {
            goto done;
        }
    }
    if (tokens != NULL && PySet_GET_SIZE(tokens) > 0) {
        PyObject *kept = without_tokens(out, tokens);
        if (kept == NULL) {
            goto done;
        }
        Py_SETREF(out, kept);
    }
    PyObject *id_bytes = latin1_bytes(call_id, call_id_size);
    if (id_bytes == NULL) {
        goto done;
    }
    int appended = append_pair(out, name_call_id_lower, id_bytes);
    Py_DECREF(id_bytes);
    if (appended < 0 || (started_ns != 0 && append_timing(out, started_ns) < 0)) {
        goto done;
    }
    result = Py_NewRef(out);
done:
    Py_XDECREF(out);
    Py_XDECREF(tokens);
    return result;
}

PyDoc_STRVAR(downstream_response_headers_doc,
             "downstream_response_headers(raw_headers, call_id, started_ns=0)\n\n"
             "gateway.proxy.headers.downstream_response_headers in C (same results).");

static PyObject *
downstream_response_headers(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    const char *id;
    Py_ssize_t id_size;
    int64_t started_ns = 0;
    if (kwnames != NULL || nargs < 2 || nargs > 3) {
        goto fall_back;
    }
    PyObject *raw_headers = args[0], *call_id = args[1];
    if (!(PyList_CheckExact(raw_headers) || PyTuple_CheckExact(raw_headers)) ||
        !latin1_text(call_id, &id, &id_size)) {
        goto fall_back;
    }
    if (nargs == 3) {
        if (!PyLong_CheckExact(args[2])) {
            goto fall_back;
        }
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(args[2], &overflow);
        if (value == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow || value < 0 || value > MAX_STARTED_NS) {
            goto fall_back;
        }
        started_ns = (int64_t)value;
    }
    int fall_back = 0;
    PyObject *result = downstream(raw_headers, id, id_size, started_ns, &fall_back);
    if (result != NULL || !fall_back) {
        return result;
    }
fall_back:
    return PyObject_Vectorcall(py_downstream_response_headers, args, (size_t)nargs, kwnames);
}

/* ------------------------------------------------------------------------------------ */
/* request_head                                                                         */

#define HTTP_VERSION " HTTP/1.1"
#define CRLF "\r\n"
#define HEADER_SEPARATOR ": "
#define HOST_PREFIX "Host: "
#define CHUNKED_LINE "Transfer-Encoding: chunked"
#define LENGTH_PREFIX "Content-Length: "
#define LENGTH_DIGITS 24 /* room for any Py_ssize_t in decimal */

/* Appends `size` bytes at *cursor, never past `end`; -1 when they would not fit (which
 * the sizes computed first rule out: a guard, not a path). */
static int
put(char **cursor, const char *end, const char *data, Py_ssize_t size)
{
    if (size > end - *cursor) {
        return -1;
    }
    memcpy(*cursor, data, (size_t)size);
    *cursor += size;
    return 0;
}

#define PUT_LITERAL(cursor, end, literal) put((cursor), (end), (literal), LITERAL_SIZE(literal))

static int
adds_to(Py_ssize_t *total, Py_ssize_t size)
{
    if (size > PY_SSIZE_T_MAX - *total) {
        PyErr_NoMemory();
        return -1;
    }
    *total += size;
    return 0;
}

static int
is_bodyless(const char *method, Py_ssize_t size)
{
    return IS(method, size, "GET") || IS(method, size, "HEAD") || IS(method, size, "OPTIONS") ||
           IS(method, size, "TRACE");
}

/* The head, once every item is known to be a pair of bytes; see the Python function. */
static PyObject *
head(const char *method, Py_ssize_t method_size, const char *path, Py_ssize_t path_size,
     PyObject *headers, PyObject *body, int streamed)
{
    /* First pass: the size of every line, where the Host header is, and whether anything
     * that goes into the head holds CR or LF (only headers that are written count: a
     * second Host header is left out, so its bytes do not matter). */
    Py_ssize_t size = method_size + 1 + path_size + LITERAL_SIZE(HTTP_VERSION);
    int breaks = has_line_break(method, method_size) || has_line_break(path, path_size);
    int has_length = 0;
    PyObject *host = NULL; /* borrowed from its tuple */
    Py_ssize_t count = PyList_GET_SIZE(headers);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(headers, i);
        PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        const char *s = PyBytes_AS_STRING(name);
        Py_ssize_t n = PyBytes_GET_SIZE(name), v = PyBytes_GET_SIZE(value);
        if (IS_LOWERED(s, n, "host")) {
            if (host == NULL) {
                host = value;
                breaks = breaks || has_line_break(PyBytes_AS_STRING(value), v);
                if (adds_to(&size, LITERAL_SIZE(CRLF HOST_PREFIX)) < 0 || adds_to(&size, v) < 0) {
                    return NULL;
                }
            }
            continue;
        }
        if (IS_LOWERED(s, n, "content-length")) {
            has_length = 1;
        }
        breaks = breaks || has_line_break(s, n) || has_line_break(PyBytes_AS_STRING(value), v);
        if (adds_to(&size, LITERAL_SIZE(CRLF HEADER_SEPARATOR)) < 0 || adds_to(&size, n) < 0 ||
            adds_to(&size, v) < 0) {
            return NULL;
        }
    }
    int chunked = 0;
    char length_line[LITERAL_SIZE(LENGTH_PREFIX) + LENGTH_DIGITS];
    Py_ssize_t length_line_size = 0;
    if (!has_length) {
        if (streamed) {
            chunked = 1;
        }
        else if (body != Py_None || !is_bodyless(method, method_size)) {
            Py_ssize_t body_size = body != Py_None ? PyBytes_GET_SIZE(body) : 0;
            int written = snprintf(length_line, sizeof length_line, LENGTH_PREFIX "%zd", body_size);
            if (written < 0 || (size_t)written >= sizeof length_line) {
                PyErr_SetString(PyExc_SystemError, "Content-Length did not fit");
                return NULL;
            }
            length_line_size = written;
        }
    }
    if (breaks) {
        PyErr_SetString(InvalidRequest, "CR or LF in the request line or a header");
        return NULL;
    }
    Py_ssize_t framing = chunked ? LITERAL_SIZE(CRLF CHUNKED_LINE)
                                 : (length_line_size ? LITERAL_SIZE(CRLF) + length_line_size : 0);
    if (adds_to(&size, framing) < 0 || adds_to(&size, LITERAL_SIZE(CRLF CRLF)) < 0) {
        return NULL;
    }

    /* Second pass: write exactly `size` bytes. */
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    char *cursor = PyBytes_AS_STRING(out);
    const char *end = cursor + size;
    int failed = put(&cursor, end, method, method_size) || PUT_LITERAL(&cursor, end, " ") ||
                 put(&cursor, end, path, path_size) || PUT_LITERAL(&cursor, end, HTTP_VERSION);
    if (!failed && host != NULL) {
        failed = PUT_LITERAL(&cursor, end, CRLF HOST_PREFIX) ||
                 put(&cursor, end, PyBytes_AS_STRING(host), PyBytes_GET_SIZE(host));
    }
    for (Py_ssize_t i = 0; i < count && !failed; i++) {
        PyObject *item = PyList_GET_ITEM(headers, i);
        PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        if (IS_LOWERED(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), "host")) {
            continue;
        }
        failed = PUT_LITERAL(&cursor, end, CRLF) ||
                 put(&cursor, end, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name)) ||
                 PUT_LITERAL(&cursor, end, HEADER_SEPARATOR) ||
                 put(&cursor, end, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
    }
    if (!failed && chunked) {
        failed = PUT_LITERAL(&cursor, end, CRLF CHUNKED_LINE);
    }
    else if (!failed && length_line_size) {
        failed = PUT_LITERAL(&cursor, end, CRLF) ||
                 put(&cursor, end, length_line, length_line_size);
    }
    failed = failed || PUT_LITERAL(&cursor, end, CRLF CRLF);
    if (failed || cursor != end) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_SystemError, "request_head: the head's size was miscounted");
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, out, chunked ? Py_True : Py_False);
    Py_DECREF(out);
    return result;
}

PyDoc_STRVAR(request_head_doc,
             "request_head(method, path, headers, body, streamed) -> (bytes, bool)\n\n"
             "gateway.proxy.http1.request.request_head in C (same results and errors).");

static PyObject *
request_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    const char *method, *path;
    Py_ssize_t method_size, path_size;
    if (kwnames != NULL || nargs != 5) {
        goto fall_back;
    }
    PyObject *headers = args[2], *body = args[3], *streamed = args[4];
    /* A bool or None for `streamed`: any other object's truth could run Python code
     * between the two passes below. */
    if (!latin1_text(args[0], &method, &method_size) || !latin1_text(args[1], &path, &path_size) ||
        !PyList_CheckExact(headers) || !(body == Py_None || PyBytes_CheckExact(body)) ||
        !(streamed == Py_True || streamed == Py_False || streamed == Py_None)) {
        goto fall_back;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *name, *value;
        if (!bytes_pair(PyList_GET_ITEM(headers, i), &name, &value)) {
            goto fall_back;
        }
    }
    return head(method, method_size, path, path_size, headers, body, streamed == Py_True);
fall_back:
    return PyObject_Vectorcall(py_request_head, args, (size_t)nargs, kwnames);
}

/* ------------------------------------------------------------------------------------ */
/* Module                                                                               */

static PyMethodDef methods[] = {
    {"forwarded_request_headers", (PyCFunction)(void (*)(void))forwarded_request_headers,
     METH_FASTCALL | METH_KEYWORDS, forwarded_request_headers_doc},
    {"downstream_response_headers", (PyCFunction)(void (*)(void))downstream_response_headers,
     METH_FASTCALL | METH_KEYWORDS, downstream_response_headers_doc},
    {"request_head", (PyCFunction)(void (*)(void))request_head, METH_FASTCALL | METH_KEYWORDS,
     request_head_doc},
    {"new_call_id", new_call_id, METH_NOARGS, new_call_id_doc},
    {NULL, NULL, 0, NULL},
};

/* A new reference to `module_name`.`attribute`. */
static PyObject *
imported(const char *module_name, const char *attribute)
{
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetAttrString(module, attribute);
    Py_DECREF(module);
    return value;
}

/* The Python function to fall back to: refuses a function that is already this module's
 * (imported after a swap, the fallback would call itself). */
static PyObject *
python_function(const char *module_name, const char *attribute)
{
    PyObject *function = imported(module_name, attribute);
    if (function != NULL && !PyFunction_Check(function)) {
        PyErr_Format(PyExc_ImportError, "%s.%s is not the Python function (already swapped?)",
                     module_name, attribute);
        Py_CLEAR(function);
    }
    return function;
}

/* Module init refuses to load when the Python module's name sets are not the ones the
 * C sorts by: -1 with ImportError. */
static int
check_name_set(const char *attribute, int (*member)(const char *, Py_ssize_t),
               Py_ssize_t expected_size)
{
    PyObject *names = imported("gateway.proxy.headers", attribute);
    if (names == NULL) {
        return -1;
    }
    int same = PyAnySet_Check(names) && PySet_GET_SIZE(names) == expected_size;
    PyObject *iterator = same ? PyObject_GetIter(names) : NULL;
    if (same && iterator == NULL) {
        Py_DECREF(names);
        return -1;
    }
    PyObject *name;
    while (same && (name = PyIter_Next(iterator)) != NULL) {
        same = PyBytes_Check(name) && member(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
        Py_DECREF(name);
    }
    Py_XDECREF(iterator);
    Py_DECREF(names);
    if (PyErr_Occurred()) {
        return -1;
    }
    if (!same) {
        PyErr_Format(PyExc_ImportError,
                     "gateway.proxy.headers.%s is not the set this C module was written for",
                     attribute);
        return -1;
    }
    return 0;
}

static int
request_read(const char *s, Py_ssize_t n)
{
    return request_kind(s, n) != KEEP;
}

static int
request_dropped(const char *s, Py_ssize_t n)
{
    enum request_kind kind = request_kind(s, n);
    return kind == DROP || kind == HOST;
}

static int
constants(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&name_host, "Host"},
        {&name_real_ip, "X-Real-IP"},
        {&name_forwarded_for, "X-Forwarded-For"},
        {&name_forwarded_host, "X-Forwarded-Host"},
        {&name_forwarded_proto, "X-Forwarded-Proto"},
        {&name_hops, "X-Faas-Hops"},
        {&name_call_id, "X-Call-Id"},
        {&name_call_id_lower, "x-call-id"},
        {&name_start_time, "x-start-time"},
        {&name_duration, "x-duration-seconds"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((*names[i].slot = PyBytes_FromString(names[i].text)) == NULL) {
            return -1;
        }
    }
    for (int hops = 1; hops <= MAX_HOPS; hops++) {
        if ((hop_values[hops] = PyBytes_FromFormat("%d", hops)) == NULL) {
            return -1;
        }
    }
    if ((kw_upstream_host = PyUnicode_InternFromString("upstream_host")) == NULL ||
        (kw_client_address = PyUnicode_InternFromString("client_address")) == NULL ||
        (kw_scheme = PyUnicode_InternFromString("scheme")) == NULL) {
        return -1;
    }
    return 0;
}

static int
gateway_parts(void)
{
    if ((BadRequest = imported("gateway.errors", "BadRequest")) == NULL ||
        (LoopDetected = imported("gateway.errors", "LoopDetected")) == NULL ||
        (InvalidRequest = imported("gateway.proxy.http1.request", "InvalidRequest")) == NULL ||
        (py_forwarded_request_headers =
             python_function("gateway.proxy.headers", "forwarded_request_headers")) == NULL ||
        (py_downstream_response_headers =
             python_function("gateway.proxy.headers", "downstream_response_headers")) == NULL ||
        (py_request_head = python_function("gateway.proxy.http1.request", "request_head")) ==
            NULL) {
        return -1;
    }
    PyObject *max_hops = imported("gateway.proxy.headers", "MAX_HOPS");
    if (max_hops == NULL) {
        return -1;
    }
    long value = PyLong_AsLong(max_hops);
    Py_DECREF(max_hops);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (value != MAX_HOPS) {
        PyErr_Format(PyExc_ImportError, "gateway.proxy.headers.MAX_HOPS is %ld, the C has %d",
                     value, MAX_HOPS);
        return -1;
    }
    return check_name_set("_REQUEST_READ", request_read, 20) < 0 ||
                   check_name_set("_REQUEST_DROPPED", request_dropped, 17) < 0 ||
                   check_name_set("_RESPONSE_DROPPED", response_dropped, 13) < 0
               ? -1
               : 0;
}

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_faas_headers",
    .m_doc = "The gateway's header path in C: a measurement prototype (issue 36).",
    .m_size = -1,
    .m_methods = methods,
};

/* Drops what a failed init had taken, so that a second import starts clean. */
static void
forget_all(void)
{
    PyObject **slots[] = {
        &BadRequest,         &LoopDetected,         &InvalidRequest,
        &py_forwarded_request_headers, &py_downstream_response_headers, &py_request_head,
        &kw_upstream_host,   &kw_client_address,    &kw_scheme,
        &name_host,          &name_real_ip,         &name_forwarded_for,
        &name_forwarded_host, &name_forwarded_proto, &name_hops,
        &name_call_id,       &name_call_id_lower,   &name_start_time,
        &name_duration,
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        Py_CLEAR(*slots[i]);
    }
    for (int hops = 0; hops <= MAX_HOPS; hops++) {
        Py_CLEAR(hop_values[hops]);
    }
}

PyMODINIT_FUNC
PyInit__faas_headers(void)
{
    static int initialized = 0, at_fork_registered = 0;
    if (!initialized) {
        if (constants() < 0 || gateway_parts() < 0) {
            forget_all();
            return NULL;
        }
        initialized = 1;
    }
    if (!at_fork_registered) {
        int error = pthread_atfork(NULL, NULL, forget_pool);
        if (error != 0) {
            errno = error;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        at_fork_registered = 1;
    }
    return PyModule_Create(&module_definition);
}
