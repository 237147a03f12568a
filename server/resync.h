/* Full resync: a stale backend is copied from the primary with Redis's own replication.
 *
 *   REPLICAOF primary ──▶ poll INFO until master_link_status:up and the sync is done
 *   ──▶ hold the stream (clients paused) until the primary has answered every write
 *   ──▶ poll until the replica's offset meets the primary's ──▶ REPLICAOF NO ONE
 *   ──▶ in sync at the current stream offset; the stream resumes to both
 *
 * The copy carries the primary's offset key with it, so the new replica's key says exactly where
 * it is. Any failure (the primary changes, either server stops answering, a deadline passes)
 * undoes the replication and leaves the backend stale, to be tried again. */
#ifndef REDPAIR_RESYNC_H
#define REDPAIR_RESYNC_H

#include <stdbool.h>

struct backend;

void resync_full_start(struct backend *b);
bool resync_active(const struct backend *b);
/* The node no longer leads (cluster.h): the resync stops where it is, sending nothing more; the
 * next leader finds a stale replica and copies it again. */
void resync_abandon(struct backend *b);

#endif
