/* Fencing: in cluster mode a deposed or paused leader must never apply a write once a newer
 * leader has taken the backends over, not even the writes already sitting in its sockets.
 *
 *   takeover under epoch T (the leader's Raft term), on each backend, before its first write:
 *     CLIENT SETNAME redpair-T-<node>-monitor
 *     EVAL fence_script 2 __redpair_epoch__ … T   the stored epoch rises to T, never falls
 *     CLIENT LIST  ─▶  CLIENT KILL ID n  for every redpair-E-… connection with E < T
 *   every data link, when it connects, before it writes:
 *     CLIENT SETNAME redpair-E-<node>-link
 *     EVAL fence_script 2 __redpair_epoch__ … E   -FENCED if a newer epoch holds the server
 *
 * Redis runs commands one at a time, so a link of an older leader either checked before the new
 * epoch was stored, and then was named before the CLIENT LIST that finds and kills it, or checks
 * after, and is refused. What it had sent on a killed connection is never read. The key lives in
 * database 0 beside the offset key and is as invisible to clients (hidden.h); FLUSHALL and
 * FLUSHDB keep it. */
#ifndef REDPAIR_FENCE_H
#define REDPAIR_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FENCE_KEY "__redpair_epoch__"

/* KEYS[1] the fence key, KEYS[2] the offset key, ARGV[1] the epoch: raises the stored epoch to
 * it, or fails -FENCED. */
extern const char fence_script[];

/* The fence command under epoch, as argv (the epoch's digits written into digits); returns argc. */
#define FENCE_ARGC 6
int fence_command(uint64_t epoch, const char *argv[FENCE_ARGC], char digits[24]);

/* "redpair-<epoch>-<node>-<kind>": how the connections of a node under an epoch are named. */
void fence_client_name(char *out, size_t len, uint64_t epoch, const char *node, const char *kind);
/* The ids of the redpair connections in a CLIENT LIST reply named under an epoch below epoch. */
size_t fence_older_clients(const char *text, size_t len, uint64_t epoch, uint64_t *ids, size_t max);
/* The error text of the script's refusal starts so. */
bool fence_refused(const char *error, size_t len);

#endif
