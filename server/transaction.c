#include "transaction.h"

#include <stdlib.h>

#include "buffer.h"
#include "client.h"
#include "command.h"
#include "config.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"
#include "unit.h"
#include "watch.h"

struct transaction {
    struct buffer cmds; /* the queued commands, multibulks end to end */
    unsigned count;
    bool rejected; /* a command failed to queue: EXEC answers EXECABORT */
    bool pausable; /* one of them writes: CLIENT PAUSE WRITE holds the EXEC (pause.h) */
};

bool transaction_pausable(const struct client *c)
{
    return c->tx && c->tx->pausable;
}

bool transaction_queues(const struct client *c, const struct command *cmd)
{
    if (!c->tx) return false;
    switch (cmd->local) {
    case LOCAL_MULTI:
    case LOCAL_EXEC:
    case LOCAL_DISCARD:
    case LOCAL_WATCH:
    case LOCAL_QUIT:
    case LOCAL_RESET: return false;
    default: return true;
    }
}

void transaction_reject(struct client *c)
{
    if (c->tx) c->tx->rejected = true;
}

void transaction_queue(struct client *c, struct request *r, const char *bytes, size_t len)
{
    struct transaction *t = c->tx;
    const struct command *cmd = r->cmd;
    if (cmd->kind == CMD_REFUSED) {
        t->rejected = true;
        request_error(r, "ERR %s", cmd->refusal);
        return;
    }
    if (cmd->flags & CMD_FLAG_NO_MULTI) {
        t->rejected = true;
        request_error(r, "ERR Command not allowed inside a transaction");
        return;
    }
    /* A subscriber's connection changes mode: not something to do half-way through a unit. */
    if (cmd->local == LOCAL_SUBSCRIBE) {
        t->rejected = true;
        request_error(r, "ERR %s inside MULTI is not supported by redpair", cmd->name);
        return;
    }
    /* Redis bounds a client's memory, not its queue; redpair bounds the queue like one command. */
    if (buffer_len(&t->cmds) + len > (size_t)proxy.config->proto_max_bulk_len) {
        t->rejected = true;
        request_error(r, "ERR the transaction is over %lld bytes (proto-max-bulk-len)",
                      proxy.config->proto_max_bulk_len);
        return;
    }
    buffer_append(&t->cmds, bytes, len);
    t->count++;
    t->pausable |= command_pausable(cmd);
    r->uncounted = true; /* it runs, and counts, at EXEC */
    request_reply(r, "+QUEUED\r\n", 9);
}

void transaction_multi(struct client *c, struct request *r)
{
    if (c->tx) {
        request_error(r, "ERR MULTI calls can not be nested");
        return;
    }
    c->tx = xrealloc(NULL, sizeof(*c->tx));
    *c->tx = (struct transaction){0};
    request_reply(r, "+OK\r\n", 5);
}

int transaction_queued(const struct client *c)
{
    return c->tx ? (int)c->tx->count : -1;
}

void transaction_free(struct client *c)
{
    if (!c->tx) return;
    buffer_free(&c->tx->cmds);
    free(c->tx);
    c->tx = NULL;
}

void transaction_discard(struct client *c, struct request *r)
{
    if (!c->tx) {
        request_error(r, "ERR DISCARD without MULTI");
        return;
    }
    transaction_free(c);
    watch_clear(c);
    request_reply(r, "+OK\r\n", 5);
}

static void executed(struct unit *u)
{
    struct request *r = u->owner;
    buffer_clear(&r->reply);
    resp_append_array_header(&r->reply, u->count);
    for (unsigned i = 0; i < u->count; i++) {
        const struct buffer *reply = unit_reply(u, i);
        buffer_append(&r->reply, buffer_head(reply), buffer_len(reply));
    }
    request_ready(r);
    request_unref(r);
}

void transaction_exec(struct client *c, struct request *r)
{
    struct transaction *t = c->tx;
    if (!t) {
        request_error(r, "ERR EXEC without MULTI");
        return;
    }
    c->tx = NULL;
    bool touched = c->watch_touched;
    watch_clear(c);
    if (t->rejected) {
        request_error(r, "EXECABORT Transaction discarded because of previous errors.");
    } else if (touched) {
        request_reply(r, "*-1\r\n", 5);
    } else {
        request_ref(r); /* the client may go before the unit is done */
        unit_run(c, buffer_head(&t->cmds), buffer_len(&t->cmds), t->count, true, executed, r);
    }
    buffer_free(&t->cmds);
    free(t);
}
