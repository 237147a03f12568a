/* Blocking commands (BLPOP and its family, XREAD and XREADGROUP with BLOCK), parked in redpair.
 *
 * A blocking command cannot wait inside a backend: everything behind it on that link would wait
 * too. So the client is parked here instead, and the command is tried as a unit (unit.h): inside
 * the links' MULTI, where Redis runs a blocking command without blocking.
 *
 *   BLPOP k 5 ─▶ park: on k's list, timer set, the client's input held
 *             ─▶ attempt ─▶ data: the reply is the client's, it goes on
 *                         └▶ nil:  it stays parked
 *   a write naming k passes the sequencer ─▶ every client parked on k, longest waiter first,
 *                                            tries again once the command that wrote is
 *                                            sequenced (a whole EXEC, a whole script): the
 *                                            attempts enter the stream right after it, in that
 *                                            order, so the first gets the data
 *   the timer ─▶ the null array, as Redis answers a timeout
 *
 * A retry names the keys written since the last attempt first, in the order they were written,
 * so a client waiting on several is served from the one that became ready first, as in Redis.
 * XREAD's `$` means "entries after the last one now": the first attempt reads each such stream's
 * last ID in the same unit, and the retries ask for entries after it. An XREADGROUP retry reads
 * its streams' types too, to tell a waiter that its stream or its group went, as Redis does. */
#ifndef REDPAIR_BLOCKED_H
#define REDPAIR_BLOCKED_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct command;
struct request;

/* Parks c on the command of r (argv, and bytes its multibulk) for timeout_ms (0: for ever, -1:
 * Redis will answer the first attempt with its error), and makes the first attempt. */
void blocked_start(struct client *c, struct request *r, int argc, const char *const *argv,
                   const size_t *argl, const char *bytes, size_t len, long long timeout_ms);
bool blocked_any(void);
/* Whether a write of cmd by writer may serve a parked client. A blocking command's own attempt
 * does not: it only takes, and what a move gives, its reply tells. Run in a transaction, a move
 * gives as LMOVE does. Making or moving a consumer group does not either: Redis wakes a stream's
 * readers for new entries, or when their group goes. */
bool blocked_wakes(const struct client *writer, const struct command *cmd);
/* A write named the key (or changed the whole db): the clients parked on it try again at the
 * next blocked_run_retries(). */
void blocked_touch_key(int db, const char *key, size_t len);
void blocked_touch_db(int db);
/* Sends the attempts the writes so far called for: after each client command, and before the
 * links are flushed for what replies woke (a BLMOVE that filled its destination). */
void blocked_run_retries(void);
/* CLIENT UNBLOCK: ends c's wait as a timeout would, or with -UNBLOCKED. False if c is not
 * parked. */
bool blocked_unblock(struct client *c, bool error);
/* The parked client's connection closed. */
void blocked_client_closed(struct client *c);
/* Parked clients right now (INFO's blocked_clients). */
unsigned blocked_count(void);

#endif
