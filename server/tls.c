/* TLS over libuv streams (tls.h): OpenSSL never touches the socket, two memory BIOs stand
 * between it and libuv, so TLS lives on the loop like any other parser.
 *
 *   socket ─uv_read─▶ cipher ─BIO_write─▶ [rbio] ─SSL_read──▶ owner's alloc/read callbacks
 *                                                    (handshake records ──▶ wbio, sent at once)
 *   owner ─tls_write─▶ (waits in `early` until the handshake is done) ─SSL_write─▶ [wbio]
 *                      ─BIO_read─▶ uv_try_write, the rest uv_write ─▶ socket
 *
 * Ciphertext goes through libuv's own write queue, so stream->write_queue_size is what the
 * owner's flow control sees (tls_unsent). Plaintext SSL already decrypted while the owner had
 * stopped reading is handed over on a later loop turn once it reads again (`drain`), never from
 * inside tls_read_start, which an owner calls from the middle of its own processing. */
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "buffer.h"
#include "config.h"
#include "log.h"

#define CIPHER_CHUNK (16 * 1024 + 512) /* one TLS record and its overhead */
#define PLAIN_CHUNK  (16 * 1024)

struct tls {
    SSL *ssl;
    BIO *rbio, *wbio;
    uv_stream_t *stream;
    enum tls_kind kind;
    uv_alloc_cb alloc;
    uv_read_cb read;
    uv_write_cb done;
    struct buffer early; /* plaintext written before the handshake completed */
    bool reading, failed, draining;
    struct tls *next_drain;
};

/* One ciphertext write libuv queued; its bytes follow. */
struct cipher_write {
    uv_write_t req;
    uv_write_cb done;
    char bytes[];
};

static SSL_CTX *contexts[TLS_KINDS];
static struct tls *drain_list;
static uv_idle_t drainer;
static bool drainer_ready;
static char cipher_in[CIPHER_CHUNK]; /* one loop thread: every read lands here, then in a BIO */

/* Streams to their TLS: libuv's callbacks know the stream only, and its data is the owner's.
 * Open addressing, linear probing, deletion by shifting back. */
static struct {
    struct tls **slots;
    size_t cap, used;
} by_stream;

static size_t slot_of(const uv_stream_t *s)
{
    uintptr_t h = (uintptr_t)s;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 7) & (by_stream.cap - 1);
}

static void map_put(struct tls *t)
{
    if ((by_stream.used + 1) * 2 > by_stream.cap) {
        struct tls **old = by_stream.slots;
        size_t old_cap = by_stream.cap;
        by_stream.cap = old_cap ? old_cap * 2 : 64;
        by_stream.slots = calloc(by_stream.cap, sizeof(*by_stream.slots));
        if (!by_stream.slots) abort();
        by_stream.used = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) map_put(old[i]);
        free(old);
    }
    size_t i = slot_of(t->stream);
    while (by_stream.slots[i]) i = (i + 1) & (by_stream.cap - 1);
    by_stream.slots[i] = t;
    by_stream.used++;
}

static struct tls *map_get(const uv_stream_t *s)
{
    for (size_t i = slot_of(s); by_stream.slots[i]; i = (i + 1) & (by_stream.cap - 1))
        if (by_stream.slots[i]->stream == s) return by_stream.slots[i];
    return NULL;
}

static void map_del(const struct tls *t)
{
    size_t mask = by_stream.cap - 1, i = slot_of(t->stream);
    while (by_stream.slots[i] != t) i = (i + 1) & mask;
    by_stream.slots[i] = NULL;
    by_stream.used--;
    for (size_t j = (i + 1) & mask; by_stream.slots[j]; j = (j + 1) & mask) {
        size_t home = slot_of(by_stream.slots[j]->stream);
        /* j's entry may move to the hole when its home is not between the hole and j */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            by_stream.slots[i] = by_stream.slots[j];
            by_stream.slots[j] = NULL;
            i = j;
        }
    }
}

static void pump(struct tls *t);

static const char *const kind_names[TLS_KINDS] = {"client", "admin client", "cluster peer",
                                                  "backend", "cluster node"};

/* ---------------------------------------------------------------------------------------------
 * Contexts.
 * ------------------------------------------------------------------------------------------- */

static bool ssl_fail(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "%s '%s': %s", what, file ? file : "", reason ? reason : "unknown error");
    ERR_clear_error();
    return false;
}

static int key_password(char *buf, int size, int rwflag, void *pass)
{
    (void)rwflag;
    if (!pass) return 0;
    int n = (int)strlen(pass);
    if (n >= size) return 0;
    memcpy(buf, pass, (size_t)n);
    return n;
}

static bool load_pair(SSL_CTX *ctx, const char *cert, const char *key, const char *pass, char *err,
                      size_t errlen)
{
    SSL_CTX_set_default_passwd_cb(ctx, key_password);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)pass);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return ssl_fail(err, errlen, "cannot load certificate", cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        return ssl_fail(err, errlen, "cannot load private key", key);
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "private key '%s' does not match certificate '%s'", key, cert);
        ERR_clear_error();
        return false;
    }
    return true;
}

static bool load_ca(SSL_CTX *ctx, const char *file, const char *dir, char *err, size_t errlen)
{
    if (!file && !dir) return true;
    if (SSL_CTX_load_verify_locations(ctx, file, dir) != 1)
        return ssl_fail(err, errlen, "cannot load CA certificates", file ? file : dir);
    return true;
}

/* By tls-protocols' bits: config.c's protocol names, in their order. */
static const int protocol_versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                        TLS1_3_VERSION};

/* tls-protocols as OpenSSL's lowest and highest version (gaps between are not expressible). */
static void set_protocols(SSL_CTX *ctx, int mask)
{
    int lo = 0, hi = 0;
    for (size_t i = 0; i < sizeof(protocol_versions) / sizeof(protocol_versions[0]); i++) {
        if (!(mask & (1 << i))) continue;
        if (!lo) lo = protocol_versions[i];
        hi = protocol_versions[i];
    }
    if (!mask) { /* as Redis: TLSv1.2 and TLSv1.3 */
        lo = TLS1_2_VERSION;
        hi = TLS1_3_VERSION;
    }
    SSL_CTX_set_min_proto_version(ctx, lo);
    SSL_CTX_set_max_proto_version(ctx, hi);
}

static bool common(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen)
{
    set_protocols(ctx, cfg->tls_protocols);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (cfg->tls_ciphers && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1)
        return ssl_fail(err, errlen, "invalid tls-ciphers", cfg->tls_ciphers);
    if (cfg->tls_ciphersuites && SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1)
        return ssl_fail(err, errlen, "invalid tls-ciphersuites", cfg->tls_ciphersuites);
    return true;
}

static SSL_CTX *server_context(const struct config *cfg, int verify, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_fail(err, errlen, "cannot create a TLS context", "server");
        return NULL;
    }
    bool ok = common(ctx, cfg, err, errlen) &&
              load_pair(ctx, cfg->tls_cert_file, cfg->tls_key_file, cfg->tls_key_file_pass, err,
                        errlen) &&
              (verify == SSL_VERIFY_NONE ||
               load_ca(ctx, cfg->tls_ca_cert_file, cfg->tls_ca_cert_dir, err, errlen));
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, verify, NULL);
    if (cfg->tls_prefer_server_ciphers) SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (cfg->tls_session_caching) {
        static const unsigned char sid[] = "redpair";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    return ctx;
}

static SSL_CTX *client_context(const struct config *cfg, const char *cert, const char *key,
                               const char *pass, const char *ca, const char *ca_dir, char *err,
                               size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ssl_fail(err, errlen, "cannot create a TLS context", "client");
        return NULL;
    }
    bool ok = common(ctx, cfg, err, errlen) &&
              (!cert || load_pair(ctx, cert, key, pass, err, errlen)) &&
              load_ca(ctx, ca, ca_dir, err, errlen);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

bool tls_configure(const struct config *cfg, char *err, size_t errlen)
{
    SSL_CTX *fresh[TLS_KINDS] = {0};
    bool node = cfg->tls_cert_file && cfg->tls_key_file;
    bool ok = true;
    if (ok && cfg->tls_port) {
        int verify = cfg->tls_auth_clients == TLS_AUTH_NO ? SSL_VERIFY_NONE
                     : cfg->tls_auth_clients == TLS_AUTH_YES
                         ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                         : SSL_VERIFY_PEER;
        ok = (fresh[TLS_CLIENTS] = server_context(cfg, verify, err, errlen)) != NULL;
    }
    if (ok && cfg->admin_tls)
        ok = (fresh[TLS_ADMIN] = server_context(cfg, SSL_VERIFY_NONE, err, errlen)) != NULL;
    if (ok && cfg->cluster_tls)
        ok = (fresh[TLS_PEERS] = server_context(
                  cfg, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, err, errlen)) != NULL;
    if (ok && cfg->backend_tls) {
        bool own = cfg->backend_tls_cert_file != NULL;
        const char *ca =
            cfg->backend_tls_ca_cert_file ? cfg->backend_tls_ca_cert_file : cfg->tls_ca_cert_file;
        fresh[TLS_BACKENDS] = client_context(
            cfg, own ? cfg->backend_tls_cert_file : cfg->tls_cert_file,
            own ? cfg->backend_tls_key_file : cfg->tls_key_file,
            own ? NULL : cfg->tls_key_file_pass, ca,
            cfg->backend_tls_ca_cert_file ? NULL : cfg->tls_ca_cert_dir, err, errlen);
        ok = fresh[TLS_BACKENDS] != NULL;
    }
    if (ok && node && (cfg->cluster_tls || cfg->tls_port || config_clustered(cfg)))
        ok = (fresh[TLS_NODE] =
                  client_context(cfg, cfg->tls_cert_file, cfg->tls_key_file, cfg->tls_key_file_pass,
                                 cfg->tls_ca_cert_file, cfg->tls_ca_cert_dir, err, errlen)) != NULL;
    for (int i = 0; i < TLS_KINDS; i++) {
        if (!ok) {
            SSL_CTX_free(fresh[i]);
            continue;
        }
        SSL_CTX_free(contexts[i]); /* connections made with it hold their own reference */
        contexts[i] = fresh[i];
    }
    return ok;
}

bool tls_enabled(enum tls_kind kind)
{
    return contexts[kind] != NULL;
}

void tls_shutdown_all(void)
{
    for (int i = 0; i < TLS_KINDS; i++) {
        SSL_CTX_free(contexts[i]);
        contexts[i] = NULL;
    }
    if (drainer_ready) uv_close((uv_handle_t *)&drainer, NULL);
    drainer_ready = false;
}

/* ---------------------------------------------------------------------------------------------
 * Connections.
 * ------------------------------------------------------------------------------------------- */

static bool is_server(enum tls_kind kind)
{
    return kind == TLS_CLIENTS || kind == TLS_ADMIN || kind == TLS_PEERS;
}

struct tls *tls_attach(uv_stream_t *stream, enum tls_kind kind, const char *server_name)
{
    struct tls *t = calloc(1, sizeof(*t));
    if (!t || !contexts[kind]) abort();
    t->ssl = SSL_new(contexts[kind]);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) abort();
    BIO_set_mem_eof_return(t->rbio, -1); /* empty means "more to come", not end of stream */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    t->stream = stream;
    t->kind = kind;
    map_put(t);
    if (is_server(kind)) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (server_name) {
            SSL_set_tlsext_host_name(t->ssl, server_name);
            SSL_set1_host(t->ssl, server_name);
        }
        pump(t); /* the client speaks first: its hello goes now */
    }
    return t;
}

void tls_free(struct tls *t)
{
    if (!t) return;
    map_del(t);
    if (t->draining)
        for (struct tls **p = &drain_list; *p; p = &(*p)->next_drain)
            if (*p == t) {
                *p = t->next_drain;
                break;
            }
    SSL_free(t->ssl); /* and both BIOs */
    buffer_free(&t->early);
    free(t);
}

size_t tls_unsent(const struct tls *t)
{
    return buffer_len(&t->early) + t->stream->write_queue_size;
}

static void on_cipher_written(uv_write_t *w, int status)
{
    struct cipher_write *cw = (struct cipher_write *)w;
    if (cw->done) cw->done(w, status);
    free(cw);
}

/* Sends what OpenSSL has produced; `queue` skips uv_try_write, so that `done` is called once the
 * bytes are out (plaintext that waited for the handshake: its writer was told nothing yet). */
static int send_queued(struct tls *t, bool queue)
{
    size_t n = (size_t)BIO_ctrl_pending(t->wbio);
    if (!n) return 0;
    if (uv_is_closing((uv_handle_t *)t->stream)) {
        (void)BIO_reset(t->wbio);
        return UV_ECANCELED;
    }
    struct cipher_write *cw = malloc(sizeof(*cw) + n);
    if (!cw) abort();
    BIO_read(t->wbio, cw->bytes, (int)n);
    uv_buf_t buf = uv_buf_init(cw->bytes, (unsigned)n);
    int sent = queue ? 0 : uv_try_write(t->stream, &buf, 1);
    if (sent == UV_EAGAIN) sent = 0;
    if (sent < 0 || (size_t)sent == n) {
        free(cw);
        return sent < 0 ? sent : 0;
    }
    cw->done = t->done;
    buf = uv_buf_init(cw->bytes + sent, (unsigned)(n - (size_t)sent));
    int err = uv_write(&cw->req, t->stream, &buf, 1, on_cipher_written);
    if (err) free(cw);
    return err;
}

static int send_cipher(struct tls *t)
{
    return send_queued(t, false);
}

static void peer_name(const struct tls *t, char *out, size_t len)
{
    struct sockaddr_storage sa;
    int n = sizeof(sa);
    char ip[64] = "?";
    snprintf(out, len, "?");
    if (uv_tcp_getpeername((const uv_tcp_t *)t->stream, (struct sockaddr *)&sa, &n) != 0) return;
    if (sa.ss_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)&sa, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%d", ip, ntohs(((const struct sockaddr_in6 *)&sa)->sin6_port));
    } else {
        uv_ip4_name((const struct sockaddr_in *)&sa, ip, sizeof(ip));
        snprintf(out, len, "%s:%d", ip, ntohs(((const struct sockaddr_in *)&sa)->sin_port));
    }
}

/* One line per failed connection: who, and OpenSSL's own words. */
static void report(struct tls *t, int ssl_error)
{
    char peer[80], reason[256];
    unsigned long e = ERR_peek_last_error();
    long verify = SSL_get_verify_result(t->ssl);
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (!r)
        r = ssl_error == SSL_ERROR_SYSCALL ? "connection closed during the handshake"
                                           : "protocol error";
    if (verify != X509_V_OK)
        snprintf(reason, sizeof(reason), "%s: %s", r, X509_verify_cert_error_string(verify));
    else
        snprintf(reason, sizeof(reason), "%s", r);
    peer_name(t, peer, sizeof(peer));
    log_warning("TLS %s with %s %s failed: %s",
                SSL_is_init_finished(t->ssl) ? "connection" : "handshake", kind_names[t->kind],
                peer, reason);
    ERR_clear_error();
}

static void deliver_end(struct tls *t, ssize_t status)
{
    uv_buf_t none = uv_buf_init(NULL, 0);
    t->reading = false;
    uv_read_stop(t->stream);
    t->read(t->stream, status, &none);
}

static void fail(struct tls *t, int ssl_error)
{
    if (t->failed) return;
    t->failed = true;
    report(t, ssl_error);
    send_cipher(t); /* the alert, when the socket takes it */
    if (t->read) deliver_end(t, UV_EPROTO);
}

/* After the handshake: what waited goes out. */
static int send_plain(struct tls *t, const char *bytes, size_t len, bool queue)
{
    while (len) {
        ERR_clear_error();
        int n = SSL_write(t->ssl, bytes, (int)(len > INT32_MAX ? INT32_MAX : len));
        if (n <= 0) {
            fail(t, SSL_get_error(t->ssl, n));
            return UV_EPROTO;
        }
        bytes += n;
        len -= (size_t)n;
    }
    return send_queued(t, queue);
}

/* Runs the handshake, then hands plaintext to the owner while it reads. */
static void pump(struct tls *t)
{
    if (t->failed) return;
    if (!SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
            fail(t, e);
            return;
        }
        if (send_cipher(t) < 0 || e == SSL_ERROR_WANT_READ) return;
        if (buffer_len(&t->early)) {
            struct buffer early = t->early;
            t->early = (struct buffer){0};
            int err = send_plain(t, buffer_head(&early), buffer_len(&early), true);
            buffer_free(&early);
            if (err) return;
        }
    }
    while (t->reading && !uv_is_closing((uv_handle_t *)t->stream)) {
        uv_buf_t buf = uv_buf_init(NULL, 0);
        t->alloc((uv_handle_t *)t->stream, PLAIN_CHUNK, &buf);
        ERR_clear_error();
        int n = SSL_read(t->ssl, buf.base, (int)buf.len);
        if (n > 0) {
            t->read(t->stream, n, &buf);
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        t->read(t->stream, 0, &buf); /* the buffer back, as libuv does for EAGAIN */
        send_cipher(t);              /* a TLS 1.3 ticket or key update */
        if (e == SSL_ERROR_WANT_READ || !t->reading) return;
        if (e == SSL_ERROR_ZERO_RETURN)
            deliver_end(t, UV_EOF);
        else
            fail(t, e);
        return;
    }
}

static void on_drain(uv_idle_t *h)
{
    struct tls *list = drain_list;
    drain_list = NULL;
    uv_idle_stop(h);
    while (list) {
        struct tls *t = list;
        list = t->next_drain;
        t->draining = false;
        pump(t);
    }
}

static void schedule_drain(struct tls *t)
{
    if (t->draining) return;
    if (!drainer_ready) {
        uv_idle_init(t->stream->loop, &drainer);
        uv_unref((uv_handle_t *)&drainer);
        drainer_ready = true;
    }
    t->draining = true;
    t->next_drain = drain_list;
    drain_list = t;
    uv_idle_start(&drainer, on_drain);
}

static void cipher_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h, (void)hint;
    *buf = uv_buf_init(cipher_in, sizeof(cipher_in));
}

static void on_cipher(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tls *t = map_get(s);
    if (!t || nread == 0) return;
    if (nread < 0) {
        deliver_end(t, nread); /* a peer that went before it said anything: nothing to report */
        return;
    }
    tls_feed(t, buf->base, (size_t)nread);
}

void tls_feed(struct tls *t, const char *cipher, size_t len)
{
    if (t->failed) return;
    BIO_write(t->rbio, cipher, (int)len);
    pump(t);
}

int tls_read_start_tls(struct tls *t, uv_alloc_cb alloc, uv_read_cb read)
{
    t->alloc = alloc;
    t->read = read;
    if (t->reading) return 0;
    t->reading = true;
    if (SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->rbio) > 0) schedule_drain(t);
    return uv_read_start(t->stream, cipher_alloc, on_cipher);
}

void tls_read_stop_tls(struct tls *t)
{
    t->reading = false;
    uv_read_stop(t->stream);
}

int tls_write(struct tls *t, const char *bytes, size_t len, uv_write_cb done)
{
    t->done = done;
    if (t->failed) return UV_EPROTO;
    if (!SSL_is_init_finished(t->ssl)) {
        buffer_append(&t->early, bytes, len);
        return 0;
    }
    return send_plain(t, bytes, len, false);
}

void tls_close_notify(struct tls *t)
{
    if (t->failed || !SSL_is_init_finished(t->ssl)) return;
    ERR_clear_error();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
    send_cipher(t);
}

/* ---------------------------------------------------------------------------------------------
 * Bridges: a plain stream for code that cannot be given a struct tls.
 *
 *   owner ◀─▶ [outer pipe] ═socketpair═ [inner pipe] ◀─pump─▶ TLS on tcp ◀─▶ peer
 *
 * Each direction stops reading while its destination holds more than BRIDGE_HIGH unsent.
 * ------------------------------------------------------------------------------------------- */

#define BRIDGE_HIGH (1u << 20)

struct bridge {
    uv_tcp_t *tcp;
    struct tls *tls;
    uv_pipe_t inner;
    void (*release)(void *);
    int handles;
    bool closing;
    char in[PLAIN_CHUNK];  /* from the owner, on its way into TLS */
    char out[PLAIN_CHUNK]; /* from TLS, on its way to the owner (copied when queued) */
};

struct bridge_write {
    uv_write_t req;
    struct bridge *b;
    char bytes[];
};

static void bridge_closed(uv_handle_t *h)
{
    struct bridge *b = h->data;
    if (h == (uv_handle_t *)b->tcp) {
        tls_free(b->tls);
        b->release(b->tcp);
    }
    if (--b->handles == 0) free(b);
}

static void bridge_close(struct bridge *b)
{
    if (b->closing) return;
    b->closing = true;
    tls_close_notify(b->tls);
    uv_close((uv_handle_t *)b->tcp, bridge_closed);
    uv_close((uv_handle_t *)&b->inner, bridge_closed);
}

static void inner_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct bridge *b = h->data;
    (void)hint;
    *buf = uv_buf_init(b->in, sizeof(b->in));
}

static void tls_side_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct bridge *b = h->data;
    (void)hint;
    *buf = uv_buf_init(b->out, sizeof(b->out));
}

static void inner_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void tls_side_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* TLS ciphertext drained: the owner may send more. */
static void tls_side_written(uv_write_t *w, int status)
{
    struct bridge *b = w->handle->data;
    if (status < 0) {
        bridge_close(b);
        return;
    }
    if (!b->closing && tls_unsent(b->tls) < BRIDGE_HIGH / 2)
        uv_read_start((uv_stream_t *)&b->inner, inner_alloc, inner_read);
}

static void inner_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct bridge *b = s->data;
    if (nread == 0) return;
    if (nread < 0 || tls_write(b->tls, buf->base, (size_t)nread, tls_side_written) != 0) {
        bridge_close(b);
        return;
    }
    if (tls_unsent(b->tls) >= BRIDGE_HIGH) uv_read_stop(s);
}

static void inner_written(uv_write_t *w, int status)
{
    struct bridge_write *bw = (struct bridge_write *)w;
    struct bridge *b = bw->b;
    free(bw);
    if (status < 0) {
        bridge_close(b);
        return;
    }
    if (!b->closing && b->inner.write_queue_size < BRIDGE_HIGH / 2)
        tls_read_start_tls(b->tls, tls_side_alloc, tls_side_read);
}

static void tls_side_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct bridge *b = s->data;
    if (nread == 0) return;
    if (nread < 0) {
        bridge_close(b);
        return;
    }
    uv_buf_t plain = uv_buf_init(buf->base, (unsigned)nread);
    int sent = uv_try_write((uv_stream_t *)&b->inner, &plain, 1);
    if (sent == UV_EAGAIN) sent = 0;
    if (sent < 0) {
        bridge_close(b);
        return;
    }
    if (sent == nread) return;
    struct bridge_write *bw = malloc(sizeof(*bw) + (size_t)(nread - sent));
    if (!bw) abort();
    bw->b = b;
    memcpy(bw->bytes, buf->base + sent, (size_t)(nread - sent));
    plain = uv_buf_init(bw->bytes, (unsigned)(nread - sent));
    if (uv_write(&bw->req, (uv_stream_t *)&b->inner, &plain, 1, inner_written) != 0) {
        free(bw);
        bridge_close(b);
        return;
    }
    if (b->inner.write_queue_size >= BRIDGE_HIGH) tls_read_stop_tls(b->tls);
}

uv_stream_t *tls_bridge(uv_tcp_t *tcp, struct tls *t, void *(*alloc)(size_t),
                        void (*release)(void *))
{
    uv_os_sock_t fds[2];
    struct bridge *b = calloc(1, sizeof(*b));
    uv_pipe_t *outer = alloc(sizeof(*outer));
    if (!b || !outer) abort();
    b->tcp = tcp;
    b->tls = t;
    b->release = release;
    b->handles = 2;
    tcp->data = b;
    if (uv_socketpair(SOCK_STREAM, 0, fds, UV_NONBLOCK_PIPE, UV_NONBLOCK_PIPE) != 0) {
        release(outer);
        b->closing = true;
        b->handles = 1;
        uv_close((uv_handle_t *)tcp, bridge_closed);
        return NULL;
    }
    uv_pipe_init(tcp->loop, &b->inner, 0);
    b->inner.data = b;
    uv_pipe_open(&b->inner, fds[0]);
    uv_pipe_init(tcp->loop, outer, 0);
    uv_pipe_open(outer, fds[1]);
    uv_read_start((uv_stream_t *)&b->inner, inner_alloc, inner_read);
    tls_read_start_tls(t, tls_side_alloc, tls_side_read);
    return (uv_stream_t *)outer;
}

/* ---------------------------------------------------------------------------------------------
 * Blocking, for start-up.
 * ------------------------------------------------------------------------------------------- */

struct tls_blocking *tls_blocking_connect(int fd, enum tls_kind kind, const char *server_name,
                                          char *err, size_t errlen)
{
    SSL *ssl = SSL_new(contexts[kind]);
    if (!ssl) abort();
    SSL_set_fd(ssl, fd);
    if (server_name) {
        SSL_set_tlsext_host_name(ssl, server_name);
        SSL_set1_host(ssl, server_name);
    }
    ERR_clear_error();
    if (SSL_connect(ssl) != 1) {
        unsigned long e = ERR_peek_last_error();
        long v = SSL_get_verify_result(ssl);
        snprintf(err, errlen, "TLS handshake failed: %s%s%s",
                 e ? ERR_reason_error_string(e) : "connection closed", v != X509_V_OK ? ": " : "",
                 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    return (struct tls_blocking *)ssl;
}

int tls_blocking_write(struct tls_blocking *b, const void *bytes, size_t len)
{
    return SSL_write((SSL *)b, bytes, (int)len);
}

int tls_blocking_read(struct tls_blocking *b, void *bytes, size_t len)
{
    return SSL_read((SSL *)b, bytes, (int)len);
}

void tls_blocking_free(struct tls_blocking *b)
{
    if (!b) return;
    SSL_shutdown((SSL *)b);
    SSL_free((SSL *)b);
}
