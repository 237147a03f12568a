#include "holdq.h"

#include <stdlib.h>

#include "request.h"

void holdq_push(struct holdq *q, struct request *req, uint64_t offset, int db, const char *bytes,
                size_t len)
{
    struct hold *h = calloc(1, sizeof(*h));
    if (!h) abort();
    h->req = req;
    h->offset = offset;
    h->db = db;
    h->resolved = bytes != NULL;
    if (len) buffer_append(&h->bytes, bytes, len);
    if (req) request_ref(req);
    if (q->tail)
        q->tail->next = h;
    else
        q->head = h;
    q->tail = h;
}

static struct hold *pop(struct holdq *q)
{
    struct hold *h = q->head;
    q->head = h->next;
    if (!q->head) q->tail = NULL;
    return h;
}

static void release(struct hold *h)
{
    if (h->req) request_unref(h->req);
    buffer_free(&h->bytes);
    free(h);
}

void holdq_resolve(struct holdq *q, struct request *req, const char *bytes, size_t len,
                   holdq_emit emit, void *ctx)
{
    struct hold *h = q->head;
    while (h && (h->req != req || h->resolved)) h = h->next;
    if (!h) return; /* the queue was cleared meanwhile */
    h->resolved = true;
    if (len) buffer_append(&h->bytes, bytes, len);

    while (q->head && q->head->resolved) {
        h = pop(q);
        emit(ctx, h->req, h->offset, h->db, buffer_head(&h->bytes), buffer_len(&h->bytes));
        release(h);
    }
}

void holdq_clear(struct holdq *q, void (*lost)(void *ctx, struct request *req), void *ctx)
{
    while (q->head) {
        struct hold *h = pop(q);
        if (lost && h->req) lost(ctx, h->req);
        release(h);
    }
}
