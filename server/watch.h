/* WATCH, tracked by redpair: it sees every write in stream order, so it knows when a watched key
 * was written without asking either server.
 *
 *   WATCH k          the client joins k's list in the watch table
 *   any write to k   the sequencer reports k (watch_touch_key): every client on it is marked
 *   EXEC             a marked client gets the null array and nothing runs; EXEC, DISCARD,
 *                    UNWATCH and RESET take the client off its keys
 *
 * It errs on the side of aborting: a write command naming the key marks it even when it changed
 * nothing (SETNX of an existing key, DEL of a missing one), and FLUSHDB, FLUSHALL and SWAPDB mark
 * every watched key of their databases, where Redis looks at what actually changed. */
#ifndef REDPAIR_WATCH_H
#define REDPAIR_WATCH_H

#include <stdbool.h>
#include <stddef.h>

struct client;

/* WATCH key [key ...]: argv[1..argc-1] in the client's database. */
void watch_keys(struct client *c, int argc, const char *const *argv, const size_t *argl);
void watch_clear(struct client *c);
bool watch_any(void);
void watch_touch_key(int db, const char *key, size_t len);
/* Every watched key of db, or of every db when db is -1. */
void watch_touch_db(int db);

#endif
