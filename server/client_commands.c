#include "client_commands.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blocked.h"
#include "acl.h"
#include "acl_commands.h"
#include "client.h"
#include "command.h"
#include "pause.h"
#include "proxy.h"
#include "pubsub.h"
#include "request.h"
#include "resp.h"
#include "tracking.h"
#include "transaction.h"

bool client_name_valid(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] < '!' || name[i] > '~') return false;
    return true;
}

void client_set_name(struct client *c, const char *name, size_t len)
{
    free(c->name);
    c->name = NULL;
    if (!name || len == 0) return;
    c->name = xrealloc(NULL, len + 1);
    memcpy(c->name, name, len);
    c->name[len] = '\0';
}

/* --- CLIENT INFO and CLIENT LIST ------------------------------------------------------------ */

void client_address(const struct client *x, bool local, char *out, size_t n)
{
    struct sockaddr_storage sa;
    int len = sizeof(sa);
    char ip[64];
    int err = local ? uv_tcp_getsockname(&x->tcp, (struct sockaddr *)&sa, &len)
                    : uv_tcp_getpeername(&x->tcp, (struct sockaddr *)&sa, &len);
    if (!err && sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&sa;
        uv_ip6_name(a6, ip, sizeof(ip));
        snprintf(out, n, "[%s]:%d", ip, ntohs(a6->sin6_port));
    } else if (!err && sa.ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&sa;
        uv_ip4_name(a4, ip, sizeof(ip));
        snprintf(out, n, "%s:%d", ip, ntohs(a4->sin_port));
    } else {
        snprintf(out, n, "?:0");
    }
}

/* One line of CLIENT LIST, in Redis 7.0's fields and order. Memory figures are redpair's own
 * buffers; argv-mem is known only for the client asking (its current command, whose reply is
 * not counted as owed: Redis has not queued it yet either). */
static void info_line(struct buffer *out, const struct client *x, bool asking, size_t argv_mem)
{
    char addr[80], laddr[80], flags[8], *f = flags, events[3], *e = events;
    int fd = -1, sub, psub, ssub;
    uint64_t now = uv_now(proxy.loop);

    client_address(x, false, addr, sizeof(addr));
    client_address(x, true, laddr, sizeof(laddr));
    uv_fileno((const uv_handle_t *)&x->tcp, &fd);
    if (pubsub_subscribed(x)) *f++ = 'P';
    if (x->blocked || x->postponed) *f++ = 'b';
    if (x->tx) *f++ = 'x';
    if (x->closing) *f++ = 'c';
    if (x->no_evict) *f++ = 'e';
    if (f == flags) *f++ = 'N';
    *f = '\0';
    if (x->reading) *e++ = 'r';
    if (x->out.writing) *e++ = 'w';
    *e = '\0';
    pubsub_counts(x, &sub, &psub, &ssub);
    size_t obl = outbuf_len(&x->out);
    size_t mem = sizeof(*x) + x->in.cap + x->out.queued.cap + x->out.inflight.cap + x->scratch.cap +
                 (size_t)x->argv_cap * (sizeof(*x->argv) + sizeof(*x->argl));
    buffer_appendf(out,
                   "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu flags=%s db=%d "
                   "sub=%d psub=%d ssub=%d multi=%d qbuf=%zu qbuf-free=%zu argv-mem=%zu "
                   "multi-mem=0 rbs=%zu rbp=%zu obl=%zu oll=%u omem=%zu tot-mem=%zu events=%s "
                   "cmd=%s user=%s redir=-1 resp=2\n",
                   (unsigned long long)x->id, addr, laddr, fd, x->name ? x->name : "",
                   (unsigned long long)((now - x->created_ms) / 1000),
                   (unsigned long long)((now - x->last_ms) / 1000), flags, x->db, sub, psub, ssub,
                   transaction_queued(x), buffer_len(&x->in), x->in.cap - x->in.end, argv_mem,
                   x->out.queued.cap, x->out.queued.cap, obl, x->queued - asking, obl, mem, events,
                   x->last_cmd ? x->last_cmd->name : "NULL", x->user ? acl_user_name(x->user) : "");
}

static size_t argv_mem(int argc, const size_t *argl)
{
    size_t n = 0;
    for (int i = 0; i < argc; i++) n += argl[i];
    return n;
}

static void reply(struct request *r, const char *bytes)
{
    request_reply(r, bytes, strlen(bytes));
}

static void reply_text(struct request *r, const struct buffer *text)
{
    buffer_clear(&r->reply);
    resp_append_bulk(&r->reply, text->data ? buffer_head(text) : "", buffer_len(text)); /* "": $0 */
    request_ready(r);
}

enum type { TYPE_ANY = -1, TYPE_NORMAL, TYPE_REPLICA, TYPE_PUBSUB, TYPE_MASTER };

/* Redis's client types; redpair's clients are only ever normal or pubsub. */
static bool parse_type(struct request *r, const char *arg, size_t len, enum type *type)
{
    if (resp_arg_is(arg, len, "normal"))
        *type = TYPE_NORMAL;
    else if (resp_arg_is(arg, len, "slave") || resp_arg_is(arg, len, "replica"))
        *type = TYPE_REPLICA;
    else if (resp_arg_is(arg, len, "pubsub"))
        *type = TYPE_PUBSUB;
    else if (resp_arg_is(arg, len, "master"))
        *type = TYPE_MASTER;
    else {
        request_error(r, "ERR Unknown client type '%.*s'", (int)command_arg_shown(arg, len, 128),
                      arg);
        return false;
    }
    return true;
}

static enum type type_of(const struct client *x)
{
    return pubsub_subscribed(x) ? TYPE_PUBSUB : TYPE_NORMAL;
}

static void list(struct client *c, struct request *r, int argc, const char *const *argv,
                 const size_t *argl)
{
    enum type type = TYPE_ANY;
    struct buffer text = {0};
    size_t mine = argv_mem(argc, argl);
    if (argc > 3 && resp_arg_is(argv[2], argl[2], "id")) {
        for (int i = 3; i < argc; i++) {
            long long id;
            if (!resp_parse_ll(argv[i], argl[i], &id)) {
                buffer_free(&text);
                request_error(r, "ERR Invalid client ID");
                return;
            }
            struct client *x = client_find((uint64_t)id);
            if (x) info_line(&text, x, x == c, x == c ? mine : 0);
        }
        reply_text(r, &text);
        buffer_free(&text);
        return;
    }
    if (argc == 4 && resp_arg_is(argv[2], argl[2], "type")) {
        if (!parse_type(r, argv[3], argl[3], &type)) return;
    } else if (argc != 2) {
        request_error(r, "ERR syntax error");
        return;
    }
    /* Oldest first, as Redis lists them: the list holds the newest first. */
    struct client *x = proxy.clients;
    while (x && x->next) x = x->next;
    for (; x; x = x->prev)
        if (type == TYPE_ANY || type_of(x) == type) info_line(&text, x, x == c, x == c ? mine : 0);
    reply_text(r, &text);
    buffer_free(&text);
}

/* --- CLIENT KILL ----------------------------------------------------------------------------- */

struct kill_filter {
    const char *addr, *laddr; /* NULL: any */
    size_t addr_len, laddr_len;
    enum type type;
    long long id;                /* 0: any */
    const struct acl_user *user; /* NULL: any */
    bool skipme;
};

static bool address_is(const struct client *x, bool local, const char *want, size_t len)
{
    char addr[80];
    client_address(x, local, addr, sizeof(addr));
    return strlen(addr) == len && memcmp(addr, want, len) == 0;
}

static bool kill_options(struct request *r, int argc, const char *const *argv, const size_t *argl,
                         struct kill_filter *k)
{
    for (int i = 2; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        size_t len = argl[i], vlen = val ? argl[i + 1] : 0;
        if (val && resp_arg_is(opt, len, "id")) {
            if (!resp_parse_ll(val, vlen, &k->id) || k->id < 1) {
                request_error(r, "ERR client-id should be greater than 0");
                return false;
            }
        } else if (val && resp_arg_is(opt, len, "type")) {
            if (!parse_type(r, val, vlen, &k->type)) return false;
        } else if (val && resp_arg_is(opt, len, "addr")) {
            k->addr = val;
            k->addr_len = vlen;
        } else if (val && resp_arg_is(opt, len, "laddr")) {
            k->laddr = val;
            k->laddr_len = vlen;
        } else if (val && resp_arg_is(opt, len, "user")) {
            k->user = acl_user_named(val, vlen);
            if (!k->user) {
                request_error(r, "ERR No such user '%.*s'", (int)command_arg_shown(val, vlen, 128),
                              val);
                return false;
            }
        } else if (val && resp_arg_is(opt, len, "skipme") &&
                   (resp_arg_is(val, vlen, "yes") || resp_arg_is(val, vlen, "no"))) {
            k->skipme = resp_arg_is(val, vlen, "yes");
        } else {
            request_error(r, "ERR syntax error");
            return false;
        }
    }
    return true;
}

/* CLIENT KILL addr (the old form, which may kill the caller itself) or CLIENT KILL <filter
 * value> ...: the caller is closed after its reply, the others at once. */
static void kill_clients(struct client *c, struct request *r, int argc, const char *const *argv,
                         const size_t *argl)
{
    struct kill_filter k = {.type = TYPE_ANY, .skipme = true};
    bool old_form = argc == 3;
    if (old_form) {
        k.addr = argv[2];
        k.addr_len = argl[2];
        k.skipme = false;
    } else if (!kill_options(r, argc, argv, argl, &k)) {
        return;
    }
    long long killed = 0;
    for (struct client *x = proxy.clients, *next; x; x = next) {
        next = x->next;
        if ((k.addr && !address_is(x, false, k.addr, k.addr_len)) ||
            (k.laddr && !address_is(x, true, k.laddr, k.laddr_len)) ||
            (k.type != TYPE_ANY && type_of(x) != k.type) || (k.id && (long long)x->id != k.id) ||
            (k.user && x->user != k.user) || (x == c && k.skipme))
            continue;
        killed++;
        if (x == c)
            c->closing = true;
        else
            client_close(x);
    }
    if (!old_form) {
        buffer_clear(&r->reply);
        resp_append_integer(&r->reply, killed);
        request_ready(r);
    } else if (killed) {
        reply(r, "+OK\r\n");
    } else {
        request_error(r, "ERR No such client");
    }
}

/* --- the rest -------------------------------------------------------------------------------- */

static void on_off(struct request *r, const char *arg, size_t len, bool *flag)
{
    if (!resp_arg_is(arg, len, "on") && !resp_arg_is(arg, len, "off")) {
        request_error(r, "ERR syntax error");
        return;
    }
    if (flag) *flag = resp_arg_is(arg, len, "on");
    reply(r, "+OK\r\n");
}

static void unblock(struct request *r, int argc, const char *const *argv, const size_t *argl)
{
    long long id;
    if (argc > 4) {
        request_error(r, "ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. "
                         "Try CLIENT HELP.");
    } else if (argc == 4 && !resp_arg_is(argv[3], argl[3], "timeout") &&
               !resp_arg_is(argv[3], argl[3], "error")) {
        request_error(r, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    } else if (!resp_parse_ll(argv[2], argl[2], &id)) {
        request_error(r, "ERR value is not an integer or out of range");
    } else {
        struct client *x = client_find((uint64_t)id);
        bool error = argc == 4 && resp_arg_is(argv[3], argl[3], "error");
        reply(r, x && blocked_unblock(x, error) ? ":1\r\n" : ":0\r\n");
    }
}

static void setinfo(struct request *r, const char *const *argv, const size_t *argl)
{
    if (!resp_arg_is(argv[2], argl[2], "lib-name") && !resp_arg_is(argv[2], argl[2], "lib-ver")) {
        request_error(r, "ERR Unrecognized option '%.*s'",
                      (int)command_arg_shown(argv[2], argl[2], 128), argv[2]);
    } else if (!client_name_valid(argv[3], argl[3])) {
        request_error(r, "ERR %.*s cannot contain spaces, newlines or special characters.",
                      (int)command_arg_shown(argv[2], argl[2], 128), argv[2]);
    } else {
        reply(r, "+OK\r\n"); /* accepted; CLIENT LIST keeps 7.0's fields */
    }
}

/* CLIENT REPLY ON|OFF|SKIP: replies dropped in redpair, the servers know nothing of it. OFF
 * and SKIP go unanswered themselves, as in Redis. */
static void reply_mode(struct client *c, struct request *r, const char *arg, size_t len)
{
    if (resp_arg_is(arg, len, "on")) {
        c->reply_off = c->reply_skip_next = r->silent = false;
    } else if (resp_arg_is(arg, len, "off")) {
        c->reply_off = r->silent = true;
    } else if (resp_arg_is(arg, len, "skip")) {
        c->reply_skip_next = !c->reply_off;
        r->silent = true;
    } else {
        request_error(r, "ERR syntax error");
        return;
    }
    reply(r, "+OK\r\n");
}

enum sub {
    SUB_ID,
    SUB_GETNAME,
    SUB_SETNAME,
    SUB_INFO,
    SUB_LIST,
    SUB_KILL,
    SUB_NO_EVICT,
    SUB_TRACKING,
    SUB_TRACKINGINFO,
    SUB_GETREDIR,
    SUB_CACHING,
    SUB_UNBLOCK,
    SUB_REPLY,
    SUB_SETINFO,
    SUB_PAUSE,
    SUB_UNPAUSE,
    SUB_HELP,
};

static const struct {
    const char *name;
    int arity; /* as Redis's: counting CLIENT and the subcommand */
} subs[] = {
    [SUB_ID] = {"id", 2},
    [SUB_GETNAME] = {"getname", 2},
    [SUB_SETNAME] = {"setname", 3},
    [SUB_INFO] = {"info", 2},
    [SUB_LIST] = {"list", -2},
    [SUB_KILL] = {"kill", -3},
    [SUB_NO_EVICT] = {"no-evict", 3},
    [SUB_TRACKING] = {"tracking", -3},
    [SUB_TRACKINGINFO] = {"trackinginfo", 2},
    [SUB_GETREDIR] = {"getredir", 2},
    [SUB_CACHING] = {"caching", 3},
    [SUB_UNBLOCK] = {"unblock", -3},
    [SUB_REPLY] = {"reply", 3},
    [SUB_SETINFO] = {"setinfo", 4},
    [SUB_PAUSE] = {"pause", -3},
    [SUB_UNPAUSE] = {"unpause", 2},
    [SUB_HELP] = {"help", 2},
};

void client_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl)
{
    size_t s = 0, n = sizeof(subs) / sizeof(subs[0]);
    while (s < n && !resp_arg_is(argv[1], argl[1], subs[s].name)) s++; /* CLIENT's arity is -2 */
    if (s == n) {
        /* The table knows it (PAUSE, a newer server's subcommand) but redpair does not do it;
         * a table without subcommands (Redis 6) lets anything through. */
        if (strchr(r->cmd->name, '|'))
            request_error(r, "ERR command '%s' is not supported by redpair yet", r->cmd->name);
        else
            request_error(r, "ERR unknown subcommand '%.*s'. Try CLIENT HELP.",
                          (int)command_arg_shown(argv[1], argl[1], 128), argv[1]);
        return;
    }
    int arity = subs[s].arity;
    if ((arity > 0 && argc != arity) || argc < -arity) {
        request_error(r, "ERR wrong number of arguments for 'client|%s' command", subs[s].name);
        return;
    }
    struct buffer text = {0};
    switch ((enum sub)s) {
    case SUB_ID:
        buffer_clear(&r->reply);
        resp_append_integer(&r->reply, (long long)c->id);
        request_ready(r);
        return;
    case SUB_GETNAME:
        if (!c->name) {
            reply(r, "$-1\r\n");
            return;
        }
        buffer_clear(&r->reply);
        resp_append_bulk(&r->reply, c->name, strlen(c->name));
        request_ready(r);
        return;
    case SUB_SETNAME:
        if (!client_name_valid(argv[2], argl[2])) {
            request_error(r, "%s", CLIENT_NAME_ERROR);
            return;
        }
        client_set_name(c, argv[2], argl[2]);
        reply(r, "+OK\r\n");
        return;
    case SUB_INFO:
        info_line(&text, c, true, argv_mem(argc, argl));
        reply_text(r, &text);
        buffer_free(&text);
        return;
    case SUB_LIST: list(c, r, argc, argv, argl); return;
    case SUB_KILL: kill_clients(c, r, argc, argv, argl); return;
    case SUB_NO_EVICT: on_off(r, argv[2], argl[2], &c->no_evict); return;
    case SUB_TRACKING: tracking_command(c, r, argc, argv, argl); return;
    case SUB_TRACKINGINFO: tracking_info(c, r); return;
    case SUB_GETREDIR: tracking_getredir(c, r); return;
    case SUB_CACHING: tracking_caching(c, r, argv[2], argl[2]); return;
    case SUB_UNBLOCK: unblock(r, argc, argv, argl); return;
    case SUB_REPLY: reply_mode(c, r, argv[2], argl[2]); return;
    case SUB_SETINFO: setinfo(r, argv, argl); return;
    case SUB_PAUSE: pause_command(r, argc, argv, argl); return;
    case SUB_UNPAUSE:
        pause_end();
        reply(r, "+OK\r\n");
        return;
    case SUB_HELP: /* the server's own text */
        resp_append_command(&text, argc, argv, argl);
        client_send_read(c, r, buffer_head(&text), buffer_len(&text));
        buffer_free(&text);
        return;
    }
}
