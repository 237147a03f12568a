/* Fuzzes the request parser. The input is a client's byte stream; it is parsed command by command
 * three ways (whole, split in two at a point derived from the input, and fed in small steps) and
 * all three must agree. Every command parsed is re-encoded and must parse back the same. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "resp.h"

static uint64_t hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* The result of parsing one command, kept to compare the ways of feeding it. */
struct outcome {
    enum resp_result res;
    size_t size;
    const char *error;
    int argc;
};

/* Checks what a parser that returned res says about buf[0..len). */
static void check_result(const struct resp_request *r, enum resp_result res, const char *buf,
                         size_t len)
{
    (void)buf;
    if (res == RESP_ERROR) {
        CHECK(r->error != NULL);
        CHECK(strncmp(r->error, "Protocol error: ", 16) == 0);
        return;
    }
    if (res == RESP_MORE) return;
    CHECK(res == RESP_DONE);
    CHECK(r->size > 0 && r->size <= len);
    CHECK(r->argc >= 0 && r->argc <= RESP_MULTIBULK_MAX);
    CHECK(r->argc <= r->argv_cap || r->argc == 0);
    for (int i = 0; i < r->argc; i++) {
        const struct resp_arg *a = &r->argv[i];
        if (r->is_inline) {
            CHECK(a->off <= r->size && a->len <= r->size - a->off);
            CHECK(a->off + a->len <= r->inline_cap);
        } else {
            /* Inside the command, and past its header. */
            CHECK(a->off >= 4 && a->off <= r->size && a->len + 2 <= r->size - a->off);
            if (r->max_bulk_len >= 0) CHECK((long long)a->len <= r->max_bulk_len);
        }
    }
}

static void same_args(const struct resp_request *a, const char *abuf, const struct resp_request *b,
                      const char *bbuf)
{
    CHECK(a->argc == b->argc);
    for (int i = 0; i < a->argc; i++) {
        CHECK(a->argv[i].len == b->argv[i].len);
        CHECK(memcmp(resp_request_arg(a, abuf, i), resp_request_arg(b, bbuf, i), a->argv[i].len) ==
              0);
    }
}

static void same(const struct outcome *o, const struct resp_request *r, enum resp_result res)
{
    CHECK(o->res == res);
    if (res == RESP_DONE) {
        CHECK(o->size == r->size);
        CHECK(o->argc == r->argc);
    }
    if (res == RESP_ERROR) CHECK(strcmp(o->error, r->error) == 0);
}

/* Re-encodes a parsed command; it must parse back to the same arguments. */
static void round_trip(const struct resp_request *r, const char *buf)
{
    if (r->argc == 0 || r->argc > 4096) return;
    const char **argv = malloc(sizeof(*argv) * (size_t)r->argc);
    size_t *argl = malloc(sizeof(*argl) * (size_t)r->argc);
    for (int i = 0; i < r->argc; i++) {
        argv[i] = resp_request_arg(r, buf, i);
        argl[i] = r->argv[i].len;
    }
    struct buffer out = {0};
    resp_append_command(&out, r->argc, argv, argl);

    struct resp_request back;
    resp_request_init(&back, LLONG_MAX);
    CHECK(resp_request_parse(&back, out.data, buffer_len(&out)) == RESP_DONE);
    CHECK(back.size == buffer_len(&out));
    CHECK(!back.is_inline);
    same_args(r, buf, &back, out.data);
    resp_request_free(&back);
    buffer_free(&out);
    free(argv);
    free(argl);
}

/* A heap copy of exactly n bytes, so that reading past them is an ASan error. */
static char *copy(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = hash(data, size);
    long long max_bulk = (h & 1) ? 512LL * 1024 * 1024 : (long long)((h >> 1) % 64);
    size_t step = 1 + (size_t)((h >> 8) % 7);
    struct resp_request whole, split, steps;
    size_t off = 0;

    resp_request_init(&whole, max_bulk);
    resp_request_init(&split, max_bulk);
    resp_request_init(&steps, max_bulk);

    /* A pipeline: parse, consume, reset, parse the next. */
    for (int cmds = 0; off < size && cmds < 10000; cmds++) {
        size_t len = size - off;
        const char *buf = (const char *)data + off;
        enum resp_result res = resp_request_parse(&whole, buf, len);
        check_result(&whole, res, buf, len);
        struct outcome o = {res, whole.size, whole.error, whole.argc};

        /* Split in two. */
        size_t k = (size_t)((h >> 16) ^ (uint64_t)cmds * 0x9e3779b97f4a7c15ULL) % (len + 1);
        char *head = copy(data + off, k);
        enum resp_result r1 = resp_request_parse(&split, head, k);
        check_result(&split, r1, head, k);
        if (r1 == RESP_MORE) {
            r1 = resp_request_parse(&split, buf, len);
            check_result(&split, r1, buf, len);
            same(&o, &split, r1);
            if (r1 == RESP_DONE) same_args(&whole, buf, &split, buf);
        } else {
            /* Decided on a prefix: the whole must decide the same. */
            same(&o, &split, r1);
            if (r1 == RESP_DONE) same_args(&whole, buf, &split, head);
        }
        free(head);

        /* Growing a few bytes at a time, each prefix in its own exact-size block. */
        enum resp_result r2 = RESP_MORE;
        /* Each prefix is copied, so long inputs take bigger steps to stay fast. */
        size_t stride = step + len / 128;
        for (size_t n = 0; n < len && r2 == RESP_MORE;) {
            n = n + stride < len ? n + stride : len;
            char *p = copy(data + off, n);
            r2 = resp_request_parse(&steps, p, n);
            check_result(&steps, r2, p, n);
            if (r2 == RESP_DONE) same_args(&whole, buf, &steps, p);
            free(p);
        }
        same(&o, &steps, r2);

        if (res != RESP_DONE) break;
        round_trip(&whole, buf);
        off += whole.size;
        resp_request_reset(&whole);
        resp_request_reset(&split);
        resp_request_reset(&steps);
    }

    resp_request_free(&whole);
    resp_request_free(&split);
    resp_request_free(&steps);
    return 0;
}
