/* CONFIG through redpair: the pair's settings changed as one Redis's.
 *
 *   CONFIG GET p      ──▶ the primary; the settings of the connection a client has (port, bind,
 *                         requirepass) are redpair's own, the servers' credentials are not shown
 *   CONFIG SET p v …  ──▶ refused with the reason when the setting must differ per server or
 *                         would break redpair (port, dir, requirepass, timeout, …); otherwise a
 *                         write: both servers change at the same point of the stream and their
 *                         replies are compared. What the primary took is remembered, and sent to
 *                         a server copied by a full resync (a restarted one, say) before it
 *                         rejoins, so both keep the same settings (in a cluster, the log keeps
 *                         them too, so a new leader knows them)
 *   CONFIG RESETSTAT, CONFIG REWRITE: every server's own (fanout.h)
 *
 * redpair's own directives are not Redis's: they are the admin API's (GET/PATCH /api/v1/config). */
#ifndef REDPAIR_CONFIG_COMMANDS_H
#define REDPAIR_CONFIG_COMMANDS_H

#include <stddef.h>

struct backend;
struct client;
struct request;

/* CONFIG GET and CONFIG SET (LOCAL_CONFIG). */
void config_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl);
/* Sends every remembered CONFIG SET down b's link, ahead of any write it will get. */
void config_commands_apply(struct backend *b);
/* Cluster mode: a leader that takes over remembers what the cluster's log holds. */
struct cluster_state;
void config_commands_adopt(const struct cluster_state *st);

#endif
