/* The offset key (backend.h), and in a cluster the fence key (fence.h), live in database 0 of both
 * servers, but clients must see a keyspace
 * exactly as on a plain Redis. The reads that enumerate or count keys in database 0 are sent as
 * read-only scripts that leave the key out, and INFO's keyspace line is corrected, so DBSIZE,
 * KEYS, SCAN, RANDOMKEY and INFO keyspace answer byte for byte what Redis would without it; SWAPDB
 * is sent as a script that leaves the key in database 0 alone. */
#ifndef REDPAIR_HIDDEN_H
#define REDPAIR_HIDDEN_H

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"
#include "command.h"

/* Writes into out the command to send instead, for a command in database db; false: send it as is.
 */
bool hidden_rewrite(const struct command *cmd, int db, int argc, const char *const *argv,
                    const size_t *argl, struct buffer *out);
/* One of redpair's own keys, by name (the offset key, the fence key). */
bool hidden_key(const char *name, size_t len);
/* INFO text: the hidden keys fewer in "db0:keys=N,…" (the line goes when N reaches 0). */
void hidden_fix_info(const char *text, size_t len, struct buffer *out);

#endif
