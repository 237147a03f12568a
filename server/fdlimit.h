/* The open files maxclients needs. As Redis does, redpair raises its own RLIMIT_NOFILE to
 * maxclients plus FDLIMIT_RESERVED (its listeners, the backends' links, probes and Pub/Sub
 * connections, the admin API's clients, SQLite, the cluster's peers), up to what the hard limit
 * allows (or further, when it may raise that too); where that is not enough, maxclients is
 * lowered to fit, with a warning: a client accepted past the last descriptor would be dropped
 * without a word. */
#ifndef REDPAIR_FDLIMIT_H
#define REDPAIR_FDLIMIT_H

#define FDLIMIT_RESERVED 64

/* Returns the maxclients the open files limit leaves room for, at most maxclients. */
int fdlimit_fit(int maxclients);

#endif
