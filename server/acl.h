/* ACL users for redpair's clients, with Redis 7.0's rules, checked before a command is queued,
 * read or sequenced: a refused write never enters the write stream.
 *
 *   user  = name, on|off, passwords (SHA-256 digests) or nopass,
 *           key patterns (each %R, %W or both), channel patterns, one bit per command
 *   acl   = the users by name (ACL USERS order: bytewise), "default" always among them
 *
 *   check(user, command, argv):
 *     command bit clear (AUTH and HELLO excepted)      -> ACL_DENIED_COMMAND
 *     not allkeys: each key the command names must match a pattern granting what the command
 *       does with it (CMD_KEY_READ needs %R, CMD_KEY_WRITE %W)     -> ACL_DENIED_KEY
 *     not allchannels: PUBLISH/SPUBLISH/SUBSCRIBE/SSUBSCRIBE channels must match a channel
 *       pattern; PSUBSCRIBE patterns must equal one                -> ACL_DENIED_CHANNEL
 *
 * Rules are applied to a copy of the user and kept only if all of them parse, as ACL SETUSER
 * does. The command bits index the command table the acl was made with (command.h's id): the
 * table is learned once at start-up, before the users are. ACL LIST's rule string is rebuilt
 * from the bits the way Redis 7.0 does it (categories that fit best first, then single
 * commands); Redis lists those single commands in its hash table's order, which changes with
 * every process, redpair in its command table's order.
 *
 * Not supported, refused with a reason: selectors "(...)" and first-arg rules
 * (+select|0). Key access is Redis's per key spec only for the first key spec; later keys share
 * the union of the other specs' flags (command.h). */
#ifndef REDPAIR_ACL_H
#define REDPAIR_ACL_H

#include <stdbool.h>
#include <stddef.h>

struct buffer;
struct command;
struct command_table;
struct acl;
struct acl_user;

enum acl_verdict { ACL_ALLOWED, ACL_DENIED_COMMAND, ACL_DENIED_KEY, ACL_DENIED_CHANNEL };

/* The users of a table: only the default user, "on nopass ~* &* +@all". */
struct acl *acl_new(const struct command_table *t);
void acl_free(struct acl *a);

/* Called with each user about to be freed (ACL DELUSER, ACL LOAD), to drop its clients. */
typedef void acl_gone_fn(struct acl_user *u, void *arg);

/* Applies rules to the user `name`, created (off, no rights) if missing; all or nothing. On a bad
 * rule returns false, *bad its index and err Redis's reason ("Syntax error"). */
bool acl_setuser(struct acl *a, const char *name, size_t len, int argc, const char *const *argv,
                 const size_t *argl, int *bad, char *err, size_t errlen);
/* Removes a user other than default; false when there is none of that name. */
bool acl_deluser(struct acl *a, const char *name, size_t len, acl_gone_fn *gone, void *arg);

struct acl_user *acl_user(const struct acl *a, const char *name, size_t len);
struct acl_user *acl_default_user(const struct acl *a);
size_t acl_user_count(const struct acl *a);
struct acl_user *acl_user_at(const struct acl *a, size_t i); /* bytewise name order */
const char *acl_user_name(const struct acl_user *u);
bool acl_user_nopass(const struct acl_user *u); /* on and nopass: a new client is logged in */
/* AUTH: on, and nopass or the password is one of its own. */
bool acl_user_password_ok(const struct acl_user *u, const char *pass, size_t len);

/* Whether u may subscribe to this channel (pattern: this PSUBSCRIBE pattern). */
bool acl_channel_allowed(const struct acl_user *u, const char *name, size_t len, bool pattern);

/* Whether u may run cmd with these arguments; *pos is the argument denied (key or channel). */
enum acl_verdict acl_check(const struct acl_user *u, const struct command *cmd, int argc,
                           const char *const *argv, const size_t *argl, int *pos);

/* SORT's GET, and BY with a pattern, read keys the arguments do not name: Redis refuses them
 * (in its own words, an ERR) to a user who may not read every key. NULL when allowed. */
const char *acl_sort_refusal(const struct acl_user *u, const struct command *cmd, int argc,
                             const char *const *argv, const size_t *argl);

/* "user NAME on #… ~… resetchannels &… +@all …" as ACL LIST and ACL SAVE write it. */
void acl_describe(const struct acl *a, const struct acl_user *u, struct buffer *out);
/* ACL GETUSER's reply (RESP2). */
void acl_getuser_reply(const struct acl *a, const struct acl_user *u, struct buffer *out);

/* Reads users in Redis's aclfile format ("user NAME rules…" lines) into a new user set; on
 * success it replaces a's users (default copied in place, so its clients stay), calling gone
 * for each other old user. Errors are "PATH:LINE: reason. " each, as Redis lists them. */
bool acl_load_file(struct acl *a, const char *path, acl_gone_fn *gone, void *arg, char *err,
                   size_t errlen);
/* The same from text in memory; source names it in errors. */
bool acl_load_text(struct acl *a, const char *text, size_t len, const char *source,
                   acl_gone_fn *gone, void *arg, char *err, size_t errlen);
/* Every user's ACL LIST line, each ended by '\n': an aclfile's contents. */
void acl_describe_all(const struct acl *a, struct buffer *out);
/* Writes every user's ACL LIST line to path, through a temporary file renamed over it. */
bool acl_save_file(const struct acl *a, const char *path, char *err, size_t errlen);

/* Whether a name or pattern holds white space or a NUL byte, which Redis refuses in both: ACL
 * LIST's lines must split back into the same rules. */
bool acl_has_space(const char *s, size_t len);

/* Redis's stringmatchlen(): glob with *, ?, [a-z], [^…] and \ escapes, case-sensitive. */
bool acl_glob_match(const char *pat, size_t plen, const char *s, size_t slen);

#endif
