/* A unit: commands that run on the servers as one unbroken block at one point of the stream. The
 * commands a client queued between MULTI and EXEC are one; so is each attempt of a blocking
 * command (blocked.h).
 *
 *   unit_run ─▶ each command, in order ─┬─ local ─▶ answered by redpair
 *                                       ├─ read  ─▶ the primary's link
 *                                       └─ write ─▶ the sequencer: next offset, every link
 *            ─▶ backend_unit_end() on every link
 *   each element's reply ─▶ `left` counts down ─▶ done(unit), then the unit is freed
 *
 * A backend link already sends writes inside its own MULTI … SET offset … EXEC (backend.h). While
 * a unit passes, the link keeps that transaction open, even across loop turns when a write by
 * effect holds the rest, and puts the unit's reads into it as well; so each server applies the
 * whole unit atomically, and a read-only unit runs atomically on the primary. */
#ifndef REDPAIR_UNIT_H
#define REDPAIR_UNIT_H

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"

struct client;
struct request;

struct unit {
    struct request **elements;
    unsigned count;
    unsigned left; /* elements still without their reply */
    void (*done)(struct unit *u);
    void *owner;
};

/* Runs the count commands that cmds holds (multibulks laid end to end) for client c, in its
 * database. own: they are the client's commands (a transaction's), each shown to MONITOR and
 * counted in INFO as it runs; a blocking command's attempts are redpair's. done(u) is called
 * once every element has its reply, possibly before unit_run returns; the unit is freed after
 * it. */
void unit_run(struct client *c, const char *cmds, size_t len, unsigned count, bool own,
              void (*done)(struct unit *u), void *owner);
/* Element i's reply: one complete RESP value. */
const struct buffer *unit_reply(const struct unit *u, unsigned i);

#endif
