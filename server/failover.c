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
 * Examining a returning server: if its cut link was answered in full (backend_drop), it holds the
 * stream exactly up to the last write that link sent. Otherwise first CLIENT KILL the link
 * redpair lost to it, which the server may still be serving from its socket buffer; once that
 * connection is gone nothing more can change, and GET of the offset key (backend.h) says from
 * where to replay the backlog to it, or ("N*") that only a full copy will do.
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
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "acl_commands.h"
#include "backend.h"
#include "backlog.h"
#include "client.h"
#include "cluster.h"
#include "config_commands.h"
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
    uint64_t gen; /* cluster: each takeover and each deposition; a late commit of an older one
                     changes nothing */
    bool paused;  /* cluster: clients held from the takeover until a primary is known */
    bool awaiting_quorum; /* cluster: the primary is out here, not yet for a majority */
    unsigned leaving;     /* cluster: backends' leaving the in-sync set, not yet committed */
    uint64_t transfer_after;
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
    if (cluster_enabled() && !cluster_serves_clients()) return cluster_state()->epoch;
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

bool failover_acks_held(void)
{
    return ha.leaving > 0;
}

static void propose_standing(const struct backend *b, bool leaving);

/* A standing committed; one that took a backend out of the in-sync set lets the acknowledgements
 * go once none is pending (sequencer.h). Not committed while still leading: asked again. */
static void on_standing(void *arg, bool ok)
{
    uintptr_t v = (uintptr_t)arg;
    if ((v >> 2) != ha.gen) return;
    const struct backend *b = &proxy.backends[v & 1];
    bool leaving = v & 2;
    if (!ok && cluster_leading()) {
        propose_standing(b, leaving);
        return;
    }
    if (leaving && --ha.leaving == 0) sequencer_release_acks();
    reconcile();
}

static void propose_standing(const struct backend *b, bool leaving)
{
    size_t len;
    char *entry = cluster_entry_backend(b->name, backend_state_name(b->state), b->run_id, &len);
    uintptr_t arg = (uintptr_t)ha.gen << 2 | (leaving ? 2u : 0u) | (uintptr_t)b->index;
    cluster_propose(entry, len, on_standing, (void *)arg);
}

/* Alone, the store keeps each backend's standing; in a cluster the log does (and a resync waits
 * until its "stale" is committed), the store keeping this node's own view. */
static void save_backend(const struct backend *b, bool leaving)
{
    struct store_backend sb = {.offset = b->acked_offset};
    snprintf(sb.name, sizeof(sb.name), "%s", b->name);
    snprintf(sb.state, sizeof(sb.state), "%s", backend_state_name(b->state));
    snprintf(sb.run_id, sizeof(sb.run_id), "%s", b->run_id);
    store_backend_update(&sb);
    if (!cluster_leading()) return;
    if (leaving) ha.leaving++;
    propose_standing(b, leaving);
}

/* What the log says of a backend's standing, "" when it says nothing. */
static const char *committed_state(const struct backend *b)
{
    const struct cluster_backend *cb = cluster_state_backend(cluster_state(), b->name);
    return cb ? cb->state : "";
}

const char *failover_state_name(int i)
{
    const struct backend *b = &proxy.backends[i];
    if (!cluster_enabled() || cluster_serves_clients()) return backend_state_name(b->state);
    const char *committed = committed_state(b);
    return committed[0] ? committed : backend_state_name(b->state);
}

int failover_primary(void)
{
    if (!cluster_enabled() || cluster_serves_clients()) return proxy.primary;
    const struct backend *p = find(cluster_state()->primary);
    return p ? p->index : -1;
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
    if (state == BACKEND_RESYNCING) ha.resyncs++;    /* a full one; catch_up counts the partial */
    log_write(state == BACKEND_IN_SYNC ? LOG_NOTICE : LOG_WARNING, "backend '%s' %s -> %s: %s",
              b->name, backend_state_name(was), backend_state_name(state), why);
    store_event(ha.epoch, "state", b->name, "%s -> %s: %s", backend_state_name(was),
                backend_state_name(state), why);
    save_backend(b, was == BACKEND_IN_SYNC);
    if (was == BACKEND_IN_SYNC && is_primary(b)) {
        proxy.primary = -1; /* nothing more is routed to it; a new epoch names the next one */
        log_warning("primary '%s' is out: %s", b->name, why);
    }
}

/* --- epochs ------------------------------------------------------------------------------ */

/* A commit's argument: the backend and the generation it was asked under. */
#define ELECT_ARG(index, gen) ((void *)(uintptr_t)((gen) << 1 | (uint64_t)(index)))

static void on_elected(void *arg, bool ok)
{
    uintptr_t v = (uintptr_t)arg;
    if ((v >> 1) != ha.gen) return; /* asked before a takeover or a deposition */
    struct backend *b = &proxy.backends[v & 1];
    ha.committing = false;
    client_resume_all();
    if (!ok) {
        log_warning("could not commit %s: not failing over to '%s' yet",
                    cluster_enabled() ? "the new primary" : "the new epoch", b->name);
        reconcile();
        return;
    }
    if (!cluster_enabled()) ha.epoch++; /* in a cluster the epoch is the leader's term */
    if (b->state != BACKEND_IN_SYNC) {  /* it left while the epoch was being stored */
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
    void *arg = ELECT_ARG(b->index, ha.gen);
    if (cluster_enabled()) {
        log_notice("electing backend '%s' primary through the cluster's log: %s", b->name, why);
        size_t len;
        char *entry = cluster_entry_primary(b->name, &len);
        cluster_propose(entry, len, on_elected, arg);
        return;
    }
    log_notice("electing backend '%s' primary under epoch %llu: %s", b->name,
               (unsigned long long)ha.epoch + 1, why);
    store_commit_epoch(ha.epoch + 1, b->name, on_elected, arg);
}

/* Cluster mode: a majority of the nodes sees the backend down (ODOWN, as Sentinel). */
static bool objectively_down(const struct backend *b)
{
    return cluster_down_votes(b->index) >= cluster_voters() / 2 + 1;
}

/* Cluster mode: this leader cannot reach a backend that another node, which reaches both, can;
 * leadership goes there rather than the backend being dropped. At most once per election
 * timeout. */
static bool hand_over(const struct backend *b)
{
    uint64_t now = uv_now(proxy.loop);
    const char *to = cluster_node_seeing_both();
    if (!to || now < ha.transfer_after || monitor_probe(b->index)->up) return false;
    ha.transfer_after = now + (uint64_t)proxy.config->election_timeout_ms;
    char err[128];
    log_warning("backend '%s' is down for this node only: handing leadership to '%s'", b->name, to);
    if (!cluster_transfer(to, err, sizeof(err))) log_warning("leadership transfer: %s", err);
    return true;
}

/* Cluster mode: clients connected since the takeover began are let in. */
static void takeover_done(void)
{
    if (!ha.paused) return;
    ha.paused = false;
    client_resume_all();
}

/* Clients wait while the primary is out here but not yet for a majority. */
static void await_quorum(bool on)
{
    if (ha.awaiting_quorum == on) return;
    ha.awaiting_quorum = on;
    if (on)
        client_pause_all();
    else
        client_resume_all();
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
    bool exact = true;      /* "N", or no key at all */
    bool replayable = true; /* "N+": blind writes may follow N; "N*": any write may */
    if (reply->type == REDIS_REPLY_STRING) {
        char *end;
        offset = strtoull(reply->str, &end, 10);
        exact = *end == '\0';
        replayable = *end != '*';
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
    if (b->drained) {
        offset = b->drained_at; /* its cut link was answered in full (backend_drop) */
    } else if (!replayable) {
        failover_set_state(b, BACKEND_STALE,
                           "its link was lost with writes unanswered, and its offset key says "
                           "writes of any kind may follow its mark (write-marks quiet)");
        reconcile();
        return;
    }
    b->drained = false;
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

/* A backend may be the source at start-up only if it held the stream when redpair last ran and
 * still does: stored in sync, and not restarted since, or restarted with its data (an offset
 * key). A server that came back empty is never a source. */
static bool held_stream(int i)
{
    const struct backend *b = &proxy.backends[i];
    if (!ha.examined[i] || !ha.trusted[i]) return false;
    return !b->run_id[0] || strcmp(monitor_probe(i)->run_id, b->run_id) == 0 ||
           ha.offset_seen[i] > 0;
}

/* Both servers restarted empty (the whole pair lost its data): nothing is left to protect. */
static bool both_empty(void)
{
    for (int i = 0; i < CONFIG_BACKENDS; i++)
        if (!ha.examined[i] || ha.offset_seen[i] || monitor_probe(i)->keys) return false;
    return true;
}

/* Once both are examined (or the start-up wait is over): the backend that held the stream
 * furthest resumes, the stored primary when they are level; a change of primary takes a new
 * epoch (in a cluster, replacing an unreachable stored primary needs a majority to see it down).
 * The other joins if it is at the very same offset, and is resynced otherwise. */
static void start_up_decide(void)
{
    bool waited = !uv_is_active((uv_handle_t *)&ha.startup);
    if (ha.started || ha.committing) return;
    if (!(ha.examined[0] && ha.examined[1]) && !waited) return;

    struct backend *primary = NULL;
    struct backend *stored = find(ha.stored_primary);
    if (stored && held_stream(stored->index)) primary = stored;
    bool may_replace =
        !stored || !cluster_enabled() || objectively_down(stored) || ha.examined[stored->index];
    /* Both took the one stream, so the one further along holds everything the other does: a
     * write that reached only it (its twin's link died first, and it was acknowledged on its
     * reply alone) is not lost by copying from the other. Level, the stored primary stays. */
    for (int i = 0; i < CONFIG_BACKENDS && may_replace; i++)
        if (held_stream(i) && (!primary || ha.offset_seen[i] > ha.offset_seen[primary->index]))
            primary = &proxy.backends[i];
    if (!primary && both_empty()) {
        log_warning("both servers came back empty since redpair last ran: starting afresh");
        primary = stored ? stored : &proxy.backends[0];
        for (int i = 0; i < CONFIG_BACKENDS; i++) {
            ha.trusted[i] = true;
            proxy.backends[i].run_id[0] = '\0';
        }
    }
    if (!primary) {
        if (waited) {
            if (stored && !may_replace) hand_over(stored);
            log_warning("no backend that held the stream is reachable: waiting for one");
            proxy_open_doors();
            takeover_done();
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
        if (held_stream(o->index) && level) {
            o->acked_offset = proxy.stream_offset;
            failover_set_state(o, BACKEND_IN_SYNC, "at the same offset as the primary");
        } else {
            failover_set_state(o, BACKEND_STALE, "not level with the primary at start-up");
        }
    }
    if (primary == stored && (ha.epoch > 0 || cluster_enabled())) {
        proxy.primary = primary->index;
        log_notice("epoch %llu: primary is backend '%s' (resumed)", (unsigned long long)ha.epoch,
                   primary->name);
        proxy_open_doors();
    } else {
        elect(primary, stored != NULL,
              stored ? "the stored primary is not reachable" : "first start");
    }
    takeover_done();
    reconcile();
}

static void on_startup_timeout(uv_timer_t *t)
{
    (void)t;
    start_up_decide();
}

/* --- events ------------------------------------------------------------------------------- */

/* In a cluster, replacing a primary that is merely down needs a majority to see it down; one that
 * came back stale (restarted empty) is replaced at once. */
static bool may_replace_primary(void)
{
    struct backend *p = cluster_enabled() ? find(cluster_state()->primary) : NULL;
    if (!p || p->state != BACKEND_DOWN || objectively_down(p)) return true;
    hand_over(p);
    return false;
}

static void reconcile(void)
{
    if (ha.committing || (cluster_enabled() && !cluster_leading())) return;
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        struct backend *b = &proxy.backends[i];
        bool up = monitor_probe(i)->up && b->connected;
        bool stale_committed = !cluster_enabled() || !strcmp(committed_state(b), "stale");
        if (b->state == BACKEND_DOWN && up)
            examine(b);
        else if (b->state == BACKEND_STALE && up && proxy.primary >= 0 && !resync_active(b) &&
                 stale_committed)
            resync_full_start(b);
        else if (cluster_enabled() && ha.started && b->state == BACKEND_DOWN)
            hand_over(b);
    }
    bool waiting = false;
    if (ha.started && proxy.primary < 0)
        for (int i = 0; i < CONFIG_BACKENDS; i++) {
            if (proxy.backends[i].state != BACKEND_IN_SYNC) continue;
            if (may_replace_primary())
                elect(&proxy.backends[i], true, "the primary is out");
            else
                waiting = true;
            break;
        }
    await_quorum(waiting);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    reconcile();
}

static void on_monitor(int index, enum monitor_change change, const struct probe *p)
{
    struct backend *b = &proxy.backends[index];
    switch (change) {
    case MONITOR_FENCED: /* no older leader can write to it now: the link may connect */
        if (cluster_leading()) backend_enable(b);
        return;
    case MONITOR_FENCED_OUT: failover_fenced_out(b); return;
    case MONITOR_UP:
    case MONITOR_DOWN: break;
    }
    store_event(ha.epoch, change == MONITOR_UP ? "up" : "down", b->name, "%s",
                change == MONITOR_UP ? p->run_id : p->last_error);
    if (change == MONITOR_DOWN && backend_in_stream(b)) backend_drop(b, p->last_error);
    if (change == MONITOR_UP) backend_seen_again(b);
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

/* Manual operations act on the leader's links: a follower sends the operator there. */
static struct backend *named(const char *name, char *err, size_t errlen)
{
    if (cluster_enabled() && !cluster_leading()) {
        const char *leader = cluster_leader_name();
        refuse(err, errlen, "this node does not lead the cluster%s%s: ask the leader",
               leader ? ", the leader is " : "", leader ? leader : "");
        return NULL;
    }
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
    } else if (!named(proxy.backends[0].name, err, errlen)) {
        return false;
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

static bool maintenance_allowed(const struct backend *b, bool enabled, char *err, size_t errlen)
{
    if (!enabled) {
        if (b->state != BACKEND_MAINTENANCE)
            return refuse(err, errlen, "backend '%s' is not in maintenance%s", b->name, "");
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
    return true;
}

static void maintenance_now(struct backend *b, bool enabled)
{
    if (!enabled) {
        failover_set_state(b, BACKEND_DOWN, "maintenance ended");
        reconcile();
        return;
    }
    bool was_primary = is_primary(b);
    failover_set_state(b, BACKEND_MAINTENANCE, "taken out by the operator");
    if (was_primary) elect(other(b), true, "the primary went into maintenance");
}

/* Cluster mode: the change is in the log before it acts, and is checked again then. */
struct maintenance_change {
    uint64_t gen;
    int backend;
    bool enabled;
};

static void on_maintenance_committed(void *arg, bool ok)
{
    struct maintenance_change *m = arg;
    struct backend *b = &proxy.backends[m->backend];
    char err[160];
    if (!ok || m->gen != ha.gen)
        log_warning("maintenance of backend '%s' not changed: %s", b->name,
                    ok ? "leadership changed meanwhile" : "the cluster did not commit it");
    else if (!maintenance_allowed(b, m->enabled, err, sizeof(err)))
        log_warning("maintenance of backend '%s' not changed: %s", b->name, err);
    else
        maintenance_now(b, m->enabled);
    free(m);
}

bool failover_maintenance(const char *name, bool enabled, char *err, size_t errlen)
{
    struct backend *b = named(name, err, errlen);
    if (!b || !maintenance_allowed(b, enabled, err, errlen)) return false;
    if (!cluster_enabled()) {
        maintenance_now(b, enabled);
        return true;
    }
    struct maintenance_change *m = xrealloc(NULL, sizeof(*m));
    *m = (struct maintenance_change){.gen = ha.gen, .backend = b->index, .enabled = enabled};
    size_t len;
    char *entry = cluster_entry_maintenance(b->name, enabled, &len);
    cluster_propose(entry, len, on_maintenance_committed, m);
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

/* --- cluster mode ------------------------------------------------------------------------- */

void failover_takeover(uint64_t epoch)
{
    const struct cluster_state *st = cluster_state();
    ha.gen++;
    ha.epoch = epoch;
    ha.started = ha.committing = false;
    snprintf(ha.stored_primary, sizeof(ha.stored_primary), "%s", st->primary);
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        struct backend *b = &proxy.backends[i];
        const struct cluster_backend *cb = cluster_state_backend(st, b->name);
        ha.trusted[i] = !st->primary[0] || (cb && !strcmp(cb->state, "in-sync"));
        snprintf(b->run_id, sizeof(b->run_id), "%s", cb ? cb->run_id : "");
        ha.examining[i] = ha.examined[i] = ha.exact_seen[i] = false;
        ha.offset_seen[i] = 0;
        b->lost_addr[0] = '\0';
        b->drained = false;
        if (cb && cb->maintenance) b->state = BACKEND_MAINTENANCE;
    }
    config_commands_adopt(st);
    acl_commands_adopt(st);
    log_notice("epoch %llu: this node leads; fencing the backends (stored primary '%s')",
               (unsigned long long)epoch, st->primary[0] ? st->primary : "none");
    store_event(epoch, "leader", NULL, "this node took the backends over");
    ha.paused = true;
    client_pause_all();
    uv_timer_start(&ha.startup, on_startup_timeout, (uint64_t)proxy.config->down_after_ms, 0);
    monitor_fence(epoch); /* each backend's link connects once it is fenced (on_monitor) */
}

void failover_depose(const char *why)
{
    ha.gen++;
    log_warning("epoch %llu: this node no longer leads: %s", (unsigned long long)ha.epoch, why);
    store_event(ha.epoch, "leader", NULL, "this node stopped leading: %s", why);
    uv_timer_stop(&ha.startup);
    takeover_done();
    await_quorum(false);
    if (ha.committing) {
        ha.committing = false;
        client_resume_all();
    }
    ha.started = false;
    proxy.primary = -1;
    ha.leaving = 0;
    sequencer_drop_acks(); /* never answered: their clients are closed below */
    monitor_fence(0);
    for (int i = 0; i < CONFIG_BACKENDS; i++) {
        struct backend *b = &proxy.backends[i];
        resync_abandon(b);
        backend_disable(b, why);
        b->state = BACKEND_DOWN; /* the next leader examines them afresh */
    }
    /* Their requests may have been sent under an epoch that is over: they reconnect, as after
     * any Redis failover, to whichever node they like. */
    for (struct client *c = proxy.clients, *next; c; c = next) {
        next = c->next;
        client_close(c);
    }
}

void failover_fenced_out(struct backend *b)
{
    log_warning("backend '%s' holds a newer epoch than %llu: another node has taken over", b->name,
                (unsigned long long)ha.epoch);
    cluster_deposed("a backend holds a newer leader's epoch");
}

bool failover_start(char *err, size_t errlen)
{
    const struct config *cfg = proxy.config;
    if (!store_open(proxy.loop, cfg->state_dir, err, errlen)) return false;
    uv_timer_init(proxy.loop, &ha.tick);
    uv_timer_init(proxy.loop, &ha.startup);
    if (config_clustered(cfg)) { /* the log holds the epoch and roles; a takeover starts the rest */
        uv_timer_start(&ha.tick, on_tick, (uint64_t)cfg->probe_interval_ms,
                       (uint64_t)cfg->probe_interval_ms);
        monitor_start(proxy.loop, cfg, on_monitor);
        return true;
    }
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
    uv_timer_start(&ha.tick, on_tick, (uint64_t)cfg->probe_interval_ms,
                   (uint64_t)cfg->probe_interval_ms);
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
