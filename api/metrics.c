#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backlog.h"
#include "cluster.h"
#include "relay.h"
#include "command.h"
#include "failover.h"
#include "monitor.h"
#include "blocked.h"
#include "proxy.h"
#include "stats.h"

static void family(struct buffer *o, const char *name, const char *type, const char *help)
{
    buffer_appendf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put(struct buffer *o, const char *s)
{
    buffer_append(o, s, strlen(s));
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static void label(struct buffer *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buffer_appendf(o, "\\%c", *s);
        else if (*s == '\n')
            put(o, "\\n");
        else
            buffer_append(o, s, 1);
    }
}

static void sample(struct buffer *o, const char *name, unsigned long long v)
{
    buffer_appendf(o, "%s %llu\n", name, v);
}

static int by_name(const void *a, const void *b)
{
    const struct stats_command *x = *(const struct stats_command *const *)a;
    const struct stats_command *y = *(const struct stats_command *const *)b;
    return strcmp(x->cmd->name, y->cmd->name);
}

static void commands(struct buffer *o)
{
    const struct stats_command *all;
    size_t n = stats_commands(&all);
    const struct stats_command **sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (!sorted) abort();
    for (size_t i = 0; i < n; i++) sorted[i] = &all[i];
    qsort(sorted, n, sizeof(*sorted), by_name);

    family(o, "redpair_commands_total", "counter", "Commands answered, by command.");
    for (size_t i = 0; i < n; i++) {
        put(o, "redpair_commands_total{command=\"");
        label(o, sorted[i]->cmd->name);
        buffer_appendf(o, "\"} %llu\n", (unsigned long long)sorted[i]->latency.count);
    }
    family(o, "redpair_command_duration_seconds", "histogram",
           "Time from a command's arrival to its reply being ready, by command.");
    for (size_t i = 0; i < n; i++) {
        const struct stats_histogram *h = &sorted[i]->latency;
        uint64_t cumulative = 0;
        for (unsigned b = 0; b < STATS_BUCKETS; b++) {
            cumulative += h->buckets[b];
            put(o, "redpair_command_duration_seconds_bucket{command=\"");
            label(o, sorted[i]->cmd->name);
            if (b < STATS_BUCKETS - 1)
                buffer_appendf(o, "\",le=\"%g\"} %llu\n", (double)stats_bucket_us[b] / 1e6,
                               (unsigned long long)cumulative);
            else
                buffer_appendf(o, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
        }
        put(o, "redpair_command_duration_seconds_sum{command=\"");
        label(o, sorted[i]->cmd->name);
        buffer_appendf(o, "\"} %.6f\n", (double)h->sum_us / 1e6);
        put(o, "redpair_command_duration_seconds_count{command=\"");
        label(o, sorted[i]->cmd->name);
        buffer_appendf(o, "\"} %llu\n", (unsigned long long)h->count);
    }
    free(sorted);
}

/* Every state name, in enum order: names repeat past the last state (backend_state_name falls
 * back to "down"), which ends the list. */
static int state_names(const char **names, int max)
{
    int n = 0;
    for (int s = 0; n < max; s++) {
        const char *name = backend_state_name((enum backend_state)s);
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], name) == 0) return n;
        names[n++] = name;
    }
    return n;
}

typedef unsigned long long backend_value(int i, const struct backend *b, const struct probe *p);

static void per_backend(struct buffer *o, const char *name, const char *type, const char *help,
                        backend_value *value)
{
    family(o, name, type, help);
    for (int i = 0; i < proxy.config->backend_count; i++) {
        buffer_appendf(o, "%s{backend=\"", name);
        label(o, proxy.backends[i].name);
        buffer_appendf(o, "\"} %llu\n", value(i, &proxy.backends[i], monitor_probe(i)));
    }
}

static unsigned long long backend_up(int i, const struct backend *b, const struct probe *p)
{
    (void)i, (void)b;
    return p->up;
}

static unsigned long long backend_primary(int i, const struct backend *b, const struct probe *p)
{
    (void)b, (void)p;
    return i == failover_primary();
}

static unsigned long long backend_lag_writes(int i, const struct backend *b, const struct probe *p)
{
    (void)i, (void)p;
    return proxy.stream_offset - b->acked_offset;
}

static unsigned long long backend_lag_bytes(int i, const struct backend *b, const struct probe *p)
{
    (void)i, (void)p;
    return backlog_bytes_after(b->acked_offset);
}

static void backends(struct buffer *o)
{
    const char *states[16] = {0};
    int nstates = state_names(states, 16);

    per_backend(o, "redpair_backend_up", "gauge", "1 when the backend answers its probes.",
                backend_up);
    per_backend(o, "redpair_backend_primary", "gauge", "1 for the backend reads go to.",
                backend_primary);
    family(o, "redpair_backend_state", "gauge", "1 for the backend's current state.");
    for (int i = 0; i < proxy.config->backend_count; i++) {
        const char *now = failover_state_name(i);
        for (int s = 0; s < nstates; s++) {
            put(o, "redpair_backend_state{backend=\"");
            label(o, proxy.backends[i].name);
            buffer_appendf(o, "\",state=\"%s\"} %d\n", states[s], strcmp(states[s], now) == 0);
        }
    }
    per_backend(o, "redpair_backend_lag_writes", "gauge",
                "Writes of the stream the backend has not acknowledged.", backend_lag_writes);
    per_backend(o, "redpair_backend_lag_bytes", "gauge",
                "Bytes of the writes the backend has not acknowledged, as the backlog holds them.",
                backend_lag_bytes);
    family(o, "redpair_backend_probe_latency_seconds", "gauge",
           "Round trip of the backend's last PING probe.");
    for (int i = 0; i < proxy.config->backend_count; i++) {
        put(o, "redpair_backend_probe_latency_seconds{backend=\"");
        label(o, proxy.backends[i].name);
        buffer_appendf(o, "\"} %.6f\n", (double)monitor_probe(i)->latency_us / 1e6);
    }
}

static void cluster_metrics(struct buffer *o)
{
    family(o, "redpair_cluster_leader", "gauge", "1 when this node leads the cluster.");
    sample(o, "redpair_cluster_leader", cluster_leading());
    family(o, "redpair_cluster_term", "gauge", "The cluster's current Raft term.");
    sample(o, "redpair_cluster_term", cluster_term());
    family(o, "redpair_cluster_voters", "gauge", "Voting nodes in the cluster, this one included.");
    sample(o, "redpair_cluster_voters", (unsigned long long)cluster_voters());
    family(o, "redpair_cluster_peers_up", "gauge",
           "Other nodes heard from within the election timeout.");
    sample(o, "redpair_cluster_peers_up", (unsigned long long)cluster_peers_up());
    family(o, "redpair_cluster_leader_known", "gauge", "1 while a leader is known.");
    sample(o, "redpair_cluster_leader_known", cluster_leader_name() != NULL);
    family(o, "redpair_cluster_relayed_clients", "gauge",
           "Client connections this node relays to the leader.");
    sample(o, "redpair_cluster_relayed_clients", (unsigned long long)relay_count());
}

static void acl_metrics(struct buffer *o)
{
    family(o, "redpair_acl_denied_total", "counter",
           "Clients refused by the ACL: a wrong AUTH, or a command, key or channel not allowed.");
    buffer_appendf(o, "redpair_acl_denied_total{reason=\"auth\"} %llu\n",
                   (unsigned long long)stats.acl_denied_auth);
    buffer_appendf(o, "redpair_acl_denied_total{reason=\"command\"} %llu\n",
                   (unsigned long long)stats.acl_denied_cmd);
    buffer_appendf(o, "redpair_acl_denied_total{reason=\"key\"} %llu\n",
                   (unsigned long long)stats.acl_denied_key);
    buffer_appendf(o, "redpair_acl_denied_total{reason=\"channel\"} %llu\n",
                   (unsigned long long)stats.acl_denied_channel);
}

void metrics_render(struct buffer *o)
{
    family(o, "redpair_info", "gauge", "redpair's version.");
    buffer_appendf(o, "redpair_info{version=\"%s\"} 1\n", REDPAIR_VERSION);
    family(o, "redpair_uptime_seconds", "gauge", "Seconds since redpair started.");
    sample(o, "redpair_uptime_seconds", (proxy_now_ms() - proxy.start_ms) / 1000);
    family(o, "redpair_epoch", "gauge", "The current epoch: each change of primary starts one.");
    sample(o, "redpair_epoch", failover_epoch());
    family(o, "redpair_stream_offset", "gauge", "Writes sequenced into the write stream.");
    sample(o, "redpair_stream_offset", proxy.stream_offset);
    family(o, "redpair_connected_clients", "gauge", "Client connections now.");
    sample(o, "redpair_connected_clients", (unsigned long long)proxy.client_count);
    family(o, "redpair_blocked_clients", "gauge",
           "Clients parked on a blocking command (BLPOP, XREAD BLOCK, ...).");
    sample(o, "redpair_blocked_clients", blocked_count());
    family(o, "redpair_net_input_bytes_total", "counter", "Bytes read from clients.");
    sample(o, "redpair_net_input_bytes_total", stats.net_input_bytes);
    family(o, "redpair_net_output_bytes_total", "counter", "Bytes written to clients.");
    sample(o, "redpair_net_output_bytes_total", stats.net_output_bytes);
    family(o, "redpair_failovers_total", "counter", "Changes of primary since start.");
    sample(o, "redpair_failovers_total", failover_count());
    family(o, "redpair_divergences_total", "counter",
           "Writes whose replies from the two backends differed.");
    sample(o, "redpair_divergences_total", proxy.divergences);
    family(o, "redpair_resyncs_total", "counter", "Partial and full resyncs since start.");
    sample(o, "redpair_resyncs_total", resync_count());
    commands(o);
    backends(o);
    acl_metrics(o);
    if (cluster_enabled()) cluster_metrics(o);
}
