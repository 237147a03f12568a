#include "cluster_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "log.h"
#include "netaddr.h"
#include "tls.h"

#define MAGIC      "RPCL"
#define VERSION    1
#define NONCE_LEN  16
#define MAC_LEN    32
#define HELLO_LEN  (4 + 1 + 1 + CONFIG_NAME_MAX + 8 + NONCE_LEN)
#define ANSWER_LEN (NONCE_LEN + MAC_LEN)

enum kind { KIND_RAFT = 1, KIND_CONTROL = 2 };

struct transport {
    struct raft_uv_transport *t;
    uv_loop_t *loop;
    const struct config *cfg;
    raft_id id; /* ours, once Raft has told it (t->init) */
    uv_tcp_t listener;
    bool listening;
    raft_uv_accept_cb accept_cb; /* NULL until Raft listens */
    cluster_stream_cb on_control;
    void *arg;
    struct handshake *pending;
    int handshakes; /* not yet freed: their handles may still be closing */
    bool closing;
    raft_uv_transport_close_cb close_cb;
};

/* One connection between TCP connect/accept and the end of its handshake. */
struct handshake {
    struct transport *tr;
    bool outgoing;
    enum kind kind;
    char peer[CONFIG_NAME_MAX];
    raft_id peer_id;
    unsigned char nonce_c[NONCE_LEN], nonce_s[NONCE_LEN];
    unsigned char in[HELLO_LEN];
    size_t need, got;             /* the exact read window */
    unsigned char out[HELLO_LEN]; /* the hello, or the acceptor's answer */
    unsigned char proof[MAC_LEN]; /* the connector's MAC */
    int writing;                  /* writes not yet completed */
    bool done;   /* the last step is over: hand off once no write of ours is pending */
    int handles; /* tcp and timer not yet closed */
    bool handed_off;
    int status; /* a failed outgoing one reports it */
    uv_tcp_t *tcp;
    struct tls *tls; /* cluster-tls: the handshake runs inside TLS, the stream is bridged */
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write, write_proof;
    struct raft_uv_connect *raft_req; /* outgoing Raft stream */
    raft_uv_connect_cb raft_cb;
    cluster_stream_cb cb; /* outgoing control stream */
    void *cb_arg;
    struct handshake *prev, *next;
};

static void maybe_closed(struct transport *tr);

void cluster_transport_mac(const char *token, const char *role, int kind, const char *name,
                           unsigned long long raft_id, const unsigned char *first_nonce,
                           const unsigned char *second_nonce, unsigned char mac[32])
{
    /* role (16, zero-padded) | kind | name (zero-padded) | raft id (big-endian) | nonces */
    unsigned char msg[16 + 1 + CONFIG_NAME_MAX + 8 + 2 * NONCE_LEN] = {0};
    memcpy(msg, role, strnlen(role, 16));
    size_t n = 16;
    msg[n++] = (unsigned char)kind;
    memcpy(msg + n, name, strnlen(name, CONFIG_NAME_MAX - 1));
    n += CONFIG_NAME_MAX;
    for (int i = 7; i >= 0; i--) msg[n++] = (unsigned char)(raft_id >> (8 * i));
    memcpy(msg + n, first_nonce, NONCE_LEN);
    n += NONCE_LEN;
    memcpy(msg + n, second_nonce, NONCE_LEN);
    n += NONCE_LEN;
    unsigned int len = MAC_LEN;
    HMAC(EVP_sha256(), token, (int)strlen(token), msg, n, mac, &len);
}

static const struct endpoint_config *find_peer(const struct config *cfg, const char *name)
{
    for (int i = 0; i < cfg->peer_count; i++)
        if (strcmp(cfg->peers[i].name, name) == 0) return &cfg->peers[i];
    return NULL;
}

/* --- ending a handshake ---------------------------------------------------------------------- */

static void unlink_pending(struct handshake *h)
{
    struct transport *tr = h->tr;
    if (h->prev)
        h->prev->next = h->next;
    else if (tr->pending == h)
        tr->pending = h->next;
    if (h->next) h->next->prev = h->prev;
    h->prev = h->next = NULL;
}

static void report_failure(struct handshake *h)
{
    if (!h->outgoing) return;
    if (h->kind == KIND_RAFT)
        h->raft_cb(h->raft_req, NULL, h->status ? h->status : RAFT_NOCONNECTION);
    else
        h->cb(h->cb_arg, h->peer, NULL);
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct handshake *h = handle->data;
    if (handle == (uv_handle_t *)h->tcp) {
        tls_free(h->tls);
        raft_free(h->tcp);
    }
    if (--h->handles > 0) return;
    struct transport *tr = h->tr;
    if (!h->handed_off) report_failure(h);
    free(h);
    tr->handshakes--;
    maybe_closed(tr);
}

static void fail(struct handshake *h, const char *why)
{
    if (why)
        log_write(h->tr->closing ? LOG_VERBOSE : LOG_WARNING, "cluster: %s connection %s '%s': %s",
                  h->kind == KIND_RAFT ? "raft" : "control", h->outgoing ? "to" : "from",
                  h->peer[0] ? h->peer : "an unknown node", why);
    unlink_pending(h);
    if (!uv_is_closing((uv_handle_t *)h->tcp)) uv_close((uv_handle_t *)h->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&h->timer))
        uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

static void set_user_timeout(uv_tcp_t *tcp, int election_timeout_ms)
{
    uv_os_fd_t fd;
    unsigned int ms = (unsigned int)election_timeout_ms * 2;
    if (uv_fileno((uv_handle_t *)tcp, &fd) == 0)
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
}

/* Authenticated: the stream leaves the handshake for Raft or the control channel (over TLS, the
 * plain end of a bridge: libraft reads and writes its streams itself). */
static void hand_off(struct handshake *h)
{
    struct transport *tr = h->tr;
    uv_stream_t *stream = (uv_stream_t *)h->tcp;
    tls_read_stop(stream, h->tls);
    uv_tcp_nodelay(h->tcp, 1);
    set_user_timeout(h->tcp, tr->cfg->election_timeout_ms);
    unlink_pending(h);
    h->handed_off = true;
    stream->data = NULL;
    h->handles = 1; /* the tcp handle is no longer ours: the timer's close frees h */
    uv_close((uv_handle_t *)&h->timer, on_handle_closed);
    if (h->tls) {
        stream = tls_bridge(h->tcp, h->tls, raft_malloc, raft_free);
        h->tls = NULL;
        if (!stream) {
            h->handed_off = false; /* reported as failed when the timer's close frees h */
            return;
        }
    }
    if (h->outgoing && h->kind == KIND_RAFT)
        h->raft_cb(h->raft_req, stream, 0);
    else if (h->outgoing)
        h->cb(h->cb_arg, h->peer, stream);
    else if (h->kind == KIND_CONTROL)
        tr->on_control(tr->arg, h->peer, stream);
    else if (tr->accept_cb)
        tr->accept_cb(tr->t, h->peer_id, h->peer, stream);
    else
        uv_close((uv_handle_t *)stream, (uv_close_cb)raft_free); /* Raft not started yet */
}

static void on_timeout(uv_timer_t *timer)
{
    fail(timer->data, "handshake timed out");
}

/* --- reading and writing exactly ------------------------------------------------------------- */

static void step(struct handshake *h);

static void on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf)
{
    struct handshake *h = handle->data;
    (void)hint;
    *buf = uv_buf_init((char *)h->in + h->got, (unsigned)(h->need - h->got));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct handshake *h = s->data;
    (void)buf;
    if (nread == 0) return;
    if (nread < 0) {
        fail(h, nread == UV_EOF ? "closed during the handshake" : uv_strerror((int)nread));
        return;
    }
    h->got += (size_t)nread;
    if (h->got < h->need) return;
    tls_read_stop(s, h->tls);
    step(h);
}

static void expect(struct handshake *h, size_t n)
{
    h->need = n;
    h->got = 0;
    tls_read_start((uv_stream_t *)h->tcp, h->tls, on_alloc, on_read);
}

static void on_written(uv_write_t *w, int status)
{
    struct handshake *h = w->data;
    h->writing--;
    if (status < 0) {
        if (status != UV_ECANCELED && !uv_is_closing((uv_handle_t *)h->tcp))
            fail(h, uv_strerror(status));
        return;
    }
    if (h->done && !h->writing && !uv_is_closing((uv_handle_t *)h->tcp)) hand_off(h);
}

/* Over TLS the bytes are encrypted at once and stay in order ahead of whatever the bridge sends
 * later: nothing to wait for before the hand-off (a failed write shows as a failed read). */
static void send_bytes(struct handshake *h, uv_write_t *req, unsigned char *bytes, size_t n)
{
    if (h->tls) {
        int err = tls_write(h->tls, (const char *)bytes, n, NULL);
        if (err)
            fail(h, uv_strerror(err));
        else if (h->done)
            hand_off(h);
        return;
    }
    uv_buf_t buf = uv_buf_init((char *)bytes, (unsigned)n);
    req->data = h;
    int err = uv_write(req, (uv_stream_t *)h->tcp, &buf, 1, on_written);
    if (err)
        fail(h, uv_strerror(err));
    else
        h->writing++;
}

/* --- the protocol ---------------------------------------------------------------------------- */

static const char *token_of(const struct handshake *h)
{
    return h->tr->cfg->cluster_token;
}

static void write_hello(struct handshake *h)
{
    struct transport *tr = h->tr;
    unsigned char *p = h->out;
    memcpy(p, MAGIC, 4);
    p[4] = VERSION;
    p[5] = (unsigned char)h->kind;
    memset(p + 6, 0, CONFIG_NAME_MAX);
    memcpy(p + 6, tr->cfg->node_id, strnlen(tr->cfg->node_id, CONFIG_NAME_MAX - 1));
    for (int i = 0; i < 8; i++)
        p[6 + CONFIG_NAME_MAX + i] = (unsigned char)(tr->id >> (56 - 8 * i));
    memcpy(p + 6 + CONFIG_NAME_MAX + 8, h->nonce_c, NONCE_LEN);
    send_bytes(h, &h->write, h->out, HELLO_LEN);
    expect(h, ANSWER_LEN);
}

/* Acceptor: the hello arrived. */
static void read_hello(struct handshake *h)
{
    const unsigned char *p = h->in;
    if (memcmp(p, MAGIC, 4) != 0 || p[4] != VERSION) {
        fail(h, "not a redpair cluster handshake (a stray client on the cluster port?)");
        return;
    }
    h->kind = p[5] == KIND_RAFT ? KIND_RAFT : KIND_CONTROL;
    memcpy(h->peer, p + 6, CONFIG_NAME_MAX);
    h->peer[CONFIG_NAME_MAX - 1] = '\0';
    h->peer_id = 0;
    for (int i = 0; i < 8; i++) h->peer_id = h->peer_id << 8 | p[6 + CONFIG_NAME_MAX + i];
    memcpy(h->nonce_c, p + 6 + CONFIG_NAME_MAX + 8, NONCE_LEN);
    if (!find_peer(h->tr->cfg, h->peer)) {
        char why[96];
        snprintf(why, sizeof(why), "'%.32s' is not one of this node's peers", h->peer);
        h->peer[0] = '\0';
        fail(h, why);
        return;
    }
    memcpy(h->out, h->nonce_s, NONCE_LEN);
    cluster_transport_mac(token_of(h), "acceptor", h->kind, h->peer, h->peer_id, h->nonce_c,
                          h->nonce_s, h->out + NONCE_LEN);
    send_bytes(h, &h->write, h->out, ANSWER_LEN);
    expect(h, MAC_LEN);
}

static bool mac_ok(const unsigned char *got, const unsigned char *want)
{
    return CRYPTO_memcmp(got, want, MAC_LEN) == 0;
}

/* Connector: the acceptor proved it holds the token; now we prove it. */
static void read_answer(struct handshake *h)
{
    unsigned char want[MAC_LEN];
    memcpy(h->nonce_s, h->in, NONCE_LEN);
    cluster_transport_mac(token_of(h), "acceptor", h->kind, h->tr->cfg->node_id, h->tr->id,
                          h->nonce_c, h->nonce_s, want);
    if (!mac_ok(h->in + NONCE_LEN, want)) {
        fail(h, "it failed authentication: is cluster-token the same on both nodes?");
        return;
    }
    cluster_transport_mac(token_of(h), "connector", h->kind, h->tr->cfg->node_id, h->tr->id,
                          h->nonce_s, h->nonce_c, h->proof);
    h->done = true;
    send_bytes(h, &h->write_proof, h->proof, MAC_LEN); /* once written, the stream is handed off */
}

/* Acceptor: the connector's proof. */
static void read_proof(struct handshake *h)
{
    unsigned char want[MAC_LEN];
    cluster_transport_mac(token_of(h), "connector", h->kind, h->peer, h->peer_id, h->nonce_s,
                          h->nonce_c, want);
    if (!mac_ok(h->in, want)) {
        fail(h, "it failed authentication: is cluster-token the same on both nodes?");
        return;
    }
    h->done = true;
    if (!h->writing) hand_off(h);
}

static void step(struct handshake *h)
{
    if (h->outgoing)
        read_answer(h);
    else if (h->need == HELLO_LEN)
        read_hello(h);
    else
        read_proof(h);
}

/* --- starting one ------------------------------------------------------------------------------
 */

static struct handshake *handshake_new(struct transport *tr, bool outgoing)
{
    struct handshake *h = xrealloc(NULL, sizeof(*h));
    memset(h, 0, sizeof(*h));
    h->tr = tr;
    h->outgoing = outgoing;
    RAND_bytes(outgoing ? h->nonce_c : h->nonce_s, NONCE_LEN);
    h->tcp = raft_malloc(sizeof(*h->tcp));
    if (!h->tcp) abort();
    uv_tcp_init(tr->loop, h->tcp);
    h->tcp->data = h;
    uv_timer_init(tr->loop, &h->timer);
    h->timer.data = h;
    h->handles = 2;
    uv_timer_start(&h->timer, on_timeout, (uint64_t)tr->cfg->election_timeout_ms, 0);
    h->next = tr->pending;
    if (tr->pending) tr->pending->prev = h;
    tr->pending = h;
    tr->handshakes++;
    return h;
}

static void on_connected(uv_connect_t *req, int status)
{
    struct handshake *h = req->data;
    if (status < 0) {
        if (status != UV_ECANCELED) fail(h, NULL); /* no peer there yet: not worth a line */
        return;
    }
    if (h->tr->cfg->cluster_tls) h->tls = tls_attach((uv_stream_t *)h->tcp, TLS_NODE, NULL);
    write_hello(h);
}

static void dial(struct transport *tr, struct handshake *h, const char *peer)
{
    snprintf(h->peer, sizeof(h->peer), "%s", peer);
    const struct endpoint_config *p = find_peer(tr->cfg, peer);
    struct sockaddr_storage addr;
    if (!p || !netaddr_parse(p->host, p->port, &addr)) {
        fail(h, "no peer of that name with an IP address");
        return;
    }
    h->connect.data = h;
    int err = uv_tcp_connect(&h->connect, h->tcp, (struct sockaddr *)&addr, on_connected);
    if (err) fail(h, uv_strerror(err));
}

void cluster_transport_dial(struct raft_uv_transport *t, const char *peer, cluster_stream_cb cb,
                            void *arg)
{
    struct transport *tr = t->impl;
    if (tr->closing) {
        cb(arg, peer, NULL);
        return;
    }
    struct handshake *h = handshake_new(tr, true);
    h->kind = KIND_CONTROL;
    h->cb = cb;
    h->cb_arg = arg;
    dial(tr, h, peer);
}

static void on_incoming(uv_stream_t *listener, int status)
{
    struct transport *tr = listener->data;
    if (status < 0 || tr->closing) return;
    struct handshake *h = handshake_new(tr, false);
    if (uv_accept(listener, (uv_stream_t *)h->tcp) != 0) {
        fail(h, "accept failed");
        return;
    }
    if (tr->cfg->cluster_tls) h->tls = tls_attach((uv_stream_t *)h->tcp, TLS_PEERS, NULL);
    expect(h, HELLO_LEN);
}

/* --- libraft's transport interface ----------------------------------------------------------- */

static int t_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    struct transport *tr = t->impl;
    (void)address;
    tr->id = id;
    return 0;
}

static int t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct transport *tr = t->impl;
    tr->accept_cb = cb;
    return 0;
}

static int t_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                     const char *address, raft_uv_connect_cb cb)
{
    struct transport *tr = t->impl;
    (void)id;
    if (tr->closing) return RAFT_CANCELED;
    struct handshake *h = handshake_new(tr, true);
    h->kind = KIND_RAFT;
    h->raft_req = req;
    h->raft_cb = cb;
    req->cb = cb;
    dial(tr, h, address);
    return 0;
}

static void maybe_closed(struct transport *tr)
{
    if (!tr->closing || tr->handshakes || tr->listening || !tr->close_cb) return;
    raft_uv_transport_close_cb cb = tr->close_cb;
    struct raft_uv_transport *t = tr->t;
    t->impl = NULL;
    free(tr);
    cb(t);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct transport *tr = h->data;
    tr->listening = false;
    maybe_closed(tr);
}

void cluster_transport_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    struct transport *tr = t->impl;
    tr->close_cb = cb;
    if (tr->closing) return;
    tr->closing = true;
    while (tr->pending) {
        struct handshake *h = tr->pending;
        h->status = RAFT_CANCELED;
        fail(h, NULL);
    }
    if (tr->listening && !uv_is_closing((uv_handle_t *)&tr->listener))
        uv_close((uv_handle_t *)&tr->listener, on_listener_closed);
    maybe_closed(tr);
}

bool cluster_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct config *cfg,
                            cluster_stream_cb on_control, void *arg, char *err, size_t errlen)
{
    struct transport *tr = xrealloc(NULL, sizeof(*tr));
    memset(tr, 0, sizeof(*tr));
    memset(t, 0, sizeof(*t));
    tr->t = t;
    tr->loop = loop;
    tr->cfg = cfg;
    tr->on_control = on_control;
    tr->arg = arg;
    t->impl = tr;
    t->init = t_init;
    t->listen = t_listen;
    t->connect = t_connect;
    t->close = cluster_transport_close;

    struct sockaddr_storage addr;
    if (!netaddr_parse(cfg->cluster_bind, cfg->cluster_port, &addr)) {
        snprintf(err, errlen, "cluster-bind: '%s' is not an IP address", cfg->cluster_bind);
        return false;
    }
    uv_tcp_init(loop, &tr->listener);
    tr->listener.data = tr;
    tr->listening = true;
    int rc = uv_tcp_bind(&tr->listener, (struct sockaddr *)&addr, 0);
    if (!rc) rc = uv_listen((uv_stream_t *)&tr->listener, 64, on_incoming);
    if (rc) {
        snprintf(err, errlen, "could not listen on the cluster port %s:%d: %s", cfg->cluster_bind,
                 cfg->cluster_port, uv_strerror(rc));
        uv_close((uv_handle_t *)&tr->listener, on_listener_closed);
        return false;
    }
    return true;
}
