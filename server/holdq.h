/* A hold queue keeps a stream in order while some of its entries still wait for their bytes.
 *
 * A write mirrored by effect (SPOP mirrored as SREM) is known only once the primary has answered,
 * yet the writes sequenced after it must not overtake it. Its entry is pushed unresolved; later
 * entries queue behind it, resolved; holdq_resolve() fills it in and releases, in order, every
 * entry at the head that is now resolved. Backend links and the backlog each keep one. */
#ifndef REDPAIR_HOLDQ_H
#define REDPAIR_HOLDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

struct request;

struct hold {
    struct request *req;
    uint64_t offset;
    int db;
    bool resolved;
    struct buffer bytes; /* empty when resolved to nothing */
    struct hold *next;
};

struct holdq {
    struct hold *head, *tail;
};

/* Receives each released entry; len 0 means the write turned out to need nothing. */
typedef void (*holdq_emit)(void *ctx, struct request *req, uint64_t offset, int db,
                           const char *bytes, size_t len);

static inline bool holdq_busy(const struct holdq *q)
{
    return q->head != NULL;
}

/* Queues an entry behind the others: resolved with its bytes, or (bytes NULL) waiting for them. */
void holdq_push(struct holdq *q, struct request *req, uint64_t offset, int db, const char *bytes,
                size_t len);
/* Supplies the bytes of req's entry, then releases every resolved entry at the head. */
void holdq_resolve(struct holdq *q, struct request *req, const char *bytes, size_t len,
                   holdq_emit emit, void *ctx);
/* Empties the queue, handing each request to `lost` (may be NULL). */
void holdq_clear(struct holdq *q, void (*lost)(void *ctx, struct request *req), void *ctx);

#endif
