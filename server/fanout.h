/* Commands every server runs on its own: persistence, statistics, each server's logs of slow
 * commands and latency, killing a script. They change no data, so they go outside the write
 * stream, to every server in it, and the client gets one reply made of all of theirs:
 *
 *   SAVE, BGSAVE, BGREWRITEAOF,        each server's reply; an error if any server answers one
 *   CONFIG RESETSTAT (redpair's own
 *   counters too), CONFIG REWRITE,
 *   SLOWLOG RESET, MEMORY PURGE
 *   LASTSAVE                            the older of the two
 *   SLOWLOG LEN                         the sum
 *   SLOWLOG GET [n]                     the n newest entries of both, each with the server's name
 *                                       as its client name
 *   LATENCY LATEST                      every server's events, each named "<server>:<event>"
 *   LATENCY HISTORY|GRAPH|RESET <ev>    "<server>:<event>" names one server's event, a bare
 *                                       event every server's: HISTORY merges them by time, RESET
 *                                       adds up the series reset
 *   LATENCY DOCTOR, LATENCY GRAPH       each server's text under a line naming it
 *   LATENCY HISTOGRAM [cmd …]           both maps, each command named "<server>:<command>"
 *   SCRIPT KILL, FUNCTION KILL          over the monitor's connections, since a script holds up
 *                                       the link it came on: +OK if one was killed anywhere
 *   FUNCTION STATS                      the primary's, over the monitor's connection too
 *
 *   fanout_command ──▶ each server's copy (the links, or the monitor's connections)
 *   each reply ──▶ fanout_reply ──▶ the last one: the combined reply, request_ready */
#ifndef REDPAIR_FANOUT_H
#define REDPAIR_FANOUT_H

#include <stddef.h>

struct client;
struct request;

void fanout_command(struct client *c, struct request *r, int argc, const char *const *argv,
                    const size_t *argl);
/* A server's reply to its copy, or (reply NULL) the loss of it. */
void fanout_reply(struct request *r, int backend, const char *reply, size_t len);

#endif
