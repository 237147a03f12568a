#include "local.h"

#include <string.h>
#include <strings.h>

#include "backend.h"
#include "client.h"
#include "command.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"

static void reply_bytes(struct request *r, const char *bytes)
{
    request_reply(r, bytes, strlen(bytes));
}

static bool arg_is(const char *arg, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(arg, word, len) == 0;
}

/* Compares without leaking where the first difference is. */
static bool secret_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < alen; i++) diff |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
    return diff == 0;
}

static void auth(struct client *c, struct request *r, int argc, const char *const *argv,
                 const size_t *argl)
{
    const char *pass = proxy.config->requirepass;
    if (argc > 3) {
        request_error(r, "ERR syntax error");
        return;
    }
    if (!pass) {
        request_error(r, "ERR AUTH <password> called without any password configured for the "
                         "default user. Are you sure your configuration is correct?");
        return;
    }
    bool user_ok = argc == 2 || (argl[1] == 7 && memcmp(argv[1], "default", 7) == 0);
    if (user_ok && secret_equal(argv[argc - 1], argl[argc - 1], pass)) {
        c->authenticated = true;
        reply_bytes(r, "+OK\r\n");
        return;
    }
    request_error(r, "WRONGPASS invalid username-password pair or user is disabled.");
}

static void select_db(struct client *c, struct request *r, const char *arg, size_t len)
{
    long long db;
    if (!resp_parse_ll(arg, len, &db)) {
        request_error(r, "ERR value is not an integer or out of range");
        return;
    }
    if (db < 0 || db >= proxy.config->databases) {
        request_error(r, "ERR DB index is out of range");
        return;
    }
    c->db = (int)db;
    reply_bytes(r, "+OK\r\n");
}

void local_info_section(struct buffer *out)
{
    const struct config *cfg = proxy.config;
    buffer_appendf(out,
                   "# redpair\r\n"
                   "redpair_version:%s\r\n"
                   "uptime_in_seconds:%llu\r\n"
                   "connected_clients:%d\r\n"
                   "write_ack:%s\r\n"
                   "primary:%s\r\n"
                   "stream_offset:%llu\r\n"
                   "divergences:%llu\r\n"
                   "total_commands_processed:%llu\r\n",
                   REDPAIR_VERSION, (unsigned long long)((proxy_now_ms() - proxy.start_ms) / 1000),
                   proxy.client_count, config_write_ack_name(cfg->write_ack),
                   proxy.primary >= 0 ? proxy.backends[proxy.primary].name : "none",
                   (unsigned long long)proxy.stream_offset, (unsigned long long)proxy.divergences,
                   (unsigned long long)proxy.commands_processed);
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        const struct backend *b = &proxy.backends[i];
        buffer_appendf(out, "backend_%s:addr=%s:%d,state=%s,role=%s,acked_offset=%llu,lag=%llu\r\n",
                       b->name, b->host, b->port, backend_state_name(b->state),
                       i == proxy.primary ? "primary" : "secondary",
                       (unsigned long long)b->acked_offset,
                       (unsigned long long)(proxy.stream_offset - b->acked_offset));
    }
}

static void info(struct client *c, struct request *r, int argc, const char *const *argv,
                 const size_t *argl)
{
    if (argc == 2 && arg_is(argv[1], argl[1], "redpair")) {
        struct buffer body = {0};
        local_info_section(&body);
        buffer_clear(&r->reply);
        resp_append_bulk(&r->reply, buffer_head(&body), buffer_len(&body));
        buffer_free(&body);
        request_ready(r);
        return;
    }
    /* Sections only the server has get the server's INFO alone; the defaults get both. */
    bool ours = argc == 1;
    for (int i = 1; i < argc; i++)
        ours |= arg_is(argv[i], argl[i], "all") || arg_is(argv[i], argl[i], "everything") ||
                arg_is(argv[i], argl[i], "default") || arg_is(argv[i], argl[i], "redpair");
    r->info = ours;
    struct buffer cmd = {0};
    resp_append_command(&cmd, argc, argv, argl);
    client_send_read(c, r, buffer_head(&cmd), buffer_len(&cmd));
    buffer_free(&cmd);
}

void local_execute(struct client *c, struct request *r, int argc, const char *const *argv,
                   const size_t *argl)
{
    switch (r->cmd->local) {
    case LOCAL_PING:
        if (argc > 2) {
            request_error(r, "ERR wrong number of arguments for 'ping' command");
        } else if (argc == 2) {
            buffer_clear(&r->reply);
            resp_append_bulk(&r->reply, argv[1], argl[1]);
            request_ready(r);
        } else {
            reply_bytes(r, "+PONG\r\n");
        }
        return;
    case LOCAL_ECHO:
        buffer_clear(&r->reply);
        resp_append_bulk(&r->reply, argv[1], argl[1]);
        request_ready(r);
        return;
    case LOCAL_QUIT:
        c->closing = true;
        reply_bytes(r, "+OK\r\n");
        return;
    case LOCAL_SELECT: select_db(c, r, argv[1], argl[1]); return;
    case LOCAL_AUTH: auth(c, r, argc, argv, argl); return;
    case LOCAL_INFO: info(c, r, argc, argv, argl); return;
    case LOCAL_NONE: break;
    }
    request_error(r, "ERR command '%s' has no local handler", r->cmd->name);
}
