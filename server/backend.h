/* A backend link: the single ordered connection from redpair to one Redis server.
 *
 * Everything bound for that server (writes from the sequencer, reads when it is primary, the
 * SELECTs that switch it to the right database) goes down this one connection in one order, and
 * Redis answers in that same order, so each reply is matched to the head of a FIFO of pending
 * requests.
 *
 * A server that stalls may apply what sits in its socket when it resumes. So a link cut because
 * its server stopped answering probes is not closed (backend_drop): it takes no more writes, but
 * reads on, matching the replies to what it sent and comparing each with the reply its client
 * was told; once all are answered alike, the server is known to hold exactly the writes up to
 * the last one sent, and rejoins from there (failover.c). Only a link lost with replies owed
 * (closed by the server, or still owing them after the server is back), or answered otherwise
 * than the client, leaves the answer to the offset key (BACKEND_OFFSET_KEY, in database 0), which
 * the server keeps along with its data. What the key promises is set by write-marks:
 *
 *   "N"   the server holds exactly the writes up to N: a link writes it once it is quiet (every
 *         write answered, none sent for QUIET_MS) and at shutdown;
 *   "N*"  any write may follow N (write-marks quiet): only a full copy is exact;
 *   "N+"  blind writes may follow N (write-marks every-run): replay from N+1.
 *
 * Two kinds of write reach a server:
 *
 *   marked  MULTI  w1 w2 … wn  [SELECT 0]  SET __redpair_stream_offset__ "<offset of wn>*|+"  EXEC
 *   bare    w
 *
 * Under write-marks quiet every write goes bare but the first after an exact mark (or on a new
 * connection): its transaction turns "N" into "N*", and once its EXEC says so the rest follow
 * bare. Under every-run a write whose effect depends on the data (INCR, LPUSH) is always marked:
 * it and the key move in one atomic step, and a run cut off mid-way is never applied. A blind
 * write (SET k v, MSET, DEL: blind.h) goes bare. So on a server the key names offset M, and the
 * writes it applied after M are all blind: replayed from M+1, they are applied again over their
 * own effects, which changes nothing (each sets its keys to what it sets them to, whatever they
 * held, and the last to set a key sets it again), and every write after them is applied once, in
 * order. Blind writes in a run that holds a marked one join its transaction. Blind writes go bare
 * only once the EXEC of a marked run has said that the key reads "N+" again; once more than
 * backlog-size/16 of them have gone bare, the next goes marked and moves the key, so a returning
 * server replays little and stays within the backlog.
 *
 * Only the exact form lets two servers that name the same offset at start-up be trusted to hold
 * the same data (failover.c). A mark refused (-OOM under maxmemory) leaves the key behind, never
 * ahead: replaying more, or copying, is always safe.
 *
 * Replies come back as +QUEUED for each write of a transaction, then one EXEC array, whose
 * elements are matched to the writes in order. Reads stay outside the transactions, except those
 * of a unit (unit.h): a client's MULTI … EXEC or a blocking command's attempt, which the
 * transaction keeps whole.
 *
 *   backend_send ──▶ [hold queue, while an effect write waits] ──▶ out ──▶ redis
 *   redis ──▶ in ──▶ reply framer ──▶ pending FIFO / EXEC elements ──▶ request_backend_reply
 */
#ifndef REDPAIR_BACKEND_H
#define REDPAIR_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "buffer.h"
#include "holdq.h"
#include "outbuf.h"
#include "resp.h"

struct request;

#define BACKEND_OFFSET_KEY "__redpair_stream_offset__"

enum backend_state {
    BACKEND_DOWN,        /* unreachable, or not yet examined */
    BACKEND_IN_SYNC,     /* holding every write of the stream */
    BACKEND_CATCHING_UP, /* replaying the backlog tail it missed, then in sync */
    BACKEND_RESYNCING,   /* being copied from the primary by Redis replication */
    BACKEND_STALE,       /* missed writes that cannot be replayed: never read from */
    BACKEND_MAINTENANCE, /* drained by the operator; its writes wait in the backlog */
};

enum pending_kind {
    PENDING_REPLY,    /* a request's reply, or a replayed write's (req NULL) */
    PENDING_INTERNAL, /* redpair's own command (AUTH, SELECT, the offset mark) */
    PENDING_IGNORED,  /* redpair's own command whose reply, even an error, changes nothing */
    PENDING_FENCE,    /* cluster mode: the epoch check (fence.h); nothing is written before it */
    PENDING_MULTI,
    PENDING_EXEC,
};

struct pending {
    struct request *req;
    uint64_t offset; /* stream offset of a write, 0 otherwise */
    uint8_t kind;
    bool queued; /* sent inside MULTI: +QUEUED first, the reply in the EXEC array */
    bool script; /* runs a script: the server may be busy until it answers */
    bool cut;    /* a write its request was answered without (backend_drop): only compared */
};

struct backend {
    int index;
    const char *name;
    const char *host;
    int port;

    enum backend_state state;
    bool enabled;   /* the link may connect: always alone; in a cluster, on the leader only */
    bool open;      /* tcp initialized and not closed */
    bool wire;      /* TCP connected */
    bool connected; /* and usable: in a cluster, once the epoch check passed */
    int db;         /* database selected on the connection */
    uint64_t acked_offset; /* last write it answered */
    uint64_t catch_up_to;  /* CATCHING_UP: in sync once acked_offset reaches it */
    char local_addr[64];   /* this link as the server lists it ("ip:port") */
    char lost_addr[64];    /* the last cut link, which the server may still be serving */
    char run_id[41];       /* the server's run_id when it last held the stream */

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

    bool tx_open;       /* a MULTI is on the wire, its EXEC not yet */
    bool tx_writes;     /* the open transaction holds a write: it ends with the offset mark */
    bool in_unit;       /* a unit (unit.h) is passing: the transaction stays open for it */
    uint64_t last_sent; /* offset of the last write sent on this connection, 0 for none */
    bool mark_dirty;    /* the key is known to say "N+" or "N*", not "N": writes may go bare */
    uint64_t exact_at;  /* offset of the last exact mark ("N") sent on this connection */
    bool wrote;         /* a write went out since the quiet timer last looked */
    size_t unmarked;    /* bytes of bare writes sent since the last mark */
    uv_timer_t quiet;   /* writes the exact mark once the link is quiet */
    bool draining;      /* cut, but still reading the replies it is owed (backend_drop) */
    bool drain_doubted; /* and a write's reply did not agree with the stream's: only its offset
                           key can say where it stands */
    bool drained;       /* a cut link was answered in full: the server holds up to drained_at */
    uint64_t drained_at;
    uv_timer_t drain;   /* closes a cut link still owing replies once the server is back */
    struct pending *tx; /* entries that answered +QUEUED, waiting for the EXEC array */
    size_t tx_len, tx_cap;
    long long exec_left; /* elements of the EXEC array still to match, -1 outside one */
    size_t exec_pos;
    /* Scripts sent and not yet answered. A server reads nothing more from the connection a
     * script of it came on until the script ends, so what follows on the link waits (SCRIPT
     * KILL goes on the monitor's connection); other connections get -BUSY past its
     * busy-reply-threshold, the monitor's probes among them (monitor.h). */
    unsigned scripts_out;

    struct holdq holds;
};

void backend_init(struct backend *b, int index, const char *name, const char *host, int port);
/* Lets the link connect (and reconnect whenever it is lost), or cuts it for good. In a cluster a
 * link connects only while the monitor's connection has fenced the server (monitor_fenced). */
void backend_enable(struct backend *b);
void backend_disable(struct backend *b, const char *why);
/* Cuts the link (the server stalls): its requests are answered as lost, and it reconnects once
 * the server has answered what it sent or is seen again without doing so. */
void backend_drop(struct backend *b, const char *why);
/* The server of a cut link answers its probes again. */
void backend_seen_again(struct backend *b);
/* Sends the stream does to this backend: in sync, or catching up behind its replay. */
static inline bool backend_in_stream(const struct backend *b)
{
    return b->state == BACKEND_IN_SYNC || b->state == BACKEND_CATCHING_UP;
}

/* Queues a request's bytes, preceded by a SELECT when the connection is on another database.
 * A write (req->offset set) goes into the current transaction. */
void backend_send(struct backend *b, struct request *req, int db, const char *bytes, size_t len);
/* Reserves a write's place in the stream; its bytes come later through backend_resolve. */
void backend_hold(struct backend *b, struct request *req, int db);
/* Supplies the bytes of a held write (len 0: nothing to send) and releases what queued behind. */
void backend_resolve(struct backend *b, struct request *req, const char *bytes, size_t len);
/* The unit being sent ends here: once what is held before this point has gone out, the link may
 * close its transaction again. */
void backend_unit_end(struct backend *b);
/* A write from the backlog, with no client waiting: its reply only moves acked_offset. */
void backend_replay(struct backend *b, uint64_t offset, int db, const char *bytes, size_t len);

void backend_flush(struct backend *b);
/* Writes the exact offset mark now if the link is quiet (shutting down). */
void backend_mark_exact(struct backend *b);
/* Sends, if the link is up, a command of redpair's whose reply does not matter (SCRIPT LOAD). */
void backend_send_ignored(struct backend *b, int argc, const char *const *argv, const size_t *argl);
const char *backend_state_name(enum backend_state s);

/* TLS for a new connection to a server when backend-tls is on (links, Pub/Sub, probes), else
 * NULL. */
struct tls *backend_tls_attach(const struct config *cfg, uv_stream_t *stream);

#endif
