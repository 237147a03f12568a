/* Relays: how a follower serves clients in cluster mode (cluster.h). Each client connection gets
 * a connection of its own to the leader's RESP port and its bytes are passed both ways untouched,
 * so MULTI, WATCH, blocking commands, Pub/Sub and ordering behave exactly as on the leader.
 *
 *   client ──▶ follower ──(one connection per client)──▶ leader ──▶ sequencer, backends
 *
 * When the leader changes every relayed connection is closed: clients reconnect, as after any
 * Redis failover. While no leader is known a new client waits; once there has been none for
 * longer than cluster-election-timeout-ms, each of its commands is answered
 * -TRYAGAIN no redpair leader, until a leader appears and relaying starts. */
#ifndef REDPAIR_RELAY_H
#define REDPAIR_RELAY_H

#include <uv.h>

/* A client connected to this node while it does not lead. */
void relay_accept(uv_stream_t *listener);
/* Raft's leader (or this node's role) changed: every relayed connection goes; the waiting ones
 * too when this node now leads. */
void relay_leader_changed(void);
int relay_count(void);
/* Shutdown: every relay goes. */
void relay_close_all(void);

#endif
