/* The store: redpair's state in one SQLite file, `<state-dir>/redpair.db` (WAL mode, schema
 * versioned by PRAGMA user_version with forward migrations).
 *
 *   loop thread ──store_*()──▶ queue ──▶ writer thread ──▶ SQLite (its own connection)
 *   loop thread ◀── uv_async ◀── completion callbacks (run on the loop, in submission order)
 *
 * SQLite never runs on the loop once it is running: only store_open/store_load/store_close, at
 * start and stop, are synchronous. Everything else is queued and done by one writer thread in
 * submission order, so the file always reflects a prefix of what was asked. An epoch change is
 * durable (synchronous=FULL for that transaction) before its callback runs: the caller acts only
 * in the callback, which is how "an epoch is stored before it acts" holds. */
#ifndef REDPAIR_STORE_H
#define REDPAIR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define STORE_NAME_MAX   32
#define STORE_RUNID_MAX  41
#define STORE_KIND_MAX   32
#define STORE_DETAIL_MAX 512

struct store_backend {
    char name[STORE_NAME_MAX];
    char state[STORE_KIND_MAX]; /* "in-sync", "down", "stale", ... as backend_state_name() */
    char run_id[STORE_RUNID_MAX];
    uint64_t offset; /* last stream offset known applied */
};

struct store_state {
    uint64_t epoch;                   /* 0: never stored */
    char primary[STORE_NAME_MAX];     /* "" when none */
    struct store_backend backends[2]; /* by name; unused entries have name "" */
    int backend_count;
};

struct store_event {
    int64_t id;
    int64_t time_ms; /* Unix ms */
    uint64_t epoch;
    char kind[STORE_KIND_MAX];       /* "failover", "state", "resync", "divergence", ... */
    char backend[STORE_NAME_MAX];    /* "" when not about one backend */
    char detail[STORE_DETAIL_MAX];
};

/* Opens or creates the file, migrates the schema, starts the writer thread and binds completion
 * callbacks to `loop`. Returns false with a reason naming the file in err. */
bool store_open(uv_loop_t *loop, const char *state_dir, char *err, size_t errlen);
/* Reads what was stored (synchronous; at start-up only). */
bool store_load(struct store_state *out, char *err, size_t errlen);
/* Finishes every queued write, stops the thread, closes the file. */
void store_close(void);

/* A new epoch and primary: committed durably, then cb(arg, ok) runs on the loop. */
typedef void (*store_done_cb)(void *arg, bool ok);
void store_commit_epoch(uint64_t epoch, const char *primary, store_done_cb cb, void *arg);

/* Fire and forget, in order. */
void store_backend_update(const struct store_backend *b);
void store_event(uint64_t epoch, const char *kind, const char *backend, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Config overrides (PATCH /api/v1/config): name -> value, applied over the file at start. */
void store_config_set(const char *name, const char *value);
typedef void (*store_config_cb)(void *arg, const char *name, const char *value);
bool store_config_each(store_config_cb cb, void *arg, char *err, size_t errlen); /* start-up */

/* Events with id > since, oldest first, at most limit; read off the loop, answered on it.
 * events is NULL and count -1 on error. */
typedef void (*store_events_cb)(void *arg, const struct store_event *events, int count);
void store_events_page(int64_t since, int limit, store_events_cb cb, void *arg);

#endif
