/* The outgoing side of a connection, shared by clients and backend links.
 *
 * Bytes are appended to `queued` as replies and requests are produced. Once per loop turn the
 * proxy flushes every connection it marked dirty: uv_try_write sends what the kernel takes at
 * once, and only a remainder goes to a uv_write, whose buffer (`inflight`) stays untouched until
 * its callback. Meanwhile new bytes keep queueing, so there is never more than one write in flight
 * and order is kept without a chain of write requests. */
#ifndef REDPAIR_OUTBUF_H
#define REDPAIR_OUTBUF_H

#include <stdbool.h>
#include <uv.h>

#include "buffer.h"

struct outbuf {
    struct buffer queued;
    struct buffer inflight;
    uv_write_t req;
    bool writing;
};

static inline size_t outbuf_len(const struct outbuf *o)
{
    return buffer_len(&o->queued) + buffer_len(&o->inflight);
}

/* Sends what is queued. Returns 0, or a libuv error code when the connection is broken. `done`
 * is called when a uv_write started here completes; it must call outbuf_written() first. */
int outbuf_flush(struct outbuf *o, uv_stream_t *stream, uv_write_cb done);
/* Settles a completed uv_write; returns its status. */
int outbuf_written(struct outbuf *o, int status);
void outbuf_free(struct outbuf *o);

#endif
