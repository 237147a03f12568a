/* The backlog: the most recent writes of the stream, kept so that a backend that was out for a
 * while can be given exactly what it missed (a partial resync) instead of a full copy, as Redis
 * keeps its repl-backlog for replicas.
 *
 *   sequencer ──append(offset, db, bytes)──▶ [ oldest … newest ]  (backlog-size bytes, a ring)
 *   resync    ◀──replay(after V)────────────  every write with offset > V, in order
 *
 * Each entry holds a write as a non-primary backend applies it (effects resolved), so replaying it
 * on any server gives the same result. When the ring is full the oldest entries go; a backend
 * that needs one of them can only be fully resynced. */
#ifndef REDPAIR_BACKLOG_H
#define REDPAIR_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Empties the ring and sizes it; `next` is the offset of the next write to come. */
void backlog_reset(size_t size, uint64_t next);
void backlog_free(void);
void backlog_append(uint64_t offset, int db, const char *bytes, size_t len);
/* True when every write after `offset` is still held (or there is none). */
bool backlog_covers(uint64_t offset);
/* Bytes of the writes after `offset` that are held (the lag of a backend at that offset). */
size_t backlog_bytes_after(uint64_t offset);

typedef void (*backlog_emit)(void *ctx, uint64_t offset, int db, const char *bytes, size_t len);
/* Hands every held write after `offset` to emit, oldest first; false if some are gone. */
bool backlog_replay(uint64_t offset, backlog_emit emit, void *ctx);

#endif
