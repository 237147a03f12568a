/* Failover: who is primary, under which epoch, and the operator's manual operations.
 *
 * Roles change only through a new epoch, and a new epoch is committed to the store before it takes
 * effect (store_commit_epoch, then act in its callback), so a restarted redpair resumes from the
 * stored epoch and primary and never flips back on its own. */
#ifndef REDPAIR_FAILOVER_H
#define REDPAIR_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens the store, loads the stored epoch and roles, and starts the monitor. */
bool failover_start(char *err, size_t errlen);
void failover_stop(void);

uint64_t failover_epoch(void);
/* What the operator is shown of backend i and of the primary (index, -1 none): this node's own
 * when it runs alone or leads; on a cluster's follower, which runs no link, what the log says. */
const char *failover_state_name(int i);
int failover_primary(void);
uint64_t failover_count(void); /* failovers since start */
uint64_t resync_count(void);   /* full and partial resyncs since start */

/* Manual operations (admin API, REDPAIR command). Each checks that it is safe now and returns
 * true once started, or false with the reason in err (the API answers it with 409). They finish
 * asynchronously; their progress shows in the backend states and the event log. */
bool failover_manual(const char *target, char *err, size_t errlen); /* target NULL: the other */
bool failover_maintenance(const char *backend, bool enabled, char *err, size_t errlen);
bool failover_resync(const char *backend, char *err, size_t errlen);

/* Cluster mode (cluster.h). This node took the backends over under epoch (its Raft term): fence
 * them, then resume from the log's roles. It no longer leads: every link, resync and client goes.
 * A backend answered that a newer epoch holds it. */
void failover_takeover(uint64_t epoch);
void failover_depose(const char *why);
struct backend;
void failover_fenced_out(struct backend *b);
/* Cluster mode: a backend's leaving the in-sync set is not yet committed (sequencer.h). */
bool failover_acks_held(void);

/* What the backend links report (backend.c). */
enum backend_state;
/* Every state change goes through here: logged, stored, an event. */
void failover_set_state(struct backend *b, enum backend_state state, const char *why);
void failover_link_up(struct backend *b);
void failover_link_down(struct backend *b, const char *why);
void failover_caught_up(struct backend *b); /* a CATCHING_UP backend acked another write */
/* A write's reply from b, not the primary, differed from the primary's so that their data may
 * differ from then on (sequencer.c): b is copied again from the primary. */
void failover_diverged(struct backend *b);

#endif
