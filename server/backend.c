#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_commands.h"
#include "failover.h"
#include "fence.h"
#include "log.h"
#include "monitor.h"
#include "netaddr.h"
#include "proxy.h"
#include "request.h"
#include "scripts.h"
#include "sequencer.h"

#define RECONNECT_MS 200
#define READ_CHUNK   (16 * 1024)
#define QUIET_MS     100 /* no write for this long: the link writes the exact mark */

static void on_connect(uv_connect_t *req, int status);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_quiet(uv_timer_t *t);
static void on_drain_late(uv_timer_t *t);

const char *backend_state_name(enum backend_state s)
{
    switch (s) {
    case BACKEND_IN_SYNC: return "in-sync";
    case BACKEND_CATCHING_UP: return "catching-up";
    case BACKEND_RESYNCING: return "resyncing";
    case BACKEND_STALE: return "stale";
    case BACKEND_MAINTENANCE: return "maintenance";
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
    b->enabled = !config_clustered(proxy.config);
    b->exec_left = -1;
    uv_timer_init(proxy.loop, &b->retry);
    b->retry.data = b;
    uv_timer_init(proxy.loop, &b->quiet);
    b->quiet.data = b;
    uv_timer_init(proxy.loop, &b->drain);
    b->drain.data = b;
}

static void fifo_push(struct backend *b, struct request *req, uint64_t offset,
                      enum pending_kind kind)
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
    struct pending *p = &b->fifo[(b->fifo_head + b->fifo_len) % b->fifo_cap];
    *p =
        (struct pending){.req = req, .offset = offset, .kind = (uint8_t)kind, .queued = b->tx_open};
    if (kind == PENDING_MULTI || kind == PENDING_EXEC) p->queued = false;
    b->fifo_len++;
    if (req) request_ref(req);
}

static struct pending fifo_pop(struct backend *b)
{
    struct pending p = b->fifo[b->fifo_head];
    b->fifo_head = (b->fifo_head + 1) % b->fifo_cap;
    b->fifo_len--;
    return p;
}

/* Puts redpair's own command on the wire; its reply is checked (or ignored), not forwarded. */
static void send_own(struct backend *b, enum pending_kind kind, int argc, const char *const *argv,
                     const size_t *argl)
{
    resp_append_command(&b->out.queued, argc, argv, argl);
    fifo_push(b, NULL, 0, kind);
    proxy_mark_backend_dirty(b);
}

static void send_internal(struct backend *b, enum pending_kind kind, int argc, const char **argv)
{
    size_t argl[4];
    for (int i = 0; i < argc; i++) argl[i] = strlen(argv[i]);
    send_own(b, kind, argc, argv, argl);
}

void backend_send_ignored(struct backend *b, int argc, const char *const *argv, const size_t *argl)
{
    if (b->connected) send_own(b, PENDING_IGNORED, argc, argv, argl);
}

static void select_db(struct backend *b, int db)
{
    if (db == b->db) return;
    char num[16];
    snprintf(num, sizeof(num), "%d", db);
    send_internal(b, PENDING_INTERNAL, 2, (const char *[]){"SELECT", num});
    b->db = db;
}

static bool marks_quiet(void)
{
    return proxy.config->write_marks == WRITE_MARKS_QUIET;
}

/* Sets the offset key, in database 0 where redpair keeps it: "N" once nothing follows N, else
 * "N+" (blind writes may follow) or, under write-marks quiet, "N*" (any write may) (backend.h). */
static void send_mark(struct backend *b, uint64_t offset, bool exact)
{
    char num[24];
    snprintf(num, sizeof(num),
             exact           ? "%llu"
             : marks_quiet() ? "%llu*"
                             : "%llu+",
             (unsigned long long)offset);
    select_db(b, 0);
    /* The exact mark is a courtesy to the next start: refused (-OOM), the key stays inexact. */
    send_internal(b, exact ? PENDING_IGNORED : PENDING_INTERNAL, 3,
                  (const char *[]){"SET", BACKEND_OFFSET_KEY, num});
    b->unmarked = 0;
    if (exact) {
        b->exact_at = offset;
        b->mark_dirty = false;
    }
}

/* A write left the mark behind it: once the link is quiet, the exact mark follows. */
static void wrote(struct backend *b, uint64_t offset)
{
    b->last_sent = offset;
    b->wrote = true;
    if (!uv_is_active((uv_handle_t *)&b->quiet))
        uv_timer_start(&b->quiet, on_quiet, QUIET_MS, QUIET_MS);
}

/* Ends the open transaction with the offset mark; its EXEC's array says the mark is in place. */
/* Every transaction opens and closes in database 0, so one that EXECABORT undoes (a write refused
 * -OOM as it queued) leaves the connection in the database redpair believes it in, though its
 * SELECTs never ran and the commands behind it are already on the wire. */
static void close_tx(struct backend *b)
{
    /* Under write-marks quiet the key needs moving only off an exact mark: "N*" says it all. */
    bool mark = b->tx_writes && !(marks_quiet() && b->mark_dirty);
    if (mark) send_mark(b, b->last_sent, false);
    select_db(b, 0);
    send_internal(b, PENDING_EXEC, 1, (const char *[]){"EXEC"});
    if (mark) b->fifo[(b->fifo_head + b->fifo_len - 1) % b->fifo_cap].offset = b->last_sent;
    b->tx_open = b->tx_writes = false;
}

/* Opens a transaction unless one is open; offset 0 for a unit's read, which moves no mark. */
static void open_tx(struct backend *b, uint64_t offset)
{
    if (!b->tx_open) {
        select_db(b, 0);
        send_internal(b, PENDING_MULTI, 1, (const char *[]){"MULTI"});
        b->tx_open = true;
    }
    if (offset) {
        wrote(b, offset);
        b->tx_writes = true;
    }
}

/* Once the server's key is known not to be exact, a client's write outside a unit goes bare:
 * under write-marks quiet any write; under every-run a blind one, until backlog-size/16 of them
 * have gone since the last mark (then it goes marked, and moves the mark). */
static bool goes_bare(const struct backend *b, const struct request *req)
{
    if (!req || req->unit || b->tx_open || !b->mark_dirty) return false;
    return marks_quiet() || (req->blind && b->unmarked < (size_t)proxy.config->backlog_size / 16);
}

static void emit(struct backend *b, struct request *req, uint64_t offset, int db, const char *bytes,
                 size_t len)
{
    bool unit = req && req->unit;
    if (offset && goes_bare(b, req)) {
        b->unmarked += len;
        wrote(b, offset);
    } else if (offset || unit) {
        open_tx(b, offset);
    } else if (b->tx_open) {
        close_tx(b);
    }
    b->in_unit |= unit;
    select_db(b, db);
    buffer_append(&b->out.queued, bytes, len);
    fifo_push(b, req, offset, PENDING_REPLY);
    if (req && req->cmd && req->cmd->runs_script) {
        b->fifo[(b->fifo_head + b->fifo_len - 1) % b->fifo_cap].script = true;
        if (!b->scripts_out++) monitor_script_running(b->index, true);
    }
    proxy_mark_backend_dirty(b);
}

static void script_done(struct backend *b)
{
    if (!--b->scripts_out) monitor_script_running(b->index, false);
}

/* An entry with no request is a unit's end (backend_unit_end). */
static void emit_released(void *ctx, struct request *req, uint64_t offset, int db,
                          const char *bytes, size_t len)
{
    struct backend *b = ctx;
    if (!req) {
        b->in_unit = false;
    } else if (len) {
        emit(b, req, offset, db, bytes, len);
    } else if (offset) {
        wrote(b, offset); /* nothing to apply: the next mark covers it */
    }
}

void backend_send(struct backend *b, struct request *req, int db, const char *bytes, size_t len)
{
    if (holdq_busy(&b->holds))
        holdq_push(&b->holds, req, req->offset, db, bytes, len);
    else
        emit(b, req, req->offset, db, bytes, len);
}

void backend_hold(struct backend *b, struct request *req, int db)
{
    holdq_push(&b->holds, req, req->offset, db, NULL, 0);
}

void backend_resolve(struct backend *b, struct request *req, const char *bytes, size_t len)
{
    holdq_resolve(&b->holds, req, bytes, len, emit_released, b);
}

/* Every write sent is applied before a mark sent after it, so the mark can name the last one:
 * but only while that is still where the server's data stands. A link that left the stream and
 * came back (copied, or caught up with nothing to replay) stands where acked_offset says. */
void backend_mark_exact(struct backend *b)
{
    if (!b->connected || !backend_in_stream(b) || b->tx_open || !b->last_sent ||
        b->acked_offset != b->last_sent || b->exact_at == b->last_sent)
        return;
    send_mark(b, b->last_sent, true);
    proxy_mark_backend_dirty(b);
}

static void on_quiet(uv_timer_t *t)
{
    struct backend *b = t->data;
    if (b->wrote) {
        b->wrote = false;
        return;
    }
    backend_mark_exact(b);
    /* With nothing owed, only the next write can make it markable. */
    if (b->exact_at == b->last_sent || !b->fifo_len || !b->connected || !backend_in_stream(b))
        uv_timer_stop(t);
}

void backend_unit_end(struct backend *b)
{
    if (holdq_busy(&b->holds))
        holdq_push(&b->holds, NULL, 0, 0, "", 0);
    else
        b->in_unit = false;
}

void backend_replay(struct backend *b, uint64_t offset, int db, const char *bytes, size_t len)
{
    emit(b, NULL, offset, db, bytes, len);
}

static void backend_connect(struct backend *b);

static void on_retry(uv_timer_t *t)
{
    backend_connect(t->data);
}

static void backend_connect(struct backend *b)
{
    if (!b->enabled || b->open) return;
    if (config_clustered(proxy.config) && !monitor_fenced(b->index)) {
        uv_timer_start(&b->retry, on_retry, RECONNECT_MS, 0); /* not before it is fenced */
        return;
    }
    struct sockaddr_storage addr;
    if (!netaddr_parse(b->host, b->port, &addr)) {
        log_warning("backend '%s': '%s' is not an IP address", b->name, b->host);
        return;
    }
    uv_tcp_init(proxy.loop, &b->tcp);
    b->open = true;
    b->tcp.data = b;
    b->connect_req.data = b;
    int err = uv_tcp_connect(&b->connect_req, &b->tcp, (struct sockaddr *)&addr, on_connect);
    if (err) on_connect(&b->connect_req, err);
}

struct tls *backend_tls_attach(const struct config *cfg, uv_stream_t *stream)
{
    return cfg->backend_tls ? tls_attach(stream, TLS_BACKENDS, cfg->backend_tls_server_name) : NULL;
}

static void on_closed(uv_handle_t *h)
{
    struct backend *b = h->data;
    b->open = false;
    tls_free(b->out.tls);
    b->out.tls = NULL;
    if (b->enabled && !uv_is_closing((uv_handle_t *)&b->retry))
        uv_timer_start(&b->retry, on_retry, RECONNECT_MS, 0);
}

void backend_enable(struct backend *b)
{
    b->enabled = true;
    backend_connect(b);
}

static void lose_request(void *ctx, struct request *req)
{
    struct backend *b = ctx;
    request_backend_lost(req, b->index);
}

/* A cut link's writes stay referenced after they are lost: once their replies come, they are
 * compared with what the client was told (deliver). */
static void lose_pending(struct backend *b, struct pending *p)
{
    if (!p->req) return;
    if (!p->cut) {
        request_backend_lost(p->req, b->index);
        if (b->draining && p->offset) {
            p->cut = true;
            return;
        }
    }
    request_unref(p->req);
    p->req = NULL;
}

/* Every request the link owes an answer is answered as lost; the entries stay, to be matched. */
static void lose_requests(struct backend *b)
{
    holdq_clear(&b->holds, lose_request, b);
    for (size_t i = b->exec_left >= 0 ? b->exec_pos : 0; i < b->tx_len; i++)
        lose_pending(b, &b->tx[i]);
    for (size_t i = 0; i < b->fifo_len; i++)
        lose_pending(b, &b->fifo[(b->fifo_head + i) % b->fifo_cap]);
}

/* Closes the connection, forgetting what it owed; it reconnects (on_closed). */
static void link_close(struct backend *b)
{
    b->wire = b->connected = b->draining = false;
    uv_timer_stop(&b->drain);
    lose_requests(b);
    b->fifo_len = 0;
    b->tx_len = 0;
    b->exec_left = -1;
    b->tx_open = b->tx_writes = b->in_unit = false;
    if (b->scripts_out) monitor_script_running(b->index, false);
    b->scripts_out = 0;
    buffer_clear(&b->in);
    buffer_clear(&b->out.queued);
    resp_reply_reset(&b->framer);
    uv_close((uv_handle_t *)&b->tcp, on_closed);
}

/* The connection is gone: whatever it owed is lost. */
static void link_lost(struct backend *b, const char *why)
{
    if (!b->open || uv_is_closing((uv_handle_t *)&b->tcp)) return;
    if (b->draining)
        log_warning("backend '%s' (%s:%d) cut link closed with writes unanswered: %s", b->name,
                    b->host, b->port, why);
    else if (b->wire)
        log_warning("backend '%s' (%s:%d) link lost: %s", b->name, b->host, b->port, why);
    /* Writes in flight may or may not be applied: the offset key will say, once the server has
     * let go of this connection. */
    memcpy(b->lost_addr, b->local_addr, sizeof(b->lost_addr));
    link_close(b);
    failover_link_down(b, why);
}

/* The cut link has answered every write it sent: the server holds the stream exactly up to the
 * last of them, and nothing more can come of the connection. */
static void drain_check(struct backend *b)
{
    if (!b->draining || b->fifo_len || b->tx_len || b->exec_left >= 0) return;
    if (b->drain_doubted) {
        log_warning("backend '%s' answered every write its cut link sent, not all as the client "
                    "was answered: its offset key says where it stands",
                    b->name);
    } else {
        if (b->last_sent) { /* with no write sent, it stands where it stood */
            b->drained = true;
            b->drained_at = b->last_sent;
        }
        log_notice("backend '%s' answered every write its cut link sent (up to offset %llu)",
                   b->name, (unsigned long long)b->last_sent);
    }
    link_close(b);
}

/* A server that stops answering its probes may only be stalled, with this link's last writes in
 * its socket. Cutting the connection would leave their fate to guess (the offset key, under
 * write-marks every-run, tells it): instead the link takes no more writes and its requests are
 * answered as lost, but it stays open and matches the server's replies as they come. Once every
 * write sent is answered (drain_check), the server is known to hold the stream exactly up to
 * the last, and rejoins from there (failover.c). Seen again but still owing replies after
 * down-after-ms (at least a second), the link is closed. */
void backend_drop(struct backend *b, const char *why)
{
    if (!b->connected || b->draining) {
        link_lost(b, why);
        return;
    }
    log_warning("backend '%s' (%s:%d) link cut: %s; its last replies are still read", b->name,
                b->host, b->port, why);
    b->connected = false;
    b->draining = true;
    b->drained = b->drain_doubted = false;
    lose_requests(b);
    backend_flush(b);
    if (b->draining) failover_link_down(b, why);
    drain_check(b);
}

static void on_drain_late(uv_timer_t *t)
{
    link_lost(t->data, "replies still owed after down-after-ms");
}

void backend_seen_again(struct backend *b)
{
    int ms = proxy.config->down_after_ms > 1000 ? proxy.config->down_after_ms : 1000;
    if (b->draining && !uv_is_active((uv_handle_t *)&b->drain))
        uv_timer_start(&b->drain, on_drain_late, (uint64_t)ms, 0);
}

void backend_disable(struct backend *b, const char *why)
{
    b->enabled = false;
    uv_timer_stop(&b->retry);
    link_lost(b, why);
}

/* Writes may go down the link from here on. */
static void link_ready(struct backend *b)
{
    b->connected = true;
    scripts_load_into(b);     /* a server that restarted lost them */
    config_commands_apply(b); /* and the settings CONFIG SET gave the pair */
    log_verbose("backend '%s' (%s:%d) link connected as %s", b->name, b->host, b->port,
                b->local_addr);
    failover_link_up(b);
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
    b->out.tls = backend_tls_attach(proxy.config, (uv_stream_t *)&b->tcp);
    b->wire = true;
    b->db = 0;
    b->last_sent = b->exact_at = 0;
    b->mark_dirty = false; /* the server's key may say "N": the first writes go marked */
    b->unmarked = 0;
    struct sockaddr_storage local;
    int namelen = sizeof(local);
    char ip[48] = "";
    uv_tcp_getsockname(&b->tcp, (struct sockaddr *)&local, &namelen);
    if (local.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&local;
        uv_ip6_name(a6, ip, sizeof(ip));
        snprintf(b->local_addr, sizeof(b->local_addr), "[%s]:%d", ip, ntohs(a6->sin6_port));
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&local;
        uv_ip4_name(a4, ip, sizeof(ip));
        snprintf(b->local_addr, sizeof(b->local_addr), "%s:%d", ip, ntohs(a4->sin_port));
    }
    const struct config *cfg = proxy.config;
    if (cfg->backend_password && cfg->backend_user)
        send_internal(b, PENDING_INTERNAL, 3,
                      (const char *[]){"AUTH", cfg->backend_user, cfg->backend_password});
    else if (cfg->backend_password)
        send_internal(b, PENDING_INTERNAL, 2, (const char *[]){"AUTH", cfg->backend_password});
    tls_read_start((uv_stream_t *)&b->tcp, b->out.tls, on_alloc, on_read);
    if (!config_clustered(cfg)) {
        link_ready(b);
        return;
    }
    char name[96], digits[24];
    fence_client_name(name, sizeof(name), failover_epoch(), cfg->node_id, "link");
    send_internal(b, PENDING_INTERNAL, 3, (const char *[]){"CLIENT", "SETNAME", name});
    const char *check[FENCE_ARGC];
    size_t checkl[FENCE_ARGC];
    int argc = fence_command(failover_epoch(), check, digits);
    for (int i = 0; i < argc; i++) checkl[i] = strlen(check[i]);
    send_own(b, PENDING_FENCE, argc, check, checkl);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct backend *b = h->data;
    (void)hint;
    *buf = uv_buf_init(buffer_reserve(&b->in, READ_CHUNK), READ_CHUNK);
}

/* One reply, to one command as if it had been sent alone. Returns false when the link is lost. */
static bool deliver(struct backend *b, struct pending p, const char *reply, size_t len)
{
    bool error = reply[0] == '-';
    switch ((enum pending_kind)p.kind) {
    case PENDING_REPLY:
        /* A cut link's write was answered without it: a reply that differs from the client's
         * (or a refused write redpair sent alone, a replay) says the server may hold other
         * data than the stream; a refusal on both changed nothing on either. */
        if (b->draining && p.offset && (p.req ? !sequencer_agrees(p.req, reply, len) : error))
            b->drain_doubted = true;
        if (p.script) script_done(b);
        if (p.offset && p.offset > b->acked_offset) b->acked_offset = p.offset;
        if (p.req) {
            if (!p.cut) request_backend_reply(p.req, b->index, reply, len);
            request_unref(p.req);
        }
        if (p.offset && b->state == BACKEND_CATCHING_UP) failover_caught_up(b);
        return true;
    case PENDING_IGNORED: return true;
    case PENDING_FENCE:
        if (!error) {
            if (!b->draining) link_ready(b);
            return true;
        }
        if (fence_refused(reply + 1, len - 1)) failover_fenced_out(b);
        break;
    case PENDING_INTERNAL:
    case PENDING_MULTI:
    case PENDING_EXEC:
        if (!error) return true;
        break;
    }
    char what[160];
    snprintf(what, sizeof(what), "redpair's own command failed: %.*s",
             (int)(len > 120 ? 120 : len - 2), reply + 1);
    link_lost(b, what);
    return false;
}

static void tx_push(struct backend *b, struct pending p)
{
    if (b->tx_len == b->tx_cap) {
        b->tx_cap = b->tx_cap ? b->tx_cap * 2 : 64;
        b->tx = xrealloc(b->tx, b->tx_cap * sizeof(*b->tx));
    }
    b->tx[b->tx_len++] = p;
}

/* The head of the input answers the EXEC at the head of the FIFO: an array whose elements are
 * taken one by one (so a long transaction streams), or an error that all its writes share.
 * Returns the bytes used, 0 for more input, -1 when the link is lost. */
static ssize_t exec_reply(struct backend *b, const char *in, size_t avail)
{
    if (in[0] == '*') {
        const char *eol = memchr(in, '\n', avail);
        if (!eol) return 0;
        long long n;
        if (eol - in < 2 || eol[-1] != '\r' || !resp_parse_ll(in + 1, (size_t)(eol - in - 2), &n) ||
            n != (long long)b->tx_len) {
            link_lost(b, "EXEC answered with an array that does not match the transaction");
            return -1;
        }
        /* The transaction's mark ("N+") is in place, unless an exact one went after it. */
        if (fifo_pop(b).offset > b->exact_at) b->mark_dirty = true;
        b->exec_left = n;
        b->exec_pos = 0;
        if (n == 0) b->exec_left = -1;
        return eol + 1 - in;
    }
    enum resp_result res = resp_reply_parse(&b->framer, in, avail);
    if (res == RESP_MORE) return 0;
    if (res == RESP_ERROR || in[0] != '-') {
        link_lost(b, res == RESP_ERROR ? b->framer.error : "EXEC did not answer an array");
        return -1;
    }
    /* EXECABORT: a write failed to queue (out of memory, say); none of the run was applied. */
    size_t used = b->framer.size;
    fifo_pop(b);
    size_t n = b->tx_len;
    b->tx_len = 0;
    for (size_t i = 0; i < n; i++)
        if (b->tx[i].kind == PENDING_REPLY && !deliver(b, b->tx[i], in, used)) return -1;
    resp_reply_reset(&b->framer);
    return (ssize_t)used;
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
        const char *in = buffer_head(&b->in);
        if (b->exec_left < 0 && b->fifo_len && b->fifo[b->fifo_head].kind == PENDING_EXEC) {
            ssize_t used = exec_reply(b, in, buffer_len(&b->in));
            if (used <= 0) return;
            buffer_consume(&b->in, (size_t)used);
            continue;
        }
        enum resp_result res = resp_reply_parse(&b->framer, in, buffer_len(&b->in));
        if (res == RESP_MORE) break;
        if (res == RESP_ERROR || (b->exec_left < 0 && b->fifo_len == 0)) {
            link_lost(b, res == RESP_ERROR ? b->framer.error : "reply to nothing it was sent");
            return;
        }
        size_t len = b->framer.size;
        if (b->exec_left >= 0) {
            struct pending p = b->tx[b->exec_pos++];
            if (--b->exec_left == 0) {
                b->exec_left = -1;
                b->tx_len = 0;
            }
            if (!deliver(b, p, in, len)) return;
        } else {
            struct pending p = fifo_pop(b);
            if (p.queued && len == 9 && memcmp(in, "+QUEUED\r\n", 9) == 0)
                tx_push(b, p);
            else if (p.queued && p.kind == PENDING_INTERNAL)
                log_verbose("backend '%s': %.*s", b->name, (int)len - 2, in); /* EXEC aborts */
            else if (!deliver(b, p, in, len))
                return;
        }
        buffer_consume(&b->in, len);
        resp_reply_reset(&b->framer);
    }
    drain_check(b);
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
    if (!b->wire) return;
    if (b->tx_open && !b->in_unit) close_tx(b);
    int err = outbuf_flush(&b->out, (uv_stream_t *)&b->tcp, on_written);
    if (err) {
        link_lost(b, uv_strerror(err));
        return;
    }
    /* A server that answers its probes but takes writes slower than they come (write-ack
     * primary lets them come) would have this link hold what its socket cannot take without
     * bound. Past backlog-size the backlog could not replay them either: the link goes, and the
     * server comes back by a resync. The margin lets a partial resync's replay of a full backlog
     * pass, with the writes that come meanwhile. The primary's link is bounded by its clients,
     * who wait for its replies. */
    if (b->index != proxy.primary && outbuf_len(&b->out) > 2 * (size_t)proxy.config->backlog_size)
        link_lost(b,
                  "more than twice backlog-size of writes wait to be sent: the server is too slow");
}
