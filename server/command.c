#include "command.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "command_builtin.h"
#include "resp.h"

/* Every Redis command name is far shorter; a longer one is simply unknown, which lets lookups
 * lowercase into a stack buffer instead of allocating. */
#define NAME_MAX_LEN 64

/* The table is an array of commands plus an open-addressing index over it, at most half full. */
struct slot {
    uint32_t hash;
    uint32_t index; /* into cmds, plus one: 0 marks an empty slot */
};

struct command_table {
    struct command *cmds;
    size_t count, cap;
    struct slot *slots;
    size_t mask;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "redpair: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "redpair: out of memory allocating %zu bytes\n", n * size);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - ('a' - 'A')) : c;
}

/* FNV-1a: names are short, so a simple byte-at-a-time hash is as fast as anything. */
static uint32_t hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

const char *const command_category_names[CMD_CATEGORIES] = {
    "keyspace", "read",   "write",       "set",       "sortedset",  "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo",       "stream",     "pubsub",      "admin",
    "fast",     "slow",   "blocking",    "dangerous", "connection", "transaction", "scripting",
};

int command_category(const char *name, size_t len)
{
    for (int i = 0; i < CMD_CATEGORIES; i++)
        if (strlen(command_category_names[i]) == len &&
            strncasecmp(name, command_category_names[i], len) == 0)
            return i;
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * What redpair does with each command: derived from the flags, then overridden by name.
 * ------------------------------------------------------------------------------------------- */

/* Administration is refused with the way to do it instead: redpair owns the two servers' roles
 * and configuration, and a command that acts on one server goes to that server directly. */
enum refusal {
    REFUSE_NONE,
    REFUSE_UNSUPPORTED,
    REFUSE_ADMIN,        /* acts on one server: send it there directly */
    REFUSE_ROLES,        /* replication and roles are redpair's to manage */
    REFUSE_SHUTDOWN,     /* stopping belongs to redpair's service, or to maintenance */
    REFUSE_SCRIPT_DEBUG, /* a debugging session is one server's */
    REFUSE_MODULE,       /* a module is a file on each server's host */
    REFUSE_MIGRATE,      /* both servers would move the keys */
};

/* "%s" is the command as a client types it: "CONFIG GET". */
static const char *const refusal_format[] = {
    [REFUSE_UNSUPPORTED] = "command '%s' is not supported by redpair yet",
    [REFUSE_ADMIN] = "%s is not available through redpair: send it to each server directly (the "
                     "admin API lists them: GET /api/v1/backends)",
    [REFUSE_ROLES] = "%s is not available through redpair, which manages the servers' roles: use "
                     "the admin API (POST /api/v1/failover, POST /api/v1/backends/NAME/resync)",
    [REFUSE_SHUTDOWN] = "%s is not available through redpair: stop redpair with SIGTERM, or take "
                        "a server out with the admin API (POST /api/v1/backends/NAME/maintenance)",
    [REFUSE_SCRIPT_DEBUG] = "%s is not available through redpair: the Lua debugger needs a "
                            "connection of its own to one server; debug against a server directly",
    [REFUSE_MODULE] = "%s is not available through redpair: load a module on each server "
                      "directly, then restart redpair, which learns its commands at start-up",
    [REFUSE_MIGRATE] = "%s is not available through redpair: both servers would move the keys; "
                       "copy them with DUMP and RESTORE",
};

struct rule {
    const char *name; /* matches the command and, for a container, all its subcommands */
    enum command_kind kind;
    enum command_local local;
    enum command_rewrite rewrite;
    enum refusal refusal;
};

#define LOCAL(n, l)                                                                                \
    {                                                                                              \
        n, CMD_LOCAL, l, REWRITE_NONE, REFUSE_NONE                                                 \
    }
#define READ(n)                                                                                    \
    {                                                                                              \
        n, CMD_READ, LOCAL_NONE, REWRITE_NONE, REFUSE_NONE                                         \
    }
#define REWRITE(n, r)                                                                              \
    {                                                                                              \
        n, CMD_WRITE, LOCAL_NONE, r, REFUSE_NONE                                                   \
    }
#define REFUSE(n, why)                                                                             \
    {                                                                                              \
        n, CMD_REFUSED, LOCAL_NONE, REWRITE_NONE, why                                              \
    }
#define WRITE(n)       REWRITE(n, REWRITE_NONE)
#define UNSUPPORTED(n) REFUSE(n, REFUSE_UNSUPPORTED)
#define ADMIN(n)       REFUSE(n, REFUSE_ADMIN)

/* The first rule that matches wins, so a subcommand's rule goes before its container's. */
static const struct rule rules[] = {
    LOCAL("ping", LOCAL_PING),
    LOCAL("echo", LOCAL_ECHO),
    LOCAL("quit", LOCAL_QUIT),
    LOCAL("select", LOCAL_SELECT),
    LOCAL("auth", LOCAL_AUTH),
    LOCAL("info", LOCAL_INFO),
    /* Connection state lives in redpair: passed through, these would act on a backend connection
     * shared by every client. */
    LOCAL("client", LOCAL_CLIENT),
    LOCAL("hello", LOCAL_HELLO),
    LOCAL("reset", LOCAL_RESET),
    LOCAL("wait", LOCAL_WAIT),
    LOCAL("role", LOCAL_ROLE),
    LOCAL("acl", LOCAL_ACL), /* redpair's users are its own; the servers' is its backend-user */
    /* A subscriber gets a connection of its own to the primary (pubsub.h). */
    LOCAL("subscribe", LOCAL_SUBSCRIBE),
    LOCAL("psubscribe", LOCAL_SUBSCRIBE),
    LOCAL("ssubscribe", LOCAL_SUBSCRIBE),
    LOCAL("unsubscribe", LOCAL_SUBSCRIBE),
    LOCAL("punsubscribe", LOCAL_SUBSCRIBE),
    LOCAL("sunsubscribe", LOCAL_SUBSCRIBE),

    /* Flagged neither read nor write, but only describe the server or its commands. */
    READ("command"),
    READ("time"),
    READ("memory|usage"),
    /* Sent to the primary alone: mirrored, every subscriber would get each message twice. */
    READ("publish"),
    READ("spublish"),
    READ("pubsub"),

    /* Relative times and random or floating-point outcomes: see rewrite.h. */
    REWRITE("expire", REWRITE_EXPIRE),
    REWRITE("pexpire", REWRITE_PEXPIRE),
    REWRITE("setex", REWRITE_SETEX),
    REWRITE("psetex", REWRITE_PSETEX),
    REWRITE("set", REWRITE_SET),
    REWRITE("getex", REWRITE_GETEX),
    REWRITE("restore", REWRITE_RESTORE),
    REWRITE("xadd", REWRITE_XADD),
    REWRITE("xtrim", REWRITE_XTRIM),
    REWRITE("xautoclaim", REWRITE_XAUTOCLAIM),
    REWRITE("xclaim", REWRITE_XCLAIM),
    REWRITE("spop", REWRITE_SPOP),
    REWRITE("incrbyfloat", REWRITE_INCRBYFLOAT),
    REWRITE("hincrbyfloat", REWRITE_HINCRBYFLOAT),

    /* Flagged readonly, but it caches the cardinality inside the value (Redis replicates that as
     * "may-replicate"): run on the primary alone it would leave the two servers' bytes apart. */
    REWRITE("pfcount", REWRITE_NONE),

    /* Scripts and functions run on both servers, each on its own copy of the same data: sound
     * for a deterministic script only, which the comparison of the two replies checks (README,
     * "Scripts and functions"). Loading and flushing go to both, so that EVALSHA and FCALL keep
     * working after a failover. */
    WRITE("eval"),
    WRITE("evalsha"),
    WRITE("fcall"),
    READ("eval_ro"),
    READ("evalsha_ro"),
    READ("fcall_ro"),
    WRITE("script|load"),
    WRITE("script|flush"),
    READ("script|exists"),
    LOCAL("script|kill", LOCAL_FANOUT),
    REFUSE("script|debug", REFUSE_SCRIPT_DEBUG),
    WRITE("function|load"),
    WRITE("function|delete"),
    WRITE("function|flush"),
    WRITE("function|restore"),
    READ("function|list"),
    READ("function|dump"),
    LOCAL("function|stats", LOCAL_FANOUT), /* on the monitor's connection: a script may run */
    LOCAL("function|kill", LOCAL_FANOUT),

    /* Transactions are queued and WATCH is tracked by redpair (transaction.h, watch.h). */
    LOCAL("multi", LOCAL_MULTI),
    LOCAL("exec", LOCAL_EXEC),
    LOCAL("discard", LOCAL_DISCARD),
    LOCAL("watch", LOCAL_WATCH),
    LOCAL("unwatch", LOCAL_UNWATCH),
    UNSUPPORTED("waitaof"),

    /* The pair administered as one Redis: settings through the write stream, so both servers
     * change at the same point of it (config_commands.h); what every server does or keeps on its
     * own, sent to each and answered from all (fanout.h). */
    LOCAL("config|get", LOCAL_CONFIG),
    LOCAL("config|set", LOCAL_CONFIG),
    LOCAL("config|resetstat", LOCAL_FANOUT),
    LOCAL("config|rewrite", LOCAL_FANOUT),
    LOCAL("save", LOCAL_FANOUT),
    LOCAL("bgsave", LOCAL_FANOUT),
    LOCAL("bgrewriteaof", LOCAL_FANOUT),
    LOCAL("lastsave", LOCAL_FANOUT),
    LOCAL("slowlog|get", LOCAL_FANOUT),
    LOCAL("slowlog|len", LOCAL_FANOUT),
    LOCAL("slowlog|reset", LOCAL_FANOUT),
    LOCAL("latency|latest", LOCAL_FANOUT),
    LOCAL("latency|history", LOCAL_FANOUT),
    LOCAL("latency|reset", LOCAL_FANOUT),
    LOCAL("latency|graph", LOCAL_FANOUT),
    LOCAL("latency|doctor", LOCAL_FANOUT),
    LOCAL("latency|histogram", LOCAL_FANOUT),
    LOCAL("memory|purge", LOCAL_FANOUT),
    LOCAL("debug", LOCAL_DEBUG),
    LOCAL("monitor", LOCAL_MONITOR),
    /* The primary describes itself as any Redis would: a standalone server's CLUSTER, ASKING,
     * READONLY and READWRITE answer that cluster support is disabled. */
    READ("module|list"),
    READ("memory|stats"),
    READ("memory|doctor"),
    READ("memory|malloc-stats"),
    READ("cluster"),
    READ("asking"),
    READ("readonly"),
    READ("readwrite"),

    /* Roles and the processes are redpair's to manage. */
    REFUSE("replicaof", REFUSE_ROLES),
    REFUSE("slaveof", REFUSE_ROLES),
    REFUSE("failover", REFUSE_ROLES),
    REFUSE("sync", REFUSE_ROLES),
    REFUSE("psync", REFUSE_ROLES),
    REFUSE("replconf", REFUSE_ROLES),
    REFUSE("shutdown", REFUSE_SHUTDOWN),
    REFUSE("module", REFUSE_MODULE),
    REFUSE("migrate", REFUSE_MIGRATE),
};

static bool rule_matches(const char *rule, const char *name)
{
    size_t n = strlen(rule);
    return strncmp(rule, name, n) == 0 && (name[n] == '\0' || name[n] == '|');
}

/* Commands that count their keys: EVAL script numkeys key... arg..., ZUNIONSTORE dest numkeys
 * key..., BLMPOP timeout numkeys key... */
static const struct numkeys_rule {
    const char *name;
    int numkeys_at;
    int dest; /* a key before numkeys (the destination), 0 for none */
} numkeys_rules[] = {
    {"eval", 2, 0},       {"evalsha", 2, 0},    {"eval_ro", 2, 0},     {"evalsha_ro", 2, 0},
    {"fcall", 2, 0},      {"fcall_ro", 2, 0},   {"zunionstore", 2, 1}, {"zinterstore", 2, 1},
    {"zdiffstore", 2, 1}, {"lmpop", 1, 0},      {"zmpop", 1, 0},       {"blmpop", 2, 0},
    {"bzmpop", 2, 0},     {"sintercard", 1, 0}, {"zintercard", 1, 0},  {"zdiff", 1, 0},
    {"zinter", 1, 0},     {"zunion", 1, 0},
};

/* Where the keys the key range does not give are, from the command's name. */
static void classify_keys(struct command *c)
{
    c->numkeys_at = c->numkeys_dest = 0;
    c->streams = !strcmp(c->name, "xread")        ? STREAMS_XREAD
                 : !strcmp(c->name, "xreadgroup") ? STREAMS_XREADGROUP
                                                  : STREAMS_NONE;
    for (size_t i = 0; i < sizeof(numkeys_rules) / sizeof(numkeys_rules[0]); i++) {
        if (strcmp(c->name, numkeys_rules[i].name) != 0) continue;
        c->numkeys_at = numkeys_rules[i].numkeys_at;
        c->numkeys_dest = numkeys_rules[i].dest;
    }
}

/* The commands that run a script or a function: a long one keeps a server busy (backend.h). */
static const char *const script_runners[] = {"eval",    "evalsha",    "fcall",
                                             "eval_ro", "evalsha_ro", "fcall_ro"};

/* Fills kind, local, rewrite, refusal and where the keys are from name and flags. The refusal text
 * lives in the same allocation as the name, so freeing the name frees both. */
static void classify(struct command *c)
{
    enum refusal refusal = REFUSE_NONE;
    const char *sub = strchr(c->name, '|');

    c->local = LOCAL_NONE;
    c->rewrite = REWRITE_NONE;
    classify_keys(c);
    c->script_at = !strcmp(c->name, "eval") || !strcmp(c->name, "eval_ro") ? 1
                   : !strcmp(c->name, "script|load")                       ? 2
                   : !strcmp(c->name, "script|flush")                      ? -1
                                                                           : 0;
    c->runs_script = false;
    for (size_t i = 0; i < sizeof(script_runners) / sizeof(script_runners[0]); i++)
        c->runs_script |= !strcmp(c->name, script_runners[i]);
    if (c->flags & CMD_FLAG_WRITE) {
        c->kind = CMD_WRITE;
    } else if (c->flags & CMD_FLAG_READONLY) {
        c->kind = CMD_READ;
    } else {
        c->kind = CMD_REFUSED;
        refusal = REFUSE_UNSUPPORTED;
    }
    if (c->flags & CMD_FLAG_ADMIN) { /* whatever else it is, the admin API is the way */
        c->kind = CMD_REFUSED;
        refusal = REFUSE_ADMIN;
    }
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (!rule_matches(rules[i].name, c->name)) continue;
        c->kind = rules[i].kind;
        c->local = rules[i].local;
        c->rewrite = rules[i].rewrite;
        refusal = rules[i].refusal;
        break;
    }
    if (sub && strcmp(sub, "|help") == 0 && c->kind == CMD_REFUSED) {
        c->kind = CMD_READ; /* OBJECT HELP, CONFIG HELP and friends: fixed text, harmless */
        refusal = REFUSE_NONE;
    }

    size_t namelen = strlen(c->name);
    if (refusal == REFUSE_NONE) {
        c->refusal = NULL;
        return;
    }
    /* The unsupported text names the command as Redis does ("client|list"); the others as it
     * is typed ("CONFIG GET"). */
    char shown[NAME_MAX_LEN + 1];
    for (size_t i = 0; i <= namelen && i < sizeof(shown); i++)
        shown[i] = refusal == REFUSE_UNSUPPORTED ? c->name[i]
                   : c->name[i] == '|'           ? ' '
                                                 : upper(c->name[i]);
    shown[sizeof(shown) - 1] = '\0';
    const char *fmt = refusal_format[refusal];
    size_t textlen = strlen(fmt) + strlen(shown); /* "%s" makes room for the NUL */
    char *block = xmalloc(namelen + 1 + textlen);
    memcpy(block, c->name, namelen + 1);
    snprintf(block + namelen + 1, textlen, fmt, shown);
    free(c->name);
    c->name = block;
    c->refusal = block + namelen + 1;
}

/* ---------------------------------------------------------------------------------------------
 * The table itself. Names hold no NUL byte, so a match of `len` bytes by strncmp() is a match.
 * ------------------------------------------------------------------------------------------- */

static void table_clear(struct command_table *t)
{
    for (size_t i = 0; i < t->count; i++) free(t->cmds[i].name);
    free(t->cmds);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static struct slot *find_slot(const struct command_table *t, const char *name, size_t len,
                              uint32_t h)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        struct slot *s = &t->slots[i];
        if (s->index == 0) return s;
        const char *other = t->cmds[s->index - 1].name;
        if (s->hash == h && strncmp(other, name, len) == 0 && other[len] == '\0') return s;
    }
}

/* Adds a command whose name is a lowercase heap string the table now owns. Returns false for a
 * duplicate name, which is left to the caller. */
static bool table_add(struct command_table *t, struct command *c)
{
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        struct command *cmds = realloc(t->cmds, t->cap * sizeof(*cmds));
        if (!cmds) {
            fprintf(stderr, "redpair: out of memory growing the command table\n");
            abort();
        }
        t->cmds = cmds;
    }
    /* Keep the index at most half full: probes stay short and an empty slot always exists. */
    if ((t->count + 1) * 2 > t->mask + 1) {
        size_t size = t->mask ? (t->mask + 1) * 2 : 512;
        free(t->slots);
        t->slots = xcalloc(size, sizeof(*t->slots));
        t->mask = size - 1;
        for (size_t i = 0; i < t->count; i++) {
            const char *n = t->cmds[i].name;
            uint32_t h = hash_name(n, strlen(n));
            struct slot *s = find_slot(t, n, strlen(n), h);
            s->hash = h;
            s->index = (uint32_t)i + 1;
        }
    }
    size_t len = strlen(c->name);
    uint32_t h = hash_name(c->name, len);
    struct slot *s = find_slot(t, c->name, len, h);
    if (s->index) return false;
    classify(c);
    c->id = (unsigned)t->count;
    t->cmds[t->count] = *c;
    s->hash = h;
    s->index = (uint32_t)++t->count;
    return true;
}

struct command_table *command_table_new(void)
{
    struct command_table *t = xcalloc(1, sizeof(*t));
    for (size_t i = 0; i < command_builtin_count; i++) {
        const struct command_builtin *b = &command_builtin[i];
        struct command c = {
            .name = xstrdup(b->name),
            .arity = b->arity,
            .flags = b->flags,
            .categories = b->categories,
            .key_first = b->key_first,
            .key_rest = b->key_rest,
            .first_key = b->first_key,
            .last_key = b->last_key,
            .key_step = b->key_step,
            .container = b->container,
        };
        if (!table_add(t, &c)) abort(); /* the generator never writes a name twice */
    }
    return t;
}

void command_table_free(struct command_table *t)
{
    if (!t) return;
    table_clear(t);
    free(t);
}

size_t command_table_size(const struct command_table *t)
{
    return t->count;
}

const struct command *command_at(const struct command_table *t, unsigned id)
{
    return id < t->count ? &t->cmds[id] : NULL;
}

const struct command *command_lookup(const struct command_table *t, const char *name, size_t len)
{
    char low[NAME_MAX_LEN];
    if (len == 0 || len > NAME_MAX_LEN || t->count == 0) return NULL;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '\0') return NULL; /* Redis too compares the whole length */
        low[i] = lower(name[i]);
    }
    const struct slot *s = find_slot(t, low, len, hash_name(low, len));
    return s->index ? &t->cmds[s->index - 1] : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Learning from a backend's COMMAND reply.
 * ------------------------------------------------------------------------------------------- */

struct cursor {
    const char *p;
    size_t left;
};

static bool next_value(struct cursor *c, struct resp_value *v)
{
    return resp_value_next(&c->p, &c->left, v);
}

static bool skip_value(struct cursor *c)
{
    return resp_value_skip(&c->p, &c->left);
}

static bool next_integer(struct cursor *c, long long *n)
{
    struct resp_value v;
    if (!next_value(c, &v) || v.type != ':') return false;
    *n = v.integer;
    return true;
}

static bool next_int(struct cursor *c, int *n)
{
    long long ll;
    if (!next_integer(c, &ll) || ll < -1000000 || ll > 1000000) return false;
    *n = (int)ll;
    return true;
}

static unsigned flag_bit(const char *s, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"write", CMD_FLAG_WRITE},
        {"readonly", CMD_FLAG_READONLY},
        {"denyoom", CMD_FLAG_DENYOOM},
        {"admin", CMD_FLAG_ADMIN},
        {"pubsub", CMD_FLAG_PUBSUB},
        {"noscript", CMD_FLAG_NOSCRIPT},
        {"blocking", CMD_FLAG_BLOCKING},
        {"loading", CMD_FLAG_LOADING},
        {"stale", CMD_FLAG_STALE},
        {"fast", CMD_FLAG_FAST},
        {"movablekeys", CMD_FLAG_MOVABLEKEYS},
        {"no_multi", CMD_FLAG_NO_MULTI},
        {"allow_busy", CMD_FLAG_ALLOW_BUSY},
        {"skip_monitor", CMD_FLAG_SKIP_MONITOR},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) != len) continue;
        size_t j = 0;
        while (j < len && lower(s[j]) == names[i].name[j]) j++;
        if (j == len) return names[i].bit;
    }
    return 0; /* a flag redpair has no use for */
}

struct learn {
    struct command_table *t;
    char *err;
    size_t errlen;
};

static bool learn_fail(struct learn *l, const char *what)
{
    snprintf(l->err, l->errlen, "malformed COMMAND reply: %s", what);
    return false;
}

static bool next_string(struct cursor *c, struct resp_value *v)
{
    return next_value(c, v) && (v->type == '+' || v->type == '$') && v->str;
}

/* Field 6: "@write", "@string", … (a category redpair does not know is left out). */
static bool learn_categories(struct cursor *c, struct command *cmd)
{
    struct resp_value v, cat;
    if (!next_value(c, &v) || v.type != '*') return false;
    for (long long i = v.integer; i > 0; i--) {
        if (!next_string(c, &cat)) return false;
        int bit =
            cat.len > 1 && cat.str[0] == '@' ? command_category(cat.str + 1, cat.len - 1) : -1;
        if (bit >= 0) cmd->categories |= 1u << bit;
    }
    return true;
}

static unsigned key_spec_access(const struct resp_value *f)
{
    static const struct {
        const char *name;
        unsigned access;
    } names[] = {{"access", CMD_KEY_READ},
                 {"insert", CMD_KEY_WRITE},
                 {"delete", CMD_KEY_WRITE},
                 {"update", CMD_KEY_WRITE}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == f->len && strncasecmp(f->str, names[i].name, f->len) == 0)
            return names[i].access;
    return 0;
}

/* Field 8: each key spec a flat map, of which only "flags" matters here. */
static bool learn_key_specs(struct cursor *c, struct command *cmd)
{
    struct resp_value specs, spec, key, v, f;
    if (!next_value(c, &specs) || specs.type != '*') return false;
    for (long long i = 0; i < specs.integer; i++) {
        unsigned access = 0;
        if (!next_value(c, &spec) || spec.type != '*' || spec.integer % 2) return false;
        for (long long j = 0; j < spec.integer; j += 2) {
            if (!next_string(c, &key)) return false;
            if (!(key.len == 5 && strncasecmp(key.str, "flags", 5) == 0)) {
                if (!skip_value(c)) return false;
                continue;
            }
            if (!next_value(c, &v) || v.type != '*') return false;
            for (long long k = v.integer; k > 0; k--) {
                if (!next_string(c, &f)) return false;
                access |= key_spec_access(&f);
            }
        }
        if (i == 0)
            cmd->key_first = cmd->key_rest = (unsigned char)access;
        else
            cmd->key_rest = (unsigned char)((i == 1 ? 0 : cmd->key_rest) | access);
    }
    return true;
}

/* One entry: name, arity, flags, first key, last key, step (Redis 6 stops there or after ACL
 * categories); Redis 7 adds ACL categories, tips, key specs and the subcommands, each an entry of
 * the same shape named "container|sub". Deeper nesting, should it ever come, is skipped. */
static bool learn_entry(struct learn *l, struct cursor *c, const char *container)
{
    struct resp_value v, name;
    struct command cmd = {0};

    if (!next_value(c, &v) || v.type != '*' || v.integer < 6)
        return learn_fail(l, "an entry is not an array of at least 6 fields");
    long long fields = v.integer;
    if (!next_value(c, &name) || (name.type != '$' && name.type != '+') || !name.str ||
        name.len == 0)
        return learn_fail(l, "an entry has no name");
    if (!next_int(c, &cmd.arity)) return learn_fail(l, "an entry has no integer arity");
    if (!next_value(c, &v) || v.type != '*' || v.integer < 0)
        return learn_fail(l, "an entry has no flags array");
    for (long long i = v.integer; i > 0; i--) {
        struct resp_value f;
        if (!next_value(c, &f) || (f.type != '+' && f.type != '$') || !f.str)
            return learn_fail(l, "a flag is not a string");
        cmd.flags |= flag_bit(f.str, f.len);
    }
    if (!next_int(c, &cmd.first_key) || !next_int(c, &cmd.last_key) || !next_int(c, &cmd.key_step))
        return learn_fail(l, "an entry has no integer key positions");

    /* Names that cannot be looked up, or are not the container's, are still read past. */
    size_t prefix = container ? strlen(container) : 0;
    bool keep = name.len <= NAME_MAX_LEN && !memchr(name.str, '\0', name.len);
    char low[NAME_MAX_LEN + 1];
    if (keep) {
        for (size_t i = 0; i < name.len; i++) low[i] = lower(name.str[i]);
        low[name.len] = '\0';
        if (container &&
            (name.len <= prefix + 1 || memcmp(low, container, prefix) != 0 || low[prefix] != '|'))
            return learn_fail(l, "a subcommand is not named after its container");
        if (!container && memchr(low, '|', name.len))
            return learn_fail(l, "a command name holds '|'");
    }

    /* The entry goes in before its subcommands, so lookups see containers first. */
    size_t self = l->t->count;
    if (keep) {
        cmd.name = xstrdup(low);
        if (!table_add(l->t, &cmd)) {
            free(cmd.name);
            snprintf(l->err, l->errlen, "malformed COMMAND reply: '%s' is listed twice", low);
            return false;
        }
    }
    for (long long i = 6; i < fields; i++) {
        if ((i == 6 || i == 8) && keep) {
            bool ok = i == 6 ? learn_categories(c, &l->t->cmds[self])
                             : learn_key_specs(c, &l->t->cmds[self]);
            if (!ok)
                return learn_fail(l, i == 6 ? "malformed ACL categories" : "malformed key specs");
            continue;
        }
        if (i != 9 || container || !keep) {
            if (!skip_value(c)) return learn_fail(l, "an entry is truncated");
            continue;
        }
        if (!next_value(c, &v) || v.type != '*')
            return learn_fail(l, "subcommands are not an array");
        for (long long j = 0; j < v.integer; j++)
            if (!learn_entry(l, c, l->t->cmds[self].name)) return false;
        if (v.integer > 0) l->t->cmds[self].container = true;
    }
    return true;
}

bool command_table_learn(struct command_table *t, const char *reply, size_t len, char *err,
                         size_t errlen)
{
    /* Built aside and swapped in whole, so a failure leaves the live table as it was. */
    struct command_table fresh = {0};
    struct learn l = {&fresh, err, errlen};
    struct resp_reply framer = {0};
    struct resp_value v;

    /* Frame first: resp_value_read() may then trust that the value is complete. */
    resp_reply_reset(&framer);
    if (resp_reply_parse(&framer, reply, len) != RESP_DONE || framer.size != len)
        return learn_fail(&l, "not exactly one complete RESP value");
    struct cursor c = {reply, len};
    if (!next_value(&c, &v) || v.type != '*') return learn_fail(&l, "not an array");
    if (v.integer <= 0) return learn_fail(&l, "no commands listed");
    for (long long i = 0; i < v.integer; i++) {
        if (!learn_entry(&l, &c, NULL)) {
            table_clear(&fresh);
            return false;
        }
    }
    if (c.left != 0) {
        table_clear(&fresh);
        return learn_fail(&l, "trailing bytes");
    }
    table_clear(t);
    *t = fresh;
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Resolving a client's command, with Redis's own error texts.
 * ------------------------------------------------------------------------------------------- */

/* A bounded string builder for error texts: output is cut at the end of the caller's buffer. */
struct text {
    char *p;
    size_t cap, len;
};

static void text_put(struct text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, t->len++)
        if (t->len + 1 < t->cap) t->p[t->len] = s[i];
    if (t->cap) t->p[t->len < t->cap ? t->len : t->cap - 1] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_put(t, s, strlen(s));
}

/* Redis formats arguments with "%.*s" as C strings, so they end at a NUL byte, and then turns
 * CR and LF into spaces to keep the reply a single line. */
size_t command_arg_shown(const char *s, size_t len, size_t max)
{
    const char *nul = memchr(s, '\0', len);
    if (nul) len = (size_t)(nul - s);
    return len < max ? len : max;
}

static void text_arg(struct text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) text_put(t, s[i] == '\r' || s[i] == '\n' ? " " : s + i, 1);
}

static void unknown_command(int argc, const char *const *argv, const size_t *argl, char *err,
                            size_t errlen)
{
    struct text t = {err, errlen, 0};
    text_str(&t, "ERR unknown command '");
    if (argc > 0) text_arg(&t, argv[0], command_arg_shown(argv[0], argl[0], 128));
    text_str(&t, "', with args beginning with: ");
    /* Arguments are quoted until 128 bytes of them (quotes and spaces counted) are shown. */
    size_t shown = 0;
    for (int i = 1; i < argc && shown < 128; i++) {
        size_t n = command_arg_shown(argv[i], argl[i], 128 - shown);
        text_str(&t, "'");
        text_arg(&t, argv[i], n);
        text_str(&t, "' ");
        shown += n + 3;
    }
}

/* Subcommands are in the same table as "container|sub"; Redis does not know them by that. */
static const struct command *container_of(const struct command_table *t, int argc,
                                          const char *const *argv, const size_t *argl)
{
    return argc > 0 && !memchr(argv[0], '|', argl[0]) ? command_lookup(t, argv[0], argl[0]) : NULL;
}

static const struct command *subcommand(const struct command_table *t, const struct command *c,
                                        const char *arg, size_t len)
{
    char full[NAME_MAX_LEN];
    size_t n = strlen(c->name);
    if (n + 1 + len > sizeof(full) || memchr(arg, '|', len)) return NULL;
    memcpy(full, c->name, n);
    full[n] = '|';
    memcpy(full + n + 1, arg, len);
    return command_lookup(t, full, n + 1 + len);
}

const struct command *command_named(const struct command_table *t, int argc,
                                    const char *const *argv, const size_t *argl)
{
    const struct command *c = container_of(t, argc, argv, argl);
    return c && c->container && argc >= 2 ? subcommand(t, c, argv[1], argl[1]) : c;
}

const struct command *command_resolve(const struct command_table *t, int argc,
                                      const char *const *argv, const size_t *argl, char *err,
                                      size_t errlen)
{
    const struct command *c = container_of(t, argc, argv, argl);
    if (!c) {
        unknown_command(argc, argv, argl, err, errlen);
        return NULL;
    }
    if (c->container && argc >= 2) {
        size_t n = strlen(c->name);
        const struct command *sub = subcommand(t, c, argv[1], argl[1]);
        if (!sub) {
            struct text e = {err, errlen, 0};
            text_str(&e, "ERR unknown subcommand '");
            text_arg(&e, argv[1], command_arg_shown(argv[1], argl[1], 128));
            text_str(&e, "'. Try ");
            for (size_t i = 0; i < n; i++) {
                char u = upper(c->name[i]);
                text_put(&e, &u, 1);
            }
            text_str(&e, " HELP.");
            return NULL;
        }
        c = sub;
    }
    if ((c->arity > 0 && argc != c->arity) || argc < -c->arity) {
        /* Redis rejects a malformed EXEC as an aborted transaction, even outside MULTI. */
        snprintf(err, errlen, "%s wrong number of arguments for '%s' command",
                 strcmp(c->name, "exec") == 0 ? "EXECABORT Transaction discarded because of:"
                                              : "ERR",
                 c->name);
        return NULL;
    }
    return c;
}

/* XREAD [COUNT n] [BLOCK ms] STREAMS key... id... and XREADGROUP GROUP g c [COUNT n] [BLOCK ms]
 * [NOACK] STREAMS ...: the position of the first key and of BLOCK's argument (0 when absent). As
 * Redis, options are read in turn, so a stream named "block" is a key. Returns false when Redis
 * would reject the arguments. */
static bool xread_args(bool group, int argc, const char *const *argv, const size_t *argl,
                       int *first_key, int *block)
{
    *block = 0;
    for (int i = 1; i < argc; i++) {
        int more = argc - 1 - i;
        if (resp_arg_is(argv[i], argl[i], "streams")) {
            int keys = argc - 1 - i;
            if (keys == 0 || keys % 2) return false;
            *first_key = i + 1;
            return true;
        }
        if (resp_arg_is(argv[i], argl[i], "block") && more) {
            *block = ++i;
        } else if (resp_arg_is(argv[i], argl[i], "count") && more) {
            i++;
        } else if (group && resp_arg_is(argv[i], argl[i], "group") && more >= 2) {
            i += 2;
        } else if (!(group && resp_arg_is(argv[i], argl[i], "noack"))) {
            return false;
        }
    }
    return false;
}

int command_keys(const struct command *cmd, int argc, const char *const *argv, const size_t *argl,
                 int *pos, int max)
{
    int first, last, step = 1, n = 0;

    if (cmd->numkeys_at) {
        long long numkeys;
        int at = cmd->numkeys_at;
        if (argc <= at || !resp_parse_ll(argv[at], argl[at], &numkeys) || numkeys < 0 ||
            numkeys > argc - at - 1)
            return 0; /* Redis rejects it: no key is touched */
        if (cmd->numkeys_dest) {
            if (n < max) pos[n] = cmd->numkeys_dest;
            n++;
        }
        first = at + 1;
        last = at + (int)numkeys;
    } else if (cmd->streams) {
        int block;
        if (!xread_args(cmd->streams == STREAMS_XREADGROUP, argc, argv, argl, &first, &block))
            return 0;
        last = first + (argc - first) / 2 - 1;
    } else if (cmd->flags & CMD_FLAG_MOVABLEKEYS) {
        return -1;
    } else {
        first = cmd->first_key;
        last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
        step = cmd->key_step > 0 ? cmd->key_step : 1;
        if (first <= 0) return 0;
    }
    for (int i = first; i <= last && i < argc; i += step, n++)
        if (n < max) pos[n] = i;
    return n;
}

void command_keypos(const struct command *cmd, int argc, const char *const *argv,
                    const size_t *argl, struct command_keypos *kp)
{
    int room = (int)(sizeof(kp->small) / sizeof(kp->small[0]));
    kp->pos = kp->small;
    kp->n = command_keys(cmd, argc, argv, argl, kp->pos, room);
    if (kp->n > room) {
        kp->pos = xrealloc(NULL, (size_t)kp->n * sizeof(*kp->pos));
        command_keys(cmd, argc, argv, argl, kp->pos, kp->n);
    }
}

void command_keypos_free(struct command_keypos *kp)
{
    if (kp->pos != kp->small) free(kp->pos);
}

bool command_blocks(const struct command *cmd, int argc, const char *const *argv,
                    const size_t *argl, long long *timeout_ms)
{
    *timeout_ms = -1;
    if (!(cmd->flags & CMD_FLAG_BLOCKING)) return false; /* on every command: no more than this */
    if (cmd->streams) {
        int first, block;
        long long ms;
        if (!xread_args(cmd->streams == STREAMS_XREADGROUP, argc, argv, argl, &first, &block) ||
            !block)
            return false;
        if (resp_parse_ll(argv[block], argl[block], &ms) && ms >= 0) *timeout_ms = ms;
        return true;
    }
    if (argc < 2) return false;
    int at = cmd->numkeys_at ? 1 : argc - 1; /* BLMPOP and BZMPOP lead with it */
    /* Seconds, as Redis reads them: a float, rounded up to whole milliseconds. */
    char text[64];
    if (argl[at] == 0 || argl[at] >= sizeof(text) || isspace((unsigned char)argv[at][0]))
        return true;
    memcpy(text, argv[at], argl[at]);
    text[argl[at]] = '\0';
    char *end;
    errno = 0;
    long double seconds = strtold(text, &end);
    if (*end || errno || isnan(seconds) || seconds < 0 || seconds * 1000 > (long double)LLONG_MAX)
        return true;
    *timeout_ms = (long long)ceill(seconds * 1000);
    return true;
}

bool command_pausable(const struct command *cmd)
{
    /* What Redis 7.0 flags may_replicate, without telling COMMAND: the scripts that may write
     * (SCRIPT LOAD and its kin are not paused), PFCOUNT, and publishing. */
    return (cmd->flags & CMD_FLAG_WRITE) || (cmd->kind == CMD_WRITE && cmd->runs_script) ||
           !strcmp(cmd->name, "pfcount") || !strcmp(cmd->name, "publish") ||
           !strcmp(cmd->name, "spublish");
}

const char *command_kind_name(enum command_kind kind)
{
    switch (kind) {
    case CMD_READ: return "read";
    case CMD_WRITE: return "write";
    case CMD_LOCAL: return "local";
    case CMD_REFUSED: return "refused";
    }
    return "?";
}
