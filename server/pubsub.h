/* Pub/Sub: a client that subscribes gets a connection of its own to the primary.
 *
 *  SUBSCRIBE a ──▶ redpair's set for the client ──▶ its connection ──▶ primary
 *                  (the confirmation, as Redis      (SUBSCRIBE a)
 *                   words it, waits for the primary's own)
 *  client ◀── "message" pushes, byte for byte ◀── its connection ◀── PUBLISH by anyone
 *
 * redpair keeps each subscriber's channels, patterns and shard channels, and answers the
 * (P|S)(UN)SUBSCRIBE confirmations from them exactly as Redis 7 words them. Each confirmation is
 * held until the primary has confirmed the same subscription, so a message published after a
 * client saw its confirmation reaches it. When the primary changes, or its connection drops, the
 * connection is made again to the current primary with every subscription at once; the client
 * sees no second confirmation. PUBLISH is a read: it goes to the primary alone (command.c). */
#ifndef REDPAIR_PUBSUB_H
#define REDPAIR_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct command;
struct request;

/* Redis's error for a command outside those a subscriber may send; %s is the command's name. */
#define PUBSUB_CONTEXT_ERROR                                                                       \
    "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "    \
    "allowed in this context"

/* (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE (LOCAL_SUBSCRIBE). */
void pubsub_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl);
/* True while the client holds any subscription: Redis's Pub/Sub context. */
bool pubsub_subscribed(const struct client *c);
/* What the client may send in that context (true outside it). */
bool pubsub_allows(const struct client *c, const struct command *cmd);
/* Its subscription counts, as CLIENT LIST shows them. */
/* Calls fn with each of c's subscriptions (pattern: a PSUBSCRIBE's) while it returns true;
 * whether all of them passed. */
typedef bool pubsub_each_fn(const char *name, size_t len, bool pattern, void *arg);
bool pubsub_each(const struct client *c, pubsub_each_fn *fn, void *arg);
void pubsub_counts(const struct client *c, int *channels, int *patterns, int *shard_channels);
/* RESET: every subscription dropped, without unsubscribe messages. */
void pubsub_reset(struct client *c);
/* The client is closing: its connection goes. */
void pubsub_client_closed(struct client *c);
/* The primary changed: every subscriber's connection moves to the new one. */
void pubsub_primary_changed(void);

#endif
