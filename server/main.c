/* redpair: one daemon in front of two standalone Redis servers.
 *
 *   redpair [CONFIG-FILE] [--directive value ...]
 *   redpair --witness CONFIG-FILE [--directive value ...]   (cluster.h: votes, serves no clients)
 *   redpair --check-config CONFIG-FILE [--directive value ...]
 *   redpair --version
 */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "acl_commands.h"
#include "buffer.h"
#include "cluster.h"
#include "command.h"
#include "config.h"
#include "failover.h"
#include "fdlimit.h"
#include "log.h"
#include "proxy.h"
#include "reconfig.h"
#include "tls.h"
#include "resp.h"
#include "routes.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: redpair [CONFIG-FILE] [--directive value ...]\n"
                 "       redpair --witness CONFIG-FILE [--directive value ...]\n"
                 "       redpair --check-config CONFIG-FILE [--directive value ...]\n"
                 "       redpair --version\n"
                 "Example: redpair --port 6380 --backend a 127.0.0.1 6379 --backend b 127.0.0.1 "
                 "6381\n");
}

static int dial(const char *host, int port)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, service, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 2};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* The loop connects to IP addresses only, so names are resolved once, here, before it runs. */
static bool resolve(const char *what, const char *name, char **host, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(*host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s '%s': cannot resolve '%s': %s", what, name, *host,
                 gai_strerror(rc));
        return false;
    }
    char ip[NI_MAXHOST];
    rc = getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(res);
    if (rc != 0) {
        snprintf(err, errlen, "%s '%s': %s", what, name, gai_strerror(rc));
        return false;
    }
    free(*host);
    *host = strdup(ip);
    return true;
}

static bool resolve_addresses(struct config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < cfg->backend_count; i++)
        if (!resolve("backend", cfg->backends[i].name, &cfg->backends[i].host, err, errlen))
            return false;
    for (int i = 0; i < cfg->peer_count; i++)
        if (!resolve("peer", cfg->peers[i].name, &cfg->peers[i].host, err, errlen)) return false;
    return true;
}

/* A start-up connection to a backend, over TLS with backend-tls. */
struct dialed {
    int fd;
    struct tls_blocking *tls;
};

static ssize_t dialed_write(struct dialed *d, const void *p, size_t n)
{
    return d->tls ? tls_blocking_write(d->tls, p, n) : write(d->fd, p, n);
}

static ssize_t dialed_read(struct dialed *d, void *p, size_t n)
{
    return d->tls ? tls_blocking_read(d->tls, p, n) : read(d->fd, p, n);
}

/* Sends one command and reads its whole reply into `reply`. */
static bool roundtrip(struct dialed *fd, int argc, const char **argv, struct buffer *reply)
{
    size_t argl[3];
    for (int i = 0; i < argc; i++) argl[i] = strlen(argv[i]);
    struct buffer req = {0};
    resp_append_command(&req, argc, argv, argl);
    bool ok = dialed_write(fd, buffer_head(&req), buffer_len(&req)) == (ssize_t)buffer_len(&req);
    buffer_free(&req);

    struct resp_reply framer = {0};
    resp_reply_reset(&framer);
    buffer_clear(reply);
    while (ok) {
        enum resp_result res = resp_reply_parse(&framer, buffer_head(reply), buffer_len(reply));
        if (res == RESP_DONE) return buffer_head(reply)[0] != '-';
        if (res == RESP_ERROR) return false;
        ssize_t n = dialed_read(fd, buffer_reserve(reply, 65536), 65536);
        if (n <= 0) return false;
        buffer_commit(reply, (size_t)n);
    }
    return false;
}

/* Start-up, before the loop runs: learn the command table from the first backend that answers,
 * so new Redis versions and modules are known; keep the built-in table otherwise. */
static void learn_commands(const struct config *cfg, struct command_table *table)
{
    for (int i = 0; i < cfg->backend_count; i++) {
        const struct endpoint_config *b = &cfg->backends[i];
        char err[256] = "no reply";
        struct dialed d = {dial(b->host, b->port), NULL}, *fd = &d;
        if (d.fd < 0) continue;
        if (cfg->backend_tls &&
            !(d.tls = tls_blocking_connect(d.fd, TLS_BACKENDS, cfg->backend_tls_server_name, err,
                                           sizeof(err)))) {
            log_warning("could not learn commands from backend '%s': %s", b->name, err);
            close(d.fd);
            continue;
        }
        struct buffer reply = {0};
        bool ok = true;
        if (cfg->backend_password) {
            const char *user_auth[] = {"AUTH", cfg->backend_user, cfg->backend_password};
            const char *auth[] = {"AUTH", cfg->backend_password};
            ok = cfg->backend_user ? roundtrip(fd, 3, user_auth, &reply)
                                   : roundtrip(fd, 2, auth, &reply);
        }
        if (ok && roundtrip(fd, 1, (const char *[]){"COMMAND"}, &reply) &&
            command_table_learn(table, buffer_head(&reply), buffer_len(&reply), err, sizeof(err))) {
            log_notice("learned %zu commands from backend '%s'", command_table_size(table),
                       b->name);
            buffer_free(&reply);
            tls_blocking_free(d.tls);
            close(d.fd);
            return;
        }
        log_warning("could not learn commands from backend '%s': %s", b->name, err);
        buffer_free(&reply);
        tls_blocking_free(d.tls);
        close(d.fd);
    }
    log_warning("using the built-in command table (%zu commands, Redis 7.0)",
                command_table_size(table));
}

int main(int argc, char **argv)
{
    bool check_only = false;
    int next = 1;
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v"))) {
        printf("redpair v=%s\n", REDPAIR_VERSION);
        return 0;
    }
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    bool witness = false;
    if (argc >= 2 && (!strcmp(argv[1], "--check-config") || !strcmp(argv[1], "--witness"))) {
        if (argc < 3) {
            usage(stderr);
            return 1;
        }
        check_only = !strcmp(argv[1], "--check-config");
        witness = !check_only;
        next = 2;
    }

    struct config cfg;
    char err[CONFIG_ERROR_MAX];
    config_init(&cfg);
    cfg.witness = witness;
    bool ok = true;
    const char *config_path = NULL;
    if (next < argc && strncmp(argv[next], "--", 2) != 0) {
        config_path = argv[next++];
        ok = config_load_file(&cfg, config_path, err, sizeof(err));
    }
    if (ok) ok = config_load_args(&cfg, argc - next, argv + next, err, sizeof(err));
    if (ok) ok = config_validate(&cfg, err, sizeof(err));
    if (ok) ok = tls_configure(&cfg, err, sizeof(err)); /* files readable, keys matching */
    if (!ok) {
        fprintf(stderr, "redpair: configuration error: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    if (check_only) {
        /* The users' rules, against the built-in table: the servers' is not asked for here. */
        struct command_table *builtin = command_table_new();
        ok = acl_setup(&cfg, builtin, err, sizeof(err));
        acl_teardown();
        command_table_free(builtin);
        if (!ok) {
            fprintf(stderr, "redpair: configuration error: %s\n", err);
            config_free(&cfg);
            return 1;
        }
        printf("configuration OK\n");
        tls_shutdown_all();
        config_free(&cfg);
        return 0;
    }

    if (!resolve_addresses(&cfg, err, sizeof(err))) {
        fprintf(stderr, "redpair: %s\n", err);
        tls_shutdown_all();
        config_free(&cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    umask(027); /* the log, the state and the consensus files: never for every user to read */
    log_open(cfg.loglevel, cfg.logfile);
    log_notice("redpair %s starting, pid %d, write-ack %s", REDPAIR_VERSION, (int)getpid(),
               config_write_ack_name(cfg.write_ack));
    cfg.maxclients = fdlimit_fit(cfg.maxclients);

    struct command_table *commands = command_table_new();
    if (!witness) learn_commands(&cfg, commands);
    if (!acl_setup(&cfg, commands, err, sizeof(err))) {
        log_warning("configuration error: %s", err);
        fprintf(stderr, "redpair: configuration error: %s\n", err);
        log_close();
        acl_teardown();
        command_table_free(commands);
        config_free(&cfg);
        return 1;
    }

    uv_loop_t *loop = uv_default_loop();
    proxy_start(loop, &cfg, commands);
    int status = 0;
    if (!failover_start(err, sizeof(err))) {
        log_warning("%s", err);
        status = 1;
    } else {
        /* The store is open: overrides made through the admin API apply over the file. */
        reconfig_start(loop, config_path, argc - next, argv + next);
        bool started =
            cluster_start(loop, &cfg, err, sizeof(err)) && routes_start(loop, err, sizeof(err));
        if (started) {
            if (cluster_enabled()) proxy_open_doors(); /* followers relay from the start */
            uv_run(loop, UV_RUN_DEFAULT);
        } else {
            log_warning("%s", err);
            proxy.primary = -2;
        }
        routes_stop();
        reconfig_stop();
        cluster_stop();
        status = proxy.primary == -2 || cluster_failed() ? 1 : 0;
        failover_stop();
    }

    log_notice("redpair stopped");
    log_close();
    acl_teardown();
    command_table_free(commands);
    tls_shutdown_all();
    config_free(&cfg);
    return status;
}
