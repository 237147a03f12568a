/* MONITOR: the commands redpair runs, as Redis's MONITOR lines, to every monitoring client.
 *
 *   +1700000000.123456 [0 127.0.0.1:50000] "SET" "k" "v"
 *
 * A command is shown once it has been run for its client, in the database it left the client in,
 * as Redis shows it: not one refused before it runs (unknown, wrong arity, NOAUTH), nor one
 * flagged admin (CONFIG, SAVE, MONITOR …); a transaction's commands as EXEC runs them, before
 * the EXEC. AUTH's and HELLO's credentials show as "(redacted)". The commands scripts run on
 * the servers are theirs, not shown here. A monitoring client keeps sending commands, but none
 * that reads or writes keys ("Replica can't interact with the keyspace", as from Redis). */
#ifndef REDPAIR_MONITOR_FEED_H
#define REDPAIR_MONITOR_FEED_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct command;
struct request;

/* MONITOR. */
void monitor_feed_start(struct client *c, struct request *r);
/* Client c just ran cmd (argv as it sent it). */
void monitor_feed(const struct client *c, const struct command *cmd, int argc,
                  const char *const *argv, const size_t *argl);
/* What a monitoring client may still send. */
bool monitor_feed_allows(const struct command *cmd);
/* The client is closing, or RESET: it monitors no more. */
void monitor_feed_client_closed(struct client *c);

#endif
