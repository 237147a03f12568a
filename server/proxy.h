/* The proxy: the one process-wide state of the data path, as Redis has its `server`.
 *
 *  client ──RESP──▶ client.c ──parse──▶ command table ──┬─ read ─────────────▶ primary link
 *                                                       ├─ write ─▶ sequencer ─┬▶ link a
 *                                                       │                      └▶ link b
 *                                                       └─ local (local.c)
 *  client ◀── reply in request order ◀── request.c ◀── pending FIFO per link (backend.c)
 *
 * Everything runs on one libuv loop in one thread. Output is flushed once per loop turn, from a
 * prepare handle, so all the replies and requests produced in one turn leave in one write per
 * connection. */
#ifndef REDPAIR_PROXY_H
#define REDPAIR_PROXY_H

#include <stdint.h>
#include <uv.h>

#include "backend.h"
#include "command.h"
#include "config.h"

struct client;

struct proxy {
    uv_loop_t *loop;
    struct config *config;
    struct command_table *commands;
    struct backend backends[CONFIG_BACKENDS];
    int primary; /* index of the backend reads go to, -1 when none is in sync */

    uint64_t stream_offset; /* writes sequenced so far */
    uint64_t divergences;
    uint64_t commands_processed;
    uint64_t start_ms;

    uv_tcp_t listeners[2 * CONFIG_MAX_BIND]; /* port's on each bind address, then tls-port's */
    int listener_count;
    uv_prepare_t flusher;
    unsigned paused; /* clients are not read while a new epoch is stored or a resync holds */

    struct client *clients; /* doubly linked */
    int client_count;
    uint64_t next_client_id;
    struct client *dirty_clients;
    struct backend *dirty_backends;
};

extern struct proxy proxy;

int proxy_start(uv_loop_t *loop, struct config *config, struct command_table *commands);
void proxy_mark_backend_dirty(struct backend *b);
void proxy_mark_client_dirty(struct client *c);
void proxy_forget_client(struct client *c); /* off the dirty list: it is closing */
/* Starts listening (once). */
void proxy_open_doors(void);
uint64_t proxy_now_ms(void);
/* The listener is tls-port's: its clients speak TLS. */
bool proxy_listener_tls(const uv_stream_t *listener);
const char *proxy_backend_name(int index);

#endif
