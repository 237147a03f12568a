/* Deterministic rewrites: relative times made absolute, streams trimmed exactly, XREADGROUP's
 * BLOCK refused, and the effects mirrored from the primary's reply (XADD's ID among them). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "resp.h"
#include "rewrite.h"
#include "unit.h"

#define NOW 1700000000000LL

static struct command_table *t;
static struct buffer out;

static void setup(void)
{
    t = command_table_new();
    memset(&out, 0, sizeof(out));
}

static void teardown(void)
{
    buffer_free(&out);
    command_table_free(t);
}

/* Argument lists are C strings: rewrite("SET", "k", "v", "EX", "10"). */
#define ARGS(...)                 ((const char *[]){__VA_ARGS__, NULL})
#define rewrite(...)              rewrite_list(ARGS(__VA_ARGS__))
#define assert_out(...)           assert_out_list(ARGS(__VA_ARGS__))
#define effect(reply, ...)        effect_list(reply, NULL, ARGS(__VA_ARGS__))
#define probed(reply, probe, ...) effect_list(reply, probe, ARGS(__VA_ARGS__))

static int split(const char *const *args, const char **argv, size_t *argl)
{
    int argc = 0;
    for (; args[argc]; argc++) {
        argv[argc] = args[argc];
        argl[argc] = strlen(args[argc]);
    }
    return argc;
}

/* The multibulk of the arguments, as a NUL-terminated heap string. */
static char *encode(const char *const *args)
{
    const char *argv[64];
    size_t argl[64];
    int argc = split(args, argv, argl);
    struct buffer b = {0};
    resp_append_command(&b, argc, argv, argl);
    buffer_append(&b, "", 1);
    return b.data;
}

/* Runs rewrite_request on the arguments, with the command argv[0] names. */
static enum rewrite_result rewrite_list(const char *const *args)
{
    const char *argv[64];
    size_t argl[64];
    int argc = split(args, argv, argl);
    const struct command *cmd = command_lookup(t, argv[0], argl[0]);
    ck_assert_ptr_nonnull(cmd);
    buffer_clear(&out);
    return rewrite_request(cmd, argc, argv, argl, NOW, &out);
}

/* Runs rewrite_by_effect on the arguments. */
static bool by_effect_list(const char *const *args)
{
    const char *argv[64];
    size_t argl[64];
    int argc = split(args, argv, argl);
    const struct command *cmd = command_lookup(t, argv[0], argl[0]);
    ck_assert_ptr_nonnull(cmd);
    return rewrite_by_effect(cmd, argc, argv, argl);
}
#define by_effect(...) by_effect_list(ARGS(__VA_ARGS__))

/* Asserts that `out` holds exactly the multibulk of the arguments. */
static void assert_out_list(const char *const *args)
{
    char *want = encode(args);
    ck_assert_uint_eq(buffer_len(&out), strlen(want));
    ck_assert_msg(memcmp(buffer_head(&out), want, strlen(want)) == 0, "got %.*s, want %s",
                  (int)buffer_len(&out), buffer_head(&out), want);
    free(want);
}

#define ASSERT_UNCHANGED(...)                                                                      \
    do {                                                                                           \
        ck_assert_int_eq(rewrite(__VA_ARGS__), REWRITE_UNCHANGED);                                 \
        ck_assert_uint_eq(buffer_len(&out), 0);                                                    \
    } while (0)

START_TEST(test_expire)
{
    ck_assert_int_eq(rewrite("EXPIRE", "k", "10"), REWRITE_DONE);
    assert_out("PEXPIREAT", "k", "1700000010000");
    ck_assert_int_eq(rewrite("expire", "k", "10", "NX"), REWRITE_DONE);
    assert_out("PEXPIREAT", "k", "1700000010000", "NX");
    ck_assert_int_eq(rewrite("expire", "k", "1", "gt"), REWRITE_DONE);
    assert_out("PEXPIREAT", "k", "1700000001000", "gt");
    /* Flags Redis rejects are passed on: PEXPIREAT rejects them with the same words. */
    ck_assert_int_eq(rewrite("expire", "k", "1", "XX", "FOO"), REWRITE_DONE);
    assert_out("PEXPIREAT", "k", "1700000001000", "XX", "FOO");
    ck_assert_int_eq(rewrite("PEXPIRE", "k", "1500", "LT"), REWRITE_DONE);
    assert_out("PEXPIREAT", "k", "1700000001500", "LT");
    ck_assert_int_eq(rewrite("pexpire", "k", "9223370336854775807"), REWRITE_DONE);
    assert_out("PEXPIREAT", "k", "9223372036854775807");

    /* Zero and below delete the key on both servers alike; the rest are Redis's errors. */
    ASSERT_UNCHANGED("expire", "k", "0");
    ASSERT_UNCHANGED("expire", "k", "-5");
    ASSERT_UNCHANGED("expire", "k", "abc");
    ASSERT_UNCHANGED("expire", "k", "+5");
    ASSERT_UNCHANGED("expire", "k", "05");
    ASSERT_UNCHANGED("expire", "k", " 5");
    ASSERT_UNCHANGED("expire", "k", "5.0");
    ASSERT_UNCHANGED("expire", "k", "");
    ASSERT_UNCHANGED("expire", "k", "9223372036854776"); /* s * 1000 overflows */
    ASSERT_UNCHANGED("expire", "k", "9223372036854775"); /* now + ms overflows */
    ASSERT_UNCHANGED("expire", "k", "99999999999999999999");
    ASSERT_UNCHANGED("pexpire", "k", "9223370336854775808");
}
END_TEST

START_TEST(test_setex)
{
    ck_assert_int_eq(rewrite("SETEX", "k", "10", "v"), REWRITE_DONE);
    assert_out("SET", "k", "v", "PXAT", "1700000010000");
    ck_assert_int_eq(rewrite("psetex", "k", "250", "v"), REWRITE_DONE);
    assert_out("SET", "k", "v", "PXAT", "1700000000250");
    ASSERT_UNCHANGED("setex", "k", "0", "v");
    ASSERT_UNCHANGED("setex", "k", "-1", "v");
    ASSERT_UNCHANGED("setex", "k", "x", "v");
    ASSERT_UNCHANGED("psetex", "k", "0", "v");
    ASSERT_UNCHANGED("setex", "k", "9223372036854776", "v");
}
END_TEST

START_TEST(test_set)
{
    ck_assert_int_eq(rewrite("SET", "k", "v", "EX", "10"), REWRITE_DONE);
    assert_out("SET", "k", "v", "PXAT", "1700000010000");
    ck_assert_int_eq(rewrite("set", "k", "v", "nx", "px", "100", "GET"), REWRITE_DONE);
    assert_out("set", "k", "v", "nx", "PXAT", "1700000000100", "GET");
    ck_assert_int_eq(rewrite("set", "k", "v", "Xx", "GET", "eX", "5"), REWRITE_DONE);
    assert_out("set", "k", "v", "Xx", "GET", "PXAT", "1700000005000");
    /* Repeated, the last one counts: every copy gets its value. */
    ck_assert_int_eq(rewrite("set", "k", "v", "EX", "1", "EX", "2"), REWRITE_DONE);
    assert_out("set", "k", "v", "PXAT", "1700000002000", "PXAT", "1700000002000");
    ck_assert_int_eq(rewrite("set", "k", "v", "EX", "junk", "EX", "2"), REWRITE_DONE);
    assert_out("set", "k", "v", "PXAT", "1700000002000", "PXAT", "1700000002000");
    /* The key and value are never options. */
    ck_assert_int_eq(rewrite("set", "EX", "PX", "PX", "7"), REWRITE_DONE);
    assert_out("set", "EX", "PX", "PXAT", "1700000000007");

    ASSERT_UNCHANGED("set", "k", "v");
    ASSERT_UNCHANGED("set", "k", "v", "NX", "GET");
    ASSERT_UNCHANGED("set", "k", "v", "KEEPTTL");
    ASSERT_UNCHANGED("set", "k", "v", "EXAT", "1800000000");
    ASSERT_UNCHANGED("set", "k", "v", "PXAT", "1800000000000");
    ASSERT_UNCHANGED("set", "k", "v", "EX", "10", "PX", "10");
    ASSERT_UNCHANGED("set", "k", "v", "EX", "10", "KEEPTTL");
    ASSERT_UNCHANGED("set", "k", "v", "KEEPTTL", "PX", "10");
    ASSERT_UNCHANGED("set", "k", "v", "EX", "10", "PXAT", "10");
    ASSERT_UNCHANGED("set", "k", "v", "EX");
    ASSERT_UNCHANGED("set", "k", "v", "EX", "10", "FOO");
    ASSERT_UNCHANGED("set", "k", "v", "PERSIST", "EX", "10");
    ASSERT_UNCHANGED("set", "k", "v", "EX", "0");
    ASSERT_UNCHANGED("set", "k", "v", "EX", "-1");
    ASSERT_UNCHANGED("set", "k", "v", "PX", "NX");
    ASSERT_UNCHANGED("set", "k", "v", "EX", "2", "EX", "0");
}
END_TEST

START_TEST(test_getex)
{
    ck_assert_int_eq(rewrite("GETEX", "k", "EX", "10"), REWRITE_DONE);
    assert_out("GETEX", "k", "PXAT", "1700000010000");
    ck_assert_int_eq(rewrite("getex", "k", "px", "10"), REWRITE_DONE);
    assert_out("getex", "k", "PXAT", "1700000000010");
    ASSERT_UNCHANGED("getex", "k");
    ASSERT_UNCHANGED("getex", "k", "PERSIST");
    ASSERT_UNCHANGED("getex", "k", "EXAT", "1800000000");
    ASSERT_UNCHANGED("getex", "k", "EX", "10", "PERSIST");
    ASSERT_UNCHANGED("getex", "k", "NX", "EX", "10");
    ASSERT_UNCHANGED("getex", "k", "KEEPTTL", "EX", "10");
    ASSERT_UNCHANGED("getex", "k", "EX", "0");
    ASSERT_UNCHANGED("getex", "k", "PX");
}
END_TEST

START_TEST(test_restore)
{
    ck_assert_int_eq(rewrite("RESTORE", "k", "1000", "payload"), REWRITE_DONE);
    assert_out("RESTORE", "k", "1700000001000", "payload", "ABSTTL");
    ck_assert_int_eq(rewrite("restore", "k", "5", "p", "REPLACE", "IDLETIME", "7"), REWRITE_DONE);
    assert_out("restore", "k", "1700000000005", "p", "REPLACE", "IDLETIME", "7", "ABSTTL");
    ck_assert_int_eq(rewrite("restore", "k", "5", "p", "freq", "3", "replace"), REWRITE_DONE);
    assert_out("restore", "k", "1700000000005", "p", "freq", "3", "replace", "ABSTTL");

    ASSERT_UNCHANGED("restore", "k", "0", "p");
    ASSERT_UNCHANGED("restore", "k", "0", "p", "REPLACE");
    ASSERT_UNCHANGED("restore", "k", "1800000000000", "p", "ABSTTL");
    ASSERT_UNCHANGED("restore", "k", "5", "p", "absttl", "REPLACE");
    ASSERT_UNCHANGED("restore", "k", "-1", "p");
    ASSERT_UNCHANGED("restore", "k", "x", "p");
    ASSERT_UNCHANGED("restore", "k", "5", "p", "IDLETIME"); /* dangling: syntax error */
    ASSERT_UNCHANGED("restore", "k", "5", "p", "IDLETIME", "1", "FREQ", "2");
    ASSERT_UNCHANGED("restore", "k", "5", "p", "FOO");
}
END_TEST

START_TEST(test_xadd)
{
    /* The ID and "~" trimming are mirrored by effect (test_effects): the request goes as it
     * came, to the primary as to Redis. */
    ASSERT_UNCHANGED("xadd", "k", "NOMKSTREAM", "MAXLEN", "~", "10", "LIMIT", "5", "*", "f", "v");
    ASSERT_UNCHANGED("xadd", "k", "MAXLEN", "~", "10", "9-9", "f", "v");
    ASSERT_UNCHANGED("XADD", "k", "*", "f", "v");
    ASSERT_UNCHANGED("xadd", "k", "5-*", "f", "v", "g", "w");
    ASSERT_UNCHANGED("xadd", "k", "minid", "=", "5-0", "*", "f", "v");
    ASSERT_UNCHANGED("xadd", "k", "1-1", "f", "v");
    ASSERT_UNCHANGED("xadd", "k", "MAXLEN", "~", "-1", "*", "f", "v");
}
END_TEST

/* rewrite_probe on the request: true, and the probe in `out`, if there is one. */
static bool probe_list(const char *const *args)
{
    char *request = encode(args);
    const struct command *cmd = command_lookup(t, args[0], strlen(args[0]));
    ck_assert_ptr_nonnull(cmd);
    buffer_clear(&out);
    bool ok = rewrite_probe(cmd, request, strlen(request), &out);
    if (!ok) ck_assert_uint_eq(buffer_len(&out), 0);
    free(request);
    return ok;
}
#define probe(...) probe_list(ARGS(__VA_ARGS__))

START_TEST(test_probe)
{
    /* "~" trimming: how many entries the primary kept is what the secondary keeps. */
    ck_assert(probe("xadd", "k", "NOMKSTREAM", "MAXLEN", "~", "10", "LIMIT", "5", "*", "f", "v"));
    assert_out("XLEN", "k");
    ck_assert(probe("XTRIM", "s", "minid", "~", "7-1"));
    assert_out("XLEN", "s");
    ck_assert(!probe("xadd", "k", "MAXLEN", "=", "10", "*", "f", "v"));
    ck_assert(!probe("xadd", "k", "*", "f", "v"));
    ck_assert(!probe("xtrim", "k", "MAXLEN", "10"));
    ck_assert(!probe("xadd", "k", "MAXLEN", "~", "-1", "*", "f", "v")); /* refused by Redis */
    ck_assert(!probe("xtrim", "k", "MAXLEN", "~", "10", "NOMKSTREAM"));
    ck_assert(!probe("spop", "k"));
}
END_TEST

START_TEST(test_by_effect)
{
    /* The primary picks the ID of "*" and "<ms>-*"; an ID named in full is the same on both. */
    ck_assert(by_effect("XADD", "k", "*", "f", "v"));
    ck_assert(by_effect("xadd", "k", "MAXLEN", "=", "10", "5-*", "f", "v"));
    ck_assert(!by_effect("xadd", "k", "5-1", "f", "v"));
    ck_assert(!by_effect("xadd", "k", "NOMKSTREAM", "MINID", "=", "5-0", "7", "f", "v"));
    /* What Redis will reject stays on the effect path, which then mirrors nothing. */
    ck_assert(by_effect("xadd", "k", "foo", "f", "v"));
    ck_assert(by_effect("SPOP", "k"));
    ck_assert(by_effect("incrbyfloat", "k", "1.5"));
    ck_assert(!by_effect("SET", "k", "v"));
    ck_assert(!by_effect("xtrim", "k", "MAXLEN", "=", "3"));
    ck_assert(!by_effect("xtrim", "k", "MAXLEN", "~", "x")); /* refused alike */
    /* "~" cuts at whole nodes of each server's own radix tree: the primary's cut is mirrored. */
    ck_assert(by_effect("xtrim", "k", "MAXLEN", "~", "3"));
    ck_assert(by_effect("xadd", "k", "MINID", "~", "5-0", "7-1", "f", "v"));
}
END_TEST

START_TEST(test_xtrim)
{
    ASSERT_UNCHANGED("XTRIM", "k", "MAXLEN", "~", "10");
    ASSERT_UNCHANGED("xtrim", "k", "minid", "~", "7-1", "limit", "3");
    ASSERT_UNCHANGED("xtrim", "k", "MAXLEN", "10");
    ASSERT_UNCHANGED("xtrim", "k", "MAXLEN", "=", "10");
}
END_TEST

START_TEST(test_xreadgroup)
{
    /* Both servers hold the same stream and group, so they hand out the same entries. */
    ASSERT_UNCHANGED("xreadgroup", "GROUP", "g", "c", "COUNT", "2", "STREAMS", "s", ">");
    ASSERT_UNCHANGED("xreadgroup", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">");
}
END_TEST

START_TEST(test_other_commands_unchanged)
{
    ASSERT_UNCHANGED("get", "k");
    ASSERT_UNCHANGED("del", "k", "j");
    ASSERT_UNCHANGED("pexpireat", "k", "10");
    /* Effects are mirrored after the reply; the request itself goes as it came. */
    ASSERT_UNCHANGED("spop", "k", "3");
    ASSERT_UNCHANGED("incrbyfloat", "k", "1.5");
    ASSERT_UNCHANGED("hincrbyfloat", "k", "f", "1.5");
}
END_TEST

/* rewrite_effect on a request, a reply and the probe's (NULL: none); returns its result, the
 * effect in `out`. */
static bool effect_list(const char *reply, const char *probe, const char *const *args)
{
    char *request = encode(args);
    const struct command *cmd = command_lookup(t, args[0], strlen(args[0]));
    ck_assert_ptr_nonnull(cmd);
    buffer_clear(&out);
    bool ok = rewrite_effect(cmd, request, strlen(request), reply, strlen(reply), probe,
                             probe ? strlen(probe) : 0, &out);
    if (!ok) ck_assert_uint_eq(buffer_len(&out), 0);
    free(request);
    return ok;
}

START_TEST(test_effects)
{
    ck_assert(effect("$1\r\nx\r\n", "SPOP", "k"));
    assert_out("SREM", "k", "x");
    ck_assert(effect("*3\r\n$1\r\na\r\n$0\r\n\r\n$3\r\nb\nc\r\n", "spop", "k", "3"));
    assert_out("SREM", "k", "a", "", "b\nc");
    ck_assert(!effect("$-1\r\n", "spop", "k"));
    ck_assert(!effect("*0\r\n", "spop", "k", "3"));
    ck_assert(!effect("*-1\r\n", "spop", "k", "3"));
    ck_assert(!effect("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                      "spop", "k"));
    ck_assert(!effect("*2\r\n$1\r\na\r\n$-1\r\n", "spop", "k", "2"));
    ck_assert(!effect("*2\r\n$1\r\na\r\n", "spop", "k", "2")); /* truncated */

    ck_assert(effect("$3\r\n3.5\r\n", "INCRBYFLOAT", "k", "1.5"));
    assert_out("SET", "k", "3.5", "KEEPTTL");
    ck_assert(!effect("-ERR value is not a valid float\r\n", "incrbyfloat", "k", "x"));

    ck_assert(effect("$4\r\n10.5\r\n", "HINCRBYFLOAT", "h", "f", "0.5"));
    assert_out("HSET", "h", "f", "10.5");
    ck_assert(!effect("-ERR hash value is not a float\r\n", "hincrbyfloat", "h", "f", "1"));

    ck_assert(!effect("+OK\r\n", "set", "k", "v"));

    /* XADD: the primary's ID in place of the automatic one, options kept. */
    ck_assert(effect("$15\r\n1700000000000-0\r\n", "XADD", "s", "*", "f", "v"));
    assert_out("XADD", "s", "1700000000000-0", "f", "v");
    ck_assert(effect("$3\r\n5-3\r\n", "xadd", "s", "NOMKSTREAM", "MAXLEN", "=", "2", "5-*", "f",
                     "v", "g", "w"));
    assert_out("xadd", "s", "NOMKSTREAM", "MAXLEN", "=", "2", "5-3", "f", "v", "g", "w");
    ck_assert(effect("$3\r\n1-1\r\n", "xadd", "s", "1-1", "f", "v"));
    assert_out("xadd", "s", "1-1", "f", "v");
    ck_assert(!effect("$-1\r\n", "xadd", "s", "NOMKSTREAM", "*", "f", "v"));
    /* "~": the secondary keeps what the primary kept, exactly; without the probe's answer, the
     * threshold asked. */
    ck_assert(probed("$3\r\n9-1\r\n", ":180\r\n", "xadd", "s", "NOMKSTREAM", "MAXLEN", "~", "100",
                     "LIMIT", "50", "*", "f", "v"));
    assert_out("xadd", "s", "NOMKSTREAM", "MAXLEN", "=", "180", "9-1", "f", "v");
    ck_assert(probed("$3\r\n9-1\r\n", ":7\r\n", "xadd", "s", "MINID", "~", "5", "9-1", "f", "v"));
    assert_out("xadd", "s", "MAXLEN", "=", "7", "9-1", "f", "v");
    ck_assert(probed("$3\r\n9-1\r\n", "-ERR redpair lost the connection\r\n", "xadd", "s", "MAXLEN",
                     "~", "100", "LIMIT", "50", "*", "f", "v"));
    assert_out("xadd", "s", "MAXLEN", "=", "100", "9-1", "f", "v");
    ck_assert(probed(":3\r\n", ":100\r\n", "XTRIM", "s", "MAXLEN", "~", "90"));
    assert_out("XTRIM", "s", "MAXLEN", "=", "100");
    ck_assert(probed(":0\r\n", ":2\r\n", "xtrim", "s", "minid", "~", "5-0", "limit", "1"));
    assert_out("xtrim", "s", "MAXLEN", "=", "2");
    ck_assert(effect(":3\r\n", "xtrim", "s", "minid", "~", "5-0", "limit", "1"));
    assert_out("xtrim", "s", "minid", "=", "5-0");
    ck_assert(!probed("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
                      "xtrim", "s", "MAXLEN", "~", "1"));
    ck_assert(!effect("-ERR The ID specified in XADD is equal or smaller than the target stream "
                      "top item\r\n",
                      "xadd", "s", "1-1", "f", "v"));

    /* XAUTOCLAIM: the claimed and the deleted IDs, claimed again on the secondary at idle 0. */
    ck_assert(effect("*3\r\n$3\r\n0-0\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
                     "*2\r\n$3\r\n2-1\r\n*0\r\n*1\r\n$3\r\n3-1\r\n",
                     "XAUTOCLAIM", "s", "g", "c", "100", "0", "COUNT", "5"));
    assert_out("XCLAIM", "s", "g", "c", "0", "1-1", "2-1", "3-1");
    ck_assert(effect("*3\r\n$3\r\n7-0\r\n*1\r\n$3\r\n1-1\r\n*0\r\n", "xautoclaim", "s", "g", "c",
                     "0", "0", "justid"));
    assert_out("XCLAIM", "s", "g", "c", "0", "1-1", "JUSTID");
    ck_assert(effect("*3\r\n$3\r\n0-0\r\n*0\r\n*1\r\n$3\r\n4-0\r\n", "xautoclaim", "s", "g", "c",
                     "0", "0"));
    assert_out("XCLAIM", "s", "g", "c", "0", "4-0");
    ck_assert(!effect("*3\r\n$3\r\n0-0\r\n*0\r\n*0\r\n", "xautoclaim", "s", "g", "c", "0", "0"));
    ck_assert(!effect("-NOGROUP No such key 's' or consumer group 'g'\r\n", "xautoclaim", "s", "g",
                      "c", "0", "0"));
    ck_assert(!effect("*3\r\n$3\r\n0-0\r\n*2\r\n$3\r\n1-1\r\n", "xautoclaim", "s", "g", "c", "0",
                      "0")); /* truncated */

    /* XCLAIM: a script claims what the primary claimed, then passes the rest at an idle time no
     * entry reaches, which drops only those gone from the stream. */
    ck_assert(effect("*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n", "XCLAIM", "s", "g",
                     "c", "1000", "1", "2", "3-1", "RETRYCOUNT", "5", "LASTID", "9-9"));
    ck_assert_ptr_nonnull(strstr(buffer_head(&out), "*16\r\n$4\r\nEVAL\r\n"));
    const char *tail = "$1\r\n1\r\n$1\r\ns\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\ng\r\n$1\r\nc\r\n"
                       "$3\r\n9-9\r\n$3\r\n2-0\r\n$1\r\n1\r\n$3\r\n3-1\r\n$10\r\nRETRYCOUNT\r\n"
                       "$1\r\n5\r\n$6\r\nLASTID\r\n$3\r\n9-9\r\n";
    ck_assert_ptr_nonnull(strstr(buffer_head(&out), tail));
    ck_assert(effect("*0\r\n", "xclaim", "s", "g", "c", "0", "1-1", "JUSTID"));
    ck_assert_ptr_nonnull(strstr(buffer_head(&out), "$1\r\n0\r\n$1\r\n1\r\n$1\r\ng\r\n$1\r\nc\r\n"
                                                    "$0\r\n\r\n$3\r\n1-1\r\n$6\r\nJUSTID\r\n"));
    ck_assert(effect("*2\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n", "xclaim", "s", "g", "c", "0", "1-1", "1-1",
                     "justid"));
    ck_assert_ptr_nonnull(strstr(buffer_head(&out), "$1\r\n2\r\n$1\r\n0\r\n$1\r\ng\r\n$1\r\nc\r\n"
                                                    "$0\r\n\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n"));
    ck_assert(!effect("*1\r\n$3\r\n5-5\r\n", "xclaim", "s", "g", "c", "0", "1-1", "JUSTID"));
    ck_assert(!effect("-ERR Invalid stream ID specified as stream command argument\r\n", "xclaim",
                      "s", "g", "c", "0", "x"));

    /* Many members take the heap path. */
    struct buffer reply = {0};
    buffer_appendf(&reply, "*40\r\n");
    for (int i = 0; i < 40; i++) buffer_appendf(&reply, "$2\r\n%02d\r\n", i);
    buffer_append(&reply, "", 1);
    ck_assert(effect(reply.data, "spop", "k", "40"));
    static const char head[] = "*42\r\n$4\r\nSREM\r\n$1\r\nk\r\n$2\r\n00\r\n";
    ck_assert_int_eq(memcmp(buffer_head(&out), head, sizeof(head) - 1), 0);
    buffer_free(&reply);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rewrite");
    TCase *tc = tcase_create("rewrite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_expire);
    tcase_add_test(tc, test_setex);
    tcase_add_test(tc, test_set);
    tcase_add_test(tc, test_getex);
    tcase_add_test(tc, test_restore);
    tcase_add_test(tc, test_xadd);
    tcase_add_test(tc, test_probe);
    tcase_add_test(tc, test_by_effect);
    tcase_add_test(tc, test_xtrim);
    tcase_add_test(tc, test_xreadgroup);
    tcase_add_test(tc, test_other_commands_unchanged);
    tcase_add_test(tc, test_effects);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
