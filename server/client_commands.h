/* The CLIENT family, answered by redpair for its own clients in Redis 7.0's exact formats:
 * ID, GETNAME, SETNAME, INFO, LIST, KILL, NO-EVICT, UNBLOCK, TRACKINGINFO, GETREDIR, CACHING, the
 * off forms of TRACKING and REPLY, and HELP (the primary's text). Client tracking and silenced
 * replies are refused: redpair does not do them yet. */
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

#endif
