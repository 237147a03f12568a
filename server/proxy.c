#include "proxy.h"

#include <stdlib.h>
#include <string.h>

#include "blocked.h"
#include "client.h"
#include "lifecycle.h"
#include "monitor.h"
#include "netaddr.h"
#include "tracking.h"
#include "log.h"

struct proxy proxy;

uint64_t proxy_now_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

const char *proxy_backend_name(int index)
{
    return index >= 0 && index < CONFIG_BACKENDS ? proxy.backends[index].name : "none";
}

void proxy_mark_backend_dirty(struct backend *b)
{
    if (b->dirty) return;
    b->dirty = true;
    b->next_dirty = proxy.dirty_backends;
    proxy.dirty_backends = b;
}

void proxy_mark_client_dirty(struct client *c)
{
    if (c->dirty) return;
    c->dirty = true;
    c->next_dirty = proxy.dirty_clients;
    proxy.dirty_clients = c;
}

void proxy_forget_client(struct client *c)
{
    if (!c->dirty) return;
    for (struct client **p = &proxy.dirty_clients; *p; p = &(*p)->next_dirty) {
        if (*p == c) {
            *p = c->next_dirty;
            break;
        }
    }
    c->dirty = false;
}

/* One flush per loop turn: everything produced since the last poll leaves in one write per
 * connection. Backends first, so requests are on their way before replies are written. */
static void on_prepare(uv_prepare_t *h)
{
    (void)h;
    /* Flushing a client may let it go on with input it held back, which makes more to flush. */
    for (;;) {
        blocked_run_retries();
        tracking_flush();
        if (!proxy.dirty_backends && !proxy.dirty_clients) break;
        while (proxy.dirty_backends) {
            struct backend *b = proxy.dirty_backends;
            proxy.dirty_backends = b->next_dirty;
            b->dirty = false;
            backend_flush(b);
        }
        while (proxy.dirty_clients) {
            struct client *c = proxy.dirty_clients;
            proxy.dirty_clients = c->next_dirty;
            c->dirty = false;
            client_flush(c);
        }
    }
    monitor_flush(); /* control commands after the writes the links were given before them */
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0) {
        log_warning("accept failed: %s", uv_strerror(status));
        return;
    }
    client_accept(listener);
}

static char tls_listener; /* marks tls-port's listeners (their data) */

bool proxy_listener_tls(const uv_stream_t *listener)
{
    return listener->data == &tls_listener;
}

static int listen_on(const char *bind, int port, bool tls)
{
    struct sockaddr_storage addr;
    uv_tcp_t *l = &proxy.listeners[proxy.listener_count];
    if (!netaddr_parse(bind, port, &addr)) {
        log_warning("bind: '%s' is not an IP address", bind);
        return -1;
    }
    uv_tcp_init(proxy.loop, l);
    l->data = tls ? &tls_listener : NULL;
    int err = uv_tcp_bind(l, (struct sockaddr *)&addr, 0);
    if (!err) err = uv_listen((uv_stream_t *)l, 511, on_connection);
    if (err) {
        log_warning("could not listen on %s:%d: %s", bind, port, uv_strerror(err));
        uv_close((uv_handle_t *)l, NULL);
        return -1;
    }
    proxy.listener_count++;
    return 0;
}

static int listen_all(void)
{
    const struct config *cfg = proxy.config;
    for (int i = 0; i < cfg->bind_count; i++)
        if ((cfg->port && listen_on(cfg->bind[i], cfg->port, false) != 0) ||
            (cfg->tls_port && listen_on(cfg->bind[i], cfg->tls_port, true) != 0))
            return -1;
    if (cfg->port && cfg->tls_port)
        log_notice("ready to accept connections on port %d and tls-port %d", cfg->port,
                   cfg->tls_port);
    else if (cfg->port)
        log_notice("ready to accept connections on port %d", cfg->port);
    else
        log_notice("ready to accept TLS connections on tls-port %d", cfg->tls_port);
    lifecycle_ready();
    return 0;
}

/* Clients are let in once the HA logic knows who is primary (failover.c), or has given up
 * waiting for one, so that no write of the first milliseconds reaches one server only. */
void proxy_open_doors(void)
{
    if (proxy.config->witness) { /* no clients: ready once it votes */
        lifecycle_ready();
        return;
    }
    if (proxy.listener_count || lifecycle_stopping()) return;
    if (listen_all() != 0) {
        proxy.primary = -2; /* tells main() that start-up failed */
        uv_stop(proxy.loop);
    }
}

int proxy_start(uv_loop_t *loop, struct config *config, struct command_table *commands)
{
    proxy.loop = loop;
    proxy.config = config;
    proxy.commands = commands;
    proxy.primary = -1;
    proxy.start_ms = proxy_now_ms();

    monitor_batch_writes();
    uv_prepare_init(loop, &proxy.flusher);
    uv_prepare_start(&proxy.flusher, on_prepare);
    lifecycle_start(loop);

    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        const struct endpoint_config *bc = &config->backends[i];
        backend_init(&proxy.backends[i], i, bc->name, bc->host, bc->port);
        if (proxy.backends[i].enabled)
            backend_enable(&proxy.backends[i]); /* in a cluster, the
                                                leader's, once fenced */
    }
    return 0;
}
