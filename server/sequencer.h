/* The sequencer: the one ordered write stream, the invariant the product rests on.
 *
 * Every write from every client gets the next offset and is handed, in that order, to the link of
 * every in-sync backend. Each link is one ordered connection, so both servers apply the same
 * writes in the same order and hold the same data. Their replies to each write are compared: a
 * mismatch is divergence, counted and logged. The client is answered per write-ack: `all` once
 * every backend the write went to has answered, `primary` on the primary's reply alone.
 *
 * A write mirrored by effect (SPOP, INCRBYFLOAT) goes to the primary as it came; the others hold
 * its place in their stream until the primary's reply says what to send them (rewrite.h). */
#ifndef REDPAIR_SEQUENCER_H
#define REDPAIR_SEQUENCER_H

#include <stdbool.h>
#include <stddef.h>

struct request;

/* Puts a write into the stream; bytes is its multibulk as every backend should get it. */
void sequencer_write(struct request *r, int db, const char *bytes, size_t len);
void sequencer_reply(struct request *r, int backend, const char *reply, size_t len);
void sequencer_lost(struct request *r, int backend);
/* Whether a reply agrees with the one the client was told (or is to be told) for write r; not
 * knowing that one yet counts as no. */
bool sequencer_agrees(const struct request *r, const char *reply, size_t len);
/* No effect write is waiting for its primary's reply: the backlog holds the whole stream so far. */
bool sequencer_settled(void);
/* Cluster mode: while failover_acks_held(), writes are answered into a holding list instead of
 * to their clients, so that a leader deposed before it could commit a backend's loss never
 * acknowledges a write one server alone holds. Released once the loss is committed; dropped,
 * unanswered, when the node stops leading. */
void sequencer_release_acks(void);
void sequencer_drop_acks(void);

#endif
