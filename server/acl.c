#include "acl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buffer.h"
#include "command.h"
#include "config.h"
#include "resp.h"

#define DIGEST_LEN 32
#define HEX_LEN    (2 * DIGEST_LEN)

struct pattern {
    char *s; /* NUL-terminated copy; len excludes it */
    size_t len;
    unsigned access; /* CMD_KEY_READ | CMD_KEY_WRITE for keys; unused for channels */
};

struct acl_user {
    char *name;
    size_t namelen;
    bool on, nopass, sanitize, skip_sanitize;
    unsigned char (*passwords)[DIGEST_LEN]; /* in the order they were added */
    size_t npasswords;
    bool allkeys, allchannels;
    struct pattern *keys, *channels;
    size_t nkeys, nchannels;
    bool future;       /* +@all: commands learned later are allowed too (Redis's reserved bit) */
    uint64_t *allowed; /* one bit per command id */
};

struct acl {
    const struct command_table *t;
    size_t words;            /* of each user's `allowed` */
    struct acl_user **users; /* sorted by name, bytewise */
    size_t count;
};

/* Why a rule failed; the texts are Redis's. */
enum rule_error {
    RULE_OK,
    RULE_SYNTAX,
    RULE_UNKNOWN,
    RULE_KEYS_AFTER_ALL,
    RULE_CHANNELS_AFTER_ALL,
    RULE_NO_SUCH_PASSWORD,
    RULE_BAD_HASH,
    RULE_SELECTOR,
    RULE_FIRST_ARG,
};

static const char *const rule_error_text[] = {
    [RULE_OK] = "",
    [RULE_SYNTAX] = "Syntax error",
    [RULE_UNKNOWN] = "Unknown command or category name in ACL",
    [RULE_KEYS_AFTER_ALL] = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not "
                            "valid and does not have any effect. Try 'resetkeys' to start with an "
                            "empty list of patterns",
    [RULE_CHANNELS_AFTER_ALL] = "Adding a pattern after the * pattern (or the 'allchannels' flag) "
                                "is not valid and does not have any effect. Try 'resetchannels' "
                                "to start with an empty list of channels",
    [RULE_NO_SUCH_PASSWORD] = "The password you are trying to remove from the user does not exist",
    [RULE_BAD_HASH] = "The password hash must be exactly 64 characters and contain only lowercase "
                      "hexadecimal characters",
    [RULE_SELECTOR] = "redpair does not support selectors '(...)': give the user one set of "
                      "permissions",
    [RULE_FIRST_ARG] = "redpair does not support first-arg rules (command|arg): allow or deny "
                       "the whole command, or a subcommand",
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) abort();
    return p;
}

static char *xmemdup(const char *s, size_t len)
{
    char *p = xcalloc(1, len + 1);
    memcpy(p, s, len);
    return p;
}

/* ---------------------------------------------------------------------------------------------
 * Glob matching, with stringmatchlen()'s semantics.
 * ------------------------------------------------------------------------------------------- */

/* One [...] class at p (after '['); advances *pp past its ']' (or to the end when unclosed, where
 * the class ends as in Redis) and says whether c is in it. */
static bool class_match(const char **pp, const char *end, unsigned char c)
{
    const char *p = *pp;
    bool negate = p < end && *p == '^', hit = false;
    if (negate) p++;
    for (; p < end && *p != ']'; p++) {
        if (*p == '\\' && end - p >= 2) {
            p++;
            hit |= (unsigned char)*p == c;
        } else if (end - p >= 3 && p[1] == '-') {
            unsigned char lo = (unsigned char)p[0], hi = (unsigned char)p[2];
            if (lo > hi) {
                unsigned char t = lo;
                lo = hi;
                hi = t;
            }
            hit |= c >= lo && c <= hi;
            p += 2;
        } else {
            hit |= (unsigned char)*p == c;
        }
    }
    *pp = p < end ? p + 1 : end; /* past ']' */
    return hit != negate;
}

/* *no_longer: no match for the rest anywhere in the string, so an earlier '*' need not try
 * longer spans (what keeps Redis's matcher from going exponential). */
static bool glob(const char *p, const char *pend, const char *s, const char *send, bool *no_longer)
{
    while (p < pend) {
        if (*p == '*') {
            while (p < pend && *p == '*') p++;
            if (p == pend) return true;
            for (; s < send; s++) {
                if (glob(p, pend, s, send, no_longer)) return true;
                if (*no_longer) return false;
            }
            *no_longer = true;
            return false;
        }
        if (s == send) return false;
        if (*p == '?') {
            p++;
        } else if (*p == '[') {
            p++;
            if (!class_match(&p, pend, (unsigned char)*s)) return false;
        } else {
            if (*p == '\\' && pend - p >= 2) p++;
            if (*p != *s) return false;
            p++;
        }
        s++;
    }
    return s == send;
}

bool acl_glob_match(const char *pat, size_t plen, const char *s, size_t slen)
{
    bool no_longer = false;
    return glob(pat, pat + plen, s, s + slen, &no_longer);
}

/* ---------------------------------------------------------------------------------------------
 * Users and their rules.
 * ------------------------------------------------------------------------------------------- */

static void patterns_free(struct pattern *p, size_t n)
{
    for (size_t i = 0; i < n; i++) free(p[i].s);
    free(p);
}

static void user_clear(struct acl_user *u)
{
    free(u->passwords);
    patterns_free(u->keys, u->nkeys);
    patterns_free(u->channels, u->nchannels);
    free(u->allowed);
}

static void user_free(struct acl_user *u)
{
    if (!u) return;
    user_clear(u);
    free(u->name);
    free(u);
}

static struct pattern *patterns_copy(const struct pattern *p, size_t n)
{
    struct pattern *c = xcalloc(n, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i] = p[i];
        c[i].s = xmemdup(p[i].s, p[i].len);
    }
    return c;
}

/* Everything but the name, deep: dst's own contents are freed first. */
static void user_copy_rights(const struct acl *a, struct acl_user *dst, const struct acl_user *src)
{
    user_clear(dst);
    char *name = dst->name;
    size_t namelen = dst->namelen;
    *dst = *src;
    dst->name = name;
    dst->namelen = namelen;
    dst->passwords = xcalloc(src->npasswords, DIGEST_LEN);
    if (src->npasswords) memcpy(dst->passwords, src->passwords, src->npasswords * DIGEST_LEN);
    dst->keys = patterns_copy(src->keys, src->nkeys);
    dst->channels = patterns_copy(src->channels, src->nchannels);
    dst->allowed = xcalloc(a->words, sizeof(uint64_t));
    memcpy(dst->allowed, src->allowed, a->words * sizeof(uint64_t));
}

/* As Redis creates one: off, no password, no keys, resetchannels, no commands. */
static struct acl_user *user_new(const struct acl *a, const char *name, size_t len)
{
    struct acl_user *u = xcalloc(1, sizeof(*u));
    u->name = xmemdup(name, len);
    u->namelen = len;
    u->allowed = xcalloc(a->words, sizeof(uint64_t));
    return u;
}

static bool bit(const struct acl_user *u, unsigned id)
{
    return (u->allowed[id / 64] >> (id % 64)) & 1;
}

static void set_bit(struct acl_user *u, unsigned id, bool on)
{
    if (on)
        u->allowed[id / 64] |= 1ull << (id % 64);
    else
        u->allowed[id / 64] &= ~(1ull << (id % 64));
}

/* A command and, for a container, all its subcommands (which follow it in the table). */
static void set_command(const struct acl *a, struct acl_user *u, const struct command *cmd, bool on)
{
    set_bit(u, cmd->id, on);
    if (!cmd->container) return;
    size_t n = strlen(cmd->name);
    for (unsigned id = cmd->id + 1;; id++) {
        const struct command *sub = command_at(a->t, id);
        if (!sub || strncmp(sub->name, cmd->name, n) != 0 || sub->name[n] != '|') break;
        set_bit(u, id, on);
    }
}

static void set_all(const struct acl *a, struct acl_user *u, bool on)
{
    memset(u->allowed, on ? 0xff : 0, a->words * sizeof(uint64_t));
    u->future = on;
}

/* Redis skips module commands here; redpair cannot tell them apart, and modules are rare. */
static void set_category(const struct acl *a, struct acl_user *u, int cat, bool on)
{
    size_t n = command_table_size(a->t);
    for (unsigned id = 0; id < n; id++) {
        const struct command *cmd = command_at(a->t, id);
        if (cmd->categories & (1u << cat)) set_command(a, u, cmd, on);
    }
}

static void sha256(const char *s, size_t len, unsigned char out[DIGEST_LEN])
{
    SHA256((const unsigned char *)s, len, out);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool parse_hash(const char *s, size_t len, unsigned char out[DIGEST_LEN])
{
    if (len != HEX_LEN) return false;
    for (size_t i = 0; i < DIGEST_LEN; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* The digest a password rule names: ">pass" and "<pass" hashed, "#hex" and "!hex" as given. */
static bool rule_digest(const char *op, size_t len, unsigned char d[DIGEST_LEN])
{
    if (op[0] == '>' || op[0] == '<') {
        sha256(op + 1, len - 1, d);
        return true;
    }
    return parse_hash(op + 1, len - 1, d);
}

static ssize_t find_password(const struct acl_user *u, const unsigned char d[DIGEST_LEN])
{
    for (size_t i = 0; i < u->npasswords; i++)
        if (memcmp(u->passwords[i], d, DIGEST_LEN) == 0) return (ssize_t)i;
    return -1;
}

static void add_password(struct acl_user *u, const unsigned char d[DIGEST_LEN])
{
    u->nopass = false;
    if (find_password(u, d) >= 0) return;
    u->passwords = realloc(u->passwords, (u->npasswords + 1) * DIGEST_LEN);
    if (!u->passwords) abort();
    memcpy(u->passwords[u->npasswords++], d, DIGEST_LEN);
}

static enum rule_error remove_password(struct acl_user *u, const unsigned char d[DIGEST_LEN])
{
    ssize_t i = find_password(u, d);
    if (i < 0) return RULE_NO_SUCH_PASSWORD;
    memmove(u->passwords[i], u->passwords[i + 1], (u->npasswords - (size_t)i - 1) * DIGEST_LEN);
    u->npasswords--;
    return RULE_OK;
}

bool acl_has_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r') || s[i] == '\0') return true;
    return false;
}

/* Adds a pattern unless it is there already; a key pattern given again gains the access. */
static void add_pattern(struct pattern **list, size_t *n, const char *s, size_t len,
                        unsigned access)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*list)[i].len == len && memcmp((*list)[i].s, s, len) == 0) {
            (*list)[i].access |= access;
            return;
        }
    }
    *list = realloc(*list, (*n + 1) * sizeof(**list));
    if (!*list) abort();
    (*list)[(*n)++] = (struct pattern){xmemdup(s, len), len, access};
}

static void clear_patterns(struct pattern **list, size_t *n)
{
    patterns_free(*list, *n);
    *list = NULL;
    *n = 0;
}

static bool word_is(const char *op, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(op, word, len) == 0;
}

/* %R~, %W~, %RW~ (any order, any case): the access, and *skip the bytes before the pattern. */
static enum rule_error key_access(const char *op, size_t len, unsigned *access, size_t *skip)
{
    size_t i = 1;
    *access = 0;
    for (; i < len && op[i] != '~'; i++) {
        if (op[i] == 'R' || op[i] == 'r')
            *access |= CMD_KEY_READ;
        else if (op[i] == 'W' || op[i] == 'w')
            *access |= CMD_KEY_WRITE;
        else
            return RULE_SYNTAX;
    }
    if (*access == 0) return RULE_SYNTAX;
    *skip = i < len ? i + 1 : len; /* "%R" alone: the empty pattern, as Redis takes it */
    return RULE_OK;
}

static enum rule_error command_rule(const struct acl *a, struct acl_user *u, const char *op,
                                    size_t len)
{
    bool on = op[0] == '+';
    if (len >= 2 && op[1] == '@') {
        if (word_is(op + 2, len - 2, "all")) {
            set_all(a, u, on);
            return RULE_OK;
        }
        int cat = command_category(op + 2, len - 2);
        if (cat < 0) return RULE_UNKNOWN;
        set_category(a, u, cat, on);
        return RULE_OK;
    }
    const char *bar = memchr(op + 1, '|', len - 1);
    const struct command *cmd = command_lookup(a->t, op + 1, len - 1);
    if (bar && !cmd) { /* a container's unknown subcommand, or a first argument */
        const struct command *parent = command_lookup(a->t, op + 1, (size_t)(bar - op - 1));
        if (!parent) return RULE_UNKNOWN;
        return parent->container ? RULE_UNKNOWN : RULE_FIRST_ARG;
    }
    if (!cmd) return RULE_UNKNOWN;
    set_command(a, u, cmd, on);
    return RULE_OK;
}

/* One rule, as Redis's ACLSetUser() applies it. */
static enum rule_error apply_rule(const struct acl *a, struct acl_user *u, const char *op,
                                  size_t len)
{
    unsigned char d[DIGEST_LEN];
    if (len == 0) return RULE_OK; /* Redis ignores an empty rule */
    if (word_is(op, len, "on")) {
        u->on = true;
    } else if (word_is(op, len, "off")) {
        u->on = false;
    } else if (word_is(op, len, "skip-sanitize-payload")) {
        u->skip_sanitize = true;
        u->sanitize = false;
    } else if (word_is(op, len, "sanitize-payload")) {
        u->skip_sanitize = false;
        u->sanitize = true;
    } else if (word_is(op, len, "nopass")) {
        u->nopass = true;
        u->npasswords = 0;
    } else if (word_is(op, len, "resetpass")) {
        u->nopass = false;
        u->npasswords = 0;
    } else if (op[0] == '>' || op[0] == '#' || op[0] == '<' || op[0] == '!') {
        if (!rule_digest(op, len, d)) return RULE_BAD_HASH;
        if (op[0] == '<' || op[0] == '!') return remove_password(u, d);
        add_password(u, d);
    } else if (word_is(op, len, "allkeys") || word_is(op, len, "~*")) {
        u->allkeys = true;
        clear_patterns(&u->keys, &u->nkeys);
    } else if (word_is(op, len, "resetkeys")) {
        u->allkeys = false;
        clear_patterns(&u->keys, &u->nkeys);
    } else if (word_is(op, len, "allchannels") || word_is(op, len, "&*")) {
        u->allchannels = true;
        clear_patterns(&u->channels, &u->nchannels);
    } else if (word_is(op, len, "resetchannels")) {
        u->allchannels = false;
        clear_patterns(&u->channels, &u->nchannels);
    } else if (word_is(op, len, "allcommands")) {
        set_all(a, u, true);
    } else if (word_is(op, len, "nocommands")) {
        set_all(a, u, false);
    } else if (word_is(op, len, "clearselectors")) {
        /* there are none */
    } else if (word_is(op, len, "reset")) {
        u->on = u->nopass = u->allkeys = u->allchannels = u->skip_sanitize = false;
        u->sanitize = true;
        u->npasswords = 0;
        clear_patterns(&u->keys, &u->nkeys);
        clear_patterns(&u->channels, &u->nchannels);
        set_all(a, u, false);
    } else if (op[0] == '~' || op[0] == '%') {
        unsigned access = CMD_KEY_READ | CMD_KEY_WRITE;
        size_t skip = 1;
        if (op[0] == '%') {
            enum rule_error e = key_access(op, len, &access, &skip);
            if (e) return e;
        }
        if (u->allkeys) return RULE_KEYS_AFTER_ALL;
        if (acl_has_space(op + skip, len - skip)) return RULE_SYNTAX;
        if (access == (CMD_KEY_READ | CMD_KEY_WRITE) && word_is(op + skip, len - skip, "*")) {
            u->allkeys = true;
            clear_patterns(&u->keys, &u->nkeys);
        } else {
            add_pattern(&u->keys, &u->nkeys, op + skip, len - skip, access);
        }
    } else if (op[0] == '&') {
        if (u->allchannels) return RULE_CHANNELS_AFTER_ALL;
        if (acl_has_space(op + 1, len - 1)) return RULE_SYNTAX;
        add_pattern(&u->channels, &u->nchannels, op + 1, len - 1, 0);
    } else if ((op[0] == '+' || op[0] == '-') && len >= 2) {
        return command_rule(a, u, op, len);
    } else if (op[0] == '(') {
        return RULE_SELECTOR;
    } else {
        return RULE_SYNTAX;
    }
    return RULE_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The set of users.
 * ------------------------------------------------------------------------------------------- */

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* Where name is, or would go. */
static size_t find_index(const struct acl *a, const char *name, size_t len, bool *found)
{
    size_t lo = 0, hi = a->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = name_cmp(a->users[mid]->name, a->users[mid]->namelen, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void insert_user(struct acl *a, struct acl_user *u)
{
    bool found;
    size_t i = find_index(a, u->name, u->namelen, &found);
    a->users = realloc(a->users, (a->count + 1) * sizeof(*a->users));
    if (!a->users) abort();
    memmove(a->users + i + 1, a->users + i, (a->count - i) * sizeof(*a->users));
    a->users[i] = u;
    a->count++;
}

static struct acl_user *default_user_new(const struct acl *a)
{
    struct acl_user *u = user_new(a, "default", 7);
    u->on = u->nopass = u->allkeys = u->allchannels = true;
    set_all(a, u, true);
    return u;
}

struct acl *acl_new(const struct command_table *t)
{
    struct acl *a = xcalloc(1, sizeof(*a));
    a->t = t;
    a->words = (command_table_size(t) + 63) / 64;
    insert_user(a, default_user_new(a));
    return a;
}

static void users_free(struct acl_user **users, size_t n)
{
    for (size_t i = 0; i < n; i++) user_free(users[i]);
    free(users);
}

void acl_free(struct acl *a)
{
    if (!a) return;
    users_free(a->users, a->count);
    free(a);
}

struct acl_user *acl_user(const struct acl *a, const char *name, size_t len)
{
    bool found;
    size_t i = find_index(a, name, len, &found);
    return found ? a->users[i] : NULL;
}

struct acl_user *acl_default_user(const struct acl *a)
{
    return acl_user(a, "default", 7);
}

size_t acl_user_count(const struct acl *a)
{
    return a->count;
}

struct acl_user *acl_user_at(const struct acl *a, size_t i)
{
    return i < a->count ? a->users[i] : NULL;
}

const char *acl_user_name(const struct acl_user *u)
{
    return u->name;
}

bool acl_user_nopass(const struct acl_user *u)
{
    return u->on && u->nopass;
}

bool acl_user_password_ok(const struct acl_user *u, const char *pass, size_t len)
{
    unsigned char d[DIGEST_LEN];
    if (!u->on) return false;
    if (u->nopass) return true;
    sha256(pass, len, d);
    int hit = 0;
    for (size_t i = 0; i < u->npasswords; i++)
        hit |= !CRYPTO_memcmp(u->passwords[i], d, DIGEST_LEN);
    return hit;
}

bool acl_setuser(struct acl *a, const char *name, size_t len, int argc, const char *const *argv,
                 const size_t *argl, int *bad, char *err, size_t errlen)
{
    struct acl_user *existing = acl_user(a, name, len);
    struct acl_user *u = user_new(a, name, len);
    if (existing) user_copy_rights(a, u, existing);
    for (int i = 0; i < argc; i++) {
        enum rule_error e = apply_rule(a, u, argv[i], argl[i]);
        if (e == RULE_OK) continue;
        *bad = i;
        snprintf(err, errlen, "%s", rule_error_text[e]);
        user_free(u);
        return false;
    }
    if (existing) {
        user_copy_rights(a, existing, u); /* in place: clients keep pointing at it */
        user_free(u);
    } else {
        insert_user(a, u);
    }
    return true;
}

bool acl_deluser(struct acl *a, const char *name, size_t len, acl_gone_fn *gone, void *arg)
{
    bool found;
    size_t i = find_index(a, name, len, &found);
    if (!found || (len == 7 && memcmp(name, "default", 7) == 0)) return false;
    struct acl_user *u = a->users[i];
    if (gone) gone(u, arg);
    memmove(a->users + i, a->users + i + 1, (a->count - i - 1) * sizeof(*a->users));
    a->count--;
    user_free(u);
    return true;
}

/* ---------------------------------------------------------------------------------------------
 * Checking a command.
 * ------------------------------------------------------------------------------------------- */

static bool key_allowed(const struct acl_user *u, const char *key, size_t len, unsigned need)
{
    for (size_t i = 0; i < u->nkeys; i++) {
        const struct pattern *p = &u->keys[i];
        if ((p->access & need) == need && acl_glob_match(p->s, p->len, key, len)) return true;
    }
    return false;
}

/* A pattern subscription must be granted literally; a channel by a matching pattern. */
bool acl_channel_allowed(const struct acl_user *u, const char *ch, size_t len, bool literal)
{
    if (u->allchannels) return true;
    for (size_t i = 0; i < u->nchannels; i++) {
        const struct pattern *p = &u->channels[i];
        if (literal ? p->len == len && memcmp(p->s, ch, len) == 0
                    : acl_glob_match(p->s, p->len, ch, len))
            return true;
    }
    return false;
}

/* The channel arguments: from 1 to the end (SUBSCRIBE), or argument 1 alone (PUBLISH). */
static int channel_args(const struct command *cmd, bool *literal)
{
    *literal = false;
    if (!strcmp(cmd->name, "subscribe") || !strcmp(cmd->name, "ssubscribe")) return -1;
    if (!strcmp(cmd->name, "publish") || !strcmp(cmd->name, "spublish")) return 1;
    if (!strcmp(cmd->name, "psubscribe")) {
        *literal = true;
        return -1;
    }
    return 0;
}

/* SET and BITFIELD are the two commands whose key specs say "variable_flags": Redis asks their
 * arguments. SET reads the key only with GET; BITFIELD writes it unless it only GETs. */
static unsigned variable_access(const struct command *cmd, int argc, const char *const *argv,
                                const size_t *argl, unsigned spec)
{
    if (!strcmp(cmd->name, "set")) {
        for (int i = 3; i < argc; i++)
            if (resp_arg_is(argv[i], argl[i], "get")) return CMD_KEY_READ | CMD_KEY_WRITE;
        return CMD_KEY_WRITE;
    }
    if (!strcmp(cmd->name, "bitfield")) {
        for (int i = 2; i < argc; i++) {
            int more = argc - i - 1;
            if (resp_arg_is(argv[i], argl[i], "get") && more >= 2)
                i += 2;
            else if (resp_arg_is(argv[i], argl[i], "overflow") && more >= 1)
                i += 1;
            else
                return CMD_KEY_READ | CMD_KEY_WRITE; /* SET, INCRBY, or an error: not read-only */
        }
        return CMD_KEY_READ;
    }
    return spec;
}

/* The keys of SORT and GEORADIUS, whose keys command_keys() leaves to others (it gives -1): the
 * key, and the destination after STORE (or STOREDIST), as Redis's sortGetKeys() and
 * georadiusGetKeys() find them. 0 for a command this does not know. */
static int store_keys(const struct command *cmd, int argc, const char *const *argv,
                      const size_t *argl, int pos[2])
{
    bool sort = !strcmp(cmd->name, "sort") || !strcmp(cmd->name, "sort_ro");
    int options = sort                                      ? 2
                  : !strcmp(cmd->name, "georadius")         ? 6
                  : !strcmp(cmd->name, "georadiusbymember") ? 5
                                                            : 0;
    int store = 0;
    if (!options || argc < 2) return 0;
    for (int i = options; i < argc; i++) {
        if (sort && resp_arg_is(argv[i], argl[i], "limit"))
            i += 2;
        else if (sort &&
                 (resp_arg_is(argv[i], argl[i], "get") || resp_arg_is(argv[i], argl[i], "by")))
            i += 1;
        else if ((resp_arg_is(argv[i], argl[i], "store") ||
                  (!sort && resp_arg_is(argv[i], argl[i], "storedist"))) &&
                 i + 1 < argc)
            store = ++i;
    }
    pos[0] = 1;
    pos[1] = store;
    return store ? 2 : 1;
}

static enum acl_verdict check_key(const struct acl_user *u, const char *const *argv,
                                  const size_t *argl, int at, unsigned need, int *pos)
{
    if (key_allowed(u, argv[at], argl[at], need)) return ACL_ALLOWED;
    *pos = at;
    return ACL_DENIED_KEY;
}

enum acl_verdict acl_check(const struct acl_user *u, const struct command *cmd, int argc,
                           const char *const *argv, const size_t *argl, int *pos)
{
    *pos = 0;
    if (!bit(u, cmd->id) && !command_no_auth(cmd)) return ACL_DENIED_COMMAND;
    if (!u->allkeys && (cmd->first_key > 0 || (cmd->flags & CMD_FLAG_MOVABLEKEYS))) {
        struct command_keypos kp;
        command_keypos(cmd, argc, argv, argl, &kp);
        if (kp.n < 0) {
            /* Keys redpair cannot find (a module's) are not granted blindly. */
            int store[2], n = store_keys(cmd, argc, argv, argl, store);
            command_keypos_free(&kp);
            if (n == 0) return ACL_DENIED_KEY;
            enum acl_verdict v = check_key(u, argv, argl, store[0], cmd->key_first, pos);
            if (v == ACL_ALLOWED && n == 2)
                v = check_key(u, argv, argl, store[1], CMD_KEY_WRITE, pos); /* OW UPDATE */
            return v;
        }
        for (int i = 0; i < kp.n; i++) {
            int at = kp.pos[i];
            unsigned need =
                i == 0 ? variable_access(cmd, argc, argv, argl, cmd->key_first) : cmd->key_rest;
            if (check_key(u, argv, argl, at, need, pos) != ACL_ALLOWED) {
                command_keypos_free(&kp);
                return ACL_DENIED_KEY;
            }
        }
        command_keypos_free(&kp);
    }
    bool literal;
    int which = u->allchannels ? 0 : channel_args(cmd, &literal);
    for (int i = 1; which && i < argc && (which < 0 || i == which); i++) {
        if (!acl_channel_allowed(u, argv[i], argl[i], literal)) {
            *pos = i;
            return ACL_DENIED_CHANNEL;
        }
    }
    return ACL_ALLOWED;
}

/* Read access to every key: allkeys, or a read pattern "*" (SORT's GET and BY need it). */
static bool reads_every_key(const struct acl_user *u)
{
    if (u->allkeys) return true;
    for (size_t i = 0; i < u->nkeys; i++)
        if ((u->keys[i].access & CMD_KEY_READ) && u->keys[i].len == 1 && u->keys[i].s[0] == '*')
            return true;
    return false;
}

const char *acl_sort_refusal(const struct acl_user *u, const struct command *cmd, int argc,
                             const char *const *argv, const size_t *argl)
{
    /* Every command a client runs passes here: the user's flag first, names only if need be. */
    if (reads_every_key(u) || (strcmp(cmd->name, "sort") && strcmp(cmd->name, "sort_ro")))
        return NULL;
    for (int i = 2; i + 1 < argc; i++) {
        if (resp_arg_is(argv[i], argl[i], "limit") && i + 2 < argc) {
            i += 2;
        } else if (resp_arg_is(argv[i], argl[i], "by")) {
            /* a BY without '*' only turns sorting off: no key is read by it */
            if (memchr(argv[i + 1], '*', argl[i + 1]))
                return "ERR BY option of SORT denied due to insufficient ACL permissions.";
            i++;
        } else if (resp_arg_is(argv[i], argl[i], "get")) {
            return "ERR GET option of SORT denied due to insufficient ACL permissions.";
        } else if (resp_arg_is(argv[i], argl[i], "store")) {
            i++;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Describing a user as Redis 7.0 does.
 * ------------------------------------------------------------------------------------------- */

static void append_hex(struct buffer *out, const unsigned char d[DIGEST_LEN])
{
    static const char digits[] = "0123456789abcdef";
    char hex[HEX_LEN];
    for (size_t i = 0; i < DIGEST_LEN; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    buffer_append(out, hex, HEX_LEN);
}

static void append_key_pattern(struct buffer *out, const struct pattern *p)
{
    const char *prefix = p->access == CMD_KEY_READ    ? "%R~"
                         : p->access == CMD_KEY_WRITE ? "%W~"
                                                      : "~";
    buffer_appendf(out, "%s", prefix);
    buffer_append(out, p->s, p->len);
}

/* How many commands of a category the user has (*on) and has not (*off). */
static void count_category(const struct acl *a, const struct acl_user *u, int cat, size_t *on,
                           size_t *off)
{
    *on = *off = 0;
    size_t n = command_table_size(a->t);
    for (unsigned id = 0; id < n; id++) {
        if (!(command_at(a->t, id)->categories & (1u << cat))) continue;
        if (bit(u, id))
            (*on)++;
        else
            (*off)++;
    }
}

/* The command rules: "+@all" or "-@all", then the categories that fit best, applied to a fake
 * user as they are chosen, then the single commands where the fake still differs. */
static void describe_commands(const struct acl *a, const struct acl_user *u, struct buffer *out)
{
    struct acl_user *fake = user_new(a, "", 0), *rest = user_new(a, "", 0);
    bool additive = !u->future;
    set_all(a, fake, !additive);
    buffer_appendf(out, "%s", additive ? "-@all" : "+@all");
    memcpy(rest->allowed, u->allowed, a->words * sizeof(uint64_t));
    bool applied[CMD_CATEGORIES] = {false};
    for (;;) {
        int best = -1;
        size_t mindiff = SIZE_MAX, maxsame = 0;
        for (int c = 0; c < CMD_CATEGORIES; c++) {
            if (applied[c]) continue;
            size_t on, off;
            count_category(a, rest, c, &on, &off);
            size_t diff = additive ? off : on, same = additive ? on : off;
            if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
                best = c;
                mindiff = diff;
                maxsame = same;
            }
        }
        if (best < 0) break;
        set_category(a, fake, best, additive);
        set_category(a, rest, best, !additive);
        buffer_appendf(out, " %s@%s", additive ? "+" : "-", command_category_names[best]);
        applied[best] = true;
    }
    size_t n = command_table_size(a->t);
    for (unsigned id = 0; id < n; id++) {
        const struct command *cmd = command_at(a->t, id);
        if (bit(u, id) == bit(fake, id)) continue;
        buffer_appendf(out, " %s%s", bit(u, id) ? "+" : "-", cmd->name);
        set_command(a, fake, cmd, bit(u, id));
    }
    user_free(fake);
    user_free(rest);
}

/* The selector part: keys, channels, commands (GETUSER shows each on its own). */
static void describe_keys(const struct acl_user *u, struct buffer *out)
{
    if (u->allkeys) buffer_appendf(out, "~*");
    for (size_t i = 0; i < u->nkeys; i++) {
        if (i) buffer_append(out, " ", 1);
        append_key_pattern(out, &u->keys[i]);
    }
}

static void describe_channels(const struct acl_user *u, struct buffer *out, bool reset)
{
    if (u->allchannels) {
        buffer_appendf(out, "&*");
        return;
    }
    if (reset) buffer_appendf(out, "resetchannels");
    for (size_t i = 0; i < u->nchannels; i++) {
        if (i || reset) buffer_append(out, " ", 1);
        buffer_append(out, "&", 1);
        buffer_append(out, u->channels[i].s, u->channels[i].len);
    }
}

static const char *const flag_names[] = {"on", "off", "nopass", "skip-sanitize-payload",
                                         "sanitize-payload"};

static bool has_flag(const struct acl_user *u, size_t i)
{
    switch (i) {
    case 0: return u->on;
    case 1: return !u->on;
    case 2: return u->nopass;
    case 3: return u->skip_sanitize;
    default: return u->sanitize;
    }
}

void acl_describe(const struct acl *a, const struct acl_user *u, struct buffer *out)
{
    buffer_appendf(out, "user ");
    buffer_append(out, u->name, u->namelen);
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
        if (has_flag(u, i)) buffer_appendf(out, " %s", flag_names[i]);
    for (size_t i = 0; i < u->npasswords; i++) {
        buffer_appendf(out, " #");
        append_hex(out, u->passwords[i]);
    }
    if (u->allkeys || u->nkeys) {
        buffer_append(out, " ", 1);
        describe_keys(u, out);
    }
    buffer_append(out, " ", 1);
    describe_channels(u, out, true);
    buffer_append(out, " ", 1);
    describe_commands(a, u, out);
}

static void append_cstr(struct buffer *out, const char *s)
{
    resp_append_bulk(out, s, strlen(s));
}

static void append_built(struct buffer *out, struct buffer *scratch)
{
    resp_append_bulk(out, buffer_head(scratch), buffer_len(scratch));
    buffer_clear(scratch);
}

void acl_getuser_reply(const struct acl *a, const struct acl_user *u, struct buffer *out)
{
    struct buffer s = {0};
    size_t nflags = 0;
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
        nflags += has_flag(u, i);
    resp_append_array_header(out, 12);
    append_cstr(out, "flags");
    resp_append_array_header(out, (long long)nflags);
    for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++)
        if (has_flag(u, i)) append_cstr(out, flag_names[i]);
    append_cstr(out, "passwords");
    resp_append_array_header(out, (long long)u->npasswords);
    for (size_t i = 0; i < u->npasswords; i++) {
        append_hex(&s, u->passwords[i]);
        append_built(out, &s);
    }
    append_cstr(out, "commands");
    describe_commands(a, u, &s);
    append_built(out, &s);
    append_cstr(out, "keys");
    describe_keys(u, &s);
    append_built(out, &s);
    append_cstr(out, "channels");
    describe_channels(u, &s, false);
    append_built(out, &s);
    append_cstr(out, "selectors");
    resp_append_array_header(out, 0);
    buffer_free(&s);
}

/* ---------------------------------------------------------------------------------------------
 * The aclfile.
 * ------------------------------------------------------------------------------------------- */

static void add_error(struct buffer *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_error(struct buffer *errs, const char *fmt, ...)
{
    char line[CONFIG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    buffer_appendf(errs, "%s", line);
}

/* One "user NAME rules…" line into the new set; what is wrong goes to errs as Redis words it. */
static void load_line(struct acl *fresh, const char *path, int lineno, char *line,
                      struct buffer *errs)
{
    char **argv, *storage;
    int argc = config_split_line(line, &argv, &storage);
    if (argc < 0 || strcmp(argv[0], "user") != 0 || argc < 2) {
        add_error(errs, "%s:%d should start with user keyword followed by the username. ", path,
                  lineno);
    } else if (acl_has_space(argv[1], strlen(argv[1]))) {
        add_error(errs, "'%s:%d: username '%s' contains invalid characters. ", path, lineno,
                  argv[1]);
    } else if (acl_user(fresh, argv[1], strlen(argv[1]))) {
        add_error(errs, "WARNING: Duplicate user '%s' found on line %d. ", argv[1], lineno);
    } else {
        struct acl_user *u = user_new(fresh, argv[1], strlen(argv[1]));
        bool reported = false;
        for (int j = 2; j < argc; j++) {
            enum rule_error e = apply_rule(fresh, u, argv[j], strlen(argv[j]));
            if (e == RULE_UNKNOWN) {
                add_error(errs, "%s:%d: Error in applying operation '%s': %s. ", path, lineno,
                          argv[j], rule_error_text[e]);
            } else if (e != RULE_OK && !reported) {
                add_error(errs, "%s:%d: %s. ", path, lineno, rule_error_text[e]);
                reported = true;
            }
        }
        insert_user(fresh, u);
    }
    free(storage); /* argv lives in it */
}

bool acl_load_text(struct acl *a, const char *text, size_t len, const char *source,
                   acl_gone_fn *gone, void *arg, char *err, size_t errlen)
{
    struct acl fresh = {a->t, a->words, NULL, 0};
    struct buffer errs = {0}, line = {0};
    const char *p = text, *end = text + len;
    for (int lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        bool nul = memchr(p, '\0', n) != NULL;
        buffer_clear(&line);
        buffer_append(&line, p, n);
        buffer_append(&line, "", 1);
        p = nl ? nl + 1 : end;
        if (nul) {
            add_error(&errs, "%s:%d should start with user keyword followed by the username. ",
                      source, lineno);
            continue;
        }
        char *s = buffer_head(&line);
        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0' || *s == '#') continue; /* blank, or a comment */
        load_line(&fresh, source, lineno, s, &errs);
    }
    buffer_free(&line);
    if (buffer_len(&errs)) {
        snprintf(err, errlen,
                 "%.*sWARNING: ACL errors detected, no change to the previously active ACL rules "
                 "was performed",
                 (int)buffer_len(&errs), buffer_head(&errs));
        buffer_free(&errs);
        users_free(fresh.users, fresh.count);
        return false;
    }
    buffer_free(&errs);
    /* The default user is copied into the old one, which clients point at. */
    struct acl_user *new_default = acl_default_user(&fresh);
    struct acl_user *old_default = acl_default_user(a);
    if (!new_default) {
        new_default = default_user_new(a);
        insert_user(&fresh, new_default);
    }
    user_copy_rights(a, old_default, new_default);
    bool found;
    size_t at = find_index(&fresh, "default", 7, &found);
    user_free(fresh.users[at]);
    fresh.users[at] = old_default;
    for (size_t i = 0; i < a->count; i++) {
        if (a->users[i] == old_default) continue;
        if (gone) gone(a->users[i], arg);
        user_free(a->users[i]);
    }
    free(a->users);
    a->users = fresh.users;
    a->count = fresh.count;
    return true;
}

bool acl_load_file(struct acl *a, const char *path, acl_gone_fn *gone, void *arg, char *err,
                   size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "Error loading ACLs, opening file '%s': %s", path, strerror(errno));
        return false;
    }
    /* It holds the users' passwords (or their digests, which a weak password does not survive). */
    if (!config_check_file_mode(fp, path, true, err, errlen)) {
        fclose(fp);
        return false;
    }
    struct buffer text = {0};
    size_t n;
    do {
        n = fread(buffer_reserve(&text, 65536), 1, 65536, fp);
        buffer_commit(&text, n);
    } while (n > 0);
    bool ok = !ferror(fp);
    fclose(fp);
    if (!ok)
        snprintf(err, errlen, "Error loading ACLs, reading file '%s': %s", path, strerror(errno));
    else
        ok = acl_load_text(a, buffer_head(&text), buffer_len(&text), path, gone, arg, err, errlen);
    buffer_free(&text);
    return ok;
}

void acl_describe_all(const struct acl *a, struct buffer *out)
{
    for (size_t i = 0; i < a->count; i++) {
        acl_describe(a, a->users[i], out);
        buffer_append(out, "\n", 1);
    }
}

bool acl_save_file(const struct acl *a, const char *path, char *err, size_t errlen)
{
    struct buffer text = {0};
    acl_describe_all(a, &text);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); /* the passwords' digests */
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !fp) close(fd);
    bool ok = fp && fwrite(buffer_head(&text), 1, buffer_len(&text), fp) == buffer_len(&text);
    if (fp && fflush(fp) != 0) ok = false;
    if (fp && fsync(fileno(fp)) != 0) ok = false;
    if (fp && fclose(fp) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        snprintf(err, errlen,
                 "There was an error trying to save the ACLs. Please check the server "
                 "logs for more information");
        unlink(tmp);
    }
    buffer_free(&text);
    return ok;
}
