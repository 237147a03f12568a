/* Failover: the HA state machine over the two backends.
 *
 *                 link or probe lost                  examined: same run_id, offset in backlog
 *   in-sync ─────────────────────────▶ down ────────────────────────────▶ catching-up ──▶ in-sync
 *      ▲                                 │ restarted, empty, or backlog overflowed
 *      │          REPLICAOF … NO ONE     ▼
 *      └──────────────────────────── resyncing ◀──────────────────── stale
 *
 *   maintenance: taken out and put back by the operator; put back, it is examined like a return.
 *
 * Examining a returning server: first CLIENT KILL the link redpair lost to it, which the server
 * may still be serving from its socket buffer; once that connection is gone nothing more can
 * change, and GET of the offset key (backend.h) says from where to replay the backlog to it.
 *
 * Exactly one in-sync backend is primary. Roles change only under a new epoch, committed to the
 * store before it takes effect: clients are paused (their input waits in the kernel) from the
 * moment the primary is lost until the commit's callback names the new one.
 *
 * The logic is level-triggered: every event (probe up/down, link up/down, a step finished) calls
 * reconcile(), which looks at both backends and starts whatever is due. */
#include "failover.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "backend.h"
#include "backlog.h"
#include "client.h"
#include "log.h"
#include "monitor.h"
#include "proxy.h"
#include "pubsub.h"
#include "resync.h"
#include "sequencer.h"
#include "store.h"

static struct {
    uint64_t epoch;
    uint64_t failovers;
    uint64_t resyncs;
    bool committing;
    bool replacing; /* the epoch being stored replaces a primary (a failover, not the first) */
    bool started;   /* start-up decided who is primary */
    bool trusted[CONFIG_BACKENDS]; /* start-up: held the stream when redpair last ran */
    char stored_primary[STORE_NAME_MAX];
    bool examining[CONFIG_BACKENDS];
    bool examined[CONFIG_BACKENDS]; /* start-up: its offset is known */
    uint64_t offset_seen[CONFIG_BACKENDS];
    bool exact_seen[CONFIG_BACKENDS]; /* start-up: and it holds no write after it (backend.h) */
    uv_timer_t tick;
    uv_timer_t startup;
} ha;

static void reconcile(void);

uint64_t failover_epoch(void)
{
    return ha.epoch;
}

uint64_t failover_count(void)
{
    return ha.failovers;
}

uint64_t resync_count(void)
{
    return ha.resyncs;
}

static struct backend *find(const char *name)
{
    for (int i = 0; i < CONFIG_BACKENDS; i++)
        if (name && strcmp(proxy.backends[i].name, name) == 0) return &proxy.backends[i];
    return NULL;
}

static struct backend *other(const struct backend *b)
{
    return &proxy.backends[1 - b->index];
}

static bool is_primary(const struct backend *b)
{
    return proxy.primary == b->index;
}

static void save_backend(const struct backend *b)
{
    struct store_backend sb = {.offset = b->acked_offset};
    snprintf(sb.name, sizeof(sb.name), "%s", b->name);
    snprintf(sb.state, sizeof(sb.state), "%s", backend_state_name(b->state));
    snprintf(sb.run_id, sizeof(sb.run_id), "%s", b->run_id);
    store_backend_update(&sb);
}

void failover_set_state(struct backend *b, enum backend_state state, const char *why)
{
    if (b->state == state) return;
    enum backend_state was = b->state;
    b->state = state;
    if (state == BACKEND_IN_SYNC) {
        const struct probe *p = monitor_probe(b->index);
        if (p->run_id[0]) memcpy(b->run_id, p->run_id, sizeof(b->run_id));
    }
    if (state == BACKEND_STALE) b->run_id[0] = '\0'; /* only a full copy brings it back */
    log_write(state == BACKEND_IN_SYNC ? LOG_NOTICE : LOG_WARNING, "backend '%s' %s -> %s: %s",
              b->name, backend_state_name(was), backend_state_name(state), why);
    store_event(ha.epoch, "state", b->name, "%s -> %s: %s", backend_state_name(was),
                backend_state_name(state), why);
    save_backend(b);
    if (was == BACKEND_IN_SYNC && is_primary(b)) {
        proxy.primary = -1; /* nothing more is routed to it; a new epoch names the next one */
        log_warning("primary '%s' is out: %s", b->name, why);
    }
}

/* --- epochs ------------------------------------------------------------------------------ */

static void on_elected(void *arg, bool ok)
{
    struct backend *b = &proxy.backends[(intptr_t)arg];
    ha.committing = false;
    client_resume_all();
    if (!ok) {
        log_warning("could not store epoch %llu: not failing over to '%s' yet",
                    (unsigned long long)ha.epoch + 1, b->name);
        reconcile();
        return;
    }
    ha.epoch++;
    if (b->state != BACKEND_IN_SYNC) { /* it left while the epoch was being stored */
        reconcile();
        return;
    }
    if (ha.replacing) ha.failovers++;
    proxy.primary = b->index;
    pubsub_primary_changed();
    log_notice("epoch %llu: primary is backend '%s'", (unsigned long long)ha.epoch, b->name);
    store_event(ha.epoch, "failover", b->name, "epoch %llu: '%s' is primary",
                (unsigned long long)ha.epoch, b->name);
    proxy_open_doors();
    reconcile();
}

/* A new epoch with b as primary: stored first, effective in on_elected. */
static void elect(struct backend *b, bool replacing, const char *why)
{
    if (ha.committing) return;
    ha.committing = true;
    ha.replacing = replacing;
    if (proxy.primary >= 0) proxy.primary = -1;
    client_pause_all();
    log_notice("electing backend '%s' primary under epoch %llu: %s", b->name,
               (unsigned long long)ha.epoch + 1, why);
    store_commit_epoch(ha.epoch + 1, b->name, on_elected, (void *)(intptr_t)b->index);
}

/* --- examining a returning backend ----------------------------------------------------- */

static void replay_into(void *ctx, uint64_t offset, int db, const char *bytes, size_t len)
{
    backend_replay(ctx, offset, db, bytes, len);
}

static void catch_up(struct backend *b, uint64_t offset)
{
    if (!backlog_replay(offset, replay_into, b)) return;
    b->acked_offset = offset;
    b->catch_up_to = proxy.stream_offset;
    ha.resyncs++;
    if (offset == proxy.stream_offset)
        store_event(ha.epoch, "resync", b->name, "partial: no write missed (offset %llu)",
                    (unsigned long long)offset);
    else
        store_event(ha.epoch, "resync", b->name, "partial: replaying writes %llu..%llu",
                    (unsigned long long)offset + 1, (unsigned long long)proxy.stream_offset);
    failover_set_state(b, BACKEND_CATCHING_UP,
                       "it returned holding the stream up to an offset "
                       "the backlog still covers");
    failover_caught_up(b);
}

void failover_caught_up(struct backend *b)
{
    if (b->state == BACKEND_CATCHING_UP && b->acked_offset >= b->catch_up_to)
        failover_set_state(b, BACKEND_IN_SYNC, "partial resync done");
    if (b->state == BACKEND_IN_SYNC) reconcile();
}

/* Where the stream was, in a backend known to be at offset: partial resync, or stale. */
static void rejoin(struct backend *b, uint64_t offset, const char *run_id)
{
    char why[160];
    bool same = b->run_id[0] && strcmp(run_id, b->run_id) == 0;
    if (!same)
        snprintf(why, sizeof(why), "its run_id changed (it restarted)");
    else if (offset > proxy.stream_offset || !backlog_covers(offset))
        snprintf(why, sizeof(why), "it holds offset %llu, outside the backlog",
                 (unsigned long long)offset);
    else {
        catch_up(b, offset);
        return;
    }
    failover_set_state(b, BACKEND_STALE, why);
}

static void start_up_decide(void);

static void on_offset(void *arg, const struct redisReply *reply)
{
    struct backend *b = arg;
    ha.examining[b->index] = false;
    if (!reply || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        log_verbose("backend '%s': could not read its offset", b->name);
        return; /* the next tick tries again */
    }
    uint64_t offset = 0;
    bool exact = true; /* "N", or no key at all; "N+" may have blind writes after N */
    if (reply->type == REDIS_REPLY_STRING) {
        char *end;
        offset = strtoull(reply->str, &end, 10);
        exact = *end == '\0';
    }
    if (b->state != BACKEND_DOWN || !b->connected) return;
    const struct probe *p = monitor_probe(b->index);
    log_verbose("backend '%s' holds the stream up to offset %llu", b->name,
                (unsigned long long)offset);
    if (!ha.started) {
        ha.examined[b->index] = true;
        ha.offset_seen[b->index] = offset;
        ha.exact_seen[b->index] = exact;
        start_up_decide();
        return;
    }
    if (!sequencer_settled()) return; /* an effect write is not in the backlog yet: next tick */
    rejoin(b, offset, p->run_id);
    reconcile();
}

static void on_killed(void *arg, const struct redisReply *reply)
{
    struct backend *b = arg;
    if (!reply) {
        ha.examining[b->index] = false;
        return;
    }
    b->lost_addr[0] = '\0'; /* gone now, or never there: either way nothing more can change */
    monitor_command(b->index, on_offset, b, 2, (const char *[]){"GET", BACKEND_OFFSET_KEY});
}

static void examine(struct backend *b)
{
    if (ha.examining[b->index]) return;
    ha.examining[b->index] = true;
    if (b->lost_addr[0])
        monitor_command(b->index, on_killed, b, 4,
                        (const char *[]){"CLIENT", "KILL", "ADDR", b->lost_addr});
    else
        monitor_command(b->index, on_offset, b, 2, (const char *[]){"GET", BACKEND_OFFSET_KEY});
}

/* --- start-up ------------------------------------------------------------------------------ */

/* Once both are examined (or the start-up wait is over): the stored primary resumes if it is
 * there; else a backend that held the stream takes over under a new epoch. The other joins if
 * it is at the very same offset, and is resynced otherwise. */
static void start_up_decide(void)
{
    bool waited = !uv_is_active((uv_handle_t *)&ha.startup);
    if (ha.started || ha.committing) return;
    if (!(ha.examined[0] && ha.examined[1]) && !waited) return;

    struct backend *primary = NULL;
    struct backend *stored = find(ha.stored_primary);
    if (stored && ha.examined[stored->index] && ha.trusted[stored->index]) primary = stored;
    for (int i = 0; i < CONFIG_BACKENDS && !primary; i++)
        if (ha.examined[i] && ha.trusted[i]) primary = &proxy.backends[i];
    if (!primary) {
        if (waited) {
            log_warning("no backend that held the stream is reachable: waiting for one");
            proxy_open_doors();
        }
        return;
    }
    ha.started = true;
    uv_timer_stop(&ha.startup);
    proxy.stream_offset = ha.offset_seen[primary->index];
    backlog_reset((size_t)proxy.config->backlog_size, proxy.stream_offset + 1);
    primary->acked_offset = proxy.stream_offset;
    failover_set_state(primary, BACKEND_IN_SYNC, "holds the stream");

    struct backend *o = other(primary);
    if (ha.examined[o->index]) {
        const struct probe *pp = monitor_probe(primary->index), *op = monitor_probe(o->index);
        bool level = ha.offset_seen[o->index] == proxy.stream_offset && ha.exact_seen[o->index] &&
                     ha.exact_seen[primary->index] && (ha.epoch > 0 || pp->keys == op->keys);
        if (ha.trusted[o->index] && level) {
            o->acked_offset = proxy.stream_offset;
            failover_set_state(o, BACKEND_IN_SYNC, "at the same offset as the primary");
        } else {
            failover_set_state(o, BACKEND_STALE, "not level with the primary at start-up");
        }
    }
    if (primary == stored && ha.epoch > 0) {
        proxy.primary = primary->index;
        log_notice("epoch %llu: primary is backend '%s' (resumed)", (unsigned long long)ha.epoch,
                   primary->name);
        proxy_open_doors();
    } else {
        elect(primary, ha.epoch > 0,
              ha.epoch ? "the stored primary is not reachable" : "first start");
    }
    reconcile();
}

static void on_startup_timeout(uv_timer_t *t)
{
    (void)t;
    start_up_decide();
}

/* --- events ------------------------------------------------------------------------------- */

static void reconcile(void)
{
    if (ha.committing) return;
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        struct backend *b = &proxy.backends[i];
        bool up = monitor_probe(i)->up && b->connected;
        if (b->state == BACKEND_DOWN && up)
            examine(b);
        else if (b->state == BACKEND_STALE && up && proxy.primary >= 0 && !resync_active(b))
            resync_full_start(b);
    }
    if (ha.started && proxy.primary < 0)
        for (int i = 0; i < CONFIG_BACKENDS; i++)
            if (proxy.backends[i].state == BACKEND_IN_SYNC) {
                elect(&proxy.backends[i], true, "the primary is out");
                break;
            }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    reconcile();
}

static void on_monitor(int index, enum monitor_change change, const struct probe *p)
{
    struct backend *b = &proxy.backends[index];
    store_event(ha.epoch, change == MONITOR_UP ? "up" : "down", b->name, "%s",
                change == MONITOR_UP ? p->run_id : p->last_error);
    if (change == MONITOR_DOWN && backend_in_stream(b)) backend_drop(b, p->last_error);
    reconcile();
}

void failover_diverged(struct backend *b)
{
    if (is_primary(b) || b->state != BACKEND_IN_SYNC) return;
    failover_set_state(b, BACKEND_STALE, "its reply to a write differed from the primary's");
    reconcile();
}

void failover_link_up(struct backend *b)
{
    (void)b;
    reconcile();
}

void failover_link_down(struct backend *b, const char *why)
{
    if (backend_in_stream(b)) failover_set_state(b, BACKEND_DOWN, why);
    reconcile();
}

/* --- manual operations --------------------------------------------------------------------- */

static bool refuse(char *err, size_t errlen, const char *fmt, const char *name, const char *more)
{
    snprintf(err, errlen, fmt, name, more);
    return false;
}

static struct backend *named(const char *name, char *err, size_t errlen)
{
    struct backend *b = find(name);
    if (!b) refuse(err, errlen, "no backend named '%s'%s", name ? name : "", "");
    return b;
}

bool failover_manual(const char *target, char *err, size_t errlen)
{
    if (ha.committing) return refuse(err, errlen, "a failover is already in progress%s%s", "", "");
    struct backend *b;
    if (target) {
        if (!(b = named(target, err, errlen))) return false;
    } else if (proxy.primary >= 0) {
        b = other(&proxy.backends[proxy.primary]);
    } else {
        return refuse(err, errlen, "there is no primary to fail over from%s%s", "", "");
    }
    if (is_primary(b))
        return refuse(err, errlen, "backend '%s' is already the primary%s", b->name, "");
    if (b->state != BACKEND_IN_SYNC)
        return refuse(err, errlen, "backend '%s' is %s: only an in-sync backend can become primary",
                      b->name, backend_state_name(b->state));
    elect(b, true, "manual failover");
    return true;
}

bool failover_maintenance(const char *name, bool enabled, char *err, size_t errlen)
{
    struct backend *b = named(name, err, errlen);
    if (!b) return false;
    if (!enabled) {
        if (b->state != BACKEND_MAINTENANCE)
            return refuse(err, errlen, "backend '%s' is not in maintenance%s", b->name, "");
        failover_set_state(b, BACKEND_DOWN, "maintenance ended");
        reconcile();
        return true;
    }
    if (b->state == BACKEND_MAINTENANCE)
        return refuse(err, errlen, "backend '%s' is already in maintenance%s", b->name, "");
    if (b->state == BACKEND_RESYNCING)
        return refuse(err, errlen, "backend '%s' is resyncing: wait until it is done%s", b->name,
                      "");
    if (is_primary(b) && other(b)->state != BACKEND_IN_SYNC)
        return refuse(err, errlen,
                      "backend '%s' is the only backend in sync: it cannot be taken out%s", b->name,
                      "");
    if (ha.committing) return refuse(err, errlen, "a failover is in progress%s%s", "", "");
    bool was_primary = is_primary(b);
    failover_set_state(b, BACKEND_MAINTENANCE, "taken out by the operator");
    if (was_primary) elect(other(b), true, "the primary went into maintenance");
    return true;
}

bool failover_resync(const char *name, char *err, size_t errlen)
{
    struct backend *b = named(name, err, errlen);
    if (!b) return false;
    if (is_primary(b))
        return refuse(err, errlen, "backend '%s' is the primary: fail over first%s", b->name, "");
    if (proxy.primary < 0)
        return refuse(err, errlen, "there is no primary to copy '%s' from%s", b->name, "");
    if (b->state == BACKEND_RESYNCING || resync_active(b))
        return refuse(err, errlen, "backend '%s' is already resyncing%s", b->name, "");
    if (b->state == BACKEND_MAINTENANCE)
        return refuse(err, errlen, "backend '%s' is in maintenance: take it out first%s", b->name,
                      "");
    failover_set_state(b, BACKEND_STALE, "full resync requested by the operator");
    reconcile();
    return true;
}

/* --- start -------------------------------------------------------------------------------- */

bool failover_start(char *err, size_t errlen)
{
    const struct config *cfg = proxy.config;
    if (!store_open(proxy.loop, cfg->state_dir, err, errlen)) return false;
    struct store_state st;
    if (!store_load(&st, err, errlen)) return false;
    ha.epoch = st.epoch;
    snprintf(ha.stored_primary, sizeof(ha.stored_primary), "%s", st.primary);
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        struct backend *b = &proxy.backends[i];
        ha.trusted[i] = st.epoch == 0;
        for (int j = 0; j < st.backend_count; j++) {
            const struct store_backend *sb = &st.backends[j];
            if (strcmp(sb->name, b->name) != 0) continue;
            ha.trusted[i] = strcmp(sb->state, "in-sync") == 0;
            memcpy(b->run_id, sb->run_id, sizeof(b->run_id));
        }
    }
    if (ha.epoch)
        log_notice("resuming epoch %llu, primary '%s'", (unsigned long long)ha.epoch,
                   ha.stored_primary[0] ? ha.stored_primary : "none");
    backlog_reset((size_t)cfg->backlog_size, 1);
    uv_timer_init(proxy.loop, &ha.tick);
    uv_timer_start(&ha.tick, on_tick, (uint64_t)cfg->probe_interval_ms,
                   (uint64_t)cfg->probe_interval_ms);
    uv_timer_init(proxy.loop, &ha.startup);
    uv_timer_start(&ha.startup, on_startup_timeout, (uint64_t)cfg->down_after_ms, 0);
    monitor_start(proxy.loop, cfg, on_monitor);
    return true;
}

void failover_stop(void)
{
    monitor_stop();
    uv_close((uv_handle_t *)&ha.tick, NULL);
    uv_close((uv_handle_t *)&ha.startup, NULL);
    store_close();
}
