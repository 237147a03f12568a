/* A key table: which clients wait on which keys, as Redis's `watched_keys` and `blocking_keys`.
 *
 *   (db, key) ──▶ entry ──▶ link ⇄ link ⇄ link      one link per interested owner, in the
 *                            │      │      │         order they came: the longest waiter first
 *   owner ─────▶ link ──────────────┘ ──▶ link ─▶ …  each owner chains its own links, so all of
 *                                                    them go at once (UNWATCH, unblock, close)
 *
 * Entries exist only while someone waits on the key, so a write looks up its keys in a table that
 * is usually empty, and the common case costs one test of `count`. */
#ifndef REDPAIR_KEYTABLE_H
#define REDPAIR_KEYTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keyentry;

struct keylink {
    struct keyentry *entry;
    struct keylink *prev, *next; /* the key's owners */
    struct keylink *owner_next;  /* the owner's keys */
    struct keylink **owner_pprev;
    void *owner;
};

struct keyentry {
    struct keyentry *bucket_next;
    struct keylink *head, *tail;
    uint32_t hash;
    int db;
    size_t len;
    char key[];
};

struct keytable {
    struct keyentry **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first key */
    size_t count;    /* entries */
};

static inline bool keytable_empty(const struct keytable *t)
{
    return t->count == 0;
}

/* Adds owner's interest in (db, key) at the tail of the key's list and chains the link into
 * *owner_links. A key the owner already has is not added twice. */
void keytable_add(struct keytable *t, int db, const char *key, size_t len, void *owner,
                  struct keylink **owner_links);
/* Removes every link chained in *owner_links and empties it. */
void keytable_remove_all(struct keytable *t, struct keylink **owner_links);
/* Takes every owner off the key, and the key out of the table. */
void keytable_remove_key(struct keytable *t, struct keyentry *e);
/* The owners waiting on (db, key), or NULL when none. */
struct keyentry *keytable_find(const struct keytable *t, int db, const char *key, size_t len);
/* Calls fn for every owner of (db, key), longest first. fn must not change the table. */
void keytable_each_on_key(const struct keytable *t, int db, const char *key, size_t len,
                          void (*fn)(struct keylink *l, void *ctx), void *ctx);
/* Calls fn for every link of every key in db (-1: in every db). fn must not change the table. */
void keytable_each_in_db(const struct keytable *t, int db, void (*fn)(struct keylink *l, void *ctx),
                         void *ctx);
/* Frees what the table holds (its owners' chains become invalid). */
void keytable_free(struct keytable *t);

#endif
