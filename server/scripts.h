/* The scripts a server must hold for EVALSHA to work on it.
 *
 * Redis keeps EVAL scripts in memory only, and a server through redpair may not have seen a
 * script at all (EVAL_RO runs on the primary alone). So redpair remembers every script its
 * clients sent since it started, and loads them where they are missing:
 *
 *   EVAL / EVAL_RO / SCRIPT LOAD with a script new to redpair ─▶ SCRIPT LOAD on every link
 *   a link (re)connects, a restarted server ─▶ SCRIPT LOAD of each, before any write reaches it
 *   SCRIPT FLUSH ─▶ forgotten, as the servers forget them
 *
 * So EVALSHA of any script a client sent works on either server, through a failover and after
 * a server restarted. What is kept grows as Redis's own script cache does. */
#ifndef REDPAIR_SCRIPTS_H
#define REDPAIR_SCRIPTS_H

#include <stddef.h>

struct backend;

/* A client sent this script's source: loaded on every link unless already known. */
void scripts_seen(const char *source, size_t len);
void scripts_flushed(void);
/* Sends SCRIPT LOAD of every known script down b's link (just connected). */
void scripts_load_into(struct backend *b);

#endif
