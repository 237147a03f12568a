#include "local.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl_commands.h"
#include "backend.h"
#include "blocked.h"
#include "client.h"
#include "client_commands.h"
#include "command.h"
#include "config_commands.h"
#include "fanout.h"
#include "failover.h"
#include "info.h"
#include "monitor.h"
#include "monitor_feed.h"
#include "proxy.h"
#include "pubsub.h"
#include "request.h"
#include "resp.h"
#include "tracking.h"
#include "transaction.h"
#include "watch.h"

static void reply_bytes(struct request *r, const char *bytes)
{
    request_reply(r, bytes, strlen(bytes));
}

static const char wrongpass[] = "WRONGPASS invalid username-password pair or user is disabled.";

static void auth(struct client *c, struct request *r, int argc, const char *const *argv,
                 const size_t *argl)
{
    if (argc > 3) {
        request_error(r, "ERR syntax error");
        return;
    }
    if (argc == 2 && !acl_default_has_password()) {
        request_error(r, "ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?");
        return;
    }
    bool ok = argc == 2 ? acl_login(c, "default", 7, argv[1], argl[1])
                        : acl_login(c, argv[1], argl[1], argv[2], argl[2]);
    if (!ok) {
        request_error(r, "%s", wrongpass);
        return;
    }
    reply_bytes(r, "+OK\r\n");
}

/* HELLO [2 [AUTH user pass] [SETNAME name]]: RESP2 only, as Redis 7.0 answers it. */
static void hello(struct client *c, struct request *r, int argc, const char *const *argv,
                  const size_t *argl)
{
    long long ver = 2;
    if (argc >= 2) {
        if (!resp_parse_ll(argv[1], argl[1], &ver)) {
            request_error(r, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver == 3) {
            request_error(r, "NOPROTO sorry, this protocol version is not supported");
            return;
        }
        if (ver != 2) {
            request_error(r, "NOPROTO unsupported protocol version");
            return;
        }
    }
    const char *name = NULL;
    size_t namelen = 0;
    for (int j = 2; j < argc; j++) {
        int more = argc - 1 - j;
        if (resp_arg_is(argv[j], argl[j], "auth") && more >= 2) {
            if (!acl_login(c, argv[j + 1], argl[j + 1], argv[j + 2], argl[j + 2])) {
                request_error(r, "%s", wrongpass);
                return;
            }
            j += 2;
        } else if (resp_arg_is(argv[j], argl[j], "setname") && more >= 1) {
            if (!client_name_valid(argv[j + 1], argl[j + 1])) {
                request_error(r, "%s", CLIENT_NAME_ERROR);
                return;
            }
            name = argv[++j];
            namelen = argl[j];
        } else {
            request_error(r, "ERR Syntax error in HELLO option '%.*s'",
                          (int)command_arg_shown(argv[j], argl[j], 256), argv[j]);
            return;
        }
    }
    if (!c->authenticated) {
        request_error(r, "NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO AUTH <user> <pass> option can be used to "
                         "authenticate the client and select the RESP protocol version at the "
                         "same time");
        return;
    }
    if (name) client_set_name(c, name, namelen);

    /* The primary's version: clients pick features by it. */
    const char *version = proxy.primary >= 0 ? monitor_probe(proxy.primary)->version : "";
    for (int i = 0; !version[0] && i < CONFIG_BACKENDS; i++) version = monitor_probe(i)->version;
    if (!version[0]) version = "7.0.15"; /* what the built-in command table comes from */
    struct buffer *out = &r->reply;
    buffer_clear(out);
    buffer_appendf(out, "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n");
    resp_append_bulk(out, version, strlen(version));
    buffer_appendf(out, "$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:%llu\r\n", (unsigned long long)c->id);
    buffer_appendf(out, "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
                        "$7\r\nmodules\r\n*0\r\n");
    request_ready(r);
}

/* RESET: the connection as new, as Redis's clearClientConnectionState(). */
static void reset(struct client *c, struct request *r)
{
    pubsub_reset(c);
    transaction_free(c);
    watch_clear(c);
    tracking_client_closed(c);
    c->db = 0;
    client_set_name(c, NULL, 0);
    acl_client_init(c);
    c->no_evict = false;
    c->reply_off = c->reply_skip_next = r->silent = false;
    monitor_feed_client_closed(c);
    reply_bytes(r, "+RESET\r\n");
}

static void select_db(struct client *c, struct request *r, const char *arg, size_t len)
{
    long long db;
    if (!resp_parse_ll(arg, len, &db)) {
        request_error(r, "ERR value is not an integer or out of range");
        return;
    }
    if (db < 0 || db >= proxy.config->databases) {
        request_error(r, "ERR DB index is out of range");
        return;
    }
    c->db = (int)db;
    reply_bytes(r, "+OK\r\n");
}

/* The DEBUG subcommands that only read, answered by the primary. The others change or stop the
 * server they run on, which redpair's link to it would wait behind. */
static const char *const debug_reads[] = {
    "help",   "object",   "digest-value", "error",    "htstats",    "htstats-key",
    "sdslen", "listpack", "quicklist",    "protocol", "structsize", "client-eviction",
};

static void debug(struct client *c, struct request *r, int argc, const char *const *argv,
                  const size_t *argl)
{
    if (resp_arg_is(argv[1], argl[1], "digest")) {
        request_error(r, "ERR DEBUG DIGEST is not available through redpair: the servers hold "
                         "redpair's offset key, so it is not the digest of your data; DEBUG "
                         "DIGEST-VALUE of your keys is");
        return;
    }
    for (size_t i = 0; i < sizeof(debug_reads) / sizeof(debug_reads[0]); i++) {
        if (!resp_arg_is(argv[1], argl[1], debug_reads[i])) continue;
        struct buffer cmd = {0};
        resp_append_command(&cmd, argc, argv, argl);
        client_send_read(c, r, buffer_head(&cmd), buffer_len(&cmd));
        buffer_free(&cmd);
        return;
    }
    request_error(r,
                  "ERR DEBUG %.*s is not available through redpair: it changes or stops the "
                  "server it runs on; send it to each server directly (the admin API lists them: "
                  "GET /api/v1/backends)",
                  (int)command_arg_shown(argv[1], argl[1], 128), argv[1]);
}

/* WAIT numreplicas timeout: how many backends other than the primary hold the client's writes.
 * Under write-ack all every write was answered once all in-sync backends had it, so the answer is
 * their number, at once. Under write-ack primary it counts those that acknowledged the stream up
 * to now, polling until numreplicas have or the timeout (0: none) ends, as Redis blocks. */
struct waiter {
    uv_timer_t timer;
    struct request *r;
    uint64_t target; /* stream offset to be acknowledged; 0 under write-ack all */
    long long want;
    uint64_t deadline; /* uv_now(), 0 for none */
};

static long long replicas_holding(uint64_t target)
{
    long long n = 0;
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        const struct backend *b = &proxy.backends[i];
        n += i != proxy.primary && b->state == BACKEND_IN_SYNC && b->acked_offset >= target;
    }
    return n;
}

static void on_waiter_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_wait_tick(uv_timer_t *t)
{
    struct waiter *w = t->data;
    long long n = replicas_holding(w->target);
    bool gone = !w->r->client; /* nobody to answer */
    if (!gone && n < w->want && (!w->deadline || uv_now(proxy.loop) < w->deadline)) return;
    buffer_clear(&w->r->reply);
    resp_append_integer(&w->r->reply, n);
    request_ready(w->r);
    request_unref(w->r);
    uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

static void wait_replicas(struct request *r, int argc, const char *const *argv, const size_t *argl)
{
    long long want, timeout;
    (void)argc;
    if (!resp_parse_ll(argv[1], argl[1], &want)) {
        request_error(r, "ERR value is not an integer or out of range");
        return;
    }
    if (!request_timeout(r, argv[2], argl[2], &timeout)) return;
    uint64_t target = proxy.config->write_ack == WRITE_ACK_ALL ? 0 : proxy.stream_offset;
    long long n = replicas_holding(target);
    if (n >= want || target == 0) {
        buffer_clear(&r->reply);
        resp_append_integer(&r->reply, n);
        request_ready(r);
        return;
    }
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w) abort();
    w->r = r;
    w->target = target;
    w->want = want;
    w->deadline = timeout ? uv_now(proxy.loop) + (uint64_t)timeout : 0;
    request_ref(r);
    uv_timer_init(proxy.loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_wait_tick, 1, 1);
}

void local_execute(struct client *c, struct request *r, int argc, const char *const *argv,
                   const size_t *argl)
{
    switch (r->cmd->local) {
    case LOCAL_PING:
        if (argc > 2) {
            request_error(r, "ERR wrong number of arguments for 'ping' command");
        } else if (pubsub_subscribed(c)) { /* a subscriber gets Redis's RESP2 push shape */
            buffer_clear(&r->reply);
            buffer_append(&r->reply, "*2\r\n$4\r\npong\r\n", 14);
            resp_append_bulk(&r->reply, argc == 2 ? argv[1] : "", argc == 2 ? argl[1] : 0);
            request_ready(r);
        } else if (argc == 2) {
            buffer_clear(&r->reply);
            resp_append_bulk(&r->reply, argv[1], argl[1]);
            request_ready(r);
        } else {
            reply_bytes(r, "+PONG\r\n");
        }
        return;
    case LOCAL_ECHO:
        buffer_clear(&r->reply);
        resp_append_bulk(&r->reply, argv[1], argl[1]);
        request_ready(r);
        return;
    case LOCAL_QUIT:
        c->closing = true;
        reply_bytes(r, "+OK\r\n");
        return;
    case LOCAL_SELECT: select_db(c, r, argv[1], argl[1]); return;
    case LOCAL_AUTH: auth(c, r, argc, argv, argl); return;
    case LOCAL_INFO: info_command(c, r, argc, argv, argl); return;
    case LOCAL_CLIENT: client_command(c, r, argc, argv, argl); return;
    case LOCAL_HELLO: hello(c, r, argc, argv, argl); return;
    case LOCAL_RESET: reset(c, r); return;
    case LOCAL_WAIT: wait_replicas(r, argc, argv, argl); return;
    case LOCAL_ROLE: /* a master with no replicas: the pair behind it is redpair's business */
        buffer_clear(&r->reply);
        buffer_appendf(&r->reply, "*3\r\n$6\r\nmaster\r\n:%llu\r\n*0\r\n",
                       (unsigned long long)proxy.stream_offset);
        request_ready(r);
        return;
    case LOCAL_ACL: acl_command(c, r, argc, argv, argl); return;
    case LOCAL_SUBSCRIBE: pubsub_command(c, r, argc, argv, argl); return;
    case LOCAL_MULTI: transaction_multi(c, r); return;
    case LOCAL_EXEC: transaction_exec(c, r); return;
    case LOCAL_DISCARD: transaction_discard(c, r); return;
    case LOCAL_WATCH:
        if (c->tx) {
            request_error(r, "ERR WATCH inside MULTI is not allowed");
            return;
        }
        watch_keys(c, argc, argv, argl);
        reply_bytes(r, "+OK\r\n");
        return;
    case LOCAL_UNWATCH:
        watch_clear(c);
        reply_bytes(r, "+OK\r\n");
        return;
    case LOCAL_CONFIG: config_command(c, r, argc, argv, argl); return;
    case LOCAL_FANOUT: fanout_command(c, r, argc, argv, argl); return;
    case LOCAL_DEBUG: debug(c, r, argc, argv, argl); return;
    case LOCAL_MONITOR: monitor_feed_start(c, r); return;
    case LOCAL_NONE: break;
    }
    request_error(r, "ERR command '%s' has no local handler", r->cmd->name);
}
