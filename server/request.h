/* A request is one client command on its way through redpair, from parse to reply.
 *
 * It sits in its client's reply queue, so replies go back in request order whatever order the
 * backends answer in, and in the pending FIFO of every backend link it was sent to. It is freed
 * when none of them holds it any more, so a client may disconnect while its writes are still
 * being acknowledged and compared. */
#ifndef REDPAIR_REQUEST_H
#define REDPAIR_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "buffer.h"
#include "command.h"

struct client;

struct request {
    struct client *client; /* NULL once the client has gone */
    struct request *next;  /* in the client's reply queue, or the free list */
    const struct command *cmd;
    uint64_t offset;   /* position in the write stream; 0 unless a write */
    uint64_t start_ns; /* stats_clock() when dispatched: the command's latency starts here */
    unsigned refs;     /* the client's queue, plus one per backend link holding it */
    uint8_t awaiting;  /* bit per backend index: replies still due for the acknowledgement */
    uint8_t holding;   /* bit per backend index: links holding this write for its effect */
    int8_t primary;    /* backend whose reply the client gets */
    int8_t reply_from; /* backend whose reply is in `reply`, -1 if none yet */
    int8_t other_from; /* backend whose reply is in `other`, -1 if none */
    bool ready;        /* `reply` is final: deliver when the request reaches the queue's head */
    bool info_ours;    /* INFO: redpair's section goes in front of the primary's (info.h) */
    bool unit;         /* an element of a unit: runs inside the links' open transactions */
    bool by_effect;    /* a write whose copies on the other backends wait for the primary's */
    bool lost_in_sync; /* write: an in-sync backend's link was lost before it answered */
    bool ack_held;     /* cluster mode: answered, but held until the loss is committed */
    bool probing;      /* and for the probe's reply after it (rewrite_probe) */
    bool fanout;       /* sent to every server, answered from all their replies (fanout.h) */
    bool silent;       /* CLIENT REPLY OFF or SKIP: the reply is dropped, not delivered */
    bool uncounted;    /* not a command run: +QUEUED, redpair's own (INFO commandstats) */
    /* The reply is final: a last look before it goes (CONFIG GET, CONFIG SET), NULL for none. */
    void (*on_ready)(struct request *r);
    bool blind; /* a write that is harmless to apply again (blind.h): it may go bare */
    /* A request redpair makes for a client (a unit's element, unit.h): the reply goes to done()
     * instead of a reply queue. */
    void (*done)(struct request *r);
    void *owner;
    struct buffer reply;
    struct buffer other;  /* write: the first reply of a non-primary backend, kept to compare */
    struct buffer effect; /* write mirrored by effect: the request as the primary got it */
};

struct request *request_new(struct client *c, const struct command *cmd);
void request_ref(struct request *r);
void request_unref(struct request *r);

/* The reply is final: `reply` holds it. Hands it to the client when its turn comes. */
void request_ready(struct request *r);
/* A read's reply (or a local one) arrived: copy it and make the request ready. */
void request_reply(struct request *r, const char *reply, size_t len);
void request_error(struct request *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A timeout argument as Redis reads one (WAIT, CLIENT PAUSE): false, with r answered Redis's
 * error, when it is not an integer or is negative. */
bool request_timeout(struct request *r, const char *arg, size_t len, long long *timeout);

/* Called when a backend link delivers, or loses, its part of a request. */
void request_backend_reply(struct request *r, int backend, const char *reply, size_t len);
void request_backend_lost(struct request *r, int backend);

#endif
