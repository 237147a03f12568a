#include "client.h"

#include <stdlib.h>
#include <string.h>

#include "acl_commands.h"
#include "backend.h"
#include "blind.h"
#include "blocked.h"
#include "cluster.h"
#include "command.h"
#include "config.h"
#include "hidden.h"
#include "local.h"
#include "log.h"
#include "monitor_feed.h"
#include "pause.h"
#include "proxy.h"
#include "pubsub.h"
#include "relay.h"
#include "request.h"
#include "rewrite.h"
#include "sequencer.h"
#include "scripts.h"
#include "keyspace.h"
#include "stats.h"
#include "tls.h"
#include "tracking.h"
#include "transaction.h"
#include "watch.h"

#define READ_CHUNK (16 * 1024)
/* Flow control: a client that is owed this much stops being read until it catches up, so a
 * pipeline that is never read cannot make redpair buffer without bound. */
#define PAUSE_QUEUED 1024
#define PAUSE_OUTPUT (8u << 20)
/* Buffers larger than this are given back once empty, so that a client that goes idle holds
 * little, whatever it sent or was sent before. */
#define KEEP_BUFFER 4096
#define KEEP_ARGV   1024

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void process_input(struct client *c);
static void maybe_resume(struct client *c);

/* A client with no input waiting reads into this one buffer, shared by all (the loop is one
 * thread, and a read is parsed before the next), so an idle client holds no input buffer. Only
 * what a read leaves unparsed, a command not yet whole or input held back, moves into its own. */
static char shared_in[READ_CHUNK];

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct client *c = h->data;
    (void)hint;
    if (buffer_len(&c->in) == 0)
        *buf = uv_buf_init(shared_in, READ_CHUNK);
    else
        *buf = uv_buf_init(buffer_reserve(&c->in, READ_CHUNK), READ_CHUNK);
}

static void set_reading(struct client *c, bool on)
{
    if (c->reading == on || c->closed) return;
    c->reading = on;
    if (on)
        tls_read_start((uv_stream_t *)&c->tcp, c->out.tls, on_alloc, on_read);
    else
        tls_read_stop((uv_stream_t *)&c->tcp, c->out.tls);
}

static bool owes_too_much(const struct client *c)
{
    return c->queued >= PAUSE_QUEUED || outbuf_len(&c->out) >= PAUSE_OUTPUT;
}

void client_accept(uv_stream_t *listener)
{
    if (cluster_enabled() && !cluster_serves_clients()) {
        relay_accept(listener); /* served by the leader */
        return;
    }
    struct client *c = calloc(1, sizeof(*c));
    if (!c) abort();
    uv_tcp_init(proxy.loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (proxy_listener_tls(listener))
        c->out.tls = tls_attach((uv_stream_t *)&c->tcp, TLS_CLIENTS, NULL);
    c->id = ++proxy.next_client_id;
    c->created_ms = c->last_ms = uv_now(proxy.loop);
    acl_client_init(c);
    resp_request_init(&c->parser, proxy.config->proto_max_bulk_len);
    c->next = proxy.clients;
    if (proxy.clients) proxy.clients->prev = c;
    proxy.clients = c;
    proxy.client_count++;

    if (proxy.client_count > proxy.config->maxclients) {
        static const char full[] = "-ERR max number of clients reached\r\n";
        client_append(c, full, sizeof(full) - 1);
        c->closing = true;
        if (c->out.tls) set_reading(c, true); /* the handshake, before the reply can go */
        return;
    }
    if (!proxy.paused) set_reading(c, true);
}

static void on_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    for (struct request *r = c->head, *next; r; r = next) {
        next = r->next;
        r->client = NULL;
        request_unref(r);
    }
    resp_request_free(&c->parser);
    buffer_free(&c->in);
    buffer_free(&c->scratch);
    buffer_free(&c->multibulk);
    outbuf_free(&c->out);
    free(c->argv);
    free(c->argl);
    free(c->name);
    free(c);
}

void client_close(struct client *c)
{
    if (c->closed) return;
    c->closed = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        proxy.clients = c->next;
    if (c->next) c->next->prev = c->prev;
    proxy.client_count--;
    proxy_forget_client(c);
    pause_client_closed(c);
    monitor_feed_client_closed(c);
    pubsub_client_closed(c);
    blocked_client_closed(c);
    transaction_free(c);
    watch_clear(c);
    tracking_client_closed(c);
    for (struct request *r = c->head; r; r = r->next) r->client = NULL;
    if (c->out.tls) tls_close_notify(c->out.tls);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void check_output_limits(struct client *c)
{
    const struct config *cfg = proxy.config;
    size_t len = outbuf_len(&c->out);
    bool over = cfg->obuf_hard_limit && len > (size_t)cfg->obuf_hard_limit;
    if (!over && cfg->obuf_soft_limit && len > (size_t)cfg->obuf_soft_limit) {
        uint64_t now = proxy_now_ms();
        if (!c->soft_limit_since) c->soft_limit_since = now;
        over = now - c->soft_limit_since >= (uint64_t)cfg->obuf_soft_seconds * 1000;
    } else if (!over) {
        c->soft_limit_since = 0;
    }
    if (over) {
        log_warning("client id=%llu closed for overcoming of output buffer limits (%zu bytes)",
                    (unsigned long long)c->id, len);
        client_close(c);
    }
}

void client_append(struct client *c, const char *bytes, size_t len)
{
    if (c->closed) return;
    stats.net_output_bytes += len;
    buffer_append(&c->out.queued, bytes, len);
    proxy_mark_client_dirty(c);
    check_output_limits(c);
}

void client_deliver(struct client *c)
{
    struct request *r;
    while ((r = c->head) && r->ready) {
        c->head = r->next;
        if (!c->head) c->tail = NULL;
        c->queued--;
        r->client = NULL;
        if (!r->silent) client_append(c, buffer_head(&r->reply), buffer_len(&r->reply));
        request_unref(r);
    }
    maybe_resume(c);
}

static void maybe_resume(struct client *c)
{
    if (c->closed || c->reading || c->closing || proxy.paused || c->queued >= PAUSE_QUEUED / 2 ||
        outbuf_len(&c->out) >= PAUSE_OUTPUT / 2)
        return;
    set_reading(c, true);
    process_input(c); /* commands that arrived before the pause */
}

static void on_written(uv_write_t *w, int status)
{
    struct client *c = w->handle->data;
    if (outbuf_written(&c->out, status) < 0 || c->closed) {
        client_close(c);
        return;
    }
    client_flush(c);
}

void client_flush(struct client *c)
{
    if (c->closed) return;
    if (outbuf_flush(&c->out, (uv_stream_t *)&c->tcp, on_written) < 0) {
        client_close(c);
        return;
    }
    buffer_shrink(&c->out.queued, KEEP_BUFFER);
    if (c->closing && outbuf_len(&c->out) == 0 && !c->head)
        client_close(c);
    else
        maybe_resume(c);
}

static void enqueue(struct client *c, struct request *r)
{
    r->silent = c->silent;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->queued++;
}

/* A command refused before it runs: counted as rejected, not as a call. */
static void reply_now(struct client *c, const struct command *cmd, const char *fmt, const char *msg)
{
    struct request *r = request_new(c, NULL);
    if (cmd) stats_command_rejected(cmd);
    enqueue(c, r);
    request_error(r, fmt, msg);
}

/* The request's bytes as a multibulk: the very bytes the client sent when it used one. */
static void encoded(struct client *c, int argc, const char *raw, size_t rawlen, const char **bytes,
                    size_t *len)
{
    if (!c->parser.is_inline) {
        *bytes = raw;
        *len = rawlen;
        return;
    }
    buffer_clear(&c->multibulk);
    resp_append_command(&c->multibulk, argc, c->argv, c->argl);
    *bytes = buffer_head(&c->multibulk);
    *len = buffer_len(&c->multibulk);
}

/* Runs one command; false when CLIENT PAUSE holds it, to run again once the pause ends. */
static bool dispatch(struct client *c, int argc, const char *raw, size_t rawlen)
{
    char err[COMMAND_ERROR_MAX];
    const struct command *cmd =
        command_resolve(proxy.commands, argc, c->argv, c->argl, err, sizeof(err));
    c->last_cmd = cmd;
    c->last_ms = uv_now(proxy.loop);
    if (cmd && (c->authenticated || command_no_auth(cmd)) && pubsub_allows(c, cmd) &&
        pause_holds(c, cmd))
        return false;
    proxy.commands_processed++;
    /* As Redis: SKIP silences the command after it, whatever that is, even one refused. */
    c->silent = c->reply_off || c->reply_skip_next;
    c->reply_skip_next = false;
    if (!cmd) {
        if (strncmp(err, "EXECABORT", 9) == 0) { /* a malformed EXEC ends the transaction */
            transaction_free(c);
            watch_clear(c);
        } else {
            transaction_reject(c);
        }
        /* Redis counts a wrong number of arguments as a rejected call of that command. */
        reply_now(c, command_named(proxy.commands, argc, c->argv, c->argl), "%s", err);
        return true;
    }
    if (!c->authenticated && !command_no_auth(cmd)) {
        transaction_reject(c);
        reply_now(c, cmd, "%s", "NOAUTH Authentication required.");
        return true;
    }
    /* Before the command is queued, read or sequenced: a refused write reaches no server. As in
     * Redis, a command MULTI cannot hold is refused for that first. */
    const char *denied = c->tx && (cmd->flags & CMD_FLAG_NO_MULTI)
                             ? NULL
                             : acl_denied(c, cmd, argc, c->argv, c->argl);
    if (denied && cmd->local == LOCAL_EXEC) { /* Redis ends the transaction, and says so */
        transaction_free(c);
        watch_clear(c);
        reply_now(c, cmd, "EXECABORT Transaction discarded because of: %s", denied);
        return true;
    }
    if (denied) {
        transaction_reject(c);
        reply_now(c, cmd, "%s", denied);
        return true;
    }
    if (!pubsub_allows(c, cmd)) {
        reply_now(c, cmd, PUBSUB_CONTEXT_ERROR, cmd->name);
        return true;
    }
    if (c->monitoring && !monitor_feed_allows(cmd)) {
        transaction_reject(c);
        reply_now(c, cmd, "%s", "ERR Replica can't interact with the keyspace");
        return true;
    }

    const char *bytes;
    size_t len;
    long long timeout_ms;
    encoded(c, argc, raw, rawlen, &bytes, &len);
    struct request *r = request_new(c, cmd);
    enqueue(c, r);
    bool queued = transaction_queues(c, cmd);
    if (queued)
        transaction_queue(c, r, bytes, len);
    else if (command_blocks(cmd, argc, c->argv, c->argl, &timeout_ms))
        blocked_start(c, r, argc, c->argv, c->argl, bytes, len, timeout_ms);
    else
        client_execute(c, r, argc, c->argv, c->argl, bytes, len);
    if (!queued) monitor_feed(c, cmd, argc, c->argv, c->argl);
    tracking_command_done(c, cmd);
    /* Redis serves the clients a command woke before it runs the next one. */
    blocked_run_retries();
    return true;
}

void client_execute(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl, const char *bytes, size_t len)
{
    const struct command *cmd = r->cmd;
    if (cmd->script_at < 0)
        scripts_flushed();
    else if (cmd->script_at && argc > cmd->script_at)
        scripts_seen(argv[cmd->script_at], argl[cmd->script_at]);
    switch (cmd->kind) {
    case CMD_REFUSED: request_error(r, "ERR %s", cmd->refusal); return;
    case CMD_LOCAL: local_execute(c, r, argc, argv, argl); return;
    case CMD_READ:
        tracking_read(c, cmd, argc, argv, argl);
        if (hidden_rewrite(cmd, c->db, argc, argv, argl, &c->scratch)) {
            bytes = buffer_head(&c->scratch);
            len = buffer_len(&c->scratch);
        }
        client_send_read(c, r, bytes, len);
        return;
    case CMD_WRITE:
        buffer_clear(&c->scratch);
        if (rewrite_request(cmd, argc, argv, argl, (long long)proxy_now_ms(), &c->scratch) ==
                REWRITE_DONE ||
            hidden_rewrite(cmd, c->db, argc, argv, argl, &c->scratch)) {
            bytes = buffer_head(&c->scratch);
            len = buffer_len(&c->scratch);
        }
        r->by_effect = rewrite_by_effect(cmd, argc, argv, argl);
        /* Only write-marks every-run sends blind writes otherwise than the rest. */
        r->blind = proxy.config->write_marks == WRITE_MARKS_EVERY_RUN && !r->by_effect &&
                   blind_write(cmd, argc, argv, argl);
        sequencer_write(r, c->db, bytes, len);
        keyspace_written(c, cmd, c->db, argc, argv, argl);
        return;
    }
}

void client_send_read(struct client *c, struct request *r, const char *bytes, size_t len)
{
    if (proxy.primary < 0) {
        request_error(r, "ERR redpair has no backend in sync to read from");
        return;
    }
    r->primary = (int8_t)proxy.primary;
    r->awaiting = (uint8_t)(1u << proxy.primary);
    backend_send(&proxy.backends[proxy.primary], r, c->db, bytes, len);
}

struct client *client_find(uint64_t id)
{
    for (struct client *c = proxy.clients; c; c = c->next)
        if (c->id == id) return c;
    return NULL;
}

void client_pause_all(void)
{
    if (proxy.paused++) return;
    for (struct client *c = proxy.clients; c; c = c->next) set_reading(c, false);
}

void client_resume_all(void)
{
    if (--proxy.paused) return;
    for (struct client *c = proxy.clients, *next; c; c = next) {
        next = c->next; /* processing may close it */
        maybe_resume(c);
    }
}

void client_drain_all(void)
{
    relay_close_all();
    for (struct client *c = proxy.clients, *next; c; c = next) {
        next = c->next; /* flushing closes those owed nothing */
        set_reading(c, false);
        c->closing = true;
        client_flush(c);
    }
}

/* How much input a parked client may send before it is no longer read (Redis keeps reading it,
 * up to client-query-buffer-limit). */
#define BLOCKED_INPUT_MAX (1u << 20)

void client_unblocked(struct client *c)
{
    if (!c->reading) {
        maybe_resume(c);
        return;
    }
    process_input(c);
}

/* After a command: what a large one grew goes back. */
static void give_back(struct client *c)
{
    buffer_clear(&c->scratch);
    buffer_shrink(&c->scratch, KEEP_BUFFER);
    buffer_clear(&c->multibulk);
    buffer_shrink(&c->multibulk, KEEP_BUFFER);
    if (c->argv_cap > KEEP_ARGV) {
        free(c->argv);
        free(c->argl);
        c->argv = NULL;
        c->argl = NULL;
        c->argv_cap = 0;
    }
}

static void process_input(struct client *c)
{
    while (!c->closing && !c->closed && buffer_len(&c->in)) {
        if (c->blocked || c->postponed) {
            /* Its input waits, but a closed connection must still be seen. */
            if (buffer_len(&c->in) > BLOCKED_INPUT_MAX) set_reading(c, false);
            return;
        }
        if (owes_too_much(c) || proxy.paused) {
            set_reading(c, false);
            return;
        }
        const char *raw = buffer_head(&c->in);
        c->parser.unauthenticated = !c->authenticated;
        enum resp_result res = resp_request_parse(&c->parser, raw, buffer_len(&c->in));
        if (res == RESP_MORE) return;
        if (res == RESP_ERROR) {
            log_verbose("client id=%llu: %s", (unsigned long long)c->id, c->parser.error);
            reply_now(c, NULL, "ERR %s", c->parser.error);
            c->closing = true;
            set_reading(c, false);
            return;
        }
        int argc = c->parser.argc;
        if (argc > 0) {
            resp_request_args(&c->parser, raw, &c->argv, &c->argl, &c->argv_cap);
            if (!dispatch(c, argc, raw, c->parser.size)) return; /* held: parsed again later */
            give_back(c);
        }
        buffer_consume(&c->in, c->parser.size);
        resp_request_reset(&c->parser);
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct client *c = s->data;
    (void)buf;
    if (nread < 0) {
        client_close(c);
        return;
    }
    stats.net_input_bytes += (uint64_t)nread;
    if (buf->base != shared_in) {
        buffer_commit(&c->in, (size_t)nread);
        process_input(c);
        if (!buffer_len(&c->in)) buffer_free(&c->in);
        return;
    }
    buffer_free(&c->in);
    c->in = (struct buffer){.data = shared_in, .end = (size_t)nread, .cap = READ_CHUNK};
    process_input(c);
    struct buffer rest = {0};
    if (!c->closed && buffer_len(&c->in))
        buffer_append(&rest, buffer_head(&c->in), buffer_len(&c->in));
    c->in = rest;
}
