/* TLS over libuv streams (OpenSSL with memory BIOs), the same small API for every connection
 * type: client port, admin API, backend links, probes, cluster peers and the follower's relay.
 *
 * A plain connection has a NULL `struct tls *` and goes straight to libuv (tls_read_start and
 * friends below pick); a TLS one reads and writes plaintext through the same callbacks it would
 * give libuv, so its owner's code is the plain code. */
#ifndef REDPAIR_TLS_H
#define REDPAIR_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct config;
struct tls;

/* The contexts a process holds, each built from the configuration (tls_configure). */
enum tls_kind {
    TLS_CLIENTS,  /* server side of tls-port: client certificates per tls-auth-clients */
    TLS_ADMIN,    /* server side of the admin API (admin-tls): no client certificates */
    TLS_PEERS,    /* server side of the cluster port (cluster-tls): mutual TLS */
    TLS_BACKENDS, /* client side of links to the servers (backend-tls) */
    TLS_NODE,     /* client side, with the node's own certificate: to cluster peers, to the
                     leader's client port (relay) */
    TLS_KINDS
};

/* Builds every context the configuration asks for. On failure nothing changes and err says
 * which file and why. Called at start-up and on SIGHUP: connections made from then on use the
 * new contexts, existing ones keep theirs. */
bool tls_configure(const struct config *cfg, char *err, size_t errlen);
/* A context of this kind is configured. */
bool tls_enabled(enum tls_kind kind);
void tls_shutdown_all(void);

/* Starts TLS on a connected stream (a uv_tcp_t): server side for the server kinds, client side
 * for the others, with SNI and name check for `server_name` when not NULL. Never NULL. */
struct tls *tls_attach(uv_stream_t *stream, enum tls_kind kind, const char *server_name);
/* Frees it: call from the stream's close callback (libuv has cancelled its writes by then). */
void tls_free(struct tls *t);

/* As uv_read_start: `read` gets plaintext in buffers from `alloc`, and nread < 0 when the peer
 * closed (UV_EOF) or TLS failed (UV_EPROTO, logged once with the peer and OpenSSL's reason). */
int tls_read_start_tls(struct tls *t, uv_alloc_cb alloc, uv_read_cb read);
void tls_read_stop_tls(struct tls *t);
/* Ciphertext as read from the socket (what tls_read_start's own read callback does): runs the
 * handshake and hands plaintext to the read callback. For the fuzzer, which feeds bytes itself. */
void tls_feed(struct tls *t, const char *cipher, size_t len);
/* Encrypts and sends; before the handshake completes the plaintext waits. `done`, when not NULL,
 * is called as a uv_write callback for each write libuv had to queue. Returns 0 or a libuv
 * error code. */
int tls_write(struct tls *t, const char *bytes, size_t len, uv_write_cb done);
/* Plaintext waiting for the handshake plus ciphertext libuv holds: for flow control. */
size_t tls_unsent(const struct tls *t);
/* Sends close_notify, as far as the socket takes it now. */
void tls_close_notify(struct tls *t);

/* For code that takes a plain uv stream and reads and writes it itself (libraft's transport, the
 * follower's relay): a socketpair whose one end comes back as a uv_pipe_t (from `alloc`, closed
 * and freed by its new owner) while this module pumps bytes between its other end and the TLS
 * connection, which it owns from now on (closed and freed with `release`). Either side closing
 * closes the other. Returns NULL (tcp closed) when no socketpair could be made. */
uv_stream_t *tls_bridge(uv_tcp_t *tcp, struct tls *t, void *(*alloc)(size_t),
                        void (*release)(void *));

/* The plain-or-TLS choice, for the owners of streams. */
static inline int tls_read_start(uv_stream_t *s, struct tls *t, uv_alloc_cb alloc, uv_read_cb read)
{
    return t ? tls_read_start_tls(t, alloc, read) : uv_read_start(s, alloc, read);
}

static inline void tls_read_stop(uv_stream_t *s, struct tls *t)
{
    if (t)
        tls_read_stop_tls(t);
    else
        uv_read_stop(s);
}

/* Blocking client side on a connected socket, for start-up's command learning only (the loop
 * is not running yet). Returns NULL with err set. */
struct tls_blocking;
struct tls_blocking *tls_blocking_connect(int fd, enum tls_kind kind, const char *server_name,
                                          char *err, size_t errlen);
int tls_blocking_write(struct tls_blocking *b, const void *bytes, size_t len);
int tls_blocking_read(struct tls_blocking *b, void *bytes, size_t len);
void tls_blocking_free(struct tls_blocking *b);

#endif
