/* Client-side caching: CLIENT TRACKING, kept by redpair for its own clients.
 *
 * redpair speaks RESP2, so invalidations travel as Redis sends them to a RESP2 client: as
 * `message`s on `__redis__:invalidate` to the client named by REDIRECT, which has subscribed to
 * that channel.
 *
 *   default mode   a read by a tracking client remembers its keys; the next write naming one
 *                  sends its name to every client that read it, and forgets it
 *   BCAST          every write naming a key under one of the client's prefixes (all keys without
 *                  one); the names of a loop turn go together in one message, as Redis batches
 *                  them before it sleeps
 *   FLUSHDB/ALL    a null: every cached key is gone
 *
 * OPTIN and OPTOUT with CLIENT CACHING choose which reads are remembered, NOLOOP leaves out what
 * the client wrote itself, as in Redis. */
#ifndef REDPAIR_TRACKING_H
#define REDPAIR_TRACKING_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct command;
struct request;

/* CLIENT TRACKING, CLIENT TRACKINGINFO, CLIENT GETREDIR, CLIENT CACHING. */
void tracking_command(struct client *c, struct request *r, int argc, const char *const *argv,
                      const size_t *argl);
void tracking_info(const struct client *c, struct request *r);
void tracking_getredir(const struct client *c, struct request *r);
void tracking_caching(struct client *c, struct request *r, const char *arg, size_t len);

bool tracking_any(void);
/* A read by c: remembers its keys if c tracks them. */
void tracking_read(struct client *c, const struct command *cmd, int argc, const char *const *argv,
                   const size_t *argl);
/* A command of c's is done: CLIENT CACHING held for that one only. */
void tracking_command_done(struct client *c, const struct command *cmd);
/* writer (NULL if none) wrote key: invalidations. */
void tracking_touch_key(const struct client *writer, const char *key, size_t len);
void tracking_touch_all(void);
/* Sends the BCAST invalidations of this loop turn. */
void tracking_flush(void);
void tracking_client_closed(struct client *c);

#endif
