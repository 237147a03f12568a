#include "fanout.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "backend.h"
#include "client.h"
#include "command.h"
#include "config.h"
#include "hidden.h"
#include "monitor.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"
#include "stats.h"

enum merge {
    ALL,         /* every server's reply alike; an error if any gave one */
    OLDEST,      /* the smallest integer */
    SUM,         /* the sum of the integers */
    SLOWLOG,     /* SLOWLOG GET: the newest entries of all, labelled */
    SLOWLOG_LEN, /* SLOWLOG LEN: how many of them there are */
    LATEST,      /* LATENCY LATEST: every server's events, labelled */
    HISTORY,     /* LATENCY HISTORY: the samples of all, by time */
    TEXT,        /* each server's text under a line naming it */
    HISTOGRAM,   /* LATENCY HISTOGRAM: every server's commands, labelled */
    KILLED,      /* SCRIPT KILL, FUNCTION KILL: +OK if any server killed one */
    PRIMARY,     /* FUNCTION STATS: the primary's, while a script runs there too */
};

static const struct kind {
    const char *name;
    enum merge merge;
    bool events; /* its arguments are LATENCY events, which may name a server */
} kinds[] = {
    {"save", ALL, false},
    {"bgsave", ALL, false},
    {"bgrewriteaof", ALL, false},
    {"config|resetstat", ALL, false},
    {"config|rewrite", ALL, false},
    {"slowlog|reset", ALL, false},
    {"memory|purge", ALL, false},
    {"lastsave", OLDEST, false},
    {"slowlog|len", SLOWLOG_LEN, false},
    {"slowlog|get", SLOWLOG, false},
    {"latency|latest", LATEST, false},
    {"latency|history", HISTORY, true},
    {"latency|graph", TEXT, true},
    {"latency|reset", SUM, true},
    {"latency|doctor", TEXT, false},
    {"latency|histogram", HISTOGRAM, false},
    {"script|kill", KILLED, false},
    {"function|kill", KILLED, false},
    {"function|stats", PRIMARY, false},
};

static const struct kind *kind_of(const struct command *cmd)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (!strcmp(kinds[i].name, cmd->name)) return &kinds[i];
    return &kinds[0];
}

/* --- the replies ----------------------------------------------------------------------------- */

struct part {
    const char *name; /* the server's */
    const char *p;
    size_t len;
};

/* The replies that came, in the servers' order; the primary's index in *primary (-1: none). */
static int parts_of(const struct request *r, struct part parts[CONFIG_BACKENDS], int *primary)
{
    int n = 0;
    *primary = -1;
    for (int b = 0; b < CONFIG_BACKENDS; b++) {
        const struct buffer *reply = b == r->reply_from   ? &r->reply
                                     : b == r->other_from ? &r->other
                                                          : NULL;
        if (!reply) continue;
        if (b == r->primary) *primary = n;
        parts[n++] = (struct part){proxy_backend_name(b), buffer_head(reply), buffer_len(reply)};
    }
    return n;
}

/* An array's elements: p and left are past its header. */
struct list {
    const char *p;
    size_t left;
    long long count;
};

static bool open_list(const struct part *part, struct list *l)
{
    struct resp_value v;
    l->p = part->p;
    l->left = part->len;
    if (!resp_value_next(&l->p, &l->left, &v) || v.type != '*' || v.integer < 0) return false;
    l->count = v.integer;
    return true;
}

/* The next element of a list, whole. */
static bool next_element(struct list *l, const char **at, size_t *len)
{
    const char *start = l->p;
    if (l->count <= 0 || !resp_value_skip(&l->p, &l->left)) return false;
    l->count--;
    *at = start;
    *len = (size_t)(l->p - start);
    return true;
}

/* The integers of an array at p (an element of one): [0] and [1], as SLOWLOG GET's id and time
 * and LATENCY HISTORY's time are. */
static bool leading_integers(const char *p, size_t len, long long out[2])
{
    struct resp_value v;
    if (!resp_value_next(&p, &len, &v) || v.type != '*' || v.integer < 2) return false;
    for (int i = 0; i < 2; i++) {
        if (!resp_value_next(&p, &len, &v) || v.type != ':') return false;
        out[i] = v.integer;
    }
    return true;
}

static void append_labelled(struct buffer *out, const char *label, const char *s, size_t len)
{
    struct buffer text = {0};
    buffer_appendf(&text, "%s:", label);
    buffer_append(&text, s, len);
    resp_append_bulk(out, buffer_head(&text), buffer_len(&text));
    buffer_free(&text);
}

/* SLOWLOG GET: an entry is [id, time, duration, arguments, client address, client name]; the
 * server's name goes in place of the client's, which is one of redpair's links. */
static void append_slowlog_entry(struct buffer *out, const char *entry, size_t len,
                                 const char *name)
{
    struct resp_value v;
    const char *p = entry;
    size_t left = len;
    if (!resp_value_next(&p, &left, &v) || v.type != '*') {
        buffer_append(out, entry, len);
        return;
    }
    buffer_append(out, entry, (size_t)(p - entry));
    for (long long i = 0; i < v.integer; i++) {
        const char *field = p;
        resp_value_skip(&p, &left);
        if (i == 5)
            resp_append_bulk(out, name, strlen(name));
        else
            buffer_append(out, field, (size_t)(p - field));
    }
}

/* How many entries SLOWLOG GET asked for: 10 by default, -1 for all (the servers have checked). */
static long long slowlog_count(const struct request *r)
{
    struct resp_request parser;
    long long count = 10;
    resp_request_init(&parser, LLONG_MAX);
    if (resp_request_parse(&parser, buffer_head(&r->effect), buffer_len(&r->effect)) == RESP_DONE &&
        parser.argc > 2 &&
        !resp_parse_ll(resp_request_arg(&parser, buffer_head(&r->effect), 2), parser.argv[2].len,
                       &count))
        count = 10;
    resp_request_free(&parser);
    return count < 0 ? LLONG_MAX : count;
}

/* A SLOWLOG entry of redpair's own making, [id, time, duration, arguments, address, name]: its
 * arguments name the offset key (the mark each transaction ends with, the scripts that keep the
 * key out of sight), or it came from the monitor's connection (the probes). */
static bool own_entry(const char *p, size_t len)
{
    struct resp_value v, args;
    bool own = false;
    if (!resp_value_next(&p, &len, &v) || v.type != '*' || v.integer < 6) return false;
    for (int i = 0; i < 3; i++)
        if (!resp_value_skip(&p, &len)) return false;
    if (!resp_value_next(&p, &len, &args) || args.type != '*') return false;
    for (long long i = 0; i < args.integer; i++) {
        if (!resp_value_next(&p, &len, &v)) return false;
        own |= v.type == '$' && hidden_key(v.str, v.len);
    }
    return own || (resp_value_skip(&p, &len) && resp_value_next(&p, &len, &v) && v.type == '$' &&
                   monitor_client_named(v.str, v.len));
}

struct element {
    const char *at;
    size_t len;
    long long key[2]; /* what it sorts by, first the more significant */
    int part;
};

/* Orders SLOWLOG entries newest first (by time, then id) and LATENCY HISTORY samples oldest
 * first, as each server lists its own. */
static int newest_first(const void *a, const void *b)
{
    const struct element *x = a, *y = b;
    for (int i = 0; i < 2; i++)
        if (x->key[i] != y->key[i]) return x->key[i] > y->key[i] ? -1 : 1;
    return x->part - y->part;
}

static int oldest_first(const void *a, const void *b)
{
    const struct element *x = a, *y = b;
    if (x->key[0] != y->key[0]) return x->key[0] < y->key[0] ? -1 : 1;
    return x->part - y->part;
}

/* SLOWLOG GET (newest first, at most max, labelled, without redpair's own entries; with count
 * alone, SLOWLOG LEN) and LATENCY HISTORY (by time): the elements of every server's list. */
static void merge_lists(struct buffer *out, const struct part *parts, struct list *lists, int n,
                        enum merge merge, long long max)
{
    bool slowlog = merge != HISTORY;
    size_t total = 0, kept = 0;
    for (int i = 0; i < n; i++) total += (size_t)lists[i].count;
    struct element *all = xrealloc(NULL, (total ? total : 1) * sizeof(*all));
    for (int i = 0; i < n; i++) {
        struct element e = {.part = i};
        while (next_element(&lists[i], &e.at, &e.len)) {
            if (slowlog && own_entry(e.at, e.len)) continue;
            leading_integers(e.at, e.len, e.key);
            if (slowlog) { /* [id, time]: by time, then id */
                long long id = e.key[0];
                e.key[0] = e.key[1];
                e.key[1] = id;
            }
            all[kept++] = e;
        }
    }
    qsort(all, kept, sizeof(*all), slowlog ? newest_first : oldest_first);
    if ((long long)kept > max) kept = (size_t)max;
    if (merge == SLOWLOG_LEN) {
        resp_append_integer(out, (long long)kept);
    } else {
        resp_append_array_header(out, (long long)kept);
        for (size_t k = 0; k < kept; k++) {
            if (slowlog)
                append_slowlog_entry(out, all[k].at, all[k].len, parts[all[k].part].name);
            else
                buffer_append(out, all[k].at, all[k].len);
        }
    }
    free(all);
}

/* LATENCY LATEST's entries [event, …] and LATENCY HISTOGRAM's pairs (command, details): the
 * first of each, labelled with the server's name. */
static void merge_labelled(struct buffer *out, const struct part *parts, const struct list *lists,
                           int n, int stride)
{
    long long total = 0;
    for (int i = 0; i < n; i++) total += lists[i].count;
    resp_append_array_header(out, total);
    for (int i = 0; i < n; i++) {
        struct list l = lists[i];
        const char *at;
        size_t len;
        for (long long k = 0; next_element(&l, &at, &len); k++) {
            struct resp_value v;
            const char *p = at;
            size_t left = len;
            if (stride == 2 && k % 2) { /* a histogram's details */
                buffer_append(out, at, len);
                continue;
            }
            if (stride == 1) { /* an entry: its event is its first element */
                resp_value_next(&p, &left, &v);
                buffer_append(out, at, (size_t)(p - at));
            }
            const char *name = p;
            resp_value_next(&p, &left, &v);
            if (v.type == '$' && v.str)
                append_labelled(out, parts[i].name, v.str, v.len);
            else
                buffer_append(out, name, (size_t)(p - name));
            buffer_append(out, p, left);
        }
    }
}

static void merge_text(struct buffer *out, const struct part *parts, int n)
{
    struct buffer text = {0};
    for (int i = 0; i < n; i++) {
        struct resp_value v;
        const char *p = parts[i].p;
        size_t left = parts[i].len;
        resp_value_next(&p, &left, &v);
        buffer_appendf(&text, "%sbackend %s:\n", i ? "\n" : "", parts[i].name);
        buffer_append(&text, v.str, v.len);
    }
    resp_append_bulk(out, buffer_head(&text), buffer_len(&text));
    buffer_free(&text);
}

/* Every reply is of this type (and, for an array, a well-formed one). */
static bool all_of(const struct part *parts, int n, char type, struct list *lists)
{
    for (int i = 0; i < n; i++) {
        struct resp_value v;
        if (resp_value_read(parts[i].p, parts[i].len, &v) == 0 || v.type != type) return false;
        if (type == '$' && !v.str) return false;
        if (type == '*' && !open_list(&parts[i], &lists[i])) return false;
    }
    return true;
}

/* The integers of every reply, added up or their smallest. */
static bool merge_integers(struct buffer *out, const struct part *parts, int n, bool sum)
{
    long long total = 0, oldest = LLONG_MAX;
    for (int i = 0; i < n; i++) {
        struct resp_value v;
        if (!resp_value_read(parts[i].p, parts[i].len, &v) || v.type != ':') return false;
        total += v.integer;
        if (v.integer < oldest) oldest = v.integer;
    }
    resp_append_integer(out, sum ? total : oldest);
    return true;
}

/* The one reply made of all of them, into out; false when it is one server's as it came. */
static bool merge(const struct request *r, enum merge merge, const struct part *parts, int n,
                  struct buffer *out)
{
    struct list lists[CONFIG_BACKENDS];
    switch (merge) {
    case OLDEST:
    case SUM: return n > 1 && merge_integers(out, parts, n, merge == SUM);
    case SLOWLOG:
    case SLOWLOG_LEN:
    case HISTORY:
        if (!all_of(parts, n, '*', lists)) return false;
        merge_lists(out, parts, lists, n, merge, merge == SLOWLOG ? slowlog_count(r) : LLONG_MAX);
        return true;
    case LATEST:
    case HISTOGRAM:
        if (!all_of(parts, n, '*', lists)) return false;
        merge_labelled(out, parts, lists, n, merge == LATEST ? 1 : 2);
        return true;
    case TEXT:
        if (n < 2 || !all_of(parts, n, '$', lists)) return false;
        merge_text(out, parts, n);
        return true;
    case ALL:
    case KILLED:
    case PRIMARY: break;
    }
    return false;
}

/* The reply that speaks for all when they are not merged: an error if any server gave one, the
 * primary's first, as that is what went wrong; for a kill, +OK if any killed. */
static int chosen_part(enum merge merge, const struct part *parts, int n, int primary)
{
    int chosen = primary >= 0 ? primary : 0;
    for (int i = 0; i < n; i++)
        if (parts[i].p[0] == '-' && parts[chosen].p[0] != '-') chosen = i;
    for (int i = 0; merge == KILLED && i < n; i++)
        if (parts[i].len == 5 && !memcmp(parts[i].p, "+OK\r\n", 5)) chosen = i;
    return chosen;
}

static void combine(struct request *r)
{
    struct part parts[CONFIG_BACKENDS];
    int primary, n = parts_of(r, parts, &primary);
    const struct kind *k = kind_of(r->cmd);
    if (n == 0) {
        request_error(r, "ERR redpair lost the connection to every backend before they replied");
        return;
    }
    /* Made aside: the parts point into the request's buffers. */
    struct buffer combined = {0};
    if (!merge(r, k->merge, parts, n, &combined)) {
        int chosen = chosen_part(k->merge, parts, n, primary);
        buffer_clear(&combined);
        buffer_append(&combined, parts[chosen].p, parts[chosen].len);
    }
    buffer_free(&r->reply);
    buffer_clear(&r->other);
    r->reply = combined;
    if (!strcmp(r->cmd->name, "config|resetstat") && buffer_head(&r->reply)[0] == '+') {
        stats_reset();
        proxy.commands_processed = 0;
    }
    request_ready(r);
}

void fanout_reply(struct request *r, int backend, const char *reply, size_t len)
{
    r->awaiting &= (uint8_t) ~(1u << backend);
    if (reply && r->reply_from < 0) {
        buffer_append(&r->reply, reply, len);
        r->reply_from = (int8_t)backend;
    } else if (reply) {
        buffer_append(&r->other, reply, len);
        r->other_from = (int8_t)backend;
    }
    if (!r->awaiting) combine(r);
}

/* --- sending --------------------------------------------------------------------------------- */

/* A reply on the monitor's connection to one server, which a running script does not hold. */
struct on_monitor {
    struct request *r;
    int backend;
};

/* RESP2 again from what hiredis parsed, byte for byte what the server sent. */
static void append_parsed(struct buffer *out, const struct redisReply *reply)
{
    switch (reply->type) {
    case REDIS_REPLY_STATUS: buffer_appendf(out, "+%s\r\n", reply->str); break;
    case REDIS_REPLY_ERROR: buffer_appendf(out, "-%s\r\n", reply->str); break;
    case REDIS_REPLY_INTEGER: resp_append_integer(out, reply->integer); break;
    case REDIS_REPLY_STRING: resp_append_bulk(out, reply->str, reply->len); break;
    case REDIS_REPLY_ARRAY:
        resp_append_array_header(out, (long long)reply->elements);
        for (size_t i = 0; i < reply->elements; i++) append_parsed(out, reply->element[i]);
        break;
    default: buffer_append(out, "$-1\r\n", 5); break; /* nil: RESP2 has one way to say it */
    }
}

static void on_monitor_reply(void *arg, const struct redisReply *reply);

/* monitor_command() takes C strings: the client's arguments are not. */
static void monitor_send(int b, struct on_monitor *m, int argc, const char **argv,
                         const size_t *argl)
{
    char **copies = xrealloc(NULL, (size_t)argc * sizeof(*copies));
    for (int i = 0; i < argc; i++) {
        copies[i] = memcpy(xrealloc(NULL, argl[i] + 1), argv[i], argl[i]);
        copies[i][argl[i]] = '\0';
    }
    monitor_command(b, on_monitor_reply, m, argc, (const char **)copies);
    for (int i = 0; i < argc; i++) free(copies[i]);
    free(copies);
}

static void on_monitor_reply(void *arg, const struct redisReply *reply)
{
    struct on_monitor *m = arg;
    struct buffer bytes = {0};
    if (reply) append_parsed(&bytes, reply);
    fanout_reply(m->r, m->backend, reply ? buffer_head(&bytes) : NULL, buffer_len(&bytes));
    buffer_free(&bytes);
    request_unref(m->r);
    free(m);
}

/* The server a LATENCY event argument names ("a:command"), or -1 for a bare event. */
static int event_server(const char *arg, size_t len, size_t *skip)
{
    const char *colon = memchr(arg, ':', len);
    *skip = 0;
    for (int b = 0; colon && b < CONFIG_BACKENDS; b++) {
        const char *name = proxy.backends[b].name;
        if (strlen(name) != (size_t)(colon - arg) || memcmp(arg, name, strlen(name))) continue;
        *skip = strlen(name) + 1;
        return b;
    }
    return -1;
}

/* The copy for server b: the events that are its own, bare. False: none of the events is. */
static bool events_for(int b, int argc, const char *const *argv, const size_t *argl,
                       const char **out, size_t *outl, int *outc)
{
    int n = 2, others = 0;
    out[0] = argv[0], outl[0] = argl[0];
    out[1] = argv[1], outl[1] = argl[1];
    for (int i = 2; i < argc; i++) {
        size_t skip;
        int server = event_server(argv[i], argl[i], &skip);
        if (server >= 0 && server != b) {
            others++;
            continue;
        }
        out[n] = argv[i] + skip;
        outl[n++] = argl[i] - skip;
    }
    *outc = n;
    return n > 2 || others == 0;
}

void fanout_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl)
{
    const struct kind *k = kind_of(r->cmd);
    const char **args = xrealloc(NULL, (size_t)(argc + 1) * sizeof(*args));
    size_t *lens = xrealloc(NULL, (size_t)(argc + 1) * sizeof(*lens));
    struct buffer bytes = {0};
    r->fanout = true;
    r->primary = (int8_t)proxy.primary;
    buffer_clear(&r->effect);
    resp_append_command(&r->effect, argc, argv, argl);

    r->awaiting = 0;
    for (int b = 0; b < CONFIG_BACKENDS; b++) {
        int n = argc;
        memcpy(args, argv, (size_t)argc * sizeof(*args));
        memcpy(lens, argl, (size_t)argc * sizeof(*lens));
        if (!backend_in_stream(&proxy.backends[b]) || !proxy.backends[b].connected ||
            (k->merge == PRIMARY && b != proxy.primary) ||
            (k->events && !events_for(b, argc, argv, argl, args, lens, &n)))
            continue;
        /* Replies come on later loop turns, so the bits can be set one by one. */
        r->awaiting |= (uint8_t)(1u << b);
        /* What a server answers while busy in a script (SCRIPT KILL) goes where the script does
         * not hold it up. */
        if (r->cmd->flags & CMD_FLAG_ALLOW_BUSY) {
            struct on_monitor *m = xrealloc(NULL, sizeof(*m));
            *m = (struct on_monitor){r, b};
            request_ref(r);
            monitor_send(b, m, n, args, lens);
            continue;
        }
        if (k->merge == SLOWLOG_LEN) { /* counted from the entries, less redpair's own */
            n = 3;
            args[1] = "GET", args[2] = "-1";
            lens[1] = 3, lens[2] = 2;
        }
        buffer_clear(&bytes);
        resp_append_command(&bytes, n, args, lens);
        backend_send(&proxy.backends[b], r, c->db, buffer_head(&bytes), buffer_len(&bytes));
    }
    if (!r->awaiting) request_error(r, "ERR redpair has no backend in sync to send it to");
    buffer_free(&bytes);
    free(args);
    free(lens);
}
