/* The control state a cluster agrees on: the state machine its Raft log drives (cluster.c).
 *
 * The log holds control decisions only, never data writes, one JSON object per entry:
 *
 *   {"op":"takeover","node":N,"epoch":T}         a leader of term T took the backends over
 *   {"op":"primary","backend":B}                 B is primary (a failover, or the first start)
 *   {"op":"backend","backend":B,"state":S,"run_id":R}   B's standing: in-sync, stale, down, …
 *   {"op":"maintenance","backend":B,"on":true}   the operator drained B (or put it back)
 *   {"op":"joined","node":N,"incarnation":K}     N takes part with its consensus state
 *   {"op":"readd","node":N,"incarnation":K}      N lost that state: it comes back as incarnation K
 *   {"op":"setting","name":P,"value":V}          CONFIG SET P V took on the pair
 * (config_commands.h)
 *   {"op":"acl","users":U}                       ACL SETUSER/DELUSER/LOAD left the users U: the
 *                                                ACL LIST lines, one per line (acl_commands.h)
 *
 * Every node applies the same entries in the same order, so every node knows who is primary and
 * which backend may be trusted the moment it becomes leader. A snapshot is the whole state as
 * one object. Pure code: the unit tests drive it directly. */
#ifndef REDPAIR_CLUSTER_STATE_H
#define REDPAIR_CLUSTER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CLUSTER_MAX_NODES    (CONFIG_MAX_PEERS + 1)
#define CLUSTER_STATE_MAX    16
#define CLUSTER_MAX_SETTINGS 64
#define CLUSTER_SETTING_NAME 64
#define CLUSTER_SETTING_MAX  512
#define CLUSTER_ACL_MAX      32768

struct cluster_backend {
    char name[CONFIG_NAME_MAX];
    char state[CLUSTER_STATE_MAX]; /* backend_state_name(); "" never reported */
    char run_id[41];
    bool maintenance;
};

struct cluster_member {
    char name[CONFIG_NAME_MAX];
    unsigned incarnation; /* 1 for the members the cluster was bootstrapped with */
    bool joined;          /* has taken part under that incarnation */
};

/* A server setting the pair took, so that a server copied again gets it back. */
struct cluster_setting {
    char name[CLUSTER_SETTING_NAME];
    char value[CLUSTER_SETTING_MAX];
};

struct cluster_state {
    uint64_t epoch;                /* term of the latest takeover: the fence on the backends */
    char leader[CONFIG_NAME_MAX];  /* the node that took over under it */
    char primary[CONFIG_NAME_MAX]; /* "" before the first election */
    uint64_t failovers;            /* primary changes after the first */
    struct cluster_backend backends[CONFIG_BACKENDS];
    int backend_count;
    struct cluster_member members[CLUSTER_MAX_NODES];
    int member_count;
    struct cluster_setting settings[CLUSTER_MAX_SETTINGS]; /* the latest last */
    int setting_count;
    char acl[CLUSTER_ACL_MAX]; /* the users as the latest runtime change left them; "": none */
};

void cluster_state_init(struct cluster_state *s);
/* Applies one entry; false (the state unchanged) when it is not one this version knows. */
bool cluster_state_apply(struct cluster_state *s, const void *entry, size_t len);
/* The state as one JSON object (malloc'd, *len its length), and back. */
char *cluster_state_encode(const struct cluster_state *s, size_t *len);
bool cluster_state_decode(struct cluster_state *s, const void *data, size_t len);

/* Entries, malloc'd JSON text (*len its length) for raft_apply. */
char *cluster_entry_takeover(const char *node, uint64_t epoch, size_t *len);
char *cluster_entry_primary(const char *backend, size_t *len);
char *cluster_entry_backend(const char *backend, const char *state, const char *run_id,
                            size_t *len);
char *cluster_entry_maintenance(const char *backend, bool on, size_t *len);
char *cluster_entry_member(const char *op, const char *node, unsigned incarnation, size_t *len);
/* NULL when the users do not fit an entry (too long, not UTF-8). */
char *cluster_entry_acl(const char *users, size_t len, size_t *entry_len);
/* NULL when the setting does not fit an entry (too long, not text). */
char *cluster_entry_setting(const char *name, const char *value, size_t vlen, size_t *len);

const struct cluster_backend *cluster_state_backend(const struct cluster_state *s,
                                                    const char *name);
/* The member of that name; NULL when the state has never named it. */
const struct cluster_member *cluster_state_member(const struct cluster_state *s, const char *name);

#endif
