/* ACL rules: parsing and its errors, ACL LIST's normal form, key, channel and command checks,
 * glob matching, and the aclfile's load and save, against the built-in Redis 7.0 table. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../server/acl.h"
#include "../../server/buffer.h"
#include "../../server/command.h"
#include "unit.h"

static struct command_table *table;
static struct acl *acl;

static void setup(void)
{
    table = command_table_new();
    acl = acl_new(table);
}

static void teardown(void)
{
    acl_free(acl);
    command_table_free(table);
}

/* Rules separated by spaces; returns "" or the failing rule and the reason. */
static const char *setuser(const char *name, const char *rules)
{
    static char result[512];
    char copy[1024], *argv[64];
    size_t argl[64];
    int argc = 0, bad = -1;
    char err[256];
    snprintf(copy, sizeof(copy), "%s", rules);
    for (char *t = strtok(copy, " "); t && argc < 64; t = strtok(NULL, " ")) {
        argv[argc] = t;
        argl[argc++] = strlen(t);
    }
    if (acl_setuser(acl, name, strlen(name), argc, (const char *const *)argv, argl, &bad, err,
                    sizeof(err)))
        return "";
    snprintf(result, sizeof(result), "%s: %s", argv[bad], err);
    return result;
}

static const char *described(const char *name)
{
    static char text[2048];
    struct buffer b = {0};
    struct acl_user *u = acl_user(acl, name, strlen(name));
    ck_assert_ptr_nonnull(u);
    acl_describe(acl, u, &b);
    snprintf(text, sizeof(text), "%.*s", (int)buffer_len(&b), buffer_head(&b));
    buffer_free(&b);
    return text;
}

/* Checks a command written with spaces for user name. */
static enum acl_verdict check(const char *name, const char *line, int *pos)
{
    char copy[512], *argv[32];
    size_t argl[32];
    int argc = 0;
    snprintf(copy, sizeof(copy), "%s", line);
    for (char *t = strtok(copy, " "); t && argc < 32; t = strtok(NULL, " ")) {
        argv[argc] = t;
        argl[argc++] = strlen(t);
    }
    const struct command *cmd = command_named(table, argc, (const char *const *)argv, argl);
    ck_assert_msg(cmd != NULL, "%s", line);
    int ignored;
    return acl_check(acl_user(acl, name, strlen(name)), cmd, argc, (const char *const *)argv, argl,
                     pos ? pos : &ignored);
}

START_TEST(test_default_user)
{
    ck_assert_str_eq(described("default"), "user default on nopass ~* &* +@all");
    struct acl_user *d = acl_default_user(acl);
    ck_assert(acl_user_nopass(d));
    ck_assert(acl_user_password_ok(d, "anything", 8));
    ck_assert_int_eq(check("default", "FLUSHALL", NULL), ACL_ALLOWED);
    ck_assert_uint_eq(acl_user_count(acl), 1);
}
END_TEST

START_TEST(test_normal_form)
{
    /* As Redis 7.0 lists them (checked against redis-server 7.0.15). */
    ck_assert_str_eq(setuser("a", "on >p1 ~k* %R~r* %W~w* &ch* -@all +get +set +@string -append"),
                     "");
    ck_assert_str_eq(described("a"),
                     "user a on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a "
                     "~k* %R~r* %W~w* resetchannels &ch* -@all +@string -append");
    ck_assert_str_eq(setuser("b", "+@all -get"), "");
    ck_assert_str_eq(described("b"), "user b off resetchannels +@all -get");
    ck_assert_str_eq(setuser("c", "resetchannels allkeys +client|id"), "");
    ck_assert_str_eq(described("c"), "user c off ~* resetchannels -@all +client|id");
    ck_assert_str_eq(setuser("d", "reset on nopass %RW~x %R~y %W~y allchannels"), "");
    ck_assert_str_eq(described("d"), "user d on nopass sanitize-payload ~x ~y &* -@all");
    ck_assert_str_eq(setuser("f", "%R %RW"), "");
    ck_assert_str_eq(described("f"), "user f off ~ resetchannels -@all");
    /* >pass twice keeps one; resetpass and nopass drop them; '<' removes one. */
    ck_assert_str_eq(setuser("e", ">x >x >y <x"), "");
    ck_assert_str_eq(described("e"), "user e off "
                                     "#a1fce4363854ff888cff4b8e7875d600c2682390412a8cf79b37d0b1"
                                     "1148b0fa resetchannels -@all");
    ck_assert_str_eq(setuser("e", "nopass"), "");
    ck_assert_str_eq(described("e"), "user e off nopass resetchannels -@all");
    ck_assert_str_eq(setuser("e", "allcommands -@dangerous"), "");
    ck_assert_str_eq(described("e"), "user e off nopass resetchannels +@all -@dangerous");
}
END_TEST

START_TEST(test_rule_errors)
{
    ck_assert_str_eq(setuser("x", "foo"), "foo: Syntax error");
    ck_assert_str_eq(setuser("x", "+nosuch"), "+nosuch: Unknown command or category name in ACL");
    ck_assert_str_eq(setuser("x", "-@nosuch"), "-@nosuch: Unknown command or category name in ACL");
    ck_assert_str_eq(setuser("x", "+config|nosuch"),
                     "+config|nosuch: Unknown command or category name in ACL");
    ck_assert_str_eq(setuser("x", "allkeys ~a"),
                     "~a: Adding a pattern after the * pattern (or the 'allkeys' flag) is not "
                     "valid and does not have any effect. Try 'resetkeys' to start with an empty "
                     "list of patterns");
    ck_assert(strstr(setuser("x", "&* &a"), "'allchannels' flag"));
    ck_assert_str_eq(setuser("x", "#abc"),
                     "#abc: The password hash must be exactly 64 characters and contain only "
                     "lowercase hexadecimal characters");
    ck_assert_str_eq(setuser("x", "<nope"),
                     "<nope: The password you are trying to remove from the user does not exist");
    ck_assert_str_eq(setuser("x", "%X~a"), "%X~a: Syntax error");
    ck_assert_str_eq(setuser("x", "%~a"), "%~a: Syntax error");
    ck_assert_str_eq(setuser("x", "%"), "%: Syntax error");
    /* What redpair refuses with its own reason. */
    ck_assert(strstr(setuser("x", "(~x +get)"), "does not support selectors"));
    ck_assert(strstr(setuser("x", "+select|0"), "does not support first-arg rules"));
    /* All or nothing: a user that failed was not created, nor one changed. */
    ck_assert_ptr_null(acl_user(acl, "x", 1));
    ck_assert_str_eq(setuser("y", "on +get"), "");
    ck_assert_str_eq(setuser("y", "-get foo"), "foo: Syntax error");
    ck_assert_str_eq(described("y"), "user y on resetchannels -@all +get");
}
END_TEST

START_TEST(test_command_and_key_checks)
{
    int pos;
    ck_assert_str_eq(
        setuser("u", "on nopass ~app:* %R~ro:* %W~wo:* -@all +@read +@write -flushall"), "");
    ck_assert_int_eq(check("u", "GET app:1", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "GET other", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 1);
    ck_assert_int_eq(check("u", "FLUSHALL", NULL), ACL_DENIED_COMMAND);
    ck_assert_int_eq(check("u", "PING", NULL), ACL_DENIED_COMMAND);
    ck_assert_int_eq(check("u", "AUTH x", NULL), ACL_ALLOWED); /* no_auth commands always */
    /* Read and write permission by what the command does with each key. */
    ck_assert_int_eq(check("u", "GET ro:1", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "SET ro:1 v", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check("u", "SET wo:1 v", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "SET wo:1 v GET", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check("u", "GET wo:1", NULL), ACL_DENIED_KEY);
    ck_assert_int_eq(check("u", "EXISTS wo:1 ro:1", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "COPY ro:1 wo:1", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "COPY wo:1 ro:1", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(check("u", "MSET app:1 a other b", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 3);
    ck_assert_int_eq(check("u", "BITFIELD ro:1 GET u8 0", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "BITFIELD ro:1 SET u8 0 1", NULL), ACL_DENIED_KEY);
    /* Categories come from the command table. */
    const struct command *set = command_lookup(table, "set", 3);
    ck_assert(set->categories & (1u << command_category("write", 5)));
    ck_assert(set->categories & (1u << command_category("STRING", 6)));
    ck_assert(!(set->categories & (1u << command_category("read", 4))));
    /* Changes apply in place. */
    ck_assert_str_eq(setuser("u", "-get"), "");
    ck_assert_int_eq(check("u", "GET app:1", NULL), ACL_DENIED_COMMAND);
    ck_assert_str_eq(setuser("u", "+config|get"), "");
    ck_assert_int_eq(check("u", "CONFIG GET x", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "CONFIG SET x y", NULL), ACL_DENIED_COMMAND);
    ck_assert_str_eq(setuser("u", "+config -config|set"), "");
    ck_assert_int_eq(check("u", "CONFIG RESETSTAT", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("u", "CONFIG SET x y", NULL), ACL_DENIED_COMMAND);
}
END_TEST

START_TEST(test_channels_and_scripts)
{
    int pos;
    ck_assert_str_eq(setuser("p", "on nopass &news.* &exact ~k* -@all +@pubsub +@scripting"), "");
    ck_assert_int_eq(check("p", "PUBLISH news.1 m", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("p", "PUBLISH other m", &pos), ACL_DENIED_CHANNEL);
    ck_assert_int_eq(pos, 1);
    ck_assert_int_eq(check("p", "SUBSCRIBE exact news.x other", &pos), ACL_DENIED_CHANNEL);
    ck_assert_int_eq(pos, 3);
    /* A pattern subscription needs the very pattern. */
    ck_assert_int_eq(check("p", "PSUBSCRIBE news.*", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("p", "PSUBSCRIBE news.x*", NULL), ACL_DENIED_CHANNEL);
    ck_assert_int_eq(check("p", "UNSUBSCRIBE other", NULL), ACL_ALLOWED);
    /* Scripts by their declared keys. */
    ck_assert_int_eq(check("p", "EVAL s 2 k1 k2 arg", NULL), ACL_ALLOWED);
    ck_assert_int_eq(check("p", "EVAL s 2 k1 x2 arg", &pos), ACL_DENIED_KEY);
    ck_assert_int_eq(pos, 4);
    ck_assert_int_eq(check("p", "FCALL f 1 x arg", NULL), ACL_DENIED_KEY);
}
END_TEST

START_TEST(test_glob)
{
    static const struct {
        const char *pat, *s;
        bool match;
    } cases[] = {
        {"*", "", true},          {"a*", "abc", true},
        {"a*c", "abxc", true},    {"a*c", "abx", false},
        {"a?c", "abc", true},     {"a?c", "ac", false},
        {"[abc]x", "bx", true},   {"[^abc]x", "bx", false},
        {"[^abc]x", "dx", true},  {"[a-c]", "b", true},
        {"[c-a]", "b", true},     {"[a-c]", "d", false},
        {"\\*", "*", true},       {"\\*", "a", false},
        {"a[\\]]b", "a]b", true}, {"[abc", "a", true},
        {"[abc", "d", false},     {"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
        {"h*llo", "hello", true}, {"h*llo", "heLLo", false},
        {"**", "x", true},        {"a", "a\0", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(acl_glob_match(cases[i].pat, strlen(cases[i].pat), cases[i].s,
                                     strlen(cases[i].s) + (i == sizeof(cases) / sizeof(cases[0]) -
                                                                    1)) == cases[i].match,
                      "'%s' ~ '%s'", cases[i].pat, cases[i].s);
}
END_TEST

START_TEST(test_passwords)
{
    ck_assert_str_eq(setuser("w", "on >secret"), "");
    struct acl_user *u = acl_user(acl, "w", 1);
    ck_assert(acl_user_password_ok(u, "secret", 6));
    ck_assert(!acl_user_password_ok(u, "secreT", 6));
    ck_assert(!acl_user_password_ok(u, "secret\0", 7));
    ck_assert(!acl_user_nopass(u));
    ck_assert_str_eq(setuser("w", "off"), "");
    ck_assert(!acl_user_password_ok(u, "secret", 6)); /* off: nobody logs in */
    ck_assert_str_eq(setuser("w", "on resetpass"), "");
    ck_assert(!acl_user_password_ok(u, "secret", 6));
    ck_assert(!acl_deluser(acl, "nosuch", 6, NULL, NULL));
    ck_assert(!acl_deluser(acl, "default", 7, NULL, NULL));
    ck_assert(acl_deluser(acl, "w", 1, NULL, NULL));
    ck_assert_ptr_null(acl_user(acl, "w", 1));
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0600),
                     0); /* passwords: acl_load_file refuses them world-readable */
}

static int gone_count;
static void count_gone(struct acl_user *u, void *arg)
{
    (void)u;
    (void)arg;
    gone_count++;
}

START_TEST(test_aclfile)
{
    char path[] = "/tmp/redpair-test-acl-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char err[1024];
    write_file(path, "user default on nopass ~* &* +@all\n"
                     "user bad on +nosuch foo +nosuch2\n"
                     "something\n"
                     "user default off\n");
    ck_assert(!acl_load_file(acl, path, count_gone, NULL, err, sizeof(err)));
    char want[2048];
    snprintf(want, sizeof(want),
             "%s:2: Error in applying operation '+nosuch': Unknown command or category name in "
             "ACL. %s:2: Syntax error. %s:2: Error in applying operation '+nosuch2': Unknown "
             "command or category name in ACL. %s:3 should start with user keyword followed by "
             "the username. WARNING: Duplicate user 'default' found on line 4. WARNING: ACL "
             "errors detected, no change to the previously active ACL rules was performed",
             path, path, path, path);
    ck_assert_str_eq(err, want);

    ck_assert_str_eq(setuser("old", "on"), "");
    struct acl_user *def = acl_default_user(acl);
    write_file(path, "# users\n\nuser zed on >z ~z* -@all +get\n");
    ck_assert_msg(acl_load_file(acl, path, count_gone, NULL, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(gone_count, 1);              /* old */
    ck_assert_ptr_eq(acl_default_user(acl), def); /* kept in place, with the defaults */
    ck_assert_str_eq(described("default"), "user default on nopass ~* &* +@all");
    ck_assert_str_eq(described("zed"), "user zed on "
                                       "#594e519ae499312b29433b7dd8a97ff068defcba9755b6d5d00e84c5"
                                       "24d67b06 ~z* resetchannels -@all +get");
    ck_assert(acl_save_file(acl, path, err, sizeof(err)));
    FILE *f = fopen(path, "r");
    char text[1024] = "";
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    ck_assert_str_eq(text, "user default on nopass ~* &* +@all\n"
                           "user zed on "
                           "#594e519ae499312b29433b7dd8a97ff068defcba9755b6d5d00e84c524d67b06 ~z* "
                           "resetchannels -@all +get\n");
    ck_assert(acl_load_file(acl, path, NULL, NULL, err, sizeof(err)));
    ck_assert_uint_eq(acl_user_count(acl), 2);
    unlink(path);
    ck_assert(!acl_load_file(acl, path, NULL, NULL, err, sizeof(err)));
    ck_assert(strstr(err, "No such file"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("acl");
    TCase *tc = tcase_create("acl");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_default_user);
    tcase_add_test(tc, test_normal_form);
    tcase_add_test(tc, test_rule_errors);
    tcase_add_test(tc, test_command_and_key_checks);
    tcase_add_test(tc, test_channels_and_scripts);
    tcase_add_test(tc, test_glob);
    tcase_add_test(tc, test_passwords);
    tcase_add_test(tc, test_aclfile);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
