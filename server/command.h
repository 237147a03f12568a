/* The command table: what redpair does with each command.
 *
 *   read     sent to the primary only
 *   write    given the next offset in the write stream and sent to both backends
 *   local    answered by redpair itself (PING, ECHO, QUIT, SELECT, AUTH, INFO, CLIENT, HELLO,
 *            RESET, WAIT, ROLE, the subscriptions of Pub/Sub, MULTI, EXEC, DISCARD, WATCH,
 *            MONITOR), or by it on the servers' behalf (CONFIG, DEBUG, and the commands every
 *            server runs on its own: SAVE, SLOWLOG, LATENCY, SCRIPT KILL …, see fanout.h)
 *   refused  known but not (yet) safe to proxy: the client gets `refusal`
 *
 * Names, arity, flags and key positions are learned at start-up from the primary's own `COMMAND`
 * reply, so new versions and modules just work; a built-in table generated from Redis 7.0 is the
 * fallback when no backend answers. The kind is derived from the flags (write, readonly) and then
 * overridden by name where redpair knows better (local commands, effect rewrites, refusals). A
 * command the table does not hold is unknown and refused, never guessed at. */
#ifndef REDPAIR_COMMAND_H
#define REDPAIR_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum command_kind { CMD_READ, CMD_WRITE, CMD_LOCAL, CMD_REFUSED };

enum command_local {
    LOCAL_NONE,
    LOCAL_PING,
    LOCAL_ECHO,
    LOCAL_QUIT,
    LOCAL_SELECT,
    LOCAL_AUTH,
    LOCAL_INFO,
    LOCAL_CLIENT, /* the CLIENT family, for redpair's own clients (client_commands.h) */
    LOCAL_HELLO,
    LOCAL_RESET,
    LOCAL_WAIT,
    LOCAL_ROLE,
    LOCAL_ACL,       /* the ACL family and its users (acl_commands.h) */
    LOCAL_SUBSCRIBE, /* (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE (pubsub.h) */
    LOCAL_MULTI,     /* MULTI, EXEC, DISCARD (transaction.h) */
    LOCAL_EXEC,
    LOCAL_DISCARD,
    LOCAL_WATCH, /* WATCH, UNWATCH (watch.h) */
    LOCAL_UNWATCH,
    LOCAL_CONFIG,  /* CONFIG GET and SET (config_commands.h) */
    LOCAL_FANOUT,  /* run by every server on its own, answered from all (fanout.h) */
    LOCAL_DEBUG,   /* the DEBUG subcommands that only read, to the primary */
    LOCAL_MONITOR, /* MONITOR (monitor_feed.h) */
};

/* How a write is made deterministic before it enters the stream (see rewrite.h). */
enum command_rewrite {
    REWRITE_NONE,
    REWRITE_EXPIRE,  /* EXPIRE key s     -> PEXPIREAT key abs-ms */
    REWRITE_PEXPIRE, /* PEXPIRE key ms   -> PEXPIREAT key abs-ms */
    REWRITE_SETEX,   /* SETEX key s v    -> SET key v PXAT abs-ms */
    REWRITE_PSETEX,  /* PSETEX key ms v  -> SET key v PXAT abs-ms */
    REWRITE_SET,     /* SET ... EX s|PX ms ... -> PXAT abs-ms */
    REWRITE_GETEX,   /* GETEX key EX s|PX ms   -> PXAT abs-ms */
    REWRITE_RESTORE, /* RESTORE key ttl v      -> ttl absolute + ABSTTL */
    /* Mirrored by effect: the secondary gets what the primary's reply says happened. */
    REWRITE_SPOP,         /* -> SREM key popped... */
    REWRITE_INCRBYFLOAT,  /* -> SET key result KEEPTTL */
    REWRITE_HINCRBYFLOAT, /* -> HSET key field result */
    REWRITE_XADD,         /* -> XADD key ... <the ID the primary chose> ...; ~ to what it kept */
    REWRITE_XTRIM,        /* XTRIM key MAXLEN|MINID ~ n -> MAXLEN = <what the primary kept> */
    REWRITE_XAUTOCLAIM,   /* -> XCLAIM key group consumer 0 <claimed and deleted IDs> */
    REWRITE_XCLAIM,       /* -> a script: XCLAIM of the claimed IDs, then of the others */
};

#define CMD_FLAG_WRITE        (1u << 0)
#define CMD_FLAG_READONLY     (1u << 1)
#define CMD_FLAG_DENYOOM      (1u << 2)
#define CMD_FLAG_ADMIN        (1u << 3)
#define CMD_FLAG_PUBSUB       (1u << 4)
#define CMD_FLAG_NOSCRIPT     (1u << 5)
#define CMD_FLAG_BLOCKING     (1u << 6)
#define CMD_FLAG_LOADING      (1u << 7)
#define CMD_FLAG_STALE        (1u << 8)
#define CMD_FLAG_FAST         (1u << 9)
#define CMD_FLAG_MOVABLEKEYS  (1u << 10)
#define CMD_FLAG_NO_MULTI     (1u << 11)
#define CMD_FLAG_ALLOW_BUSY   (1u << 12) /* runs while the server is busy in a script */
#define CMD_FLAG_SKIP_MONITOR (1u << 13)

/* Redis's ACL categories, in its order (ACL CAT lists them so): bit i of a command's
 * `categories` is command_category_names[i], as the "@name" entries of COMMAND give them. */
#define CMD_CATEGORIES 21
extern const char *const command_category_names[CMD_CATEGORIES];
/* The category of this name (without '@', any case), or -1. */
int command_category(const char *name, size_t len);

/* What a command does with a key, from its key specs' flags as Redis's ACL reads them: ACCESS
 * reads (needs %R~), INSERT, DELETE and UPDATE write (need %W~); a key with neither (EXISTS,
 * TYPE) is allowed by any pattern that matches it. */
#define CMD_KEY_READ  1u
#define CMD_KEY_WRITE 2u

struct command {
    char *name;     /* lowercase full name: "get", "object|encoding" */
    unsigned id;    /* its index in the table: ACL users keep one bit per command (acl.h) */
    int arity;      /* as Redis: n exactly, -n at least n, argv[0] (and the container) counted */
    unsigned flags; /* CMD_FLAG_* */
    uint32_t categories; /* bit i: command_category_names[i] */
    /* CMD_KEY_* of the first key found and of the ones after it: Redis keeps the flags per key
     * spec, redpair the first spec's and the union of the others' (acl.h says what differs). */
    unsigned char key_first, key_rest;
    int first_key, last_key, key_step;
    bool container; /* has subcommands: resolve with argv[1] */
    enum command_kind kind;
    enum command_local local;
    enum command_rewrite rewrite;
    int script_at; /* EVAL, EVAL_RO, SCRIPT LOAD: the argument holding a script; SCRIPT FLUSH: -1 */
    bool runs_script; /* EVAL, EVALSHA, FCALL and their read-only twins: may keep a server busy */
    /* Keys the key range does not give, found once from the name: counted by the argument at
     * numkeys_at (EVAL, ZUNIONSTORE, BLMPOP…, 0 for none) after a destination key at numkeys_dest
     * (0 for none); or after STREAMS (XREAD, XREADGROUP). */
    int numkeys_at, numkeys_dest;
    enum { STREAMS_NONE, STREAMS_XREAD, STREAMS_XREADGROUP } streams;
    const char *refusal; /* CMD_REFUSED: the error text after "-ERR " */
};

struct command_table;

/* A table holding the built-in fallback. */
struct command_table *command_table_new(void);
void command_table_free(struct command_table *t);
size_t command_table_size(const struct command_table *t);

/* Replaces the table's contents with what a backend's raw `COMMAND` reply (RESP bytes) lists,
 * subcommands included. On a malformed reply returns false, leaves the table unchanged and says
 * why in err. */
bool command_table_learn(struct command_table *t, const char *reply, size_t len, char *err,
                         size_t errlen);

/* The command with this id: 0 <= id < command_table_size(). */
const struct command *command_at(const struct command_table *t, unsigned id);

/* Exact-name lookup, case-insensitive: "GET", "object|encoding". */
const struct command *command_lookup(const struct command_table *t, const char *name, size_t len);

/* Room for any error command_resolve() writes: Redis quotes at most about 128 bytes of the
 * name and 128 of the arguments. */
#define COMMAND_ERROR_MAX 512

/* Finds the command argv names, descending into a container's subcommand, and checks its arity.
 * On failure returns NULL and writes the error exactly as Redis 7 words it, without the leading
 * '-': "ERR unknown command ...", "ERR unknown subcommand ...", "ERR wrong number of arguments
 * for 'get' command". */
const struct command *command_resolve(const struct command_table *t, int argc,
                                      const char *const *argv, const size_t *argl, char *err,
                                      size_t errlen);

/* The command argv names, as command_resolve() finds it, whatever its arity: the one it failed on
 * for a wrong number of arguments. NULL for a name it does not know. */
const struct command *command_named(const struct command_table *t, int argc,
                                    const char *const *argv, const size_t *argl);

/* The keys a command names, as argument positions in argv, found as Redis finds them: the first
 * key, last key and step of the command's entry; for the commands that count their keys (EVAL,
 * FCALL, ZUNIONSTORE, LMPOP, BLMPOP…) the `numkeys` keys after the count, and a destination before
 * it; for XREAD and XREADGROUP the keys after STREAMS. Writes at most max positions to pos and
 * returns how many keys there are (more than max: look again with room for them); 0 for none or
 * for arguments Redis would reject; -1 for a command whose keys move in other ways (SORT … STORE,
 * GEORADIUS … STORE, modules), which redpair does not find. */
int command_keys(const struct command *cmd, int argc, const char *const *argv, const size_t *argl,
                 int *pos, int max);

/* All of command_keys' positions, in `small` or, for more keys, in an allocation of their own:
 * `pos` points at them, and n is -1 where command_keys says -1. command_keypos_free() after. */
struct command_keypos {
    int *pos;
    int n;
    int small[16];
};
void command_keypos(const struct command *cmd, int argc, const char *const *argv,
                    const size_t *argl, struct command_keypos *kp);
void command_keypos_free(struct command_keypos *kp);

/* Whether this call waits for data when there is none: the BLPOP family always, XREAD and
 * XREADGROUP with BLOCK. *timeout_ms is how long, 0 for ever, or -1 for a timeout Redis will
 * reject with its own error. */
bool command_blocks(const struct command *cmd, int argc, const char *const *argv,
                    const size_t *argl, long long *timeout_ms);

const char *command_kind_name(enum command_kind kind);

/* How much of an argument Redis shows in an error: it formats arguments with "%s", so they end
 * at a NUL byte; at most max bytes. */
size_t command_arg_shown(const char *s, size_t len, size_t max);

/* Commands that CLIENT PAUSE WRITE holds, as Redis does: writes, and what may write or replicate
 * though not flagged so (scripts, PFCOUNT). */
bool command_pausable(const struct command *cmd);

/* Commands a client may send before it authenticates, as Redis flags them no_auth. */
static inline bool command_no_auth(const struct command *c)
{
    return c->local == LOCAL_AUTH || c->local == LOCAL_QUIT || c->local == LOCAL_HELLO ||
           c->local == LOCAL_RESET;
}

#endif
