#include "acl_commands.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "buffer.h"
#include "cluster.h"
#include "cluster_state.h"
#include "client.h"
#include "command.h"
#include "config.h"
#include "log.h"
#include "proxy.h"
#include "pubsub.h"
#include "request.h"
#include "resp.h"
#include "stats.h"

static struct acl *users;
static uint64_t generation;
static const char *aclfile; /* the config's, NULL when none */

static const char no_aclfile[] =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users "
    "via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis "
    "configuration file set) in order to store users in the Redis configuration.";

static void set_default_password(const char *requirepass)
{
    struct buffer pass = {0};
    char err[256];
    int bad;
    buffer_appendf(&pass, ">%s", requirepass ? requirepass : "");
    const char *rules[] = {"resetpass", requirepass ? buffer_head(&pass) : "nopass"};
    const size_t lens[] = {9, requirepass ? buffer_len(&pass) : 6};
    acl_setuser(users, "default", 7, 2, rules, lens, &bad, err, sizeof(err));
    buffer_free(&pass);
}

bool acl_setup(const struct config *cfg, const struct command_table *t, char *err, size_t errlen)
{
    acl_free(users);
    users = acl_new(t);
    aclfile = cfg->aclfile;
    set_default_password(cfg->requirepass);
    if (cfg->user_count && cfg->aclfile) {
        snprintf(err, errlen,
                 "%s: 'aclfile %s' and 'user' lines: configuring Redis with users defined in "
                 "redis.conf and at the same setting an ACL file path is invalid. This setup is "
                 "very likely to lead to configuration errors and security holes, please define "
                 "either an ACL file or declare users directly in your redis.conf, but not both.",
                 cfg->users[0].where, cfg->aclfile);
        return false;
    }
    for (int i = 0; i < cfg->user_count; i++) {
        const struct config_user *u = &cfg->users[i];
        size_t *lens = calloc((size_t)u->argc + 1, sizeof(size_t));
        if (!lens) abort();
        for (int j = 0; j < u->argc; j++) lens[j] = strlen(u->argv[j]);
        /* As in Redis, a user is defined once; the default user's line starts from reset. */
        char why[256];
        int bad = -1;
        bool is_default = lens[0] == 7 && memcmp(u->argv[0], "default", 7) == 0;
        if (acl_has_space(u->argv[0], lens[0])) {
            snprintf(err, errlen,
                     "%s: user '%s': Usernames can't contain spaces or null characters", u->where,
                     u->argv[0]);
            free(lens);
            return false;
        }
        if (!is_default && acl_user(users, u->argv[0], lens[0])) {
            snprintf(err, errlen,
                     "%s: user '%s': Duplicate user found. A user can only be defined once in "
                     "config files",
                     u->where, u->argv[0]);
            free(lens);
            return false;
        }
        const char *reset[] = {"reset"};
        const size_t reset_len[] = {5};
        bool ok = (!is_default || acl_setuser(users, u->argv[0], lens[0], 1, reset, reset_len, &bad,
                                              why, sizeof(why))) &&
                  acl_setuser(users, u->argv[0], lens[0], u->argc - 1,
                              (const char *const *)u->argv + 1, lens + 1, &bad, why, sizeof(why));
        free(lens);
        if (!ok) {
            snprintf(err, errlen, "%s: user '%s': error in rule '%s': %s", u->where, u->argv[0],
                     u->argv[bad + 1], why);
            return false;
        }
    }
    if (cfg->aclfile) {
        if (cfg->requirepass)
            log_warning("requirepass has no effect with an aclfile: the default user is the "
                        "file's (or 'on nopass ~* &* +@all' when it has none), as in Redis");
        if (!acl_load_file(users, cfg->aclfile, NULL, NULL, err, errlen)) return false;
    }
    return config_check_exposure(cfg, acl_default_has_password(), err, errlen);
}

void acl_teardown(void)
{
    acl_free(users);
    users = NULL;
}

void acl_requirepass_changed(const char *requirepass)
{
    set_default_password(requirepass);
    generation++;
}

uint64_t acl_generation(void)
{
    return generation;
}

void acl_client_init(struct client *c)
{
    c->user = acl_default_user(users);
    c->authenticated = acl_user_nopass(c->user);
}

struct acl_user *acl_user_named(const char *name, size_t len)
{
    return acl_user(users, name, len);
}

bool acl_default_has_password(void)
{
    return !acl_user_nopass(acl_default_user(users));
}

bool acl_login(struct client *c, const char *user, size_t ulen, const char *pass, size_t plen)
{
    struct acl_user *u = acl_user(users, user, ulen);
    if (!u || !acl_user_password_ok(u, pass, plen)) {
        stats.acl_denied_auth++;
        return false;
    }
    c->user = u;
    c->authenticated = true;
    return true;
}

const char *acl_denied(struct client *c, const struct command *cmd, int argc,
                       const char *const *argv, const size_t *argl)
{
    static char text[COMMAND_ERROR_MAX];
    int pos;
    if (!c->user) return "NOAUTH Authentication required.";
    switch (acl_check(c->user, cmd, argc, argv, argl, &pos)) {
    case ACL_ALLOWED: return acl_sort_refusal(c->user, cmd, argc, argv, argl);
    case ACL_DENIED_COMMAND:
        stats.acl_denied_cmd++;
        snprintf(text, sizeof(text), "NOPERM this user has no permissions to run the '%s' command",
                 cmd->name);
        return text;
    case ACL_DENIED_KEY:
        stats.acl_denied_key++;
        return "NOPERM this user has no permissions to access one of the keys used as arguments";
    case ACL_DENIED_CHANNEL:
        stats.acl_denied_channel++;
        return "NOPERM this user has no permissions to access one of the channels used as "
               "arguments";
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Cluster mode: the users as the log's, so that a new leader enforces what the last one did.
 * ------------------------------------------------------------------------------------------- */

struct dropping {
    struct client *self; /* the client running the command: answered, then closed */
};

static void ignore_commit(void *arg, bool ok)
{
    (void)arg;
    (void)ok;
}

/* After a change on the leader: all the users, as ACL SAVE would write them. */
static void share_users(void)
{
    if (!cluster_leading()) return;
    struct buffer text = {0};
    size_t n;
    acl_describe_all(users, &text);
    char *entry = cluster_entry_acl(buffer_head(&text), buffer_len(&text), &n);
    if (entry)
        cluster_propose(entry, n, ignore_commit, NULL);
    else
        log_warning("ACL: the users do not fit the cluster's log (%zu bytes, or not UTF-8); a new "
                    "leader will not know this change",
                    buffer_len(&text));
    buffer_free(&text);
}

static void drop_clients(struct acl_user *u, void *arg);

void acl_commands_adopt(const struct cluster_state *st)
{
    char err[CONFIG_ERROR_MAX * 4];
    if (!st->acl[0]) return; /* no runtime change yet: this node's own configuration */
    if (!acl_load_text(users, st->acl, strlen(st->acl), "cluster log", drop_clients,
                       &(struct dropping){NULL}, err, sizeof(err)))
        log_warning("ACL: the cluster's users do not load here, keeping this node's: %s", err);
    else
        generation++;
}

/* ---------------------------------------------------------------------------------------------
 * ACL subcommands.
 * ------------------------------------------------------------------------------------------- */

/* The clients of a user being removed go, as Redis frees them. */
static void drop_clients(struct acl_user *u, void *arg)
{
    struct dropping *d = arg;
    for (struct client *c = proxy.clients, *next; c; c = next) {
        next = c->next;
        if (c->user != u) continue;
        c->user = NULL;
        c->authenticated = false;
        if (c == d->self)
            c->closing = true;
        else
            client_close(c);
    }
}

static void reply_bulk_str(struct request *r, const char *s)
{
    buffer_clear(&r->reply);
    resp_append_bulk(&r->reply, s, strlen(s));
    request_ready(r);
}

static void reply_ok(struct request *r)
{
    request_reply(r, "+OK\r\n", 5);
}

static const char *const help[] = {
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
};

static bool subscription_allowed(const char *name, size_t len, bool pattern, void *arg)
{
    return acl_channel_allowed(arg, name, len, pattern);
}

/* As Redis 7.0, a user's subscribers that ACL SETUSER took a channel from are disconnected. */
static void drop_subscribers(struct acl_user *u)
{
    for (struct client *c = proxy.clients, *next; c; c = next) {
        next = c->next;
        if (c->user == u && pubsub_subscribed(c) && !pubsub_each(c, subscription_allowed, u))
            client_close(c);
    }
}

static void setuser(struct request *r, int argc, const char *const *argv, const size_t *argl)
{
    char why[512];
    int bad;
    if (acl_has_space(argv[2], argl[2])) {
        request_error(r, "ERR Usernames can't contain spaces or null characters");
        return;
    }
    if (!acl_setuser(users, argv[2], argl[2], argc - 3, argv + 3, argl + 3, &bad, why,
                     sizeof(why))) {
        const char *op = argv[3 + bad];
        request_error(r, "ERR Error in ACL SETUSER modifier '%.*s': %s",
                      (int)command_arg_shown(op, argl[3 + bad], 256), op, why);
        return;
    }
    generation++;
    drop_subscribers(acl_user(users, argv[2], argl[2]));
    share_users();
    reply_ok(r);
}

static void deluser(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl)
{
    for (int i = 2; i < argc; i++) {
        if (argl[i] == 7 && memcmp(argv[i], "default", 7) == 0) {
            request_error(r, "ERR The 'default' user cannot be removed");
            return;
        }
    }
    struct dropping d = {c};
    long long deleted = 0;
    for (int i = 2; i < argc; i++)
        deleted += acl_deluser(users, argv[i], argl[i], drop_clients, &d);
    if (deleted) {
        generation++;
        share_users();
    }
    buffer_clear(&r->reply);
    resp_append_integer(&r->reply, deleted);
    request_ready(r);
}

static void cat(struct request *r, int argc, const char *const *argv, const size_t *argl)
{
    buffer_clear(&r->reply);
    if (argc == 2) {
        resp_append_array_header(&r->reply, CMD_CATEGORIES);
        for (int i = 0; i < CMD_CATEGORIES; i++)
            resp_append_bulk(&r->reply, command_category_names[i],
                             strlen(command_category_names[i]));
        request_ready(r);
        return;
    }
    int category = command_category(argv[2], argl[2]);
    if (category < 0) {
        request_error(r, "ERR Unknown category '%.*s'",
                      (int)command_arg_shown(argv[2], argl[2], 128), argv[2]);
        return;
    }
    struct buffer names = {0};
    long long n = 0;
    for (unsigned id = 0; id < command_table_size(proxy.commands); id++) {
        const struct command *cmd = command_at(proxy.commands, id);
        if (!(cmd->categories & (1u << category))) continue;
        resp_append_bulk(&names, cmd->name, strlen(cmd->name));
        n++;
    }
    resp_append_array_header(&r->reply, n);
    buffer_append(&r->reply, buffer_head(&names), buffer_len(&names));
    buffer_free(&names);
    request_ready(r);
}

static void dryrun(struct request *r, int argc, const char *const *argv, const size_t *argl)
{
    struct acl_user *u = acl_user(users, argv[2], argl[2]);
    if (!u) {
        request_error(r, "ERR User '%.*s' not found", (int)command_arg_shown(argv[2], argl[2], 128),
                      argv[2]);
        return;
    }
    int cargc = argc - 3;
    const struct command *cmd = command_named(proxy.commands, cargc, argv + 3, argl + 3);
    if (!cmd) {
        request_error(r, "ERR Command '%.*s' not found",
                      (int)command_arg_shown(argv[3], argl[3], 128), argv[3]);
        return;
    }
    if ((cmd->arity > 0 && cmd->arity != cargc) || cargc < -cmd->arity) {
        request_error(r, "ERR wrong number of arguments for '%s' command", cmd->name);
        return;
    }
    int pos;
    enum acl_verdict v = acl_check(u, cmd, cargc, argv + 3, argl + 3, &pos);
    if (v == ACL_ALLOWED) {
        reply_ok(r);
        return;
    }
    struct buffer text = {0};
    if (v == ACL_DENIED_COMMAND) {
        buffer_appendf(&text, "This user has no permissions to run the '%s' command", cmd->name);
    } else {
        buffer_appendf(&text, "This user has no permissions to access the '");
        buffer_append(&text, argv[3 + pos], argl[3 + pos]);
        buffer_appendf(&text, "' %s", v == ACL_DENIED_KEY ? "key" : "channel");
    }
    buffer_clear(&r->reply);
    resp_append_bulk(&r->reply, buffer_head(&text), buffer_len(&text));
    buffer_free(&text);
    request_ready(r);
}

static void genpass(struct request *r, int argc, const char *const *argv, const size_t *argl)
{
    long long bits = 256;
    if (argc == 3 && !resp_parse_ll(argv[2], argl[2], &bits)) {
        request_error(r, "ERR value is not an integer or out of range");
        return;
    }
    if (bits <= 0 || bits > 4096) {
        request_error(r, "ERR ACL GENPASS argument must be the number of bits for the output "
                         "password, a positive number up to 4096");
        return;
    }
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[512];
    char hex[1024];
    size_t chars = (size_t)(bits + 3) / 4;
    if (RAND_bytes(raw, (int)((chars + 1) / 2)) != 1) {
        request_error(r, "ERR no random bytes available for ACL GENPASS");
        return;
    }
    for (size_t i = 0; i < chars; i++) hex[i] = digits[i % 2 ? raw[i / 2] & 15 : raw[i / 2] >> 4];
    buffer_clear(&r->reply);
    resp_append_bulk(&r->reply, hex, chars);
    request_ready(r);
}

static void list_users(struct request *r, bool described)
{
    buffer_clear(&r->reply);
    resp_append_array_header(&r->reply, (long long)acl_user_count(users));
    struct buffer line = {0};
    for (size_t i = 0; i < acl_user_count(users); i++) {
        struct acl_user *u = acl_user_at(users, i);
        buffer_clear(&line);
        if (described)
            acl_describe(users, u, &line);
        else
            buffer_appendf(&line, "%s", acl_user_name(u));
        resp_append_bulk(&r->reply, buffer_head(&line), buffer_len(&line));
    }
    buffer_free(&line);
    request_ready(r);
}

void acl_command(struct client *c, struct request *r, int argc, const char *const *argv,
                 const size_t *argl)
{
    const char *sub = argv[1];
    size_t sublen = argl[1];
    char err[CONFIG_ERROR_MAX * 4];

    if (resp_arg_is(sub, sublen, "whoami") && argc == 2) {
        if (c->user)
            reply_bulk_str(r, acl_user_name(c->user));
        else
            request_error(r, "NOAUTH Authentication required.");
    } else if (resp_arg_is(sub, sublen, "setuser") && argc >= 3) {
        setuser(r, argc, argv, argl);
    } else if (resp_arg_is(sub, sublen, "deluser") && argc >= 3) {
        deluser(c, r, argc, argv, argl);
    } else if (resp_arg_is(sub, sublen, "getuser") && argc == 3) {
        struct acl_user *u = acl_user(users, argv[2], argl[2]);
        buffer_clear(&r->reply);
        if (u)
            acl_getuser_reply(users, u, &r->reply);
        else
            buffer_append(&r->reply, "$-1\r\n", 5);
        request_ready(r);
    } else if ((resp_arg_is(sub, sublen, "list") || resp_arg_is(sub, sublen, "users")) &&
               argc == 2) {
        list_users(r, resp_arg_is(sub, sublen, "list"));
    } else if ((resp_arg_is(sub, sublen, "load") || resp_arg_is(sub, sublen, "save")) &&
               argc == 2) {
        struct dropping d = {c};
        bool load = resp_arg_is(sub, sublen, "load");
        if (!aclfile) {
            request_error(r, "%s", no_aclfile);
        } else if (load ? !acl_load_file(users, aclfile, drop_clients, &d, err, sizeof(err))
                        : !acl_save_file(users, aclfile, err, sizeof(err))) {
            request_error(r, "ERR %s", err);
        } else {
            if (load) {
                generation++;
                share_users();
            }
            reply_ok(r);
        }
    } else if (resp_arg_is(sub, sublen, "cat") && (argc == 2 || argc == 3)) {
        cat(r, argc, argv, argl);
    } else if (resp_arg_is(sub, sublen, "dryrun") && argc >= 4) {
        dryrun(r, argc, argv, argl);
    } else if (resp_arg_is(sub, sublen, "genpass") && (argc == 2 || argc == 3)) {
        genpass(r, argc, argv, argl);
    } else if (resp_arg_is(sub, sublen, "log")) {
        request_error(r, "ERR ACL LOG is not available through redpair: it keeps no log of "
                         "denied commands; INFO redpair counts them (acl_access_denied_*)");
    } else if (resp_arg_is(sub, sublen, "help") && argc == 2) {
        buffer_clear(&r->reply);
        resp_append_array_header(&r->reply, sizeof(help) / sizeof(help[0]));
        for (size_t i = 0; i < sizeof(help) / sizeof(help[0]); i++)
            resp_append_status(&r->reply, help[i]);
        request_ready(r);
    } else {
        request_error(r,
                      "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try ACL "
                      "HELP.",
                      (int)command_arg_shown(sub, sublen, 128), sub);
    }
}
