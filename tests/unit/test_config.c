/* Configuration: every directive, the redis.conf line syntax, files, the command line, and the
 * shipped packaging/redpair.conf. Logging is here too, since it is configured by the same file. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "unit.h"

static struct config cfg;
static char err[CONFIG_ERROR_MAX];

static char tmpdir[256];
static char files[16][320];
static int nfiles;

static char **sargv;
static char *sstore;

static void setup(void)
{
    const char *base = getenv("TMPDIR");

    config_init(&cfg);
    err[0] = '\0';
    snprintf(tmpdir, sizeof(tmpdir), "%s/redpair-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    nfiles = 0;
}

static void teardown(void)
{
    config_free(&cfg);
    free(sstore);
    sstore = NULL;
    sargv = NULL;
    for (int i = 0; i < nfiles; i++) unlink(files[i]);
    rmdir(tmpdir);
}

/* Writes a file in this test's temporary directory and returns its path. */
static const char *write_file(const char *name, const char *content, size_t len)
{
    ck_assert_int_lt(nfiles, 16);
    char *path = files[nfiles++];
    snprintf(path, sizeof(files[0]), "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(content, 1, len, fp), len);
    fclose(fp);
    ck_assert_int_eq(chmod(path, 0600), 0);
    return path;
}

#define write_text(name, text) write_file(name, text, strlen(text))

/* apply("port", "7000") runs one directive against cfg; the reason lands in err. */
#define apply(...) apply_list((const char *[]){__VA_ARGS__, NULL})

static bool apply_list(const char **args)
{
    int argc = 0;
    while (args[argc]) argc++;
    err[0] = '\0';
    return config_apply(&cfg, argc, (char **)args, err, sizeof(err));
}

#define ok(...) ck_assert_msg(apply(__VA_ARGS__), "unexpected error: %s", err)
#define bad(why, ...)                                                                              \
    do {                                                                                           \
        ck_assert_msg(!apply(__VA_ARGS__), "accepted, expected: %s", why);                         \
        ck_assert_str_eq(err, why);                                                                \
    } while (0)

static int split(const char *line)
{
    free(sstore);
    sstore = NULL;
    return config_split_line(line, &sargv, &sstore);
}

START_TEST(test_defaults)
{
    ck_assert_int_eq(cfg.bind_count, 1);
    ck_assert_str_eq(cfg.bind[0], "127.0.0.1");
    ck_assert_int_eq(cfg.port, 6380);
    ck_assert_int_eq(cfg.backend_count, 0);
    ck_assert_ptr_null(cfg.backend_user);
    ck_assert_ptr_null(cfg.backend_password);
    ck_assert_ptr_null(cfg.requirepass);
    ck_assert_int_eq(cfg.maxclients, 10000);
    ck_assert_int_eq(cfg.databases, 16);
    ck_assert_int_eq(cfg.write_ack, WRITE_ACK_ALL);
    ck_assert_int_eq(cfg.proto_max_bulk_len, 512LL * 1024 * 1024);
    ck_assert_int_eq(cfg.obuf_hard_limit, 0);
    ck_assert_int_eq(cfg.obuf_soft_limit, 0);
    ck_assert_int_eq(cfg.obuf_soft_seconds, 0);
    ck_assert_int_eq(cfg.loglevel, LOG_NOTICE);
    ck_assert_str_eq(cfg.logfile, "");
    ck_assert_str_eq(cfg.admin_bind, "127.0.0.1");
    ck_assert_int_eq(cfg.admin_port, 8380);
    ck_assert_ptr_null(cfg.admin_token);
    ck_assert_str_eq(cfg.state_dir, "/var/lib/redpair");
    ck_assert_int_eq(cfg.probe_interval_ms, 100);
    ck_assert_int_eq(cfg.down_after_ms, 1000);
    ck_assert_int_eq(cfg.backlog_size, 64LL * 1024 * 1024);

    ck_assert_str_eq(config_write_ack_name(WRITE_ACK_ALL), "all");
    ck_assert_str_eq(config_write_ack_name(WRITE_ACK_PRIMARY), "primary");
    ck_assert_str_eq(config_loglevel_name(LOG_DEBUG), "debug");
    ck_assert_str_eq(config_loglevel_name(LOG_VERBOSE), "verbose");
    ck_assert_str_eq(config_loglevel_name(LOG_NOTICE), "notice");
    ck_assert_str_eq(config_loglevel_name(LOG_WARNING), "warning");
}
END_TEST

START_TEST(test_unknown_and_arity)
{
    bad("unknown directive 'prot'", "prot", "6380");
    bad("unknown directive ''", "");
    ck_assert(!config_apply(&cfg, 0, NULL, err, sizeof(err)));
    ck_assert_str_eq(err, "missing directive");

    bad("'port' takes 1 argument, got 2", "port", "1", "2");
    bad("'port' takes 1 argument, got 0", "port");
    bad("'backend' takes 3 arguments, got 2", "backend", "a", "h");
    bad("'client-output-buffer-limit' takes 4 arguments, got 3", "client-output-buffer-limit",
        "normal", "0", "0");
    bad("'bind' takes 1 to 16 arguments, got 0", "bind");

    /* Directive names are case-insensitive, as in redis.conf; messages use the canonical name. */
    ok("PORT", "7000");
    ck_assert_int_eq(cfg.port, 7000);
    ok("Write-Ack", "primary");
    bad("'port' takes 1 argument, got 2", "Port", "1", "2");

    /* A failed directive leaves the value alone. */
    bad("invalid port 'x' (expected 0-65535)", "port", "x");
    ck_assert_int_eq(cfg.port, 7000);
}
END_TEST

START_TEST(test_bind)
{
    ok("bind", "0.0.0.0");
    ck_assert_int_eq(cfg.bind_count, 1);
    ck_assert_str_eq(cfg.bind[0], "0.0.0.0");

    ok("bind", "10.0.0.1", "::1");
    ck_assert_int_eq(cfg.bind_count, 2);
    ck_assert_str_eq(cfg.bind[0], "10.0.0.1");
    ck_assert_str_eq(cfg.bind[1], "::1");

    ok("bind", "192.168.1.1");
    ck_assert_int_eq(cfg.bind_count, 1);
    ck_assert_str_eq(cfg.bind[0], "192.168.1.1");
    ck_assert_ptr_null(cfg.bind[1]);

    ok("bind", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10", "a11", "a12", "a13",
       "a14", "a15", "a16");
    ck_assert_int_eq(cfg.bind_count, 16);
    ck_assert_str_eq(cfg.bind[15], "a16");
    bad("'bind' takes 1 to 16 arguments, got 17", "bind", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
        "a8", "a9", "a10", "a11", "a12", "a13", "a14", "a15", "a16", "a17");
    ck_assert_int_eq(cfg.bind_count, 16);

    bad("bind address must not be empty", "bind", "10.0.0.1", "");
    ck_assert_int_eq(cfg.bind_count, 16);
}
END_TEST

START_TEST(test_port)
{
    ok("port", "1");
    ck_assert_int_eq(cfg.port, 1);
    ok("port", "65535");
    ck_assert_int_eq(cfg.port, 65535);
    ok("port", "06379");
    ck_assert_int_eq(cfg.port, 6379);
    ok("port", "0"); /* no plain port: tls-port only */
    ck_assert_int_eq(cfg.port, 0);
    ok("port", "6379");

    bad("invalid port 'abc' (expected 0-65535)", "port", "abc");
    bad("invalid port '65536' (expected 0-65535)", "port", "65536");
    bad("invalid port '-1' (expected 0-65535)", "port", "-1");
    bad("invalid port '+1' (expected 0-65535)", "port", "+1");
    bad("invalid port ' 1' (expected 0-65535)", "port", " 1");
    bad("invalid port '1 ' (expected 0-65535)", "port", "1 ");
    bad("invalid port '80x' (expected 0-65535)", "port", "80x");
    bad("invalid port '0x50' (expected 0-65535)", "port", "0x50");
    bad("invalid port '' (expected 0-65535)", "port", "");
    bad("invalid port '4294967297' (expected 0-65535)", "port", "4294967297");
    bad("invalid port '99999999999999999999999' (expected 0-65535)", "port",
        "99999999999999999999999");
    ck_assert_int_eq(cfg.port, 6379);
}
END_TEST

START_TEST(test_backend)
{
    ok("backend", "a", "127.0.0.1", "6379");
    ok("backend", "b-2_X", "redis-b.local", "6381");
    ck_assert_int_eq(cfg.backend_count, 2);
    ck_assert_str_eq(cfg.backends[0].name, "a");
    ck_assert_str_eq(cfg.backends[0].host, "127.0.0.1");
    ck_assert_int_eq(cfg.backends[0].port, 6379);
    ck_assert_str_eq(cfg.backends[1].name, "b-2_X");
    ck_assert_str_eq(cfg.backends[1].host, "redis-b.local");
    ck_assert_int_eq(cfg.backends[1].port, 6381);

    /* The same name replaces, in place. */
    ok("backend", "a", "10.0.0.9", "7000");
    ck_assert_int_eq(cfg.backend_count, 2);
    ck_assert_str_eq(cfg.backends[0].name, "a");
    ck_assert_str_eq(cfg.backends[0].host, "10.0.0.9");
    ck_assert_int_eq(cfg.backends[0].port, 7000);

    bad("too many backends: 'a' and 'b-2_X' are already defined (redpair takes exactly two)",
        "backend", "c", "h", "1");
    /* Names are case-sensitive: 'A' is a third backend. */
    bad("too many backends: 'a' and 'b-2_X' are already defined (redpair takes exactly two)",
        "backend", "A", "h", "1");
    ck_assert_int_eq(cfg.backend_count, 2);

    bad("invalid backend port 'x' (expected 1-65535)", "backend", "a", "h", "x");
    bad("invalid backend port '0' (expected 1-65535)", "backend", "a", "h", "0");
    bad("invalid backend port '65536' (expected 1-65535)", "backend", "a", "h", "65536");
    bad("backend 'a' has an empty host", "backend", "a", "", "1");
    ck_assert_str_eq(cfg.backends[0].host, "10.0.0.9");
    ck_assert_int_eq(cfg.backends[0].port, 7000);
}
END_TEST

START_TEST(test_backend_names)
{
    const char *why = "invalid backend name '%s' (expected 1-31 characters of A-Z a-z 0-9 _ -)";
    const char *wrong[] = {"", "a.b", "a b", "a:b", "b/1", "é", "abcdefghijklmnopqrstuvwxyz012345"};
    char expect[256];

    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        snprintf(expect, sizeof(expect), why, wrong[i]);
        bad(expect, "backend", wrong[i], "h", "1");
    }
    ck_assert_int_eq(cfg.backend_count, 0);
    ok("backend", "abcdefghijklmnopqrstuvwxyz01234", "h", "1");
    ck_assert_str_eq(cfg.backends[0].name, "abcdefghijklmnopqrstuvwxyz01234");
}
END_TEST

START_TEST(test_secrets)
{
    ok("backend-user", "proxy");
    ok("backend-password", "s3cret pass");
    ok("requirepass", "client-pass");
    ok("admin-token", "tok");
    ck_assert_str_eq(cfg.backend_user, "proxy");
    ck_assert_str_eq(cfg.backend_password, "s3cret pass");
    ck_assert_str_eq(cfg.requirepass, "client-pass");
    ck_assert_str_eq(cfg.admin_token, "tok");

    ok("requirepass", "other");
    ck_assert_str_eq(cfg.requirepass, "other");

    /* "" means none, as requirepass "" in Redis. */
    ok("backend-user", "");
    ok("backend-password", "");
    ok("requirepass", "");
    ok("admin-token", "");
    ck_assert_ptr_null(cfg.backend_user);
    ck_assert_ptr_null(cfg.backend_password);
    ck_assert_ptr_null(cfg.requirepass);
    ck_assert_ptr_null(cfg.admin_token);

    bad("'requirepass' takes 1 argument, got 2", "requirepass", "a", "b");
    bad("'admin-token' takes 1 argument, got 0", "admin-token");
}
END_TEST

START_TEST(test_integers)
{
    ok("maxclients", "1");
    ck_assert_int_eq(cfg.maxclients, 1);
    ok("maxclients", "2147483647");
    ck_assert_int_eq(cfg.maxclients, INT_MAX);
    bad("invalid maxclients '0' (expected 1 or more)", "maxclients", "0");
    bad("invalid maxclients '2147483648' (expected 1 or more)", "maxclients", "2147483648");

    ok("databases", "1");
    ck_assert_int_eq(cfg.databases, 1);
    ok("databases", "1000000");
    ck_assert_int_eq(cfg.databases, 1000000);
    bad("invalid databases '0' (expected 1-1000000)", "databases", "0");
    bad("invalid databases '1000001' (expected 1-1000000)", "databases", "1000001");
    bad("invalid databases '16k' (expected 1-1000000)", "databases", "16k");

    ok("admin-port", "0");
    ck_assert_int_eq(cfg.admin_port, 0);
    ok("admin-port", "65535");
    ck_assert_int_eq(cfg.admin_port, 65535);
    bad("invalid admin-port '65536' (expected 0-65535)", "admin-port", "65536");
    bad("invalid admin-port '-1' (expected 0-65535)", "admin-port", "-1");

    ok("probe-interval-ms", "10");
    ck_assert_int_eq(cfg.probe_interval_ms, 10);
    ok("probe-interval-ms", "60000");
    ck_assert_int_eq(cfg.probe_interval_ms, 60000);
    bad("invalid probe-interval-ms '9' (expected 10-60000)", "probe-interval-ms", "9");
    bad("invalid probe-interval-ms '60001' (expected 10-60000)", "probe-interval-ms", "60001");

    ok("down-after-ms", "20");
    ck_assert_int_eq(cfg.down_after_ms, 20);
    ok("down-after-ms", "3600000");
    ck_assert_int_eq(cfg.down_after_ms, 3600000);
    bad("invalid down-after-ms '19' (expected 20-3600000)", "down-after-ms", "19");
    bad("invalid down-after-ms '3600001' (expected 20-3600000)", "down-after-ms", "3600001");
    bad("invalid down-after-ms '1s' (expected 20-3600000)", "down-after-ms", "1s");
}
END_TEST

START_TEST(test_enums)
{
    ok("write-ack", "primary");
    ck_assert_int_eq(cfg.write_ack, WRITE_ACK_PRIMARY);
    ok("write-ack", "ALL");
    ck_assert_int_eq(cfg.write_ack, WRITE_ACK_ALL);
    bad("write-ack must be 'all' or 'primary', got 'some'", "write-ack", "some");
    bad("write-ack must be 'all' or 'primary', got ''", "write-ack", "");

    ck_assert_int_eq(cfg.write_marks, WRITE_MARKS_QUIET);
    ok("write-marks", "every-run");
    ck_assert_int_eq(cfg.write_marks, WRITE_MARKS_EVERY_RUN);
    ok("write-marks", "Quiet");
    ck_assert_int_eq(cfg.write_marks, WRITE_MARKS_QUIET);
    bad("write-marks must be 'quiet' or 'every-run', got 'always'", "write-marks", "always");

    ok("loglevel", "debug");
    ck_assert_int_eq(cfg.loglevel, LOG_DEBUG);
    ok("loglevel", "verbose");
    ck_assert_int_eq(cfg.loglevel, LOG_VERBOSE);
    ok("loglevel", "Warning");
    ck_assert_int_eq(cfg.loglevel, LOG_WARNING);
    ok("loglevel", "notice");
    ck_assert_int_eq(cfg.loglevel, LOG_NOTICE);
    bad("loglevel must be 'debug', 'verbose', 'notice' or 'warning', got 'nothing'", "loglevel",
        "nothing");
}
END_TEST

START_TEST(test_memory_directives)
{
    ok("proto-max-bulk-len", "1mb");
    ck_assert_int_eq(cfg.proto_max_bulk_len, 1048576);
    ok("proto-max-bulk-len", "1048576");
    ok("proto-max-bulk-len", "2GB");
    ck_assert_int_eq(cfg.proto_max_bulk_len, 2LL << 30);
    bad("invalid proto-max-bulk-len '1048575' (expected at least 1mb)", "proto-max-bulk-len",
        "1048575");
    bad("invalid proto-max-bulk-len '1m' (expected at least 1mb)", "proto-max-bulk-len", "1m");
    bad("invalid proto-max-bulk-len '512x' (expected bytes, or a number with k, kb, m, mb, g or "
        "gb)",
        "proto-max-bulk-len", "512x");
    bad("invalid proto-max-bulk-len '-1' (expected bytes, or a number with k, kb, m, mb, g or gb)",
        "proto-max-bulk-len", "-1");
    ck_assert_int_eq(cfg.proto_max_bulk_len, 2LL << 30);

    ok("backlog-size", "16kb");
    ck_assert_int_eq(cfg.backlog_size, 16384);
    ok("backlog-size", "1g");
    ck_assert_int_eq(cfg.backlog_size, 1000000000);
    bad("invalid backlog-size '16383' (expected at least 16kb)", "backlog-size", "16383");
    bad("invalid backlog-size '16k' (expected at least 16kb)", "backlog-size", "16k");
    bad("invalid backlog-size 'lots' (expected bytes, or a number with k, kb, m, mb, g or gb)",
        "backlog-size", "lots");
}
END_TEST

START_TEST(test_obuf_limit)
{
    ok("client-output-buffer-limit", "normal", "256mb", "64mb", "60");
    ck_assert_int_eq(cfg.obuf_hard_limit, 256LL << 20);
    ck_assert_int_eq(cfg.obuf_soft_limit, 64LL << 20);
    ck_assert_int_eq(cfg.obuf_soft_seconds, 60);
    ok("client-output-buffer-limit", "NORMAL", "0", "0", "0");
    ck_assert_int_eq(cfg.obuf_hard_limit, 0);
    ck_assert_int_eq(cfg.obuf_soft_limit, 0);
    ck_assert_int_eq(cfg.obuf_soft_seconds, 0);

    bad("client-output-buffer-limit class must be 'normal', got 'replica'",
        "client-output-buffer-limit", "replica", "256mb", "64mb", "60");
    bad("client-output-buffer-limit class must be 'normal', got 'pubsub'",
        "client-output-buffer-limit", "pubsub", "32mb", "8mb", "60");
    bad("invalid client-output-buffer-limit hard limit '1q' (expected bytes, or a number with k, "
        "kb, m, mb, g or gb)",
        "client-output-buffer-limit", "normal", "1q", "0", "0");
    bad("invalid client-output-buffer-limit soft limit '-5' (expected bytes, or a number with k, "
        "kb, m, mb, g or gb)",
        "client-output-buffer-limit", "normal", "0", "-5", "0");
    bad("invalid client-output-buffer-limit soft seconds 'x' (expected 0 or more)",
        "client-output-buffer-limit", "normal", "0", "0", "x");
    bad("'client-output-buffer-limit' takes 4 arguments, got 8", "client-output-buffer-limit",
        "normal", "0", "0", "0", "pubsub", "32mb", "8mb", "60");
    ck_assert_int_eq(cfg.obuf_hard_limit, 0);
}
END_TEST

START_TEST(test_strings)
{
    ok("logfile", "/var/log/redpair.log");
    ck_assert_str_eq(cfg.logfile, "/var/log/redpair.log");
    ok("logfile", "");
    ck_assert_str_eq(cfg.logfile, "");

    ok("admin-bind", "0.0.0.0");
    ck_assert_str_eq(cfg.admin_bind, "0.0.0.0");
    bad("admin-bind must not be empty", "admin-bind", "");

    ok("state-dir", "/tmp/redpair state");
    ck_assert_str_eq(cfg.state_dir, "/tmp/redpair state");
    bad("state-dir must not be empty", "state-dir", "");
    bad("'state-dir' takes 1 argument, got 2", "state-dir", "/a", "/b");
    ck_assert_str_eq(cfg.state_dir, "/tmp/redpair state");
}
END_TEST

/* Every replacing setter frees what it replaces; ASan's leak check sees to the rest. */
START_TEST(test_apply_twice)
{
    for (int i = 0; i < 3; i++) {
        ok("bind", "10.0.0.1", "10.0.0.2");
        ok("backend", "a", "host-a", "1");
        ok("backend", "b", "host-b", "2");
        ok("backend-user", "u");
        ok("backend-password", "p");
        ok("requirepass", "r");
        ok("logfile", "/tmp/x.log");
        ok("admin-bind", "::1");
        ok("admin-token", "t");
        ok("state-dir", "/tmp/s");
    }
    ck_assert_int_eq(cfg.backend_count, 2);

    /* Freeing resets, so the struct can be set up again. */
    config_free(&cfg);
    ck_assert_ptr_null(cfg.logfile);
    ck_assert_int_eq(cfg.backend_count, 0);
    config_init(&cfg);
    ok("requirepass", "again");
}
END_TEST

START_TEST(test_parse_memory)
{
    static const struct {
        const char *s;
        long long v;
    } cases[] = {
        {"0", 0},
        {"1", 1},
        {"100", 100},
        {"100b", 100},
        {"100B", 100},
        {"1k", 1000},
        {"1K", 1000},
        {"1kb", 1024},
        {"1KB", 1024},
        {"1kB", 1024},
        {"1m", 1000000},
        {"1mb", 1048576},
        {"1Mb", 1048576},
        {"1g", 1000000000},
        {"1gb", 1073741824},
        {"1GB", 1073741824},
        {"512mb", 536870912},
        {"9223372036854775807", LLONG_MAX},
        {"8589934591gb", 8589934591LL << 30},
        {"", -1},
        {"k", -1},
        {"kb", -1},
        {"-1", -1},
        {"-1kb", -1},
        {"+1", -1},
        {" 1", -1},
        {"1 ", -1},
        {"1 kb", -1},
        {"1tb", -1},
        {"1kbb", -1},
        {"1.5gb", -1},
        {"0x10", -1},
        {"9223372036854775808", -1},
        {"99999999999999999999999999", -1},
        {"8589934592gb", -1},
        {"9223372036854775807k", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(config_parse_memory(cases[i].s) == cases[i].v, "'%s' gave %lld, not %lld",
                      cases[i].s, config_parse_memory(cases[i].s), cases[i].v);
    }
}
END_TEST

/* Splits and compares with the expected arguments; NULL-terminated. */
#define split_eq(line, ...) split_eq_list(line, (const char *[]){__VA_ARGS__, NULL})

static void split_eq_list(const char *line, const char **want)
{
    int n = 0;
    while (want[n]) n++;
    int argc = split(line);
    ck_assert_msg(argc == n, "'%s' split into %d, not %d", line, argc, n);
    for (int i = 0; i < n; i++) ck_assert_str_eq(sargv[i], want[i]);
    ck_assert_ptr_null(sargv[n]);
}

START_TEST(test_split_line)
{
    ck_assert_int_eq(split(""), 0);
    ck_assert_ptr_nonnull(sargv);
    ck_assert_ptr_null(sargv[0]);
    ck_assert_int_eq(split(" \t \r\n"), 0);

    split_eq("port 6380", "port", "6380");
    split_eq("  bind\t10.0.0.1   ::1  \r\n", "bind", "10.0.0.1", "::1");
    split_eq("a", "a");
    split_eq("requirepass \"\"", "requirepass", "");
    split_eq("x '' \"\" y", "x", "", "", "y");
    split_eq("k \"hello world\"", "k", "hello world");
    split_eq("k \"a\\nb\\rc\\td\\be\\af\\\\g\\\"h\"", "k", "a\nb\rc\td\be\af\\g\"h");
    split_eq("k \"\\x41\\x62\\x7e\\xFf\"", "k", "Ab~\xff");
    /* \x without two hex digits is an ordinary escape of 'x', as in Redis. */
    split_eq("k \"\\xZZ\\x4\"", "k", "xZZx4");
    split_eq("k \"\\q\\'\"", "k", "q'");
    split_eq("k 'it\\'s'", "k", "it's");
    split_eq("k 'a\\nb \"c\" \\x41'", "k", "a\\nb \"c\" \\x41");
    split_eq("k \"it's\" 'say \"hi\"'", "k", "it's", "say \"hi\"");
    /* A quote inside a word starts quoting there. */
    split_eq("ab\"c d\" e", "abc d", "e");
    split_eq("\"a\"\t\"b\"", "a", "b");
    split_eq("back\\slash", "back\\slash");

    ck_assert_int_eq(split("k \"unterminated"), -1);
    ck_assert_ptr_null(sargv);
    ck_assert_ptr_null(sstore);
    ck_assert_int_eq(split("k 'unterminated"), -1);
    ck_assert_int_eq(split("k \"ends in backslash\\"), -1);
    ck_assert_int_eq(split("k 'ends in escaped quote\\'"), -1);
    ck_assert_int_eq(split("k \"a\"b"), -1);
    ck_assert_int_eq(split("k 'a'b"), -1);
    ck_assert_int_eq(split("k \"a\"\"b\""), -1);
    ck_assert_int_eq(split("k \"\\x00\""), -1);
}
END_TEST

START_TEST(test_split_line_long)
{
    size_t n = 200000;
    char *line = malloc(n + 1);

    /* One-character arguments: the densest line there is. */
    for (size_t i = 0; i < n; i++) line[i] = i % 2 ? ' ' : 'x';
    line[n] = '\0';
    ck_assert_int_eq(split(line), (int)(n / 2));
    ck_assert_str_eq(sargv[n / 2 - 1], "x");

    memset(line, 'y', n);
    ck_assert_int_eq(split(line), 1);
    ck_assert_uint_eq(strlen(sargv[0]), n);

    for (size_t i = 0; i < n; i += 3) memcpy(line + i, "\"\" ", 3);
    line[n - n % 3] = '\0';
    ck_assert_int_eq(split(line), (int)(n / 3));
    free(line);
}
END_TEST

START_TEST(test_load_file)
{
    const char *path = write_text("good.conf", "# redpair test\n"
                                               "\n"
                                               "   # indented comment\n"
                                               "  port 7000  \n"
                                               "bind 10.0.0.1 10.0.0.2\r\n"
                                               "\t\r\n"
                                               "backend a 127.0.0.1 6379\n"
                                               "backend b 127.0.0.1 6381\n"
                                               "requirepass \"pass word\"\n"
                                               "logfile ''\n"
                                               "WRITE-ACK primary\n"
                                               "proto-max-bulk-len 1gb"); /* no final newline */
    ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(cfg.port, 7000);
    ck_assert_int_eq(cfg.bind_count, 2);
    ck_assert_str_eq(cfg.bind[1], "10.0.0.2");
    ck_assert_int_eq(cfg.backend_count, 2);
    ck_assert_str_eq(cfg.backends[1].name, "b");
    ck_assert_int_eq(cfg.backends[1].port, 6381);
    ck_assert_str_eq(cfg.requirepass, "pass word");
    ck_assert_str_eq(cfg.logfile, "");
    ck_assert_int_eq(cfg.write_ack, WRITE_ACK_PRIMARY);
    ck_assert_int_eq(cfg.proto_max_bulk_len, 1LL << 30);
    ck_assert(config_validate(&cfg, err, sizeof(err)));

    /* Loading again replaces everything and leaks nothing. */
    ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(cfg.backend_count, 2);

    path = write_text("empty.conf", "");
    ck_assert(config_load_file(&cfg, path, err, sizeof(err)));
}
END_TEST

START_TEST(test_load_file_errors)
{
    char want[CONFIG_ERROR_MAX + 64];
    const char *path;

    path = write_text("port.conf", "# x\n\n   port abc   \nport 1\n");
    ck_assert(!config_load_file(&cfg, path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:3: 'port abc': invalid port 'abc' (expected 0-65535)", path);
    ck_assert_str_eq(err, want);

    path = write_text("unknown.conf", "port 1\nprot 2\n");
    ck_assert(!config_load_file(&cfg, path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:2: 'prot 2': unknown directive 'prot'", path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(cfg.port, 1);

    /* Redis has no trailing comments either. */
    path = write_text("comment.conf", "port 1 # the port\n");
    ck_assert(!config_load_file(&cfg, path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:1: 'port 1 # the port': 'port' takes 1 argument, got 4", path);
    ck_assert_str_eq(err, want);

    path = write_text("quotes.conf", "\n\nrequirepass \"abc\n");
    ck_assert(!config_load_file(&cfg, path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:3: 'requirepass \"abc': unbalanced quotes", path);
    ck_assert_str_eq(err, want);

    path = write_text("close.conf", "requirepass \"abc\"def\n");
    ck_assert(!config_load_file(&cfg, path, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s:1: 'requirepass \"abc\"def': closing quote must be followed by a space or the "
             "end of the line",
             path);
    ck_assert_str_eq(err, want);

    path = write_file("nul.conf", "port 1\nport 2\0\n", 15);
    ck_assert(!config_load_file(&cfg, path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s:2: line contains a NUL byte", path);
    ck_assert_str_eq(err, want);

    snprintf(want, sizeof(want), "%s/missing.conf", tmpdir);
    ck_assert(!config_load_file(&cfg, want, err, sizeof(err)));
    strcat(want, ": cannot open: No such file or directory");
    ck_assert_str_eq(err, want);

    ck_assert(!config_load_file(&cfg, tmpdir, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory", tmpdir);
    ck_assert_str_eq(err, want);

    /* A small error buffer truncates, never overflows. */
    char small[8];
    ck_assert(!config_load_file(&cfg, path, small, sizeof(small)));
    ck_assert_uint_eq(strlen(small), 7);
}
END_TEST

START_TEST(test_load_file_long_line)
{
    size_t n = 100000;
    char *text = malloc(n + 64);

    strcpy(text, "port 1\nrequirepass ");
    size_t used = strlen(text);
    memset(text + used, 'p', n);
    strcpy(text + used + n, "\nport 2\n");
    const char *path = write_text("long.conf", text);
    ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(strlen(cfg.requirepass), n);
    ck_assert_int_eq(cfg.port, 2);

    /* An error on a long line still names the line, cut to fit. */
    strcpy(text + used + n, " x\n");
    path = write_text("long-bad.conf", text);
    ck_assert(!config_load_file(&cfg, path, err, sizeof(err)));
    ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
    char want[CONFIG_ERROR_MAX];
    snprintf(want, sizeof(want), "%s:2: 'requirepass ppp", path);
    ck_assert(strncmp(err, want, strlen(want)) == 0);
    free(text);
}
END_TEST

/* Runs config_load_args on a NULL-terminated list. */
#define load_args(...) load_args_list((const char *[]){__VA_ARGS__, NULL})

static bool load_args_list(const char **args)
{
    int argc = 0;
    while (args[argc]) argc++;
    err[0] = '\0';
    return config_load_args(&cfg, argc, (char **)args, err, sizeof(err));
}

START_TEST(test_load_args)
{
    const char *path = write_text("base.conf", "port 6380\n"
                                               "backend a 127.0.0.1 6379\n"
                                               "backend b 127.0.0.1 6381\n"
                                               "loglevel warning\n");
    ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)), "%s", err);
    ck_assert_msg(load_args("--port", "7000", "--backend", "a", "10.0.0.1", "6390", "--loglevel",
                            "debug", "--bind", "10.0.0.5", "10.0.0.6", "--requirepass", ""),
                  "%s", err);
    ck_assert_int_eq(cfg.port, 7000);
    ck_assert_int_eq(cfg.backend_count, 2);
    ck_assert_str_eq(cfg.backends[0].name, "a");
    ck_assert_str_eq(cfg.backends[0].host, "10.0.0.1");
    ck_assert_int_eq(cfg.backends[0].port, 6390);
    ck_assert_str_eq(cfg.backends[1].host, "127.0.0.1");
    ck_assert_int_eq(cfg.backends[1].port, 6381);
    ck_assert_int_eq(cfg.loglevel, LOG_DEBUG);
    ck_assert_int_eq(cfg.bind_count, 2);
    ck_assert_str_eq(cfg.bind[1], "10.0.0.6");
    ck_assert_ptr_null(cfg.requirepass);
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert(load_args("--protected-mode", "no"));
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);

    /* Negative numbers are values, not directives. */
    ck_assert(!load_args("--port", "-1"));
    ck_assert_str_eq(err, "command line: '--port -1': invalid port '-1' (expected 0-65535)");

    ck_assert(load_args("--PORT", "7001"));
    ck_assert_int_eq(cfg.port, 7001);
    ck_assert(config_load_args(&cfg, 0, NULL, err, sizeof(err)));
}
END_TEST

START_TEST(test_load_args_errors)
{
    ck_assert(!load_args("--port", "x"));
    ck_assert_str_eq(err, "command line: '--port x': invalid port 'x' (expected 0-65535)");

    ck_assert(!load_args("--port", "1", "2"));
    ck_assert_str_eq(err, "command line: '--port 1 2': 'port' takes 1 argument, got 2");

    ck_assert(!load_args("--port", "--maxclients", "5"));
    ck_assert_str_eq(err, "command line: '--port': 'port' takes 1 argument, got 0");

    ck_assert(!load_args("--prot", "1"));
    ck_assert_str_eq(err, "command line: '--prot 1': unknown directive 'prot'");

    ck_assert(!load_args("port", "1"));
    ck_assert_str_eq(err, "command line: 'port': expected a --directive");

    ck_assert(!load_args("--", "1"));
    ck_assert_str_eq(err, "command line: '-- 1': unknown directive ''");

    /* Earlier groups were applied; the failing one and later ones were not. */
    ck_assert(!load_args("--port", "7002", "--maxclients", "0", "--databases", "4"));
    ck_assert_str_eq(err,
                     "command line: '--maxclients 0': invalid maxclients '0' (expected 1 or more)");
    ck_assert_int_eq(cfg.port, 7002);
    ck_assert_int_eq(cfg.databases, 16);

    ck_assert(!load_args("--backend", "a", "h", "1", "--backend", "b", "h", "2", "--backend", "c",
                         "h", "3"));
    ck_assert_str_eq(err, "command line: '--backend c h 3': too many backends: 'a' and 'b' are "
                          "already defined (redpair takes exactly two)");
}
END_TEST

START_TEST(test_validate)
{
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "redpair needs exactly two backends ('backend NAME HOST PORT'), found 0");
    ok("backend", "a", "h", "1");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "redpair needs exactly two backends ('backend NAME HOST PORT'), found 1");
    ok("backend", "b", "h", "2");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);

    ok("probe-interval-ms", "1000");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "down-after-ms (1000) must be greater than probe-interval-ms (1000), or "
                          "a backend is marked down before it has been probed");
    ok("down-after-ms", "1001");
    ck_assert(config_validate(&cfg, err, sizeof(err)));
    ok("down-after-ms", "20");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));

    /* Names are kept distinct by 'backend'; a struct built by hand is checked all the same. */
    ok("down-after-ms", "5000");
    strcpy(cfg.backends[1].name, "a");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "the two backends must have distinct names, both are 'a'");
}
END_TEST

/* Safe defaults: other hosts get in only with a secret, as with Redis's protected mode. */
START_TEST(test_exposure)
{
    ok("backend", "a", "h", "1");
    ok("backend", "b", "h", "2");
    ok("bind", "127.0.0.1", "::1", "127.0.0.2", "localhost");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
    ok("bind", "127.0.0.1", "0.0.0.0");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "protected mode: 'bind 0.0.0.0' lets other hosts in but the default user "
                          "needs no password: set requirepass, or 'protected-mode no' to let them "
                          "in without one");
    ok("requirepass", "s3cret");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
    ok("requirepass", "");
    ok("protected-mode", "no");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
    bad("protected-mode must be 'yes' or 'no', got 'maybe'", "protected-mode", "maybe");

    ok("admin-bind", "::");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "admin-bind :: is reachable from other hosts but admin-token is not set: "
                          "set admin-token, or bind the admin API to 127.0.0.1");
    ok("admin-port", "0");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
    ok("admin-port", "8380");
    ok("admin-token", "t0ken");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
}
END_TEST

/* A file with secrets is for redpair's eyes; one anybody may change is refused outright. */
START_TEST(test_load_file_mode)
{
    const char *plain = write_text("plain.conf", "port 7000\n");
    const char *secret = write_text("secret.conf", "requirepass s3cret\n");
    ck_assert_int_eq(chmod(plain, 0644), 0);
    ck_assert_msg(config_load_file(&cfg, plain, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(chmod(plain, 0666), 0);
    ck_assert(!config_load_file(&cfg, plain, err, sizeof(err)));
    char want[512];
    snprintf(want, sizeof(want), "%s: every user may change it (mode 0666): chmod o-w %s", plain,
             plain);
    ck_assert_str_eq(err, want);

    ck_assert_msg(config_load_file(&cfg, secret, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(chmod(secret, 0644), 0);
    ck_assert(!config_load_file(&cfg, secret, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s holds passwords or tokens but every user may read it (mode 0644): chmod o-r %s",
             secret, secret);
    ck_assert_str_eq(err, want);
}
END_TEST

/* Cluster membership: names, counts, the token, and a witness without backends. */
START_TEST(test_cluster)
{
    ok("backend", "a", "h", "1");
    ok("backend", "b", "h", "2");
    bad("invalid peer name 'x y' (expected 1-31 characters of A-Z a-z 0-9 _ -)", "peer", "x y", "h",
        "1");
    bad("peer 'p' has an empty host", "peer", "p", "", "1");
    bad("invalid peer port '0' (expected 1-65535)", "peer", "p", "h", "0");
    bad("invalid cluster-bind port 'x' (expected 1-65535)", "cluster-bind", "0.0.0.0", "x");
    bad("invalid node name '' (expected 1-31 characters of A-Z a-z 0-9 _ -)", "node-id", "");
    ok("peer", "n2", "10.0.0.2", "7000");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "'peer' lines need this node's name: 'node-id NAME'");
    ok("node-id", "n1");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "'peer' lines need this node's cluster port: 'cluster-bind ADDR PORT'");
    ok("cluster-bind", "10.0.0.1", "7000");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "a cluster needs 2 or 4 'peer' lines (3 or 5 voters with this node), "
                          "found 1");
    ok("peer", "w", "10.0.0.3", "7000");
    ok("peer", "w", "10.0.0.4", "7001"); /* the same name again replaces */
    ck_assert_int_eq(cfg.peer_count, 2);
    ck_assert_str_eq(cfg.peers[1].host, "10.0.0.4");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "'peer' lines need 'cluster-token SECRET' of at least 16 characters, "
                          "the same on every node");
    ok("cluster-token", "short");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ok("cluster-token", "0123456789abcdef");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
    ck_assert(config_clustered(&cfg));
    ck_assert_int_eq(cfg.election_timeout_ms, 1000);
    ok("cluster-election-timeout-ms", "150");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "cluster-election-timeout-ms (150) must be at least twice "
                          "probe-interval-ms (100)");
    ok("cluster-election-timeout-ms", "2000");
    ok("peer", "n3", "h", "1");
    ok("peer", "n4", "h", "1");
    bad("too many peers: a cluster has at most 4 other nodes", "peer", "n5", "h", "1");
    ok("node-id", "n3");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "peer 'n3' has this node's own name (node-id)");
    ok("node-id", "n1");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);

    /* A witness needs no backends; --witness needs peers. */
    config_free(&cfg);
    config_init(&cfg);
    cfg.witness = true;
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "--witness needs the cluster's 'peer' lines");
    ok("node-id", "w");
    ok("cluster-bind", "10.0.0.3", "7000");
    ok("peer", "n1", "10.0.0.1", "7000");
    ok("peer", "n2", "10.0.0.2", "7000");
    ok("cluster-token", "0123456789abcdef");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
}
END_TEST

/* Redis's tls-* directives: values as Redis takes them, and what each TLS side needs. */
START_TEST(test_tls)
{
    ck_assert_int_eq(cfg.tls_port, 0);
    ck_assert_int_eq(cfg.tls_auth_clients, TLS_AUTH_YES);
    ck_assert(cfg.tls_session_caching);
    ok("tls-auth-clients", "optional");
    ck_assert_int_eq(cfg.tls_auth_clients, TLS_AUTH_OPTIONAL);
    bad("tls-auth-clients must be 'yes', 'no' or 'optional', got 'maybe'", "tls-auth-clients",
        "maybe");
    ok("tls-protocols", "TLSv1.2 TLSv1.3");
    ck_assert_int_eq(cfg.tls_protocols, 1 << 2 | 1 << 3);
    bad("tls-protocols must be 'TLSv1', 'TLSv1.1', 'TLSv1.2' or 'TLSv1.3', got 'SSLv3'",
        "tls-protocols", "TLSv1.3 SSLv3");
    bad("tls-protocols must name at least one protocol", "tls-protocols", "");
    char names[64];
    ck_assert_str_eq(config_tls_protocols(1 << 3, names, sizeof(names)), "TLSv1.3");
    bad("tls-cert-file '/nonexistent/x.crt' cannot be read: No such file or directory",
        "tls-cert-file", "/nonexistent/x.crt");
    ok("tls-cert-file", "/dev/null");
    ok("tls-cert-file", ""); /* unset again */
    ck_assert_ptr_null(cfg.tls_cert_file);
    bad("backend-tls must be 'yes' or 'no', got '1'", "backend-tls", "1");
    bad("invalid tls-port 'x' (expected 0-65535)", "tls-port", "x");

    ok("backend", "a", "127.0.0.1", "6379");
    ok("backend", "b", "127.0.0.1", "6381");
    ok("port", "0");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "'port 0' needs a 'tls-port': clients would have no way in");
    ok("tls-port", "6390");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "tls-port needs 'tls-cert-file' and 'tls-key-file'");
    ok("tls-cert-file", "/dev/null");
    ok("tls-key-file", "/dev/null");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "tls-auth-clients optional needs 'tls-ca-cert-file' or "
                          "'tls-ca-cert-dir' to check client certificates with");
    ok("tls-auth-clients", "no");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
    ok("backend-tls", "yes");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "backend-tls yes needs 'backend-tls-ca-cert-file' or 'tls-ca-cert-file' "
                          "to check the servers' certificates with");
    ok("tls-ca-cert-file", "/dev/null");
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);
    ok("cluster-tls", "yes");
    ck_assert(!config_validate(&cfg, err, sizeof(err)));
    ck_assert_str_eq(err, "cluster-tls yes needs the cluster's 'peer' lines");
}
END_TEST

/* The shipped annotated configuration loads, validates, and states the real defaults. */
START_TEST(test_packaged_conf)
{
    const char *data = getenv("REDPAIR_TEST_DATA");
    char path[PATH_MAX];
    struct config defaults;

    if (data && *data) {
        snprintf(path, sizeof(path), "%s/../../../packaging/redpair.conf", data);
    } else {
        /* Run by hand rather than by ctest: find it from this source file instead. */
        const char *slash = strrchr(__FILE__, '/');
        int dir = slash ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof(path), "%.*s/../../packaging/redpair.conf", dir,
                 slash ? __FILE__ : ".");
    }
    ck_assert_msg(config_load_file(&cfg, path, err, sizeof(err)), "%s", err);
    ck_assert_msg(config_validate(&cfg, err, sizeof(err)), "%s", err);

    ck_assert_str_eq(cfg.backends[0].name, "a");
    ck_assert_str_eq(cfg.backends[0].host, "127.0.0.1");
    ck_assert_int_eq(cfg.backends[0].port, 6379);
    ck_assert_str_eq(cfg.backends[1].name, "b");
    ck_assert_str_eq(cfg.backends[1].host, "127.0.0.1");
    ck_assert_int_eq(cfg.backends[1].port, 6381);

    config_init(&defaults);
    ck_assert_int_eq(cfg.bind_count, defaults.bind_count);
    ck_assert_str_eq(cfg.bind[0], defaults.bind[0]);
    ck_assert_int_eq(cfg.port, defaults.port);
    ck_assert_ptr_null(cfg.backend_user);
    ck_assert_ptr_null(cfg.backend_password);
    ck_assert_ptr_null(cfg.requirepass);
    ck_assert_int_eq(cfg.maxclients, defaults.maxclients);
    ck_assert_int_eq(cfg.databases, defaults.databases);
    ck_assert_int_eq(cfg.write_ack, defaults.write_ack);
    ck_assert_int_eq(cfg.proto_max_bulk_len, defaults.proto_max_bulk_len);
    ck_assert_int_eq(cfg.obuf_hard_limit, defaults.obuf_hard_limit);
    ck_assert_int_eq(cfg.obuf_soft_limit, defaults.obuf_soft_limit);
    ck_assert_int_eq(cfg.obuf_soft_seconds, defaults.obuf_soft_seconds);
    ck_assert_int_eq(cfg.loglevel, defaults.loglevel);
    ck_assert_str_eq(cfg.logfile, defaults.logfile);
    ck_assert_str_eq(cfg.admin_bind, defaults.admin_bind);
    ck_assert_int_eq(cfg.admin_port, defaults.admin_port);
    ck_assert_ptr_null(cfg.admin_token);
    ck_assert_str_eq(cfg.state_dir, defaults.state_dir);
    ck_assert_int_eq(cfg.probe_interval_ms, defaults.probe_interval_ms);
    ck_assert_int_eq(cfg.down_after_ms, defaults.down_after_ms);
    ck_assert_int_eq(cfg.backlog_size, defaults.backlog_size);
    ck_assert_int_eq(cfg.tls_port, defaults.tls_port);
    ck_assert_int_eq(cfg.tls_auth_clients, defaults.tls_auth_clients);
    ck_assert(!cfg.backend_tls && !cfg.admin_tls && !cfg.cluster_tls);
    config_free(&defaults);
}
END_TEST

/* Reads a whole (small) file into buf. */
static void slurp(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    size_t n = fread(buf, 1, len - 1, fp);
    buf[n] = '\0';
    fclose(fp);
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    ck_assert_msg(rc == 0, "'%s' does not match /%s/", text, pattern);
}

#define STAMP "^[0-9]+:M [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3} "

START_TEST(test_log)
{
    char text[4096];
    const char *path = write_text("redpair.log", "earlier line\n");

    log_open(LOG_NOTICE, path);
    log_debug("not shown %d", 1);
    log_verbose("not shown %d", 2);
    log_notice("hello %s %d", "world", 42);
    log_warning("careful");
    log_set_level(LOG_DEBUG);
    log_debug("now shown");
    log_verbose("this too");
    log_set_level(LOG_WARNING);
    log_notice("quiet again");
    log_close();

    slurp(path, text, sizeof(text));
    ck_assert(strncmp(text, "earlier line\n", 13) == 0);
    ck_assert_ptr_null(strstr(text, "not shown"));
    ck_assert_ptr_null(strstr(text, "quiet again"));
    assert_matches(text, STAMP "\\* hello world 42$");
    assert_matches(text, STAMP "# careful$");
    assert_matches(text, STAMP "\\. now shown$");
    assert_matches(text, STAMP "- this too$");
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 5);
}
END_TEST

START_TEST(test_log_fallback)
{
    char text[4096], bad[PATH_MAX + 32], captured[PATH_MAX + 32];

    /* Capture stderr, where the one warning and the lines after it go. */
    snprintf(captured, sizeof(captured), "%s/stderr", tmpdir);
    strcpy(files[nfiles++], captured);
    int fd = open(captured, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ne(fd, -1);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);

    snprintf(bad, sizeof(bad), "%s/no/such/dir/redpair.log", tmpdir);
    log_open(LOG_NOTICE, bad);
    log_notice("still logging");
    log_close();

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    slurp(captured, text, sizeof(text));
    assert_matches(text, STAMP "# Can't open the log file '.*/no/such/dir/redpair.log': No such "
                               "file or directory; logging to standard error$");
    assert_matches(text, STAMP "\\* still logging$");
    log_open(LOG_NOTICE, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_unknown_and_arity);
    tcase_add_test(tc, test_bind);
    tcase_add_test(tc, test_port);
    tcase_add_test(tc, test_backend);
    tcase_add_test(tc, test_backend_names);
    tcase_add_test(tc, test_secrets);
    tcase_add_test(tc, test_exposure);
    tcase_add_test(tc, test_load_file_mode);
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_enums);
    tcase_add_test(tc, test_memory_directives);
    tcase_add_test(tc, test_obuf_limit);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_apply_twice);
    tcase_add_test(tc, test_parse_memory);
    tcase_add_test(tc, test_split_line);
    tcase_add_test(tc, test_split_line_long);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_load_file_errors);
    tcase_add_test(tc, test_load_file_long_line);
    tcase_add_test(tc, test_load_args);
    tcase_add_test(tc, test_load_args_errors);
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_cluster);
    tcase_add_test(tc, test_tls);
    tcase_add_test(tc, test_packaged_conf);
    tcase_add_test(tc, test_log);
    tcase_add_test(tc, test_log_fallback);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
