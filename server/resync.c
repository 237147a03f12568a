#include "resync.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "backend.h"
#include "client.h"
#include "config_commands.h"
#include "failover.h"
#include "log.h"
#include "monitor.h"
#include "proxy.h"
#include "sequencer.h"
#include "store.h"

#define SYNC_DEADLINE_MS 120000 /* REPLICAOF until the copy is loaded */
#define HOLD_DEADLINE_MS 5000   /* clients paused until the offsets meet */
#define RETRY_AFTER_MS   1000   /* between a failed attempt and the next */

enum phase { IDLE, REPLICATING, HOLDING, PROMOTING };

struct resync {
    enum phase phase;
    int source;
    bool busy;    /* a command is out; the timer waits for it */
    bool holding; /* clients paused by us */
    long long source_offset;
    uint64_t deadline;
    uint64_t retry_after;
    uv_timer_t timer;
};

static struct resync rs[CONFIG_BACKENDS];

static void step(struct backend *b);

bool resync_active(const struct backend *b)
{
    return rs[b->index].phase != IDLE;
}

static void release_hold(struct resync *r)
{
    if (!r->holding) return;
    r->holding = false;
    client_resume_all();
}

static void ignore_reply(void *arg, const struct redisReply *reply)
{
    (void)arg;
    (void)reply;
}

static void fail(struct backend *b, const char *why)
{
    struct resync *r = &rs[b->index];
    if (r->phase == IDLE) return; /* abandoned: an answer that comes late changes nothing */
    release_hold(r);
    uv_timer_stop(&r->timer);
    r->phase = IDLE;
    r->busy = false;
    r->retry_after = uv_now(proxy.loop) + RETRY_AFTER_MS;
    monitor_command(b->index, ignore_reply, NULL, 3, (const char *[]){"REPLICAOF", "NO", "ONE"});
    store_event(failover_epoch(), "resync", b->name, "full resync failed: %s", why);
    log_warning("full resync of backend '%s' failed: %s", b->name, why);
    if (b->state == BACKEND_RESYNCING) failover_set_state(b, BACKEND_STALE, why);
}

static bool is_ok(const struct redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_STATUS;
}

static void on_replicaof(void *arg, const struct redisReply *reply)
{
    struct backend *b = arg;
    rs[b->index].busy = false;
    if (!is_ok(reply)) fail(b, reply && reply->str ? reply->str : "REPLICAOF got no answer");
}

static void on_promoted(void *arg, const struct redisReply *reply)
{
    struct backend *b = arg;
    struct resync *r = &rs[b->index];
    r->busy = false;
    if (!is_ok(reply)) {
        fail(b, "REPLICAOF NO ONE got no answer");
        return;
    }
    uv_timer_stop(&r->timer);
    r->phase = IDLE;
    config_commands_apply(b); /* a copy carries the data, not the settings changed through us */
    b->acked_offset = proxy.stream_offset;
    store_event(failover_epoch(), "resync", b->name, "full resync done at offset %llu",
                (unsigned long long)proxy.stream_offset);
    failover_set_state(b, BACKEND_IN_SYNC, "full resync done");
    release_hold(r);
}

/* INFO replication of the replica: done copying once the link is up and nothing is loading. */
static void on_replica_info(void *arg, const struct redisReply *reply)
{
    struct backend *b = arg;
    struct resync *r = &rs[b->index];
    r->busy = false;
    if (!reply || reply->type != REDIS_REPLY_STRING) return; /* loading, or reconnecting */
    struct probe p = {.slave_repl_offset = -1};
    monitor_parse_info(&p, reply->str, reply->len);
    if (strcmp(p.master_link_status, "up") != 0 || p.loading) return;
    if (r->phase == REPLICATING) {
        /* Copied: hold the stream so the primary stops moving, then let the offsets meet. */
        r->phase = HOLDING;
        r->holding = true;
        r->deadline = uv_now(proxy.loop) + HOLD_DEADLINE_MS;
        client_pause_all();
        log_notice("backend '%s' copied; holding the stream until it has every write", b->name);
    } else if (r->phase == HOLDING && r->source_offset >= 0 &&
               p.slave_repl_offset == r->source_offset) {
        r->phase = PROMOTING;
        r->busy = true;
        monitor_command(b->index, on_promoted, b, 3, (const char *[]){"REPLICAOF", "NO", "ONE"});
    }
}

static void on_source_info(void *arg, const struct redisReply *reply)
{
    struct backend *b = arg;
    struct resync *r = &rs[b->index];
    r->busy = false;
    if (!reply || reply->type != REDIS_REPLY_STRING) return;
    struct probe p = {.master_repl_offset = -1};
    monitor_parse_info(&p, reply->str, reply->len);
    r->source_offset = p.master_repl_offset;
    r->busy = true;
    monitor_command(b->index, on_replica_info, b, 2, (const char *[]){"INFO", "replication"});
}

static void step(struct backend *b)
{
    struct resync *r = &rs[b->index];
    if (r->busy || r->phase == IDLE) return;
    if (proxy.primary != r->source) {
        fail(b, "the primary changed");
        return;
    }
    if (uv_now(proxy.loop) > r->deadline) {
        fail(b,
             r->phase == HOLDING ? "the offsets did not meet in time" : "the copy took too long");
        return;
    }
    struct backend *src = &proxy.backends[r->source];
    r->busy = true;
    if (r->phase == REPLICATING) {
        monitor_command(b->index, on_replica_info, b, 2, (const char *[]){"INFO", "replication"});
    } else if (r->phase == HOLDING && src->acked_offset == proxy.stream_offset &&
               sequencer_settled() && b->connected) {
        monitor_command(r->source, on_source_info, b, 2, (const char *[]){"INFO", "replication"});
    } else {
        r->busy = false; /* the primary still owes replies, or the link is reconnecting */
    }
}

static void on_timer(uv_timer_t *t)
{
    step(t->data);
}

void resync_abandon(struct backend *b)
{
    struct resync *r = &rs[b->index];
    if (r->phase == IDLE) return;
    release_hold(r);
    uv_timer_stop(&r->timer);
    r->phase = IDLE;
    r->busy = false;
}

void resync_full_start(struct backend *b)
{
    struct resync *r = &rs[b->index];
    if (r->phase != IDLE || proxy.primary < 0 || uv_now(proxy.loop) < r->retry_after) return;
    if (!r->timer.data) {
        uv_timer_init(proxy.loop, &r->timer);
        r->timer.data = b;
    }
    struct backend *src = &proxy.backends[proxy.primary];
    r->phase = REPLICATING;
    r->source = proxy.primary;
    r->source_offset = -1;
    r->holding = false;
    r->deadline = uv_now(proxy.loop) + SYNC_DEADLINE_MS;
    failover_set_state(b, BACKEND_RESYNCING, "full copy from the primary");
    store_event(failover_epoch(), "resync", b->name, "full: copying from '%s'", src->name);

    const struct config *cfg = proxy.config;
    if (cfg->backend_password) {
        monitor_command(b->index, ignore_reply, NULL, 4,
                        (const char *[]){"CONFIG", "SET", "masterauth", cfg->backend_password});
        if (cfg->backend_user)
            monitor_command(b->index, ignore_reply, NULL, 4,
                            (const char *[]){"CONFIG", "SET", "masteruser", cfg->backend_user});
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", src->port);
    r->busy = true;
    monitor_command(b->index, on_replicaof, b, 3, (const char *[]){"REPLICAOF", src->host, port});
    uint64_t every = (uint64_t)cfg->probe_interval_ms;
    uv_timer_start(&r->timer, on_timer, every, every);
}
