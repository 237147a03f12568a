/* Live configuration: what may change while redpair runs, as Redis's CONFIG SET.
 *
 *   PATCH /api/v1/config ──▶ reconfig_set ──┐
 *   SIGHUP (file re-read) ──────────────────┼─▶ copy of the running config ─▶ config_apply each
 *                                           │     change ─▶ config_validate ─▶ all or nothing:
 *                                           │     the live fields move into the running config
 *   start-up: stored overrides ─────────────┘     (the proxy reads them where they are used)
 *
 * Live: write-ack, loglevel, maxclients, client-output-buffer-limit, proto-max-bulk-len (new
 * connections), probe-interval-ms, down-after-ms, requirepass (new connections), admin-token.
 * Everything else (addresses, ports, backends, credentials, databases, files, backlog-size) shapes
 * what was built at start and needs a restart. Changes made through the API are stored as
 * overrides (store_config_set) and re-applied over the file at every start. */
#ifndef REDPAIR_RECONFIG_H
#define REDPAIR_RECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"

enum reconfig_status {
    RECONFIG_OK,
    RECONFIG_INVALID,       /* unknown directive or bad value (HTTP 400) */
    RECONFIG_NEEDS_RESTART, /* a directive that cannot change live (HTTP 409) */
};

struct reconfig_change {
    const char *name;  /* directive */
    const char *value; /* as after the name on a config line; several arguments space-separated */
};

/* After the store opened: applies the stored overrides over the running config (all, or none
 * when together they do not validate), then re-reads the file (path, may be NULL) and the
 * command-line arguments on SIGHUP. */
void reconfig_start(uv_loop_t *loop, const char *path, int argc, char **argv);
void reconfig_stop(void);

/* Changes the running config, all or nothing; with persist, stores them as overrides. */
enum reconfig_status reconfig_set(const struct reconfig_change *changes, int n, bool persist,
                                  char *err, size_t errlen);

/* Builds in `next` a copy of `running` with the changes applied and validated. Pure (the unit
 * tests use it); `next` is left initialised in every case: free it with config_free. */
enum reconfig_status reconfig_prepare(const struct config *running,
                                      const struct reconfig_change *changes, int n,
                                      struct config *next, char *err, size_t errlen);

/* Every directive of a config with its value as a config line would give it, in the order of
 * the README's table; a directive given several times (backend) is one value, lines joined by
 * ", ". With mask_secrets, a password or token that is set reads "********". */
typedef void (*reconfig_each_cb)(void *arg, const char *name, const char *value, bool live);
void reconfig_each(const struct config *c, bool mask_secrets, reconfig_each_cb cb, void *arg);

#endif
