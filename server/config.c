/* Configuration: redis.conf syntax, one table of directives, every value checked as it is read
 * so that a mistake is reported with its line instead of surfacing later as odd behaviour. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buffer.h"

#define MB (1024LL * 1024)

static const char *const write_ack_names[] = {"all", "primary", NULL};
static const char *const write_marks_names[] = {"quiet", "every-run", NULL};
static const char *const loglevel_names[] = {"debug", "verbose", "notice", "warning", NULL};
static const char *const tls_auth_names[] = {"yes", "no", "optional", NULL};
static const char *const yesno_names[] = {"yes", "no", NULL};
static const char *const protocol_names[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", NULL};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "redpair: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* Every setter replaces, so a directive given twice (file, then command line) does not leak. */
static void set_str(char **slot, const char *s)
{
    free(*slot);
    *slot = s ? xstrdup(s) : NULL;
}

static bool fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

/* ---------------------------------------------------------------------------------------------
 * Numbers.
 * ------------------------------------------------------------------------------------------- */

/* Decimal digits only: a sign, a space or anything after the digits is a mistake, not a value. */
static bool parse_digits(const char *s, size_t n, long long *out)
{
    long long v = 0;

    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';
        if (d < 0 || d > 9) return false;
        if (v > (LLONG_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

long long config_parse_memory(const char *s)
{
    static const struct {
        const char *suffix;
        long long mul;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1000},
        {"kb", 1024},
        {"m", 1000 * 1000},
        {"mb", MB},
        {"g", 1000 * 1000 * 1000},
        {"gb", 1024 * MB},
    };
    size_t digits = strspn(s, "0123456789");
    long long v;

    if (!parse_digits(s, digits, &v)) return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(s + digits, units[i].suffix) != 0) continue;
        if (v > LLONG_MAX / units[i].mul) return -1;
        return v * units[i].mul;
    }
    return -1;
}

static bool parse_int(const char *what, const char *s, long long min, long long max, long long *out,
                      char *err, size_t errlen)
{
    long long v;

    if (parse_digits(s, strlen(s), &v) && v >= min && v <= max) {
        *out = v;
        return true;
    }
    /* No real upper bound: "1 or more" says so better than "1-2147483647". */
    if (max == INT_MAX)
        fail(err, errlen, "invalid %s '%s' (expected %lld or more)", what, s, min);
    else
        fail(err, errlen, "invalid %s '%s' (expected %lld-%lld)", what, s, min, max);
    return false; /* seen where this is inlined, so no caller's *out looks used unset */
}

/* Limits are shown the way an operator would write them in the file. */
static void format_memory(long long v, char *buf, size_t len)
{
    if (v >= 1024 && v % MB == 0)
        snprintf(buf, len, "%lldmb", v / MB);
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(buf, len, "%lldkb", v / 1024);
    else
        snprintf(buf, len, "%lld", v);
}

static bool parse_memory(const char *what, const char *s, long long min, long long *out, char *err,
                         size_t errlen)
{
    long long v = config_parse_memory(s);
    char limit[32];

    if (v < 0) {
        fail(err, errlen,
             "invalid %s '%s' (expected bytes, or a number with k, kb, m, mb, g or gb)", what, s);
        return false;
    }
    if (v >= min) {
        *out = v;
        return true;
    }
    format_memory(min, limit, sizeof(limit));
    fail(err, errlen, "invalid %s '%s' (expected at least %s)", what, s, limit);
    return false;
}

/* Returns the index of s in names (case-insensitive, as Redis's enum configs), or -1 with the
 * choices listed in err. */
static int parse_enum(const char *what, const char *const *names, const char *s, char *err,
                      size_t errlen)
{
    char list[128] = "";
    size_t used = 0;
    int i;

    for (i = 0; names[i]; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    for (i = 0; names[i] && used < sizeof(list); i++) {
        const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s'%s'", sep, names[i]);
    }
    fail(err, errlen, "%s must be %s, got '%s'", what, list, s);
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Directives.
 * ------------------------------------------------------------------------------------------- */

struct directive;
typedef bool setter(struct config *c, const struct directive *d, char **argv, char *err,
                    size_t errlen);

struct directive {
    const char *name;
    int min_args, max_args; /* not counting the name */
    setter *set;
    size_t offset;            /* the field the generic setters write */
    long long min, max;       /* bounds for set_int and set_memory */
    const char *const *names; /* set_enum's words, in the enum's order */
};

#define FIELD(c, d, type) ((type *)((char *)(c) + (d)->offset))

static bool set_int(struct config *c, const struct directive *d, char **argv, char *err,
                    size_t errlen)
{
    long long v;

    if (!parse_int(d->name, argv[0], d->min, d->max, &v, err, errlen)) return false;
    *FIELD(c, d, int) = (int)v;
    return true;
}

static bool set_memory(struct config *c, const struct directive *d, char **argv, char *err,
                       size_t errlen)
{
    return parse_memory(d->name, argv[0], d->min, FIELD(c, d, long long), err, errlen);
}

static bool set_string(struct config *c, const struct directive *d, char **argv, char *err,
                       size_t errlen)
{
    (void)err, (void)errlen;
    set_str(FIELD(c, d, char *), argv[0]);
    return true;
}

/* Addresses and directories: an empty one is always a mistake. */
static bool set_nonempty(struct config *c, const struct directive *d, char **argv, char *err,
                         size_t errlen)
{
    if (!argv[0][0]) return fail(err, errlen, "%s must not be empty", d->name);
    set_str(FIELD(c, d, char *), argv[0]);
    return true;
}

/* Passwords and tokens: "" means unset, as requirepass "" does in Redis. */
static bool set_secret(struct config *c, const struct directive *d, char **argv, char *err,
                       size_t errlen)
{
    (void)err, (void)errlen;
    set_str(FIELD(c, d, char *), argv[0][0] ? argv[0] : NULL);
    return true;
}

static bool set_bind(struct config *c, const struct directive *d, char **argv, char *err,
                     size_t errlen)
{
    int n = 0;

    for (; argv[n]; n++)
        if (!argv[n][0]) return fail(err, errlen, "%s address must not be empty", d->name);
    for (int i = 0; i < c->bind_count; i++) {
        free(c->bind[i]);
        c->bind[i] = NULL;
    }
    for (int i = 0; i < n; i++) c->bind[i] = xstrdup(argv[i]);
    c->bind_count = n;
    return true;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= CONFIG_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-') return false;
    return true;
}

static bool bad_name(char *err, size_t errlen, const char *what, const char *name)
{
    return fail(err, errlen, "invalid %s name '%s' (expected 1-%d characters of A-Z a-z 0-9 _ -)",
                what, name, CONFIG_NAME_MAX - 1);
}

/* NAME HOST PORT into a list; the same name again replaces, so `--backend a ...` overrides the
 * file's line for a. The endpoint to add, or NULL when the list is full (nothing changed). */
static struct endpoint_config *set_endpoint(const char *what, char **argv,
                                            struct endpoint_config *list, int *count, int max,
                                            char *err, size_t errlen)
{
    const char *name = argv[0], *host = argv[1];
    struct endpoint_config *e = NULL;
    long long port;
    char port_what[32];

    if (!valid_name(name)) {
        bad_name(err, errlen, what, name);
        return NULL;
    }
    if (!host[0]) {
        fail(err, errlen, "%s '%s' has an empty host", what, name);
        return NULL;
    }
    snprintf(port_what, sizeof(port_what), "%s port", what);
    if (!parse_int(port_what, argv[2], 1, 65535, &port, err, errlen)) return NULL;
    for (int i = 0; i < *count; i++)
        if (strcmp(list[i].name, name) == 0) e = &list[i];
    if (!e) {
        if (*count == max) return NULL;
        e = &list[(*count)++];
        memcpy(e->name, name, strlen(name) + 1);
    }
    set_str(&e->host, host);
    e->port = (int)port;
    return e;
}

static bool set_backend(struct config *c, const struct directive *d, char **argv, char *err,
                        size_t errlen)
{
    (void)d;
    if (errlen) err[0] = '\0';
    if (set_endpoint("backend", argv, c->backends, &c->backend_count, CONFIG_BACKENDS, err, errlen))
        return true;
    if (errlen && !err[0])
        fail(err, errlen,
             "too many backends: '%s' and '%s' are already defined (redpair takes exactly two)",
             c->backends[0].name, c->backends[1].name);
    return false;
}

static bool set_node_id(struct config *c, const struct directive *d, char **argv, char *err,
                        size_t errlen)
{
    (void)d;
    if (!valid_name(argv[0])) return bad_name(err, errlen, "node", argv[0]);
    memcpy(c->node_id, argv[0], strlen(argv[0]) + 1);
    return true;
}

static bool set_cluster_bind(struct config *c, const struct directive *d, char **argv, char *err,
                             size_t errlen)
{
    long long port;

    if (!argv[0][0]) return fail(err, errlen, "%s address must not be empty", d->name);
    if (!parse_int("cluster-bind port", argv[1], 1, 65535, &port, err, errlen)) return false;
    set_str(&c->cluster_bind, argv[0]);
    c->cluster_port = (int)port;
    return true;
}

static bool set_peer(struct config *c, const struct directive *d, char **argv, char *err,
                     size_t errlen)
{
    (void)d;
    if (errlen) err[0] = '\0';
    if (set_endpoint("peer", argv, c->peers, &c->peer_count, CONFIG_MAX_PEERS, err, errlen))
        return true;
    if (errlen && !err[0])
        fail(err, errlen, "too many peers: a cluster has at most %d other nodes", CONFIG_MAX_PEERS);
    return false;
}

static bool set_user(struct config *c, const struct directive *d, char **argv, char *err,
                     size_t errlen)
{
    (void)d;
    (void)err;
    (void)errlen;
    struct config_user *u;
    c->users = xrealloc(c->users, ((size_t)c->user_count + 1) * sizeof(*c->users));
    u = &c->users[c->user_count++];
    u->argc = 0;
    while (argv[u->argc]) u->argc++;
    u->argv = xmalloc((size_t)u->argc * sizeof(char *));
    for (int i = 0; i < u->argc; i++) u->argv[i] = xstrdup(argv[i]);
    u->where = xstrdup("command line");
    return true;
}

/* Only Redis's 'normal' class: redpair's clients are all normal clients. */
static bool set_obuf_limit(struct config *c, const struct directive *d, char **argv, char *err,
                           size_t errlen)
{
    long long hard, soft, secs;

    if (strcasecmp(argv[0], "normal") != 0)
        return fail(err, errlen, "%s class must be 'normal', got '%s'", d->name, argv[0]);
    if (!parse_memory("client-output-buffer-limit hard limit", argv[1], 0, &hard, err, errlen) ||
        !parse_memory("client-output-buffer-limit soft limit", argv[2], 0, &soft, err, errlen) ||
        !parse_int("client-output-buffer-limit soft seconds", argv[3], 0, INT_MAX, &secs, err,
                   errlen))
        return false;
    c->obuf_hard_limit = hard;
    c->obuf_soft_limit = soft;
    c->obuf_soft_seconds = (int)secs;
    return true;
}

/* An enum field, by its word: the config's enums are all int-sized. */
static bool set_enum(struct config *c, const struct directive *d, char **argv, char *err,
                     size_t errlen)
{
    int i = parse_enum(d->name, d->names, argv[0], err, errlen);
    if (i < 0) return false;
    *FIELD(c, d, int) = i;
    return true;
}

static bool set_yesno(struct config *c, const struct directive *d, char **argv, char *err,
                      size_t errlen)
{
    int i = parse_enum(d->name, yesno_names, argv[0], err, errlen);
    if (i < 0) return false;
    *FIELD(c, d, bool) = i == 0;
    return true;
}

/* Certificates, keys and CA directories: read at start and on SIGHUP, so one that cannot be read
 * is this line's mistake. */
static bool set_readable(struct config *c, const struct directive *d, char **argv, char *err,
                         size_t errlen)
{
    if (!argv[0][0]) {
        set_str(FIELD(c, d, char *), NULL);
        return true;
    }
    if (access(argv[0], R_OK) != 0)
        return fail(err, errlen, "%s '%s' cannot be read: %s", d->name, argv[0], strerror(errno));
    set_str(FIELD(c, d, char *), argv[0]);
    return true;
}

/* "TLSv1.2 TLSv1.3": one argument of names, as Redis. */
static bool set_tls_protocols(struct config *c, const struct directive *d, char **argv, char *err,
                              size_t errlen)
{
    char **names, *storage;
    int n = config_split_line(argv[0], &names, &storage), mask = 0;
    for (int i = 0; i < n; i++) {
        int p = parse_enum(d->name, protocol_names, names[i], err, errlen);
        if (p < 0) {
            free(storage);
            return false;
        }
        mask |= 1 << p;
    }
    free(storage);
    if (!mask) return fail(err, errlen, "%s must name at least one protocol", d->name);
    c->tls_protocols = mask;
    return true;
}

#define OFF(field) offsetof(struct config, field)
_Static_assert(sizeof(enum write_ack) == sizeof(int) && sizeof(enum write_marks) == sizeof(int) &&
                   sizeof(enum log_level) == sizeof(int) && sizeof(enum tls_auth) == sizeof(int),
               "set_enum writes an int");

static const struct directive directives[] = {
    {"bind", 1, CONFIG_MAX_BIND, set_bind, 0, 0, 0, NULL},
    {"port", 1, 1, set_int, OFF(port), 0, 65535, NULL},
    {"backend", 3, 3, set_backend, 0, 0, 0, NULL},
    {"backend-user", 1, 1, set_secret, OFF(backend_user), 0, 0, NULL},
    {"backend-password", 1, 1, set_secret, OFF(backend_password), 0, 0, NULL},
    {"requirepass", 1, 1, set_secret, OFF(requirepass), 0, 0, NULL},
    {"protected-mode", 1, 1, set_yesno, OFF(protected_mode), 0, 0, NULL},
    {"user", 1, INT_MAX, set_user, 0, 0, 0, NULL},
    {"aclfile", 1, 1, set_nonempty, OFF(aclfile), 0, 0, NULL},
    {"maxclients", 1, 1, set_int, OFF(maxclients), 1, INT_MAX, NULL},
    {"databases", 1, 1, set_int, OFF(databases), 1, 1000000, NULL},
    {"write-ack", 1, 1, set_enum, OFF(write_ack), 0, 0, write_ack_names},
    {"proto-max-bulk-len", 1, 1, set_memory, OFF(proto_max_bulk_len), MB, 0, NULL},
    {"client-output-buffer-limit", 4, 4, set_obuf_limit, 0, 0, 0, NULL},
    {"loglevel", 1, 1, set_enum, OFF(loglevel), 0, 0, loglevel_names},
    {"logfile", 1, 1, set_string, OFF(logfile), 0, 0, NULL},
    {"admin-bind", 1, 1, set_nonempty, OFF(admin_bind), 0, 0, NULL},
    {"admin-port", 1, 1, set_int, OFF(admin_port), 0, 65535, NULL},
    {"admin-token", 1, 1, set_secret, OFF(admin_token), 0, 0, NULL},
    {"state-dir", 1, 1, set_nonempty, OFF(state_dir), 0, 0, NULL},
    {"probe-interval-ms", 1, 1, set_int, OFF(probe_interval_ms), 10, 60000, NULL},
    {"down-after-ms", 1, 1, set_int, OFF(down_after_ms), 20, 3600000, NULL},
    {"backlog-size", 1, 1, set_memory, OFF(backlog_size), 16 * 1024, 0, NULL},
    {"write-marks", 1, 1, set_enum, OFF(write_marks), 0, 0, write_marks_names},
    {"node-id", 1, 1, set_node_id, 0, 0, 0, NULL},
    {"cluster-bind", 2, 2, set_cluster_bind, 0, 0, 0, NULL},
    {"peer", 3, 3, set_peer, 0, 0, 0, NULL},
    {"cluster-token", 1, 1, set_secret, OFF(cluster_token), 0, 0, NULL},
    {"cluster-dir", 1, 1, set_nonempty, OFF(cluster_dir), 0, 0, NULL},
    {"cluster-election-timeout-ms", 1, 1, set_int, OFF(election_timeout_ms), 100, 60000, NULL},
    {"tls-port", 1, 1, set_int, OFF(tls_port), 0, 65535, NULL},
    {"tls-cert-file", 1, 1, set_readable, OFF(tls_cert_file), 0, 0, NULL},
    {"tls-key-file", 1, 1, set_readable, OFF(tls_key_file), 0, 0, NULL},
    {"tls-key-file-pass", 1, 1, set_secret, OFF(tls_key_file_pass), 0, 0, NULL},
    {"tls-ca-cert-file", 1, 1, set_readable, OFF(tls_ca_cert_file), 0, 0, NULL},
    {"tls-ca-cert-dir", 1, 1, set_readable, OFF(tls_ca_cert_dir), 0, 0, NULL},
    {"tls-auth-clients", 1, 1, set_enum, OFF(tls_auth_clients), 0, 0, tls_auth_names},
    {"tls-protocols", 1, 1, set_tls_protocols, 0, 0, 0, NULL},
    {"tls-ciphers", 1, 1, set_secret, OFF(tls_ciphers), 0, 0, NULL},
    {"tls-ciphersuites", 1, 1, set_secret, OFF(tls_ciphersuites), 0, 0, NULL},
    {"tls-prefer-server-ciphers", 1, 1, set_yesno, OFF(tls_prefer_server_ciphers), 0, 0, NULL},
    {"tls-session-caching", 1, 1, set_yesno, OFF(tls_session_caching), 0, 0, NULL},
    {"backend-tls", 1, 1, set_yesno, OFF(backend_tls), 0, 0, NULL},
    {"backend-tls-cert-file", 1, 1, set_readable, OFF(backend_tls_cert_file), 0, 0, NULL},
    {"backend-tls-key-file", 1, 1, set_readable, OFF(backend_tls_key_file), 0, 0, NULL},
    {"backend-tls-ca-cert-file", 1, 1, set_readable, OFF(backend_tls_ca_cert_file), 0, 0, NULL},
    {"backend-tls-server-name", 1, 1, set_secret, OFF(backend_tls_server_name), 0, 0, NULL},
    {"admin-tls", 1, 1, set_yesno, OFF(admin_tls), 0, 0, NULL},
    {"cluster-tls", 1, 1, set_yesno, OFF(cluster_tls), 0, 0, NULL},
};

void config_init(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->bind[0] = xstrdup("127.0.0.1");
    c->bind_count = 1;
    c->port = 6380;
    c->protected_mode = true;
    c->maxclients = 10000;
    c->databases = 16;
    c->write_ack = WRITE_ACK_ALL;
    c->proto_max_bulk_len = 512 * MB;
    c->loglevel = LOG_NOTICE;
    c->logfile = xstrdup("");
    c->admin_bind = xstrdup("127.0.0.1");
    c->admin_port = 8380;
    c->state_dir = xstrdup("/var/lib/redpair");
    c->probe_interval_ms = 100;
    c->down_after_ms = 1000;
    c->backlog_size = 64 * MB;
    c->cluster_bind = xstrdup("127.0.0.1");
    c->election_timeout_ms = 1000;
    c->tls_auth_clients = TLS_AUTH_YES;
    c->tls_session_caching = true;
}

void config_free(struct config *c)
{
    for (int i = 0; i < c->bind_count; i++) free(c->bind[i]);
    for (int i = 0; i < c->backend_count; i++) free(c->backends[i].host);
    free(c->backend_user);
    free(c->backend_password);
    free(c->requirepass);
    for (int i = 0; i < c->user_count; i++) {
        for (int j = 0; j < c->users[i].argc; j++) free(c->users[i].argv[j]);
        free(c->users[i].argv);
        free(c->users[i].where);
    }
    free(c->users);
    free(c->aclfile);
    free(c->logfile);
    free(c->admin_bind);
    free(c->admin_token);
    free(c->state_dir);
    free(c->cluster_bind);
    for (int i = 0; i < c->peer_count; i++) free(c->peers[i].host);
    free(c->cluster_token);
    free(c->cluster_dir);
    char **tls_strings[] = {&c->tls_cert_file,          &c->tls_key_file,
                            &c->tls_key_file_pass,      &c->tls_ca_cert_file,
                            &c->tls_ca_cert_dir,        &c->tls_ciphers,
                            &c->tls_ciphersuites,       &c->backend_tls_cert_file,
                            &c->backend_tls_key_file,   &c->backend_tls_ca_cert_file,
                            &c->backend_tls_server_name};
    for (size_t i = 0; i < sizeof(tls_strings) / sizeof(tls_strings[0]); i++) free(*tls_strings[i]);
    memset(c, 0, sizeof(*c));
}

bool config_apply(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    const struct directive *d = NULL;
    int nargs = argc - 1;

    if (argc < 1) return fail(err, errlen, "missing directive");
    for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
        if (strcasecmp(argv[0], directives[i].name) == 0) d = &directives[i];
    if (!d) return fail(err, errlen, "unknown directive '%s'", argv[0]);

    if (nargs < d->min_args || nargs > d->max_args) {
        if (d->min_args == d->max_args) {
            return fail(err, errlen, "'%s' takes %d argument%s, got %d", d->name, d->min_args,
                        d->min_args == 1 ? "" : "s", nargs);
        }
        return fail(err, errlen, "'%s' takes %d to %d arguments, got %d", d->name, d->min_args,
                    d->max_args, nargs);
    }
    /* Setters see their arguments NULL-terminated, which a caller's argv need not be. */
    char **args = xmalloc(((size_t)nargs + 1) * sizeof(char *));
    memcpy(args, argv + 1, (size_t)nargs * sizeof(char *));
    args[nargs] = NULL;
    bool ok = d->set(c, d, args, err, errlen);
    free(args);
    return ok;
}

/* A cluster is 3 or 5 voters with distinct names, each knowing the others and the secret. */
static bool validate_cluster(const struct config *c, char *err, size_t errlen)
{
    if (!c->peer_count) {
        if (c->witness) return fail(err, errlen, "--witness needs the cluster's 'peer' lines");
        return true;
    }
    if (!c->node_id[0])
        return fail(err, errlen, "'peer' lines need this node's name: 'node-id NAME'");
    if (!c->cluster_port)
        return fail(err, errlen,
                    "'peer' lines need this node's cluster port: 'cluster-bind ADDR PORT'");
    if (c->peer_count != 2 && c->peer_count != 4)
        return fail(err, errlen,
                    "a cluster needs 2 or 4 'peer' lines (3 or 5 voters with this node), found %d",
                    c->peer_count);
    if (!c->cluster_token || strlen(c->cluster_token) < 16)
        return fail(err, errlen,
                    "'peer' lines need 'cluster-token SECRET' of at least 16 characters, the same "
                    "on every node");
    for (int i = 0; i < c->peer_count; i++)
        if (strcmp(c->peers[i].name, c->node_id) == 0)
            return fail(err, errlen, "peer '%s' has this node's own name (node-id)", c->node_id);
    if (c->election_timeout_ms < 2 * c->probe_interval_ms)
        return fail(
            err, errlen,
            "cluster-election-timeout-ms (%d) must be at least twice probe-interval-ms (%d)",
            c->election_timeout_ms, c->probe_interval_ms);
    return true;
}

static bool is_loopback(const char *addr)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, addr, &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return strcasecmp(addr, "localhost") == 0;
}

bool config_check_exposure(const struct config *c, bool default_has_password, char *err,
                           size_t errlen)
{
    if (c->witness || !c->protected_mode || default_has_password) return true;
    for (int i = 0; i < c->bind_count; i++)
        if (!is_loopback(c->bind[i]))
            return fail(err, errlen,
                        "protected mode: 'bind %s' lets other hosts in but the default user needs "
                        "no password: set requirepass, or 'protected-mode no' to let them in "
                        "without one",
                        c->bind[i]);
    return true;
}

/* Safe defaults: what listens beyond this host asks for a secret. The default user's password
 * is the ACL's to say once users are configured (acl_setup()); requirepass alone says it here,
 * which a live change of it meets too. */
static bool validate_exposure(const struct config *c, char *err, size_t errlen)
{
    if (c->admin_port && !c->admin_token && !is_loopback(c->admin_bind))
        return fail(err, errlen,
                    "admin-bind %s is reachable from other hosts but admin-token is not set: set "
                    "admin-token, or bind the admin API to 127.0.0.1",
                    c->admin_bind);
    return config_check_exposure(c, c->requirepass || c->user_count || c->aclfile, err, errlen);
}

/* What each TLS side needs; the files themselves are checked when the contexts are built. */
static bool validate_tls(const struct config *c, char *err, size_t errlen)
{
    bool ca = c->tls_ca_cert_file || c->tls_ca_cert_dir;
    const char *needs_pair = c->tls_port      ? "tls-port"
                             : c->admin_tls   ? "admin-tls yes"
                             : c->cluster_tls ? "cluster-tls yes"
                                              : NULL;
    if (!c->port && !c->tls_port && !c->witness)
        return fail(err, errlen, "'port 0' needs a 'tls-port': clients would have no way in");
    if (c->port && c->port == c->tls_port)
        return fail(err, errlen, "port and tls-port must differ, both are %d", c->port);
    if (needs_pair && (!c->tls_cert_file || !c->tls_key_file))
        return fail(err, errlen, "%s needs 'tls-cert-file' and 'tls-key-file'", needs_pair);
    if (c->tls_port && c->tls_auth_clients != TLS_AUTH_NO && !ca)
        return fail(err, errlen,
                    "tls-auth-clients %s needs 'tls-ca-cert-file' or 'tls-ca-cert-dir' to check "
                    "client certificates with",
                    config_tls_auth_name(c->tls_auth_clients));
    if (c->cluster_tls && !ca)
        return fail(err, errlen, "cluster-tls yes needs 'tls-ca-cert-file' or 'tls-ca-cert-dir'");
    if (c->cluster_tls && !config_clustered(c))
        return fail(err, errlen, "cluster-tls yes needs the cluster's 'peer' lines");
    if (!c->backend_tls_cert_file != !c->backend_tls_key_file)
        return fail(err, errlen, "'backend-tls-cert-file' and 'backend-tls-key-file' go together");
    if (c->backend_tls && !c->backend_tls_ca_cert_file && !ca)
        return fail(err, errlen,
                    "backend-tls yes needs 'backend-tls-ca-cert-file' or 'tls-ca-cert-file' to "
                    "check the servers' certificates with");
    return true;
}

bool config_validate(const struct config *c, char *err, size_t errlen)
{
    if (!validate_cluster(c, err, errlen) || !validate_tls(c, err, errlen) ||
        !validate_exposure(c, err, errlen))
        return false;
    if (c->witness && c->backend_count == 0) return true; /* votes only, probes nothing */
    if (c->backend_count != CONFIG_BACKENDS) {
        return fail(err, errlen,
                    "redpair needs exactly two backends ('backend NAME HOST PORT'), found %d",
                    c->backend_count);
    }
    if (strcmp(c->backends[0].name, c->backends[1].name) == 0) {
        return fail(err, errlen, "the two backends must have distinct names, both are '%s'",
                    c->backends[0].name);
    }
    if (c->down_after_ms <= c->probe_interval_ms) {
        return fail(err, errlen,
                    "down-after-ms (%d) must be greater than probe-interval-ms (%d), or a "
                    "backend is marked down before it has been probed",
                    c->down_after_ms, c->probe_interval_ms);
    }
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Reading lines.
 * ------------------------------------------------------------------------------------------- */

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Reads one quoted argument's body, p just past the opening quote; returns the position after
 * the closing quote, or NULL with *why set. */
static const char *read_quoted(const char *p, char quote, char **out, const char **why)
{
    char *o = *out;

    for (;;) {
        if (!*p) {
            *why = "unbalanced quotes";
            return NULL;
        }
        if (*p == quote) {
            if (p[1] && !isspace((unsigned char)p[1])) {
                *why = "closing quote must be followed by a space or the end of the line";
                return NULL;
            }
            *out = o;
            return p + 1;
        }
        if (quote == '\'') {
            if (p[0] == '\\' && p[1] == '\'') p++;
            *o++ = *p++;
            continue;
        }
        if (p[0] == '\\' && p[1] == 'x' && hex_digit(p[2]) >= 0 && hex_digit(p[3]) >= 0) {
            char ch = (char)(hex_digit(p[2]) * 16 + hex_digit(p[3]));
            /* Arguments are C strings: a NUL would silently cut a password short. */
            if (ch == '\0') {
                *why = "\\x00 cannot be part of an argument";
                return NULL;
            }
            *o++ = ch;
            p += 4;
        } else if (p[0] == '\\' && p[1]) {
            switch (p[1]) {
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'b': *o++ = '\b'; break;
            case 'a': *o++ = '\a'; break;
            default: *o++ = p[1]; break;
            }
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
}

/* As config_split_line, with the reason for a failure. */
static int split_line(const char *line, char ***argvp, char **storagep, const char **why)
{
    /* Arguments are separated by spaces and never grow when unquoted, which bounds both the
     * count and the bytes, so one allocation holds the vector and the strings. */
    size_t len = strlen(line), max_args = len / 2 + 1;
    char *block = xmalloc((max_args + 1) * sizeof(char *) + len + max_args);
    char **argv = (char **)(void *)block, *o = block + (max_args + 1) * sizeof(char *);
    const char *p = line;
    int argc = 0;

    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        argv[argc++] = o;
        while (*p && !isspace((unsigned char)*p)) {
            if (*p == '"' || *p == '\'') {
                p = read_quoted(p + 1, *p, &o, why);
                if (!p) {
                    free(block);
                    *argvp = NULL;
                    *storagep = NULL;
                    return -1;
                }
                break;
            }
            *o++ = *p++;
        }
        *o++ = '\0';
    }
    argv[argc] = NULL;
    *argvp = argv;
    *storagep = block;
    return argc;
}

int config_split_line(const char *line, char ***argv, char **storage)
{
    const char *why;
    return split_line(line, argv, storage, &why);
}

static char *trim(char *s)
{
    size_t n;

    while (isspace((unsigned char)*s)) s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* Lines that put a password or token in the file: the secret directives, and user lines that
 * give a password (">pass", "#digest"). */
static bool holds_secret(int argc, char **argv)
{
    static const char *const secrets[] = {"requirepass", "backend-password", "admin-token",
                                          "cluster-token", "tls-key-file-pass"};
    if (argc < 2 || !argv[1][0]) return false;
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strcasecmp(argv[0], secrets[i]) == 0) return true;
    if (strcasecmp(argv[0], "user") != 0) return false;
    for (int i = 2; i < argc; i++)
        if (argv[i][0] == '>' || argv[i][0] == '#') return true;
    return false;
}

/* A file holding secrets that every user may read gives them away; one every user may write
 * gives redpair away. */
bool config_check_file_mode(FILE *fp, const char *path, bool secret, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fileno(fp), &st) != 0)
        return fail(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return true; /* /dev/null, a pipe: nothing kept for others to see */
    unsigned mode = (unsigned)st.st_mode & 07777;
    if (mode & S_IWOTH)
        return fail(err, errlen, "%s: every user may change it (mode %04o): chmod o-w %s", path,
                    mode, path);
    if (secret && (mode & S_IROTH))
        return fail(err, errlen,
                    "%s holds passwords or tokens but every user may read it (mode %04o): chmod "
                    "o-r %s",
                    path, mode, path);
    return true;
}

bool config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char *buf = NULL, why[CONFIG_ERROR_MAX];
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    bool ok = true, secret = false;

    if (!fp) return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    while (ok && (n = getline(&buf, &cap, fp)) != -1) {
        char *line, **argv, *storage;
        const char *reason;
        int argc;

        lineno++;
        if ((size_t)n != strlen(buf)) {
            ok = fail(err, errlen, "%s:%d: line contains a NUL byte", path, lineno);
            break;
        }
        line = trim(buf);
        if (*line == '\0' || *line == '#') continue;
        argc = split_line(line, &argv, &storage, &reason);
        if (argc < 0) {
            ok = fail(err, errlen, "%s:%d: '%s': %s", path, lineno, line, reason);
            break;
        }
        int users = c->user_count;
        if (!config_apply(c, argc, argv, why, sizeof(why)))
            ok = fail(err, errlen, "%s:%d: '%s': %s", path, lineno, line, why);
        secret |= holds_secret(argc, argv);
        if (c->user_count > users) { /* a user line, checked once the commands are known */
            char where[CONFIG_ERROR_MAX];
            snprintf(where, sizeof(where), "%s:%d", path, lineno);
            set_str(&c->users[c->user_count - 1].where, where);
        }
        free(storage);
    }
    if (ok && ferror(fp)) ok = fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    if (ok) ok = config_check_file_mode(fp, path, secret, err, errlen);
    free(buf);
    fclose(fp);
    return ok;
}

bool config_load_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    char why[CONFIG_ERROR_MAX], shown[CONFIG_ERROR_MAX];
    char **group = xmalloc(((size_t)argc + 1) * sizeof(char *));
    bool ok = true;

    for (int i = 0, j; i < argc; i = j) {
        if (strncmp(argv[i], "--", 2) != 0) {
            ok = fail(err, errlen, "command line: '%s': expected a --directive", argv[i]);
            break;
        }
        group[0] = argv[i] + 2;
        for (j = i + 1; j < argc && strncmp(argv[j], "--", 2) != 0; j++) group[j - i] = argv[j];
        if (config_apply(c, j - i, group, why, sizeof(why))) continue;

        size_t used = 0;
        shown[0] = '\0';
        for (int k = i; k < j && used < sizeof(shown); k++)
            used += (size_t)snprintf(shown + used, sizeof(shown) - used, "%s%s", k == i ? "" : " ",
                                     argv[k]);
        ok = fail(err, errlen, "command line: '%s': %s", shown, why);
        break;
    }
    free(group);
    return ok;
}

/* An enum's word, from the same list set_enum reads. */
static const char *enum_name(const char *const *names, int value)
{
    for (int i = 0; names[i]; i++)
        if (i == value) return names[i];
    return "unknown";
}

const char *config_write_marks_name(enum write_marks m)
{
    return enum_name(write_marks_names, (int)m);
}

const char *config_write_ack_name(enum write_ack a)
{
    return enum_name(write_ack_names, (int)a);
}

const char *config_loglevel_name(enum log_level l)
{
    return enum_name(loglevel_names, (int)l);
}

const char *config_tls_auth_name(enum tls_auth a)
{
    return enum_name(tls_auth_names, (int)a);
}

const char *config_tls_protocols(int mask, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    if (!mask) mask = 1 << 2 | 1 << 3;
    for (int i = 0; protocol_names[i] && used < len; i++)
        if (mask & (1 << i))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? " " : "",
                                     protocol_names[i]);
    return buf;
}
