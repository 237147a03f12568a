/* Blind writes: those whose effect does not depend on what the server held.
 *
 * SET k v (without NX, XX, GET or KEEPTTL), SETEX, PSETEX, MSET, DEL and UNLINK set or remove
 * their keys, value and expiry alike, whatever the keys held; an error they may get is a syntax
 * error, which does not depend on the data either. Applied again after any later blind writes,
 * a run of them changes nothing: this is what lets a backend link send them bare (backend.h). A
 * flush is blind too but removes the offset key, so it is not counted here. */
#ifndef REDPAIR_BLIND_H
#define REDPAIR_BLIND_H

#include <stdbool.h>
#include <stddef.h>

#include "command.h"

bool blind_write(const struct command *cmd, int argc, const char *const *argv, const size_t *argl);

#endif
