/* RESP2: the request parser follows Redis 7.0's processMultibulkBuffer() and processInlineBuffer()
 * closely, quirks included, so that a client sees the same protocol errors through redpair as it
 * would talking to Redis directly. See resp.h for the interface. */
#include "resp.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGV_MIN  8    /* first argv allocation: most commands have fewer arguments */
#define ARGV_KEEP 1024 /* argv larger than this is given back on reset, not kept for ever */
#define NUM_MAX   20   /* longest text string2ll accepts: "-9223372036854775808" */

static inline size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers.
 * ------------------------------------------------------------------------------------------- */

/* Parses exactly n bytes as a long long, as Redis's string2ll(): an optional '-', no '+', no
 * leading zeros, no spaces, no "-0". Both sides of the wire agree on what a length is only if
 * we reject exactly what Redis rejects. */
bool resp_parse_ll(const char *s, size_t n, long long *out)
{
    bool neg = false;
    unsigned long long v;
    size_t i = 0;

    if (n == 0 || n > NUM_MAX) return false;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    if (s[0] == '-') {
        neg = true;
        if (++i == n) return false;
    }
    if (s[i] < '1' || s[i] > '9') return false;
    v = (unsigned long long)(s[i++] - '0');
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9) return false;
        if (v > (ULLONG_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1) return false;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX) return false;
        *out = (long long)v;
    }
    return true;
}

static const char digit_pairs[] = "00010203040506070809"
                                  "10111213141516171819"
                                  "20212223242526272829"
                                  "30313233343536373839"
                                  "40414243444546474849"
                                  "50515253545556575859"
                                  "60616263646566676869"
                                  "70717273747576777879"
                                  "80818283848586878889"
                                  "90919293949596979899";

/* Writes v in decimal at dst (room for 20 bytes), two digits per division; returns the length.
 * Every reply header goes through here, so it avoids printf. */
static size_t ull_to_str(char *dst, unsigned long long v)
{
    char tmp[20];
    char *p = tmp + sizeof(tmp);

    while (v >= 100) {
        p -= 2;
        memcpy(p, digit_pairs + (v % 100) * 2, 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + v * 2, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(dst, p, n);
    return n;
}

static size_t ll_to_str(char *dst, long long v)
{
    if (v >= 0) return ull_to_str(dst, (unsigned long long)v);
    *dst = '-';
    /* Negating in unsigned arithmetic keeps LLONG_MIN defined. */
    return 1 + ull_to_str(dst + 1, 0ULL - (unsigned long long)v);
}

/* ---------------------------------------------------------------------------------------------
 * Request parser.
 * ------------------------------------------------------------------------------------------- */

static const char err_mbulk_len[] = "Protocol error: invalid multibulk length";
static const char err_mbulk_big[] = "Protocol error: too big mbulk count string";
static const char err_bulk_len[] = "Protocol error: invalid bulk length";
static const char err_unauth_mbulk[] = "Protocol error: unauthenticated multibulk length";
static const char err_unauth_bulk[] = "Protocol error: unauthenticated bulk length";
static const char err_bulk_big[] = "Protocol error: too big bulk count string";
static const char err_inline_big[] = "Protocol error: too big inline request";
static const char err_quotes[] = "Protocol error: unbalanced quotes in request";

void resp_request_init(struct resp_request *r, long long max_bulk_len)
{
    memset(r, 0, sizeof(*r));
    r->max_bulk_len = max_bulk_len;
    r->multibulk_left = -1;
    r->bulk_len = -1;
}

void resp_request_reset(struct resp_request *r)
{
    /* Keep argv for the next command unless one huge command blew it up. */
    if (r->argv_cap > ARGV_KEEP) {
        free(r->argv);
        r->argv = NULL;
        r->argv_cap = 0;
    }
    r->argc = 0;
    r->is_inline = false;
    r->size = 0;
    r->error = NULL;
    r->multibulk_left = -1;
    r->bulk_len = -1;
    r->pos = 0;
}

void resp_request_free(struct resp_request *r)
{
    free(r->argv);
    free(r->inline_buf);
    resp_request_init(r, r->max_bulk_len);
}

/* Appends an argument. argv grows geometrically as arguments actually arrive, never to the count
 * a header claims, so `*1000000` followed by nothing costs nothing. */
static void push_arg(struct resp_request *r, size_t off, size_t len)
{
    if (r->argc == r->argv_cap) {
        int cap = r->argv_cap ? r->argv_cap * 2 : ARGV_MIN;
        r->argv = xrealloc(r->argv, (size_t)cap * sizeof(*r->argv));
        r->argv_cap = cap;
    }
    r->argv[r->argc].off = off;
    r->argv[r->argc].len = len;
    r->argc++;
}

static enum resp_result fail(struct resp_request *r, const char *error)
{
    r->error = error;
    return RESP_ERROR;
}

/* Finds the byte c that ends the line starting at buf[pos]. Like Redis, a line may hold up to
 * RESP_INLINE_MAX bytes before it; Redis only notices a longer one when that many bytes are
 * buffered without c, which depends on how reads happen to split the stream, so we judge by the
 * line's length instead and give the same answer for every split. */
static enum resp_result find_line(const char *buf, size_t pos, size_t len, char c, size_t *at)
{
    size_t avail = len - pos;
    const char *p = memchr(buf + pos, c, min_size(avail, RESP_INLINE_MAX + 1));

    if (!p) return avail > RESP_INLINE_MAX ? RESP_ERROR : RESP_MORE;
    *at = (size_t)(p - buf);
    return RESP_DONE;
}

/* Multibulk lines end at the first '\r'. Redis wants one more byte to be there and skips it
 * without checking that it is '\n'; so do we, or a stream Redis accepts would desync here. */
static enum resp_result find_crlf(const char *buf, size_t pos, size_t len, size_t *cr)
{
    enum resp_result res = find_line(buf, pos, len, '\r', cr);
    if (res == RESP_DONE && *cr + 1 >= len) return RESP_MORE;
    return res;
}

static enum resp_result parse_multibulk(struct resp_request *r, const char *buf, size_t len)
{
    enum resp_result res;
    size_t cr;
    long long ll;

    if (r->multibulk_left < 0) {
        res = find_crlf(buf, r->pos, len, &cr);
        if (res == RESP_ERROR) return fail(r, err_mbulk_big);
        if (res == RESP_MORE) return RESP_MORE;
        if (!resp_parse_ll(buf + r->pos + 1, cr - r->pos - 1, &ll) || ll > RESP_MULTIBULK_MAX)
            return fail(r, err_mbulk_len);
        if (r->unauthenticated && ll > RESP_UNAUTH_MULTIBULK_MAX) return fail(r, err_unauth_mbulk);
        r->pos = cr + 2;
        if (ll <= 0) { /* `*0` and `*-1` are no command at all */
            r->size = r->pos;
            return RESP_DONE;
        }
        r->multibulk_left = ll;
    }

    while (r->multibulk_left > 0) {
        if (r->bulk_len < 0) {
            res = find_crlf(buf, r->pos, len, &cr);
            if (res == RESP_ERROR) return fail(r, err_bulk_big);
            if (res == RESP_MORE) return RESP_MORE;
            unsigned char c = (unsigned char)buf[r->pos];
            if (c != '$') {
                /* Redis maps '\r' and '\n' in errors to spaces; a NUL would cut the string. */
                if (c == '\r' || c == '\n' || c == '\0') c = ' ';
                snprintf(r->error_buf, sizeof(r->error_buf),
                         "Protocol error: expected '$', got '%c'", c);
                return fail(r, r->error_buf);
            }
            if (!resp_parse_ll(buf + r->pos + 1, cr - r->pos - 1, &ll) || ll < 0 ||
                ll > r->max_bulk_len)
                return fail(r, err_bulk_len);
            if (r->unauthenticated && ll > RESP_UNAUTH_BULK_MAX) return fail(r, err_unauth_bulk);
            r->pos = cr + 2;
            r->bulk_len = ll;
        }
        /* The payload is never scanned: a \r\n inside it is data. As in Redis, the two bytes
         * after it are taken to be \r\n without looking. */
        if ((unsigned long long)(len - r->pos) < (unsigned long long)r->bulk_len + 2)
            return RESP_MORE;
        push_arg(r, r->pos, (size_t)r->bulk_len);
        r->pos += (size_t)r->bulk_len + 2;
        r->bulk_len = -1;
        r->multibulk_left--;
    }
    r->size = r->pos;
    return RESP_DONE;
}

/* Whitespace as isspace() in the C locale, which sdssplitargs() uses between arguments. */
static inline bool is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits line[0..n) into arguments exactly as Redis's sdssplitargs() does, unescaping into
 * inline_buf. The one difference: sdssplitargs() stops at a NUL; here a NUL is an ordinary byte
 * (Redis never gets that far, see parse_inline). Returns false on unbalanced quotes. */
static bool split_inline(struct resp_request *r, const char *line, size_t n)
{
    const char *p = line, *end = line + n;
    size_t o = 0;

    /* Unescaping never lengthens, so one line's worth of room is enough. */
    if (r->inline_cap < n) {
        size_t cap = r->inline_cap ? r->inline_cap : 64;
        while (cap < n) cap *= 2;
        r->inline_buf = xrealloc(r->inline_buf, cap);
        r->inline_cap = cap;
    }
    char *out = r->inline_buf;

    for (;;) {
        while (p < end && is_space((unsigned char)*p)) p++;
        if (p == end) return true;

        size_t start = o;
        bool inq = false, insq = false, done = false;
        while (!done) {
            if (inq) {
                if (p == end) return false;
                if (*p == '\\' && end - p >= 4 && p[1] == 'x' &&
                    hex_value((unsigned char)p[2]) >= 0 && hex_value((unsigned char)p[3]) >= 0) {
                    out[o++] = (char)(hex_value((unsigned char)p[2]) * 16 +
                                      hex_value((unsigned char)p[3]));
                    p += 3;
                } else if (*p == '\\' && end - p >= 2) {
                    char c;
                    switch (*++p) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = *p; break;
                    }
                    out[o++] = c;
                } else if (*p == '"') {
                    /* A closing quote must end the argument: `"a"b` is an error. */
                    if (end - p >= 2 && !is_space((unsigned char)p[1])) return false;
                    done = true;
                } else {
                    out[o++] = *p;
                }
            } else if (insq) {
                if (p == end) return false;
                if (*p == '\\' && end - p >= 2 && p[1] == '\'') {
                    p++;
                    out[o++] = '\'';
                } else if (*p == '\'') {
                    if (end - p >= 2 && !is_space((unsigned char)p[1])) return false;
                    done = true;
                } else {
                    out[o++] = *p;
                }
            } else if (p == end) {
                done = true;
            } else {
                /* Only these end a bare argument: \v and \f are part of it. */
                switch (*p) {
                case ' ':
                case '\n':
                case '\r':
                case '\t': done = true; break;
                case '"': inq = true; break;
                case '\'': insq = true; break;
                default: out[o++] = *p; break;
                }
            }
            if (p < end) p++;
        }
        push_arg(r, start, o - start);
    }
}

/* An inline command is one line. Redis finds its end with strchr() on the query buffer, so a NUL
 * before the newline leaves a Redis client hanging until 64 KB have arrived; we look with
 * memchr() and treat a NUL as data, for multibulk length lines too. */
static enum resp_result parse_inline(struct resp_request *r, const char *buf, size_t len)
{
    /* The newline may be at most RESP_INLINE_MAX bytes in, whatever the reads look like (see
     * find_line). r->pos is how far we already looked, so a slow line is scanned once. */
    size_t limit = min_size(len, RESP_INLINE_MAX + 1); /* > r->pos: it is < len and <= MAX */
    const char *p = memchr(buf + r->pos, '\n', limit - r->pos);

    if (!p) {
        if (len > RESP_INLINE_MAX) return fail(r, err_inline_big);
        r->pos = len;
        return RESP_MORE;
    }
    size_t nl = (size_t)(p - buf);
    size_t n = nl > 0 && buf[nl - 1] == '\r' ? nl - 1 : nl;
    if (!split_inline(r, buf, n)) {
        r->argc = 0;
        return fail(r, err_quotes);
    }
    r->pos = r->size = nl + 1;
    return RESP_DONE;
}

enum resp_result resp_request_parse(struct resp_request *r, const char *buf, size_t len)
{
    if (r->error) return RESP_ERROR;
    if (r->size) return RESP_DONE; /* no complete command is 0 bytes long */
    if (len <= r->pos) return RESP_MORE;

    r->is_inline = buf[0] != '*'; /* buf always starts at the command's first byte */
    return r->is_inline ? parse_inline(r, buf, len) : parse_multibulk(r, buf, len);
}

/* ---------------------------------------------------------------------------------------------
 * Reply framer.
 * ------------------------------------------------------------------------------------------- */

/* A complete (or failed) reply leaves no array open: what a deep one took goes at once. */
static void close_arrays(struct resp_reply *r)
{
    if (r->cap) free(r->heap);
    r->heap = NULL;
    r->cap = 0;
}

void resp_reply_reset(struct resp_reply *r)
{
    close_arrays(r);
    r->size = 0;
    r->error = NULL;
    r->depth = 0;
    r->pos = 0;
}

static long long *open_arrays(struct resp_reply *r)
{
    return r->cap ? r->heap : r->stack;
}

static void open_array(struct resp_reply *r, long long elements)
{
    size_t room = r->cap ? r->cap : RESP_REPLY_STACK;
    if (r->depth == room) {
        long long *grown = xrealloc(r->cap ? r->heap : NULL, 2 * room * sizeof(*grown));
        if (!r->cap) memcpy(grown, r->stack, sizeof(r->stack));
        r->heap = grown;
        r->cap = 2 * room;
    }
    open_arrays(r)[r->depth++] = elements;
}

/* Redis ends every reply line with \r\n and never puts one inside a line. Returns the offset of
 * the '\r' of the first \r\n in buf[from..len), or 0 (never a valid offset) if there is none. */
static size_t find_reply_crlf(const char *buf, size_t from, size_t len)
{
    while (from + 1 < len) {
        const char *p = memchr(buf + from, '\r', len - from - 1);
        if (!p) return 0;
        if (p[1] == '\n') return (size_t)(p - buf);
        from = (size_t)(p - buf) + 1;
    }
    return 0;
}

/* Reads the number on the header line at buf[0..len): ":12\r\n", "$5\r\n", "*-1\r\n". Returns
 * the line's length, 0 if it has not all arrived, or SIZE_MAX if it is not a number. A number
 * is short, so a long line is known to be bad without waiting for its end. */
static size_t read_number(const char *buf, size_t len, long long *v)
{
    size_t window = min_size(len, NUM_MAX + 3); /* type, digits, \r\n */
    size_t cr = find_reply_crlf(buf, 1, window);

    if (cr == 0) {
        if (len >= NUM_MAX + 3) return SIZE_MAX;
        /* A byte that cannot be part of a number or of \r\n is wrong already. */
        for (size_t i = 1; i < window; i++) {
            char c = buf[i];
            if (!((c >= '0' && c <= '9') || c == '-' || (c == '\r' && i + 1 == window)))
                return SIZE_MAX;
        }
        return 0;
    }
    if (!resp_parse_ll(buf + 1, cr - 1, v)) return SIZE_MAX;
    return cr + 2;
}

static enum resp_result reply_failed(struct resp_reply *r, const char *error)
{
    r->error = error;
    close_arrays(r);
    return RESP_ERROR;
}

static enum resp_result bad_number(struct resp_reply *r, char type)
{
    return reply_failed(r, type == ':'   ? "Protocol error: invalid integer in reply"
                           : type == '$' ? "Protocol error: invalid bulk length in reply"
                                         : "Protocol error: invalid multibulk length in reply");
}

enum resp_result resp_reply_parse(struct resp_reply *r, const char *buf, size_t len)
{
    if (r->error) return RESP_ERROR;
    if (r->size) return RESP_DONE;

    while (r->pos < len) {
        const char *p = buf + r->pos;
        size_t avail = len - r->pos, n;
        long long v = 0;

        switch (*p) {
        case '+':
        case '-':
            /* Searched from the line's start on every call: status lines are short, and even a
             * long error (a script's) costs only its length per read. */
            n = find_reply_crlf(p, 1, avail);
            if (n == 0) return RESP_MORE;
            n += 2;
            break;
        case ':':
        case '$':
        case '*':
            n = read_number(p, avail, &v);
            if (n == 0) return RESP_MORE;
            if (n == SIZE_MAX || (*p != ':' && v < -1)) return bad_number(r, *p);
            break;
        default: return reply_failed(r, "Protocol error: invalid reply type byte");
        }

        if (*p == '$' && v >= 0) {
            /* Skip the payload unread; only its terminator is checked, to catch a desync. */
            unsigned long long need = (unsigned long long)n + (unsigned long long)v + 2;
            if (need > avail) return RESP_MORE;
            if (p[need - 2] != '\r' || p[need - 1] != '\n')
                return reply_failed(r, "Protocol error: bulk reply not terminated by CRLF");
            n = (size_t)need;
        }
        r->pos += n;

        /* This value is an element of the innermost open array: when it is the last one, that
         * array ends with it and is closed now. An array's own last element never is an open
         * array (it was closed as that element started), so closing one is enough. */
        if (r->depth > 0 && --open_arrays(r)[r->depth - 1] == 0) r->depth--;
        if (*p == '*' && v > 0)
            open_array(r, v);
        else if (r->depth == 0) {
            r->size = r->pos;
            close_arrays(r);
            return RESP_DONE;
        }
    }
    return RESP_MORE;
}

size_t resp_value_read(const char *buf, size_t len, struct resp_value *v)
{
    size_t n;
    long long ll;

    if (len == 0) return 0;
    v->type = buf[0];
    v->str = NULL;
    v->len = 0;
    v->integer = 0;

    switch (buf[0]) {
    case '+':
    case '-':
        n = find_reply_crlf(buf, 1, len);
        if (n == 0) return 0;
        v->str = buf + 1;
        v->len = n - 1;
        return n + 2;
    case ':':
    case '*':
        n = read_number(buf, len, &ll);
        if (n == 0 || n == SIZE_MAX || (buf[0] == '*' && ll < -1)) return 0;
        v->integer = ll;
        return n;
    case '$':
        n = read_number(buf, len, &ll);
        if (n == 0 || n == SIZE_MAX || ll < -1) return 0;
        v->integer = ll;
        if (ll == -1) return n;
        if ((unsigned long long)ll + 2 > len - n) return 0;
        if (buf[n + (size_t)ll] != '\r' || buf[n + (size_t)ll + 1] != '\n') return 0;
        v->str = buf + n;
        v->len = (size_t)ll;
        return n + (size_t)ll + 2;
    default: return 0;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Encoders. Each reserves its worst case once and writes in place.
 * ------------------------------------------------------------------------------------------- */

/* "<type><n>\r\n" at dst; returns the bytes written (at most 23). */
static size_t put_header(char *dst, char type, long long n)
{
    dst[0] = type;
    size_t len = 1 + ll_to_str(dst + 1, n);
    dst[len] = '\r';
    dst[len + 1] = '\n';
    return len + 2;
}

static size_t put_bulk(char *dst, const char *p, size_t len)
{
    dst[0] = '$';
    size_t n = 1 + ull_to_str(dst + 1, len);
    dst[n++] = '\r';
    dst[n++] = '\n';
    memcpy(dst + n, p, len);
    n += len;
    dst[n++] = '\r';
    dst[n++] = '\n';
    return n;
}

#define HEADER_MAX 24 /* type, sign and 20 digits, \r\n */

void resp_append_command(struct buffer *out, int argc, const char *const *argv, const size_t *argl)
{
    size_t need = HEADER_MAX;
    for (int i = 0; i < argc; i++) need += HEADER_MAX + argl[i] + 2;

    char *dst = buffer_reserve(out, need);
    size_t n = put_header(dst, '*', argc);
    for (int i = 0; i < argc; i++) n += put_bulk(dst + n, argv[i], argl[i]);
    buffer_commit(out, n);
}

void resp_append_bulk(struct buffer *out, const char *p, size_t len)
{
    if (!p) {
        buffer_append(out, "$-1\r\n", 5);
        return;
    }
    char *dst = buffer_reserve(out, HEADER_MAX + len + 2);
    buffer_commit(out, put_bulk(dst, p, len));
}

/* A line reply with any \r or \n turned into a space: one inside would end the line early and
 * desync the client. Redis does this to errors; statuses are our own constants, but a stray
 * newline must not break the stream either. */
static void append_line(struct buffer *out, char type, const char *s, size_t len)
{
    char *dst = buffer_reserve(out, len + 3);
    dst[0] = type;
    for (size_t i = 0; i < len; i++) dst[i + 1] = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
    dst[len + 1] = '\r';
    dst[len + 2] = '\n';
    buffer_commit(out, len + 3);
}

void resp_append_status(struct buffer *out, const char *status)
{
    append_line(out, '+', status, strlen(status));
}

/* As Redis's addReplyErrorFormat(): \r and \n are trimmed from both ends, blanked inside. */
static void append_error(struct buffer *out, const char *s, size_t len)
{
    while (len > 0 && (*s == '\r' || *s == '\n')) s++, len--;
    while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n')) len--;
    append_line(out, '-', s, len);
}

void resp_append_error(struct buffer *out, const char *fmt, ...)
{
    char small[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof(small)) {
        append_error(out, small, (size_t)n);
        return;
    }
    char *big = xrealloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    append_error(out, big, (size_t)n);
    free(big);
}

void resp_append_integer(struct buffer *out, long long n)
{
    buffer_commit(out, put_header(buffer_reserve(out, HEADER_MAX), ':', n));
}

void resp_append_array_header(struct buffer *out, long long n)
{
    buffer_commit(out, put_header(buffer_reserve(out, HEADER_MAX), '*', n));
}

bool resp_value_next(const char **buf, size_t *len, struct resp_value *v)
{
    size_t n = resp_value_read(*buf, *len, v);
    if (n == 0 || n > *len) return false;
    *buf += n;
    *len -= n;
    return true;
}

bool resp_value_skip(const char **buf, size_t *len)
{
    size_t todo = 1; /* without recursing: Lua replies nest deep */
    while (todo > 0) {
        struct resp_value v;
        if (!resp_value_next(buf, len, &v)) return false;
        todo--;
        if (v.type == '*' && v.integer > 0) {
            if ((unsigned long long)v.integer > *len) return false; /* cannot all be there */
            todo += (size_t)v.integer;
        }
    }
    return true;
}

void resp_request_args(const struct resp_request *r, const char *buf, const char ***argv,
                       size_t **argl, int *cap)
{
    if (r->argc > *cap) {
        int room = *cap ? *cap : 16;
        while (room < r->argc) room *= 2;
        *argv = xrealloc(*argv, (size_t)room * sizeof(**argv));
        *argl = xrealloc(*argl, (size_t)room * sizeof(**argl));
        *cap = room;
    }
    for (int i = 0; i < r->argc; i++) {
        (*argv)[i] = resp_request_arg(r, buf, i);
        (*argl)[i] = r->argv[i].len;
    }
}
