/* The health monitor: probes each backend over a connection of its own, apart from the data link,
 * so a slow data stream never hides a live server and a dead one is seen even when idle.
 *
 *   every probe-interval-ms:  PING, then INFO   ──▶ struct probe (latest view of the server)
 *   no valid answer for down-after-ms, or -LOADING / -MASTERDOWN answers ──▶ down
 *   a valid answer again ──▶ up
 *
 * A server running a script redpair sent it is alive though it answers nothing until its
 * busy-reply-threshold, then -BUSY until the script ends: it is given that threshold more before
 * it is down, and -BUSY answers count as valid while it was up.
 *
 * Changes of up/down and of run_id are reported through the callback given to monitor_start; the
 * HA logic (failover.c) decides what they mean. The same connection carries the HA logic's own
 * control commands (REPLICAOF, INFO replication, GET of the offset key) through monitor_command. */
#ifndef REDPAIR_MONITOR_H
#define REDPAIR_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

/* The latest view of one backend. Times are uv_now() of the loop given to monitor_start:
 * monotonic milliseconds, not wall-clock (compare them with uv_now, not proxy_now_ms). */
struct probe {
    bool up; /* answering within down-after-ms */
    bool ever_up;
    uint64_t last_ok_ms;    /* when the last valid answer came, 0 never */
    uint64_t last_probe_ms; /* when the last probe was sent */
    uint64_t latency_us;    /* round trip of the last PING */
    char run_id[41];
    char role[16]; /* "master" / "slave" */
    bool loading;
    char master_link_status[8];   /* "up" / "down" when a replica, "" otherwise */
    long long master_repl_offset; /* INFO replication */
    long long slave_repl_offset;  /* when a replica, -1 otherwise */
    long long used_memory, maxmemory;
    char maxmemory_policy[32];
    bool aof_enabled;
    char rdb_save[128];      /* CONFIG GET save, "" when off (read once per connection) */
    long long busy_reply_ms; /* CONFIG GET busy-reply-threshold (once per connection) */
    long long keys;          /* sum over INFO keyspace */
    long long uptime_s;
    char version[32];     /* redis_version */
    char last_error[128]; /* why it is down, "" when up */
};

/* The monitor's connections call themselves so: what they run is redpair's (SLOWLOG). In a
 * cluster they carry the node's name, and the epoch on a leader's (fence.h). */
#define MONITOR_CLIENT_NAME "redpair-monitor"
bool monitor_client_named(const char *name, size_t len);

/* FENCED: the connection, opened under monitor_fence's epoch, has stored it on the server and
 * killed the older leaders' connections; FENCED_OUT: the server holds a newer epoch. */
enum monitor_change { MONITOR_UP, MONITOR_DOWN, MONITOR_FENCED, MONITOR_FENCED_OUT };
typedef void (*monitor_cb)(int backend, enum monitor_change change, const struct probe *p);

/* Starts probing every backend of the config; cb runs on the loop on each change. */
void monitor_start(uv_loop_t *loop, const struct config *cfg, monitor_cb cb);
void monitor_stop(void);
/* Under the proxy, commands and probes are not written as they are issued but by
 * monitor_flush(), which the proxy calls once per loop turn after the data links' flush: a
 * control command (REPLICAOF of a resync, a fanned-out CONFIG SET) reaches a server after the
 * writes the links hold, the order Redis's own event-driven clients give. Alone (as in the unit
 * tests) the monitor writes at once. */
void monitor_batch_writes(void);
void monitor_flush(void);
/* Re-reads probe-interval-ms and down-after-ms from the config (live change). */
void monitor_reconfigure(void);
/* The backend's data link has a script out (backend.h): it may not answer for a while. */
void monitor_script_running(int backend, bool running);
/* CONFIG SET went through: the settings the probe reads once (save, busy-reply-threshold) are
 * read again. */
void monitor_settings_changed(void);
const struct probe *monitor_probe(int backend);

/* Cluster leader: every connection is (re)opened to fence the backend under epoch first
 * (fence.h), and control commands wait until it has; 0 turns it off (a follower only probes). */
void monitor_fence(uint64_t epoch);
/* The current connection to the backend has fenced it under the epoch. */
bool monitor_fenced(int backend);

/* One control command on the backend's monitor connection, in order with the probes. The reply
 * (NULL when the connection failed before it came) is valid only during the callback. */
struct redisReply;
typedef void (*monitor_reply_cb)(void *arg, const struct redisReply *reply);
void monitor_command(int backend, monitor_reply_cb cb, void *arg, int argc, const char **argv);

/* Parses the text of an INFO reply into p (fields INFO does not give are left alone). Pure: the
 * unit tests use it. */
void monitor_parse_info(struct probe *p, const char *text, size_t len);

#endif
