/* What a write tells the clients that wait on keys. redpair sees every write as it enters the
 * stream, so it learns of a change to a key without asking either server:
 *
 *   a write naming k ─┬─▶ WATCH (watch.h)        the clients watching k will see EXEC fail
 *                     ├─▶ parked (blocked.h)     the clients blocked on k try again
 *                     └─▶ tracking (tracking.h)  the clients caching k get an invalidation
 *
 * FLUSHDB and FLUSHALL touch every key of their databases, SWAPDB both databases, MOVE and COPY …
 * DB the key in the other database too; a write whose keys cannot be found touches its whole
 * database. */
#ifndef REDPAIR_KEYSPACE_H
#define REDPAIR_KEYSPACE_H

#include <stddef.h>

struct client;
struct command;

/* Client c (the writer) has just sent the write cmd, argv as it came, into the stream in db. */
void keyspace_written(const struct client *c, const struct command *cmd, int db, int argc,
                      const char *const *argv, const size_t *argl);

#endif
