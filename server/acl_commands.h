/* The ACL family for redpair's clients, answered by redpair from its own users (acl.h), and the
 * log-in and permission check the client path runs:
 *
 *   AUTH [user] pass, HELLO … AUTH user pass  -> acl_login()
 *   every command, after NOAUTH's check       -> acl_denied(): NOPERM as Redis words it
 *   ACL WHOAMI|LIST|USERS|GETUSER|SETUSER|DELUSER|LOAD|SAVE|CAT|DRYRUN|GENPASS|HELP
 *
 * ACL SETUSER changes a user in place, so its clients have the new rights at their next command;
 * ACL DELUSER and ACL LOAD disconnect the clients of the users they remove, as Redis does (a user
 * turned off keeps its connected clients, as in Redis 7.0), and ACL SETUSER those subscribers whose
 * channels it took away. ACL LOG is refused. */
#ifndef REDPAIR_ACL_COMMANDS_H
#define REDPAIR_ACL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct command;
struct config;
struct command_table;
struct request;

/* The users at start-up: the default user (requirepass its password), then the `user` lines or
 * the aclfile. On error false, with the file and line in err. */
bool acl_setup(const struct config *cfg, const struct command_table *t, char *err, size_t errlen);
void acl_teardown(void);
/* requirepass changed by a reload: the default user's password follows. */
void acl_requirepass_changed(const char *requirepass);

/* A new or reset connection: the default user, logged in when it needs no password. */
void acl_client_init(struct client *c);
/* AUTH user pass: false (counted) for a wrong pair or a user that is off. */
bool acl_login(struct client *c, const char *user, size_t ulen, const char *pass, size_t plen);
/* The user of that name (CLIENT KILL USER), or NULL. */
struct acl_user *acl_user_named(const char *name, size_t len);
/* Whether the default user has a password: AUTH with one argument needs one. */
bool acl_default_has_password(void);

/* Counts the changes of any user's rights (SETUSER, DELUSER, LOAD, a new leader's users, a new
 * requirepass): EXEC checks its queued commands again when it moved since MULTI. */
uint64_t acl_generation(void);

/* NULL when c may run cmd; else the error to send, without '-'. */
const char *acl_denied(struct client *c, const struct command *cmd, int argc,
                       const char *const *argv, const size_t *argl);

/* A node that takes the lead adopts the users the cluster's log holds, if a runtime change put
 * them there: ACL SETUSER, DELUSER and LOAD on a leader propose all its users. */
struct cluster_state;
void acl_commands_adopt(const struct cluster_state *st);

void acl_command(struct client *c, struct request *r, int argc, const char *const *argv,
                 const size_t *argl);

#endif
