#include "transaction.h"

#include <limits.h>
#include <stdlib.h>

#include "acl.h"
#include "acl_commands.h"
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
    bool rejected;           /* a command failed to queue: EXEC answers EXECABORT */
    bool pausable;           /* one of them writes: CLIENT PAUSE WRITE holds the EXEC (pause.h) */
    uint64_t acl_generation; /* at MULTI: EXEC checks the commands again if the rules changed */
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
    *c->tx = (struct transaction){.acl_generation = acl_generation()};
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

/* An EXEC under way: which of its commands the ACL refused at EXEC (NULL: none). */
struct exec {
    struct request *r;
    unsigned count;
    enum acl_verdict *denied;
};

static const char *const exec_reason[] = {
    [ACL_DENIED_COMMAND] = "no permission to execute the command or subcommand",
    [ACL_DENIED_KEY] = "no permission to touch the specified keys",
    [ACL_DENIED_CHANNEL] = "no permission to access one of the channels used as arguments",
};

/* EXEC's array: the replies of the commands that ran, in their places. */
static void answer(struct exec *e, const struct unit *u)
{
    struct request *r = e->r;
    unsigned ran = 0;
    buffer_clear(&r->reply);
    resp_append_array_header(&r->reply, e->count);
    for (unsigned i = 0; i < e->count; i++) {
        if (e->denied && e->denied[i] != ACL_ALLOWED) {
            resp_append_error(&r->reply,
                              "NOPERM ACLs rules changed between the moment the transaction was "
                              "accumulated and the EXEC call. This command is no longer allowed "
                              "for the following reason: %s",
                              exec_reason[e->denied[i]]);
            continue;
        }
        const struct buffer *reply = unit_reply(u, ran++);
        buffer_append(&r->reply, buffer_head(reply), buffer_len(reply));
    }
    request_ready(r);
    request_unref(r);
    free(e->denied);
    free(e);
}

static void executed(struct unit *u)
{
    answer(u->owner, u);
}

/* As Redis, a command queued before the user's rules changed is checked again: refused, it does
 * not run and EXEC's reply holds NOPERM in its place. The ones that still may run go to kept;
 * returns how many may not. */
static unsigned recheck(const struct client *c, const struct transaction *t,
                        enum acl_verdict *denied, struct buffer *kept)
{
    struct resp_request p;
    const char **argv = NULL;
    size_t *argl = NULL;
    int cap = 0;
    unsigned refused = 0;
    const char *buf = buffer_head(&t->cmds);
    size_t off = 0, len = buffer_len(&t->cmds);
    resp_request_init(&p, LLONG_MAX);
    for (unsigned i = 0; i < t->count; i++) {
        resp_request_reset(&p);
        if (resp_request_parse(&p, buf + off, len - off) != RESP_DONE) abort(); /* queued whole */
        resp_request_args(&p, buf + off, &argv, &argl, &cap);
        const struct command *cmd = command_named(proxy.commands, p.argc, argv, argl);
        int pos;
        denied[i] = cmd ? acl_check(c->user, cmd, p.argc, argv, argl, &pos) : ACL_ALLOWED;
        if (denied[i] == ACL_ALLOWED)
            buffer_append(kept, buf + off, p.size);
        else
            refused++;
        off += p.size;
    }
    resp_request_free(&p);
    free(argv);
    free(argl);
    return refused;
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
        struct exec *e = xrealloc(NULL, sizeof(*e));
        *e = (struct exec){r, t->count, NULL};
        struct buffer kept = {0};
        unsigned refused = 0;
        request_ref(r); /* the client may go before the unit is done */
        if (t->acl_generation != acl_generation() && c->user) {
            e->denied = xrealloc(NULL, (t->count ? t->count : 1) * sizeof(*e->denied));
            refused = recheck(c, t, e->denied, &kept);
        }
        if (!refused)
            unit_run(c, buffer_head(&t->cmds), buffer_len(&t->cmds), t->count, true, executed, e);
        else if (refused < t->count)
            unit_run(c, buffer_head(&kept), buffer_len(&kept), t->count - refused, true, executed,
                     e);
        else
            answer(e, NULL);
        buffer_free(&kept);
    }
    buffer_free(&t->cmds);
    free(t);
}
