#include "config_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "client.h"
#include "cluster.h"
#include "command.h"
#include "config.h"
#include "log.h"
#include "monitor.h"
#include "proxy.h"
#include "request.h"
#include "resp.h"
#include "sequencer.h"

/* Settings CONFIG SET does not change through redpair, and why. A name ending in '-' covers
 * every setting it begins. */
static const struct {
    const char *name;
    const char *why;
} refused[] = {
    {"port", "each server listens where redpair's links reach it (redpair's own is its port)"},
    {"tls-port", "each server listens where redpair's links reach it"},
    {"bind", "each server listens where redpair's links reach it (redpair's own is its bind)"},
    {"bind-source-addr", "each server has its own addresses"},
    {"unixsocket", "each server listens where redpair's links reach it"},
    {"unixsocketperm", "each server listens where redpair's links reach it"},
    {"tls-", "each server has its own certificates"},
    {"requirepass", "the servers' password is redpair's backend-password, its clients' is "
                    "redpair's requirepass (PATCH /api/v1/config)"},
    {"masterauth", "redpair sets it from backend-password when it copies a server"},
    {"masteruser", "redpair sets it from backend-user when it copies a server"},
    {"protected-mode", "it may shut redpair's links out of the servers"},
    {"replicaof", "redpair manages the servers' roles"},
    {"slaveof", "redpair manages the servers' roles"},
    {"dir", "each server has its own files"},
    {"dbfilename", "each server has its own files"},
    {"appendfilename", "each server has its own files"},
    {"appenddirname", "each server has its own files"},
    {"logfile", "each server has its own files"},
    {"pidfile", "each server has its own files"},
    {"timeout", "the servers would close redpair's idle links (redpair's clients have none)"},
    {"client-output-buffer-limit",
     "it limits redpair's links to the servers (redpair's own is its client-output-buffer-limit)"},
    {"min-replicas-", "the servers have no replicas: they would refuse redpair's writes"},
    {"min-slaves-", "the servers have no replicas: they would refuse redpair's writes"},
};

static const char *refusal(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        size_t n = strlen(refused[i].name);
        bool prefix = refused[i].name[n - 1] == '-';
        if (prefix ? len >= n && strncasecmp(name, refused[i].name, n) == 0
                   : resp_arg_is(name, len, refused[i].name))
            return refused[i].why;
    }
    return NULL;
}

/* --- what CONFIG SET changed, oldest first ------------------------------------------------- */

static void ignore_commit(void *arg, bool ok)
{
    (void)arg;
    (void)ok;
}

struct setting {
    char *name; /* lowercase, NUL-terminated */
    char *value;
    size_t value_len;
};

static struct setting *settings;
static size_t setting_count, setting_cap;

/* The latest value of a setting goes last, so that replaying them all in order ends where the
 * servers are, aliases (hash-max-ziplist-entries for hash-max-listpack-entries) included. */
static void remember(const char *name, size_t len, const char *value, size_t vlen)
{
    for (size_t i = 0; i < setting_count; i++) {
        if (strlen(settings[i].name) != len || strncasecmp(settings[i].name, name, len)) continue;
        free(settings[i].name);
        free(settings[i].value);
        memmove(&settings[i], &settings[i + 1], (setting_count - i - 1) * sizeof(*settings));
        setting_count--;
        break;
    }
    if (setting_count == setting_cap) {
        setting_cap = setting_cap ? setting_cap * 2 : 16;
        settings = xrealloc(settings, setting_cap * sizeof(*settings));
    }
    struct setting *s = &settings[setting_count++];
    s->name = xrealloc(NULL, len + 1);
    for (size_t i = 0; i < len; i++)
        s->name[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] + 32) : name[i];
    s->name[len] = '\0';
    s->value = memcpy(xrealloc(NULL, vlen + 1), value, vlen);
    s->value[vlen] = '\0';
    s->value_len = vlen;
}

/* In a cluster the settings are the log's too: a leader that takes over knows them (below). */
static void remember_everywhere(const char *name, size_t len, const char *value, size_t vlen)
{
    remember(name, len, value, vlen);
    if (!cluster_leading()) return;
    const struct setting *s = &settings[setting_count - 1];
    size_t n;
    char *entry = cluster_entry_setting(s->name, s->value, s->value_len, &n);
    if (entry)
        cluster_propose(entry, n, ignore_commit, NULL);
    else
        log_warning("CONFIG SET %s: too long for the cluster's log; a new leader will not know it",
                    s->name);
}

void config_commands_adopt(const struct cluster_state *st)
{
    for (size_t i = 0; i < setting_count; i++) {
        free(settings[i].name);
        free(settings[i].value);
    }
    setting_count = 0;
    for (int i = 0; i < st->setting_count; i++) {
        const struct cluster_setting *s = &st->settings[i];
        remember(s->name, strlen(s->name), s->value, strlen(s->value));
    }
}

void config_commands_apply(struct backend *b)
{
    for (size_t i = 0; i < setting_count; i++) {
        const struct setting *s = &settings[i];
        backend_send_ignored(b, 4, (const char *[]){"CONFIG", "SET", s->name, s->value},
                             (const size_t[]){6, 3, strlen(s->name), s->value_len});
    }
}

/* The primary took every setting of the command (CONFIG SET is all or nothing). */
static void set_ready(struct request *r)
{
    if (buffer_len(&r->reply) != 5 || memcmp(buffer_head(&r->reply), "+OK\r\n", 5) != 0) return;
    struct buffer *sent = &r->effect; /* the command, kept for this */
    struct resp_request parser;
    const char **argv = NULL;
    size_t *argl = NULL;
    int cap = 0;
    resp_request_init(&parser, proxy.config->proto_max_bulk_len);
    if (resp_request_parse(&parser, buffer_head(sent), buffer_len(sent)) == RESP_DONE) {
        resp_request_args(&parser, buffer_head(sent), &argv, &argl, &cap);
        for (int i = 2; i + 1 < parser.argc; i += 2)
            remember_everywhere(argv[i], argl[i], argv[i + 1], argl[i + 1]);
        monitor_settings_changed(); /* busy-reply-threshold, save: the monitor reads them */
    }
    resp_request_free(&parser);
    free(argv);
    free(argl);
    buffer_clear(sent);
}

static void config_set(struct client *c, struct request *r, int argc, const char *const *argv,
                       const size_t *argl)
{
    for (int i = 2; i < argc; i += 2) {
        const char *why = refusal(argv[i], argl[i]);
        if (!why) continue;
        request_error(r,
                      "ERR CONFIG SET failed (possibly related to argument '%.*s') - not through "
                      "redpair: %s",
                      (int)command_arg_shown(argv[i], argl[i], 128), argv[i], why);
        return;
    }
    buffer_clear(&r->effect);
    resp_append_command(&r->effect, argc, argv, argl);
    r->on_ready = set_ready;
    /* A setting is the same however often it is applied (blind.h): it may go bare, so a pair
     * under a maxmemory set too low can still be given another (no offset mark to refuse). */
    r->blind = true;
    /* The stream takes its own copy: r->effect stays for set_ready. */
    sequencer_write(r, c->db, buffer_head(&r->effect), buffer_len(&r->effect));
}

/* --- CONFIG GET ----------------------------------------------------------------------------- */

/* The value a client of redpair sees for a setting the primary reports: the settings of the
 * connection the client has are redpair's, the servers' credentials are redpair's business.
 * Appends it as a bulk and returns true, or returns false for the primary's own value. */
static bool shown_value(const char *name, size_t len, struct buffer *out)
{
    const struct config *cfg = proxy.config;
    struct buffer text = {0};
    if (resp_arg_is(name, len, "port")) {
        buffer_appendf(&text, "%d", cfg->port);
    } else if (resp_arg_is(name, len, "tls-port")) {
        buffer_appendf(&text, "%d", cfg->tls_port);
    } else if (resp_arg_is(name, len, "bind")) {
        for (int i = 0; i < cfg->bind_count; i++)
            buffer_appendf(&text, "%s%s", i ? " " : "", cfg->bind[i]);
    } else if (resp_arg_is(name, len, "requirepass")) {
        if (cfg->requirepass) buffer_appendf(&text, "%s", cfg->requirepass);
    } else if (!resp_arg_is(name, len, "masterauth") && !resp_arg_is(name, len, "masteruser")) {
        return false;
    }
    resp_append_bulk(out, text.data ? buffer_head(&text) : "", buffer_len(&text));
    buffer_free(&text);
    return true;
}

/* The primary's reply is a flat list of name, value pairs (RESP2's map). */
static void get_ready(struct request *r)
{
    const char *p = buffer_head(&r->reply);
    size_t left = buffer_len(&r->reply), n;
    struct resp_value v;
    if (!(n = resp_value_read(p, left, &v)) || v.type != '*' || v.integer <= 0 || v.integer % 2)
        return; /* an error, or nothing matched */
    struct buffer out = {0};
    buffer_append(&out, p, n);
    p += n, left -= n;
    for (long long i = 0; i < v.integer; i += 2) {
        struct resp_value name, value;
        size_t nn = resp_value_read(p, left, &name), vn = 0;
        if (nn && name.type == '$' && name.str) vn = resp_value_read(p + nn, left - nn, &value);
        if (!vn) {
            buffer_free(&out);
            return;
        }
        buffer_append(&out, p, nn);
        if (!shown_value(name.str, name.len, &out)) buffer_append(&out, p + nn, vn);
        p += nn + vn, left -= nn + vn;
    }
    buffer_clear(&r->reply);
    buffer_append(&r->reply, buffer_head(&out), buffer_len(&out));
    buffer_free(&out);
}

void config_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl)
{
    if (strcmp(r->cmd->name, "config|set") == 0) {
        config_set(c, r, argc, argv, argl);
        return;
    }
    struct buffer cmd = {0};
    resp_append_command(&cmd, argc, argv, argl);
    r->on_ready = get_ready;
    client_send_read(c, r, buffer_head(&cmd), buffer_len(&cmd));
    buffer_free(&cmd);
}
