/* redpair's configuration: a redis.conf-style file, then `--directive value ...` arguments from
 * the command line that override it, exactly as redis-server takes them. Every line is checked
 * when read; a bad one is reported with its file, line and reason and nothing starts. */
#ifndef REDPAIR_CONFIG_H
#define REDPAIR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_BIND  16
#define CONFIG_BACKENDS  2
#define CONFIG_MAX_PEERS 4
#define CONFIG_NAME_MAX  32
#define CONFIG_ERROR_MAX 512

enum write_ack { WRITE_ACK_ALL, WRITE_ACK_PRIMARY };
/* How a server's offset key follows the writes it applies (backend.h). */
enum write_marks { WRITE_MARKS_QUIET, WRITE_MARKS_EVERY_RUN };
enum log_level { LOG_DEBUG, LOG_VERBOSE, LOG_NOTICE, LOG_WARNING };
enum tls_auth { TLS_AUTH_YES, TLS_AUTH_NO, TLS_AUTH_OPTIONAL }; /* tls-auth-clients */

/* A named host and port: a backend, or another redpair of the same cluster (a peer). */
struct endpoint_config {
    char name[CONFIG_NAME_MAX]; /* [A-Za-z0-9_-]+, as the operator calls it */
    char *host;
    int port;
};

/* A `user NAME rules…` line, kept as written: its rules need the command table, which is learned
 * after the file is read (acl_commands.h checks them). */
struct config_user {
    char **argv; /* NAME, then the rules */
    int argc;
    char *where; /* "FILE:LINE" or "command line" */
};

struct config {
    char *bind[CONFIG_MAX_BIND];
    int bind_count; /* default: one, "127.0.0.1" */
    int port;       /* default 6380; 0: no plain client port (tls-port only) */
    struct endpoint_config backends[CONFIG_BACKENDS];
    int backend_count;         /* must be exactly 2 once loaded */
    char *backend_user;        /* NULL: AUTH with the password alone */
    char *backend_password;    /* NULL: no AUTH */
    char *requirepass;         /* NULL: clients need not AUTH */
    bool protected_mode;       /* default yes: no non-loopback bind without a password */
    struct config_user *users; /* `user` lines, in order */
    int user_count;
    char *aclfile;                /* NULL: none; both it and `user` lines is an error */
    int maxclients;               /* default 10000 */
    int databases;                /* default 16; must match the backends */
    enum write_ack write_ack;     /* default all */
    long long proto_max_bulk_len; /* default 512mb, at least 1mb, as Redis */
    long long
        obuf_hard_limit; /* client-output-buffer-limit normal <hard> <soft> <secs>; 0 = none */
    long long obuf_soft_limit;
    int obuf_soft_seconds;
    enum log_level loglevel;      /* default notice */
    char *logfile;                /* "" (default): standard output */
    char *admin_bind;             /* default "127.0.0.1" */
    int admin_port;               /* default 8380; 0 disables the admin API */
    char *admin_token;            /* NULL: the admin API refuses every authenticated route */
    char *state_dir;              /* default "/var/lib/redpair" */
    int probe_interval_ms;        /* default 100 */
    int down_after_ms;            /* default 1000; must exceed probe-interval-ms */
    long long backlog_size;       /* default 64mb, at least 16kb */
    enum write_marks write_marks; /* default quiet */

    /* Cluster mode (cluster.h): set when there are peers; none is today's single daemon. */
    char node_id[CONFIG_NAME_MAX]; /* this node's name among its peers */
    char *cluster_bind;            /* address of the cluster port; default "127.0.0.1" */
    int cluster_port;              /* 0: not set */
    struct endpoint_config peers[CONFIG_MAX_PEERS];
    int peer_count;          /* 0, or 2 or 4 once validated (3 or 5 voters) */
    char *cluster_token;     /* shared secret the peers authenticate each other with */
    char *cluster_dir;       /* consensus state; NULL: state-dir/raft */
    int election_timeout_ms; /* default 1000 */
    bool witness;            /* --witness: votes, no clients and no data links */

    /* TLS (tls.h), with Redis's names and meaning. NULL strings: not set. */
    int tls_port; /* 0: none */
    char *tls_cert_file, *tls_key_file, *tls_key_file_pass;
    char *tls_ca_cert_file, *tls_ca_cert_dir;
    enum tls_auth tls_auth_clients; /* default yes */
    int tls_protocols;              /* bit i: TLSv1, TLSv1.1, TLSv1.2, TLSv1.3; 0: 1.2 and 1.3 */
    char *tls_ciphers, *tls_ciphersuites;
    bool tls_prefer_server_ciphers; /* default no */
    bool tls_session_caching;       /* default yes */
    bool backend_tls;               /* links, probes and resyncs to the servers */
    char *backend_tls_cert_file, *backend_tls_key_file; /* NULL: tls-cert-file's pair */
    char *backend_tls_ca_cert_file;                     /* NULL: tls-ca-cert-file/dir */
    char *backend_tls_server_name;                      /* SNI and the name checked */
    bool admin_tls;                                     /* HTTPS for the admin API */
    bool cluster_tls;                                   /* mutual TLS between the peers */
};

/* Sets every default; no backends. */
void config_init(struct config *c);
void config_free(struct config *c);

/* Applies one directive line (already split into arguments, argv[0] the directive name).
 * On error returns false and writes the reason, without file or line, into err. */
bool config_apply(struct config *c, int argc, char **argv, char *err, size_t errlen);

/* Reads a file line by line. On error returns false with "FILE:LINE: 'line': reason" in err. */
bool config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Applies `--directive arg ...` groups from the command line (argv excludes the program name and
 * the config file). Errors read "command line: '--port x': reason". */
bool config_load_args(struct config *c, int argc, char **argv, char *err, size_t errlen);

/* Checks what no single line can: two backends with distinct names, down-after-ms above
 * probe-interval-ms, a whole cluster membership. A witness needs no backends. */
bool config_validate(const struct config *c, char *err, size_t errlen);

/* Protected mode: false, with the reason, when clients from other hosts could connect (a
 * non-loopback bind) and get in without a password (default_has_password false). */
bool config_check_exposure(const struct config *c, bool default_has_password, char *err,
                           size_t errlen);

/* A file of redpair's configuration (the config file, the aclfile) is refused when every user
 * may write it, or read it while it holds secrets. */
bool config_check_file_mode(FILE *fp, const char *path, bool secret, char *err, size_t errlen);

/* Splits a line into arguments the way redis.conf does: spaces separate, "double quotes" take
 * \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' take \'. Returns argc, or -1 on
 * unbalanced quotes. The arguments are NUL-terminated copies held in *storage (free it). */
int config_split_line(const char *line, char ***argv, char **storage);

/* "1gb" -> 1073741824, as Redis's memtoll: k/kb/m/mb/g/gb, case-insensitive; -1 when invalid. */
long long config_parse_memory(const char *s);

/* Peers are configured: redpair runs as one node of a cluster. */
static inline bool config_clustered(const struct config *c)
{
    return c->peer_count > 0;
}

const char *config_write_ack_name(enum write_ack a);
const char *config_write_marks_name(enum write_marks m);
const char *config_loglevel_name(enum log_level l);
const char *config_tls_auth_name(enum tls_auth a);
/* tls-protocols as written: "TLSv1.2 TLSv1.3" (buf of 64 bytes). */
const char *config_tls_protocols(int mask, char *buf, size_t len);

#endif
