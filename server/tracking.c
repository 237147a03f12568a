#include "tracking.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "client.h"
#include "command.h"
#include "keytable.h"
#include "proxy.h"
#include "pubsub.h"
#include "request.h"
#include "resp.h"

#define CHANNEL "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"

struct tracking {
    long long redirect; /* the client that gets the invalidations; 0: none, so nobody in RESP2 */
    bool bcast, optin, optout, noloop;
    int caching;             /* CLIENT CACHING for the next command: 1 yes, 0 no, -1 not said */
    struct buffer *prefixes; /* BCAST: sorted, distinct; none means every key */
    size_t nprefixes;
    struct keylink *keys; /* default mode: the keys it read and may cache */
    /* BCAST: the keys written this loop turn, each after its length, and the next client with
     * some. */
    struct buffer batch;
    bool batched;
    struct client *batch_next;
};

static struct keytable tracked; /* key names, in "database" 0: Redis tracks names alone */
static unsigned tracking_clients, bcast_clients;
static struct client *batch_head;

bool tracking_any(void)
{
    return tracking_clients > 0;
}

/* An invalidation for c, as RESP2 delivers it: a message on the channel to its REDIRECT client,
 * which must be a subscriber; `keys` is the message's payload (an array, or a null). */
static void invalidate(const struct client *c, const char *keys, size_t len)
{
    struct client *to = c->tracking->redirect ? client_find((uint64_t)c->tracking->redirect) : NULL;
    if (!to || to->closed || !pubsub_subscribed(to)) return;
    client_append(to, CHANNEL, sizeof(CHANNEL) - 1);
    client_append(to, keys, len);
}

static void batch_remove(struct client *c)
{
    if (!c->tracking->batched) return;
    for (struct client **p = &batch_head; *p; p = &(*p)->tracking->batch_next) {
        if (*p == c) {
            *p = c->tracking->batch_next;
            break;
        }
    }
    c->tracking->batched = false;
    buffer_clear(&c->tracking->batch);
}

static void disable(struct client *c)
{
    struct tracking *t = c->tracking;
    if (!t) return;
    batch_remove(c);
    keytable_remove_all(&tracked, &t->keys);
    for (size_t i = 0; i < t->nprefixes; i++) buffer_free(&t->prefixes[i]);
    free(t->prefixes);
    buffer_free(&t->batch);
    tracking_clients--;
    if (t->bcast) bcast_clients--;
    free(t);
    c->tracking = NULL;
}

void tracking_client_closed(struct client *c)
{
    disable(c);
}

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int d = memcmp(a, b, alen < blen ? alen : blen);
    return d ? d : (alen > blen) - (alen < blen);
}

/* Into the sorted set of prefixes, as Redis keeps them in a radix tree. */
static void add_prefix(struct tracking *t, const char *p, size_t len)
{
    size_t at = 0;
    while (at < t->nprefixes) {
        const struct buffer *q = &t->prefixes[at];
        int d = compare_bytes(buffer_head(q), buffer_len(q), p, len);
        if (d == 0) return;
        if (d > 0) break;
        at++;
    }
    t->prefixes = xrealloc(t->prefixes, (t->nprefixes + 1) * sizeof(*t->prefixes));
    memmove(&t->prefixes[at + 1], &t->prefixes[at], (t->nprefixes - at) * sizeof(*t->prefixes));
    t->prefixes[at] = (struct buffer){0};
    buffer_append(&t->prefixes[at], p, len);
    t->nprefixes++;
}

void tracking_command(struct client *c, struct request *r, int argc, const char *const *argv,
                      const size_t *argl)
{
    bool on = resp_arg_is(argv[2], argl[2], "on");
    bool bcast = false, optin = false, optout = false, noloop = false;
    long long redirect = 0;
    int first_prefix = 0, nprefixes = 0;
    if (!on && !resp_arg_is(argv[2], argl[2], "off")) {
        request_error(r, "ERR syntax error");
        return;
    }
    for (int i = 3; i < argc; i++) {
        bool more = i + 1 < argc;
        if (resp_arg_is(argv[i], argl[i], "redirect") && more) {
            if (redirect) {
                request_error(r, "ERR A client can only redirect to a single other client");
                return;
            }
            i++;
            if (!resp_parse_ll(argv[i], argl[i], &redirect)) {
                request_error(r, "ERR value is not an integer or out of range");
                return;
            }
            if (redirect && !client_find((uint64_t)redirect)) {
                request_error(r, "ERR The client ID you want redirect to does not exist");
                return;
            }
        } else if (resp_arg_is(argv[i], argl[i], "bcast")) {
            bcast = true;
        } else if (resp_arg_is(argv[i], argl[i], "optin")) {
            optin = true;
        } else if (resp_arg_is(argv[i], argl[i], "optout")) {
            optout = true;
        } else if (resp_arg_is(argv[i], argl[i], "noloop")) {
            noloop = true;
        } else if (resp_arg_is(argv[i], argl[i], "prefix") && more) {
            if (!nprefixes++) first_prefix = i + 1;
            i++;
        } else {
            request_error(r, "ERR syntax error");
            return;
        }
    }
    if (!on) {
        disable(c);
        request_reply(r, "+OK\r\n", 5);
        return;
    }
    struct tracking *t = c->tracking;
    const char *refusal = NULL;
    if (!bcast && nprefixes)
        refusal = "ERR PREFIX option requires BCAST mode to be enabled";
    else if (t && t->bcast != bcast)
        refusal = "ERR You can't switch BCAST mode on/off before disabling tracking for this "
                  "client, and then re-enabling it with a different mode.";
    else if ((optin || optout) && bcast)
        refusal = "ERR OPTIN and OPTOUT are not compatible with BCAST";
    else if (optin && optout)
        refusal = "ERR You can't specify both OPTIN mode and OPTOUT mode";
    else if (t && ((t->optin && optout) || (t->optout && optin)))
        refusal = "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this "
                  "client, and then re-enabling it with a different mode.";
    if (refusal) {
        request_error(r, "%s", refusal);
        return;
    }
    if (!t) {
        t = c->tracking = xrealloc(NULL, sizeof(*t));
        *t = (struct tracking){.caching = -1};
        tracking_clients++;
        if (bcast) bcast_clients++;
    }
    t->redirect = redirect;
    t->bcast = bcast;
    t->optin = optin;
    t->optout = optout;
    t->noloop = noloop;
    for (int i = first_prefix; nprefixes && i < argc; i += 2) add_prefix(t, argv[i], argl[i]);
    request_reply(r, "+OK\r\n", 5);
}

void tracking_info(const struct client *c, struct request *r)
{
    const struct tracking *t = c->tracking;
    const char *flags[6];
    int n = 0;
    if (!t) {
        flags[n++] = "off";
    } else {
        flags[n++] = "on";
        if (t->bcast) flags[n++] = "bcast";
        if (t->optin) flags[n++] = "optin";
        if (t->optin && t->caching == 1) flags[n++] = "caching-yes";
        if (t->optout) flags[n++] = "optout";
        if (t->optout && t->caching == 0) flags[n++] = "caching-no";
        if (t->noloop) flags[n++] = "noloop";
    }
    struct buffer out = {0};
    resp_append_array_header(&out, 6);
    resp_append_bulk(&out, "flags", 5);
    resp_append_array_header(&out, n);
    for (int i = 0; i < n; i++) resp_append_bulk(&out, flags[i], strlen(flags[i]));
    resp_append_bulk(&out, "redirect", 8);
    resp_append_integer(&out, t ? t->redirect : -1);
    resp_append_bulk(&out, "prefixes", 8);
    resp_append_array_header(&out, t ? (long long)t->nprefixes : 0);
    for (size_t i = 0; t && i < t->nprefixes; i++)
        resp_append_bulk(&out, buffer_head(&t->prefixes[i]), buffer_len(&t->prefixes[i]));
    request_reply(r, buffer_head(&out), buffer_len(&out));
    buffer_free(&out);
}

void tracking_getredir(const struct client *c, struct request *r)
{
    struct buffer out = {0};
    resp_append_integer(&out, c->tracking ? c->tracking->redirect : -1);
    request_reply(r, buffer_head(&out), buffer_len(&out));
    buffer_free(&out);
}

void tracking_caching(struct client *c, struct request *r, const char *arg, size_t len)
{
    struct tracking *t = c->tracking;
    if (!t || !(t->optin || t->optout)) {
        request_error(r, "ERR CLIENT CACHING can be called only when the client is in tracking "
                         "mode with OPTIN or OPTOUT mode enabled");
    } else if (resp_arg_is(arg, len, "yes") && !t->optin) {
        request_error(
            r, "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
    } else if (resp_arg_is(arg, len, "no") && !t->optout) {
        request_error(
            r, "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
    } else if (!resp_arg_is(arg, len, "yes") && !resp_arg_is(arg, len, "no")) {
        request_error(r, "ERR syntax error");
    } else {
        t->caching = resp_arg_is(arg, len, "yes");
        request_reply(r, "+OK\r\n", 5);
    }
}

void tracking_command_done(struct client *c, const struct command *cmd)
{
    /* Redis keeps it through a transaction, and for the command after CLIENT CACHING. */
    if (c->tracking && !c->tx && strcmp(cmd->name, "client|caching") != 0)
        c->tracking->caching = -1;
}

void tracking_read(struct client *c, const struct command *cmd, int argc, const char *const *argv,
                   const size_t *argl)
{
    struct tracking *t = c->tracking;
    if (!t || t->bcast || (t->optin && t->caching != 1) || (t->optout && t->caching == 0)) return;
    struct command_keypos keys;
    command_keypos(cmd, argc, argv, argl, &keys);
    for (int i = 0; i < keys.n; i++)
        keytable_add(&tracked, 0, argv[keys.pos[i]], argl[keys.pos[i]], c, &t->keys);
    command_keypos_free(&keys);
}

static bool has_prefix(const struct buffer *prefix, const char *key, size_t len)
{
    return buffer_len(prefix) <= len && memcmp(buffer_head(prefix), key, buffer_len(prefix)) == 0;
}

void tracking_touch_key(const struct client *writer, const char *key, size_t len)
{
    if (!tracking_clients) return;
    struct keyentry *e = keytable_find(&tracked, 0, key, len);
    if (e) {
        struct buffer msg = {0};
        resp_append_array_header(&msg, 1);
        resp_append_bulk(&msg, key, len);
        for (struct keylink *l = e->head; l; l = l->next) {
            const struct client *c = l->owner;
            if (!(c->tracking->noloop && c == writer))
                invalidate(c, buffer_head(&msg), buffer_len(&msg));
        }
        buffer_free(&msg);
        keytable_remove_key(&tracked, e);
    }
    for (struct client *c = bcast_clients ? proxy.clients : NULL; c; c = c->next) {
        struct tracking *t = c->tracking;
        if (!t || !t->bcast || (t->noloop && c == writer)) continue;
        bool match = t->nprefixes == 0;
        for (size_t i = 0; !match && i < t->nprefixes; i++)
            match = has_prefix(&t->prefixes[i], key, len);
        if (!match) continue;
        buffer_append(&t->batch, &len, sizeof(len));
        buffer_append(&t->batch, key, len);
        if (!t->batched) {
            t->batched = true;
            t->batch_next = batch_head;
            batch_head = c;
        }
    }
}

void tracking_touch_all(void)
{
    for (struct client *c = tracking_clients ? proxy.clients : NULL; c; c = c->next) {
        if (!c->tracking) continue;
        invalidate(c, "$-1\r\n", 5);
        keytable_remove_all(&tracked, &c->tracking->keys);
    }
}

struct key {
    const char *p;
    size_t len;
};

static int by_bytes(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    return compare_bytes(x->p, x->len, y->p, y->len);
}

/* One message per prefix with the distinct keys under it, sorted, as Redis sends them. */
static void send_batch(struct client *c)
{
    struct tracking *t = c->tracking;
    size_t n = 0;
    struct key *keys = NULL;
    const char *end = buffer_head(&t->batch) + buffer_len(&t->batch);
    for (const char *k = buffer_head(&t->batch); k < end;) {
        keys = xrealloc(keys, (n + 1) * sizeof(*keys));
        memcpy(&keys[n].len, k, sizeof(size_t));
        keys[n].p = k + sizeof(size_t);
        k = keys[n].p + keys[n].len;
        n++;
    }
    qsort(keys, n, sizeof(*keys), by_bytes);
    struct buffer msg = {0}, body = {0};
    size_t groups = t->nprefixes ? t->nprefixes : 1;
    for (size_t g = 0; g < groups; g++) {
        size_t count = 0;
        buffer_clear(&body);
        for (size_t i = 0; i < n; i++) {
            if ((i && by_bytes(&keys[i], &keys[i - 1]) == 0) ||
                (t->nprefixes && !has_prefix(&t->prefixes[g], keys[i].p, keys[i].len)))
                continue;
            resp_append_bulk(&body, keys[i].p, keys[i].len);
            count++;
        }
        if (!count) continue;
        buffer_clear(&msg);
        resp_append_array_header(&msg, (long long)count);
        buffer_append(&msg, buffer_head(&body), buffer_len(&body));
        invalidate(c, buffer_head(&msg), buffer_len(&msg));
    }
    buffer_free(&msg);
    buffer_free(&body);
    free(keys);
}

void tracking_flush(void)
{
    while (batch_head) {
        struct client *c = batch_head;
        batch_head = c->tracking->batch_next;
        c->tracking->batched = false;
        send_batch(c);
        buffer_clear(&c->tracking->batch);
    }
}
