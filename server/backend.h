/* A backend link: the single ordered connection from redpair to one Redis server.
 *
 * Everything bound for that server (writes from the sequencer, reads when it is primary, the
 * SELECTs that switch it to the right database) goes down this one connection in one order, and
 * Redis answers in that same order, so each reply is matched to the head of a FIFO of pending
 * requests. A write whose copy for this server depends on another server's reply (SPOP mirrored as
 * SREM) holds the link: later commands queue behind it until backend_resolve() supplies its
 * bytes, so this server still applies the stream in order.
 *
 *   backend_send ──▶ [held queue, only while a hold is open] ──▶ out ──▶ redis
 *   redis ──▶ in ──▶ reply framer ──▶ pending FIFO head ──▶ request_backend_reply
 */
#ifndef REDPAIR_BACKEND_H
#define REDPAIR_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buffer.h"
#include "outbuf.h"
#include "resp.h"

struct request;

enum backend_state {
    BACKEND_DOWN,    /* not connected, or connected but not yet known to be equal */
    BACKEND_IN_SYNC, /* connected and holding every write of the stream */
    BACKEND_STALE,   /* missed writes: never read from until resynced */
};

struct pending {
    struct request *req; /* NULL for redpair's own commands (SELECT, AUTH) */
};

struct held {
    struct request *req;
    int db;
    bool resolved;
    struct buffer bytes; /* empty when resolved to nothing */
    struct held *next;
};

struct backend {
    int index;
    const char *name;
    const char *host;
    int port;

    enum backend_state state;
    bool connected;
    bool missed_writes; /* a write was sequenced while this backend was out */
    int db;             /* database selected on the connection */
    uint64_t acked_offset;

    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_timer_t retry;
    struct buffer in;
    struct resp_reply framer;
    struct outbuf out;
    bool dirty;
    struct backend *next_dirty;

    struct pending *fifo; /* ring buffer */
    size_t fifo_head, fifo_len, fifo_cap;

    struct held *held_head, *held_tail;
};

void backend_init(struct backend *b, int index, const char *name, const char *host, int port);
void backend_connect(struct backend *b);

/* Queues a request's bytes, preceded by a SELECT when the connection is on another database. */
void backend_send(struct backend *b, struct request *req, int db, const char *bytes, size_t len);
/* Reserves the request's place in the stream; its bytes come later through backend_resolve. */
void backend_hold(struct backend *b, struct request *req, int db);
/* Supplies the bytes of a held request (len 0: nothing to send) and releases what queued behind. */
void backend_resolve(struct backend *b, struct request *req, const char *bytes, size_t len);

void backend_flush(struct backend *b);
const char *backend_state_name(enum backend_state s);

#endif
