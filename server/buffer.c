#include "buffer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "redpair: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

char *buffer_reserve(struct buffer *b, size_t n)
{
    if (b->pos == b->end) b->pos = b->end = 0;
    if (b->cap - b->end >= n) return b->data + b->end;
    if (b->pos > 0 && b->cap - buffer_len(b) >= n && b->pos >= b->cap / 2) {
        memmove(b->data, b->data + b->pos, buffer_len(b));
        b->end -= b->pos;
        b->pos = 0;
        return b->data + b->end;
    }
    size_t need = b->end + n, cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return b->data + b->end;
}

void buffer_commit(struct buffer *b, size_t n)
{
    b->end += n;
}

void buffer_append(struct buffer *b, const void *p, size_t n)
{
    memcpy(buffer_reserve(b, n), p, n);
    b->end += n;
}

void buffer_appendf(struct buffer *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    char *tail = buffer_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(tail, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->end += (size_t)n;
}

void buffer_consume(struct buffer *b, size_t n)
{
    b->pos += n;
    if (b->pos >= b->end) b->pos = b->end = 0;
}

void buffer_clear(struct buffer *b)
{
    b->pos = b->end = 0;
}

void buffer_shrink(struct buffer *b, size_t keep)
{
    if (b->pos != b->end || b->cap <= keep) return;
    free(b->data);
    b->data = NULL;
    b->pos = b->end = b->cap = 0;
}

void buffer_free(struct buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->pos = b->end = b->cap = 0;
}
