/* Commands redpair answers itself: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET, WAIT, ROLE,
 * ACL WHOAMI and its part of INFO; the CLIENT family (client_commands.h) and the subscriptions
 * (pubsub.h) are handed on from here. */
#ifndef REDPAIR_LOCAL_H
#define REDPAIR_LOCAL_H

#include <stddef.h>

struct client;
struct request;

/* Executes a local command: answers the request, or forwards it (INFO, CLIENT HELP). */
void local_execute(struct client *c, struct request *r, int argc, const char *const *argv,
                   const size_t *argl);

#endif
