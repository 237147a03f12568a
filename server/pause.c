#include "pause.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client.h"
#include "command.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"
#include "transaction.h"

enum mode { OFF, WRITE, ALL };

static struct {
    enum mode mode;
    uint64_t end; /* uv_now() when it ends */
    uv_timer_t timer;
    bool timer_ready;
    struct client **held; /* in the order they were held */
    unsigned count, cap;
} pause;

unsigned pause_held(void)
{
    return pause.count;
}

bool pause_holds(struct client *c, const struct command *cmd)
{
    if (pause.mode == OFF) return false;
    bool writes = cmd->local == LOCAL_EXEC ? transaction_pausable(c) : command_pausable(cmd);
    if (pause.mode == WRITE && !writes) return false;
    if (pause.count == pause.cap) {
        pause.cap = pause.cap ? pause.cap * 2 : 16;
        pause.held = xrealloc(pause.held, pause.cap * sizeof(*pause.held));
    }
    pause.held[pause.count++] = c;
    c->postponed = true;
    return true;
}

void pause_client_closed(struct client *c)
{
    if (!c->postponed) return;
    c->postponed = false;
    for (unsigned i = 0; i < pause.count; i++) {
        if (pause.held[i] != c) continue;
        memmove(&pause.held[i], &pause.held[i + 1], (pause.count - i - 1) * sizeof(*pause.held));
        pause.count--;
        break;
    }
}

/* Every held client goes on: taken aside first, as one may be held again (by a pause it sets
 * itself, or a WRITE pause still on). */
static void release_all(void)
{
    struct client **held = pause.held;
    unsigned count = pause.count;
    pause.held = NULL;
    pause.count = pause.cap = 0;
    for (unsigned i = 0; i < count; i++) held[i]->postponed = false;
    for (unsigned i = 0; i < count; i++)
        if (!held[i]->closed) client_unblocked(held[i]);
    free(held);
}

void pause_end(void)
{
    pause.mode = OFF;
    if (pause.timer_ready) uv_timer_stop(&pause.timer);
    release_all();
}

static void on_timeout(uv_timer_t *t)
{
    (void)t;
    pause_end();
}

void pause_command(struct request *r, int argc, const char *const *argv, const size_t *argl)
{
    long long ms;
    enum mode mode = ALL;
    if (argc > 4) {
        request_error(r,
                      "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try "
                      "CLIENT HELP.",
                      (int)command_arg_shown(argv[1], argl[1], 128), argv[1]);
        return;
    }
    if (!request_timeout(r, argv[2], argl[2], &ms)) return;
    if (argc == 4) {
        if (resp_arg_is(argv[3], argl[3], "write")) {
            mode = WRITE;
        } else if (!resp_arg_is(argv[3], argl[3], "all")) {
            request_error(r, "ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    if (!pause.timer_ready) {
        uv_timer_init(proxy.loop, &pause.timer);
        pause.timer_ready = true;
    }
    uint64_t now = uv_now(proxy.loop), end = now + (uint64_t)ms;
    if (pause.mode == OFF || end > pause.end) pause.end = end;
    bool lighter = pause.mode == ALL && mode == WRITE;
    pause.mode = mode;
    uv_timer_start(&pause.timer, on_timeout, pause.end - now, 0);
    request_reply(r, "+OK\r\n", 5);
    if (lighter) release_all(); /* from ALL to WRITE: the reads held go on */
}
