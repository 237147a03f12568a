/* The store: one SQLite file, one writer thread, completions back on the loop (see store.h).
 *
 * Schema, PRAGMA user_version 1 (each later version is one more entry in `migrations`, applied
 * in order inside a transaction, so an old file is carried forward and never rewritten whole):
 *
 *   roles             id = 1: epoch, primary_backend, changed_ms      the epoch in force
 *   backends          name, state, run_id, offset, updated_ms         last known per backend
 *   events            id, time_ms, epoch, kind, backend, detail       append-only history
 *   config_overrides  name, value, updated_ms                         PATCH /api/v1/config
 *
 * The writer takes every queued job at once and runs the batch in one transaction. A batch that
 * holds an epoch commits with synchronous=FULL, so the WAL is on disk before the epoch's callback
 * runs; other batches commit with NORMAL (WAL mode keeps them ordered; a power cut can lose the
 * last few events, never reorder them or tear the epoch). The file is WAL with normal locking, so
 * an operator may read it with `sqlite3` while redpair runs; a flock on state-dir keeps a second
 * redpair away from the same state.
 *
 * Events beyond EVENTS_KEPT are pruned oldest first; ids are AUTOINCREMENT, never reused, so a
 * reader paging with `since` never sees an id twice. */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define EVENTS_KEPT       100000
#define EVENTS_PRUNE_EACH 1024 /* inserts between two prunes */
#define EVENTS_PAGE_MAX   10000

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE roles (id INTEGER PRIMARY KEY CHECK (id = 1), epoch INTEGER NOT NULL,"
    "  primary_backend TEXT NOT NULL, changed_ms INTEGER NOT NULL);"
    "CREATE TABLE backends (name TEXT PRIMARY KEY, state TEXT NOT NULL, run_id TEXT NOT NULL,"
    "  offset INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL,"
    "  epoch INTEGER NOT NULL, kind TEXT NOT NULL, backend TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE TABLE config_overrides (name TEXT PRIMARY KEY, value TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum job_kind { JOB_EPOCH, JOB_BACKEND, JOB_EVENT, JOB_CONFIG, JOB_EVENTS_PAGE };

struct job {
    struct job *next;
    enum job_kind kind;
    int64_t time_ms;
    union {
        struct {
            uint64_t epoch;
            char primary[STORE_NAME_MAX];
            store_done_cb cb;
            void *arg;
            bool ok;
        } epoch;
        struct store_backend backend;
        struct store_event event;
        struct {
            char *name, *value;
        } config;
        struct {
            int64_t since;
            int limit;
            store_events_cb cb;
            void *arg;
            struct store_event *events;
            int count;
        } page;
    } u;
    char error[256]; /* SQLite's reason when the job failed; logged on the loop */
};

struct job_list {
    struct job *head, *tail;
};

enum statement {
    STMT_EPOCH,
    STMT_BACKEND,
    STMT_EVENT,
    STMT_CONFIG,
    STMT_EVENTS_PAGE,
    STMT_PRUNE,
    STATEMENTS
};

static const char *const statement_sql[STATEMENTS] = {
    [STMT_EPOCH] = "INSERT INTO roles (id, epoch, primary_backend, changed_ms) VALUES (1, ?, ?, ?)"
                   " ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch,"
                   " primary_backend = excluded.primary_backend, changed_ms = excluded.changed_ms",
    [STMT_BACKEND] = "INSERT INTO backends (name, state, run_id, offset, updated_ms)"
                     " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                     " state = excluded.state, run_id = excluded.run_id,"
                     " offset = excluded.offset, updated_ms = excluded.updated_ms",
    [STMT_EVENT] = "INSERT INTO events (time_ms, epoch, kind, backend, detail)"
                   " VALUES (?, ?, ?, ?, ?)",
    [STMT_CONFIG] = "INSERT INTO config_overrides (name, value, updated_ms) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
                    " updated_ms = excluded.updated_ms",
    [STMT_EVENTS_PAGE] = "SELECT id, time_ms, epoch, kind, backend, detail FROM events"
                         " WHERE id > ? ORDER BY id LIMIT ?",
    [STMT_PRUNE] = "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?",
};

static struct {
    bool open;
    char path[4096];
    int dir_lock; /* flock'd state-dir */
    sqlite3 *db;
    sqlite3_stmt *stmt[STATEMENTS];
    pthread_mutex_t db_lock; /* the connection: the writer's batches vs start-up reads */

    pthread_t writer;
    pthread_mutex_t lock; /* todo, answered, stopping */
    pthread_cond_t wake;
    struct job_list todo, answered;
    bool stopping;
    unsigned events_since_prune;

    uv_async_t answer; /* referenced only while a callback is owed */
    unsigned callbacks_owed;
} s = {.db_lock = PTHREAD_MUTEX_INITIALIZER,
       .lock = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER,
       .dir_lock = -1};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void list_push(struct job_list *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static struct job *list_take(struct job_list *l)
{
    struct job *all = l->head;
    l->head = l->tail = NULL;
    return all;
}

static void copy_text(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void job_free(struct job *j)
{
    if (j->kind == JOB_CONFIG) {
        free(j->u.config.name);
        free(j->u.config.value);
    } else if (j->kind == JOB_EVENTS_PAGE) {
        free(j->u.page.events);
    }
    free(j);
}

/* --- the writer thread ------------------------------------------------------------------- */

/* False with SQLite's reason in err (the caller names the file). */
static bool exec_sql(const char *sql, char *err, size_t errlen)
{
    char *why = NULL;
    if (sqlite3_exec(s.db, sql, NULL, NULL, &why) == SQLITE_OK) return true;
    snprintf(err, errlen, "%s", why ? why : sqlite3_errmsg(s.db));
    sqlite3_free(why);
    return false;
}

/* Runs a prepared statement to completion; false with the reason in j->error. */
static bool step_done(sqlite3_stmt *st, struct job *j)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) copy_text(j->error, sizeof(j->error), sqlite3_errmsg(s.db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE;
}

static void read_events_page(struct job *j)
{
    sqlite3_stmt *st = s.stmt[STMT_EVENTS_PAGE];
    int limit = j->u.page.limit;
    j->u.page.count = -1;
    j->u.page.events = calloc((size_t)(limit > 0 ? limit : 1), sizeof(struct store_event));
    if (!j->u.page.events) {
        snprintf(j->error, sizeof(j->error), "events page: out of memory");
        return;
    }
    sqlite3_bind_int64(st, 1, j->u.page.since);
    sqlite3_bind_int(st, 2, limit);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < limit) {
        struct store_event *e = &j->u.page.events[n++];
        e->id = sqlite3_column_int64(st, 0);
        e->time_ms = sqlite3_column_int64(st, 1);
        e->epoch = (uint64_t)sqlite3_column_int64(st, 2);
        copy_text(e->kind, sizeof(e->kind), (const char *)sqlite3_column_text(st, 3));
        copy_text(e->backend, sizeof(e->backend), (const char *)sqlite3_column_text(st, 4));
        copy_text(e->detail, sizeof(e->detail), (const char *)sqlite3_column_text(st, 5));
    }
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        j->u.page.count = n;
    else
        copy_text(j->error, sizeof(j->error), sqlite3_errmsg(s.db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void run_job(struct job *j)
{
    sqlite3_stmt *st;
    switch (j->kind) {
    case JOB_EPOCH:
        st = s.stmt[STMT_EPOCH];
        sqlite3_bind_int64(st, 1, (sqlite3_int64)j->u.epoch.epoch);
        sqlite3_bind_text(st, 2, j->u.epoch.primary, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, j->time_ms);
        j->u.epoch.ok = step_done(st, j);
        break;
    case JOB_BACKEND:
        st = s.stmt[STMT_BACKEND];
        sqlite3_bind_text(st, 1, j->u.backend.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->u.backend.state, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, j->u.backend.run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)j->u.backend.offset);
        sqlite3_bind_int64(st, 5, j->time_ms);
        step_done(st, j);
        break;
    case JOB_EVENT:
        st = s.stmt[STMT_EVENT];
        sqlite3_bind_int64(st, 1, j->u.event.time_ms);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)j->u.event.epoch);
        sqlite3_bind_text(st, 3, j->u.event.kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, j->u.event.backend, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, j->u.event.detail, -1, SQLITE_STATIC);
        if (step_done(st, j) && ++s.events_since_prune >= EVENTS_PRUNE_EACH) {
            s.events_since_prune = 0;
            sqlite3_bind_int64(s.stmt[STMT_PRUNE], 1, EVENTS_KEPT);
            step_done(s.stmt[STMT_PRUNE], j);
        }
        break;
    case JOB_CONFIG:
        st = s.stmt[STMT_CONFIG];
        sqlite3_bind_text(st, 1, j->u.config.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->u.config.value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, j->time_ms);
        step_done(st, j);
        break;
    case JOB_EVENTS_PAGE: read_events_page(j); break;
    }
}

/* One transaction for the whole batch; if it cannot commit, nothing in it happened. */
static void run_batch(struct job *batch)
{
    bool durable = false;
    for (struct job *j = batch; j; j = j->next) durable |= j->kind == JOB_EPOCH;

    char err[256];
    pthread_mutex_lock(&s.db_lock);
    bool ok = exec_sql(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err,
                       sizeof(err)) &&
              exec_sql("BEGIN IMMEDIATE", err, sizeof(err));
    if (ok) {
        for (struct job *j = batch; j; j = j->next) run_job(j);
        ok = exec_sql("COMMIT", err, sizeof(err));
        if (!ok) sqlite3_exec(s.db, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&s.db_lock);
    if (ok) return;
    for (struct job *j = batch; j; j = j->next) {
        if (j->kind == JOB_EPOCH) j->u.epoch.ok = false;
        if (!j->error[0]) copy_text(j->error, sizeof(j->error), err);
    }
}

static bool answers(const struct job *j)
{
    return j->kind == JOB_EPOCH || j->kind == JOB_EVENTS_PAGE || j->error[0];
}

static void *writer_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&s.lock);
    for (;;) {
        while (!s.todo.head && !s.stopping) pthread_cond_wait(&s.wake, &s.lock);
        struct job *batch = list_take(&s.todo);
        if (!batch) break; /* stopping, and every job is done */
        pthread_mutex_unlock(&s.lock);
        run_batch(batch);
        pthread_mutex_lock(&s.lock);
        bool wake_loop = false;
        for (struct job *j = batch, *next; j; j = next) {
            next = j->next;
            if (answers(j)) {
                list_push(&s.answered, j);
                wake_loop = true;
            } else {
                job_free(j);
            }
        }
        if (wake_loop && !s.stopping) uv_async_send(&s.answer);
    }
    pthread_mutex_unlock(&s.lock);
    return NULL;
}

/* --- the loop side ----------------------------------------------------------------------- */

static void owe_callback(void)
{
    if (s.callbacks_owed++ == 0) uv_ref((uv_handle_t *)&s.answer);
}

static void callback_paid(void)
{
    if (--s.callbacks_owed == 0) uv_unref((uv_handle_t *)&s.answer);
}

static void on_answers(uv_async_t *handle)
{
    (void)handle;
    pthread_mutex_lock(&s.lock);
    struct job *done = list_take(&s.answered);
    pthread_mutex_unlock(&s.lock);
    for (struct job *j = done, *next; j; j = next) {
        next = j->next;
        if (j->error[0]) log_warning("store %s: %s", s.path, j->error);
        if (j->kind == JOB_EPOCH) {
            callback_paid();
            j->u.epoch.cb(j->u.epoch.arg, j->u.epoch.ok);
        } else if (j->kind == JOB_EVENTS_PAGE) {
            callback_paid();
            j->u.page.cb(j->u.page.arg, j->u.page.events, j->u.page.count);
        }
        job_free(j);
    }
}

static struct job *job_new(enum job_kind kind)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j) {
        log_warning("store: out of memory, a state change is not recorded");
        return NULL;
    }
    j->kind = kind;
    j->time_ms = now_ms();
    return j;
}

static void submit(struct job *j)
{
    pthread_mutex_lock(&s.lock);
    list_push(&s.todo, j);
    pthread_cond_signal(&s.wake);
    pthread_mutex_unlock(&s.lock);
}

void store_commit_epoch(uint64_t epoch, const char *primary, store_done_cb cb, void *arg)
{
    struct job *j = s.open ? job_new(JOB_EPOCH) : NULL;
    if (!j) {
        cb(arg, false);
        return;
    }
    j->u.epoch.epoch = epoch;
    copy_text(j->u.epoch.primary, sizeof(j->u.epoch.primary), primary);
    j->u.epoch.cb = cb;
    j->u.epoch.arg = arg;
    owe_callback();
    submit(j);
}

void store_backend_update(const struct store_backend *b)
{
    struct job *j = s.open ? job_new(JOB_BACKEND) : NULL;
    if (!j) return;
    j->u.backend = *b;
    submit(j);
}

void store_event(uint64_t epoch, const char *kind, const char *backend, const char *fmt, ...)
{
    struct job *j = s.open ? job_new(JOB_EVENT) : NULL;
    if (!j) return;
    struct store_event *e = &j->u.event;
    e->time_ms = j->time_ms;
    e->epoch = epoch;
    copy_text(e->kind, sizeof(e->kind), kind);
    copy_text(e->backend, sizeof(e->backend), backend);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
    submit(j);
}

void store_config_set(const char *name, const char *value)
{
    struct job *j = s.open ? job_new(JOB_CONFIG) : NULL;
    if (!j) return;
    j->u.config.name = strdup(name);
    j->u.config.value = strdup(value);
    if (!j->u.config.name || !j->u.config.value) {
        log_warning("store: out of memory, the override of '%s' is not stored", name);
        job_free(j);
        return;
    }
    submit(j);
}

void store_events_page(int64_t since, int limit, store_events_cb cb, void *arg)
{
    struct job *j = s.open ? job_new(JOB_EVENTS_PAGE) : NULL;
    if (!j) {
        cb(arg, NULL, -1);
        return;
    }
    j->u.page.since = since;
    j->u.page.limit = limit < 0 ? 0 : limit > EVENTS_PAGE_MAX ? EVENTS_PAGE_MAX : limit;
    j->u.page.cb = cb;
    j->u.page.arg = arg;
    owe_callback();
    submit(j);
}

/* --- opening, start-up reads, closing ----------------------------------------------------- */

static bool make_dirs(const char *dir, char *err, size_t errlen)
{
    char path[sizeof(s.path)];
    copy_text(path, sizeof(path), dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char was = *p;
        *p = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "state-dir %s: cannot create %s: %s", dir, path, strerror(errno));
            return false;
        }
        *p = was;
        if (!was) return true;
    }
}

static bool lock_state_dir(const char *dir, char *err, size_t errlen)
{
    s.dir_lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s.dir_lock < 0) {
        snprintf(err, errlen, "state-dir %s: %s", dir, strerror(errno));
        return false;
    }
    struct stat st;
    if (fstat(s.dir_lock, &st) == 0 && (st.st_mode & 0007) &&
        fchmod(s.dir_lock, st.st_mode & 0770) == 0)
        log_notice("state-dir %s was open to every user (mode %04o): now %04o", dir,
                   (unsigned)st.st_mode & 07777, (unsigned)st.st_mode & 0770);
    if (flock(s.dir_lock, LOCK_EX | LOCK_NB) == 0) return true;
    snprintf(err, errlen, "state-dir %s is in use by another redpair (%s)", dir,
             errno == EWOULDBLOCK ? "locked" : strerror(errno));
    return false;
}

static int user_version(void)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(s.db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static bool migrate(char *err, size_t errlen)
{
    int version = user_version();
    if (version < 0) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(s.db));
        return false;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "schema version %d is newer than this redpair knows (%d); "
                 "run the redpair that wrote it",
                 version, SCHEMA_VERSION);
        return false;
    }
    for (; version < SCHEMA_VERSION; version++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", version + 1);
        if (!exec_sql("BEGIN IMMEDIATE", err, errlen)) return false;
        if (!exec_sql(migrations[version], err, errlen) || !exec_sql(bump, err, errlen) ||
            !exec_sql("COMMIT", err, errlen)) {
            sqlite3_exec(s.db, "ROLLBACK", NULL, NULL, NULL);
            return false;
        }
        if (version > 0) log_notice("store: %s migrated to schema version %d", s.path, version + 1);
    }
    return true;
}

/* False with the reason in err; the caller names the file. */
static bool open_database(char *err, size_t errlen)
{
    if (sqlite3_open_v2(s.path, &s.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "%s", s.db ? sqlite3_errmsg(s.db) : "cannot open");
        return false;
    }
    sqlite3_busy_timeout(s.db, 2000); /* an operator's sqlite3 reading the file */
    if (!exec_sql("PRAGMA journal_mode = WAL", err, errlen) ||
        !exec_sql("PRAGMA foreign_keys = ON", err, errlen) || !migrate(err, errlen))
        return false;
    for (int i = 0; i < STATEMENTS; i++) {
        if (sqlite3_prepare_v3(s.db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s.stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s", sqlite3_errmsg(s.db));
            return false;
        }
    }
    return true;
}

static void close_database(void)
{
    for (int i = 0; i < STATEMENTS; i++) {
        sqlite3_finalize(s.stmt[i]);
        s.stmt[i] = NULL;
    }
    sqlite3_close(s.db);
    s.db = NULL;
    if (s.dir_lock >= 0) close(s.dir_lock);
    s.dir_lock = -1;
}

bool store_open(uv_loop_t *loop, const char *state_dir, char *err, size_t errlen)
{
    if (snprintf(s.path, sizeof(s.path), "%s/redpair.db", state_dir) >= (int)sizeof(s.path)) {
        snprintf(err, errlen, "state-dir %s: path too long", state_dir);
        return false;
    }
    char why[512];
    if (!make_dirs(state_dir, err, errlen) || !lock_state_dir(state_dir, err, errlen)) {
        close_database();
        return false;
    }
    if (!open_database(why, sizeof(why))) {
        snprintf(err, errlen, "%s: %s", s.path, why);
        close_database();
        return false;
    }
    uv_async_init(loop, &s.answer, on_answers);
    uv_unref((uv_handle_t *)&s.answer);
    s.stopping = false;
    int rc = pthread_create(&s.writer, NULL, writer_main, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "store: cannot start the writer thread: %s", strerror(rc));
        uv_close((uv_handle_t *)&s.answer, NULL);
        close_database();
        return false;
    }
    s.open = true;
    return true;
}

/* Start-up reads share the connection with the writer, one at a time. */
static sqlite3_stmt *start_read(const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s.db_lock);
    if (sqlite3_prepare_v2(s.db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", s.path, sqlite3_errmsg(s.db));
        pthread_mutex_unlock(&s.db_lock);
        return NULL;
    }
    return st;
}

static bool end_read(sqlite3_stmt *st, int rc, char *err, size_t errlen)
{
    bool ok = rc == SQLITE_DONE;
    if (!ok) snprintf(err, errlen, "%s: %s", s.path, sqlite3_errmsg(s.db));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s.db_lock);
    return ok;
}

bool store_load(struct store_state *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st =
        start_read("SELECT epoch, primary_backend FROM roles WHERE id = 1", err, errlen);
    if (!st) return false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        out->epoch = (uint64_t)sqlite3_column_int64(st, 0);
        copy_text(out->primary, sizeof(out->primary), (const char *)sqlite3_column_text(st, 1));
    }
    if (!end_read(st, rc, err, errlen)) return false;

    st = start_read("SELECT name, state, run_id, offset FROM backends ORDER BY name", err, errlen);
    if (!st) return false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->backend_count == 2) continue; /* a backend renamed since: not ours any more */
        struct store_backend *b = &out->backends[out->backend_count++];
        copy_text(b->name, sizeof(b->name), (const char *)sqlite3_column_text(st, 0));
        copy_text(b->state, sizeof(b->state), (const char *)sqlite3_column_text(st, 1));
        copy_text(b->run_id, sizeof(b->run_id), (const char *)sqlite3_column_text(st, 2));
        b->offset = (uint64_t)sqlite3_column_int64(st, 3);
    }
    return end_read(st, rc, err, errlen);
}

bool store_config_each(store_config_cb cb, void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st =
        start_read("SELECT name, value FROM config_overrides ORDER BY name", err, errlen);
    if (!st) return false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        cb(arg, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
    return end_read(st, rc, err, errlen);
}

void store_close(void)
{
    if (!s.open) return;
    pthread_mutex_lock(&s.lock);
    s.stopping = true;
    pthread_cond_signal(&s.wake);
    pthread_mutex_unlock(&s.lock);
    pthread_join(s.writer, NULL);
    s.open = false;

    /* Callbacks still owed are not run: their callers are shutting down with us. */
    for (struct job *j = list_take(&s.answered), *next; j; j = next) {
        next = j->next;
        if (j->error[0]) log_warning("store %s: %s", s.path, j->error);
        job_free(j);
    }
    s.callbacks_owed = 0;
    uv_close((uv_handle_t *)&s.answer, NULL);
    close_database();
}
