/* Passwords and tokens compared so that timing tells an attacker nothing: neither where the
 * first difference is nor how long the secret is. */
#ifndef REDPAIR_SECRET_H
#define REDPAIR_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Whether `given` (given_len bytes, any content) equals the NUL-terminated `secret`. */
bool secret_equal(const char *given, size_t given_len, const char *secret);

#endif
