/* The outgoing side of a connection, shared by clients and backend links.
 *
 * Bytes are appended to `queued` as replies and requests are produced. Once per loop turn the
 * proxy flushes every connection it marked dirty: uv_try_write sends what the kernel takes at
 * once, and only a remainder goes to a uv_write, whose buffer (`inflight`) stays untouched until
 * its callback. Meanwhile new bytes keep queueing, so there is never more than one write in flight
 * and order is kept without a chain of write requests.
 *
 * Over TLS (`tls` not NULL) the queued bytes go to tls_write, which encrypts them at once and
 * leaves the ciphertext libuv could not send yet in the stream's own write queue: the length
 * counts it, so flow control sees the same backlog as on a plain connection. */
#ifndef REDPAIR_OUTBUF_H
#define REDPAIR_OUTBUF_H

#include <stdbool.h>
#include <uv.h>

#include "buffer.h"
#include "tls.h"

struct outbuf {
    struct buffer queued;
    struct buffer inflight;
    uv_write_t req;
    bool writing;
    struct tls *tls; /* NULL: plain */
};

static inline size_t outbuf_len(const struct outbuf *o)
{
    return buffer_len(&o->queued) + buffer_len(&o->inflight) + (o->tls ? tls_unsent(o->tls) : 0);
}

/* Sends what is queued. Returns 0, or a libuv error code when the connection is broken. `done`
 * is called when a uv_write started here completes; it must call outbuf_written() first. */
int outbuf_flush(struct outbuf *o, uv_stream_t *stream, uv_write_cb done);
/* Settles a completed uv_write; returns its status. */
int outbuf_written(struct outbuf *o, int status);
/* Frees the buffers and the TLS state: from the stream's close callback. */
void outbuf_free(struct outbuf *o);

#endif
