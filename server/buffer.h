/* A growable byte buffer with a read cursor: connections read into its free tail, the parser
 * consumes from its head, and replies are appended to it. Compaction is lazy, so consuming is
 * O(1) and the common "everything was consumed" case resets the buffer without copying. */
#ifndef REDPAIR_BUFFER_H
#define REDPAIR_BUFFER_H

#include <stddef.h>

struct buffer {
    char *data;
    size_t pos; /* first unconsumed byte */
    size_t end; /* one past the last byte */
    size_t cap;
};

static inline size_t buffer_len(const struct buffer *b)
{
    return b->end - b->pos;
}

static inline char *buffer_head(const struct buffer *b)
{
    return b->data + b->pos;
}

/* realloc that aborts with a message when memory runs out. */
void *xrealloc(void *p, size_t n);

/* Makes room for at least n more bytes at the tail; returns the tail. Aborts on OOM. */
char *buffer_reserve(struct buffer *b, size_t n);
void buffer_commit(struct buffer *b, size_t n); /* n bytes were written at the tail */
void buffer_append(struct buffer *b, const void *p, size_t n);
void buffer_appendf(struct buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buffer_consume(struct buffer *b, size_t n);
void buffer_clear(struct buffer *b);
/* Gives memory back when a buffer grew for one large message and is now empty. */
void buffer_shrink(struct buffer *b, size_t keep);
void buffer_free(struct buffer *b);

#endif
