/* Fuzzes the deterministic rewrites and the effects mirrored from a primary's reply. The input is
 * a command, its arguments one per line, then a line "\x01" and the primary's reply bytes, and
 * after them those of the probe (rewrite_probe), if any:
 *
 *     xclaim\ns\ng\nc\n0\n1-1\n\x01\n*1\r\n$3\r\n1-1\r\n
 *     xtrim\ns\nMAXLEN\n~\n5\n\x01\n:3\r\n:7\r\n
 *
 * rewrite_request() runs on the arguments; rewrite_effect() runs on them (as the primary was
 * sent them) and on the complete replies framed from the rest, as the daemon does. Whatever any
 * of them writes must be exactly one well-formed command. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "check.h"
#include "resp.h"
#include "rewrite.h"

#define MAX_ARGS 256

static struct command_table *table;

/* Exactly one complete multibulk, nothing after it. */
static void check_command(const struct buffer *b)
{
    struct resp_request r;
    if (buffer_len(b) == 0) return;
    resp_request_init(&r, LLONG_MAX);
    CHECK(resp_request_parse(&r, buffer_head(b), buffer_len(b)) == RESP_DONE);
    CHECK(r.size == buffer_len(b));
    CHECK(r.argc >= 2);
    resp_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *argv[MAX_ARGS];
    size_t argl[MAX_ARGS];
    int argc = 0;

    if (!table) table = command_table_new();
    while (p < end && argc < MAX_ARGS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == 1 && p[0] == '\x01') {
            p = nl ? nl + 1 : end;
            break;
        }
        argv[argc] = p;
        argl[argc++] = n;
        p = nl ? nl + 1 : end;
    }
    if (argc == 0) return 0;
    const struct command *cmd = command_lookup(table, argv[0], argl[0]);
    if (!cmd || cmd->kind != CMD_WRITE) return 0;

    struct buffer out = {0}, request = {0};
    enum rewrite_result res = rewrite_request(cmd, argc, argv, argl, 1700000000000LL, &out);
    CHECK(res == REWRITE_DONE || buffer_len(&out) == 0);
    check_command(&out);

    /* The effect, from what the primary was sent and the first reply it could have given. */
    if (res == REWRITE_DONE)
        buffer_append(&request, buffer_head(&out), buffer_len(&out));
    else
        resp_append_command(&request, argc, argv, argl);
    struct resp_reply framer = {0}, probe_framer = {0};
    if (resp_reply_parse(&framer, p, (size_t)(end - p)) == RESP_DONE) {
        struct buffer effect = {0}, probe = {0};
        rewrite_probe(cmd, buffer_head(&request), buffer_len(&request), &probe);
        check_command(&probe);
        const char *q = p + framer.size; /* the probe's reply, if one follows */
        bool probed = resp_reply_parse(&probe_framer, q, (size_t)(end - q)) == RESP_DONE;
        bool ok = rewrite_effect(cmd, buffer_head(&request), buffer_len(&request), p, framer.size,
                                 probed ? q : NULL, probed ? probe_framer.size : 0, &effect);
        buffer_free(&probe);
        CHECK(ok == (buffer_len(&effect) > 0));
        check_command(&effect);
        buffer_free(&effect);
    }
    resp_reply_reset(&framer);
    resp_reply_reset(&probe_framer);
    buffer_free(&request);
    buffer_free(&out);
    return 0;
}
