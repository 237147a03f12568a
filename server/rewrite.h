/* Making writes deterministic, so that two servers applying one stream hold the same data.
 *
 * Redis's own replication ships effects, not commands, for anything whose outcome depends on when
 * or where it runs; redpair does the same at the proxy:
 *
 *   before sequencing   relative times become absolute, computed once from redpair's clock:
 *                       EXPIRE k 10  ->  PEXPIREAT k 1790000010000   (both servers get this)
 *   after the primary   the secondary's copy waits in its stream until the primary's reply says
 *                       what happened, then gets that effect:
 *                       SPOP k -> "x"           secondary: SREM k x
 *                       INCRBYFLOAT k 1.5 -> "3"  secondary: SET k 3 KEEPTTL
 *                       XADD s * f v -> "1700000000000-0"
 *                                         secondary: XADD s 1700000000000-0 f v
 *                       XADD s MAXLEN ~ 100 * f v, then (probe) XLEN s -> 180
 *                                         secondary: XADD s MAXLEN = 180 <its ID> f v
 *                       XAUTOCLAIM s g c 60000 0 -> claimed 1-1, deleted 2-1
 *                                         secondary: XCLAIM s g c 0 1-1 2-1
 */
#ifndef REDPAIR_REWRITE_H
#define REDPAIR_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"
#include "command.h"

enum rewrite_result {
    REWRITE_UNCHANGED, /* send the command as it came */
    REWRITE_DONE,      /* send `out` (a multibulk) instead */
};

/* Rewrites relative times of a write into absolute ones at now_ms. A malformed or out-of-range
 * time argument leaves the command unchanged, so both servers reject it with Redis's own error. */
enum rewrite_result rewrite_request(const struct command *cmd, int argc, const char *const *argv,
                                    const size_t *argl, long long now_ms, struct buffer *out);

static inline bool rewrite_needs_effect(const struct command *cmd)
{
    return cmd->rewrite >= REWRITE_SPOP;
}

/* Whether this call of such a command is mirrored by effect: not an XADD that names its ID, nor
 * an XTRIM, which every server applies alike, unless they trim with "~". */
bool rewrite_by_effect(const struct command *cmd, int argc, const char *const *argv,
                       const size_t *argl);

/* For a write mirrored by effect whose reply does not say it all: appends to `out` the read that,
 * run on the primary right after it in the same transaction, does. XADD and XTRIM trimming with
 * "~": XLEN of the stream, the entries the primary kept. False when none is needed. */
bool rewrite_probe(const struct command *cmd, const char *request, size_t len, struct buffer *out);

/* For a write with rewrite_needs_effect(): from the request as sent to the primary (a multibulk)
 * and the primary's complete reply, and the probe's (NULL: none, or it was lost), appends to
 * `out` the command that reproduces the effect on the secondary. Returns false when there is
 * nothing to reproduce (an error reply, a nil pop). */
bool rewrite_effect(const struct command *cmd, const char *request, size_t request_len,
                    const char *reply, size_t reply_len, const char *probe, size_t probe_len,
                    struct buffer *out);

#endif
