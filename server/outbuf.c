#include "outbuf.h"

int outbuf_flush(struct outbuf *o, uv_stream_t *stream, uv_write_cb done)
{
    if (o->writing || buffer_len(&o->queued) == 0) return 0;
    if (o->tls) {
        int err = tls_write(o->tls, buffer_head(&o->queued), buffer_len(&o->queued), done);
        buffer_clear(&o->queued);
        return err;
    }

    uv_buf_t buf = uv_buf_init(buffer_head(&o->queued), (unsigned)buffer_len(&o->queued));
    int n = uv_try_write(stream, &buf, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) return n;
    buffer_consume(&o->queued, (size_t)n);
    if (buffer_len(&o->queued) == 0) return 0;

    /* The kernel is full: hand the rest to libuv and start a fresh queue. */
    struct buffer swap = o->inflight;
    o->inflight = o->queued;
    o->queued = swap;
    buffer_clear(&o->queued);
    buf = uv_buf_init(buffer_head(&o->inflight), (unsigned)buffer_len(&o->inflight));
    int err = uv_write(&o->req, stream, &buf, 1, done);
    if (err) return err;
    o->writing = true;
    return 0;
}

int outbuf_written(struct outbuf *o, int status)
{
    o->writing = false;
    buffer_clear(&o->inflight);
    buffer_shrink(&o->inflight, 1 << 20);
    return status;
}

void outbuf_free(struct outbuf *o)
{
    buffer_free(&o->queued);
    buffer_free(&o->inflight);
    tls_free(o->tls);
    o->tls = NULL;
}
