#include "info.h"

#include <string.h>

#include "backend.h"
#include "blocked.h"
#include "client.h"
#include "cluster.h"
#include "config.h"
#include "failover.h"
#include "hidden.h"
#include "monitor.h"
#include "pause.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"
#include "stats.h"

static unsigned long long blocked(void)
{
    return blocked_count() + pause_held();
}

void info_redpair_section(struct buffer *out)
{
    const struct config *cfg = proxy.config;
    buffer_appendf(
        out,
        "# redpair\r\n"
        "redpair_version:%s\r\n"
        "uptime_in_seconds:%llu\r\n"
        "connected_clients:%d\r\n"
        "blocked_clients:%u\r\n"
        "write_ack:%s\r\n"
        "write_marks:%s\r\n"
        "primary:%s\r\n"
        "epoch:%llu\r\n"
        "failovers:%llu\r\n"
        "resyncs:%llu\r\n"
        "stream_offset:%llu\r\n"
        "divergences:%llu\r\n"
        "total_commands_processed:%llu\r\n"
        "acl_access_denied_auth:%llu\r\n"
        "acl_access_denied_cmd:%llu\r\n"
        "acl_access_denied_key:%llu\r\n"
        "acl_access_denied_channel:%llu\r\n",
        REDPAIR_VERSION, (unsigned long long)((proxy_now_ms() - proxy.start_ms) / 1000),
        proxy.client_count, (unsigned)blocked(), config_write_ack_name(cfg->write_ack),
        config_write_marks_name(cfg->write_marks),
        proxy.primary >= 0 ? proxy.backends[proxy.primary].name : "none",
        (unsigned long long)failover_epoch(), (unsigned long long)failover_count(),
        (unsigned long long)resync_count(), (unsigned long long)proxy.stream_offset,
        (unsigned long long)proxy.divergences, (unsigned long long)proxy.commands_processed,
        (unsigned long long)stats.acl_denied_auth, (unsigned long long)stats.acl_denied_cmd,
        (unsigned long long)stats.acl_denied_key, (unsigned long long)stats.acl_denied_channel);
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        const struct backend *b = &proxy.backends[i];
        buffer_appendf(
            out,
            "backend_%s:addr=%s:%d,state=%s,role=%s,acked_offset=%llu,lag=%llu,"
            "run_id=%s\r\n",
            b->name, b->host, b->port, backend_state_name(b->state),
            i == proxy.primary ? "primary" : "secondary", (unsigned long long)b->acked_offset,
            (unsigned long long)(proxy.stream_offset - b->acked_offset), monitor_probe(i)->run_id);
    }
    if (cluster_enabled()) /* the node that answers: through a follower, the leader */
        buffer_appendf(out,
                       "cluster_node:%s\r\ncluster_leader:%s\r\ncluster_term:%llu\r\n"
                       "cluster_voters:%d\r\ncluster_peers_up:%d\r\n",
                       cfg->node_id, cluster_leader_name() ? cluster_leader_name() : "none",
                       (unsigned long long)cluster_term(), cluster_voters(), cluster_peers_up());
}

/* The sections redpair answers from its own view: the servers' count redpair's links, their
 * MULTI, EXEC and offset mark, where a client wants its own commands. */
static const struct {
    const char *header;
    void (*write)(struct buffer *out);
} ours[] = {
    {"# Commandstats", stats_info_commandstats},
    {"# Errorstats", stats_info_errorstats},
    {"# Latencystats", stats_info_latencystats},
};

static unsigned long long clients(void)
{
    return (unsigned long long)proxy.client_count;
}

static unsigned long long connections(void)
{
    return proxy.next_client_id;
}

static unsigned long long commands(void)
{
    return proxy.commands_processed;
}

static unsigned long long ops_per_sec(void)
{
    return stats_last_second().ops;
}

/* The fields about clients and their commands, from redpair: the servers' would count
 * redpair's links and probes (redis-cli --stat reads them). */
static const struct {
    const char *name; /* with its ':' */
    unsigned long long (*value)(void);
} fields[] = {
    {"connected_clients:", clients},
    {"blocked_clients:", blocked},
    {"total_connections_received:", connections},
    {"total_commands_processed:", commands},
    {"instantaneous_ops_per_sec:", ops_per_sec},
};

/* A field of `fields`: its line written, with redpair's value. */
static bool replace_field(const char *line, size_t n, struct buffer *out)
{
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        size_t len = strlen(fields[i].name);
        if (n <= len || memcmp(line, fields[i].name, len)) continue;
        buffer_appendf(out, "%s%llu\r\n", fields[i].name, fields[i].value());
        return true;
    }
    return false;
}

/* Copies INFO text with each of `ours` in place of the server's section of that name, and
 * redpair's values in the `fields`. */
static void replace_sections(const char *text, size_t len, struct buffer *out)
{
    const char *end = text + len, *line = text;
    bool skipping = false;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *next = nl ? nl + 1 : end;
        size_t n = (size_t)(next - line);
        if (n <= 2 && line[0] == '\r') skipping = false; /* the blank line between sections */
        if (!skipping && replace_field(line, n, out)) {
            line = next;
            continue;
        }
        if (line[0] == '#') {
            skipping = false;
            for (size_t i = 0; !skipping && i < sizeof(ours) / sizeof(ours[0]); i++) {
                size_t hn = strlen(ours[i].header);
                if (n < hn + 2 || memcmp(line, ours[i].header, hn) || line[hn] != '\r') continue;
                ours[i].write(out);
                skipping = true; /* the server's lines of it */
            }
            if (skipping) {
                line = next;
                continue;
            }
        }
        if (!skipping) buffer_append(out, line, n);
        line = next;
    }
}

static void info_ready(struct request *r)
{
    struct resp_value v;
    if (resp_value_read(buffer_head(&r->reply), buffer_len(&r->reply), &v) == 0 || v.type != '$' ||
        !v.str)
        return; /* an error: as it came */
    struct buffer fixed = {0}, body = {0};
    if (r->info_ours) {
        info_redpair_section(&body);
        buffer_append(&body, "\r\n", 2);
    }
    hidden_fix_info(v.str, v.len, &fixed);
    replace_sections(buffer_head(&fixed), buffer_len(&fixed), &body);
    buffer_clear(&r->reply);
    resp_append_bulk(&r->reply, buffer_head(&body), buffer_len(&body));
    buffer_free(&fixed);
    buffer_free(&body);
}

void info_command(struct client *c, struct request *r, int argc, const char *const *argv,
                  const size_t *argl)
{
    if (argc == 2 && resp_arg_is(argv[1], argl[1], "redpair")) {
        struct buffer body = {0};
        info_redpair_section(&body);
        buffer_clear(&r->reply);
        resp_append_bulk(&r->reply, buffer_head(&body), buffer_len(&body));
        buffer_free(&body);
        request_ready(r);
        return;
    }
    /* Sections only the server has get the server's INFO alone; the defaults get both. */
    bool with_ours = argc == 1;
    for (int i = 1; i < argc; i++)
        with_ours |=
            resp_arg_is(argv[i], argl[i], "all") || resp_arg_is(argv[i], argl[i], "everything") ||
            resp_arg_is(argv[i], argl[i], "default") || resp_arg_is(argv[i], argl[i], "redpair");
    r->info_ours = with_ours;
    r->on_ready = info_ready;
    struct buffer cmd = {0};
    resp_append_command(&cmd, argc, argv, argl);
    client_send_read(c, r, buffer_head(&cmd), buffer_len(&cmd));
    buffer_free(&cmd);
}
