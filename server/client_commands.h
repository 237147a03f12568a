/* The CLIENT family, answered by redpair for its own clients in Redis 7.0's exact formats:
 * ID, GETNAME, SETNAME, INFO, LIST, KILL, NO-EVICT, UNBLOCK, TRACKING, TRACKINGINFO, GETREDIR,
 * CACHING, REPLY, PAUSE, UNPAUSE, SETINFO, and HELP (the primary's text). */
#ifndef REDPAIR_CLIENT_COMMANDS_H
#define REDPAIR_CLIENT_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

struct client;
struct request;

#define CLIENT_NAME_ERROR "ERR Client names cannot contain spaces, newlines or special characters."

void client_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl);
/* A name Redis accepts: printable ASCII without spaces ('!' to '~'). */
bool client_name_valid(const char *name, size_t len);
/* Sets a valid name; an empty one (or NULL) clears it. */
void client_set_name(struct client *c, const char *name, size_t len);
/* The client's address ("ip:port", "[ip6]:port"), or with local its side of redpair's; Redis's
 * "?:0" when the socket cannot say. */
void client_address(const struct client *x, bool local, char *out, size_t n);

#endif
