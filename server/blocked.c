#include "blocked.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buffer.h"
#include "client.h"
#include "command.h"
#include "keytable.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"
#include "unit.h"

enum blocked_kind {
    POP,        /* BLPOP and the rest that take from the first of their keys with data */
    MOVE,       /* BLMOVE, BRPOPLPUSH: wait on their source alone */
    XREAD,      /* reads: entries after an ID, nothing taken */
    XREADGROUP, /* hands entries to a consumer of a group */
};

struct blocked {
    struct client *client; /* NULL once its connection closed */
    struct request *r;     /* the client's, answered once: served, failed or timed out */
    int db;
    enum blocked_kind kind;
    struct buffer command; /* the blocking command (XREAD's `$` resolved by the first attempt) */
    struct buffer attempt; /* what the attempt on its way sends: lookups, then the command */
    unsigned lookups;      /* commands before the blocking one in `attempt` */
    bool answered_once;    /* an attempt came back: the next ones are retries */
    struct buffer wake;    /* BLMOVE, BRPOPLPUSH: the destination, which gains what they take */
    struct keylink *keys;
    struct keylink **ready; /* the keys written since the last attempt left, first written first */
    unsigned nready;
    uv_timer_t timer;
    bool in_flight;     /* an attempt is on its way */
    bool again;         /* and a write named a key since it left: try once more */
    const char *ending; /* the timeout passed, or CLIENT UNBLOCK came: a nil gets this instead */
    bool queued;        /* in the retry queue */
    struct blocked *retry_next;
};

static struct keytable waiting;
static struct blocked *retry_head, *retry_tail;
static unsigned parked;

bool blocked_any(void)
{
    return !keytable_empty(&waiting);
}

unsigned blocked_count(void)
{
    return parked;
}

static void queue_retry(struct blocked *b)
{
    if (b->queued) return;
    b->queued = true;
    b->retry_next = NULL;
    if (retry_tail)
        retry_tail->retry_next = b;
    else
        retry_head = b;
    retry_tail = b;
}

static void dequeue_retry(struct blocked *b)
{
    if (!b->queued) return;
    struct blocked *prev = NULL;
    for (struct blocked *q = retry_head; q; prev = q, q = q->retry_next) {
        if (q != b) continue;
        if (prev)
            prev->retry_next = b->retry_next;
        else
            retry_head = b->retry_next;
        if (retry_tail == b) retry_tail = prev;
        break;
    }
    b->queued = false;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct blocked *b = h->data;
    request_unref(b->r);
    buffer_free(&b->command);
    buffer_free(&b->attempt);
    buffer_free(&b->wake);
    free(b->ready);
    free(b);
}

/* Off the keys and the queue for good; freed once no attempt needs it any more. */
static void unpark(struct blocked *b)
{
    keytable_remove_all(&waiting, &b->keys);
    dequeue_retry(b);
    if (b->client) {
        b->client->blocked = NULL;
        b->client = NULL;
        parked--;
    }
    if (!b->in_flight && !uv_is_closing((uv_handle_t *)&b->timer))
        uv_close((uv_handle_t *)&b->timer, on_timer_closed);
}

/* Gives the client its reply and lets it go on with the commands that waited behind. */
static void serve(struct blocked *b, const char *reply, size_t len)
{
    struct client *c = b->client;
    struct request *r = b->r;
    request_ref(r);
    unpark(b);
    request_reply(r, reply, len);
    request_unref(r);
    client_unblocked(c);
}

static bool is_nil(const struct buffer *reply)
{
    return buffer_len(reply) == 5 && (memcmp(buffer_head(reply), "*-1\r\n", 5) == 0 ||
                                      memcmp(buffer_head(reply), "$-1\r\n", 5) == 0);
}

/* The link the attempt went down was lost: nothing was taken for certain, so try again. */
static bool is_lost(const struct buffer *reply)
{
    static const char lost[] = "-ERR redpair lost ";
    return buffer_len(reply) > sizeof(lost) &&
           memcmp(buffer_head(reply), lost, sizeof(lost) - 1) == 0;
}

/* The last ID of a stream from XREVRANGE key + - COUNT 1: "0-0" when it has none. */
static void last_id(const struct buffer *reply, const char **id, size_t *len)
{
    const char *p = buffer_head(reply);
    size_t n = buffer_len(reply), used;
    struct resp_value v;
    *id = "0-0";
    *len = 3;
    if (!(used = resp_value_read(p, n, &v)) || v.type != '*' || v.integer < 1) return;
    p += used, n -= used;
    if (!(used = resp_value_read(p, n, &v)) || v.type != '*') return;
    p += used, n -= used;
    if (!resp_value_read(p, n, &v) || v.type != '$' || !v.str) return;
    *id = v.str;
    *len = v.len;
}

static bool is_dollar(const char *s, size_t len)
{
    return len == 1 && s[0] == '$';
}

/* The parsed arguments of b's command and where its keys are; XREAD's IDs follow its keys. */
struct parsed {
    struct resp_request parser;
    const char **argv;
    size_t *argl;
    int argc, cap;
    struct command_keypos keys;
};

static void parse_command(const struct blocked *b, struct parsed *p)
{
    *p = (struct parsed){0};
    resp_request_init(&p->parser, proxy.config->proto_max_bulk_len);
    resp_request_parse(&p->parser, buffer_head(&b->command), buffer_len(&b->command));
    resp_request_args(&p->parser, buffer_head(&b->command), &p->argv, &p->argl, &p->cap);
    p->argc = p->parser.argc;
    command_keypos(b->r->cmd, p->argc, p->argv, p->argl, &p->keys);
}

static void parsed_free(struct parsed *p)
{
    command_keypos_free(&p->keys);
    free(p->argv);
    free(p->argl);
    resp_request_free(&p->parser);
}

/* The first attempt of an XREAD with `$` looked up each such stream's last ID before it: from
 * now on, the XREAD asks for what comes after those. */
static void resolve_dollars(struct blocked *b, const struct unit *u)
{
    struct parsed p;
    parse_command(b, &p);
    for (int i = 0, lookup = 0; i < p.keys.n; i++) {
        int at = p.keys.pos[i] + p.keys.n; /* its ID */
        if (is_dollar(p.argv[at], p.argl[at]))
            last_id(unit_reply(u, (unsigned)lookup++), &p.argv[at], &p.argl[at]);
    }
    struct buffer resolved = {0};
    resp_append_command(&resolved, p.argc, p.argv, p.argl);
    parsed_free(&p);
    buffer_free(&b->command);
    b->command = resolved;
}

/* A retry: the command with the keys written since the last attempt first, in the order they
 * were written, as Redis serves a waiter from the key that became ready first (XREAD's IDs
 * move with their streams). XREADGROUP looks up its streams' types first, to tell a stream
 * deleted under it from a group destroyed. */
static void build_retry(struct blocked *b)
{
    struct parsed p;
    parse_command(b, &p);
    int n = p.keys.n, ids = b->kind == XREAD || b->kind == XREADGROUP ? n : 0;
    buffer_clear(&b->attempt);
    b->lookups = 0;
    for (int i = 0; b->kind == XREADGROUP && i < n; i++, b->lookups++)
        resp_append_command(&b->attempt, 2, (const char *[]){"TYPE", p.argv[p.keys.pos[i]]},
                            (const size_t[]){4, p.argl[p.keys.pos[i]]});

    const char **argv = xrealloc(NULL, (size_t)p.argc * sizeof(*argv));
    size_t *argl = xrealloc(NULL, (size_t)p.argc * sizeof(*argl));
    memcpy(argv, p.argv, (size_t)p.argc * sizeof(*argv));
    memcpy(argl, p.argl, (size_t)p.argc * sizeof(*argl));
    bool *placed = xrealloc(NULL, (size_t)(n ? n : 1) * sizeof(*placed));
    memset(placed, 0, (size_t)(n ? n : 1) * sizeof(*placed));
    int slot = 0;
    for (unsigned r = 0; r <= b->nready && b->kind != MOVE; r++) {
        for (int i = 0; i < n; i++) { /* the ready key r, or at the end every key left */
            const struct keyentry *e = r < b->nready ? b->ready[r]->entry : NULL;
            int from = p.keys.pos[i];
            if (placed[i] ||
                (e && (e->len != p.argl[from] || memcmp(e->key, p.argv[from], e->len))))
                continue;
            int to = p.keys.pos[slot];
            placed[i] = true;
            argv[to] = p.argv[from], argl[to] = p.argl[from];
            if (ids) argv[to + ids] = p.argv[from + ids], argl[to + ids] = p.argl[from + ids];
            slot++;
            if (e) break;
        }
    }
    resp_append_command(&b->attempt, p.argc, argv, argl);
    free(placed);
    free(argv);
    free(argl);
    parsed_free(&p);
}

/* What Redis tells an XREADGROUP waiter whose retry failed: its stream or its group went. */
static const char *readgroup_ending(const struct unit *u)
{
    for (unsigned i = 0; i + 1 < u->count; i++) {
        const struct buffer *type = unit_reply(u, i);
        if (buffer_len(type) != 9 || memcmp(buffer_head(type), "+stream\r\n", 9) != 0)
            return "-UNBLOCKED the stream key no longer exists\r\n";
    }
    const struct buffer *reply = unit_reply(u, u->count - 1);
    if (buffer_len(reply) > 8 && memcmp(buffer_head(reply), "-NOGROUP", 8) == 0)
        return "-NOGROUP the consumer group this client was blocked on no longer exists\r\n";
    return NULL;
}

/* A woken XREAD gets the one stream that served it, as Redis answers; more streams may have
 * entries in the reply of a retry, and nothing is lost by leaving them out. */
static bool first_stream(const struct buffer *reply, struct buffer *out)
{
    const char *p = buffer_head(reply);
    size_t n = buffer_len(reply), used;
    struct resp_value v;
    if (!(used = resp_value_read(p, n, &v)) || v.type != '*' || v.integer < 2) return false;
    const char *first = p + used, *end = first;
    size_t rest = n - used;
    if (!resp_value_skip(&end, &rest)) return false;
    resp_append_array_header(out, 1);
    buffer_append(out, first, (size_t)(end - first));
    return true;
}

static void attempted(struct unit *u)
{
    struct blocked *b = u->owner;
    const struct buffer *reply = unit_reply(u, u->count - 1);
    bool retry = b->answered_once;
    b->in_flight = false;
    if (!b->client) { /* gone while it was on its way */
        unpark(b);
        return;
    }
    if (is_lost(reply)) {
        queue_retry(b);
        return;
    }
    b->answered_once = true;
    if (!is_nil(reply)) {
        const char *ending = retry && b->kind == XREADGROUP && buffer_head(reply)[0] == '-'
                                 ? readgroup_ending(u)
                                 : NULL;
        const char *bytes = ending ? ending : buffer_head(reply);
        size_t len = ending ? strlen(ending) : buffer_len(reply);
        struct buffer trimmed = {0};
        if (retry && b->kind == XREAD && first_stream(reply, &trimmed)) {
            bytes = buffer_head(&trimmed);
            len = buffer_len(&trimmed);
        }
        /* A move that took something gave it to its destination: someone may wait there. */
        bool took = buffer_head(reply)[0] != '-';
        int db = b->db;
        struct buffer wake = b->wake;
        b->wake = (struct buffer){0};
        serve(b, bytes, len);
        buffer_free(&trimmed);
        if (took && buffer_len(&wake)) blocked_touch_key(db, buffer_head(&wake), buffer_len(&wake));
        buffer_free(&wake);
        return;
    }
    if (!retry && b->lookups) resolve_dollars(b, u);
    if (b->ending) {
        serve(b, b->ending, strlen(b->ending));
    } else if (b->again) {
        b->again = false;
        queue_retry(b);
    }
}

static void attempt(struct blocked *b)
{
    if (b->answered_once) build_retry(b);
    b->nready = 0;
    b->in_flight = true;
    unit_run(b->client, buffer_head(&b->attempt), buffer_len(&b->attempt), b->lookups + 1, false,
             attempted, b);
}

/* Ends the wait: now, or when the attempt on its way comes back empty-handed. */
static void end_with(struct blocked *b, const char *reply)
{
    if (b->ending) return;
    b->ending = reply;
    if (!b->in_flight) serve(b, reply, strlen(reply));
}

static void on_timeout(uv_timer_t *t)
{
    end_with(t->data, "*-1\r\n"); /* Redis answers every timeout so */
}

bool blocked_unblock(struct client *c, bool error)
{
    if (!c->blocked || c->blocked->ending) return false;
    end_with(c->blocked, error ? "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n" : "*-1\r\n");
    return true;
}

static enum blocked_kind kind_of(const struct command *cmd)
{
    if (!strcmp(cmd->name, "blmove") || !strcmp(cmd->name, "brpoplpush")) return MOVE;
    if (!strcmp(cmd->name, "xread")) return XREAD;
    if (!strcmp(cmd->name, "xreadgroup")) return XREADGROUP;
    return POP;
}

void blocked_start(struct client *c, struct request *r, int argc, const char *const *argv,
                   const size_t *argl, const char *bytes, size_t len, long long timeout_ms)
{
    struct blocked *b = xrealloc(NULL, sizeof(*b));
    *b = (struct blocked){.client = c, .r = r, .db = c->db, .kind = kind_of(r->cmd)};
    request_ref(r);
    c->blocked = b;
    parked++;
    uv_timer_init(proxy.loop, &b->timer);
    b->timer.data = b;
    if (timeout_ms > 0) uv_timer_start(&b->timer, on_timeout, (uint64_t)timeout_ms, 0);

    struct command_keypos keys;
    command_keypos(r->cmd, argc, argv, argl, &keys);
    bool moves = b->kind == MOVE && keys.n > 1;
    int waits_on = moves ? 1 : keys.n; /* a move waits on its source alone */
    b->ready = xrealloc(NULL, (size_t)(waits_on > 0 ? waits_on : 1) * sizeof(*b->ready));
    for (int i = 0; i < waits_on; i++)
        keytable_add(&waiting, b->db, argv[keys.pos[i]], argl[keys.pos[i]], b, &b->keys);
    if (moves) buffer_append(&b->wake, argv[keys.pos[1]], argl[keys.pos[1]]);
    for (int i = 0; b->kind == XREAD && i < keys.n; i++) {
        int key = keys.pos[i], id = key + keys.n;
        if (!is_dollar(argv[id], argl[id])) continue;
        resp_append_command(&b->attempt, 6,
                            (const char *[]){"XREVRANGE", argv[key], "+", "-", "COUNT", "1"},
                            (const size_t[]){9, argl[key], 1, 1, 5, 1});
        b->lookups++;
    }
    command_keypos_free(&keys);
    buffer_append(&b->command, bytes, len);
    buffer_append(&b->attempt, bytes, len);
    attempt(b);
}

static void touched(struct keylink *l, void *ctx)
{
    struct blocked *b = l->owner;
    (void)ctx;
    unsigned i = 0;
    while (i < b->nready && b->ready[i] != l) i++;
    if (i == b->nready) b->ready[b->nready++] = l;
    if (b->in_flight)
        b->again = true;
    else
        queue_retry(b);
}

bool blocked_wakes(const struct client *writer, const struct command *cmd)
{
    if (cmd->flags & CMD_FLAG_BLOCKING) return !writer->blocked && kind_of(cmd) == MOVE;
    return strncmp(cmd->name, "xgroup|", 7) != 0 || strcmp(cmd->name, "xgroup|destroy") == 0;
}

void blocked_touch_key(int db, const char *key, size_t len)
{
    keytable_each_on_key(&waiting, db, key, len, touched, NULL);
}

void blocked_touch_db(int db)
{
    keytable_each_in_db(&waiting, db, touched, NULL);
}

void blocked_run_retries(void)
{
    /* While a new epoch is stored or a resync holds the stream, nothing new enters it. */
    if (proxy.paused) return;
    /* This turn's queue: an attempt that fails at once must not spin in it. */
    struct blocked *b = retry_head;
    retry_head = retry_tail = NULL;
    while (b) {
        struct blocked *next = b->retry_next;
        b->queued = false;
        if (b->client && !b->in_flight) attempt(b);
        b = next;
    }
}

void blocked_client_closed(struct client *c)
{
    if (c->blocked) unpark(c->blocked);
}
