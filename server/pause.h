/* CLIENT PAUSE timeout [WRITE|ALL] and CLIENT UNPAUSE: redpair holds its own clients, as Redis
 * holds its; the servers go on as ever (their keys still expire).
 *
 *   a command of a client, while paused ─▶ ALL: held;  WRITE: held if it writes or may
 *                                          (command_pausable), or is the EXEC of a transaction
 *                                          holding one
 *   held ─▶ its input waits, unparsed further; CLIENT LIST shows it blocked ('b')
 *   the timeout, or CLIENT UNPAUSE ─▶ every held client goes on, in the order it was held
 *
 * As in Redis, a later CLIENT PAUSE sets the mode and moves the end only later. */
#ifndef REDPAIR_PAUSE_H
#define REDPAIR_PAUSE_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct command;
struct request;

/* Whether cmd from c must wait for the pause to end; if so c is held. */
bool pause_holds(struct client *c, const struct command *cmd);
/* CLIENT PAUSE timeout [WRITE|ALL]. */
void pause_command(struct request *r, int argc, const char *const *argv, const size_t *argl);
/* CLIENT UNPAUSE, or the timeout: every held client goes on. */
void pause_end(void);
void pause_client_closed(struct client *c);
/* Clients held right now (INFO's blocked_clients counts them, as Redis does). */
unsigned pause_held(void);

#endif
