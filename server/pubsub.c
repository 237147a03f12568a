/* Pub/Sub subscribers (pubsub.h): per client, its subscriptions and its connection to the primary.
 *
 *   connect ──▶ [AUTH] (P|S)SUBSCRIBE <every subscription>    replies: the barrier
 *   command ──▶ the set changes, the confirmations go into the request's reply, and the command
 *               goes down the connection; the request waits for as many replies as Redis sends
 *   replies ──▶ barrier first, then the waiting requests in order: each is made ready once its
 *               last reply came (so the client sees it only when the primary has subscribed)
 *   pushes  ──▶ message, pmessage, smessage: to the client, right after the latest released
 *               confirmation (held while a barrier is up, so they never overtake one)
 *   lost / primary changed ──▶ waiting requests wait for the next barrier; reconnect
 *
 * A request still waiting holds a reference, and so does the latest released one (pushes follow
 * it until it is delivered). Everything the client sends while subscribed goes through its own
 * request queue, so replies keep request order with the rest of its traffic. */
#include "pubsub.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "backend.h"
#include "buffer.h"
#include "client.h"
#include "command.h"
#include "config.h"
#include "hidden.h"
#include "log.h"
#include "netaddr.h"
#include "outbuf.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"

#define RETRY_MS   100
#define READ_CHUNK (16 * 1024)
/* Redis's default client-output-buffer-limit for Pub/Sub clients: pubsub 32mb 8mb 60. */
#define LIMIT_HARD    ((size_t)32 << 20)
#define LIMIT_SOFT    ((size_t)8 << 20)
#define LIMIT_SOFT_MS 60000

enum kind { CHANNEL, PATTERN, SHARD, KINDS };

static const struct {
    const char *name; /* the client's command, as command.c names it */
    enum kind kind;
    bool unsubscribe;
} verbs[] = {
    {"subscribe", CHANNEL, false},  {"psubscribe", PATTERN, false},  {"ssubscribe", SHARD, false},
    {"unsubscribe", CHANNEL, true}, {"punsubscribe", PATTERN, true}, {"sunsubscribe", SHARD, true},
};

static const char *const resubscribe[KINDS] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};

/* --- a set of byte strings: open addressing, linear probing, backward-shift deletion -------- */

struct member {
    char *s; /* NULL: an empty slot */
    size_t len;
    uint64_t hash;
};

struct set {
    struct member *slots;
    size_t mask, count;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a, 64 bits */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static struct member *set_slot(const struct set *set, const char *s, size_t n, uint64_t h)
{
    for (size_t i = h & set->mask;; i = (i + 1) & set->mask) {
        struct member *m = &set->slots[i];
        if (!m->s || (m->hash == h && m->len == n && memcmp(m->s, s, n) == 0)) return m;
    }
}

static void set_grow(struct set *set)
{
    struct member *old = set->slots;
    size_t old_size = old ? set->mask + 1 : 0, size = old ? old_size * 2 : 16;
    set->slots = calloc(size, sizeof(*set->slots));
    if (!set->slots) abort();
    set->mask = size - 1;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].s) *set_slot(set, old[i].s, old[i].len, old[i].hash) = old[i];
    free(old);
}

static void set_add(struct set *set, const char *s, size_t n)
{
    if (!set->slots || (set->count + 1) * 2 > set->mask + 1) set_grow(set);
    uint64_t h = hash_bytes(s, n);
    struct member *m = set_slot(set, s, n, h);
    if (m->s) return;
    m->s = memcpy(xrealloc(NULL, n ? n : 1), s, n);
    m->len = n;
    m->hash = h;
    set->count++;
}

static void set_remove(struct set *set, const char *s, size_t n)
{
    if (!set->slots) return;
    struct member *m = set_slot(set, s, n, hash_bytes(s, n));
    if (!m->s) return;
    free(m->s);
    /* Pull later members of the probe run back into the hole unless they would then sit before
     * their home slot. */
    size_t hole = (size_t)(m - set->slots);
    for (size_t j = (hole + 1) & set->mask; set->slots[j].s; j = (j + 1) & set->mask) {
        size_t home = set->slots[j].hash & set->mask;
        bool stays = hole < j ? home > hole && home <= j : home > hole || home <= j;
        if (stays) continue;
        set->slots[hole] = set->slots[j];
        hole = j;
    }
    set->slots[hole].s = NULL;
    set->count--;
}

static void set_clear(struct set *set)
{
    for (size_t i = 0; set->slots && i <= set->mask; i++) free(set->slots[i].s);
    free(set->slots);
    memset(set, 0, sizeof(*set));
}

/* --- state ------------------------------------------------------------------------------------ */

struct wait {
    struct request *req;
    uint64_t replies; /* still due from the primary; 0 on a connection not yet (re)made */
};

struct pubsub {
    struct client *client; /* NULL once let go: freed when its handles have closed */
    struct set sets[KINDS];
    int backend; /* the primary it is (or was last) connected to, -1 before any */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t retry;
    unsigned handles; /* open libuv handles */
    bool tcp_open;    /* tcp initialised, its close callback not yet run */
    bool connected;
    uint64_t retry_ms; /* delay before the next attempt once tcp has closed */
    char why[128];     /* the last failure, logged once per reason */
    struct buffer in;
    struct resp_reply framer;
    struct outbuf out;
    uint64_t barrier; /* replies still due to the connection's AUTH and resubscription */
    struct wait *waits;
    size_t whead, wlen, wcap;
    struct request *last_done; /* the latest request released; pushes follow it */
    struct buffer held;        /* pushes that came while the barrier was up */
    uint64_t soft_since;       /* when the client's output went over LIMIT_SOFT, 0 if not */
};

static void connect_primary(struct pubsub *ps);

static void on_retry(uv_timer_t *t)
{
    connect_primary(t->data);
}

static size_t total(const struct set *sets)
{
    return sets[CHANNEL].count + sets[PATTERN].count + sets[SHARD].count;
}

/* The count a confirmation shows: shard channels count apart from the rest, as in Redis. */
static size_t shown_count(const struct set *sets, enum kind k)
{
    return k == SHARD ? sets[SHARD].count : sets[CHANNEL].count + sets[PATTERN].count;
}

bool pubsub_subscribed(const struct client *c)
{
    return c->pubsub && total(c->pubsub->sets) > 0;
}

bool pubsub_allows(const struct client *c, const struct command *cmd)
{
    return !pubsub_subscribed(c) || cmd->local == LOCAL_SUBSCRIBE || cmd->local == LOCAL_PING ||
           cmd->local == LOCAL_QUIT || cmd->local == LOCAL_RESET;
}

bool pubsub_each(const struct client *c, pubsub_each_fn *fn, void *arg)
{
    if (!c->pubsub) return true;
    for (int k = 0; k < KINDS; k++) {
        const struct set *set = &c->pubsub->sets[k];
        for (size_t i = 0; set->count && i <= set->mask; i++) {
            const struct member *m = &set->slots[i];
            if (m->s && !fn(m->s, m->len, k == PATTERN, arg)) return false;
        }
    }
    return true;
}

void pubsub_counts(const struct client *c, int *channels, int *patterns, int *shard_channels)
{
    const struct set *sets = c->pubsub ? c->pubsub->sets : NULL;
    *channels = sets ? (int)sets[CHANNEL].count : 0;
    *patterns = sets ? (int)sets[PATTERN].count : 0;
    *shard_channels = sets ? (int)sets[SHARD].count : 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct pubsub *ps = h->data;
    if (h == (uv_handle_t *)&ps->tcp) {
        ps->tcp_open = false;
        tls_free(ps->out.tls);
        ps->out.tls = NULL;
        if (ps->client) uv_timer_start(&ps->retry, on_retry, ps->retry_ms, 0);
    }
    if (--ps->handles > 0 || ps->client) return;
    resp_reply_reset(&ps->framer);
    buffer_free(&ps->in);
    buffer_free(&ps->held);
    outbuf_free(&ps->out);
    free(ps->waits);
    free(ps);
}

static void set_last_done(struct pubsub *ps, struct request *r)
{
    if (r) request_ref(r);
    if (ps->last_done) request_unref(ps->last_done);
    ps->last_done = r;
}

/* The client no longer needs it: the connection closes and the state goes with its handles. */
static void let_go(struct pubsub *ps)
{
    struct client *c = ps->client;
    if (!c) return;
    c->pubsub = NULL;
    ps->client = NULL;
    ps->connected = false;
    for (size_t i = ps->whead; i < ps->wlen; i++) request_unref(ps->waits[i].req);
    ps->whead = ps->wlen = 0;
    set_last_done(ps, NULL);
    for (int k = 0; k < KINDS; k++) set_clear(&ps->sets[k]);
    uv_timer_stop(&ps->retry);
    uv_close((uv_handle_t *)&ps->retry, on_handle_closed);
    if (ps->tcp_open && !uv_is_closing((uv_handle_t *)&ps->tcp))
        uv_close((uv_handle_t *)&ps->tcp, on_handle_closed);
}

/* The connection is gone or must go: what it owed comes from the next one's barrier. */
static void lose(struct pubsub *ps, const char *why, uint64_t retry_ms)
{
    if (!ps->tcp_open || uv_is_closing((uv_handle_t *)&ps->tcp)) return;
    if (strcmp(ps->why, why) != 0) {
        log_verbose("client id=%llu Pub/Sub connection to backend '%s': %s",
                    ps->client ? (unsigned long long)ps->client->id : 0ull,
                    proxy_backend_name(ps->backend), why);
        snprintf(ps->why, sizeof(ps->why), "%s", why);
    }
    ps->connected = false;
    ps->barrier = 0;
    for (size_t i = ps->whead; i < ps->wlen; i++) ps->waits[i].replies = 0;
    buffer_clear(&ps->in);
    buffer_clear(&ps->out.queued);
    resp_reply_reset(&ps->framer);
    ps->retry_ms = retry_ms;
    uv_close((uv_handle_t *)&ps->tcp, on_handle_closed);
}

/* Over Redis's Pub/Sub output limits the client is disconnected, as Redis would. */
static void check_limits(struct pubsub *ps)
{
    struct client *c = ps->client;
    size_t len = outbuf_len(&c->out);
    if (ps->last_done && ps->last_done->client) len += buffer_len(&ps->last_done->reply);
    bool over = len > LIMIT_HARD;
    if (!over && len > LIMIT_SOFT) {
        uint64_t now = uv_now(proxy.loop);
        if (!ps->soft_since) ps->soft_since = now;
        over = now - ps->soft_since >= LIMIT_SOFT_MS;
    } else if (!over) {
        ps->soft_since = 0;
    }
    if (!over) return;
    log_warning("client id=%llu closed for overcoming of output buffer limits (pubsub, %zu bytes)",
                (unsigned long long)c->id, len);
    client_close(c);
}

/* A message goes right after the latest released confirmation: into its reply while the client
 * has not had it, else straight out (everything before it has gone; what waits comes after). */
static void push(struct pubsub *ps, const char *bytes, size_t len)
{
    struct request *r = ps->last_done;
    if (r && r->client)
        buffer_append(&r->reply, bytes, len);
    else
        client_append(ps->client, bytes, len);
    if (ps->client) check_limits(ps); /* unless the append closed it */
}

static void finish_if_idle(struct pubsub *ps)
{
    if (ps->client && total(ps->sets) == 0 && ps->whead == ps->wlen) let_go(ps);
}

/* Requests whose replies have all come are handed to the client, in order. */
static void release(struct pubsub *ps)
{
    while (ps->client && ps->barrier == 0 && ps->whead < ps->wlen &&
           ps->waits[ps->whead].replies == 0) {
        struct request *r = ps->waits[ps->whead++].req;
        set_last_done(ps, r);
        request_ready(r); /* may close the client, and let go of ps */
        request_unref(r);
    }
    if (ps->whead == ps->wlen) ps->whead = ps->wlen = 0;
    if (ps->client && ps->barrier == 0 && buffer_len(&ps->held)) {
        push(ps, buffer_head(&ps->held), buffer_len(&ps->held));
        buffer_clear(&ps->held);
    }
    finish_if_idle(ps);
}

static void wait_for(struct pubsub *ps, struct request *r, uint64_t replies)
{
    if (ps->wlen == ps->wcap) {
        if (ps->whead > 0) { /* room at the front: slide down rather than grow */
            memmove(ps->waits, ps->waits + ps->whead, (ps->wlen - ps->whead) * sizeof(*ps->waits));
            ps->wlen -= ps->whead;
            ps->whead = 0;
        } else {
            ps->wcap = ps->wcap ? ps->wcap * 2 : 8;
            ps->waits = xrealloc(ps->waits, ps->wcap * sizeof(*ps->waits));
        }
    }
    request_ref(r);
    ps->waits[ps->wlen++] = (struct wait){r, replies};
}

/* --- the connection ------------------------------------------------------------------------- */

static void on_written(uv_write_t *w, int status);

static void flush(struct pubsub *ps)
{
    if (!ps->connected) return;
    int err = outbuf_flush(&ps->out, (uv_stream_t *)&ps->tcp, on_written);
    if (err) lose(ps, uv_strerror(err), RETRY_MS);
}

static void on_written(uv_write_t *w, int status)
{
    struct pubsub *ps = w->handle->data;
    if (outbuf_written(&ps->out, status) < 0) {
        lose(ps, uv_strerror(status), RETRY_MS);
        return;
    }
    flush(ps);
}

static bool is_push(const char *p, size_t len)
{
    struct resp_value v, kind;
    size_t n = resp_value_read(p, len, &v);
    if (n == 0 || v.type != '*' || v.integer < 3) return false;
    if (resp_value_read(p + n, len - n, &kind) == 0 || kind.type != '$' || !kind.str) return false;
    return (kind.len == 7 && memcmp(kind.str, "message", 7) == 0) ||
           (kind.len == 8 &&
            (memcmp(kind.str, "pmessage", 8) == 0 || memcmp(kind.str, "smessage", 8) == 0));
}

/* The length of a "<prefix><db>__:" at the start of a channel name, or 0. */
static size_t channel_db_prefix(const struct resp_value *channel, const char *prefix)
{
    size_t n = strlen(prefix), i = n;
    if (channel->len <= n || memcmp(channel->str, prefix, n)) return 0;
    while (i < channel->len && channel->str[i] >= '0' && channel->str[i] <= '9') i++;
    if (i == n || channel->len - i < 3 || memcmp(channel->str + i, "__:", 3)) return 0;
    return i + 3;
}

/* A keyspace notification about one of redpair's own keys (hidden.h), which every write moves on
 * the primary: clients never see the keys, so not their events either. "message" and "pmessage"
 * end with channel and payload: __keyspace@<db>__:<key> <event>, __keyevent@<db>__:<event> <key>.
 */
static bool about_hidden_key(const char *p, size_t len)
{
    struct resp_value v, channel = {0}, payload = {0};
    if (!resp_value_next(&p, &len, &v) || v.integer < 3) return false;
    for (long long i = 0; i < v.integer; i++) {
        channel = payload;
        if (!resp_value_next(&p, &len, &payload) || payload.type != '$' || !payload.str)
            return false;
    }
    size_t at = channel_db_prefix(&channel, "__keyspace@");
    if (at) return hidden_key(channel.str + at, channel.len - at);
    return channel_db_prefix(&channel, "__keyevent@") && hidden_key(payload.str, payload.len);
}

static void on_reply(struct pubsub *ps, const char *p, size_t len)
{
    if (p[0] == '-') {
        char why[128];
        snprintf(why, sizeof(why), "refused: %.*s", (int)(len > 100 ? 100 : len - 2), p + 1);
        log_warning("client id=%llu Pub/Sub connection to backend '%s' %s",
                    (unsigned long long)ps->client->id, proxy_backend_name(ps->backend), why);
        lose(ps, why, RETRY_MS);
        return;
    }
    if (is_push(p, len)) {
        if (about_hidden_key(p, len)) return;
        if (ps->barrier)
            buffer_append(&ps->held, p, len);
        else
            push(ps, p, len);
        return;
    }
    if (ps->barrier) {
        if (--ps->barrier == 0) release(ps);
        return;
    }
    if (ps->whead == ps->wlen || ps->waits[ps->whead].replies == 0) {
        lose(ps, "a reply to nothing it was sent", RETRY_MS);
        return;
    }
    if (--ps->waits[ps->whead].replies == 0) release(ps);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct pubsub *ps = h->data;
    (void)hint;
    *buf = uv_buf_init(buffer_reserve(&ps->in, READ_CHUNK), READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct pubsub *ps = s->data;
    (void)buf;
    if (nread < 0) {
        lose(ps, nread == UV_EOF ? "closed by the server" : uv_strerror((int)nread), RETRY_MS);
        return;
    }
    buffer_commit(&ps->in, (size_t)nread);
    while (ps->client && ps->connected && buffer_len(&ps->in)) {
        const char *p = buffer_head(&ps->in);
        enum resp_result res = resp_reply_parse(&ps->framer, p, buffer_len(&ps->in));
        if (res == RESP_MORE) return;
        if (res == RESP_ERROR) {
            lose(ps, ps->framer.error, RETRY_MS);
            return;
        }
        size_t len = ps->framer.size;
        /* Consumed first: handling it may clear the buffer, whose bytes stay in place. */
        buffer_consume(&ps->in, len);
        resp_reply_reset(&ps->framer);
        on_reply(ps, p, len);
    }
}

/* Every subscription at once, after AUTH: the replies are the barrier. */
static void on_connect(uv_connect_t *req, int status)
{
    struct pubsub *ps = req->data;
    if (uv_is_closing((uv_handle_t *)&ps->tcp)) return;
    if (status < 0) {
        lose(ps, uv_strerror(status), RETRY_MS);
        return;
    }
    ps->connected = true;
    ps->why[0] = '\0';
    uv_tcp_nodelay(&ps->tcp, 1);
    ps->out.tls = backend_tls_attach(proxy.config, (uv_stream_t *)&ps->tcp);
    const struct config *cfg = proxy.config;
    struct buffer *out = &ps->out.queued;
    ps->barrier = 0;
    if (cfg->backend_password) {
        const char *argv[3] = {"AUTH"};
        size_t argl[3] = {4};
        int n = 1;
        if (cfg->backend_user) argv[n++] = cfg->backend_user;
        argv[n++] = cfg->backend_password;
        for (int i = 1; i < n; i++) argl[i] = strlen(argv[i]);
        resp_append_command(out, n, argv, argl);
        ps->barrier++;
    }
    for (int k = 0; k < KINDS; k++) {
        const struct set *set = &ps->sets[k];
        if (!set->count) continue;
        resp_append_array_header(out, (long long)set->count + 1);
        resp_append_bulk(out, resubscribe[k], strlen(resubscribe[k]));
        for (size_t i = 0; i <= set->mask; i++)
            if (set->slots[i].s) resp_append_bulk(out, set->slots[i].s, set->slots[i].len);
        ps->barrier += set->count;
    }
    log_verbose("client id=%llu Pub/Sub connection to backend '%s' up, %llu subscription(s)",
                (unsigned long long)ps->client->id, proxy_backend_name(ps->backend),
                (unsigned long long)total(ps->sets));
    tls_read_start((uv_stream_t *)&ps->tcp, ps->out.tls, on_alloc, on_read);
    flush(ps);
    if (ps->connected && ps->barrier == 0) release(ps);
}

static void connect_primary(struct pubsub *ps)
{
    if (!ps->client || ps->tcp_open) return;
    struct sockaddr_storage addr;
    const struct backend *b = proxy.primary >= 0 ? &proxy.backends[proxy.primary] : NULL;
    if (!b || !netaddr_parse(b->host, b->port, &addr)) {
        uv_timer_start(&ps->retry, on_retry, RETRY_MS, 0);
        return;
    }
    ps->backend = b->index;
    uv_tcp_init(proxy.loop, &ps->tcp);
    ps->tcp.data = ps;
    ps->tcp_open = true;
    ps->handles++;
    ps->connect_req.data = ps;
    int err = uv_tcp_connect(&ps->connect_req, &ps->tcp, (struct sockaddr *)&addr, on_connect);
    if (err) lose(ps, uv_strerror(err), RETRY_MS);
}

/* --- the client's side ---------------------------------------------------------------------- */

static void confirmation(struct buffer *out, const char *verb, const char *name, size_t len,
                         size_t count)
{
    resp_append_array_header(out, 3);
    resp_append_bulk(out, verb, strlen(verb));
    if (name)
        resp_append_bulk(out, name, len);
    else
        buffer_append(out, "$-1\r\n", 5);
    resp_append_integer(out, (long long)count);
}

/* Applies the command to sets and writes Redis's confirmations; returns how many replies the
 * server sends for it. */
static uint64_t apply(struct set *sets, const char *verb, enum kind k, bool unsubscribe, int argc,
                      const char *const *argv, const size_t *argl, struct buffer *out)
{
    struct set *set = &sets[k];
    for (int i = 1; i < argc; i++) {
        if (unsubscribe)
            set_remove(set, argv[i], argl[i]);
        else
            set_add(set, argv[i], argl[i]);
        confirmation(out, verb, argv[i], argl[i], shown_count(sets, k));
    }
    if (argc > 1) return (uint64_t)argc - 1;
    /* Unsubscribe from all of this kind: one confirmation each, or one for none. */
    size_t left = set->count, others = shown_count(sets, k) - set->count;
    if (left == 0) {
        confirmation(out, verb, NULL, 0, others);
        return 1;
    }
    for (size_t i = 0; i <= set->mask; i++)
        if (set->slots[i].s)
            confirmation(out, verb, set->slots[i].s, set->slots[i].len, others + --left);
    uint64_t replies = set->count;
    set_clear(set);
    return replies;
}

void pubsub_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl)
{
    size_t v = 0; /* LOCAL_SUBSCRIBE is one of them */
    while (v + 1 < sizeof(verbs) / sizeof(verbs[0]) && strcmp(verbs[v].name, r->cmd->name) != 0)
        v++;
    struct pubsub *ps = c->pubsub;
    buffer_clear(&r->reply);
    if (!ps && verbs[v].unsubscribe) { /* nothing to unsubscribe from: answered at once */
        struct set none[KINDS] = {{0}};
        apply(none, verbs[v].name, verbs[v].kind, true, argc, argv, argl, &r->reply);
        request_ready(r);
        return;
    }
    if (!ps) {
        ps = calloc(1, sizeof(*ps));
        if (!ps) abort();
        ps->client = c;
        ps->backend = -1;
        uv_timer_init(proxy.loop, &ps->retry);
        ps->retry.data = ps;
        ps->handles = 1;
        c->pubsub = ps;
        connect_primary(ps);
    }
    uint64_t replies = apply(ps->sets, verbs[v].name, verbs[v].kind, verbs[v].unsubscribe, argc,
                             argv, argl, &r->reply);
    if (ps->connected) {
        resp_append_command(&ps->out.queued, argc, argv, argl);
        flush(ps);
    }
    /* Not connected: the next connection's barrier covers it. */
    wait_for(ps, r, ps->connected ? replies : 0);
}

void pubsub_reset(struct client *c)
{
    struct pubsub *ps = c->pubsub;
    if (!ps) return;
    for (int k = 0; k < KINDS; k++) set_clear(&ps->sets[k]);
    /* Commands already sent still get their replies, without waiting for the primary's. */
    ps->barrier = 0;
    for (size_t i = ps->whead; i < ps->wlen; i++) ps->waits[i].replies = 0;
    buffer_clear(&ps->held);
    release(ps);
}

void pubsub_client_closed(struct client *c)
{
    if (c->pubsub) let_go(c->pubsub);
}

void pubsub_primary_changed(void)
{
    for (struct client *c = proxy.clients; c; c = c->next) {
        struct pubsub *ps = c->pubsub;
        if (!ps || ps->backend == proxy.primary) continue;
        if (ps->tcp_open) {
            lose(ps, "the primary changed", 0);
        } else {
            uv_timer_stop(&ps->retry);
            connect_primary(ps);
        }
    }
}
