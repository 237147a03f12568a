/* Blind writes: the ones a backend link may send bare, since replaying them changes nothing. */
#include <check.h>
#include <string.h>

#include "blind.h"
#include "command.h"
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

/* blind("SET", "k", "v"): whether the command the first argument names is blind so called. */
#define blind(...) blind_list((const char *[]){__VA_ARGS__, NULL})

static bool blind_list(const char *const *args)
{
    const char *argv[16];
    size_t argl[16];
    int argc = 0;
    for (; args[argc]; argc++) {
        argv[argc] = args[argc];
        argl[argc] = strlen(args[argc]);
    }
    const struct command *cmd = command_lookup(t, argv[0], argl[0]);
    ck_assert_ptr_nonnull(cmd);
    return blind_write(cmd, argc, argv, argl);
}

START_TEST(test_overwrites)
{
    ck_assert(blind("SET", "k", "v"));
    ck_assert(blind("set", "k", "v", "PXAT", "1700000000000"));
    ck_assert(blind("SET", "k", "v", "EXAT", "1700000000"));
    ck_assert(blind("SET", "k", "v", "EX", "10")); /* sent as PXAT */
    ck_assert(blind("SETEX", "k", "10", "v"));
    ck_assert(blind("PSETEX", "k", "10", "v"));
    ck_assert(blind("MSET", "a", "1", "b", "2"));
    ck_assert(blind("DEL", "a", "b"));
    ck_assert(blind("UNLINK", "a"));
}
END_TEST

START_TEST(test_what_the_data_decides)
{
    /* A SET that may not happen, or that keeps what the key held. */
    ck_assert(!blind("SET", "k", "v", "NX"));
    ck_assert(!blind("SET", "k", "v", "xx"));
    ck_assert(!blind("SET", "k", "v", "PX", "10", "NX"));
    ck_assert(!blind("SET", "k", "v", "KEEPTTL"));
    ck_assert(!blind("SET", "k", "v", "GET")); /* refused when k holds another type */
    /* Everything else that reads what it writes. */
    ck_assert(!blind("INCR", "k"));
    ck_assert(!blind("APPEND", "k", "v"));
    ck_assert(!blind("LPUSH", "l", "v"));
    ck_assert(!blind("HSET", "h", "f", "v"));
    ck_assert(!blind("MSETNX", "a", "1"));
    ck_assert(!blind("SETNX", "k", "v"));
    ck_assert(!blind("GETSET", "k", "v"));
    ck_assert(!blind("GETDEL", "k"));
    ck_assert(!blind("RENAME", "a", "b"));
    ck_assert(!blind("EXPIRE", "k", "10"));
    ck_assert(!blind("INCRBYFLOAT", "k", "1.5"));
    /* Blind, but they remove the offset key too: they go marked, which puts it back. */
    ck_assert(!blind("FLUSHALL"));
    ck_assert(!blind("FLUSHDB"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blind");
    TCase *tc = tcase_create("blind");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_overwrites);
    tcase_add_test(tc, test_what_the_data_decides);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
