#define _GNU_SOURCE /* memmem */
/* The health monitor (monitor.h): one connection per backend, driven by one timer.
 *
 *   connect ──▶ [AUTH] ─ CLIENT SETNAME ─ CONFIG GET save ─ CONFIG GET busy-reply-threshold
 *               ─ PING ─ INFO                                    (pipelined, in this order)
 *   tick    ──▶ late by more than an interval: redpair itself stalled, that time is forgiven
 *           ──▶ up (or never seen) with no valid answer for down-after-ms ─▶ DOWN, drop
 *           ──▶ a probe unanswered for down-after-ms ─▶ drop (a stalled server's connection)
 *           ──▶ no connection ─▶ connect;  no probe outstanding ─▶ PING ─ INFO
 *   PING answered -LOADING / -MASTERDOWN ─▶ DOWN, drop
 *   PING +PONG and INFO with a run_id ─▶ valid: UP if it was not (DOWN first if run_id changed)
 *   PING and INFO answered -BUSY while UP ─▶ valid: a script runs, the server is there
 *   a script out on the data link ─▶ busy-reply-threshold more before DOWN
 *
 * The connection is redpair's own (libuv, TLS with backend-tls: Debian's hiredis 0.14 has no TLS
 * and no way to put it under its async context), with hiredis's reply reader: callers still get
 * redisReply. A SIGSTOPped server accepts TCP in the kernel and never answers, so the tick is
 * what notices. Every command carries the generation of the connection it went out on, and
 * dropping a connection bumps the generation: the NULL replies handed out while the old one is
 * torn down never count for a newer probe, while monitor_command's callers get their NULL ("the
 * connection failed first"). */
#include "monitor.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "backend.h"
#include "netaddr.h"
#include "outbuf.h"
#include "resp.h"

#include "buffer.h"
#include "fence.h"
#include "log.h"
#include "resp.h"

#define WHY_MAX sizeof(((struct probe *)0)->last_error)

enum call_kind {
    CALL_AUTH,
    CALL_NAME,
    CALL_SAVE,
    CALL_BUSY,
    CALL_PING,
    CALL_INFO,
    CALL_FENCE,
    CALL_LIST,
    CALL_KILL,
    CALL_USER
};

/* One command in flight (on its connection's list), or one NULL reply waiting for
 * the next loop turn. */
struct call {
    enum call_kind kind;
    int backend;
    uint64_t gen;     /* the watch's generation when sent */
    uint64_t sent_ns; /* PING: uv_hrtime() when sent */
    monitor_reply_cb cb;
    void *arg;
    int argc; /* a control command held until its connection is fenced: its own copy */
    char **argv;
    struct call *next; /* on the deferred or the waiting list */
};

struct watch {
    struct probe p;
    struct conn *ac; /* NULL: no connection */
    uint64_t gen;
    bool probing;       /* PING and INFO sent, INFO not answered: at most one probe in flight */
    bool ping_ok;       /* the probe in flight got +PONG */
    bool ping_busy;     /* or -BUSY */
    bool script;        /* a script is out on the data link (monitor_script_running) */
    bool down_reported; /* DOWN told, no UP since */
    uint64_t start_ms;
    char why[WHY_MAX]; /* the latest failure, "" when the connection is fine */
    bool fenced;       /* fencing: this connection has stored the epoch and killed older ones */
    int kills_left;
    struct call *waiting, **waiting_tail; /* control commands held until it is */
};

static struct {
    uv_loop_t *loop; /* NULL when not running */
    const struct config *cfg;
    monitor_cb cb;
    int count;
    struct watch w[CONFIG_BACKENDS];
    uv_timer_t tick;
    uv_idle_t later; /* delivers the deferred NULL replies, one batch per loop turn */
    struct call *deferred, **deferred_tail;
    uint64_t last_tick_ms;
    uint64_t fence_epoch; /* cluster leader: every connection fences first (fence.h); 0 none */
} mon = {.deferred_tail = &mon.deferred};

static const char *name_of(const struct watch *w)
{
    return mon.cfg->backends[w - mon.w].name;
}

/* --- NULL replies on the next loop turn ------------------------------------------------- */

static void call_free(struct call *c)
{
    for (int i = 0; i < c->argc; i++) free(c->argv[i]);
    free(c->argv);
    free(c);
}

static void flush_deferred(void)
{
    struct call *c = mon.deferred; /* those added meanwhile wait for the next turn */
    mon.deferred = NULL;
    mon.deferred_tail = &mon.deferred;
    while (c) {
        struct call *next = c->next;
        c->cb(c->arg, NULL);
        call_free(c);
        c = next;
    }
}

static void on_later(uv_idle_t *h)
{
    flush_deferred();
    if (!mon.deferred) uv_idle_stop(h);
}

static void defer_null(struct call *c)
{
    c->next = NULL;
    *mon.deferred_tail = c;
    mon.deferred_tail = &c->next;
    if (mon.loop) uv_idle_start(&mon.later, on_later);
}

/* --- connection ---------------------------------------------------------------------------- */

/* One probe connection: commands out in order, replies matched to them in the same order. */
struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct watch *w; /* NULL once dropped: its close is under way */
    bool connected;
    struct outbuf out;
    redisReader *reader;
    struct call *head, **tail; /* issued, waiting for their replies */
    bool dirty;                /* queued output for monitor_flush */
    struct conn *next_dirty;
};

static struct {
    bool batch; /* monitor_batch_writes */
    struct conn *dirty;
} writes;

static void forget_dirty(struct conn *k)
{
    if (!k->dirty) return;
    for (struct conn **p = &writes.dirty; *p; p = &(*p)->next_dirty)
        if (*p == k) {
            *p = k->next_dirty;
            break;
        }
    k->dirty = false;
}

static void on_reply(struct call *c, const redisReply *reply);

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *k = h->data;
    outbuf_free(&k->out);
    redisReaderFree(k->reader);
    free(k);
}

/* Closes it; every command still waiting gets its NULL reply now, as hiredis did. */
static void conn_close(struct conn *k)
{
    k->w = NULL;
    forget_dirty(k);
    while (k->head) {
        struct call *c = k->head;
        k->head = c->next;
        on_reply(c, NULL);
    }
    k->tail = &k->head;
    uv_close((uv_handle_t *)&k->tcp, on_conn_closed);
}

static void note(struct watch *w, const char *why)
{
    snprintf(w->why, sizeof(w->why), "%s", why);
    if (w->down_reported) snprintf(w->p.last_error, sizeof(w->p.last_error), "%s", why);
}

/* The connection is gone (or going): nothing it still answers counts. */
static void lost(struct watch *w, const char *why)
{
    if (strcmp(w->why, why) != 0) /* once per reason, not per attempt */
        log_verbose("monitor: backend '%s' connection: %s", name_of(w), why);
    w->ac = NULL;
    w->gen++;
    w->probing = false;
    w->fenced = false;
    while (w->waiting) { /* their connection failed first */
        struct call *c = w->waiting;
        w->waiting = c->next;
        defer_null(c);
    }
    w->waiting_tail = &w->waiting;
    note(w, why);
}

static void drop(struct watch *w, const char *why)
{
    struct conn *k = w->ac;
    lost(w, why);
    if (k) conn_close(k);
}

/* The connection failed under its watch: reported once, as the reason the watch keeps. */
static void conn_failed(struct conn *k, const char *why)
{
    if (k->w && k->w->ac == k) drop(k->w, why);
}

static void conn_flush(struct conn *k);

static void on_conn_written(uv_write_t *req, int status)
{
    struct conn *k = req->handle->data;
    if (outbuf_written(&k->out, status) < 0)
        conn_failed(k, uv_strerror(status));
    else if (k->w)
        conn_flush(k); /* what was issued while this write was out */
}

static void write_now(struct conn *k)
{
    int err = outbuf_flush(&k->out, (uv_stream_t *)&k->tcp, on_conn_written);
    if (err) conn_failed(k, uv_strerror(err));
}

static void conn_flush(struct conn *k)
{
    if (!k->connected || k->dirty) return;
    if (!writes.batch) {
        write_now(k);
        return;
    }
    k->dirty = true;
    k->next_dirty = writes.dirty;
    writes.dirty = k;
}

void monitor_batch_writes(void)
{
    writes.batch = true;
}

void monitor_flush(void)
{
    while (writes.dirty) {
        struct conn *k = writes.dirty;
        writes.dirty = k->next_dirty;
        k->dirty = false;
        write_now(k); /* may fail and close it, off the list already */
    }
}

static void on_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char in[16 * 1024]; /* fed to the reader at once */
    (void)h, (void)hint;
    *buf = uv_buf_init(in, sizeof(in));
}

static void on_conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *k = s->data;
    if (nread < 0) {
        conn_failed(k,
                    nread == UV_EOF ? "connection closed by the server" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || !k->w) return;
    if (redisReaderFeed(k->reader, buf->base, (size_t)nread) != REDIS_OK) {
        conn_failed(k, "out of memory");
        return;
    }
    while (k->w) {
        void *r = NULL;
        if (redisReaderGetReply(k->reader, &r) != REDIS_OK) {
            conn_failed(k, k->reader->errstr[0] ? k->reader->errstr : "protocol error");
            return;
        }
        if (!r) return;
        struct call *c = k->head;
        if (!c) { /* a reply nothing asked for */
            freeReplyObject(r);
            conn_failed(k, "unexpected reply");
            return;
        }
        k->head = c->next;
        if (!k->head) k->tail = &k->head;
        on_reply(c, r);
        freeReplyObject(r);
    }
}

static void on_conn_connected(uv_connect_t *req, int status)
{
    struct conn *k = req->data;
    if (status < 0) {
        conn_failed(k, uv_strerror(status));
        return;
    }
    if (!k->w) return;
    k->connected = true;
    k->w->why[0] = '\0';
    uv_tcp_nodelay(&k->tcp, 1);
    k->out.tls = backend_tls_attach(mon.cfg, (uv_stream_t *)&k->tcp);
    tls_read_start((uv_stream_t *)&k->tcp, k->out.tls, on_conn_alloc, on_conn_read);
    conn_flush(k);
}

static bool issue(struct watch *w, struct call *c, int argc, const char **argv)
{
    struct conn *k = w->ac;
    if (k) {
        size_t *argl = xrealloc(NULL, (size_t)argc * sizeof(*argl));
        for (int i = 0; i < argc; i++) argl[i] = strlen(argv[i]);
        resp_append_command(&k->out.queued, argc, argv, argl);
        free(argl);
        c->next = NULL;
        *k->tail = c;
        k->tail = &c->next;
        conn_flush(k);
        return true;
    }
    if (c->kind == CALL_USER)
        defer_null(c);
    else
        call_free(c);
    return false;
}

static bool issue_internal(struct watch *w, enum call_kind kind, int argc, const char **argv)
{
    struct call *c = xrealloc(NULL, sizeof(*c));
    *c = (struct call){.kind = kind, .backend = (int)(w - mon.w), .gen = w->gen};
    if (kind == CALL_PING) c->sent_ns = uv_hrtime();
    return issue(w, c, argc, argv);
}

static void send_probe(struct watch *w, uint64_t now)
{
    if (!issue_internal(w, CALL_PING, 1, (const char *[]){"PING"})) return;
    if (!issue_internal(w, CALL_INFO, 1, (const char *[]){"INFO"})) return;
    w->probing = true;
    w->ping_ok = false;
    w->p.last_probe_ms = now;
}

/* The settings a connection reads: at connect, and again when CONFIG SET changed them. */
static void read_settings(struct watch *w)
{
    issue_internal(w, CALL_SAVE, 3, (const char *[]){"CONFIG", "GET", "save"});
    issue_internal(w, CALL_BUSY, 3, (const char *[]){"CONFIG", "GET", "busy-reply-threshold"});
}

static void open_connection(struct watch *w, uint64_t now)
{
    const struct config *cfg = mon.cfg;
    const struct endpoint_config *bc = &cfg->backends[w - mon.w];
    char addr[sizeof(struct in6_addr)];
    /* Only addresses, as the data links: names were resolved at start. */
    if (uv_inet_pton(AF_INET, bc->host, addr) && uv_inet_pton(AF_INET6, bc->host, addr)) {
        char why[WHY_MAX];
        snprintf(why, sizeof(why), "'%s' is not an IP address", bc->host);
        note(w, why);
        return;
    }
    struct sockaddr_storage sa;
    netaddr_parse(bc->host, bc->port, &sa);
    struct conn *k = calloc(1, sizeof(*k));
    if (!k || !(k->reader = redisReaderCreate())) abort();
    k->w = w;
    k->tail = &k->head;
    uv_tcp_init(mon.loop, &k->tcp);
    k->tcp.data = k;
    k->connect.data = k;
    w->ac = k;
    int err = uv_tcp_connect(&k->connect, &k->tcp, (struct sockaddr *)&sa, on_conn_connected);
    if (err) {
        drop(w, uv_strerror(err));
        return;
    }
    if (cfg->backend_password && cfg->backend_user)
        issue_internal(w, CALL_AUTH, 3,
                       (const char *[]){"AUTH", cfg->backend_user, cfg->backend_password});
    else if (cfg->backend_password)
        issue_internal(w, CALL_AUTH, 2, (const char *[]){"AUTH", cfg->backend_password});
    char name[96];
    if (!config_clustered(cfg))
        snprintf(name, sizeof(name), "%s", MONITOR_CLIENT_NAME);
    else if (mon.fence_epoch)
        fence_client_name(name, sizeof(name), mon.fence_epoch, cfg->node_id, "monitor");
    else
        snprintf(name, sizeof(name), "%s-%s", MONITOR_CLIENT_NAME, cfg->node_id);
    issue_internal(w, CALL_NAME, 3, (const char *[]){"CLIENT", "SETNAME", name});
    if (mon.fence_epoch) {
        char digits[24];
        const char *fence[FENCE_ARGC];
        issue_internal(w, CALL_FENCE, fence_command(mon.fence_epoch, fence, digits), fence);
        issue_internal(w, CALL_LIST, 2, (const char *[]){"CLIENT", "LIST"});
    }
    read_settings(w);
    send_probe(w, now);
}

/* --- up and down ---------------------------------------------------------------------------- */

static void go_down(struct watch *w, const char *why)
{
    snprintf(w->p.last_error, sizeof(w->p.last_error), "%s", why);
    if (w->down_reported) return; /* already down: only the reason is newer */
    log_warning("monitor: backend '%s' is down: %s", name_of(w), why);
    w->p.up = false;
    w->down_reported = true;
    drop(w, why);
    mon.cb((int)(w - mon.w), MONITOR_DOWN, &w->p);
}

/* Refused outright, as Sentinel does: the server is there but cannot serve. */
static bool refusing(const char *err)
{
    static const char *const words[] = {"LOADING", "MASTERDOWN"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i]);
        if (strncmp(err, words[i], n) == 0 && (err[n] == ' ' || err[n] == '\0')) return true;
    }
    return false;
}

static void failed(struct watch *w, const char *what, const redisReply *reply)
{
    char why[WHY_MAX];
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(why, sizeof(why), "%s: %s", what, reply->str);
        if (refusing(reply->str)) {
            go_down(w, why);
            return;
        }
    } else {
        snprintf(why, sizeof(why), "%s: unexpected reply", what);
    }
    note(w, why);
}

/* A valid PING and INFO: fresh is the new view. */
static void confirmed(struct watch *w, struct probe *fresh)
{
    int index = (int)(w - mon.w);
    if (w->p.up && strcmp(w->p.run_id, fresh->run_id) != 0) {
        /* Restarted faster than down-after-ms: the HA logic must still see it go. */
        char why[sizeof(w->p.last_error)];
        snprintf(why, sizeof(why), "restarted: run_id %s is now %s", w->p.run_id, fresh->run_id);
        memcpy(w->p.last_error, why, sizeof(why));
        log_warning("monitor: backend '%s' %s", name_of(w), w->p.last_error);
        w->p.up = false;
        mon.cb(index, MONITOR_DOWN, &w->p);
    }
    bool was_up = w->p.up;
    fresh->up = fresh->ever_up = true;
    fresh->last_ok_ms = uv_now(mon.loop);
    fresh->last_error[0] = '\0';
    w->p = *fresh;
    w->why[0] = '\0';
    w->down_reported = false;
    if (was_up) return;
    log_notice("monitor: backend '%s' is up (run_id %s, %s)", name_of(w), w->p.run_id, w->p.role);
    mon.cb(index, MONITOR_UP, &w->p);
}

static bool busy(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSY ", 5) == 0;
}

static void info_answered(struct watch *w, const redisReply *reply)
{
    w->probing = false;
    if (w->ping_busy && busy(reply) && w->p.up) { /* a script runs: the view stands */
        w->p.last_ok_ms = uv_now(mon.loop);
        w->why[0] = '\0';
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        failed(w, "INFO", reply);
        return;
    }
    struct probe fresh = w->p;
    fresh.run_id[0] = '\0';
    fresh.master_link_status[0] = '\0';
    fresh.slave_repl_offset = -1;
    monitor_parse_info(&fresh, reply->str, reply->len);
    if (!fresh.run_id[0]) {
        note(w, "INFO: no run_id");
        return;
    }
    if (w->ping_ok)
        confirmed(w, &fresh);
    else if (!w->p.up)
        w->p = fresh; /* down (loading, say): still the latest view; a run_id change while up
                         is left to the next valid probe to see */
}

/* --- fencing (fence.h) ---------------------------------------------------------------------- */

static void fenced(struct watch *w)
{
    int index = (int)(w - mon.w);
    log_verbose("monitor: backend '%s' fenced under epoch %llu", name_of(w),
                (unsigned long long)mon.fence_epoch);
    w->fenced = true;
    struct call *c = w->waiting;
    w->waiting = NULL;
    w->waiting_tail = &w->waiting;
    while (c) {
        struct call *next = c->next;
        int argc = c->argc;
        char **argv = c->argv;
        c->argc = 0; /* the connection's queue has its own copy once issued */
        c->argv = NULL;
        c->gen = w->gen;
        issue(w, c, argc, (const char **)argv);
        for (int i = 0; i < argc; i++) free(argv[i]);
        free(argv);
        c = next;
    }
    mon.cb(index, MONITOR_FENCED, &w->p);
}

static void kill_older(struct watch *w, const char *text, size_t len)
{
    uint64_t ids[256];
    size_t n = fence_older_clients(text, len, mon.fence_epoch, ids, 256);
    w->kills_left = (int)n;
    for (size_t i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)ids[i]);
        log_notice("monitor: backend '%s': killing connection %s of an older leader", name_of(w),
                   id);
        issue_internal(w, CALL_KILL, 4, (const char *[]){"CLIENT", "KILL", "ID", id});
    }
    if (n == 0) fenced(w);
}

static void fence_failed(struct watch *w, const redisReply *reply)
{
    int index = (int)(w - mon.w);
    char why[WHY_MAX];
    snprintf(why, sizeof(why), "fencing: %s",
             reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    bool refused = reply->type == REDIS_REPLY_ERROR && fence_refused(reply->str, reply->len);
    drop(w, why);
    if (refused) {
        log_warning("monitor: backend '%s' is held by a newer leader: %s", name_of(w), reply->str);
        mon.cb(index, MONITOR_FENCED_OUT, &w->p);
    }
}

static void internal_reply(struct watch *w, const struct call *c, const redisReply *reply)
{
    switch (c->kind) {
    case CALL_AUTH:
        if (reply->type == REDIS_REPLY_ERROR) {
            char why[WHY_MAX];
            snprintf(why, sizeof(why), "AUTH: %s", reply->str);
            drop(w, why); /* the next tick tries again: the password may be fixed meanwhile */
        }
        break;
    case CALL_SAVE: /* an error (CONFIG renamed away, -BUSY) leaves it as it was, "" at first */
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
            reply->element[1]->type == REDIS_REPLY_STRING)
            snprintf(w->p.rdb_save, sizeof(w->p.rdb_save), "%s", reply->element[1]->str);
        break;
    case CALL_BUSY:
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
            reply->element[1]->type == REDIS_REPLY_STRING)
            w->p.busy_reply_ms = strtoll(reply->element[1]->str, NULL, 10);
        break;
    case CALL_PING:
        w->p.latency_us = (uv_hrtime() - c->sent_ns) / 1000;
        w->ping_ok = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
        w->ping_busy = busy(reply);
        if (!w->ping_ok && !w->ping_busy) failed(w, "PING", reply);
        break;
    case CALL_INFO: info_answered(w, reply); break;
    case CALL_NAME: break;
    case CALL_FENCE:
        if (reply->type == REDIS_REPLY_ERROR) fence_failed(w, reply);
        break;
    case CALL_LIST:
        if (reply->type == REDIS_REPLY_STRING)
            kill_older(w, reply->str, reply->len);
        else
            fence_failed(w, reply);
        break;
    case CALL_KILL:
        if (--w->kills_left == 0) fenced(w);
        break;
    case CALL_USER: break;
    }
}

static void on_reply(struct call *c, const redisReply *reply)
{
    struct watch *w = &mon.w[c->backend];
    if (!reply && c->gen == w->gen) lost(w, "connection lost");
    if (c->kind == CALL_USER)
        c->cb(c->arg, reply);
    else if (reply && c->gen == w->gen)
        internal_reply(w, c, reply);
    call_free(c);
}

/* Moves a time (0: never) later by the stall, but not past now: the answers that waited in the
 * socket may have been read already in this turn, before the tick, and stamped with now. */
static void forgive(uint64_t *ms, uint64_t stall, uint64_t now)
{
    if (*ms) *ms = *ms + stall < now ? *ms + stall : now;
}

/* A loop that did not run (redpair stopped, starved of CPU, swapped out) read no answers: the
 * time it lost is not counted against the backends, or one stall of redpair's own would look
 * like both servers failing at once. */
static void forgive_stall(uint64_t now)
{
    uint64_t due = mon.last_tick_ms + (uint64_t)mon.cfg->probe_interval_ms;
    bool stalled = now > due + (uint64_t)mon.cfg->probe_interval_ms;
    mon.last_tick_ms = now;
    if (!stalled) return;
    uint64_t stall = now - due;
    log_notice("monitor: redpair's loop did not run for %llu ms; not counted against the backends",
               (unsigned long long)stall);
    for (int i = 0; i < mon.count; i++) {
        struct watch *w = &mon.w[i];
        forgive(&w->start_ms, stall, now);
        forgive(&w->p.last_ok_ms, stall, now);
        forgive(&w->p.last_probe_ms, stall, now);
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_now(mon.loop);
    forgive_stall(now);
    char why[WHY_MAX];
    for (int i = 0; i < mon.count; i++) {
        struct watch *w = &mon.w[i];
        uint64_t down_after = (uint64_t)mon.cfg->down_after_ms;
        if (w->script && w->p.busy_reply_ms > 0) down_after += (uint64_t)w->p.busy_reply_ms;
        uint64_t since = w->p.up ? w->p.last_ok_ms : w->start_ms;
        if (!w->down_reported && now - since >= down_after) {
            if (w->why[0])
                snprintf(why, sizeof(why), "%s", w->why);
            else
                snprintf(why, sizeof(why), "no valid answer for %llu ms",
                         (unsigned long long)(now - since));
            go_down(w, why);
        }
        if (w->ac && w->probing && now - w->p.last_probe_ms >= down_after) {
            snprintf(why, sizeof(why), "no answer for %llu ms", (unsigned long long)down_after);
            drop(w, why);
        }
        if (!w->ac)
            open_connection(w, now);
        else if (!w->probing)
            send_probe(w, now);
    }
}

/* --- public face ------------------------------------------------------------------------------ */

void monitor_start(uv_loop_t *loop, const struct config *cfg, monitor_cb cb)
{
    mon.loop = loop;
    mon.cfg = cfg;
    mon.cb = cb;
    mon.count = cfg->backend_count;
    uint64_t now = uv_now(loop);
    for (int i = 0; i < mon.count; i++) {
        struct watch *w = &mon.w[i];
        *w = (struct watch){.gen = w->gen + 1, .start_ms = now};
        w->waiting_tail = &w->waiting;
        w->p.slave_repl_offset = -1;
        w->p.busy_reply_ms = 5000; /* Redis's default, until the server says */
    }
    uv_timer_init(loop, &mon.tick);
    uv_idle_init(loop, &mon.later);
    for (int i = 0; i < mon.count; i++) open_connection(&mon.w[i], now);
    monitor_reconfigure();
    if (mon.deferred) uv_idle_start(&mon.later, on_later);
}

void monitor_reconfigure(void)
{
    if (!mon.loop) return;
    uint64_t interval = (uint64_t)mon.cfg->probe_interval_ms; /* down-after-ms: read each tick */
    mon.last_tick_ms = uv_now(mon.loop);
    uv_timer_start(&mon.tick, on_tick, interval, interval);
}

void monitor_script_running(int backend, bool running)
{
    if (backend >= 0 && backend < mon.count) mon.w[backend].script = running;
}

void monitor_settings_changed(void)
{
    for (int i = 0; i < mon.count; i++)
        if (mon.w[i].ac) read_settings(&mon.w[i]);
}

void monitor_stop(void)
{
    if (!mon.loop) return;
    mon.loop = NULL; /* from here NULL replies are handed out below, not on a later turn */
    for (int i = 0; i < mon.count; i++) drop(&mon.w[i], "monitor stopped");
    while (mon.deferred) flush_deferred();
    uv_close((uv_handle_t *)&mon.tick, NULL);
    uv_close((uv_handle_t *)&mon.later, NULL);
}

const struct probe *monitor_probe(int backend)
{
    static const struct probe none = {.slave_repl_offset = -1};
    return backend >= 0 && backend < mon.count ? &mon.w[backend].p : &none;
}

void monitor_command(int backend, monitor_reply_cb cb, void *arg, int argc, const char **argv)
{
    struct call *c = xrealloc(NULL, sizeof(*c));
    *c = (struct call){.kind = CALL_USER, .backend = backend, .cb = cb, .arg = arg};
    if (backend < 0 || backend >= mon.count || !mon.loop) {
        defer_null(c);
        return;
    }
    struct watch *w = &mon.w[backend];
    c->gen = w->gen;
    if (config_clustered(mon.cfg) && !mon.fence_epoch) {
        defer_null(c); /* a node that does not lead only probes */
        return;
    }
    if (mon.fence_epoch && w->ac && !w->fenced) {
        c->argc = argc;
        c->argv = xrealloc(NULL, (size_t)argc * sizeof(char *));
        for (int i = 0; i < argc; i++) {
            size_t n = strlen(argv[i]) + 1;
            c->argv[i] = memcpy(xrealloc(NULL, n), argv[i], n);
        }
        c->next = NULL;
        *w->waiting_tail = c;
        w->waiting_tail = &c->next;
        return;
    }
    issue(w, c, argc, argv);
}

bool monitor_client_named(const char *name, size_t len)
{
    static const char prefix[] = "redpair-";
    return len >= sizeof(prefix) - 1 && memcmp(name, prefix, sizeof(prefix) - 1) == 0 &&
           memmem(name, len, "monitor", 7) != NULL;
}

void monitor_fence(uint64_t epoch)
{
    if (mon.fence_epoch == epoch) return;
    mon.fence_epoch = epoch;
    if (!mon.loop) return;
    uint64_t now = uv_now(mon.loop);
    for (int i = 0; i < mon.count; i++) { /* reopened under the new name, fencing first */
        drop(&mon.w[i], epoch ? "fencing the backend" : "no longer the leader");
        open_connection(&mon.w[i], now);
    }
}

bool monitor_fenced(int backend)
{
    return backend >= 0 && backend < mon.count && mon.w[backend].ac && mon.w[backend].fenced;
}

/* --- INFO ------------------------------------------------------------------------------------- */

enum field_kind { FIELD_TEXT, FIELD_NUMBER, FIELD_FLAG };

struct info_field {
    const char *name;
    enum field_kind kind;
    size_t offset, size;
};

#define FIELD(name, kind, member)                                                                  \
    {                                                                                              \
        name, kind, offsetof(struct probe, member), sizeof(((struct probe *)0)->member)            \
    }

static const struct info_field info_fields[] = {
    FIELD("run_id", FIELD_TEXT, run_id),
    FIELD("role", FIELD_TEXT, role),
    FIELD("loading", FIELD_FLAG, loading),
    FIELD("master_link_status", FIELD_TEXT, master_link_status),
    FIELD("master_repl_offset", FIELD_NUMBER, master_repl_offset),
    FIELD("slave_repl_offset", FIELD_NUMBER, slave_repl_offset),
    FIELD("used_memory", FIELD_NUMBER, used_memory),
    FIELD("maxmemory", FIELD_NUMBER, maxmemory),
    FIELD("maxmemory_policy", FIELD_TEXT, maxmemory_policy),
    FIELD("aof_enabled", FIELD_FLAG, aof_enabled),
    FIELD("uptime_in_seconds", FIELD_NUMBER, uptime_s),
    FIELD("redis_version", FIELD_TEXT, version),
};

static void set_field(struct probe *p, const char *key, size_t klen, const char *val, size_t vlen)
{
    for (size_t i = 0; i < sizeof(info_fields) / sizeof(info_fields[0]); i++) {
        const struct info_field *f = &info_fields[i];
        if (strlen(f->name) != klen || memcmp(f->name, key, klen) != 0) continue;
        char *dst = (char *)p + f->offset;
        long long n;
        if (f->kind == FIELD_TEXT) {
            size_t copy = vlen < f->size ? vlen : f->size - 1; /* longer: cut, still terminated */
            memcpy(dst, val, copy);
            dst[copy] = '\0';
        } else if (!resp_parse_ll(val, vlen, &n)) {
            return; /* not a number: left as it was */
        } else if (f->kind == FIELD_NUMBER) {
            memcpy(dst, &n, sizeof(n));
        } else {
            *(bool *)dst = n != 0;
        }
        return;
    }
}

/* "db0:keys=3,expires=0,avg_ttl=0" adds 3. */
static void add_keys(struct probe *p, const char *val, size_t vlen)
{
    static const char prefix[] = "keys=";
    size_t plen = sizeof(prefix) - 1;
    if (vlen <= plen || memcmp(val, prefix, plen) != 0) return;
    const char *digits = val + plen, *end = memchr(digits, ',', vlen - plen);
    long long n;
    if (!resp_parse_ll(digits, end ? (size_t)(end - digits) : vlen - plen, &n) || n < 0) return;
    if (__builtin_add_overflow(p->keys, n, &p->keys)) p->keys = LLONG_MAX;
}

void monitor_parse_info(struct probe *p, const char *text, size_t len)
{
    static const char keyspace_header[] = "# Keyspace";
    bool keyspace = false;
    const char *end = text + len;
    for (const char *line = text; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (eol > line && eol[-1] == '\r') eol--;
        size_t n = (size_t)(eol - line);
        const char *colon = memchr(line, ':', n);
        if (n && line[0] == '#') {
            keyspace = n == sizeof(keyspace_header) - 1 && memcmp(line, keyspace_header, n) == 0;
            if (keyspace) p->keys = 0; /* the section is there: no line in it means no keys */
        } else if (colon && keyspace) {
            if (colon - line > 2 && memcmp(line, "db", 2) == 0)
                add_keys(p, colon + 1, (size_t)(eol - colon - 1));
        } else if (colon) {
            set_field(p, line, (size_t)(colon - line), colon + 1, (size_t)(eol - colon - 1));
        }
        line = next;
    }
}
