/* Data-path statistics: latency buckets, per-command entries, quantiles. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "stats.h"
#include "unit.h"

static struct stats_histogram histogram(const uint64_t *per_bucket)
{
    struct stats_histogram h = {0};
    for (unsigned i = 0; i < STATS_BUCKETS; i++) {
        h.buckets[i] = per_bucket[i];
        h.count += per_bucket[i];
    }
    return h;
}

START_TEST(test_quantiles)
{
    struct stats_histogram empty = {0};
    ck_assert_uint_eq(stats_quantile_us(&empty, 0.5), 0);

    /* 100 answers between 50 and 100 us: the median is interpolated half-way. */
    uint64_t b[STATS_BUCKETS] = {0};
    b[2] = 100;
    struct stats_histogram h = histogram(b);
    ck_assert_uint_eq(stats_quantile_us(&h, 0.5), 75);
    ck_assert_uint_eq(stats_quantile_us(&h, 0.99), 99);

    /* 98 fast, 2 above the last bound: p99 is the +Inf bucket's lower bound. */
    uint64_t c[STATS_BUCKETS] = {0};
    c[0] = 98;
    c[STATS_BUCKETS - 1] = 2;
    h = histogram(c);
    ck_assert_uint_le(stats_quantile_us(&h, 0.5), 25);
    ck_assert_uint_eq(stats_quantile_us(&h, 0.99), stats_bucket_us[STATS_BUCKETS - 2]);
}
END_TEST

START_TEST(test_commands)
{
    struct command get = {.name = "get"}, set = {.name = "set"};
    struct buffer ok = {0}, err = {0}, wrongtype = {0}, text = {0};
    buffer_appendf(&ok, "+OK\r\n");
    buffer_appendf(&err, "-ERR syntax error\r\n");
    buffer_appendf(&wrongtype, "-WRONGTYPE Operation against a key holding the wrong kind\r\n");
    uint64_t now = stats_clock();
    stats_command_done(&get, now, &ok);
    stats_command_done(&set, now, &err);
    stats_command_done(&get, now - 3000000000ull, &wrongtype); /* 3 s: the +Inf bucket */
    stats_command_done(NULL, now, &err); /* unknown: counted per second only */
    stats_command_rejected(&set);

    const struct stats_command *all;
    ck_assert_uint_eq(stats_commands(&all), 2);
    ck_assert_ptr_eq(all[0].cmd, &get);
    ck_assert_uint_eq(all[0].latency.count, 2);
    ck_assert_uint_eq(all[0].latency.buckets[STATS_BUCKETS - 1], 1);
    ck_assert_uint_ge(all[0].latency.sum_us, 3000000);
    ck_assert_uint_eq(all[0].failed, 1);
    ck_assert_ptr_eq(all[1].cmd, &set);
    ck_assert_uint_eq(all[1].latency.count, 1);
    ck_assert_uint_eq(all[1].rejected, 1);

    stats_info_errorstats(&text);
    ck_assert_str_eq(buffer_head(&text), "# Errorstats\r\nerrorstat_ERR:count=2\r\n"
                                         "errorstat_WRONGTYPE:count=1\r\n");
    buffer_clear(&text);
    stats_info_commandstats(&text);
    ck_assert_ptr_nonnull(strstr(buffer_head(&text), "\r\ncmdstat_get:calls=2,usec="));
    ck_assert_ptr_nonnull(strstr(buffer_head(&text), ",rejected_calls=0,failed_calls=1\r\n"));
    ck_assert_ptr_nonnull(strstr(buffer_head(&text), ",rejected_calls=1,failed_calls=1\r\n"));

    /* CONFIG RESETSTAT: INFO starts again, the counters behind /metrics do not. */
    stats_reset();
    buffer_clear(&text);
    stats_info_errorstats(&text);
    stats_info_commandstats(&text);
    stats_info_latencystats(&text);
    ck_assert_str_eq(buffer_head(&text), "# Errorstats\r\n# Commandstats\r\n# Latencystats\r\n");
    ck_assert_uint_eq(all[0].latency.count, 2);
    stats_command_done(&set, now, &ok);
    buffer_clear(&text);
    stats_info_commandstats(&text);
    ck_assert_ptr_nonnull(strstr(buffer_head(&text), "cmdstat_set:calls=1,"));
    ck_assert_ptr_nonnull(strstr(buffer_head(&text), ",rejected_calls=0,failed_calls=0\r\n"));
    buffer_free(&ok);
    buffer_free(&err);
    buffer_free(&wrongtype);
    buffer_free(&text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_quantiles);
    tcase_add_test(tc, test_commands);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
