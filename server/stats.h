/* Counters the data path bumps, read by the admin API (/metrics, /api/v1/status).
 *
 *   request_new ──start_ns──▶ ... ──▶ request_ready ──▶ stats_command_done(cmd, start_ns)
 *                                                         ├▶ per-command calls + latency buckets
 *                                                         └▶ this second's histogram (ops/s, p50,
 * p99) client read / client append ──▶ stats.net_input_bytes / stats.net_output_bytes
 *
 * Cheap on purpose: a clock read per request, array increments, no allocation, no lock (one
 * thread). Per-command entries live in a fixed table indexed by the command's address, which is
 * stable because the command table is built once, before the loop runs. */
#ifndef REDPAIR_STATS_H
#define REDPAIR_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buffer.h"

struct command;

/* Latency buckets, Prometheus-style upper bounds in microseconds; the last bucket is +Inf. */
#define STATS_BUCKETS 16
extern const uint64_t stats_bucket_us[STATS_BUCKETS - 1];

struct stats_histogram {
    uint64_t count;
    uint64_t sum_us;
    uint64_t buckets[STATS_BUCKETS]; /* not cumulative */
};

struct stats_command {
    const struct command *cmd;
    struct stats_histogram latency;
    uint64_t failed;   /* of those, replies that were errors */
    uint64_t rejected; /* refused before they ran (NOAUTH, …): not counted in latency */
    /* The figures at the last CONFIG RESETSTAT: INFO shows what came since, while /metrics
     * counters keep counting, as a Prometheus counter must. */
    uint64_t base_count, base_sum_us, base_failed, base_rejected;
};

struct stats {
    uint64_t net_input_bytes;  /* read from clients */
    uint64_t net_output_bytes; /* queued to clients */
    /* Refused by the ACL (INFO stats acl_access_denied_*, as Redis counts them). */
    uint64_t acl_denied_auth, acl_denied_cmd, acl_denied_key, acl_denied_channel;
};

extern struct stats stats;

static inline uint64_t stats_clock(void)
{
    return uv_hrtime();
}

/* A command's reply is ready: counts it with the time since start_ns (from stats_clock), and an
 * error reply by its code (INFO errorstats). cmd NULL: no command ran (an unknown one, a protocol
 * error). */
void stats_command_done(const struct command *cmd, uint64_t start_ns, const struct buffer *reply);
/* cmd was refused before it ran (its error reply is counted by stats_command_done). */
void stats_command_rejected(const struct command *cmd);
/* CONFIG RESETSTAT: INFO's counters start again from zero. */
void stats_reset(void);

/* INFO's sections of redpair's own view, each with its header: commandstats, errorstats and
 * latencystats, as Redis 7.0 words them. */
void stats_info_commandstats(struct buffer *out);
void stats_info_errorstats(struct buffer *out);
void stats_info_latencystats(struct buffer *out);

/* Every command seen so far, in first-seen order. */
size_t stats_commands(const struct stats_command **out);

/* The last completed second: commands answered and their latency percentiles. */
struct stats_second {
    uint64_t ops;
    uint64_t p50_us, p99_us;
};
struct stats_second stats_last_second(void);

/* The q-quantile (0..1) of a histogram, interpolated inside its bucket as Prometheus's
 * histogram_quantile does; 0 for an empty histogram. */
uint64_t stats_quantile_us(const struct stats_histogram *h, double q);

#endif
