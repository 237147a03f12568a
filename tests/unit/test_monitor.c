/* The health monitor: INFO parsing on texts captured from a real redis-server 7.0, and the
 * monitor itself against a real redis-server process stopped, resumed, kept busy and restarted,
 * with a second backend on a port nobody listens on. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "config.h"
#include "monitor.h"
#include "unit.h"

/* --- INFO parsing ------------------------------------------------------------------------- */

static char *read_data(const char *name, size_t *len)
{
    const char *data = getenv("REDPAIR_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", data ? data : "tests/unit/data", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *text = malloc(1 << 16);
    *len = fread(text, 1, 1 << 16, f);
    fclose(f);
    return text;
}

/* A probe as the monitor prepares one before parsing a full INFO. */
static struct probe parse_file(const char *name)
{
    struct probe p = {.slave_repl_offset = -1, .keys = -7};
    size_t len;
    char *text = read_data(name, &len);
    monitor_parse_info(&p, text, len);
    free(text);
    return p;
}

START_TEST(test_parse_master)
{
    struct probe p = parse_file("info-master.txt");
    ck_assert_str_eq(p.run_id, "8a53192f03046ef7e96be45a2bbfb05b7eecd6b9");
    ck_assert_str_eq(p.role, "master");
    ck_assert(!p.loading);
    ck_assert_str_eq(p.master_link_status, "");
    ck_assert_int_eq(p.master_repl_offset, 175);
    ck_assert_int_eq(p.slave_repl_offset, -1);
    ck_assert_int_eq(p.used_memory, 1158952);
    ck_assert_int_eq(p.maxmemory, 104857600);
    ck_assert_str_eq(p.maxmemory_policy, "allkeys-lru");
    ck_assert(p.aof_enabled);
    ck_assert_int_eq(p.keys, 4); /* db0 3 + db3 1; keyspace_hits is not a db */
    ck_assert_int_eq(p.uptime_s, 9);
    ck_assert_str_eq(p.version, "7.0.15");
}
END_TEST

START_TEST(test_parse_replica)
{
    struct probe p = parse_file("info-replica.txt");
    ck_assert_str_eq(p.role, "slave");
    ck_assert_str_eq(p.master_link_status, "up");
    ck_assert_int_eq(p.slave_repl_offset, 175);
    ck_assert_int_eq(p.master_repl_offset, 175);
    ck_assert(!p.aof_enabled);
    ck_assert_str_eq(p.maxmemory_policy, "noeviction");
    ck_assert_int_eq(p.maxmemory, 0);
    ck_assert_int_eq(p.keys, 4);

    p = parse_file("info-replica-syncing.txt");
    ck_assert_str_eq(p.master_link_status, "down");
    ck_assert_int_eq(p.slave_repl_offset, 1);
    ck_assert_int_eq(p.keys, 0); /* "# Keyspace" with no db line: empty */
}
END_TEST

START_TEST(test_parse_loading)
{
    struct probe p = parse_file("info-loading.txt");
    ck_assert(p.loading);
    ck_assert_str_eq(p.run_id, "36bb6c51c2127ac7dd8bef6c5e4ba237c9ee8dc2");
    ck_assert_int_eq(p.keys, 475835);
    ck_assert_int_eq(p.uptime_s, 0);
}
END_TEST

static void parse_text(struct probe *p, const char *text)
{
    monitor_parse_info(p, text, strlen(text));
}

START_TEST(test_parse_odd)
{
    struct probe p = {.keys = 12, .master_repl_offset = 5, .used_memory = 9};
    /* A section alone (INFO replication): no keyspace, so keys stay; \n endings, no final one. */
    parse_text(&p, "# Replication\nrole:slave\nmaster_link_status:up\nslave_repl_offset:77");
    ck_assert_int_eq(p.keys, 12);
    ck_assert_str_eq(p.role, "slave");
    ck_assert_int_eq(p.slave_repl_offset, 77);

    /* Not numbers: left as they were. Too long: cut, still terminated. */
    parse_text(&p, "master_repl_offset:12x\r\nused_memory:\r\nloading:yes\r\n"
                   "role:an-extraordinarily-long-role-name\r\n"
                   "run_id:0123456789012345678901234567890123456789EXTRA\r\n");
    ck_assert_int_eq(p.master_repl_offset, 5);
    ck_assert_int_eq(p.used_memory, 9);
    ck_assert(!p.loading);
    ck_assert_str_eq(p.role, "an-extraordinar");
    ck_assert_str_eq(p.run_id, "0123456789012345678901234567890123456789");

    /* Keyspace lines without keys=, a huge sum, garbage without colons: no crash, no overflow. */
    parse_text(&p, "# Keyspace\r\ndb0:expires=1\r\ndb1:keys=9223372036854775807,expires=0\r\n"
                   "db2:keys=5\r\nnonsense\r\n:\r\n#\r\n\r\n");
    ck_assert_int_eq(p.keys, 9223372036854775807LL);
    parse_text(&p, "# Keyspace\r\ndb0:keys=-3,expires=0\r\ndb1:keys=2");
    ck_assert_int_eq(p.keys, 2);
    parse_text(&p, "");
    ck_assert_int_eq(p.keys, 2);
}
END_TEST

/* --- a real redis-server ---------------------------------------------------------------- */

#define PASSWORD "s3cret"

static uv_loop_t loop;
static struct config cfg;
static char dir[] = "/tmp/redpair-monitor-XXXXXX";
static int port_a, port_b;
static pid_t server = -1;

struct change {
    enum monitor_change change;
    char run_id[41];
    char error[128];
};
static struct change changes[CONFIG_BACKENDS][64];
static int change_count[CONFIG_BACKENDS], change_seen[CONFIG_BACKENDS];

static void on_change(int backend, enum monitor_change change, const struct probe *p)
{
    ck_assert_int_lt(change_count[backend], 64);
    struct change *c = &changes[backend][change_count[backend]++];
    c->change = change;
    ck_assert_int_eq(p->up, change == MONITOR_UP);
    memcpy(c->run_id, p->run_id, sizeof(c->run_id));
    memcpy(c->error, p->last_error, sizeof(c->error));
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void start_server(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", port_a);
    server = fork();
    ck_assert_int_ge(server, 0);
    if (server == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
               "3600 1", "--appendonly", "no", "--dir", dir, "--requirepass", PASSWORD,
               "--busy-reply-threshold", "100", (char *)NULL);
        _exit(127);
    }
}

static void kill_server(void)
{
    if (server <= 0) return;
    kill(server, SIGCONT);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    server = -1;
}

/* Runs the loop until cond holds, failing after timeout_ms. */
#define WAIT_FOR(cond, timeout_ms)                                                                 \
    do {                                                                                           \
        uint64_t until_ = uv_now(&loop) + (timeout_ms);                                            \
        while (!(cond)) {                                                                          \
            ck_assert_msg(uv_now(&loop) < until_, "not within %d ms: %s", (timeout_ms), #cond);    \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        }                                                                                          \
    } while (0)

static void run_for(uint64_t ms)
{
    uint64_t until = uv_now(&loop) + ms;
    while (uv_now(&loop) < until) uv_run(&loop, UV_RUN_ONCE);
}

/* The next change of a backend, within timeout_ms. */
static const struct change *next_change(int backend, uint64_t timeout_ms)
{
    uint64_t until = uv_now(&loop) + timeout_ms;
    while (change_seen[backend] == change_count[backend]) {
        ck_assert_msg(uv_now(&loop) < until, "backend %d: no change within %llu ms", backend,
                      (unsigned long long)timeout_ms);
        uv_run(&loop, UV_RUN_ONCE);
    }
    return &changes[backend][change_seen[backend]++];
}

static const struct change *expect(int backend, enum monitor_change what, uint64_t timeout_ms)
{
    const struct change *c = next_change(backend, timeout_ms);
    ck_assert_msg(c->change == what, "backend %d: expected %s, got %s (%s)", backend,
                  what == MONITOR_UP ? "UP" : "DOWN", c->change == MONITOR_UP ? "UP" : "DOWN",
                  c->error);
    return c;
}

struct answer {
    int calls;
    bool null;
    int type;
    char str[64];
};

static void on_answer(void *arg, const struct redisReply *reply)
{
    struct answer *a = arg;
    a->calls++;
    a->null = reply == NULL;
    if (!reply) return;
    a->type = reply->type;
    snprintf(a->str, sizeof(a->str), "%s", reply->str ? reply->str : "");
}

/* One control command, retried while the connection is being replaced (a NULL answer). */
static struct answer command(int argc, const char **argv)
{
    uint64_t until = uv_now(&loop) + 3000;
    for (;;) {
        struct answer a = {0};
        monitor_command(0, on_answer, &a, argc, argv);
        ck_assert_int_eq(a.calls, 0); /* never inside monitor_command */
        WAIT_FOR(a.calls, 3000);
        if (!a.null) return a;
        ck_assert_msg(uv_now(&loop) < until, "no answer to %s", argv[0]);
        run_for(20);
    }
}

static void set_timing(int interval, int down_after)
{
    cfg.probe_interval_ms = interval;
    cfg.down_after_ms = down_after;
    monitor_reconfigure();
}

static void apply(const char *line)
{
    char **argv, *storage, err[CONFIG_ERROR_MAX];
    int argc = config_split_line(line, &argv, &storage);
    ck_assert_msg(config_apply(&cfg, argc, argv, err, sizeof(err)), "%s: %s", line, err);
    free(storage); /* argv lives in it too */
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    port_a = free_port();
    do port_b = free_port();
    while (port_b == port_a);
    config_init(&cfg);
    char line[128];
    snprintf(line, sizeof(line), "backend a 127.0.0.1 %d", port_a);
    apply(line);
    snprintf(line, sizeof(line), "backend b 127.0.0.1 %d", port_b); /* nobody listens */
    apply(line);
    apply("backend-password " PASSWORD);
    apply("probe-interval-ms 20");
    apply("down-after-ms 200");
    ck_assert_int_eq(uv_loop_init(&loop), 0);
}

static void teardown(void)
{
    kill_server();
    config_free(&cfg);
    rmdir(dir);
}

START_TEST(test_real_server)
{
    start_server();
    monitor_start(&loop, &cfg, on_change);

    /* Up, with the server's view filled in. */
    const struct change *c = expect(0, MONITOR_UP, 5000);
    char run_id[41];
    memcpy(run_id, c->run_id, sizeof(run_id));
    ck_assert_int_eq(strlen(run_id), 40);
    const struct probe *p = monitor_probe(0);
    ck_assert(p->up && p->ever_up);
    ck_assert_str_eq(p->run_id, run_id);
    ck_assert_str_eq(p->role, "master");
    ck_assert_str_eq(p->master_link_status, "");
    ck_assert_int_eq(p->slave_repl_offset, -1);
    ck_assert_str_eq(p->last_error, "");
    ck_assert_uint_gt(p->last_ok_ms, 0);
    ck_assert_int_eq(strncmp(p->version, "7.", 2), 0);
    WAIT_FOR(strcmp(p->rdb_save, "3600 1") == 0, 2000);

    /* Control commands, in order on the monitor's connection. */
    struct answer a = command(3, (const char *[]){"SET", "k", "v"});
    ck_assert_int_eq(a.type, REDIS_REPLY_STATUS);
    ck_assert_str_eq(a.str, "OK");
    a = command(2, (const char *[]){"GET", "k"});
    ck_assert_int_eq(a.type, REDIS_REPLY_STRING);
    ck_assert_str_eq(a.str, "v");
    WAIT_FOR(p->keys == 1, 2000); /* INFO keeps coming */

    /* The backend nobody listens on: down once, never up; its commands get NULL, later. */
    c = expect(1, MONITOR_DOWN, 2000);
    ck_assert_str_ne(c->error, "");
    struct answer none = {0};
    monitor_command(1, on_answer, &none, 1, (const char *[]){"PING"});
    ck_assert_int_eq(none.calls, 0);
    WAIT_FOR(none.calls, 1000);
    ck_assert(none.null);

    /* Stopped: it accepts TCP in the kernel and never answers. Down within about down-after-ms
     * plus two intervals; a command left on the stalled connection gets NULL, never a late
     * reply; the connection keeps being replaced without a second DOWN. */
    kill(server, SIGSTOP);
    struct answer stalled = {0};
    monitor_command(0, on_answer, &stalled, 2, (const char *[]){"GET", "k"});
    uint64_t stopped_at = uv_now(&loop);
    c = expect(0, MONITOR_DOWN, 2000);
    ck_assert_uint_ge(uv_now(&loop) - stopped_at, 200 - 2 * 20);
    ck_assert_str_ne(c->error, "");
    ck_assert_int_eq(stalled.calls, 1);
    ck_assert(stalled.null);
    ck_assert(!p->up);
    run_for(700);
    ck_assert_int_eq(change_count[0], change_seen[0]);

    /* Resumed: up again, the same server. */
    kill(server, SIGCONT);
    c = expect(0, MONITOR_UP, 3000);
    ck_assert_str_eq(c->run_id, run_id);
    run_for(100);
    ck_assert_int_eq(stalled.calls, 1);

    /* A script holding the server: past its busy-reply-threshold it answers -BUSY, and is up
     * all along; SCRIPT KILL on the monitor's connection ends it. */
    set_timing(20, 300);
    int script = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port_a),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(script, (struct sockaddr *)&addr, sizeof(addr)), 0);
    static const char eval[] = "*2\r\n$4\r\nAUTH\r\n$6\r\n" PASSWORD "\r\n"
                               "*3\r\n$4\r\nEVAL\r\n$17\r\nwhile true do end\r\n$1\r\n0\r\n";
    ck_assert_int_eq(write(script, eval, sizeof(eval) - 1), (ssize_t)sizeof(eval) - 1);
    uint64_t until = uv_now(&loop) + 3000;
    do { /* the script may not have started yet */
        ck_assert(uv_now(&loop) < until);
        a = command(1, (const char *[]){"PING"});
    } while (a.type != REDIS_REPLY_ERROR);
    ck_assert_msg(strncmp(a.str, "BUSY ", 5) == 0, "%s", a.str);
    run_for(600); /* twice down-after-ms of -BUSY */
    ck_assert_int_eq(change_count[0], change_seen[0]);
    ck_assert(p->up);
    a = command(2, (const char *[]){"SCRIPT", "KILL"});
    ck_assert_str_eq(a.str, "OK");
    until = uv_now(&loop) + 3000;
    do { /* the script stops at its next check of the kill */
        ck_assert(uv_now(&loop) < until);
        a = command(1, (const char *[]){"PING"});
    } while (a.type == REDIS_REPLY_ERROR);
    ck_assert_str_eq(a.str, "PONG");
    ck_assert_int_eq(change_count[0], change_seen[0]);
    close(script);

    /* Restarted quicker than down-after-ms: still DOWN, then UP with the new run_id. */
    set_timing(20, 5000);
    kill_server();
    start_server();
    c = expect(0, MONITOR_DOWN, 4000);
    ck_assert_msg(strstr(c->error, "restarted") != NULL, "%s", c->error);
    ck_assert_str_eq(c->run_id, run_id);
    c = expect(0, MONITOR_UP, 1000);
    ck_assert_str_ne(c->run_id, run_id);
    memcpy(run_id, c->run_id, sizeof(run_id));
    ck_assert_int_eq(p->keys, 0);

    /* Killed and gone for longer than down-after-ms: DOWN, then UP with the new run_id. */
    set_timing(20, 200);
    kill_server();
    c = expect(0, MONITOR_DOWN, 2000);
    ck_assert_str_ne(c->error, "");
    start_server();
    c = expect(0, MONITOR_UP, 5000);
    ck_assert_str_ne(c->run_id, run_id);

    /* The dead port never came up, and said DOWN once only. */
    ck_assert_int_eq(change_count[1], 1);
    ck_assert(!monitor_probe(1)->ever_up);
    ck_assert(!monitor_probe(1)->up);

    /* Stopped, nothing is left on the loop. */
    monitor_stop();
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("monitor");
    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_master);
    tcase_add_test(parse, test_parse_replica);
    tcase_add_test(parse, test_parse_loading);
    tcase_add_test(parse, test_parse_odd);
    suite_add_tcase(s, parse);
    TCase *real = tcase_create("real");
    tcase_add_checked_fixture(real, setup, teardown);
    tcase_set_timeout(real, 60);
    tcase_add_test(real, test_real_server);
    suite_add_tcase(s, real);
    return run_suite(s);
}
