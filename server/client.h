/* A client connection: reads RESP, parses command by command, dispatches each as a request and
 * writes the replies back in request order. */
#ifndef REDPAIR_CLIENT_H
#define REDPAIR_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buffer.h"
#include "outbuf.h"
#include "resp.h"

struct acl_user;
struct blocked;
struct command;
struct keylink;
struct pubsub;
struct request;
struct tracking;
struct transaction;

struct client {
    uv_tcp_t tcp;
    uint64_t id;
    int db;
    bool authenticated;
    struct acl_user *user; /* whose rights apply (acl.h); NULL once ACL DELUSER removed it */
    bool closing;          /* reply what is queued, then close (QUIT, protocol error) */
    bool closed;           /* uv_close called */
    bool reading;          /* paused while too much is owed to it */
    struct buffer in;
    struct resp_request parser;
    struct outbuf out;
    uint64_t soft_limit_since; /* ms when the output first exceeded the soft limit, 0 if not */

    struct request *head, *tail; /* replies owed, in request order */
    unsigned queued;

    const char **argv; /* scratch for the command being dispatched */
    size_t *argl;
    int argv_cap;
    struct buffer scratch;   /* rewritten commands */
    struct buffer multibulk; /* an inline command, as a multibulk */

    /* What CLIENT LIST shows and CLIENT, HELLO and RESET change (client_commands.h). */
    char *name;                     /* CLIENT SETNAME; NULL when none */
    uint64_t created_ms, last_ms;   /* uv_now() at accept and at its latest command */
    const struct command *last_cmd; /* NULL before the first, or after an unknown one */
    bool no_evict;
    /* CLIENT REPLY: OFF drops every reply, SKIP the next command's; `silent` is the command
     * being run's, which its requests take. */
    bool reply_off, reply_skip_next, silent;
    bool postponed;            /* held by CLIENT PAUSE: input waits (pause.h) */
    bool monitoring;           /* MONITOR: fed every command run (monitor_feed.h) */
    struct pubsub *pubsub;     /* while subscribed: its connection to the primary (pubsub.h) */
    struct transaction *tx;    /* inside MULTI: the queued commands (transaction.h) */
    struct keylink *watching;  /* WATCHed keys (watch.h) */
    bool watch_touched;        /* one of them was written since */
    struct blocked *blocked;   /* parked on a blocking command: input waits (blocked.h) */
    struct tracking *tracking; /* CLIENT TRACKING on (tracking.h) */

    bool dirty;
    struct client *next_dirty;
    struct client *prev, *next;
};

void client_accept(uv_stream_t *listener);
/* Delivers the ready replies at the head of the queue into the output. */
void client_deliver(struct client *c);
void client_append(struct client *c, const char *bytes, size_t len);
void client_flush(struct client *c);
void client_close(struct client *c);
/* The client with this id (CLIENT ID), or NULL. */
struct client *client_find(uint64_t id);
/* Stops and restarts reading every client (nested): while a new epoch is being stored, or a
 * resync holds the stream, their commands wait in the kernel's buffers. */
void client_pause_all(void);
void client_resume_all(void);
/* Shutdown: no client is read any more, and each is closed once the replies it is owed are
 * written. */
void client_drain_all(void);
/* Runs a resolved command for c, answering r: locally, as a read, or as a write through the
 * sequencer. bytes is its multibulk. */
void client_execute(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl, const char *bytes, size_t len);
/* A blocking command was answered: the commands that waited behind it go on. */
void client_unblocked(struct client *c);
/* Sends a read to the primary, or answers the request with an error when there is none. */
void client_send_read(struct client *c, struct request *r, const char *bytes, size_t len);

#endif
