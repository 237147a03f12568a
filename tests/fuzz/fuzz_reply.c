/* Fuzzes the reply framer and the value reader. The input is a backend's byte stream; it is
 * framed reply by reply three ways (whole, split in two at a point derived from the input, and
 * fed in small steps) and all three must agree. Each framed reply is then walked with
 * resp_value_read(), which must consume exactly the framed size, and every value is re-encoded
 * with the encoders, which must give back the same bytes. */
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

static void check_result(const struct resp_reply *r, enum resp_result res, size_t len)
{
    CHECK(r->depth <= r->pos); /* every open array took bytes */
    CHECK(r->cap == 0 || r->depth <= r->cap);
    CHECK(r->pos <= len);
    if (res == RESP_ERROR) {
        CHECK(r->error && strncmp(r->error, "Protocol error: ", 16) == 0);
    } else if (res == RESP_DONE) {
        CHECK(r->size > 0 && r->size <= len);
        CHECK(r->depth == 0 && r->cap == 0);
    } else {
        CHECK(res == RESP_MORE);
    }
}

static void same(enum resp_result a, const struct resp_reply *ra, enum resp_result b,
                 const struct resp_reply *rb)
{
    CHECK(a == b);
    if (a == RESP_DONE) CHECK(ra->size == rb->size);
    if (a == RESP_ERROR) CHECK(strcmp(ra->error, rb->error) == 0);
}

/* Re-encodes one value; it must come out as the bytes it was read from. */
static void reencode(const struct resp_value *v, const char *at, size_t n)
{
    struct buffer out = {0};

    switch (v->type) {
    case '+':
    case '-':
        /* The encoders blank \r and \n inside a line (Redis never sends them), and take C
         * strings. */
        if (memchr(v->str, '\r', v->len) || memchr(v->str, '\n', v->len) ||
            memchr(v->str, '\0', v->len))
            return;
        if (v->type == '-') {
            resp_append_error(&out, "%.*s", (int)v->len, v->str);
        } else {
            char *s = malloc(v->len + 1);
            memcpy(s, v->str, v->len);
            s[v->len] = '\0';
            resp_append_status(&out, s);
            free(s);
        }
        break;
    case ':': resp_append_integer(&out, v->integer); break;
    case '$': resp_append_bulk(&out, v->str, v->len); break;
    case '*': resp_append_array_header(&out, v->integer); break;
    default: CHECK(0);
    }
    CHECK(buffer_len(&out) == n);
    CHECK(memcmp(out.data, at, n) == 0);
    buffer_free(&out);
}

/* Walks a framed reply value by value. */
static void walk(const char *buf, size_t size)
{
    size_t pos = 0;
    unsigned long long todo = 1;

    while (todo > 0) {
        struct resp_value v;
        size_t n = resp_value_read(buf + pos, size - pos, &v);
        CHECK(n > 0 && n <= size - pos);
        if (v.type == '$' && v.str) {
            CHECK(v.str >= buf + pos && v.str + v.len <= buf + pos + n);
        }
        reencode(&v, buf + pos, n);
        pos += n;
        todo--;
        if (v.type == '*' && v.integer > 0) {
            /* Framed, so every element is there: each takes at least 3 bytes. */
            CHECK((unsigned long long)v.integer <= (size - pos) / 3);
            todo += (unsigned long long)v.integer;
        }
    }
    CHECK(pos == size);
}

static char *copy(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = hash(data, size);
    size_t step = 1 + (size_t)((h >> 8) % 7);
    struct resp_reply whole = {0}, split = {0}, steps = {0};
    size_t off = 0;

    resp_reply_reset(&whole);
    for (int replies = 0; off < size && replies < 10000; replies++) {
        size_t len = size - off;
        const char *buf = (const char *)data + off;
        enum resp_result res = resp_reply_parse(&whole, buf, len);
        check_result(&whole, res, len);

        /* Split in two. */
        resp_reply_reset(&split);
        size_t k = (size_t)((h >> 16) ^ (uint64_t)replies * 0x9e3779b97f4a7c15ULL) % (len + 1);
        char *head = copy(data + off, k);
        enum resp_result r1 = resp_reply_parse(&split, head, k);
        check_result(&split, r1, k);
        free(head);
        if (r1 == RESP_MORE) {
            r1 = resp_reply_parse(&split, buf, len);
            check_result(&split, r1, len);
        }
        same(res, &whole, r1, &split);

        /* Growing a few bytes at a time. */
        resp_reply_reset(&steps);
        enum resp_result r2 = RESP_MORE;
        /* Each prefix is copied, so long inputs take bigger steps to stay fast. */
        size_t stride = step + len / 128;
        for (size_t n = 0; n < len && r2 == RESP_MORE;) {
            n = n + stride < len ? n + stride : len;
            char *p = copy(data + off, n);
            r2 = resp_reply_parse(&steps, p, n);
            check_result(&steps, r2, n);
            free(p);
        }
        same(res, &whole, r2, &steps);

        if (res != RESP_DONE) break;
        walk(buf, whole.size);
        off += whole.size;
        resp_reply_reset(&whole);
    }
    resp_reply_reset(&whole);
    resp_reply_reset(&split);
    resp_reply_reset(&steps);
    return 0;
}
