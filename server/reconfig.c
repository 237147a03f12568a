#include "reconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acl_commands.h"
#include "buffer.h"
#include "fdlimit.h"
#include "log.h"
#include "monitor.h"
#include "proxy.h"
#include "store.h"
#include "tls.h"

struct directive {
    const char *name;
    bool live;   /* may change while running */
    bool secret; /* masked when shown */
    bool multi;  /* several arguments: the value is split as a config line */
    bool tls;    /* read again on SIGHUP with the certificates (tls_configure) */
};

/* Every directive of config.c, in the README's order. */
static const struct directive directives[] = {
    {"bind", false, false, true, false},
    {"port", false, false, false, false},
    {"backend", false, false, true, false},
    {"backend-user", false, false, false, false},
    {"backend-password", false, true, false, false},
    {"requirepass", true, true, false, false},
    {"protected-mode", false, false, false, false},
    {"user", false, true, true, false},
    {"aclfile", false, false, false, false},
    {"maxclients", true, false, false, false},
    {"databases", false, false, false, false},
    {"write-ack", true, false, false, false},
    {"proto-max-bulk-len", true, false, false, false},
    {"client-output-buffer-limit", true, false, true, false},
    {"loglevel", true, false, false, false},
    {"logfile", false, false, false, false},
    {"admin-bind", false, false, false, false},
    {"admin-port", false, false, false, false},
    {"admin-token", true, true, false, false},
    {"state-dir", false, false, false, false},
    {"probe-interval-ms", true, false, false, false},
    {"down-after-ms", true, false, false, false},
    {"backlog-size", false, false, false, false},
    {"write-marks", false, false, false, false},
    {"node-id", false, false, false, false},
    {"cluster-bind", false, false, true, false},
    {"peer", false, false, true, false},
    {"cluster-token", false, true, false, false},
    {"cluster-dir", false, false, false, false},
    {"cluster-election-timeout-ms", false, false, false, false},
    {"tls-port", false, false, false, false},
    {"tls-cert-file", false, false, false, true},
    {"tls-key-file", false, false, false, true},
    {"tls-key-file-pass", false, true, false, true},
    {"tls-ca-cert-file", false, false, false, true},
    {"tls-ca-cert-dir", false, false, false, true},
    {"tls-auth-clients", false, false, false, true},
    {"tls-protocols", false, false, false, true},
    {"tls-ciphers", false, false, false, true},
    {"tls-ciphersuites", false, false, false, true},
    {"tls-prefer-server-ciphers", false, false, false, true},
    {"tls-session-caching", false, false, false, true},
    {"backend-tls", false, false, false, false},
    {"backend-tls-cert-file", false, false, false, true},
    {"backend-tls-key-file", false, false, false, true},
    {"backend-tls-ca-cert-file", false, false, false, true},
    {"backend-tls-server-name", false, false, false, true},
    {"admin-tls", false, false, false, false},
    {"cluster-tls", false, false, false, false},
};
#define DIRECTIVES (sizeof(directives) / sizeof(directives[0]))

static const struct directive *find(const char *name)
{
    for (size_t i = 0; i < DIRECTIVES; i++)
        if (strcasecmp(name, directives[i].name) == 0) return &directives[i];
    return NULL;
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------------------------
 * A config as directive lines, and back.
 * ------------------------------------------------------------------------------------------- */

typedef void line_cb(void *arg, const struct directive *d, const char *value);

/* One argument of a several-argument value, quoted as a config line needs it. */
static void append_arg(struct buffer *b, const char *arg)
{
    if (buffer_len(b)) buffer_append(b, " ", 1);
    if (*arg && !strpbrk(arg, " \t\r\n\"'\\")) {
        buffer_append(b, arg, strlen(arg));
        return;
    }
    buffer_append(b, "\"", 1);
    for (const char *p = arg; *p; p++) {
        if (*p == '"' || *p == '\\')
            buffer_appendf(b, "\\%c", *p);
        else if ((unsigned char)*p < 32)
            buffer_appendf(b, "\\x%02x", (unsigned char)*p);
        else
            buffer_append(b, p, 1);
    }
    buffer_append(b, "\"", 1);
}

/* Emits the buffer as a line and empties it. */
static void emit(line_cb *cb, void *arg, const char *name, struct buffer *b)
{
    buffer_append(b, "", 1);
    cb(arg, find(name), buffer_head(b));
    buffer_clear(b);
}

static void emit_str(line_cb *cb, void *arg, const char *name, const char *s)
{
    cb(arg, find(name), s ? s : "");
}

static void emit_ll(line_cb *cb, void *arg, const char *name, long long v)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", v);
    cb(arg, find(name), num);
}

static void emit_yes_no(line_cb *cb, void *arg, const char *name, bool on)
{
    cb(arg, find(name), on ? "yes" : "no");
}

/* "[NAME] HOST PORT": a backend, a peer, the cluster port. */
static void emit_endpoint(line_cb *cb, void *arg, const char *name, const char *label,
                          const char *host, int port, struct buffer *b)
{
    char num[12];
    if (label) append_arg(b, label);
    append_arg(b, host);
    snprintf(num, sizeof(num), "%d", port);
    append_arg(b, num);
    emit(cb, arg, name, b);
}

static void format_lines(const struct config *c, line_cb *cb, void *arg)
{
    struct buffer b = {0};
    char num[64];

    for (int i = 0; i < c->bind_count; i++) append_arg(&b, c->bind[i]);
    emit(cb, arg, "bind", &b);
    emit_ll(cb, arg, "port", c->port);
    for (int i = 0; i < c->backend_count; i++)
        emit_endpoint(cb, arg, "backend", c->backends[i].name, c->backends[i].host,
                      c->backends[i].port, &b);
    emit_str(cb, arg, "backend-user", c->backend_user);
    emit_str(cb, arg, "backend-password", c->backend_password);
    emit_str(cb, arg, "requirepass", c->requirepass);
    emit_yes_no(cb, arg, "protected-mode", c->protected_mode);
    for (int i = 0; i < c->user_count; i++) {
        for (int j = 0; j < c->users[i].argc; j++) append_arg(&b, c->users[i].argv[j]);
        emit(cb, arg, "user", &b);
    }
    if (c->aclfile) emit_str(cb, arg, "aclfile", c->aclfile);
    emit_ll(cb, arg, "maxclients", c->maxclients);
    emit_ll(cb, arg, "databases", c->databases);
    emit_str(cb, arg, "write-ack", config_write_ack_name(c->write_ack));
    emit_ll(cb, arg, "proto-max-bulk-len", c->proto_max_bulk_len);
    buffer_appendf(&b, "normal %lld %lld %d", c->obuf_hard_limit, c->obuf_soft_limit,
                   c->obuf_soft_seconds);
    emit(cb, arg, "client-output-buffer-limit", &b);
    emit_str(cb, arg, "loglevel", config_loglevel_name(c->loglevel));
    emit_str(cb, arg, "logfile", c->logfile);
    emit_str(cb, arg, "admin-bind", c->admin_bind);
    emit_ll(cb, arg, "admin-port", c->admin_port);
    emit_str(cb, arg, "admin-token", c->admin_token);
    emit_str(cb, arg, "state-dir", c->state_dir);
    emit_ll(cb, arg, "probe-interval-ms", c->probe_interval_ms);
    emit_ll(cb, arg, "down-after-ms", c->down_after_ms);
    emit_ll(cb, arg, "backlog-size", c->backlog_size);
    emit_str(cb, arg, "write-marks", config_write_marks_name(c->write_marks));
    if (c->node_id[0]) emit_str(cb, arg, "node-id", c->node_id); /* unset: no line, as peers */
    if (c->cluster_port)
        emit_endpoint(cb, arg, "cluster-bind", NULL, c->cluster_bind, c->cluster_port, &b);
    for (int i = 0; i < c->peer_count; i++)
        emit_endpoint(cb, arg, "peer", c->peers[i].name, c->peers[i].host, c->peers[i].port, &b);
    emit_str(cb, arg, "cluster-token", c->cluster_token);
    if (c->cluster_dir) emit_str(cb, arg, "cluster-dir", c->cluster_dir);
    emit_ll(cb, arg, "cluster-election-timeout-ms", c->election_timeout_ms);
    emit_ll(cb, arg, "tls-port", c->tls_port);
    emit_str(cb, arg, "tls-cert-file", c->tls_cert_file);
    emit_str(cb, arg, "tls-key-file", c->tls_key_file);
    emit_str(cb, arg, "tls-key-file-pass", c->tls_key_file_pass);
    emit_str(cb, arg, "tls-ca-cert-file", c->tls_ca_cert_file);
    emit_str(cb, arg, "tls-ca-cert-dir", c->tls_ca_cert_dir);
    emit_str(cb, arg, "tls-auth-clients", config_tls_auth_name(c->tls_auth_clients));
    emit_str(cb, arg, "tls-protocols", config_tls_protocols(c->tls_protocols, num, sizeof(num)));
    emit_str(cb, arg, "tls-ciphers", c->tls_ciphers);
    emit_str(cb, arg, "tls-ciphersuites", c->tls_ciphersuites);
    emit_yes_no(cb, arg, "tls-prefer-server-ciphers", c->tls_prefer_server_ciphers);
    emit_yes_no(cb, arg, "tls-session-caching", c->tls_session_caching);
    emit_yes_no(cb, arg, "backend-tls", c->backend_tls);
    emit_str(cb, arg, "backend-tls-cert-file", c->backend_tls_cert_file);
    emit_str(cb, arg, "backend-tls-key-file", c->backend_tls_key_file);
    emit_str(cb, arg, "backend-tls-ca-cert-file", c->backend_tls_ca_cert_file);
    emit_str(cb, arg, "backend-tls-server-name", c->backend_tls_server_name);
    emit_yes_no(cb, arg, "admin-tls", c->admin_tls);
    emit_yes_no(cb, arg, "cluster-tls", c->cluster_tls);
    buffer_free(&b);
}

/* Applies "name value" to c: the value is one argument, or split like a config line. */
static bool apply(struct config *c, const struct directive *d, const char *value, char *err,
                  size_t errlen)
{
    if (!d->multi) {
        char *argv[] = {(char *)d->name, (char *)value};
        return config_apply(c, 2, argv, err, errlen);
    }
    size_t n = strlen(d->name) + strlen(value) + 2;
    char *line = malloc(n), **argv, *storage;
    if (!line) abort();
    snprintf(line, n, "%s %s", d->name, value);
    int argc = config_split_line(line, &argv, &storage);
    free(line);
    if (argc < 0) {
        fail(err, errlen, "%s: unbalanced quotes in '%s'", d->name, value);
        return false;
    }
    bool ok = config_apply(c, argc, argv, err, errlen);
    free(storage);
    return ok;
}

struct copy {
    struct config *dst;
    bool ok;
    char *err;
    size_t errlen;
};

static void copy_line(void *arg, const struct directive *d, const char *value)
{
    struct copy *cp = arg;
    if (cp->ok) cp->ok = apply(cp->dst, d, value, cp->err, cp->errlen);
}

/* Values per directive (lines of a repeated one joined by ", "), malloc'd, by directive index. */
struct values {
    char *v[DIRECTIVES];
    bool mask;
};

static void collect_line(void *arg, const struct directive *d, const char *value)
{
    struct values *vs = arg;
    char **slot = &vs->v[d - directives];
    if (vs->mask && d->secret && *value) value = "********";
    size_t old = *slot ? strlen(*slot) : 0, n = strlen(value);
    *slot = xrealloc(*slot, old + (old ? 2 : 0) + n + 1);
    if (old) memcpy(*slot + old, ", ", 2), old += 2;
    memcpy(*slot + old, value, n + 1);
}

static void collect(const struct config *c, bool mask, struct values *vs)
{
    memset(vs, 0, sizeof(*vs));
    vs->mask = mask;
    format_lines(c, collect_line, vs);
    for (size_t i = 0; i < DIRECTIVES; i++)
        if (!vs->v[i]) collect_line(vs, &directives[i], ""); /* no line at all reads as "" */
}

static void values_free(struct values *vs)
{
    for (size_t i = 0; i < DIRECTIVES; i++) free(vs->v[i]);
}

void reconfig_each(const struct config *c, bool mask_secrets, reconfig_each_cb cb, void *arg)
{
    struct values vs;
    collect(c, mask_secrets, &vs);
    for (size_t i = 0; i < DIRECTIVES; i++)
        cb(arg, directives[i].name, vs.v[i], directives[i].live);
    values_free(&vs);
}

/* ---------------------------------------------------------------------------------------------
 * Changing the running config.
 * ------------------------------------------------------------------------------------------- */

enum reconfig_status reconfig_prepare(const struct config *running,
                                      const struct reconfig_change *changes, int n,
                                      struct config *next, char *err, size_t errlen)
{
    config_init(next);
    next->witness = running->witness; /* a flag of the command line, not a directive */
    struct copy cp = {next, true, err, errlen};
    format_lines(running, copy_line, &cp);
    if (!cp.ok) return RECONFIG_INVALID;

    for (int i = 0; i < n; i++) {
        const struct directive *d = find(changes[i].name);
        if (!d) {
            fail(err, errlen, "unknown directive '%s'", changes[i].name);
            return RECONFIG_INVALID;
        }
        if (!d->live) {
            fail(err, errlen,
                 "'%s' cannot change while redpair runs: set it in the configuration file and "
                 "restart",
                 d->name);
            return RECONFIG_NEEDS_RESTART;
        }
    }
    for (int i = 0; i < n; i++) {
        const struct directive *d = find(changes[i].name);
        /* An empty token would shut the API out for good: the override outlives restarts. */
        if (strcmp(d->name, "admin-token") == 0 && !changes[i].value[0]) {
            fail(err, errlen, "admin-token cannot be emptied live: that would lock the admin API");
            return RECONFIG_INVALID;
        }
        if (!apply(next, d, changes[i].value, err, errlen)) return RECONFIG_INVALID;
    }
    if (!config_validate(next, err, errlen)) return RECONFIG_INVALID;
    return RECONFIG_OK;
}

static void swap_str(char **a, char **b)
{
    char *t = *a;
    *a = *b;
    *b = t;
}

/* Moves every live field: `next` is a copy of `running` but for the changes, so the fields that
 * did not change move equal. */
static void commit(struct config *running, struct config *next)
{
    running->write_ack = next->write_ack;
    running->loglevel = next->loglevel;
    running->maxclients =
        next->maxclients == running->maxclients ? next->maxclients : fdlimit_fit(next->maxclients);
    running->proto_max_bulk_len = next->proto_max_bulk_len;
    running->obuf_hard_limit = next->obuf_hard_limit;
    running->obuf_soft_limit = next->obuf_soft_limit;
    running->obuf_soft_seconds = next->obuf_soft_seconds;
    running->probe_interval_ms = next->probe_interval_ms;
    running->down_after_ms = next->down_after_ms;
    if ((running->requirepass == NULL) != (next->requirepass == NULL) ||
        (running->requirepass && strcmp(running->requirepass, next->requirepass) != 0))
        acl_requirepass_changed(next->requirepass);
    swap_str(&running->requirepass, &next->requirepass);
    swap_str(&running->admin_token, &next->admin_token);
}

/* Overrides made through the API, as stored; SIGHUP lays them over the file again. */
static char *overrides[DIRECTIVES];

static void remember(const struct directive *d, const char *value)
{
    size_t i = (size_t)(d - directives);
    free(overrides[i]);
    overrides[i] = strdup(value);
    if (!overrides[i]) abort();
}

enum reconfig_status reconfig_set(const struct reconfig_change *changes, int n, bool persist,
                                  char *err, size_t errlen)
{
    struct config *running = proxy.config, next;
    enum reconfig_status st = reconfig_prepare(running, changes, n, &next, err, errlen);
    if (st != RECONFIG_OK) {
        config_free(&next);
        return st;
    }
    struct values before, after;
    collect(running, true, &before);
    bool probes = next.probe_interval_ms != running->probe_interval_ms ||
                  next.down_after_ms != running->down_after_ms;
    commit(running, &next);
    config_free(&next);
    collect(running, true, &after);
    for (size_t i = 0; i < DIRECTIVES; i++)
        if (strcmp(before.v[i], after.v[i]) != 0)
            log_notice("config: %s is now '%s' (was '%s')", directives[i].name, after.v[i],
                       before.v[i]);
    values_free(&before);
    values_free(&after);

    log_set_level(running->loglevel);
    if (probes) monitor_reconfigure();
    for (int i = 0; persist && i < n; i++) {
        const struct directive *d = find(changes[i].name);
        store_config_set(d->name, changes[i].value);
        remember(d, changes[i].value);
    }
    return RECONFIG_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Start-up overrides and SIGHUP.
 * ------------------------------------------------------------------------------------------- */

static struct {
    const char *path;
    int argc;
    char **argv;
    uv_signal_t sighup;
    bool started;
} reload;

static void load_override(void *arg, const char *name, const char *value)
{
    (void)arg;
    const struct directive *d = find(name);
    if (!d || !d->live) {
        log_warning("config: ignoring the stored override of '%s': not a live directive", name);
        return;
    }
    remember(d, value);
}

/* The remembered overrides as changes; returns how many. */
static int override_changes(struct reconfig_change *out)
{
    int n = 0;
    for (size_t i = 0; i < DIRECTIVES; i++)
        if (overrides[i]) out[n++] = (struct reconfig_change){directives[i].name, overrides[i]};
    return n;
}

static void forget_overrides(void)
{
    for (size_t i = 0; i < DIRECTIVES; i++) {
        free(overrides[i]);
        overrides[i] = NULL;
    }
}

/* The running config holds backend addresses as resolved at start; a host name in the file is
 * compared as that address (resolving again would block the loop). */
static void keep_resolved_hosts(struct config *fresh, const struct config *running)
{
    unsigned char addr[16];
    for (int i = 0; i < fresh->backend_count; i++) {
        struct endpoint_config *b = &fresh->backends[i];
        if (uv_inet_pton(AF_INET, b->host, addr) == 0 || uv_inet_pton(AF_INET6, b->host, addr) == 0)
            continue;
        for (int j = 0; j < running->backend_count; j++) {
            if (strcmp(running->backends[j].name, b->name) != 0) continue;
            free(b->host);
            b->host = strdup(running->backends[j].host);
            if (!b->host) abort();
        }
    }
}

/* SIGHUP's certificates: new contexts from the file's TLS settings on the running listeners and
 * links (which TLS is on cannot change live); on success those settings become the running
 * ones, on failure the old contexts stay. */
static void reload_tls(struct config *running, struct config *fresh)
{
    char err[CONFIG_ERROR_MAX];
    fresh->tls_port = running->tls_port;
    fresh->backend_tls = running->backend_tls;
    fresh->admin_tls = running->admin_tls;
    fresh->cluster_tls = running->cluster_tls;
    if (!running->tls_port && !running->backend_tls && !running->admin_tls && !running->cluster_tls)
        return;
    if (!tls_configure(fresh, err, sizeof(err))) {
        log_warning("SIGHUP: TLS certificates not reloaded, the old ones stay in use: %s", err);
        return;
    }
    char **strings[][2] = {
        {&running->tls_cert_file, &fresh->tls_cert_file},
        {&running->tls_key_file, &fresh->tls_key_file},
        {&running->tls_key_file_pass, &fresh->tls_key_file_pass},
        {&running->tls_ca_cert_file, &fresh->tls_ca_cert_file},
        {&running->tls_ca_cert_dir, &fresh->tls_ca_cert_dir},
        {&running->tls_ciphers, &fresh->tls_ciphers},
        {&running->tls_ciphersuites, &fresh->tls_ciphersuites},
        {&running->backend_tls_cert_file, &fresh->backend_tls_cert_file},
        {&running->backend_tls_key_file, &fresh->backend_tls_key_file},
        {&running->backend_tls_ca_cert_file, &fresh->backend_tls_ca_cert_file},
        {&running->backend_tls_server_name, &fresh->backend_tls_server_name},
    };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        swap_str(strings[i][0], strings[i][1]);
    running->tls_auth_clients = fresh->tls_auth_clients;
    running->tls_protocols = fresh->tls_protocols;
    running->tls_prefer_server_ciphers = fresh->tls_prefer_server_ciphers;
    running->tls_session_caching = fresh->tls_session_caching;
    log_notice("SIGHUP: TLS certificates reloaded: new connections use them");
}

static void on_sighup(uv_signal_t *s, int signum)
{
    (void)s, (void)signum;
    struct config fresh;
    struct reconfig_change changes[DIRECTIVES];
    char err[CONFIG_ERROR_MAX];
    int n = override_changes(changes);

    log_notice("received SIGHUP, re-reading the configuration");
    config_init(&fresh);
    bool ok = !reload.path || config_load_file(&fresh, reload.path, err, sizeof(err));
    if (ok) ok = config_load_args(&fresh, reload.argc, reload.argv, err, sizeof(err));
    for (int i = 0; ok && i < n; i++)
        ok = apply(&fresh, find(changes[i].name), changes[i].value, err, sizeof(err));
    if (ok) ok = config_validate(&fresh, err, sizeof(err));
    if (!ok) {
        log_warning("SIGHUP: configuration not reloaded: %s", err);
        config_free(&fresh);
        return;
    }
    keep_resolved_hosts(&fresh, proxy.config);

    struct values now, want;
    collect(proxy.config, false, &now);
    collect(&fresh, false, &want);
    n = 0;
    for (size_t i = 0; i < DIRECTIVES; i++) {
        if (strcmp(now.v[i], want.v[i]) == 0 || directives[i].tls) continue;
        if (directives[i].live)
            changes[n++] = (struct reconfig_change){directives[i].name, want.v[i]};
        else
            log_warning("SIGHUP: '%s' changed in the configuration; it takes effect at the next "
                        "restart",
                        directives[i].name);
    }
    if (n && reconfig_set(changes, n, false, err, sizeof(err)) != RECONFIG_OK)
        log_warning("SIGHUP: live changes not applied: %s", err);
    else if (!n)
        log_notice("SIGHUP: nothing that can change live has changed");
    values_free(&now);
    values_free(&want);
    reload_tls(proxy.config, &fresh);
    config_free(&fresh);
}

void reconfig_start(uv_loop_t *loop, const char *path, int argc, char **argv)
{
    struct reconfig_change changes[DIRECTIVES];
    char err[CONFIG_ERROR_MAX];

    if (!store_config_each(load_override, NULL, err, sizeof(err)))
        log_warning("config: could not read the stored overrides: %s", err);
    int n = override_changes(changes);
    if (n && reconfig_set(changes, n, false, err, sizeof(err)) != RECONFIG_OK) {
        log_warning("config: the overrides stored through the admin API are not applied: %s", err);
        forget_overrides();
    } else if (n) {
        log_notice("config: %d override%s from the admin API applied over the configuration", n,
                   n == 1 ? "" : "s");
    }

    reload.path = path;
    reload.argc = argc;
    reload.argv = argv;
    uv_signal_init(loop, &reload.sighup);
    uv_signal_start(&reload.sighup, on_sighup, SIGHUP);
    reload.started = true;
}

void reconfig_stop(void)
{
    if (reload.started) uv_close((uv_handle_t *)&reload.sighup, NULL);
    reload.started = false;
    forget_overrides();
}
