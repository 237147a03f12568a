#include "relay.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "cluster.h"
#include "log.h"
#include "netaddr.h"
#include "proxy.h"
#include "resp.h"
#include "tls.h"

#define QUEUE_MAX (1u << 20) /* bytes waiting to be written to one side before the other waits */
#define HELD_MAX  (1u << 20) /* client input kept while the leader's connection opens */

static const char tryagain[] = "-TRYAGAIN no redpair leader\r\n";

enum relay_state { WAITING, REFUSING, CONNECTING, PIPING };

struct relay {
    uv_tcp_t down;                 /* the client */
    uv_tcp_t up;                   /* our connection to the leader */
    struct tls *down_tls, *up_tls; /* NULL: plain (a client on tls-port is this node's to serve) */
    uv_connect_t connect;
    enum relay_state state;
    bool up_open, closing;
    bool up_by_tls; /* the leader has a tls-port only */
    bool finishing; /* close once what is written to the client has gone */
    int handles;    /* not yet closed */
    struct buffer held;
    struct resp_request parser;
    struct relay *prev, *next;
};

struct chunk {
    uv_write_t req;
    struct relay *relay;
    char data[];
};

static struct {
    struct relay *all;
    int count;
    uv_timer_t timer;
    bool timer_ready;
    char scratch[64 * 1024];
} rl;

int relay_count(void)
{
    return rl.count;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct relay *r = h->data;
    if (--r->handles > 0) return;
    tls_free(r->down_tls);
    tls_free(r->up_tls);
    buffer_free(&r->held);
    resp_request_free(&r->parser);
    free(r);
}

static void relay_close(struct relay *r)
{
    if (r->closing) return;
    r->closing = true;
    if (r->prev)
        r->prev->next = r->next;
    else
        rl.all = r->next;
    if (r->next) r->next->prev = r->prev;
    rl.count--;
    proxy.client_count--;
    uv_close((uv_handle_t *)&r->down, on_handle_closed);
    if (r->up_open) uv_close((uv_handle_t *)&r->up, on_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(rl.scratch, sizeof(rl.scratch));
}

static uv_stream_t *side(struct relay *r, bool to_leader)
{
    return to_leader ? (uv_stream_t *)&r->up : (uv_stream_t *)&r->down;
}

static struct tls *tls_of(struct relay *r, const uv_stream_t *s)
{
    return s == (uv_stream_t *)&r->up ? r->up_tls : r->down_tls;
}

static void read_start(struct relay *r, uv_stream_t *s, uv_read_cb cb)
{
    tls_read_start(s, tls_of(r, s), on_alloc, cb);
}

static void read_stop(struct relay *r, uv_stream_t *s)
{
    tls_read_stop(s, tls_of(r, s));
}

/* Bytes still to go to that side: libuv's queue, and over TLS what waits for the handshake. */
static size_t unsent(struct relay *r, uv_stream_t *to)
{
    struct tls *t = tls_of(r, to);
    return t ? tls_unsent(t) : uv_stream_get_write_queue_size(to);
}

static void pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void held_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reading a side resumes once what was written to the other has drained below the bound. */
static void written(struct relay *r, uv_stream_t *to, int status)
{
    if (r->closing) return;
    if (status < 0 || (r->finishing && !unsent(r, to))) {
        relay_close(r);
        return;
    }
    if (r->state != PIPING) return;
    uv_stream_t *from = to == (uv_stream_t *)&r->up ? side(r, false) : side(r, true);
    if (unsent(r, to) < QUEUE_MAX / 2) read_start(r, from, pipe_read);
}

static void on_chunk_written(uv_write_t *w, int status)
{
    struct chunk *c = w->data;
    struct relay *r = c->relay;
    uv_stream_t *to = w->handle; /* w is inside c */
    free(c);
    written(r, to, status);
}

static void on_tls_written(uv_write_t *w, int status)
{
    written(w->handle->data, w->handle, status);
}

static bool send_to(struct relay *r, bool to_leader, const char *bytes, size_t len)
{
    struct tls *t = to_leader ? r->up_tls : r->down_tls;
    if (t) {
        if (tls_write(t, bytes, len, on_tls_written) != 0) {
            relay_close(r);
            return false;
        }
        if (!unsent(r, side(r, to_leader))) written(r, side(r, to_leader), 0); /* all sent */
        return !r->closing;
    }
    struct chunk *c = xrealloc(NULL, sizeof(*c) + len);
    memcpy(c->data, bytes, len);
    c->relay = r;
    c->req.data = c;
    uv_buf_t buf = uv_buf_init(c->data, (unsigned)len);
    if (uv_write(&c->req, side(r, to_leader), &buf, 1, on_chunk_written) != 0) {
        free(c);
        relay_close(r);
        return false;
    }
    return true;
}

/* The client gets its last reply, then the connection closes. */
static void finish(struct relay *r, const char *reply, size_t len)
{
    if (r->down_tls) /* the handshake must go on for the reply to leave; input is only held */
        read_start(r, (uv_stream_t *)&r->down, held_read);
    else
        read_stop(r, (uv_stream_t *)&r->down);
    r->finishing = true;
    send_to(r, false, reply, len);
}

static void pipe_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct relay *r = s->data;
    if (nread < 0) {
        relay_close(r); /* either side gone: the other goes too */
        return;
    }
    bool to_leader = s == (uv_stream_t *)&r->down;
    if (!nread || !send_to(r, to_leader, buf->base, (size_t)nread)) return;
    if (unsent(r, side(r, to_leader)) >= QUEUE_MAX) read_stop(r, s);
}

/* --- before the leader's connection is up ------------------------------------------------------
 */

static void refuse_commands(struct relay *r)
{
    while (buffer_len(&r->held)) {
        enum resp_result res =
            resp_request_parse(&r->parser, buffer_head(&r->held), buffer_len(&r->held));
        if (res == RESP_MORE) return;
        if (res == RESP_ERROR) {
            struct buffer reply = {0};
            resp_append_error(&reply, "ERR %s", r->parser.error);
            finish(r, buffer_head(&reply), buffer_len(&reply));
            buffer_free(&reply);
            return;
        }
        if (r->parser.argc > 0 && !send_to(r, false, tryagain, sizeof(tryagain) - 1)) return;
        buffer_consume(&r->held, r->parser.size);
        resp_request_reset(&r->parser);
    }
}

static void held_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct relay *r = s->data;
    if (nread < 0) {
        relay_close(r);
        return;
    }
    buffer_append(&r->held, buf->base, (size_t)nread);
    if (r->state == REFUSING && !r->finishing) refuse_commands(r);
    if (!r->closing && buffer_len(&r->held) >= HELD_MAX) read_stop(r, s); /* one huge command */
}

static void on_connected(uv_connect_t *req, int status)
{
    struct relay *r = req->data;
    if (r->closing) return;
    if (status < 0) {
        log_verbose("relay: cannot reach the leader: %s", uv_strerror(status));
        relay_close(r);
        return;
    }
    uv_tcp_nodelay(&r->up, 1);
    if (r->up_by_tls) r->up_tls = tls_attach((uv_stream_t *)&r->up, TLS_NODE, NULL);
    r->state = PIPING;
    if (buffer_len(&r->held) && !send_to(r, true, buffer_head(&r->held), buffer_len(&r->held)))
        return;
    buffer_free(&r->held);
    read_stop(r, (uv_stream_t *)&r->down); /* from held_read to pipe_read */
    read_start(r, (uv_stream_t *)&r->down, pipe_read);
    read_start(r, (uv_stream_t *)&r->up, pipe_read);
}

static void connect_leader(struct relay *r)
{
    char host[128];
    int port;
    struct sockaddr_storage addr;
    if (!cluster_leader_address(host, sizeof(host), &port, &r->up_by_tls)) return;
    if (!netaddr_parse(host, port, &addr)) {
        relay_close(r);
        return;
    }
    r->state = CONNECTING;
    uv_tcp_init(proxy.loop, &r->up);
    r->up.data = r;
    r->up_open = true;
    r->handles++;
    r->connect.data = r;
    if (uv_tcp_connect(&r->connect, &r->up, (struct sockaddr *)&addr, on_connected) != 0) {
        relay_close(r);
        return;
    }
    if (buffer_len(&r->held) < HELD_MAX) read_start(r, (uv_stream_t *)&r->down, held_read);
}

/* Waiting clients: to the leader once one is known, refused once there has long been none. */
static void on_timer(uv_timer_t *t)
{
    bool waiting = false;
    uint64_t leaderless = cluster_leaderless_ms();
    char host[128];
    int port;
    bool by_tls;
    bool known = cluster_leader_address(host, sizeof(host), &port, &by_tls);
    for (struct relay *r = rl.all, *next; r; r = next) {
        next = r->next;
        if (r->finishing) continue;
        if (r->state == WAITING || r->state == REFUSING) {
            if (known)
                connect_leader(r);
            else if (r->state == WAITING &&
                     leaderless > (uint64_t)proxy.config->election_timeout_ms) {
                r->state = REFUSING;
                read_start(r, (uv_stream_t *)&r->down, held_read);
                refuse_commands(r);
            }
        }
        if (!r->closing && (r->state == WAITING || r->state == REFUSING)) waiting = true;
    }
    if (!waiting) uv_timer_stop(t);
}

static void watch_waiting(void)
{
    if (!rl.timer_ready) {
        uv_timer_init(proxy.loop, &rl.timer);
        rl.timer_ready = true;
    }
    if (!uv_is_active((uv_handle_t *)&rl.timer)) {
        uint64_t every = (uint64_t)proxy.config->probe_interval_ms;
        uv_timer_start(&rl.timer, on_timer, 0, every);
    }
}

void relay_accept(uv_stream_t *listener)
{
    struct relay *r = xrealloc(NULL, sizeof(*r));
    memset(r, 0, sizeof(*r));
    uv_tcp_init(proxy.loop, &r->down);
    r->down.data = r;
    r->handles = 1;
    if (uv_accept(listener, (uv_stream_t *)&r->down) != 0) {
        r->closing = true;
        uv_close((uv_handle_t *)&r->down, on_handle_closed);
        return;
    }
    uv_tcp_nodelay(&r->down, 1);
    if (proxy_listener_tls(listener))
        r->down_tls = tls_attach((uv_stream_t *)&r->down, TLS_CLIENTS, NULL);
    resp_request_init(&r->parser, proxy.config->proto_max_bulk_len);
    r->next = rl.all;
    if (rl.all) rl.all->prev = r;
    rl.all = r;
    rl.count++;
    proxy.client_count++;
    if (proxy.client_count > proxy.config->maxclients) {
        static const char full[] = "-ERR max number of clients reached\r\n";
        finish(r, full, sizeof(full) - 1);
        return;
    }
    r->state = WAITING;
    watch_waiting(); /* connects at once if a leader is known */
}

void relay_leader_changed(void)
{
    bool here = cluster_serves_clients(); /* this node leads now: every client comes to it */
    for (struct relay *r = rl.all, *next; r; r = next) {
        next = r->next;
        if (here || r->state == CONNECTING || r->state == PIPING) relay_close(r);
    }
    if (rl.all) watch_waiting();
}

void relay_close_all(void)
{
    while (rl.all) relay_close(rl.all);
    if (rl.timer_ready) {
        uv_close((uv_handle_t *)&rl.timer, NULL);
        rl.timer_ready = false;
    }
}
