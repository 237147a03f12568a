/* RESP: the request parser against Redis 7.0's behaviour, the reply framer, the value reader and
 * the encoders. Streaming is checked by feeding every input at every split point, each prefix in
 * a heap block of exactly its length, so that ASan catches a read past what has arrived. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"
#include "unit.h"

struct arg {
    const char *p;
    size_t len;
};

#define A(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
#define S(s) s, sizeof(s) - 1

/* A heap copy of the first n bytes of in, so reading byte n is an ASan error. */
static char *prefix(const char *in, size_t n)
{
    char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, in, n);
    return p;
}

static void assert_args(const struct resp_request *r, const char *buf, const struct arg *want,
                        int argc)
{
    ck_assert_int_eq(r->argc, argc);
    for (int i = 0; i < argc; i++) {
        ck_assert_uint_eq(r->argv[i].len, want[i].len);
        ck_assert_msg(memcmp(resp_request_arg(r, buf, i), want[i].p, want[i].len) == 0,
                      "argument %d differs", i);
    }
}

/* Parses in[0..len) expecting a command of `size` bytes (0: all of them) with the given
 * arguments: whole, then split in two at every point, then one byte at a time. */
static void check_request(const char *in, size_t len, size_t size, bool is_inline,
                          const struct arg *want, int argc)
{
    struct resp_request r;
    if (size == 0) size = len; /* the whole input is one command */
    resp_request_init(&r, 512 * 1024 * 1024LL);

    char *whole = prefix(in, len);
    ck_assert_int_eq(resp_request_parse(&r, whole, len), RESP_DONE);
    ck_assert_uint_eq(r.size, size);
    ck_assert_int_eq(r.is_inline, is_inline);
    assert_args(&r, whole, want, argc);
    /* Asking again changes nothing. */
    ck_assert_int_eq(resp_request_parse(&r, whole, len), RESP_DONE);
    ck_assert_uint_eq(r.size, size);
    free(whole);

    for (size_t k = 0; k < size; k++) {
        resp_request_reset(&r);
        char *head = prefix(in, k);
        ck_assert_msg(resp_request_parse(&r, head, k) == RESP_MORE, "split at %zu", k);
        free(head);
        char *all = prefix(in, len);
        ck_assert_msg(resp_request_parse(&r, all, len) == RESP_DONE, "split at %zu", k);
        ck_assert_uint_eq(r.size, size);
        assert_args(&r, all, want, argc);
        free(all);
    }

    resp_request_reset(&r);
    enum resp_result res = RESP_MORE;
    size_t k;
    for (k = 1; k <= len && res == RESP_MORE; k++) {
        char *head = prefix(in, k);
        res = resp_request_parse(&r, head, k);
        if (res == RESP_DONE) assert_args(&r, head, want, argc);
        free(head);
    }
    ck_assert_int_eq(res, RESP_DONE);
    ck_assert_uint_eq(k - 1, size);
    ck_assert_uint_eq(r.size, size);
    resp_request_free(&r);
}

#define CHECK_REQUEST(in, size, is_inline, ...)                                                    \
    do {                                                                                           \
        const struct arg want_[] = {__VA_ARGS__};                                                  \
        check_request(S(in), size, is_inline, want_, sizeof(want_) / sizeof(want_[0]));            \
    } while (0)

/* A command with no arguments to execute. */
static void check_empty(const char *in, size_t len, size_t size, bool is_inline)
{
    check_request(in, len, size, is_inline, NULL, 0);
}

/* The whole input fails with `error`, and so does every split of it; a prefix may only ask for
 * more or fail the same way. */
static void check_error_max(const char *in, size_t len, const char *error, long long max_bulk,
                            size_t step)
{
    struct resp_request r;
    resp_request_init(&r, max_bulk);

    char *whole = prefix(in, len);
    ck_assert_int_eq(resp_request_parse(&r, whole, len), RESP_ERROR);
    ck_assert_str_eq(r.error, error);
    ck_assert_int_eq(resp_request_parse(&r, whole, len), RESP_ERROR);
    free(whole);

    for (size_t k = 0; k < len; k += step) {
        resp_request_reset(&r);
        char *head = prefix(in, k);
        enum resp_result res = resp_request_parse(&r, head, k);
        free(head);
        if (res == RESP_ERROR) {
            ck_assert_str_eq(r.error, error);
            continue;
        }
        ck_assert_msg(res == RESP_MORE, "split at %zu", k);
        char *all = prefix(in, len);
        ck_assert_msg(resp_request_parse(&r, all, len) == RESP_ERROR, "split at %zu", k);
        ck_assert_str_eq(r.error, error);
        free(all);
    }
    resp_request_free(&r);
}

static void check_error(const char *in, size_t len, const char *error)
{
    check_error_max(in, len, error, 512 * 1024 * 1024LL, 1);
}

#define CHECK_ERROR(in, error) check_error(S(in), error)

/* ---------------------------------------------------------------------------------------------
 * Multibulk.
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_multibulk)
{
    CHECK_REQUEST("*1\r\n$4\r\nPING\r\n", 0, false, A("PING"));
    CHECK_REQUEST("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 0, false, A("GET"), A("k"));
    CHECK_REQUEST("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n", 0, false, A("SET"), A("key"),
                  A(""));
    /* Only the first command is parsed; the rest is the next one's. */
    CHECK_REQUEST("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", 14, false, A("PING"));
    /* Lengths of ten and more, and a negative multibulk count meaning nothing. */
    CHECK_REQUEST("*2\r\n$4\r\nECHO\r\n$12\r\nhello world!\r\n", 0, false, A("ECHO"),
                  A("hello world!"));
    check_empty(S("*0\r\n"), 0, false);
    check_empty(S("*-1\r\n"), 0, false);
    check_empty(S("*-99999999999\r\n*1\r\n$4\r\nPING\r\n"), 15, false);
}
END_TEST

START_TEST(test_multibulk_binary)
{
    /* \r\n, NUL and '*' inside a bulk are data: the payload is never scanned. */
    CHECK_REQUEST("*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$6\r\n*1\r\n$1\r\n", 0, false, A("SET"),
                  A("k\r\n\0"), A("*1\r\n$1"));
    CHECK_REQUEST("*1\r\n$2\r\n\r\n\r\n", 0, false, A("\r\n"));
    const char bytes[] = "*1\r\n$256\r\n";
    char in[sizeof(bytes) - 1 + 256 + 2];
    struct arg want = {in + sizeof(bytes) - 1, 256};
    memcpy(in, bytes, sizeof(bytes) - 1);
    for (int i = 0; i < 256; i++) in[sizeof(bytes) - 1 + i] = (char)i;
    memcpy(in + sizeof(in) - 2, "\r\n", 2);
    check_request(in, sizeof(in), sizeof(in), false, &want, 1);
}
END_TEST

START_TEST(test_multibulk_redis_quirks)
{
    /* Redis takes the byte after '\r' to be '\n' and the two after a payload to be "\r\n"
     * without looking; so must we, or we would part ways with the backend. */
    CHECK_REQUEST("*1\rX$4\r\nPING\r\n", 0, false, A("PING"));
    CHECK_REQUEST("*1\r\n$4\rXPINGxx*1\r\n", 14, false, A("PING"));
    /* The line ends at the first '\r', so "*1\r" needs one byte more, whatever it is. */
    CHECK_REQUEST("*1\r\r$1\r\rx\r\r", 0, false, A("x"));
}
END_TEST

START_TEST(test_multibulk_errors)
{
    const char *mbulk = "Protocol error: invalid multibulk length";
    CHECK_ERROR("*abc\r\n", mbulk);
    CHECK_ERROR("*\r\n", mbulk);
    CHECK_ERROR("*01\r\n", mbulk);
    CHECK_ERROR("*+1\r\n", mbulk);
    CHECK_ERROR("*-0\r\n", mbulk);
    CHECK_ERROR("*1 \r\n", mbulk);
    CHECK_ERROR("*1\0\r\n", mbulk);
    CHECK_ERROR("*1048577\r\n", mbulk);
    CHECK_ERROR("*2147483648\r\n", mbulk);
    CHECK_ERROR("*99999999999999999999\r\n", mbulk);
    CHECK_ERROR("*-9223372036854775809\r\n", mbulk);

    const char *bulk = "Protocol error: invalid bulk length";
    CHECK_ERROR("*1\r\n$\r\n", bulk);
    CHECK_ERROR("*1\r\n$-1\r\n", bulk);
    CHECK_ERROR("*1\r\n$-0\r\n", bulk);
    CHECK_ERROR("*1\r\n$01\r\nx\r\n", bulk);
    CHECK_ERROR("*1\r\n$x\r\n", bulk);
    CHECK_ERROR("*2\r\n$1\r\na\r\n$99999999999999999999\r\n", bulk);
    CHECK_ERROR("*1\r\n$536870913\r\n", bulk);

    CHECK_ERROR("*1\r\nX\r\n", "Protocol error: expected '$', got 'X'");
    CHECK_ERROR("*2\r\n$1\r\na\r\n:1\r\n", "Protocol error: expected '$', got ':'");
    /* Redis turns a '\r' or '\n' in an error into a space. */
    CHECK_ERROR("*1\r\n\r\n", "Protocol error: expected '$', got ' '");
    CHECK_ERROR("*1\r\n\n\r\n", "Protocol error: expected '$', got ' '");
    CHECK_ERROR("*1\r\n\0\r\n", "Protocol error: expected '$', got ' '");
    CHECK_ERROR("*1\r\n\xff\r\n", "Protocol error: expected '$', got '\xff'");
    /* The '$' is checked only once the line is complete, as Redis does. */
    struct resp_request r;
    resp_request_init(&r, 100);
    ck_assert_int_eq(resp_request_parse(&r, S("*1\r\nX\r")), RESP_MORE);
    resp_request_free(&r);
}
END_TEST

START_TEST(test_max_bulk_len)
{
    check_error_max(S("*1\r\n$11\r\n"), "Protocol error: invalid bulk length", 10, 1);
    struct resp_request r;
    resp_request_init(&r, 10);
    ck_assert_int_eq(resp_request_parse(&r, S("*1\r\n$10\r\n0123456789\r\n")), RESP_DONE);
    ck_assert_uint_eq(r.argv[0].len, 10);
    resp_request_free(&r);
    resp_request_init(&r, 0);
    ck_assert_int_eq(resp_request_parse(&r, S("*1\r\n$0\r\n\r\n")), RESP_DONE);
    resp_request_reset(&r);
    ck_assert_int_eq(resp_request_parse(&r, S("*1\r\n$1\r\n")), RESP_ERROR);
    resp_request_free(&r);
    /* The largest length there is must not overflow the "enough bytes?" check. */
    resp_request_init(&r, LLONG_MAX);
    ck_assert_int_eq(resp_request_parse(&r, S("*1\r\n$9223372036854775807\r\nabc")), RESP_MORE);
    resp_request_free(&r);
}
END_TEST

START_TEST(test_unauthenticated_limits)
{
    struct resp_request r;
    resp_request_init(&r, 1 << 20);
    r.unauthenticated = true;
    ck_assert_int_eq(resp_request_parse(&r, S("*11\r\n")), RESP_ERROR);
    ck_assert_str_eq(r.error, "Protocol error: unauthenticated multibulk length");
    resp_request_reset(&r);
    ck_assert_int_eq(resp_request_parse(&r, S("*2\r\n$4\r\nAUTH\r\n$16385\r\n")), RESP_ERROR);
    ck_assert_str_eq(r.error, "Protocol error: unauthenticated bulk length");
    resp_request_reset(&r);
    ck_assert_int_eq(resp_request_parse(&r, S("*10\r\n$16384\r\n")), RESP_MORE);
    resp_request_reset(&r);
    r.unauthenticated = false; /* after AUTH: proto-max-bulk-len alone */
    ck_assert_int_eq(resp_request_parse(&r, S("*11\r\n$16385\r\n")), RESP_MORE);
    resp_request_free(&r);
}
END_TEST

START_TEST(test_huge_claimed_count)
{
    /* A header may claim a million arguments; argv grows only as they arrive. */
    struct resp_request r;
    resp_request_init(&r, 1024);
    const char in[] = "*1048576\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    ck_assert_int_eq(resp_request_parse(&r, S(in)), RESP_MORE);
    ck_assert_int_eq(r.argc, 2);
    ck_assert_int_le(r.argv_cap, 8);
    ck_assert_int_eq(r.multibulk_left, 1048576 - 2);
    resp_request_free(&r);

    /* Many real arguments: argv grows geometrically and is not kept after reset. */
    size_t n = 5000, len = 0;
    char *big = malloc(16 + n * 7);
    len += (size_t)sprintf(big, "*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) len += (size_t)sprintf(big + len, "$1\r\nx\r\n");
    resp_request_init(&r, 1024);
    ck_assert_int_eq(resp_request_parse(&r, big, len), RESP_DONE);
    ck_assert_int_eq(r.argc, (int)n);
    ck_assert_int_ge(r.argv_cap, (int)n);
    ck_assert_int_lt(r.argv_cap, 2 * (int)n);
    resp_request_reset(&r);
    ck_assert_int_le(r.argv_cap, 1024);
    ck_assert_int_eq(resp_request_parse(&r, S("*1\r\n$4\r\nPING\r\n")), RESP_DONE);
    resp_request_free(&r);
    free(big);
}
END_TEST

/* Builds a line of n copies of c after head, then tail. */
static char *long_line(const char *head, char c, size_t n, const char *tail, size_t *len)
{
    size_t h = strlen(head), t = strlen(tail);
    char *p = malloc(h + n + t);
    memcpy(p, head, h);
    memset(p + h, c, n);
    memcpy(p + h + n, tail, t);
    *len = h + n + t;
    return p;
}

START_TEST(test_too_big_lines)
{
    /* A line may hold RESP_INLINE_MAX bytes before its terminator; one more is too big, whether
     * or not the terminator has arrived, so the answer does not depend on how reads split. */
    size_t len;
    char *in;
    const size_t step = 4099;

    in = long_line("*", '1', RESP_INLINE_MAX - 1, "\r\n", &len);
    check_error_max(in, len, "Protocol error: invalid multibulk length", 100, step);
    free(in);
    in = long_line("*", '1', RESP_INLINE_MAX, "\r\n", &len);
    check_error_max(in, len, "Protocol error: too big mbulk count string", 100, step);
    free(in);
    in = long_line("*", '1', RESP_INLINE_MAX, "", &len);
    check_error_max(in, len, "Protocol error: too big mbulk count string", 100, step);
    free(in);

    in = long_line("*1\r\n$", '1', RESP_INLINE_MAX - 1, "\r\n", &len);
    check_error_max(in, len, "Protocol error: invalid bulk length", 100, step);
    free(in);
    in = long_line("*1\r\n$", '1', RESP_INLINE_MAX, "\r\n", &len);
    check_error_max(in, len, "Protocol error: too big bulk count string", 100, step);
    free(in);
    in = long_line("*1\r\n", 'X', RESP_INLINE_MAX + 1, "", &len);
    check_error_max(in, len, "Protocol error: too big bulk count string", 100, step);
    free(in);
    in = long_line("*1\r\n", 'X', RESP_INLINE_MAX, "\r\n", &len);
    check_error_max(in, len, "Protocol error: expected '$', got 'X'", 100, step);
    free(in);

    in = long_line("ECHO ", 'a', RESP_INLINE_MAX - 5, "\n", &len);
    struct resp_request r;
    resp_request_init(&r, 100);
    ck_assert_int_eq(resp_request_parse(&r, in, len - 1), RESP_MORE);
    ck_assert_int_eq(resp_request_parse(&r, in, len), RESP_DONE);
    ck_assert_int_eq(r.argc, 2);
    ck_assert_uint_eq(r.argv[1].len, RESP_INLINE_MAX - 5);
    resp_request_free(&r);
    free(in);
    in = long_line("ECHO ", 'a', RESP_INLINE_MAX - 4, "\n", &len);
    check_error_max(in, len, "Protocol error: too big inline request", 100, step);
    free(in);
    in = long_line("ECHO ", 'a', RESP_INLINE_MAX, "", &len);
    check_error_max(in, len, "Protocol error: too big inline request", 100, step);
    free(in);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Inline.
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_inline)
{
    CHECK_REQUEST("PING\r\n", 0, true, A("PING"));
    CHECK_REQUEST("PING\n", 0, true, A("PING"));
    CHECK_REQUEST("set  k\tv \r\nGET k\r\n", 11, true, A("set"), A("k"), A("v"));
    CHECK_REQUEST("  GET   k  \n", 0, true, A("GET"), A("k"));
    check_empty(S("\r\n"), 0, true);
    check_empty(S("\n"), 0, true);
    check_empty(S("   \t \r\n"), 0, true);
    check_empty(S("\r\r\n"), 0, true);
    /* Only the \r right before the newline belongs to it; another one splits arguments. */
    CHECK_REQUEST("ECHO a\rb\r\n", 0, true, A("ECHO"), A("a"), A("b"));
    /* Between arguments any isspace() byte is skipped; inside one only " \t\r\n" end it. */
    CHECK_REQUEST("\v\fECHO \vb\vc\r\n", 0, true, A("ECHO"), A("b\vc"));
    /* Bytes Redis would stop at are data to us. */
    CHECK_REQUEST("ECHO a\0b\r\n", 0, true, A("ECHO"), A("a\0b"));
}
END_TEST

START_TEST(test_inline_quotes)
{
    CHECK_REQUEST("SET \"a b\" 'c d'\r\n", 0, true, A("SET"), A("a b"), A("c d"));
    CHECK_REQUEST("ECHO \"a\\x41\\n\\r\\t\\b\\a\\\"\\\\\\q\"\r\n", 0, true, A("ECHO"),
                  A("aA\n\r\t\b\a\"\\q"));
    CHECK_REQUEST("ECHO \"\\xff\\x00\\xAb\"\n", 0, true, A("ECHO"), A("\xff\0\xab"));
    /* Not two hex digits: the backslash just escapes the 'x'. */
    CHECK_REQUEST("ECHO \"\\x4g\" \"\\x4\"\n", 0, true, A("ECHO"), A("x4g"), A("x4"));
    CHECK_REQUEST("ECHO 'a\\'b' 'c\\d'\r\n", 0, true, A("ECHO"), A("a'b"), A("c\\d"));
    CHECK_REQUEST("ECHO foo\"bar\" x'y'\r\n", 0, true, A("ECHO"), A("foobar"), A("xy"));
    CHECK_REQUEST("ECHO \"\" ''\r\n", 0, true, A("ECHO"), A(""), A(""));
    CHECK_REQUEST("ECHO \"a\rb\"\r\n", 0, true, A("ECHO"), A("a\rb"));
    CHECK_REQUEST("ECHO \"a\"\t'b'\r\n", 0, true, A("ECHO"), A("a"), A("b"));
    /* The \r before the newline is not part of the line, so this quote is followed by nothing. */
    CHECK_REQUEST("ECHO \"a\"\r\n", 0, true, A("ECHO"), A("a"));
    CHECK_REQUEST("\"\"\n", 0, true, A(""));

    const char *unbalanced = "Protocol error: unbalanced quotes in request";
    CHECK_ERROR("ECHO \"abc\r\n", unbalanced);
    CHECK_ERROR("ECHO 'abc\r\n", unbalanced);
    CHECK_ERROR("ECHO \"a\"b\r\n", unbalanced);
    CHECK_ERROR("ECHO 'a'b\r\n", unbalanced);
    CHECK_ERROR("ECHO \"a\\\"\r\n", unbalanced);
    CHECK_ERROR("ECHO \"a\\\r\n", unbalanced);
    CHECK_ERROR("ECHO 'a\\'\n", unbalanced);
    CHECK_ERROR("ECHO \"a\"\0\n", unbalanced);
    CHECK_ERROR("\"\n", unbalanced);
}
END_TEST

START_TEST(test_inline_buffer_reuse)
{
    /* Arguments of a short line after a long one must not see the long one's bytes. */
    struct resp_request r;
    resp_request_init(&r, 100);
    ck_assert_int_eq(
        resp_request_parse(&r, S("ECHO \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n")),
        RESP_DONE);
    ck_assert_uint_eq(r.argv[1].len, 91);
    resp_request_reset(&r);
    const char in[] = "GET k\n";
    ck_assert_int_eq(resp_request_parse(&r, S(in)), RESP_DONE);
    ck_assert_int_eq(r.argc, 2);
    ck_assert(memcmp(resp_request_arg(&r, in, 0), "GET", 3) == 0);
    ck_assert(memcmp(resp_request_arg(&r, in, 1), "k", 1) == 0);
    resp_request_free(&r);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Streams of commands.
 * ------------------------------------------------------------------------------------------- */

static const char pipeline[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n"
                               "GET k\r\n"
                               "*0\r\n"
                               "\r\n"
                               "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                               "ECHO \"x y\"\n"
                               "*1\r\n$4\r\nPING\r\n";

static const struct arg pipeline_args[][3] = {
    {A("SET"), A("k"), A("a\r\nb")}, {A("GET"), A("k")}, {{0}}, {{0}}, {A("GET"), A("k")},
    {A("ECHO"), A("x y")},           {A("PING")},
};
static const int pipeline_argc[] = {3, 2, 0, 0, 2, 2, 1};
#define PIPELINE_N 7

/* Feeds the pipeline as a client would: `chunk` more bytes per read, parsing each time, and
 * consuming every complete command before the next read. */
static void feed_pipeline(size_t (*chunk)(size_t i))
{
    struct resp_request r;
    struct buffer in = {0};
    size_t fed = 0, reads = 0;
    int done = 0;

    resp_request_init(&r, 1000);
    while (fed < sizeof(pipeline) - 1) {
        size_t n = chunk(reads++);
        if (n > sizeof(pipeline) - 1 - fed) n = sizeof(pipeline) - 1 - fed;
        buffer_append(&in, pipeline + fed, n);
        fed += n;
        for (;;) {
            /* Heap copy of exactly what is buffered, for ASan. */
            char *head = prefix(buffer_head(&in), buffer_len(&in));
            enum resp_result res = resp_request_parse(&r, head, buffer_len(&in));
            ck_assert_int_ne(res, RESP_ERROR);
            if (res == RESP_MORE) {
                free(head);
                break;
            }
            ck_assert_int_lt(done, PIPELINE_N);
            assert_args(&r, head, pipeline_args[done], pipeline_argc[done]);
            free(head);
            buffer_consume(&in, r.size);
            resp_request_reset(&r);
            done++;
        }
    }
    ck_assert_int_eq(done, PIPELINE_N);
    ck_assert_uint_eq(buffer_len(&in), 0);
    resp_request_free(&r);
    buffer_free(&in);
}

static size_t bytewise(size_t i)
{
    (void)i;
    return 1;
}

static size_t at_once(size_t i)
{
    (void)i;
    return SIZE_MAX;
}

static size_t uneven(size_t i)
{
    return (i * 7919) % 13 + 1;
}

START_TEST(test_pipeline)
{
    feed_pipeline(at_once);
    feed_pipeline(bytewise);
    feed_pipeline(uneven);
}
END_TEST

/* A tiny deterministic PRNG, so failures reproduce. */
static unsigned long long rng = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

START_TEST(test_encode_parse_random)
{
    /* Random binary commands, encoded by resp_append_command, parse back at random splits. */
    for (int round = 0; round < 300; round++) {
        char data[8][40];
        const char *argv[8];
        size_t argl[8];
        int argc = 1 + (int)rnd(8);
        for (int i = 0; i < argc; i++) {
            argl[i] = rnd(40);
            for (size_t j = 0; j < argl[i]; j++) data[i][j] = "\r\n$*a\0"[rnd(6)];
            argv[i] = data[i];
        }
        struct buffer out = {0};
        resp_append_command(&out, argc, argv, argl);

        struct resp_request r;
        resp_request_init(&r, 100);
        size_t split = rnd((unsigned)buffer_len(&out));
        char *head = prefix(out.data, split);
        ck_assert_int_eq(resp_request_parse(&r, head, split), RESP_MORE);
        free(head);
        ck_assert_int_eq(resp_request_parse(&r, out.data, buffer_len(&out)), RESP_DONE);
        ck_assert_uint_eq(r.size, buffer_len(&out));
        ck_assert_int_eq(r.argc, argc);
        for (int i = 0; i < argc; i++) {
            ck_assert_uint_eq(r.argv[i].len, argl[i]);
            ck_assert(memcmp(resp_request_arg(&r, out.data, i), argv[i], argl[i]) == 0);
        }
        resp_request_free(&r);
        buffer_free(&out);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Reply framer.
 * ------------------------------------------------------------------------------------------- */

/* Frames in[0..len) expecting a reply of `size` bytes (0: all of them): whole, split everywhere,
 * byte by byte. */
static void check_reply(const char *in, size_t len, size_t size)
{
    struct resp_reply r = {0};
    if (size == 0) size = len;
    resp_reply_reset(&r);
    char *whole = prefix(in, len);
    ck_assert_int_eq(resp_reply_parse(&r, whole, len), RESP_DONE);
    ck_assert_uint_eq(r.size, size);
    ck_assert_int_eq(resp_reply_parse(&r, whole, len), RESP_DONE);
    free(whole);

    for (size_t k = 0; k < size; k++) {
        resp_reply_reset(&r);
        char *head = prefix(in, k);
        ck_assert_msg(resp_reply_parse(&r, head, k) == RESP_MORE, "split at %zu", k);
        free(head);
        char *all = prefix(in, len);
        ck_assert_msg(resp_reply_parse(&r, all, len) == RESP_DONE, "split at %zu", k);
        ck_assert_uint_eq(r.size, size);
        free(all);
    }

    resp_reply_reset(&r);
    enum resp_result res = RESP_MORE;
    size_t k;
    for (k = 1; k <= len && res == RESP_MORE; k++) {
        char *head = prefix(in, k);
        res = resp_reply_parse(&r, head, k);
        free(head);
    }
    ck_assert_int_eq(res, RESP_DONE);
    ck_assert_uint_eq(k - 1, size);
}

#define CHECK_REPLY(in, size) check_reply(S(in), size)

static void check_reply_error(const char *in, size_t len, const char *error)
{
    struct resp_reply r = {0};
    resp_reply_reset(&r);
    char *whole = prefix(in, len);
    ck_assert_int_eq(resp_reply_parse(&r, whole, len), RESP_ERROR);
    ck_assert_str_eq(r.error, error);
    free(whole);
    for (size_t k = 0; k < len; k++) {
        resp_reply_reset(&r);
        char *head = prefix(in, k);
        enum resp_result res = resp_reply_parse(&r, head, k);
        free(head);
        if (res == RESP_ERROR) {
            ck_assert_str_eq(r.error, error);
            continue;
        }
        ck_assert_msg(res == RESP_MORE, "split at %zu", k);
        ck_assert_int_eq(resp_reply_parse(&r, in, len), RESP_ERROR);
        ck_assert_str_eq(r.error, error);
    }
}

#define CHECK_REPLY_ERROR(in, error) check_reply_error(S(in), error)

START_TEST(test_reply_types)
{
    CHECK_REPLY("+OK\r\n", 0);
    CHECK_REPLY("+\r\n", 0);
    CHECK_REPLY("-ERR unknown command 'x'\r\n", 0);
    CHECK_REPLY(":0\r\n", 0);
    CHECK_REPLY(":-9223372036854775808\r\n", 0);
    CHECK_REPLY("$3\r\nfoo\r\n", 0);
    CHECK_REPLY("$0\r\n\r\n", 0);
    CHECK_REPLY("$-1\r\n", 0);
    CHECK_REPLY("*-1\r\n", 0);
    CHECK_REPLY("*0\r\n", 0);
    /* A payload is skipped, not read: \r\n and type bytes inside it are data. */
    CHECK_REPLY("$10\r\n*1\r\n$3\r\n+x\r\n", 0);
    /* A lone \r inside a status line does not end it. */
    CHECK_REPLY("+a\rb\r\n", 0);
    /* Only the first reply of a pipeline. */
    CHECK_REPLY("+OK\r\n+OK\r\n", 5);
    CHECK_REPLY("$1\r\na\r\n:1\r\n", 7);
}
END_TEST

START_TEST(test_reply_nested)
{
    CHECK_REPLY("*2\r\n$1\r\na\r\n$1\r\nb\r\n", 0);
    CHECK_REPLY("*3\r\n:1\r\n*2\r\n+a\r\n*0\r\n$-1\r\n*-1\r\n", 25);
    CHECK_REPLY("*1\r\n*1\r\n*1\r\n*0\r\n:5\r\n", 16);
    CHECK_REPLY("*2\r\n*2\r\n:1\r\n:2\r\n*2\r\n:3\r\n:4\r\n", 0);
    CHECK_REPLY("*2\r\n-ERR a\r\n*1\r\n$2\r\n\r\n\r\n*1\r\n", 24);

    /* Any depth a server sends is framed (a Lua table holding itself nests 8000 deep): nested as
     * the last element, it costs one level; nested first, the stack grows. */
    enum { DEEP = 20000 };
    struct resp_reply r = {0};
    char *in = malloc(DEEP * 16 + 64);
    size_t len = 0;
    for (int i = 0; i < DEEP; i++) len += (size_t)sprintf(in + len, "*1\r\n");
    len += (size_t)sprintf(in + len, "-ERR reached lua stack limit\r\n");
    resp_reply_reset(&r);
    ck_assert_int_eq(resp_reply_parse(&r, in, len), RESP_DONE);
    ck_assert_uint_eq(r.size, len);
    for (size_t k = 0; k < len; k += 997) { /* never more than one array open */
        resp_reply_reset(&r);
        ck_assert_int_eq(resp_reply_parse(&r, in, k), RESP_MORE);
        ck_assert_uint_le(r.depth, 1);
    }
    len = 0;
    for (int i = 0; i < DEEP; i++) len += (size_t)sprintf(in + len, "*2\r\n");
    for (int i = 0; i < DEEP; i++) len += (size_t)sprintf(in + len, ":%d\r\n", i % 10);
    len += (size_t)sprintf(in + len, ":1\r\n");
    resp_reply_reset(&r);
    ck_assert_int_eq(resp_reply_parse(&r, in, len - 4), RESP_MORE);
    ck_assert_uint_eq(r.depth, 1); /* every array but the innermost waits for its second */
    ck_assert_int_eq(resp_reply_parse(&r, in, len), RESP_DONE);
    ck_assert_uint_eq(r.size, len);
    len = 0;
    for (int i = 0; i < DEEP; i++) len += (size_t)sprintf(in + len, "*2\r\n*1\r\n");
    len += (size_t)sprintf(in + len, ":0\r\n");
    for (int i = 0; i < DEEP; i++) len += (size_t)sprintf(in + len, "+x\r\n");
    resp_reply_reset(&r);
    ck_assert_int_eq(resp_reply_parse(&r, in, len - 4), RESP_MORE);
    ck_assert_uint_eq(r.depth, 1);
    resp_reply_reset(&r);
    size_t half = len - (size_t)DEEP * 4 / 2;
    ck_assert_int_eq(resp_reply_parse(&r, in, half), RESP_MORE);
    ck_assert_int_eq(resp_reply_parse(&r, in, len), RESP_DONE);
    ck_assert_uint_eq(r.size, len);
    ck_assert_uint_eq(r.cap, 0); /* what the stack took went with the reply */
    resp_reply_reset(&r);
    free(in);
    char small[1024];
    /* Depth is about nesting, not about how many arrays there are. */
    len = 0;
    len += (size_t)sprintf(small + len, "*200\r\n");
    for (int i = 0; i < 200; i++) len += (size_t)sprintf(small + len, "*0\r\n");
    check_reply(small, len, len);
}
END_TEST

START_TEST(test_reply_errors)
{
    const char *type = "Protocol error: invalid reply type byte";
    CHECK_REPLY_ERROR("?\r\n", type);
    CHECK_REPLY_ERROR("\r\n", type);
    CHECK_REPLY_ERROR("*2\r\n:1\r\nOK\r\n", type);
    CHECK_REPLY_ERROR("_\r\n", type); /* RESP3 null: not RESP2 */

    const char *bulk = "Protocol error: invalid bulk length in reply";
    CHECK_REPLY_ERROR("$-2\r\n", bulk);
    CHECK_REPLY_ERROR("$abc\r\n", bulk);
    CHECK_REPLY_ERROR("$\r\n", bulk);
    CHECK_REPLY_ERROR("$1\rx\r\n", bulk);
    CHECK_REPLY_ERROR("$99999999999999999999999999\r\n", bulk);
    CHECK_REPLY_ERROR("$1111111111111111111111111111", bulk); /* too long to be a number */
    CHECK_REPLY_ERROR("$12a", bulk);                          /* bad before the line ends */

    const char *mbulk = "Protocol error: invalid multibulk length in reply";
    CHECK_REPLY_ERROR("*-2\r\n", mbulk);
    CHECK_REPLY_ERROR("*1 \r\n", mbulk);
    CHECK_REPLY_ERROR("*1\r\n*x\r\n", mbulk);

    CHECK_REPLY_ERROR(":1.5\r\n", "Protocol error: invalid integer in reply");
    CHECK_REPLY_ERROR(":\r\n", "Protocol error: invalid integer in reply");
    CHECK_REPLY_ERROR("$3\r\nfooXY", "Protocol error: bulk reply not terminated by CRLF");
    CHECK_REPLY_ERROR("*1\r\n$0\r\nab", "Protocol error: bulk reply not terminated by CRLF");

    /* A failed framer stays failed. */
    struct resp_reply r = {0};
    resp_reply_reset(&r);
    ck_assert_int_eq(resp_reply_parse(&r, S("?")), RESP_ERROR);
    ck_assert_int_eq(resp_reply_parse(&r, S("+OK\r\n")), RESP_ERROR);
    resp_reply_reset(&r);
    ck_assert_int_eq(resp_reply_parse(&r, S("+OK\r\n")), RESP_DONE);
}
END_TEST

START_TEST(test_reply_stream)
{
    /* Replies framed one after another out of one buffer, fed in uneven reads. */
    static const char in[] = "+OK\r\n$3\r\nbar\r\n*2\r\n$1\r\na\r\n$-1\r\n:42\r\n-ERR x\r\n*-1\r\n"
                             "*1\r\n*1\r\n+deep\r\n";
    static const size_t sizes[] = {5, 9, 16, 5, 8, 5, 15};
    struct resp_reply r = {0};
    struct buffer b = {0};
    size_t fed = 0, reads = 0;
    int done = 0;

    resp_reply_reset(&r);
    while (fed < sizeof(in) - 1) {
        size_t n = uneven(reads++);
        if (n > sizeof(in) - 1 - fed) n = sizeof(in) - 1 - fed;
        buffer_append(&b, in + fed, n);
        fed += n;
        enum resp_result res;
        while ((res = resp_reply_parse(&r, buffer_head(&b), buffer_len(&b))) == RESP_DONE) {
            ck_assert_uint_eq(r.size, sizes[done++]);
            buffer_consume(&b, r.size);
            resp_reply_reset(&r);
        }
        ck_assert_int_eq(res, RESP_MORE);
    }
    ck_assert_int_eq(done, 7);
    buffer_free(&b);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Value reader.
 * ------------------------------------------------------------------------------------------- */

START_TEST(test_value_read)
{
    struct resp_value v;

    ck_assert_uint_eq(resp_value_read(S("+OK\r\n"), &v), 5);
    ck_assert_int_eq(v.type, '+');
    ck_assert_uint_eq(v.len, 2);
    ck_assert(memcmp(v.str, "OK", 2) == 0);

    ck_assert_uint_eq(resp_value_read(S("-ERR no\r\n+x"), &v), 9);
    ck_assert_int_eq(v.type, '-');
    ck_assert_uint_eq(v.len, 6);
    ck_assert(memcmp(v.str, "ERR no", 6) == 0);

    ck_assert_uint_eq(resp_value_read(S(":-42\r\n"), &v), 6);
    ck_assert_int_eq(v.type, ':');
    ck_assert_int_eq(v.integer, -42);

    ck_assert_uint_eq(resp_value_read(S("$5\r\na\r\nbc\r\n"), &v), 11);
    ck_assert_int_eq(v.type, '$');
    ck_assert_uint_eq(v.len, 5);
    ck_assert(memcmp(v.str, "a\r\nbc", 5) == 0);

    ck_assert_uint_eq(resp_value_read(S("$0\r\n\r\n"), &v), 6);
    ck_assert_ptr_nonnull(v.str);
    ck_assert_uint_eq(v.len, 0);

    ck_assert_uint_eq(resp_value_read(S("$-1\r\n"), &v), 5);
    ck_assert_int_eq(v.type, '$');
    ck_assert_ptr_null(v.str);

    /* An array: only the header, so the next read is its first element. */
    const char arr[] = "*2\r\n:1\r\n$1\r\nx\r\n";
    size_t n = resp_value_read(S(arr), &v);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(v.type, '*');
    ck_assert_int_eq(v.integer, 2);
    n += resp_value_read(arr + n, sizeof(arr) - 1 - n, &v);
    ck_assert_int_eq(v.integer, 1);
    n += resp_value_read(arr + n, sizeof(arr) - 1 - n, &v);
    ck_assert_uint_eq(n, sizeof(arr) - 1);
    ck_assert(memcmp(v.str, "x", 1) == 0);

    ck_assert_uint_eq(resp_value_read(S("*-1\r\n"), &v), 5);
    ck_assert_int_eq(v.integer, -1);
    ck_assert_uint_eq(resp_value_read(S("*0\r\n"), &v), 4);
    ck_assert_int_eq(v.integer, 0);

    /* Malformed or cut short: 0. */
    ck_assert_uint_eq(resp_value_read("", 0, &v), 0);
    ck_assert_uint_eq(resp_value_read(S("?\r\n"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("+OK"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("+OK\r"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S(":x\r\n"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S(":1"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("$3\r\nfo"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("$3\r\nfoo\r"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("$3\r\nfooxx"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("$-2\r\n"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("*-2\r\n"), &v), 0);
    ck_assert_uint_eq(resp_value_read(S("$9223372036854775807\r\nx\r\n"), &v), 0);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Encoders.
 * ------------------------------------------------------------------------------------------- */

static void assert_buffer(struct buffer *b, const char *want, size_t len)
{
    ck_assert_uint_eq(buffer_len(b), len);
    ck_assert_msg(memcmp(buffer_head(b), want, len) == 0, "got %.*s", (int)buffer_len(b),
                  buffer_head(b));
    buffer_clear(b);
}

#define ASSERT_BUFFER(b, want) assert_buffer(b, S(want))

START_TEST(test_encoders)
{
    struct buffer b = {0};

    const char *argv[] = {"SET", "k", "a\r\nb", ""};
    const size_t argl[] = {3, 1, 4, 0};
    resp_append_command(&b, 4, argv, argl);
    ASSERT_BUFFER(&b, "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$0\r\n\r\n");
    resp_append_command(&b, 0, NULL, NULL);
    ASSERT_BUFFER(&b, "*0\r\n");

    resp_append_bulk(&b, "hello", 5);
    resp_append_bulk(&b, "", 0);
    resp_append_bulk(&b, NULL, 0);
    ASSERT_BUFFER(&b, "$5\r\nhello\r\n$0\r\n\r\n$-1\r\n");

    resp_append_status(&b, "OK");
    resp_append_status(&b, "a\r\nb");
    ASSERT_BUFFER(&b, "+OK\r\n+a  b\r\n");

    resp_append_error(&b, "ERR unknown command '%s'", "x\r\ny");
    resp_append_error(&b, "WRONGTYPE %d", 7);
    ASSERT_BUFFER(&b, "-ERR unknown command 'x  y'\r\n-WRONGTYPE 7\r\n");
    /* Longer than any stack scratch. */
    char big[1000];
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    resp_append_error(&b, "ERR %s\r\nx", big);
    ck_assert_uint_eq(buffer_len(&b), 1 + 4 + 999 + 3 + 2);
    ck_assert(memcmp(buffer_head(&b) + 1004, "  x\r\n", 5) == 0);
    buffer_clear(&b);
    /* Like Redis, newlines at either end are trimmed rather than blanked. */
    resp_append_error(&b, "\r\nERR %s\n", "end\r\n");
    ASSERT_BUFFER(&b, "-ERR end\r\n");
    resp_append_error(&b, "%s", "\n\r");
    ASSERT_BUFFER(&b, "-\r\n");

    resp_append_integer(&b, 0);
    resp_append_integer(&b, 7);
    resp_append_integer(&b, 10);
    resp_append_integer(&b, -99);
    resp_append_integer(&b, 100);
    resp_append_integer(&b, 1234567890123LL);
    resp_append_integer(&b, LLONG_MAX);
    resp_append_integer(&b, LLONG_MIN);
    ASSERT_BUFFER(&b, ":0\r\n:7\r\n:10\r\n:-99\r\n:100\r\n:1234567890123\r\n"
                      ":9223372036854775807\r\n:-9223372036854775808\r\n");

    resp_append_array_header(&b, 3);
    resp_append_array_header(&b, -1);
    ASSERT_BUFFER(&b, "*3\r\n*-1\r\n");
    buffer_free(&b);
}
END_TEST

START_TEST(test_integer_round_trip)
{
    /* Every power of ten and its neighbours, through the encoder and back. */
    struct buffer b = {0};
    long long vals[64];
    int n = 0;
    for (long long p = 1; n < 57; p *= 10) {
        vals[n++] = p - 1;
        vals[n++] = p;
        vals[n++] = -p;
        if (p > LLONG_MAX / 10) break;
    }
    vals[n++] = LLONG_MAX;
    vals[n++] = LLONG_MIN;
    for (int i = 0; i < n; i++) {
        struct resp_value v;
        char want[32];
        resp_append_integer(&b, vals[i]);
        snprintf(want, sizeof(want), ":%lld\r\n", vals[i]);
        ck_assert_uint_eq(buffer_len(&b), strlen(want));
        ck_assert(memcmp(buffer_head(&b), want, strlen(want)) == 0);
        ck_assert_uint_eq(resp_value_read(buffer_head(&b), buffer_len(&b), &v), strlen(want));
        ck_assert_int_eq(v.integer, vals[i]);
        buffer_clear(&b);
    }
    buffer_free(&b);
}
END_TEST

START_TEST(test_encoders_frame)
{
    /* Whatever the encoders write, the framer frames as one reply and value_read decodes. */
    struct buffer b = {0};
    resp_append_array_header(&b, 5);
    resp_append_status(&b, "OK");
    resp_append_error(&b, "ERR %s", "bad");
    resp_append_integer(&b, -5);
    resp_append_bulk(&b, "a\r\nb", 4);
    resp_append_bulk(&b, NULL, 0);
    check_reply(buffer_head(&b), buffer_len(&b), buffer_len(&b));

    struct resp_value v;
    const char *p = buffer_head(&b);
    size_t left = buffer_len(&b), n;
    n = resp_value_read(p, left, &v);
    ck_assert_int_eq(v.integer, 5);
    p += n, left -= n;
    n = resp_value_read(p, left, &v);
    ck_assert_int_eq(v.type, '+');
    p += n, left -= n;
    n = resp_value_read(p, left, &v);
    ck_assert_int_eq(v.type, '-');
    ck_assert(v.len == 7 && memcmp(v.str, "ERR bad", 7) == 0);
    p += n, left -= n;
    n = resp_value_read(p, left, &v);
    ck_assert_int_eq(v.integer, -5);
    p += n, left -= n;
    n = resp_value_read(p, left, &v);
    ck_assert(v.len == 4 && memcmp(v.str, "a\r\nb", 4) == 0);
    p += n, left -= n;
    n = resp_value_read(p, left, &v);
    ck_assert_ptr_null(v.str);
    ck_assert_uint_eq(n, left);
    buffer_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("resp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_multibulk);
    tcase_add_test(tc, test_multibulk_binary);
    tcase_add_test(tc, test_multibulk_redis_quirks);
    tcase_add_test(tc, test_multibulk_errors);
    tcase_add_test(tc, test_max_bulk_len);
    tcase_add_test(tc, test_unauthenticated_limits);
    tcase_add_test(tc, test_huge_claimed_count);
    tcase_add_test(tc, test_too_big_lines);
    tcase_add_test(tc, test_inline);
    tcase_add_test(tc, test_inline_quotes);
    tcase_add_test(tc, test_inline_buffer_reuse);
    tcase_add_test(tc, test_pipeline);
    tcase_add_test(tc, test_encode_parse_random);
    tcase_add_test(tc, test_reply_types);
    tcase_add_test(tc, test_reply_nested);
    tcase_add_test(tc, test_reply_errors);
    tcase_add_test(tc, test_reply_stream);
    tcase_add_test(tc, test_value_read);
    tcase_add_test(tc, test_encoders);
    tcase_add_test(tc, test_integer_round_trip);
    tcase_add_test(tc, test_encoders_frame);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
