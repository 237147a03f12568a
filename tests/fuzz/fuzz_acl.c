/* Fuzzes the ACL rule parser and checker. The input is rules one per line, then a line "\x01"
 * and a command with its arguments one per line:
 *
 *     on\n>pw\n%R~k*\n&ch\n-@all\n+@read\n\x01\nget\nk1\n
 *
 * The rules go to ACL SETUSER's acl_setuser(): it succeeds, or fails naming a rule that exists.
 * A user it made is described as ACL LIST does, and that description, applied to a new user, must
 * describe the same (the normal form is a fixed point). The command is then checked against the
 * user (SORT's options too), and its first argument globbed against its second. */
#include <stdint.h>
#include <string.h>

#include "acl.h"
#include "buffer.h"
#include "check.h"
#include "command.h"

#define MAX_ARGS 256

static struct command_table *table;

/* Splits "user NAME rule rule…" and applies the rules to user `name` of a. */
static bool apply_description(struct acl *a, const char *name, const struct buffer *d)
{
    const char *argv[MAX_ARGS * 4];
    size_t argl[MAX_ARGS * 4];
    int argc = 0, words = 0, bad;
    char err[512];
    const char *p = buffer_head(d), *end = p + buffer_len(d);
    while (p < end && argc < MAX_ARGS * 4) {
        const char *sp = memchr(p, ' ', (size_t)(end - p));
        size_t n = sp ? (size_t)(sp - p) : (size_t)(end - p);
        if (words++ >= 2) { /* past "user NAME" */
            argv[argc] = p;
            argl[argc++] = n;
        }
        p = sp ? sp + 1 : end;
    }
    return acl_setuser(a, name, strlen(name), argc, argv, argl, &bad, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *argv[MAX_ARGS], *cargv[MAX_ARGS];
    size_t argl[MAX_ARGS], cargl[MAX_ARGS];
    int argc = 0, cargc = 0;
    bool rules = true;

    if (!table) table = command_table_new();
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (rules && n == 1 && p[0] == '\x01') {
            rules = false;
        } else if (rules && argc < MAX_ARGS) {
            argv[argc] = p;
            argl[argc++] = n;
        } else if (!rules && cargc < MAX_ARGS) {
            cargv[cargc] = p;
            cargl[cargc++] = n;
        }
        p = nl ? nl + 1 : end;
    }

    struct acl *a = acl_new(table);
    char err[512];
    int bad = -1;
    bool ok = acl_setuser(a, "u", 1, argc, argv, argl, &bad, err, sizeof(err));
    CHECK(ok || (bad >= 0 && bad < argc && err[0]));
    struct acl_user *u = acl_user(a, "u", 1);
    CHECK(ok == (u != NULL));
    if (u) {
        struct buffer first = {0}, second = {0};
        acl_describe(a, u, &first);
        CHECK(apply_description(a, "v", &first));
        acl_describe(a, acl_user(a, "v", 1), &second);
        CHECK(buffer_len(&first) == buffer_len(&second));
        CHECK(memcmp(buffer_head(&first) + 6, buffer_head(&second) + 6, buffer_len(&first) - 6) ==
              0); /* past "user u" / "user v" */
        buffer_clear(&first);
        acl_getuser_reply(a, u, &first);
        buffer_free(&first);
        buffer_free(&second);
        const struct command *cmd = cargc ? command_named(table, cargc, cargv, cargl) : NULL;
        if (cmd && (cmd->arity > 0 ? cargc == cmd->arity : cargc >= -cmd->arity)) {
            int pos;
            enum acl_verdict v = acl_check(u, cmd, cargc, cargv, cargl, &pos);
            CHECK(v == ACL_ALLOWED || v == ACL_DENIED_COMMAND || (pos > 0 && pos < cargc));
            const char *sort = acl_sort_refusal(u, cmd, cargc, cargv, cargl);
            CHECK(!sort || strncmp(sort, "ERR ", 4) == 0);
        }
    }
    if (cargc >= 2) acl_glob_match(cargv[0], cargl[0], cargv[1], cargl[1]);
    acl_free(a);
    return 0;
}
