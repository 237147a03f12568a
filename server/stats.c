#include "stats.h"

#include <stdio.h>
#include <string.h>

#include "command.h"

/* Redis with its subcommands has about 400 commands; modules add a few. Commands beyond the
 * table still count in the per-second figures, just not broken down. */
#define COMMANDS_MAX 1024
#define SLOTS        2048 /* open addressing, at most half full */
#define NS_PER_SEC   1000000000ull

const uint64_t stats_bucket_us[STATS_BUCKETS - 1] = {
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};

struct stats stats;

static struct stats_command entries[COMMANDS_MAX];
static size_t entry_count;
static uint16_t slots[SLOTS]; /* index into entries, plus one: 0 is empty */

/* This second's histogram, and the one before it, for "the last completed second". */
static struct stats_histogram second_cur, second_prev;
static uint64_t second_index;

static unsigned bucket_of(uint64_t us)
{
    unsigned i = 0;
    while (i < STATS_BUCKETS - 1 && us > stats_bucket_us[i]) i++;
    return i;
}

static void add(struct stats_histogram *h, unsigned bucket, uint64_t us)
{
    h->count++;
    h->sum_us += us;
    h->buckets[bucket]++;
}

static struct stats_command *entry_for(const struct command *cmd)
{
    uint32_t h = (uint32_t)(((uintptr_t)cmd >> 4) * 2654435761u);
    for (size_t i = h % SLOTS;; i = (i + 1) % SLOTS) {
        if (slots[i]) {
            struct stats_command *e = &entries[slots[i] - 1];
            if (e->cmd == cmd) return e;
            continue;
        }
        if (entry_count == COMMANDS_MAX) return NULL;
        entries[entry_count].cmd = cmd;
        slots[i] = (uint16_t)++entry_count;
        return &entries[entry_count - 1];
    }
}

/* Moves the per-second window to second s. */
static void rotate(uint64_t s)
{
    if (s == second_index + 1)
        second_prev = second_cur;
    else
        memset(&second_prev, 0, sizeof(second_prev));
    memset(&second_cur, 0, sizeof(second_cur));
    second_index = s;
}

/* Error replies by their code, the first word ("ERR", "WRONGTYPE"), as INFO errorstats shows
 * them. Redis stops adding codes at 128, so that a client inventing codes cannot grow the table;
 * so does redpair. */
#define ERRORS_MAX     128
#define ERROR_CODE_MAX 64

static struct {
    char code[ERROR_CODE_MAX];
    uint64_t count;
} errors[ERRORS_MAX];
static size_t error_count;

static void count_error(const struct buffer *reply)
{
    const char *p = buffer_head(reply) + 1, *end = buffer_head(reply) + buffer_len(reply);
    size_t n = 0;
    while (p + n < end && p[n] != ' ' && p[n] != '\r' && n < ERROR_CODE_MAX - 1) n++;
    for (size_t i = 0; i < error_count; i++) {
        if (strlen(errors[i].code) == n && memcmp(errors[i].code, p, n) == 0) {
            errors[i].count++;
            return;
        }
    }
    if (error_count == ERRORS_MAX) return;
    /* In the order of their codes, as Redis lists them. */
    size_t at = 0;
    while (at < error_count && strncmp(errors[at].code, p, n) < 0) at++;
    memmove(&errors[at + 1], &errors[at], (error_count - at) * sizeof(*errors));
    memcpy(errors[at].code, p, n);
    errors[at].code[n] = '\0';
    errors[at].count = 1;
    error_count++;
}

void stats_command_done(const struct command *cmd, uint64_t start_ns, const struct buffer *reply)
{
    uint64_t now = stats_clock(), us = (now - start_ns) / 1000;
    unsigned bucket = bucket_of(us);
    bool error = buffer_len(reply) && buffer_head(reply)[0] == '-';
    if (now / NS_PER_SEC != second_index) rotate(now / NS_PER_SEC);
    add(&second_cur, bucket, us);
    if (error) count_error(reply);
    if (!cmd) return;
    struct stats_command *e = entry_for(cmd);
    if (!e) return;
    add(&e->latency, bucket, us);
    e->failed += error;
}

void stats_command_rejected(const struct command *cmd)
{
    struct stats_command *e = entry_for(cmd);
    if (e) e->rejected++;
}

void stats_reset(void)
{
    for (size_t i = 0; i < entry_count; i++) {
        struct stats_command *e = &entries[i];
        e->base_count = e->latency.count;
        e->base_sum_us = e->latency.sum_us;
        e->base_failed = e->failed;
        e->base_rejected = e->rejected;
    }
    error_count = 0;
}

void stats_info_commandstats(struct buffer *out)
{
    buffer_appendf(out, "# Commandstats\r\n");
    for (size_t i = 0; i < entry_count; i++) {
        const struct stats_command *e = &entries[i];
        uint64_t calls = e->latency.count - e->base_count,
                 rejected = e->rejected - e->base_rejected;
        if (!calls && !rejected) continue;
        uint64_t usec = e->latency.sum_us - e->base_sum_us;
        buffer_appendf(out,
                       "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                       "failed_calls=%llu\r\n",
                       e->cmd->name, (unsigned long long)calls, (unsigned long long)usec,
                       calls ? (double)usec / (double)calls : 0.0, (unsigned long long)rejected,
                       (unsigned long long)(e->failed - e->base_failed));
    }
}

void stats_info_errorstats(struct buffer *out)
{
    buffer_appendf(out, "# Errorstats\r\n");
    for (size_t i = 0; i < error_count; i++)
        buffer_appendf(out, "errorstat_%s:count=%llu\r\n", errors[i].code,
                       (unsigned long long)errors[i].count);
}

/* Since start: the buckets cannot be taken apart at a reset. */
void stats_info_latencystats(struct buffer *out)
{
    buffer_appendf(out, "# Latencystats\r\n");
    for (size_t i = 0; i < entry_count; i++) {
        const struct stats_histogram *h = &entries[i].latency;
        if (h->count == entries[i].base_count) continue;
        buffer_appendf(out, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n",
                       entries[i].cmd->name, (double)stats_quantile_us(h, 0.5),
                       (double)stats_quantile_us(h, 0.99), (double)stats_quantile_us(h, 0.999));
    }
}

size_t stats_commands(const struct stats_command **out)
{
    *out = entries;
    return entry_count;
}

uint64_t stats_quantile_us(const struct stats_histogram *h, double q)
{
    if (h->count == 0) return 0;
    double rank = q * (double)h->count, below = 0;
    for (unsigned i = 0; i < STATS_BUCKETS; i++) {
        double n = (double)h->buckets[i];
        if (n == 0 || below + n < rank) {
            below += n;
            continue;
        }
        double lo = i ? (double)stats_bucket_us[i - 1] : 0;
        /* +Inf has no upper bound: answer its lower one, as Prometheus does. */
        if (i == STATS_BUCKETS - 1) return (uint64_t)lo;
        double hi = (double)stats_bucket_us[i];
        return (uint64_t)(lo + (hi - lo) * (rank - below) / n);
    }
    return stats_bucket_us[STATS_BUCKETS - 2];
}

struct stats_second stats_last_second(void)
{
    uint64_t now = stats_clock() / NS_PER_SEC;
    const struct stats_histogram *h = now == second_index       ? &second_prev
                                      : now == second_index + 1 ? &second_cur
                                                                : NULL;
    struct stats_second s = {0};
    if (h) {
        s.ops = h->count;
        s.p50_us = stats_quantile_us(h, 0.5);
        s.p99_us = stats_quantile_us(h, 0.99);
    }
    return s;
}
