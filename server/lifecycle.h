/* The daemon's life as its supervisor sees it: readiness and status for systemd (sd_notify; a
 * no-op when NOTIFY_SOCKET is unset) and the orderly end on SIGTERM or SIGINT.
 *
 *   proxy_start ──▶ lifecycle_start: signals caught, STATUS=waiting for the backends
 *   listeners open (proxy_open_doors) ──▶ lifecycle_ready: READY=1, STATUS=accepting clients
 *   SIGTERM / SIGINT ──▶ STOPPING=1 ──▶ listeners closed (no new clients, /readyz fails)
 *       ──▶ every client stops being read and is closed once the replies it is owed are written
 *       ──▶ no client left, or LIFECYCLE_DRAIN_MS passed ──▶ loop stopped; main then closes the
 *           admin API and the store (its queued writes reach SQLite) and the log
 *   a second signal while draining ──▶ loop stopped at once
 *
 * SIGHUP (configuration reload) belongs to reconfig.c. */
#ifndef REDPAIR_LIFECYCLE_H
#define REDPAIR_LIFECYCLE_H

#include <stdbool.h>
#include <uv.h>

#define LIFECYCLE_DRAIN_MS 5000

void lifecycle_start(uv_loop_t *loop);
/* The client listeners are open. */
void lifecycle_ready(void);
/* True from the first SIGTERM or SIGINT on: nothing may start listening any more. */
bool lifecycle_stopping(void);

#endif
