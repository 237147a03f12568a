/* Live configuration: the copy of a config through its directive lines, all-or-nothing changes,
 * directives that need a restart, and how values are shown. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reconfig.h"
#include "unit.h"

static struct config running, next;
static char err[CONFIG_ERROR_MAX];

static void apply_line(struct config *c, const char *line)
{
    char **argv, *storage;
    int argc = config_split_line(line, &argv, &storage);
    ck_assert_int_gt(argc, 0);
    ck_assert_msg(config_apply(c, argc, argv, err, sizeof(err)), "%s: %s", line, err);
    free(storage);
}

static void setup(void)
{
    config_init(&running);
    memset(&next, 0, sizeof(next));
    err[0] = '\0';
    apply_line(&running, "backend a 10.0.0.1 6379");
    apply_line(&running, "backend b-2 ::1 6380");
    apply_line(&running, "bind 127.0.0.1 ::1");
    apply_line(&running, "requirepass \"pass with \\\"quotes\\\" and spaces\"");
    apply_line(&running, "admin-token tok");
    apply_line(&running, "client-output-buffer-limit normal 1mb 512kb 30");
    apply_line(&running, "logfile \"/var/log/red pair.log\"");
    apply_line(&running, "write-ack primary");
}

static void teardown(void)
{
    config_free(&running);
    config_free(&next);
}

struct shown {
    char text[4096];
    char live[512];
};

static void show(void *arg, const char *name, const char *value, bool live)
{
    struct shown *s = arg;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "%s=%s\n", name, value);
    if (live) {
        n = strlen(s->live);
        snprintf(s->live + n, sizeof(s->live) - n, "%s ", name);
    }
}

START_TEST(test_copy_is_exact)
{
    ck_assert_int_eq(reconfig_prepare(&running, NULL, 0, &next, err, sizeof(err)), RECONFIG_OK);
    struct shown a = {0}, b = {0};
    reconfig_each(&running, false, show, &a);
    reconfig_each(&next, false, show, &b);
    ck_assert_str_eq(a.text, b.text);
    ck_assert_str_eq(next.requirepass, "pass with \"quotes\" and spaces");
    ck_assert_str_eq(next.logfile, "/var/log/red pair.log");
    ck_assert_int_eq(next.bind_count, 2);
    ck_assert_str_eq(next.bind[1], "::1");
    ck_assert_str_eq(next.backends[1].name, "b-2");
    ck_assert_int_eq(next.obuf_soft_limit, 512 * 1024);
    ck_assert_int_eq(next.write_ack, WRITE_ACK_PRIMARY);
}
END_TEST

START_TEST(test_shown_values)
{
    struct shown s = {0};
    reconfig_each(&running, true, show, &s);
    ck_assert_ptr_nonnull(strstr(s.text, "\nbackend=a 10.0.0.1 6379, b-2 ::1 6380\n"));
    ck_assert_ptr_nonnull(strstr(s.text, "\nrequirepass=********\n"));
    ck_assert_ptr_nonnull(strstr(s.text, "\nadmin-token=********\n"));
    ck_assert_ptr_nonnull(strstr(s.text, "\nbackend-password=\n"));
    ck_assert_ptr_nonnull(
        strstr(s.text, "\nclient-output-buffer-limit=normal 1048576 524288 30\n"));
    ck_assert_ptr_nonnull(strstr(s.text, "\nproto-max-bulk-len=536870912\n"));
    ck_assert_ptr_nonnull(strstr(s.text, "\nlogfile=/var/log/red pair.log\n"));
    ck_assert_str_eq(s.live, "requirepass maxclients write-ack proto-max-bulk-len "
                             "client-output-buffer-limit loglevel admin-token probe-interval-ms "
                             "down-after-ms ");
}
END_TEST

START_TEST(test_changes)
{
    const struct reconfig_change changes[] = {
        {"write-ack", "all"},
        {"LOGLEVEL", "debug"},
        {"client-output-buffer-limit", "normal 0 0 0"},
        {"requirepass", "two words"},
        {"down-after-ms", "5000"},
        {"probe-interval-ms", "1000"},
    };
    ck_assert_int_eq(reconfig_prepare(&running, changes, 6, &next, err, sizeof(err)), RECONFIG_OK);
    ck_assert_int_eq(next.write_ack, WRITE_ACK_ALL);
    ck_assert_int_eq(next.loglevel, LOG_DEBUG);
    ck_assert_int_eq(next.obuf_hard_limit, 0);
    ck_assert_str_eq(next.requirepass, "two words");
    ck_assert_int_eq(next.probe_interval_ms, 1000);
    /* The running config is untouched until committed. */
    ck_assert_int_eq(running.write_ack, WRITE_ACK_PRIMARY);
    ck_assert_int_eq(running.probe_interval_ms, 100);
}
END_TEST

START_TEST(test_refusals)
{
    struct {
        struct reconfig_change change;
        enum reconfig_status status;
        const char *reason;
    } cases[] = {
        {{"port", "7000"}, RECONFIG_NEEDS_RESTART, "'port' cannot change while redpair runs"},
        {{"backend", "a 1.2.3.4 1"}, RECONFIG_NEEDS_RESTART, "restart"},
        {{"backlog-size", "1mb"}, RECONFIG_NEEDS_RESTART, "restart"},
        {{"write-marks", "every-run"}, RECONFIG_NEEDS_RESTART, "restart"},
        {{"nosuch", "1"}, RECONFIG_INVALID, "unknown directive 'nosuch'"},
        {{"write-ack", "maybe"}, RECONFIG_INVALID, "write-ack must be 'all' or 'primary'"},
        {{"maxclients", "0"}, RECONFIG_INVALID, "invalid maxclients '0'"},
        {{"client-output-buffer-limit", "normal 1"}, RECONFIG_INVALID, "takes 4 arguments"},
        {{"client-output-buffer-limit", "normal \"1 2 3"}, RECONFIG_INVALID, "unbalanced"},
        {{"down-after-ms", "50"}, RECONFIG_INVALID, "must be greater than probe-interval-ms"},
        {{"admin-token", ""}, RECONFIG_INVALID, "lock the admin API"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(reconfig_prepare(&running, &cases[i].change, 1, &next, err, sizeof(err)),
                         cases[i].status);
        ck_assert_msg(strstr(err, cases[i].reason), "%s: %s", cases[i].change.name, err);
        config_free(&next);
    }
    /* A restart-only directive anywhere in the set refuses the whole set with 409. */
    const struct reconfig_change mixed[] = {{"write-ack", "bad"}, {"port", "1"}};
    ck_assert_int_eq(reconfig_prepare(&running, mixed, 2, &next, err, sizeof(err)),
                     RECONFIG_NEEDS_RESTART);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reconfig");
    TCase *tc = tcase_create("reconfig");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_copy_is_exact);
    tcase_add_test(tc, test_shown_values);
    tcase_add_test(tc, test_changes);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
