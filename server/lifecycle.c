#include "lifecycle.h"

#include <signal.h>
#include <stdint.h>
#include <systemd/sd-daemon.h>

#include "client.h"
#include "cluster.h"
#include "log.h"
#include "proxy.h"

/* How often a drain checks whether every client is gone: closing happens in write callbacks all
 * over client.c, so polling during the few moments of a shutdown is simpler than a hook in each. */
#define DRAIN_CHECK_MS 10

static struct {
    uv_loop_t *loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t drain;
    uint64_t deadline;
    bool stopping;
    bool handing_over; /* a cluster's leader, drained, waiting for another node to lead */
} life;

bool lifecycle_stopping(void)
{
    return life.stopping;
}

void lifecycle_ready(void)
{
    if (proxy.config->witness)
        sd_notify(0, "READY=1\nSTATUS=witness: voting in the cluster");
    else if (proxy.config->tls_port)
        sd_notifyf(0, "READY=1\nSTATUS=accepting clients on port %d and tls-port %d",
                   proxy.config->port, proxy.config->tls_port);
    else
        sd_notifyf(0, "READY=1\nSTATUS=accepting clients on port %d", proxy.config->port);
}

static void stop_now(void)
{
    uv_timer_stop(&life.drain);
    /* The proxy's flush still runs in this loop turn, so output produced up to here goes out. */
    uv_stop(life.loop);
}

static void on_drain_check(uv_timer_t *t)
{
    (void)t;
    if (life.handing_over) { /* until another node leads, or the election timeout */
        if (cluster_leading() && uv_now(life.loop) < life.deadline) return;
        stop_now();
        return;
    }
    if (proxy.client_count > 0 && uv_now(life.loop) < life.deadline) return;
    if (proxy.client_count > 0)
        log_warning("%d client(s) still owed replies after %d ms: closing them unanswered",
                    proxy.client_count, LIFECYCLE_DRAIN_MS);
    else
        log_notice("every client has its replies");
    /* So that the next start finds the servers level (backend.h). */
    for (int i = 0; i < CONFIG_BACKENDS; i++) backend_mark_exact(&proxy.backends[i]);
    /* A cluster's leader hands over before it goes, so that clients wait for a transfer rather
     * than for an election. */
    char err[160];
    if (cluster_leading() && cluster_transfer(NULL, err, sizeof(err))) {
        life.handing_over = true;
        life.deadline = uv_now(life.loop) + (uint64_t)proxy.config->election_timeout_ms;
        return;
    }
    stop_now();
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (life.stopping) {
        log_warning("received %s while draining: stopping now", name);
        uv_stop(life.loop);
        return;
    }
    life.stopping = true;
    log_notice("received %s, shutting down: no new clients, draining %d", name, proxy.client_count);
    sd_notifyf(0, "STOPPING=1\nSTATUS=shutting down: draining %d client(s)", proxy.client_count);
    for (int i = 0; i < proxy.listener_count; i++)
        uv_close((uv_handle_t *)&proxy.listeners[i], NULL);
    proxy.listener_count = 0;
    client_drain_all();
    life.deadline = uv_now(life.loop) + LIFECYCLE_DRAIN_MS;
    uv_timer_start(&life.drain, on_drain_check, 0, DRAIN_CHECK_MS);
}

void lifecycle_start(uv_loop_t *loop)
{
    life.loop = loop;
    uv_signal_init(loop, &life.sigint);
    uv_signal_start(&life.sigint, on_signal, SIGINT);
    uv_signal_init(loop, &life.sigterm);
    uv_signal_start(&life.sigterm, on_signal, SIGTERM);
    uv_timer_init(loop, &life.drain);
    sd_notify(0, "STATUS=waiting for the backends");
}
