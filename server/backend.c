#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy.h"
#include "request.h"

#define RECONNECT_MS 200
#define READ_CHUNK   (16 * 1024)

static void on_connect(uv_connect_t *req, int status);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

const char *backend_state_name(enum backend_state s)
{
    switch (s) {
    case BACKEND_IN_SYNC: return "in-sync";
    case BACKEND_STALE: return "stale";
    case BACKEND_DOWN: break;
    }
    return "down";
}

void backend_init(struct backend *b, int index, const char *name, const char *host, int port)
{
    memset(b, 0, sizeof(*b));
    b->index = index;
    b->name = name;
    b->host = host;
    b->port = port;
    b->state = BACKEND_DOWN;
    uv_timer_init(proxy.loop, &b->retry);
    b->retry.data = b;
}

static void fifo_push(struct backend *b, struct request *req)
{
    if (b->fifo_len == b->fifo_cap) {
        size_t cap = b->fifo_cap ? b->fifo_cap * 2 : 64;
        struct pending *f = malloc(cap * sizeof(*f));
        if (!f) abort();
        for (size_t i = 0; i < b->fifo_len; i++) f[i] = b->fifo[(b->fifo_head + i) % b->fifo_cap];
        free(b->fifo);
        b->fifo = f;
        b->fifo_cap = cap;
        b->fifo_head = 0;
    }
    b->fifo[(b->fifo_head + b->fifo_len) % b->fifo_cap].req = req;
    b->fifo_len++;
}

static struct request *fifo_pop(struct backend *b)
{
    struct request *req = b->fifo[b->fifo_head].req;
    b->fifo_head = (b->fifo_head + 1) % b->fifo_cap;
    b->fifo_len--;
    return req;
}

/* Puts redpair's own command on the wire; its reply is checked, not forwarded. */
static void send_internal(struct backend *b, int argc, const char **argv)
{
    size_t argl[4];
    for (int i = 0; i < argc; i++) argl[i] = strlen(argv[i]);
    resp_append_command(&b->out.queued, argc, argv, argl);
    fifo_push(b, NULL);
}

static void emit(struct backend *b, struct request *req, int db, const char *bytes, size_t len)
{
    if (db != b->db) {
        char num[16];
        snprintf(num, sizeof(num), "%d", db);
        send_internal(b, 2, (const char *[]){"SELECT", num});
        b->db = db;
    }
    buffer_append(&b->out.queued, bytes, len);
    fifo_push(b, req);
    request_ref(req);
    proxy_mark_backend_dirty(b);
}

static struct held *held_push(struct backend *b, struct request *req, int db)
{
    struct held *h = calloc(1, sizeof(*h));
    if (!h) abort();
    h->req = req;
    h->db = db;
    request_ref(req);
    if (b->held_tail)
        b->held_tail->next = h;
    else
        b->held_head = h;
    b->held_tail = h;
    return h;
}

void backend_send(struct backend *b, struct request *req, int db, const char *bytes, size_t len)
{
    if (!b->held_head) {
        emit(b, req, db, bytes, len);
        return;
    }
    struct held *h = held_push(b, req, db);
    h->resolved = true;
    buffer_append(&h->bytes, bytes, len);
}

void backend_hold(struct backend *b, struct request *req, int db)
{
    held_push(b, req, db);
}

void backend_resolve(struct backend *b, struct request *req, const char *bytes, size_t len)
{
    struct held *h = b->held_head;
    while (h && h->req != req) h = h->next;
    if (!h) return; /* the link went down meanwhile and dropped its queue */
    h->resolved = true;
    buffer_clear(&h->bytes);
    if (len) buffer_append(&h->bytes, bytes, len);

    while ((h = b->held_head) && h->resolved) {
        b->held_head = h->next;
        if (!b->held_head) b->held_tail = NULL;
        if (buffer_len(&h->bytes))
            emit(b, h->req, h->db, buffer_head(&h->bytes), buffer_len(&h->bytes));
        request_unref(h->req);
        buffer_free(&h->bytes);
        free(h);
    }
}

static void on_retry(uv_timer_t *t)
{
    backend_connect(t->data);
}

void backend_connect(struct backend *b)
{
    struct sockaddr_storage addr;
    if (uv_ip4_addr(b->host, b->port, (struct sockaddr_in *)&addr) &&
        uv_ip6_addr(b->host, b->port, (struct sockaddr_in6 *)&addr)) {
        log_warning("backend '%s': '%s' is not an IP address", b->name, b->host);
        return;
    }
    uv_tcp_init(proxy.loop, &b->tcp);
    b->tcp.data = b;
    b->connect_req.data = b;
    int err = uv_tcp_connect(&b->connect_req, &b->tcp, (struct sockaddr *)&addr, on_connect);
    if (err) on_connect(&b->connect_req, err);
}

static void on_closed(uv_handle_t *h)
{
    struct backend *b = h->data;
    if (!uv_is_closing((uv_handle_t *)&b->retry))
        uv_timer_start(&b->retry, on_retry, RECONNECT_MS, 0);
}

/* The connection is gone: whatever it owed is lost, and the server may have missed writes. */
static void link_lost(struct backend *b, const char *why)
{
    bool was_connected = b->connected;
    if (was_connected)
        log_warning("backend '%s' (%s:%d) is down: %s", b->name, b->host, b->port, why);
    b->connected = false;
    if (b->state == BACKEND_IN_SYNC) b->state = BACKEND_DOWN;
    proxy_backends_changed();

    while (b->held_head) {
        struct held *h = b->held_head;
        b->held_head = h->next;
        b->missed_writes = true;
        request_backend_lost(h->req, b->index);
        request_unref(h->req);
        buffer_free(&h->bytes);
        free(h);
    }
    b->held_tail = NULL;
    while (b->fifo_len) {
        struct request *req = fifo_pop(b);
        if (!req) continue;
        if (req->offset) b->missed_writes = true; /* applied or not, nobody can tell */
        request_backend_lost(req, b->index);
        request_unref(req);
    }
    buffer_clear(&b->in);
    buffer_clear(&b->out.queued);
    resp_reply_reset(&b->framer);
    if (!uv_is_closing((uv_handle_t *)&b->tcp)) uv_close((uv_handle_t *)&b->tcp, on_closed);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct backend *b = req->data;
    if (status < 0) {
        log_verbose("backend '%s' (%s:%d): connect failed: %s", b->name, b->host, b->port,
                    uv_strerror(status));
        if (!uv_is_closing((uv_handle_t *)&b->tcp)) uv_close((uv_handle_t *)&b->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&b->tcp, 1);
    b->connected = true;
    b->db = 0;
    const struct config *cfg = proxy.config;
    if (cfg->backend_password) {
        if (cfg->backend_user)
            send_internal(b, 3, (const char *[]){"AUTH", cfg->backend_user, cfg->backend_password});
        else
            send_internal(b, 2, (const char *[]){"AUTH", cfg->backend_password});
        proxy_mark_backend_dirty(b);
    }
    /* A server that missed nothing can rejoin as it is; one that missed writes cannot, until a
     * resync brings it level. */
    b->state = b->missed_writes ? BACKEND_STALE : BACKEND_IN_SYNC;
    log_notice("backend '%s' (%s:%d) connected, %s", b->name, b->host, b->port,
               b->state == BACKEND_IN_SYNC ? "in sync"
                                           : "stale: it missed writes and is kept out of service");
    uv_read_start((uv_stream_t *)&b->tcp, on_alloc, on_read);
    proxy_backends_changed();
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct backend *b = h->data;
    (void)hint;
    *buf = uv_buf_init(buffer_reserve(&b->in, READ_CHUNK), READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct backend *b = s->data;
    (void)buf;
    if (nread < 0) {
        link_lost(b, nread == UV_EOF ? "connection closed by the server" : uv_strerror((int)nread));
        return;
    }
    buffer_commit(&b->in, (size_t)nread);
    while (buffer_len(&b->in)) {
        enum resp_result res =
            resp_reply_parse(&b->framer, buffer_head(&b->in), buffer_len(&b->in));
        if (res == RESP_MORE) break;
        if (res == RESP_ERROR || b->fifo_len == 0) {
            link_lost(b, res == RESP_ERROR ? b->framer.error : "reply to nothing it was sent");
            return;
        }
        const char *reply = buffer_head(&b->in);
        size_t len = b->framer.size;
        struct request *req = fifo_pop(b);
        if (req) {
            request_backend_reply(req, b->index, reply, len);
            request_unref(req);
        } else if (reply[0] == '-') {
            char what[128];
            snprintf(what, sizeof(what), "redpair's own command failed: %.*s",
                     (int)(len > 100 ? 100 : len - 2), reply + 1);
            link_lost(b, what);
            return;
        }
        buffer_consume(&b->in, len);
        resp_reply_reset(&b->framer);
    }
}

static void on_written(uv_write_t *w, int status)
{
    struct backend *b = w->handle->data;
    if (outbuf_written(&b->out, status) < 0) {
        link_lost(b, uv_strerror(status));
        return;
    }
    backend_flush(b);
}

void backend_flush(struct backend *b)
{
    if (!b->connected) return;
    int err = outbuf_flush(&b->out, (uv_stream_t *)&b->tcp, on_written);
    if (err) link_lost(b, uv_strerror(err));
}
