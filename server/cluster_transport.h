/* The cluster port: one TCP listener per node, on which its peers open authenticated streams of
 * two kinds, Raft's messages (handed to libraft's libuv I/O, which runs on redpair's own loop)
 * and redpair's own control messages (cluster.c: each node's status, its view of the backends).
 *
 *   connector                                          acceptor
 *   hello: "RPCL" 1 kind name raft-id nonce_c   ──▶
 *                                               ◀──    nonce_s  HMAC(token, "acceptor"  …)
 *   HMAC(token, "connector" …)                   ──▶    checked: the stream is handed on
 *
 * Both MACs (HMAC-SHA256 over the kind, the connector's name and Raft id and both nonces) prove
 * that the other side holds cluster-token, so a stranger on the network can neither join the
 * vote nor pose as a peer; each side reads exactly the bytes of the handshake, so nothing of the
 * stream behind it is swallowed. Raft's addresses are node names: the transport maps them to the
 * `peer` lines of the configuration. A connection that has not finished its handshake within the
 * election timeout is given up (a peer behind a dead link does not leave a connect hanging for
 * minutes), and established streams carry TCP_USER_TIMEOUT, so a peer that vanished is noticed
 * and Raft connects afresh once the network heals. */
#ifndef REDPAIR_CLUSTER_TRANSPORT_H
#define REDPAIR_CLUSTER_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"

/* A control stream, authenticated; the callee owns it (uv_close it, then free it). NULL: the
 * connection failed. */
typedef void (*cluster_stream_cb)(void *arg, const char *peer, uv_stream_t *stream);

/* Sets up t (a libraft transport: give it to raft_uv_init) and starts listening on cluster-bind
 * at once, so control streams flow before Raft starts. Accepted control streams go to on_control.
 */
bool cluster_transport_init(struct raft_uv_transport *t, uv_loop_t *loop, const struct config *cfg,
                            cluster_stream_cb on_control, void *arg, char *err, size_t errlen);
/* Opens a control stream to a peer by name; cb runs once, with the stream or NULL. */
void cluster_transport_dial(struct raft_uv_transport *t, const char *peer, cluster_stream_cb cb,
                            void *arg);
/* Stops listening and gives up every handshake in progress; cb runs once every handle is closed.
 * It is t->close too, which Raft's own close calls. */
void cluster_transport_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb);
/* The HMAC of one handshake side, as both ends compute it. Pure: the unit tests use it. */
void cluster_transport_mac(const char *token, const char *role, int kind, const char *name,
                           unsigned long long raft_id, const unsigned char *first_nonce,
                           const unsigned char *second_nonce, unsigned char mac[32]);

#endif
