/* INFO through redpair: one Redis's INFO, made of the primary's and redpair's own.
 *
 *   INFO [section …] ──▶ the primary ──▶ its text, where redpair's view replaces what would
 *                                        otherwise describe the links rather than the clients:
 *                                        Commandstats, Errorstats, Latencystats (stats.h) and
 *                                        the offset key's place in Keyspace (hidden.h)
 *   INFO, INFO all/everything/default ──▶ the "# redpair" section first
 *   INFO redpair ──▶ that section alone, from redpair */
#ifndef REDPAIR_INFO_H
#define REDPAIR_INFO_H

#include <stddef.h>

#include "buffer.h"

struct client;
struct request;

void info_command(struct client *c, struct request *r, int argc, const char *const *argv,
                  const size_t *argl);
/* Appends the "# redpair" section. */
void info_redpair_section(struct buffer *out);

#endif
