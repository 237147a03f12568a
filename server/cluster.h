/* Cluster mode: several redpairs in front of one pair, agreeing through Raft (Debian's libraft,
 * on redpair's own libuv loop) on who sequences and on the control state (cluster_state.h).
 *
 *             cluster port (cluster_transport.h): Raft messages + control messages
 *   node A ◀──────────────────────────────────────────────▶ node B ◀──▶ witness W
 *     │ leader: takes the backends over (fence.h), runs the sequencer and the data links
 *     │ follower: relays each client connection to the leader (relay.h)
 *     └ every node: probes both backends and tells the others what it sees, every probe interval
 *
 * Exactly one node leads. On becoming Raft leader of term T it commits a takeover entry (so its
 * state machine holds every decision made before it), fences both backends under epoch T, and only
 * then takes clients; failovers, resync decisions and maintenance are committed through the log
 * before they act. A primary is failed over only when a majority of the nodes see it down (ODOWN).
 * Without a leader for longer than cluster-election-timeout-ms, clients get -TRYAGAIN.
 *
 * Start-up: a node whose cluster-dir holds consensus state rejoins with it. One with an empty
 * cluster-dir asks its peers first: if none belongs to a cluster yet, the configured nodes
 * bootstrap it together (every node bootstraps the same membership); if the cluster exists and
 * has never seen this node take part, it joins; if this node took part before, its state was
 * lost, and it refuses to start until it is re-added (POST /api/v1/cluster/nodes/NAME/readd on
 * the leader), never bootstrapping a second cluster. */
#ifndef REDPAIR_CLUSTER_H
#define REDPAIR_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster_state.h"
#include "config.h"

/* Starts the node (nothing happens without peer lines). False with the reason in err. */
bool cluster_start(uv_loop_t *loop, const struct config *cfg, char *err, size_t errlen);
/* Leaves the cluster's loop handles closed (raft_close); safe to call when never started. */
void cluster_stop(void);
/* The node refused to run (its consensus state was lost): main exits with an error. */
bool cluster_failed(void);

bool cluster_enabled(void);
/* This node has taken the backends over: it sequences. */
bool cluster_leading(void);
/* The epoch this node leads under (its takeover's term), 0 when it does not lead. */
uint64_t cluster_epoch(void);
uint64_t cluster_term(void);
/* The leader's node name, NULL when none is known. */
const char *cluster_leader_name(void);
/* The leader's RESP address, for relaying; false when no leader is known or it has no RESP
 * port (a witness, which hands leadership over at once). *tls: the leader has a tls-port only,
 * reached with this node's own certificate. */
bool cluster_leader_address(char *host, size_t hostlen, int *port, bool *tls);
/* Milliseconds since a leader was last known, 0 while one is. */
uint64_t cluster_leaderless_ms(void);
/* What the log says (valid while the node runs). */
const struct cluster_state *cluster_state(void);
int cluster_voters(void);
/* Other nodes heard from within the election timeout. */
int cluster_peers_up(void);
/* Clients that connect here are served here: this node leads, or is taking over. */
bool cluster_serves_clients(void);
/* Nodes, this one included, whose fresh view has this backend down. */
int cluster_down_votes(int backend);
/* A data node other than this one whose fresh view has both backends up, or NULL. */
const char *cluster_node_seeing_both(void);

/* This node must stop leading in this term (a backend holds a newer epoch): it steps aside and
 * waits for Raft to settle who leads. */
void cluster_deposed(const char *why);

/* Proposes an entry (cluster_state.h) through the log; cb(arg, ok) runs once it is applied here,
 * or has failed (no longer leader). Takes the malloc'd entry. */
typedef void (*cluster_done_cb)(void *arg, bool ok);
void cluster_propose(char *entry, size_t len, cluster_done_cb cb, void *arg);

/* Admin API. Each returns false with the reason (the API answers 409) or true once started. */
bool cluster_transfer(const char *node, char *err, size_t errlen); /* node NULL: any */
bool cluster_readd(const char *node, char *err, size_t errlen);
/* GET /api/v1/cluster: nodes, leader, term, each node's view of the backends, last contact. */
json_t *cluster_describe(void);

#endif
