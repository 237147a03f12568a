#include "unit.h"

#include <stdlib.h>

#include "backend.h"
#include "client.h"
#include "command.h"
#include "config.h"
#include "monitor_feed.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"

static void unit_free(struct unit *u)
{
    for (unsigned i = 0; i < u->count; i++) request_unref(u->elements[i]);
    free(u->elements);
    free(u);
}

static void settle(struct unit *u)
{
    if (--u->left) return;
    u->done(u);
    unit_free(u);
}

static void element_done(struct request *r)
{
    settle(r->owner);
}

const struct buffer *unit_reply(const struct unit *u, unsigned i)
{
    return &u->elements[i]->reply;
}

void unit_run(struct client *c, const char *cmds, size_t len, unsigned count, bool own,
              void (*done)(struct unit *u), void *owner)
{
    struct unit *u = xrealloc(NULL, sizeof(*u));
    *u = (struct unit){.count = count, .left = count + 1, .done = done, .owner = owner};
    u->elements = xrealloc(NULL, (count ? count : 1) * sizeof(*u->elements));

    struct resp_request parser;
    resp_request_init(&parser, proxy.config->proto_max_bulk_len);
    const char **argv = NULL;
    size_t *argl = NULL;
    int argv_cap = 0;
    char err[COMMAND_ERROR_MAX];
    for (unsigned i = 0; i < count; i++) {
        /* The commands were parsed once already, on their way in. */
        resp_request_parse(&parser, cmds, len);
        int argc = parser.argc;
        resp_request_args(&parser, cmds, &argv, &argl, &argv_cap);
        const struct command *cmd =
            command_resolve(proxy.commands, argc, argv, argl, err, sizeof(err));
        struct request *r = request_new(NULL, cmd);
        r->done = element_done;
        r->owner = u;
        r->unit = true;
        r->uncounted = !own;
        u->elements[i] = r;
        if (cmd)
            client_execute(c, r, argc, argv, argl, cmds, parser.size);
        else /* the table changed under the queued command */
            request_error(r, "%s", err);
        if (cmd && own) monitor_feed(c, cmd, argc, argv, argl);
        cmds += parser.size;
        len -= parser.size;
        resp_request_reset(&parser);
    }
    resp_request_free(&parser);
    free(argv);
    free(argl);
    for (int i = 0; i < CONFIG_BACKENDS; i++) backend_unit_end(&proxy.backends[i]);
    settle(u); /* the guard: every element is on its way */
}
