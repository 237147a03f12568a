#include "routes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "advice.h"
#include "assets.h"
#include "backend.h"
#include "backlog.h"
#include "cluster.h"
#include "failover.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "proxy.h"
#include "reconfig.h"
#include "resp.h"
#include "secret.h"
#include "stats.h"
#include "store.h"

#define EVENTS_DEFAULT 100
#define EVENTS_MAX     1000
#define PATCH_MAX      32 /* directives in one PATCH: more than there are live ones */
#define NAME_MAX_LEN   64

typedef void route_fn(struct http_request *req, const char *name);

struct route {
    const char *method;
    const char *pattern; /* '*' stands for one path segment: a backend name */
    bool open;           /* no token needed */
    route_fn *fn;
};

/* ---------------------------------------------------------------------------------------------
 * Resources as JSON.
 * ------------------------------------------------------------------------------------------- */

static int backend_index(const char *name)
{
    for (int i = 0; i < proxy.config->backend_count; i++)
        if (strcmp(proxy.backends[i].name, name) == 0) return i;
    return -1;
}

static json_t *backend_json(int i)
{
    const struct backend *b = &proxy.backends[i];
    const struct probe *p = monitor_probe(i);
    uint64_t now = uv_now(proxy.loop); /* the monitor's clock */
    char address[320];
    snprintf(address, sizeof(address), "%s:%d", b->host, b->port);

    json_t *last =
        p->last_probe_ms
            ? json_integer(now > p->last_probe_ms ? (json_int_t)(now - p->last_probe_ms) : 0)
            : json_null();
    json_t *probe =
        json_pack("{s:b, s:o, s:I, s:o}", "up", p->up, "last_probe_ms_ago", last, "latency_us",
                  (json_int_t)p->latency_us, "last_error", http_json_text(p->last_error));
    json_t *memory =
        json_pack("{s:I, s:I, s:o}", "used", (json_int_t)p->used_memory, "max",
                  (json_int_t)p->maxmemory, "policy", http_json_text(p->maxmemory_policy));
    json_t *persistence =
        json_pack("{s:b, s:o}", "aof", p->aof_enabled, "rdb_save", http_json_text(p->rdb_save));
    return json_pack("{s:s, s:o, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:b, s:I, s:o, s:o}",
                     "name", b->name, "address", http_json_text(address), "state",
                     failover_state_name(i), "role",
                     i == failover_primary() ? "primary" : "secondary", "acked_offset",
                     (json_int_t)b->acked_offset, "lag_writes",
                     (json_int_t)(proxy.stream_offset - b->acked_offset), "lag_bytes",
                     (json_int_t)backlog_bytes_after(b->acked_offset), "probe", probe, "run_id",
                     http_json_text(p->run_id), "redis_version", http_json_text(p->version),
                     "redis_role", http_json_text(p->role), "loading", p->loading, "keys",
                     (json_int_t)p->keys, "memory", memory, "persistence", persistence);
}

static void get_status(struct http_request *req, const char *name)
{
    (void)name;
    struct stats_second s = stats_last_second();
    json_t *primary = failover_primary() >= 0 ? json_string(proxy.backends[failover_primary()].name)
                                              : json_null();
    http_respond_json(
        req, 200,
        json_pack("{s:s, s:I, s:I, s:o, s:s, s:s, s:i, s:f, s:I, s:I, s:I, s:I, s:I, s:I}",
                  "version", REDPAIR_VERSION, "uptime_seconds",
                  (json_int_t)((proxy_now_ms() - proxy.start_ms) / 1000), "epoch",
                  (json_int_t)failover_epoch(), "primary", primary, "write_ack",
                  config_write_ack_name(proxy.config->write_ack), "write_marks",
                  config_write_marks_name(proxy.config->write_marks), "clients", proxy.client_count,
                  "ops_per_sec", (double)s.ops, "latency_p50_us", (json_int_t)s.p50_us,
                  "latency_p99_us", (json_int_t)s.p99_us, "stream_offset",
                  (json_int_t)proxy.stream_offset, "divergences", (json_int_t)proxy.divergences,
                  "failovers", (json_int_t)failover_count(), "resyncs",
                  (json_int_t)resync_count()));
}

static void get_backends(struct http_request *req, const char *name)
{
    (void)name;
    json_t *list = json_array();
    for (int i = 0; i < proxy.config->backend_count; i++)
        json_array_append_new(list, backend_json(i));
    http_respond_json(req, 200, json_pack("{s:o}", "backends", list));
}

/* The backend a path names, or a 404 already sent. */
static int named_backend(struct http_request *req, const char *name)
{
    int i = backend_index(name);
    if (i < 0) http_respond_error(req, 404, NULL, "no backend named '%s'", name);
    return i;
}

static void get_backend(struct http_request *req, const char *name)
{
    int i = named_backend(req, name);
    if (i >= 0) http_respond_json(req, 200, backend_json(i));
}

/* ---------------------------------------------------------------------------------------------
 * Operations.
 * ------------------------------------------------------------------------------------------- */

/* The body as a JSON object; NULL with a 400 sent. An empty body is {} when allowed. */
static json_t *body_object(struct http_request *req, bool optional)
{
    size_t skip = strspn(req->body, " \t\r\n");
    if (skip == req->body_len) {
        if (optional) return json_object();
        http_respond_error(req, 400, NULL, "a JSON object is required as the request body");
        return NULL;
    }
    json_error_t e;
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!doc) {
        http_respond_error(req, 400, NULL, "invalid JSON at line %d, column %d: %s", e.line,
                           e.column, e.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_respond_error(req, 400, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return doc;
}

static void operation_done(struct http_request *req, bool ok, const char *err)
{
    if (ok)
        http_respond_json(req, 202, json_pack("{s:b}", "ok", 1));
    else
        http_respond_error(req, 409, NULL, "%s", err);
}

static void post_failover(struct http_request *req, const char *name)
{
    (void)name;
    json_t *doc = body_object(req, true);
    if (!doc) return;
    json_t *t = json_object_get(doc, "target");
    const char *target = json_is_string(t) ? json_string_value(t) : NULL;
    if (t && !json_is_null(t) && !target) {
        http_respond_error(req, 400, NULL, "\"target\" must be a backend name");
    } else if (target && backend_index(target) < 0) {
        http_respond_error(req, 400, NULL, "\"target\": no backend named '%s'", target);
    } else {
        char err[256];
        operation_done(req, failover_manual(target, err, sizeof(err)), err);
    }
    json_decref(doc);
}

static void post_maintenance(struct http_request *req, const char *name)
{
    if (named_backend(req, name) < 0) return;
    json_t *doc = body_object(req, false);
    if (!doc) return;
    json_t *enabled = json_object_get(doc, "enabled");
    if (!json_is_boolean(enabled)) {
        http_respond_error(req, 400, NULL, "\"enabled\" must be true or false");
    } else {
        char err[256];
        operation_done(req, failover_maintenance(name, json_is_true(enabled), err, sizeof(err)),
                       err);
    }
    json_decref(doc);
}

static void post_resync(struct http_request *req, const char *name)
{
    if (named_backend(req, name) < 0) return;
    char err[256];
    operation_done(req, failover_resync(name, err, sizeof(err)), err);
}

/* ---------------------------------------------------------------------------------------------
 * Events: read by the store's thread, answered when its callback runs on the loop.
 * ------------------------------------------------------------------------------------------- */

struct events_query {
    struct http_request *req;
    int64_t since;
};

static void events_ready(void *arg, const struct store_event *events, int count)
{
    struct events_query *q = arg;
    struct http_request *req = q->req;
    int64_t since = q->since;
    free(q);
    if (count < 0) {
        http_respond_error(req, 500, NULL, "the event log could not be read");
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < count; i++) {
        const struct store_event *e = &events[i];
        time_t secs = (time_t)(e->time_ms / 1000);
        struct tm tm;
        char when[40];
        gmtime_r(&secs, &tm);
        size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + n, sizeof(when) - n, ".%03dZ", (int)(e->time_ms % 1000));
        json_array_append_new(
            list, json_pack("{s:I, s:I, s:s, s:I, s:o, s:o, s:o}", "id", (json_int_t)e->id,
                            "time_ms", (json_int_t)e->time_ms, "time", when, "epoch",
                            (json_int_t)e->epoch, "kind", http_json_text(e->kind), "backend",
                            e->backend[0] ? http_json_text(e->backend) : json_null(), "detail",
                            http_json_text(e->detail)));
    }
    json_int_t next = count ? (json_int_t)events[count - 1].id : (json_int_t)since;
    http_respond_json(req, 200, json_pack("{s:o, s:I}", "events", list, "next", next));
}

/* A query parameter's value as a number; *out is left alone when the parameter is absent. */
static bool query_number(const char *query, const char *key, long long *out)
{
    size_t klen = strlen(key);
    for (const char *p = query; *p; p += strcspn(p, "&"), p += *p == '&') {
        if (strncmp(p, key, klen) != 0 || p[klen] != '=') continue;
        const char *v = p + klen + 1;
        return resp_parse_ll(v, strcspn(v, "&"), out) && *out >= 0;
    }
    return true;
}

static void get_events(struct http_request *req, const char *name)
{
    (void)name;
    long long since = 0, limit = EVENTS_DEFAULT;
    if (!query_number(req->query, "since", &since)) {
        http_respond_error(req, 400, NULL, "since must be an event id (0 or more)");
        return;
    }
    if (!query_number(req->query, "limit", &limit) || limit < 1) {
        http_respond_error(req, 400, NULL, "limit must be a number from 1 to %d", EVENTS_MAX);
        return;
    }
    struct events_query *q = malloc(sizeof(*q));
    if (!q) abort();
    *q = (struct events_query){req, since};
    store_events_page(since, limit > EVENTS_MAX ? EVENTS_MAX : (int)limit, events_ready, q);
}

/* ---------------------------------------------------------------------------------------------
 * Configuration.
 * ------------------------------------------------------------------------------------------- */

struct config_view {
    json_t *config, *live;
};

static void add_directive(void *arg, const char *name, const char *value, bool live)
{
    struct config_view *v = arg;
    json_object_set_new(v->config, name, http_json_text(value));
    if (live) json_array_append_new(v->live, json_string(name));
}

static json_t *config_json(bool with_live)
{
    struct config_view v = {json_object(), json_array()};
    reconfig_each(proxy.config, true, add_directive, &v);
    if (!with_live) {
        json_decref(v.live);
        return json_pack("{s:o}", "config", v.config);
    }
    return json_pack("{s:o, s:o}", "config", v.config, "live", v.live);
}

static void get_config(struct http_request *req, const char *name)
{
    (void)name;
    http_respond_json(req, 200, config_json(true));
}

static void patch_config(struct http_request *req, const char *name)
{
    (void)name;
    json_t *doc = body_object(req, false);
    if (!doc) return;
    struct reconfig_change changes[PATCH_MAX];
    char numbers[PATCH_MAX][24], err[CONFIG_ERROR_MAX];
    int n = 0;
    const char *key;
    json_t *value;
    json_object_foreach(doc, key, value)
    {
        if (n == PATCH_MAX) {
            http_respond_error(req, 400, NULL, "too many directives in one request (at most %d)",
                               PATCH_MAX);
            json_decref(doc);
            return;
        }
        if (json_is_integer(value)) {
            snprintf(numbers[n], sizeof(numbers[n]), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(value));
            changes[n] = (struct reconfig_change){key, numbers[n]};
        } else if (json_is_string(value)) {
            changes[n] = (struct reconfig_change){key, json_string_value(value)};
        } else {
            http_respond_error(req, 400, NULL, "the value of '%s' must be a string", key);
            json_decref(doc);
            return;
        }
        n++;
    }
    switch (reconfig_set(changes, n, true, err, sizeof(err))) {
    case RECONFIG_OK: http_respond_json(req, 200, config_json(false)); break;
    case RECONFIG_INVALID: http_respond_error(req, 400, NULL, "%s", err); break;
    case RECONFIG_NEEDS_RESTART: http_respond_error(req, 409, NULL, "%s", err); break;
    }
    json_decref(doc);
}

/* ---------------------------------------------------------------------------------------------
 * The cluster (cluster.h).
 * ------------------------------------------------------------------------------------------- */

static bool clustered(struct http_request *req)
{
    if (!cluster_enabled())
        http_respond_error(req, 404, NULL, "redpair runs alone: the configuration has no peers");
    return cluster_enabled();
}

static void get_cluster(struct http_request *req, const char *name)
{
    (void)name;
    if (clustered(req)) http_respond_json(req, 200, cluster_describe());
}

static void post_transfer(struct http_request *req, const char *name)
{
    (void)name;
    if (!clustered(req)) return;
    json_t *doc = body_object(req, true);
    if (!doc) return;
    json_t *n = json_object_get(doc, "node");
    if (n && !json_is_null(n) && !json_is_string(n)) {
        http_respond_error(req, 400, NULL, "\"node\" must be a node name");
    } else {
        char err[256];
        operation_done(req, cluster_transfer(json_string_value(n), err, sizeof(err)), err);
    }
    json_decref(doc);
}

static void post_readd(struct http_request *req, const char *name)
{
    if (!clustered(req)) return;
    char err[256];
    operation_done(req, cluster_readd(name, err, sizeof(err)), err);
}

/* ---------------------------------------------------------------------------------------------
 * Health, metrics, advice.
 * ------------------------------------------------------------------------------------------- */

static void get_healthz(struct http_request *req, const char *name)
{
    (void)name;
    http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/* In a cluster a follower is ready while it has a leader to relay to; the leader, as alone, once
 * a backend is in sync. */
static const char *not_ready(void)
{
    bool in_sync = false;
    for (int i = 0; i < proxy.config->backend_count; i++)
        in_sync |= proxy.backends[i].state == BACKEND_IN_SYNC;
    if (cluster_enabled() && !cluster_leader_name()) return "no redpair leader";
    if (proxy.config->witness) return NULL;
    if (!proxy.listener_count) return "not accepting client connections yet";
    if (cluster_enabled() && !cluster_serves_clients()) return NULL;
    return in_sync ? NULL : "no backend is in sync";
}

static void get_readyz(struct http_request *req, const char *name)
{
    (void)name;
    const char *why = not_ready();
    if (why)
        http_respond_json(req, 503, json_pack("{s:b, s:s}", "ready", 0, "reason", why));
    else
        http_respond_json(req, 200, json_pack("{s:b}", "ready", 1));
}

static void get_metrics(struct http_request *req, const char *name)
{
    (void)name;
    struct buffer out = {0};
    metrics_render(&out);
    http_respond(req, 200, METRICS_CONTENT_TYPE, NULL, buffer_head(&out), buffer_len(&out));
    buffer_free(&out);
}

static void get_advice(struct http_request *req, const char *name)
{
    (void)name;
    http_respond_json(req, 200, advice_json());
}

/* ---------------------------------------------------------------------------------------------
 * Routing and auth.
 * ------------------------------------------------------------------------------------------- */

static const struct route routes[] = {
    {"GET", "/healthz", true, get_healthz},
    {"GET", "/readyz", true, get_readyz},
    {"GET", "/metrics", false, get_metrics},
    {"GET", "/api/v1/status", false, get_status},
    {"GET", "/api/v1/backends", false, get_backends},
    {"GET", "/api/v1/backends/*", false, get_backend},
    {"POST", "/api/v1/backends/*/maintenance", false, post_maintenance},
    {"POST", "/api/v1/backends/*/resync", false, post_resync},
    {"POST", "/api/v1/failover", false, post_failover},
    {"GET", "/api/v1/events", false, get_events},
    {"GET", "/api/v1/config", false, get_config},
    {"PATCH", "/api/v1/config", false, patch_config},
    {"GET", "/api/v1/advice", false, get_advice},
    {"GET", "/api/v1/cluster", false, get_cluster},
    {"POST", "/api/v1/cluster/transfer", false, post_transfer},
    {"POST", "/api/v1/cluster/nodes/*/readd", false, post_readd},
};
#define ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches a path against a pattern; the segment under '*' goes to name. */
static bool match(const char *pattern, const char *path, char *name)
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0) return false;
            snprintf(name, NAME_MAX_LEN, "%.*s", (int)n, path);
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return !*pattern && !*path;
}

static bool authorized(struct http_request *req)
{
    static const char bearer_auth[] = "WWW-Authenticate: Bearer realm=\"redpair\"\r\n";
    const char *token = proxy.config->admin_token, *h = req->authorization;
    if (!token) {
        http_respond_error(req, 401, bearer_auth,
                           "admin-token is not set: the admin API only serves /healthz and "
                           "/readyz until it is");
        return false;
    }
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        http_respond_error(req, 401, bearer_auth,
                           "missing 'Authorization: Bearer <admin-token>' header");
        return false;
    }
    h += 7;
    h += strspn(h, " ");
    if (!secret_equal(h, strlen(h), token)) {
        http_respond_error(req, 401, bearer_auth, "wrong admin token");
        return false;
    }
    return true;
}

static void serve_asset(struct http_request *req, const struct web_asset *a)
{
    if (strcmp(req->method, "GET") != 0) {
        http_respond_error(req, 405, "Allow: GET\r\n", "%s is not allowed on %s", req->method,
                           req->path);
        return;
    }
    http_respond(req, 200, a->content_type, "Cache-Control: no-cache\r\n", (const char *)a->data,
                 a->len);
}

static void handle(struct http_request *req)
{
    const struct route *found = NULL;
    char name[NAME_MAX_LEN] = "", allow[64] = "";
    bool open = false, known = false;

    for (size_t i = 0; i < ROUTES; i++) {
        if (!match(routes[i].pattern, req->path, name)) continue;
        known = true;
        open |= routes[i].open;
        snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "",
                 routes[i].method);
        if (strcmp(routes[i].method, req->method) == 0) found = &routes[i];
    }
    log_debug("admin API: %s %s", req->method, req->path);
    if (!known) {
        const struct web_asset *a = web_asset_find(req->path);
        if (a)
            serve_asset(req, a);
        else
            http_respond_error(req, 404, NULL, "no such resource: %s", req->path);
        return;
    }
    if (!(found ? found->open : open) && !authorized(req)) return;
    if (!found) {
        char header[96];
        snprintf(header, sizeof(header), "Allow: %s\r\n", allow);
        http_respond_error(req, 405, header, "%s is not allowed on %s (allowed: %s)", req->method,
                           req->path, allow);
        return;
    }
    found->fn(req, name);
}

bool routes_start(uv_loop_t *loop, char *err, size_t errlen)
{
    const struct config *cfg = proxy.config;
    if (cfg->admin_port == 0) return true;
    if (!http_start(loop, cfg->admin_bind, cfg->admin_port, handle, err, errlen)) return false;
    log_notice("admin API on %s://%s:%d/%s", cfg->admin_tls ? "https" : "http", cfg->admin_bind,
               cfg->admin_port,
               cfg->admin_token ? "" : " (admin-token not set: only /healthz and /readyz)");
    return true;
}

void routes_stop(void)
{
    http_stop();
}
