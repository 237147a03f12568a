#include "monitor_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "buffer.h"
#include "client.h"
#include "client_commands.h"
#include "command.h"
#include "request.h"
#include "resp.h"

static struct client **monitors;
static unsigned count, cap;

void monitor_feed_start(struct client *c, struct request *r)
{
    if (r->unit) { /* EXEC wants one reply per command, as Redis says of a deny-blocking client */
        request_error(r, "ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    if (c->monitoring) { /* Redis ignores it: no reply at all */
        r->silent = true;
        request_ready(r);
        return;
    }
    if (count == cap) {
        cap = cap ? cap * 2 : 8;
        monitors = xrealloc(monitors, cap * sizeof(*monitors));
    }
    monitors[count++] = c;
    c->monitoring = true;
    request_reply(r, "+OK\r\n", 5);
}

void monitor_feed_client_closed(struct client *c)
{
    if (!c->monitoring) return;
    c->monitoring = false;
    for (unsigned i = 0; i < count; i++) {
        if (monitors[i] != c) continue;
        monitors[i] = monitors[--count];
        break;
    }
}

bool monitor_feed_allows(const struct command *cmd)
{
    return !(cmd->flags & (CMD_FLAG_WRITE | CMD_FLAG_READONLY)) && !command_pausable(cmd);
}

/* As Redis's sdscatrepr(): quoted, with escapes for what is not printable. */
static void append_repr(struct buffer *out, const char *s, size_t len)
{
    buffer_append(out, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '\\': buffer_append(out, "\\\\", 2); break;
        case '"': buffer_append(out, "\\\"", 2); break;
        case '\n': buffer_append(out, "\\n", 2); break;
        case '\r': buffer_append(out, "\\r", 2); break;
        case '\t': buffer_append(out, "\\t", 2); break;
        case '\a': buffer_append(out, "\\a", 2); break;
        case '\b': buffer_append(out, "\\b", 2); break;
        default:
            if (ch >= 32 && ch < 127)
                buffer_append(out, s + i, 1);
            else
                buffer_appendf(out, "\\x%02x", ch);
        }
    }
    buffer_append(out, "\"", 1);
}

/* Arguments Redis replaces with "(redacted)": AUTH's, and HELLO's after AUTH. */
static bool redacted(const struct command *cmd, int i, const char *const *argv, const size_t *argl)
{
    if (cmd->local == LOCAL_AUTH) return i >= 1;
    return cmd->local == LOCAL_HELLO && i >= 3 &&
           (resp_arg_is(argv[i - 1], argl[i - 1], "auth") ||
            resp_arg_is(argv[i - 2], argl[i - 2], "auth"));
}

void monitor_feed(const struct client *c, const struct command *cmd, int argc,
                  const char *const *argv, const size_t *argl)
{
    if (!count || (cmd->flags & CMD_FLAG_ADMIN) || cmd->kind == CMD_REFUSED) return;
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    char addr[80];
    client_address(c, false, addr, sizeof(addr));
    struct buffer line = {0};
    buffer_appendf(&line, "+%lld.%06d [%d %s]", (long long)tv.tv_sec, (int)tv.tv_usec, c->db, addr);
    for (int i = 0; i < argc; i++) {
        buffer_append(&line, " ", 1);
        if (redacted(cmd, i, argv, argl))
            buffer_append(&line, "\"(redacted)\"", 12);
        else
            append_repr(&line, argv[i], argl[i]);
    }
    buffer_append(&line, "\r\n", 2);
    /* Backwards: one over its output limit is closed, and the last takes its place. */
    for (unsigned i = count; i-- > 0;)
        if (!monitors[i]->reply_off)
            client_append(monitors[i], buffer_head(&line), buffer_len(&line));
    buffer_free(&line);
}
