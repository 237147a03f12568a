/* MULTI … EXEC, queued in redpair.
 *
 *   MULTI            the client gets a queue; its commands now answer +QUEUED and wait in it
 *   bad command      its error, and the transaction is marked: EXEC will answer EXECABORT
 *   EXEC             a WATCH hit: the null array, nothing runs; otherwise the queue runs as one
 *                    unit (unit.h) at one point of the write stream, on both servers atomically,
 *                    and the client gets the array of its replies; if ACL rules changed since
 *                    MULTI, the commands the user may no longer run are left out of the unit and
 *                    answered NOPERM in their places, as Redis does
 *   DISCARD, RESET   the queue goes
 *
 * Reads and writes mix as in Redis; a transaction of reads only runs on the primary alone. */
#ifndef REDPAIR_TRANSACTION_H
#define REDPAIR_TRANSACTION_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct command;
struct request;

/* Whether cmd waits in c's queue: the client is inside MULTI, and cmd is not one Redis runs at
 * once there (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET). */
bool transaction_queues(const struct client *c, const struct command *cmd);
/* Queues the command (its multibulk) and answers r with +QUEUED, or with the reason it cannot
 * be queued, which aborts the transaction. */
void transaction_queue(struct client *c, struct request *r, const char *bytes, size_t len);
/* A command failed before it could be queued (unknown, wrong arity, NOAUTH): EXEC will abort. */
void transaction_reject(struct client *c);

void transaction_multi(struct client *c, struct request *r);
void transaction_exec(struct client *c, struct request *r);
void transaction_discard(struct client *c, struct request *r);
/* Whether c's queue holds a command CLIENT PAUSE WRITE holds. */
bool transaction_pausable(const struct client *c);
/* Commands queued by c, -1 outside MULTI (CLIENT LIST's multi=). */
int transaction_queued(const struct client *c);
/* Drops the queue, if any (RESET, a closed connection). */
void transaction_free(struct client *c);

#endif
