/* The admin API's routes: auth, the REST resources under /api/v1, /metrics, /healthz, /readyz and
 * the embedded dashboard, served by http.c on admin-bind:admin-port.
 *
 *   GET  /healthz /readyz                      no auth (systemd, Kubernetes probes)
 *   GET  /  and the dashboard's files          no auth (the page asks for the token)
 *   everything else                            Authorization: Bearer <admin-token>
 *
 * Handlers only read the proxy's state and call the HA operations, which return at once; the
 * event log is the one answer that comes later, from the store's thread. The JSON shapes are
 * fixed in docs/api.md. */
#ifndef REDPAIR_ROUTES_H
#define REDPAIR_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* Starts the admin API unless admin-port is 0; false with the reason when it cannot listen. */
bool routes_start(uv_loop_t *loop, char *err, size_t errlen);
void routes_stop(void);

#endif
