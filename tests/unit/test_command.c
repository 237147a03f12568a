/* The command table: classification, Redis's error texts, and learning from COMMAND. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "command_builtin.h"
#include "unit.h"

static struct command_table *t;

static void setup(void)
{
    t = command_table_new();
}

static void teardown(void)
{
    command_table_free(t);
}

static const struct command *get(const char *name)
{
    const struct command *c = command_lookup(t, name, strlen(name));
    ck_assert_msg(c != NULL, "no command '%s'", name);
    return c;
}

/* Resolves argv; on failure the error text is in err. */
static char err[COMMAND_ERROR_MAX];

static const struct command *resolve_n(int argc, const char **argv, const size_t *argl)
{
    err[0] = '\0';
    return command_resolve(t, argc, argv, argl, err, sizeof(err));
}

/* Resolves a list of C strings: resolve("object", "encoding", "k"). */
#define resolve(...) resolve_list((const char *[]){__VA_ARGS__, NULL})

static const struct command *resolve_list(const char *const *args)
{
    const char *argv[32];
    size_t argl[32];
    int argc = 0;
    for (; args[argc]; argc++) {
        argv[argc] = args[argc];
        argl[argc] = strlen(args[argc]);
    }
    return resolve_n(argc, argv, argl);
}

static void assert_refused(const char *name, const char *text)
{
    const struct command *c = get(name);
    ck_assert_msg(c->kind == CMD_REFUSED, "%s is %s", name, command_kind_name(c->kind));
    ck_assert_str_eq(c->refusal, text);
}

START_TEST(test_classification)
{
    ck_assert_uint_eq(command_table_size(t), command_builtin_count);

    ck_assert_int_eq(get("get")->kind, CMD_READ);
    ck_assert(get("get")->flags & CMD_FLAG_READONLY);
    ck_assert_int_eq(get("get")->first_key, 1);
    ck_assert_int_eq(get("mget")->last_key, -1);
    ck_assert_int_eq(get("set")->kind, CMD_WRITE);
    ck_assert_int_eq(get("set")->rewrite, REWRITE_SET);
    ck_assert_int_eq(get("set")->arity, -3);
    ck_assert_int_eq(get("del")->kind, CMD_WRITE);
    ck_assert_int_eq(get("del")->rewrite, REWRITE_NONE);
    ck_assert_ptr_null(get("del")->refusal);
    ck_assert_int_eq(get("swapdb")->kind, CMD_WRITE);
    /* Readonly by its flags, but it writes its cache into the value. */
    ck_assert_int_eq(get("pfcount")->kind, CMD_WRITE);
    ck_assert_int_eq(get("object|encoding")->kind, CMD_READ);
    ck_assert_int_eq(get("object|encoding")->first_key, 2);
    ck_assert_int_eq(get("object|help")->kind, CMD_READ);
    ck_assert(get("object")->container);
    ck_assert(!get("object|encoding")->container);
    ck_assert_int_eq(get("command")->kind, CMD_READ);
    ck_assert_int_eq(get("command|docs")->kind, CMD_READ);
    ck_assert_int_eq(get("command|getkeys")->kind, CMD_READ);

    static const struct {
        const char *name;
        enum command_local local;
    } locals[] = {{"ping", LOCAL_PING},
                  {"echo", LOCAL_ECHO},
                  {"quit", LOCAL_QUIT},
                  {"select", LOCAL_SELECT},
                  {"auth", LOCAL_AUTH},
                  {"info", LOCAL_INFO},
                  {"client|list", LOCAL_CLIENT},
                  {"client|kill", LOCAL_CLIENT},
                  {"client|setname", LOCAL_CLIENT},
                  {"client|help", LOCAL_CLIENT},
                  {"client|pause", LOCAL_CLIENT},
                  {"hello", LOCAL_HELLO},
                  {"reset", LOCAL_RESET},
                  {"wait", LOCAL_WAIT},
                  {"role", LOCAL_ROLE},
                  {"acl|whoami", LOCAL_ACL},
                  {"acl|setuser", LOCAL_ACL},
                  {"acl|cat", LOCAL_ACL},
                  {"acl|help", LOCAL_ACL},
                  {"subscribe", LOCAL_SUBSCRIBE},
                  {"psubscribe", LOCAL_SUBSCRIBE},
                  {"ssubscribe", LOCAL_SUBSCRIBE},
                  {"unsubscribe", LOCAL_SUBSCRIBE},
                  {"punsubscribe", LOCAL_SUBSCRIBE},
                  {"sunsubscribe", LOCAL_SUBSCRIBE},
                  {"client|unpause", LOCAL_CLIENT},
                  {"client|reply", LOCAL_CLIENT},
                  {"config|get", LOCAL_CONFIG},
                  {"config|set", LOCAL_CONFIG},
                  {"config|resetstat", LOCAL_FANOUT},
                  {"config|rewrite", LOCAL_FANOUT},
                  {"save", LOCAL_FANOUT},
                  {"bgsave", LOCAL_FANOUT},
                  {"bgrewriteaof", LOCAL_FANOUT},
                  {"lastsave", LOCAL_FANOUT},
                  {"slowlog|get", LOCAL_FANOUT},
                  {"slowlog|len", LOCAL_FANOUT},
                  {"slowlog|reset", LOCAL_FANOUT},
                  {"latency|latest", LOCAL_FANOUT},
                  {"latency|history", LOCAL_FANOUT},
                  {"latency|doctor", LOCAL_FANOUT},
                  {"memory|purge", LOCAL_FANOUT},
                  {"script|kill", LOCAL_FANOUT},
                  {"function|kill", LOCAL_FANOUT},
                  {"function|stats", LOCAL_FANOUT},
                  {"debug", LOCAL_DEBUG},
                  {"monitor", LOCAL_MONITOR}};
    for (size_t i = 0; i < sizeof(locals) / sizeof(locals[0]); i++) {
        ck_assert_msg(get(locals[i].name)->kind == CMD_LOCAL, "%s", locals[i].name);
        ck_assert_int_eq(get(locals[i].name)->local, locals[i].local);
        ck_assert_ptr_null(get(locals[i].name)->refusal);
    }
    /* Before AUTH, as Redis flags them no_auth. */
    ck_assert(command_no_auth(get("auth")));
    ck_assert(command_no_auth(get("hello")));
    ck_assert(command_no_auth(get("reset")));
    ck_assert(command_no_auth(get("quit")));
    ck_assert(!command_no_auth(get("ping")));
    ck_assert(!command_no_auth(get("client|setname")));

    /* Reads by rule: they describe the server, or must reach the primary alone (PUBLISH would
     * be delivered twice if mirrored). Help texts are reads even under a refused container. */
    const char *reads[] = {"time",          "publish",       "spublish",      "pubsub|channels",
                           "pubsub|numsub", "pubsub|numpat", "memory|usage",  "config|help",
                           "cluster|help",  "scan",          "keys",          "dbsize",
                           "randomkey",     "srandmember",   "zrandmember",   "hrandfield",
                           "module|list",   "memory|stats",  "memory|doctor", "cluster|info",
                           "slowlog|help",  "latency|help"};
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
        ck_assert_msg(get(reads[i])->kind == CMD_READ, "%s is %s", reads[i],
                      command_kind_name(get(reads[i])->kind));

    static const struct {
        const char *name;
        enum command_rewrite rewrite;
    } rewrites[] = {{"expire", REWRITE_EXPIRE},
                    {"pexpire", REWRITE_PEXPIRE},
                    {"setex", REWRITE_SETEX},
                    {"psetex", REWRITE_PSETEX},
                    {"getex", REWRITE_GETEX},
                    {"restore", REWRITE_RESTORE},
                    {"xadd", REWRITE_XADD},
                    {"xtrim", REWRITE_XTRIM},
                    {"xclaim", REWRITE_XCLAIM},
                    {"xautoclaim", REWRITE_XAUTOCLAIM},
                    {"spop", REWRITE_SPOP},
                    {"incrbyfloat", REWRITE_INCRBYFLOAT},
                    {"hincrbyfloat", REWRITE_HINCRBYFLOAT}};
    for (size_t i = 0; i < sizeof(rewrites) / sizeof(rewrites[0]); i++) {
        ck_assert_int_eq(get(rewrites[i].name)->kind, CMD_WRITE);
        ck_assert_int_eq(get(rewrites[i].name)->rewrite, rewrites[i].rewrite);
    }

    /* XREAD is a read and XREADGROUP a write; with BLOCK, either is parked (blocked.h). */
    ck_assert_int_eq(get("xread")->kind, CMD_READ);
    ck_assert_int_eq(get("xreadgroup")->kind, CMD_WRITE);
    ck_assert_int_eq(get("blpop")->kind, CMD_WRITE);
    ck_assert_int_eq(get("multi")->local, LOCAL_MULTI);
    ck_assert_int_eq(get("unwatch")->local, LOCAL_UNWATCH);

    /* Scripts and functions: run on both, or read from the primary; debugging is one server's
     * business. */
    const char *script_writes[] = {
        "eval",          "evalsha",         "fcall",          "script|load",     "script|flush",
        "function|load", "function|delete", "function|flush", "function|restore"};
    for (size_t i = 0; i < sizeof(script_writes) / sizeof(script_writes[0]); i++) {
        ck_assert_msg(get(script_writes[i])->kind == CMD_WRITE, "%s", script_writes[i]);
        ck_assert_int_eq(get(script_writes[i])->rewrite, REWRITE_NONE);
    }
    const char *script_reads[] = {"eval_ro",       "evalsha_ro",    "fcall_ro",    "script|exists",
                                  "function|list", "function|dump", "script|help", "function|help"};
    for (size_t i = 0; i < sizeof(script_reads) / sizeof(script_reads[0]); i++)
        ck_assert_msg(get(script_reads[i])->kind == CMD_READ, "%s", script_reads[i]);
    assert_refused("script|debug", "SCRIPT DEBUG is not available through redpair: the Lua "
                                   "debugger needs a connection of its own to one server; debug "
                                   "against a server directly");

    /* Administration redpair does not pass on: the way to do it instead, naming the command
     * as it is typed. */
    const char *roles = "is not available through redpair, which manages the servers' roles: use "
                        "the admin API (POST /api/v1/failover, POST /api/v1/backends/NAME/resync)";
    const char *role_cmds[] = {"replicaof", "slaveof", "failover", "sync", "psync", "replconf"};
    for (size_t i = 0; i < sizeof(role_cmds) / sizeof(role_cmds[0]); i++) {
        char text[256], upper[16];
        size_t n = strlen(role_cmds[i]);
        for (size_t j = 0; j <= n; j++)
            upper[j] = (char)(role_cmds[i][j] >= 'a' ? role_cmds[i][j] - 32 : role_cmds[i][j]);
        snprintf(text, sizeof(text), "%s %s", upper, roles);
        assert_refused(role_cmds[i], text);
    }
    assert_refused("shutdown", "SHUTDOWN is not available through redpair: stop redpair with "
                               "SIGTERM, or take a server out with the admin API (POST "
                               "/api/v1/backends/NAME/maintenance)");
    const char *admin = "is not available through redpair: send it to each server directly (the "
                        "admin API lists them: GET /api/v1/backends)";
    const char *admins[][2] = {
        {"pfselftest", "PFSELFTEST"}, /* by its admin flag */
        {"pfdebug", "PFDEBUG"},
    };
    for (size_t i = 0; i < sizeof(admins) / sizeof(admins[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "%s %s", admins[i][1], admin);
        assert_refused(admins[i][0], text);
    }
    assert_refused("module|load", "MODULE LOAD is not available through redpair: load a module on "
                                  "each server directly, then restart redpair, which learns its "
                                  "commands at start-up");
    assert_refused("migrate", "MIGRATE is not available through redpair: both servers would move "
                              "the keys; copy them with DUMP and RESTORE");
    /* A standalone server's own answer, from the primary. */
    const char *cluster_reads[] = {"cluster|info", "asking", "readonly", "readwrite"};
    for (size_t i = 0; i < sizeof(cluster_reads) / sizeof(cluster_reads[0]); i++)
        ck_assert_int_eq(get(cluster_reads[i])->kind, CMD_READ);
    ck_assert(get("eval")->runs_script && get("fcall_ro")->runs_script);
    ck_assert(!get("script|load")->runs_script);
    ck_assert(command_pausable(get("set")) && command_pausable(get("eval")));
    ck_assert(command_pausable(get("publish")) && command_pausable(get("pfcount")));
    ck_assert(!command_pausable(get("get")) && !command_pausable(get("eval_ro")));
    ck_assert(!command_pausable(get("script|load")));

    ck_assert_str_eq(command_kind_name(CMD_READ), "read");
    ck_assert_str_eq(command_kind_name(CMD_WRITE), "write");
    ck_assert_str_eq(command_kind_name(CMD_LOCAL), "local");
    ck_assert_str_eq(command_kind_name(CMD_REFUSED), "refused");
}
END_TEST

START_TEST(test_lookup)
{
    ck_assert_ptr_eq(command_lookup(t, "GeT", 3), get("get"));
    ck_assert_ptr_eq(command_lookup(t, "OBJECT|Encoding", 15), get("object|encoding"));
    ck_assert_ptr_eq(command_lookup(t, "getx", 3), get("get")); /* by length */
    ck_assert_ptr_null(command_lookup(t, "get\0", 4));
    ck_assert_ptr_null(command_lookup(t, "", 0));
    ck_assert_ptr_null(command_lookup(t, "nosuchcommand", 13));
    char big[200];
    memset(big, 'a', sizeof(big));
    ck_assert_ptr_null(command_lookup(t, big, sizeof(big)));
}
END_TEST

/* Every expected text below is what Redis 7.0.15 replies, after the '-'. */
START_TEST(test_resolve_errors)
{
    ck_assert_ptr_eq(resolve("GET", "k"), get("get"));
    ck_assert_ptr_eq(resolve("object", "ENCODING", "k"), get("object|encoding"));
    ck_assert_ptr_eq(resolve("Command"), get("command"));
    ck_assert_ptr_eq(resolve("command", "count"), get("command|count"));
    ck_assert_ptr_eq(resolve("quit", "a"), get("quit"));

    ck_assert_ptr_null(resolve("foo"));
    ck_assert_str_eq(err, "ERR unknown command 'foo', with args beginning with: ");
    ck_assert_ptr_null(resolve("foo", "a", "b"));
    ck_assert_str_eq(err, "ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
    ck_assert_ptr_null(resolve("object|encoding", "k"));
    ck_assert_str_eq(err, "ERR unknown command 'object|encoding', with args beginning with: 'k' ");

    /* Arguments are shown while fewer than 128 bytes of them are; CR and LF become spaces. */
    char x200[201], a126[127], x128[129];
    memset(x200, 'x', 200), x200[200] = '\0';
    memset(a126, 'a', 126), a126[126] = '\0';
    memcpy(x128, x200, 128), x128[128] = '\0';
    ck_assert_ptr_null(resolve("FOO", "a\r\nb", x200));
    char want[COMMAND_ERROR_MAX];
    snprintf(want, sizeof(want),
             "ERR unknown command 'FOO', with args beginning with: 'a  b' '%.*s' ", 128 - 7, x200);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(resolve("foo", a126, "bcd", "e"));
    snprintf(want, sizeof(want), "ERR unknown command 'foo', with args beginning with: '%s' ",
             a126);
    ck_assert_str_eq(err, want);
    char longname[204] = "foo";
    strcat(longname, x200);
    ck_assert_ptr_null(resolve(longname));
    snprintf(want, sizeof(want),
             "ERR unknown command '%.128s', with args beginning with: ", longname);
    ck_assert_str_eq(err, want);

    /* Redis formats them as C strings: a NUL byte ends the name and each argument. */
    const char *nul_argv[] = {"foo\0bar", "a\0b"};
    const size_t nul_argl[] = {7, 3};
    ck_assert_ptr_null(resolve_n(2, nul_argv, nul_argl));
    ck_assert_str_eq(err, "ERR unknown command 'foo', with args beginning with: 'a' ");
    const char *get_nul[] = {"get\0", "k"};
    const size_t get_nul_l[] = {4, 1};
    ck_assert_ptr_null(resolve_n(2, get_nul, get_nul_l));
    ck_assert_str_eq(err, "ERR unknown command 'get', with args beginning with: 'k' ");

    ck_assert_ptr_null(resolve("oBjEct", "nope"));
    ck_assert_str_eq(err, "ERR unknown subcommand 'nope'. Try OBJECT HELP.");
    const char *sub_nul[] = {"object", "nope\0x"};
    const size_t sub_nul_l[] = {6, 6};
    ck_assert_ptr_null(resolve_n(2, sub_nul, sub_nul_l));
    ck_assert_str_eq(err, "ERR unknown subcommand 'nope'. Try OBJECT HELP.");
    ck_assert_ptr_null(resolve("client", x200));
    snprintf(want, sizeof(want), "ERR unknown subcommand '%s'. Try CLIENT HELP.", x128);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(resolve("object", "encoding|x", "k"));
    ck_assert_str_eq(err, "ERR unknown subcommand 'encoding|x'. Try OBJECT HELP.");

    ck_assert_ptr_null(resolve("get"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'get' command");
    ck_assert_ptr_null(resolve("GET", "a", "b"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'get' command");
    ck_assert_ptr_null(resolve("OBJECT"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'object' command");
    ck_assert_ptr_null(resolve("object", "encoding"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'object|encoding' command");
    ck_assert_ptr_null(resolve("object", "ENCODING", "a", "b"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'object|encoding' command");
    ck_assert_ptr_null(resolve("config", "get"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'config|get' command");
    ck_assert_ptr_null(resolve("command", "count", "x"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'command|count' command");
    /* PING's arity is -1: its own handler, not the table, rejects a third argument. */
    ck_assert_ptr_eq(resolve("ping", "a", "b"), get("ping"));
    ck_assert_ptr_null(resolve("xadd", "k", "a"));
    ck_assert_str_eq(err, "ERR wrong number of arguments for 'xadd' command");

    ck_assert_ptr_null(resolve("EXEC", "x"));
    ck_assert_str_eq(err, "EXECABORT Transaction discarded because of: wrong number of arguments "
                          "for 'exec' command");

    /* A small error buffer truncates, never overflows. */
    char small[8];
    const char *argv[] = {"foo"};
    const size_t argl[] = {3};
    ck_assert_ptr_null(command_resolve(t, 1, argv, argl, small, sizeof(small)));
    ck_assert_str_eq(small, "ERR unk");
}
END_TEST

static char *load(const char *name, size_t *len)
{
    const char *dir = getenv("REDPAIR_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/unit/data", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    ck_assert_uint_eq(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return data;
}

static void assert_same_command(const struct command *a, const struct command *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->arity, b->arity);
    ck_assert_uint_eq(a->flags, b->flags);
    ck_assert_uint_eq(a->categories, b->categories);
    ck_assert_uint_eq(a->key_first, b->key_first);
    ck_assert_uint_eq(a->key_rest, b->key_rest);
    ck_assert_int_eq(a->first_key, b->first_key);
    ck_assert_int_eq(a->last_key, b->last_key);
    ck_assert_int_eq(a->key_step, b->key_step);
    ck_assert_int_eq(a->container, b->container);
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_int_eq(a->local, b->local);
    ck_assert_int_eq(a->rewrite, b->rewrite);
    if (a->refusal || b->refusal) {
        ck_assert_ptr_nonnull(a->refusal);
        ck_assert_ptr_nonnull(b->refusal);
        ck_assert_str_eq(a->refusal, b->refusal);
    }
}

/* The generated built-in table is exactly what learning from the same Redis 7.0 reply gives. */
START_TEST(test_learn_matches_builtin)
{
    size_t len;
    char *reply = load("command-7.0.resp", &len);
    struct command_table *learned = command_table_new();
    char why[256] = "";

    ck_assert_msg(command_table_learn(learned, reply, len, why, sizeof(why)), "%s", why);
    ck_assert_uint_eq(command_table_size(learned), command_builtin_count);
    for (size_t i = 0; i < command_builtin_count; i++) {
        const char *name = command_builtin[i].name;
        const struct command *l = command_lookup(learned, name, strlen(name));
        ck_assert_msg(l != NULL, "'%s' not learned", name);
        assert_same_command(l, get(name));
    }
    command_table_free(learned);
    free(reply);
}
END_TEST

/* Redis 6 lists 6 or 7 fields per command and no subcommands; modules add their own names. */
START_TEST(test_learn_redis6)
{
    static const char reply[] =
        "*4\r\n"
        "*7\r\n$3\r\nGET\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:"
        "1\r\n*2\r\n+@read\r\n+@string\r\n"
        "*6\r\n$6\r\nconfig\r\n:-2\r\n*4\r\n+admin\r\n+noscript\r\n+"
        "loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n"
        "*6\r\n$9\r\nmymod.set\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:"
        "1\r\n:1\r\n"
        "*6\r\n$5\r\nbrpop\r\n:-3\r\n*3\r\n+write\r\n+noscript\r\n+"
        "blocking\r\n:1\r\n:-2\r\n:1\r\n";
    char why[256] = "";
    ck_assert_msg(command_table_learn(t, reply, sizeof(reply) - 1, why, sizeof(why)), "%s", why);
    ck_assert_uint_eq(command_table_size(t), 4);
    ck_assert_int_eq(get("get")->kind, CMD_READ);
    ck_assert_str_eq(get("get")->name, "get");
    ck_assert_uint_eq(get("get")->flags, CMD_FLAG_READONLY | CMD_FLAG_FAST);
    ck_assert_int_eq(get("config")->kind, CMD_REFUSED);
    ck_assert(!get("config")->container);
    ck_assert_int_eq(get("mymod.set")->kind, CMD_WRITE);
    ck_assert_int_eq(get("mymod.set")->arity, -3);
    ck_assert_int_eq(get("brpop")->kind, CMD_WRITE); /* parked by redpair (blocked.h) */
    ck_assert_ptr_null(command_lookup(t, "set", 3));

    /* Without subcommands, CONFIG's argv[1] is an argument. */
    ck_assert_ptr_eq(resolve("config", "get", "x"), get("config"));
    ck_assert_ptr_null(resolve("set", "k", "v"));
    ck_assert_str_eq(err, "ERR unknown command 'set', with args beginning with: 'k' 'v' ");
}
END_TEST

START_TEST(test_learn_malformed)
{
    static const char *const bad[] = {
        "",
        "+OK\r\n",
        "-ERR unknown command 'COMMAND'\r\n",
        "*0\r\n",
        "*1\r\n",                                            /* incomplete */
        "*1\r\n:1\r\n",                                      /* entry not an array */
        "*1\r\n*5\r\n$3\r\nget\r\n:2\r\n*0\r\n:1\r\n:1\r\n", /* too few fields */
        "*1\r\n*6\r\n:3\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n",  /* name not a string */
        "*1\r\n*6\r\n$0\r\n\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n",
        "*1\r\n*6\r\n$3\r\nget\r\n$1\r\n2\r\n*0\r\n:1\r\n:1\r\n:1\r\n",   /* arity not an integer */
        "*1\r\n*6\r\n$3\r\nget\r\n:2\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n", /* flags not an array */
        "*1\r\n*6\r\n$3\r\nget\r\n:2\r\n*1\r\n:1\r\n:1\r\n:1\r\n:1\r\n",  /* flag not a string */
        "*1\r\n*6\r\n$3\r\nget\r\n:2\r\n*0\r\n:1\r\n$1\r\n1\r\n:1\r\n",   /* key not an integer */
        "*1\r\n*6\r\n$3\r\nget\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n:9\r\n",  /* trailing bytes */
        "*2\r\n*6\r\n$3\r\nget\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n"
        "*6\r\n$3\r\nGET\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n",         /* listed twice */
        "*1\r\n*6\r\n$5\r\na|get\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n", /* '|' in a command */
        /* subcommands not an array */
        "*1\r\n*10\r\n$6\r\nobject\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n:1\r\n",
        /* a subcommand not named after its container */
        "*1\r\n*10\r\n$6\r\nobject\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*1\r\n"
        "*10\r\n$4\r\nfreq\r\n:3\r\n*0\r\n:2\r\n:2\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n",
        /* a subcommand truncated */
        "*1\r\n*10\r\n$6\r\nobject\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*1\r\n"
        "*10\r\n$11\r\nobject|freq\r\n:3\r\n*0\r\n:2\r\n:2\r\n:1\r\n*0\r\n*0\r\n*0\r\n",
    };
    size_t before = command_table_size(t);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char why[256] = "";
        ck_assert_msg(!command_table_learn(t, bad[i], strlen(bad[i]), why, sizeof(why)),
                      "case %zu accepted", i);
        ck_assert_msg(strncmp(why, "malformed COMMAND reply: ", 25) == 0, "case %zu: %s", i, why);
        ck_assert_uint_eq(command_table_size(t), before);
        ck_assert_int_eq(get("get")->kind, CMD_READ);
        ck_assert(get("object")->container);
    }

    /* Every proper prefix of the real reply is rejected too. */
    size_t len;
    char *reply = load("command-7.0.resp", &len);
    for (size_t cut = 0; cut < len; cut += 997) {
        char why[256];
        ck_assert(!command_table_learn(t, reply, cut, why, sizeof(why)));
        ck_assert_uint_eq(command_table_size(t), before);
    }
    free(reply);
}
END_TEST

/* A learned table replaces the old one; names stay reachable through resolve's subcommand path. */
START_TEST(test_learn_subcommands)
{
    static const char reply[] =
        "*2\r\n"
        "*10\r\n$6\r\nOBJECT\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*1\r\n+@slow\r\n*0\r\n*0\r\n*2\r\n"
        "*10\r\n$15\r\nOBJECT|ENCODING\r\n:3\r\n*1\r\n+readonly\r\n:2\r\n:2\r\n:1\r\n*0\r\n*0\r\n"
        "*1\r\n*2\r\n$5\r\nflags\r\n*1\r\n+RO\r\n*0\r\n"
        "*10\r\n$11\r\nobject|help\r\n:2\r\n*2\r\n+loading\r\n+stale\r\n:0\r\n:0\r\n:0\r\n*0\r\n*"
        "0\r\n"
        "*0\r\n*0\r\n"
        "*12\r\n$4\r\nping\r\n:-1\r\n*1\r\n+fast\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*0\r\n"
        ":7\r\n$-1\r\n";
    char why[256] = "";
    ck_assert_msg(command_table_learn(t, reply, sizeof(reply) - 1, why, sizeof(why)), "%s", why);
    ck_assert_uint_eq(command_table_size(t), 4);
    ck_assert(get("object")->container);
    ck_assert_str_eq(get("OBJECT|encoding")->name, "object|encoding");
    ck_assert_int_eq(get("object|encoding")->kind, CMD_READ);
    ck_assert_int_eq(get("ping")->local, LOCAL_PING);
    ck_assert_ptr_eq(resolve("object", "Encoding", "k"), get("object|encoding"));
    ck_assert_ptr_null(resolve("object", "freq", "k"));
    ck_assert_str_eq(err, "ERR unknown subcommand 'freq'. Try OBJECT HELP.");
    ck_assert_ptr_null(resolve("get", "k"));
}
END_TEST

/* A command given as a NULL-ended list of C strings, resolved. */
struct call {
    const char *argv[32];
    size_t argl[32];
    int argc;
    const struct command *cmd;
};

static void call_init(struct call *call, const char *const *args)
{
    for (call->argc = 0; args[call->argc]; call->argc++) {
        call->argv[call->argc] = args[call->argc];
        call->argl[call->argc] = strlen(args[call->argc]);
    }
    call->cmd = command_resolve(t, call->argc, call->argv, call->argl, err, sizeof(err));
    ck_assert_msg(call->cmd != NULL, "%s", err);
}

/* command_keys on a list of C strings: keys("eval", "s", "1", "k", "a") -> the positions. */
static int key_pos[8];
#define keys(...) keys_list((const char *[]){__VA_ARGS__, NULL})

static int keys_list(const char *const *args)
{
    struct call call;
    call_init(&call, args);
    memset(key_pos, 0, sizeof(key_pos));
    return command_keys(call.cmd, call.argc, call.argv, call.argl, key_pos, 8);
}

START_TEST(test_keys)
{
    ck_assert_int_eq(keys("get", "k"), 1);
    ck_assert_int_eq(key_pos[0], 1);
    ck_assert_int_eq(keys("mset", "a", "1", "b", "2"), 2);
    ck_assert_int_eq(key_pos[1], 3);
    ck_assert_int_eq(keys("del", "a", "b", "c"), 3);
    ck_assert_int_eq(key_pos[2], 3);
    ck_assert_int_eq(keys("xgroup", "create", "s", "g", "$"), 1);
    ck_assert_int_eq(key_pos[0], 2);
    ck_assert_int_eq(keys("ping"), 0);

    /* Scripts and functions: numkeys says which arguments are keys. */
    ck_assert_int_eq(keys("EVAL", "return 1", "2", "a", "b", "x"), 2);
    ck_assert_int_eq(key_pos[0], 3);
    ck_assert_int_eq(key_pos[1], 4);
    ck_assert_int_eq(keys("evalsha_ro", "abc", "1", "a"), 1);
    ck_assert_int_eq(key_pos[0], 3);
    ck_assert_int_eq(keys("fcall", "f", "3", "a", "b", "c"), 3);
    ck_assert_int_eq(key_pos[2], 5);
    ck_assert_int_eq(keys("fcall_ro", "f", "0", "x"), 0);
    ck_assert_int_eq(keys("eval", "return 1", "3", "a"), 0);  /* more keys than arguments */
    ck_assert_int_eq(keys("eval", "return 1", "-1", "a"), 0); /* negative */
    ck_assert_int_eq(keys("eval", "return 1", "x"), 0);
    ck_assert_int_eq(keys("eval", "return 1", "01", "a"), 0); /* not as Redis parses it */
    ck_assert_int_eq(keys("eval", "s", "10", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"),
                     10); /* counted beyond the room given */
    ck_assert_int_eq(key_pos[7], 10);

    /* A destination before numkeys; numkeys in other places. */
    ck_assert_int_eq(keys("zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"), 3);
    ck_assert_int_eq(key_pos[0], 1);
    ck_assert_int_eq(key_pos[2], 4);
    ck_assert_int_eq(keys("lmpop", "2", "a", "b", "LEFT"), 2);
    ck_assert_int_eq(key_pos[0], 2);
    ck_assert_int_eq(keys("blmpop", "0", "1", "a", "LEFT"), 1);
    ck_assert_int_eq(key_pos[0], 3);
    ck_assert_int_eq(keys("bzmpop", "0", "3", "a", "MIN"), 0); /* more keys than arguments */

    /* XREAD and XREADGROUP: the first half of what follows STREAMS, options read in turn. */
    ck_assert_int_eq(keys("xreadgroup", "GROUP", "g", "c", "STREAMS", "s", ">"), 1);
    ck_assert_int_eq(key_pos[0], 5);
    ck_assert_int_eq(keys("xread", "COUNT", "2", "BLOCK", "0", "STREAMS", "a", "b", "$", "0"), 2);
    ck_assert_int_eq(key_pos[0], 6);
    ck_assert_int_eq(key_pos[1], 7);
    ck_assert_int_eq(keys("xread", "STREAMS", "block", "0"), 1);  /* a stream named "block" */
    ck_assert_int_eq(keys("xread", "STREAMS", "a", "b", "0"), 0); /* keys and IDs unpaired */
    ck_assert_int_eq(keys("xread", "NOACK", "STREAMS", "a", "0"), 0);

    /* Other keys that move are not found. */
    ck_assert_int_eq(keys("sort", "k", "STORE", "d"), -1);
}
END_TEST

/* command_blocks on C strings: the timeout it found, or -2 when the call does not block. */
static long long blocks_list(const char *const *args)
{
    struct call call;
    long long ms;
    call_init(&call, args);
    return command_blocks(call.cmd, call.argc, call.argv, call.argl, &ms) ? ms : -2;
}
#define blocks(...) blocks_list((const char *[]){__VA_ARGS__, NULL})

START_TEST(test_blocks)
{
    ck_assert_int_eq(blocks("blpop", "a", "b", "0"), 0);
    ck_assert_int_eq(blocks("blpop", "a", "1.5"), 1500);
    ck_assert_int_eq(blocks("brpop", "a", "0.0001"), 1); /* rounded up, as Redis */
    ck_assert_int_eq(blocks("blmove", "a", "b", "LEFT", "RIGHT", "2"), 2000);
    ck_assert_int_eq(blocks("blmpop", "3", "1", "a", "LEFT"), 3000);
    ck_assert_int_eq(blocks("bzmpop", "0.25", "1", "a", "MIN"), 250);
    ck_assert_int_eq(blocks("xread", "BLOCK", "300", "STREAMS", "s", "$"), 300);
    ck_assert_int_eq(blocks("xreadgroup", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"), 0);
    /* Timeouts Redis rejects: the first attempt gets its error. */
    ck_assert_int_eq(blocks("blpop", "a", "-1"), -1);
    ck_assert_int_eq(blocks("blpop", "a", "x"), -1);
    ck_assert_int_eq(blocks("blpop", "a", " 1"), -1);
    ck_assert_int_eq(blocks("xread", "BLOCK", "-5", "STREAMS", "s", "$"), -1);
    /* Calls that do not block. */
    ck_assert_int_eq(blocks("xread", "STREAMS", "s", "$"), -2);
    ck_assert_int_eq(blocks("xread", "STREAMS", "block", "0"), -2);
    ck_assert_int_eq(blocks("lpop", "a"), -2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("command");
    TCase *tc = tcase_create("command");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_blocks);
    tcase_add_test(tc, test_classification);
    tcase_add_test(tc, test_lookup);
    tcase_add_test(tc, test_resolve_errors);
    tcase_add_test(tc, test_learn_matches_builtin);
    tcase_add_test(tc, test_learn_redis6);
    tcase_add_test(tc, test_learn_malformed);
    tcase_add_test(tc, test_learn_subcommands);
    tcase_add_test(tc, test_keys);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
