#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "fanout.h"
#include "proxy.h"
#include "resp.h"
#include "sequencer.h"
#include "stats.h"

/* Requests are recycled with their buffers, so a warm proxy allocates nothing per command. */
static struct request *free_list;
static unsigned free_count;
#define FREE_LIST_MAX 4096
#define KEEP_BUFFER   4096

struct request *request_new(struct client *c, const struct command *cmd)
{
    struct request *r = free_list;
    if (r) {
        free_list = r->next;
        free_count--;
    } else {
        r = calloc(1, sizeof(*r));
        if (!r) abort();
    }
    r->client = c;
    r->next = NULL;
    r->cmd = cmd;
    r->offset = 0;
    r->start_ns = stats_clock();
    r->refs = 1;
    r->awaiting = r->holding = 0;
    r->primary = -1;
    r->reply_from = r->other_from = -1;
    r->ready = r->info_ours = r->unit = r->by_effect = r->probing = r->fanout = r->silent =
        r->uncounted = r->blind = false;
    r->lost_in_sync = r->ack_held = false;
    r->on_ready = NULL;
    r->done = NULL;
    r->owner = NULL;
    return r;
}

void request_ref(struct request *r)
{
    r->refs++;
}

void request_unref(struct request *r)
{
    if (--r->refs > 0) return;
    buffer_clear(&r->reply);
    buffer_clear(&r->other);
    buffer_clear(&r->effect);
    if (free_count >= FREE_LIST_MAX) {
        buffer_free(&r->reply);
        buffer_free(&r->other);
        buffer_free(&r->effect);
        free(r);
        return;
    }
    buffer_shrink(&r->reply, KEEP_BUFFER);
    buffer_shrink(&r->other, KEEP_BUFFER);
    buffer_shrink(&r->effect, KEEP_BUFFER);
    r->next = free_list;
    free_list = r;
    free_count++;
}

void request_ready(struct request *r)
{
    r->ready = true;
    if (r->on_ready) r->on_ready(r);
    if (!r->uncounted) stats_command_done(r->cmd, r->start_ns, &r->reply);
    if (r->client)
        client_deliver(r->client);
    else if (r->done)
        r->done(r);
}

void request_reply(struct request *r, const char *reply, size_t len)
{
    buffer_clear(&r->reply);
    buffer_append(&r->reply, reply, len);
    request_ready(r);
}

void request_error(struct request *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buffer_clear(&r->reply);
    resp_append_error(&r->reply, "%s", msg);
    request_ready(r);
}

bool request_timeout(struct request *r, const char *arg, size_t len, long long *timeout)
{
    if (!resp_parse_ll(arg, len, timeout)) {
        request_error(r, "ERR timeout is not an integer or out of range");
        return false;
    }
    if (*timeout < 0) {
        request_error(r, "ERR timeout is negative");
        return false;
    }
    return true;
}

void request_backend_reply(struct request *r, int backend, const char *reply, size_t len)
{
    if (r->offset) {
        sequencer_reply(r, backend, reply, len);
        return;
    }
    if (r->fanout) {
        fanout_reply(r, backend, reply, len);
        return;
    }
    r->awaiting &= (uint8_t) ~(1u << backend);
    request_reply(r, reply, len);
}

void request_backend_lost(struct request *r, int backend)
{
    if (r->offset) {
        sequencer_lost(r, backend);
        return;
    }
    if (r->fanout) {
        fanout_reply(r, backend, NULL, 0);
        return;
    }
    r->awaiting &= (uint8_t) ~(1u << backend);
    request_error(r, "ERR redpair lost the connection to backend '%s' before it replied",
                  proxy_backend_name(backend));
}
