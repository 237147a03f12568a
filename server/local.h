/* Commands redpair answers itself: PING, ECHO, QUIT, SELECT, AUTH, and its part of INFO. */
#ifndef REDPAIR_LOCAL_H
#define REDPAIR_LOCAL_H

#include <stddef.h>

#include "buffer.h"

struct client;
struct request;

/* Executes a local command; returns true when the request was forwarded (INFO) instead. */
void local_execute(struct client *c, struct request *r, int argc, const char *const *argv,
                   const size_t *argl);
/* Appends the "# redpair" INFO section. */
void local_info_section(struct buffer *out);

#endif
