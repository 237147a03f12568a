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

struct blocked {
    struct client *client; /* NULL once its connection closed */
    struct request *r;     /* the client's, answered once: served, failed or timed out */
    int db;
    struct buffer attempt;  /* the commands of one attempt, multibulks end to end */
    unsigned attempt_count; /* the blocking command last, after a lookup for each XREAD `$` */
    size_t command_at;      /* where in `attempt` the blocking command starts */
    struct buffer wake;     /* BLMOVE, BRPOPLPUSH: the destination, which gains what they take */
    struct keylink *keys;
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
    buffer_free(&b->attempt);
    buffer_free(&b->wake);
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

/* The first attempt of an XREAD with `$` looked up each such stream's last ID before it: from
 * now on, the XREAD asks for what comes after those. */
static void resolve_dollars(struct blocked *b, const struct unit *u)
{
    const char *xread = buffer_head(&b->attempt) + b->command_at;
    struct resp_request parser;
    const char **argv = NULL;
    size_t *argl = NULL;
    int cap = 0;
    resp_request_init(&parser, proxy.config->proto_max_bulk_len);
    resp_request_parse(&parser, xread, buffer_len(&b->attempt) - b->command_at);
    resp_request_args(&parser, xread, &argv, &argl, &cap);
    int argc = parser.argc;
    struct command_keypos keys;
    command_keypos(b->r->cmd, argc, argv, argl, &keys);
    for (int i = 0, lookup = 0; i < keys.n; i++) {
        int at = keys.pos[i] + keys.n; /* its ID */
        if (is_dollar(argv[at], argl[at]))
            last_id(unit_reply(u, (unsigned)lookup++), &argv[at], &argl[at]);
    }
    struct buffer retry = {0};
    resp_append_command(&retry, argc, argv, argl);
    command_keypos_free(&keys);
    free(argv);
    free(argl);
    resp_request_free(&parser);
    buffer_free(&b->attempt);
    b->attempt = retry;
    b->attempt_count = 1;
    b->command_at = 0;
}

static void attempted(struct unit *u)
{
    struct blocked *b = u->owner;
    const struct buffer *reply = unit_reply(u, u->count - 1);
    b->in_flight = false;
    if (!b->client) { /* gone while it was on its way */
        unpark(b);
        return;
    }
    if (is_lost(reply)) {
        queue_retry(b);
        return;
    }
    if (!is_nil(reply)) {
        /* A move that took something gave it to its destination: someone may wait there. */
        bool took = buffer_head(reply)[0] != '-';
        int db = b->db;
        struct buffer wake = b->wake;
        b->wake = (struct buffer){0};
        serve(b, buffer_head(reply), buffer_len(reply));
        if (took && buffer_len(&wake)) blocked_touch_key(db, buffer_head(&wake), buffer_len(&wake));
        buffer_free(&wake);
        return;
    }
    if (u->count > 1) resolve_dollars(b, u);
    if (b->ending) {
        serve(b, b->ending, strlen(b->ending));
    } else if (b->again) {
        b->again = false;
        queue_retry(b);
    }
}

static void attempt(struct blocked *b)
{
    b->in_flight = true;
    unit_run(b->client, buffer_head(&b->attempt), buffer_len(&b->attempt), b->attempt_count,
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

void blocked_start(struct client *c, struct request *r, int argc, const char *const *argv,
                   const size_t *argl, const char *bytes, size_t len, long long timeout_ms)
{
    struct blocked *b = xrealloc(NULL, sizeof(*b));
    *b = (struct blocked){.client = c, .r = r, .db = c->db};
    request_ref(r);
    c->blocked = b;
    parked++;
    uv_timer_init(proxy.loop, &b->timer);
    b->timer.data = b;
    if (timeout_ms > 0) uv_timer_start(&b->timer, on_timeout, (uint64_t)timeout_ms, 0);

    const struct command *cmd = r->cmd;
    bool moves = strcmp(cmd->name, "blmove") == 0 || strcmp(cmd->name, "brpoplpush") == 0;
    bool xread = strcmp(cmd->name, "xread") == 0;
    struct command_keypos keys;
    command_keypos(cmd, argc, argv, argl, &keys);
    int waits_on = moves && keys.n > 1 ? 1 : keys.n; /* a move waits on its source alone */
    for (int i = 0; i < waits_on; i++)
        keytable_add(&waiting, b->db, argv[keys.pos[i]], argl[keys.pos[i]], b, &b->keys);
    if (moves && keys.n > 1) buffer_append(&b->wake, argv[keys.pos[1]], argl[keys.pos[1]]);
    for (int i = 0; xread && i < keys.n; i++) {
        int key = keys.pos[i], id = key + keys.n;
        if (!is_dollar(argv[id], argl[id])) continue;
        resp_append_command(&b->attempt, 6,
                            (const char *[]){"XREVRANGE", argv[key], "+", "-", "COUNT", "1"},
                            (const size_t[]){9, argl[key], 1, 1, 5, 1});
        b->attempt_count++;
    }
    command_keypos_free(&keys);
    b->command_at = buffer_len(&b->attempt);
    buffer_append(&b->attempt, bytes, len);
    b->attempt_count++;
    attempt(b);
}

static void touched(struct keylink *l, void *ctx)
{
    struct blocked *b = l->owner;
    (void)ctx;
    if (b->in_flight)
        b->again = true;
    else
        queue_retry(b);
}

void blocked_touch_key(int db, const char *key, size_t len)
{
    struct keyentry *e = keytable_find(&waiting, db, key, len);
    if (!e) return;
    for (struct keylink *l = e->head; l; l = l->next) touched(l, NULL);
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
