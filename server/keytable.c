#include "keytable.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"

static uint32_t hash_key(int db, const char *key, size_t len)
{
    uint32_t h = 2166136261u ^ (uint32_t)db;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static struct keyentry **slot(const struct keytable *t, uint32_t hash)
{
    return &t->buckets[hash & (t->nbuckets - 1)];
}

static void grow(struct keytable *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 16;
    struct keyentry **old = t->buckets;
    size_t oldn = t->nbuckets;
    t->buckets = xrealloc(NULL, n * sizeof(*t->buckets));
    memset(t->buckets, 0, n * sizeof(*t->buckets));
    t->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        for (struct keyentry *e = old[i], *next; e; e = next) {
            next = e->bucket_next;
            struct keyentry **s = slot(t, e->hash);
            e->bucket_next = *s;
            *s = e;
        }
    }
    free(old);
}

struct keyentry *keytable_find(const struct keytable *t, int db, const char *key, size_t len)
{
    if (!t->count) return NULL;
    uint32_t h = hash_key(db, key, len);
    for (struct keyentry *e = *slot(t, h); e; e = e->bucket_next)
        if (e->hash == h && e->db == db && e->len == len && memcmp(e->key, key, len) == 0) return e;
    return NULL;
}

void keytable_add(struct keytable *t, int db, const char *key, size_t len, void *owner,
                  struct keylink **owner_links)
{
    struct keyentry *e = keytable_find(t, db, key, len);
    if (e) {
        for (struct keylink *l = e->head; l; l = l->next)
            if (l->owner == owner) return;
    } else {
        if (t->count >= t->nbuckets) grow(t);
        e = xrealloc(NULL, sizeof(*e) + len);
        e->hash = hash_key(db, key, len);
        e->db = db;
        e->len = len;
        memcpy(e->key, key, len);
        e->head = e->tail = NULL;
        struct keyentry **s = slot(t, e->hash);
        e->bucket_next = *s;
        *s = e;
        t->count++;
    }
    struct keylink *l = xrealloc(NULL, sizeof(*l));
    *l = (struct keylink){.entry = e,
                          .prev = e->tail,
                          .owner = owner,
                          .owner_next = *owner_links,
                          .owner_pprev = owner_links};
    if (*owner_links) (*owner_links)->owner_pprev = &l->owner_next;
    if (e->tail)
        e->tail->next = l;
    else
        e->head = l;
    e->tail = l;
    *owner_links = l;
}

static void remove_entry(struct keytable *t, struct keyentry *e)
{
    for (struct keyentry **p = slot(t, e->hash); *p; p = &(*p)->bucket_next) {
        if (*p == e) {
            *p = e->bucket_next;
            break;
        }
    }
    t->count--;
    free(e);
}

void keytable_remove_all(struct keytable *t, struct keylink **owner_links)
{
    for (struct keylink *l = *owner_links, *next; l; l = next) {
        next = l->owner_next;
        struct keyentry *e = l->entry;
        if (l->prev)
            l->prev->next = l->next;
        else
            e->head = l->next;
        if (l->next)
            l->next->prev = l->prev;
        else
            e->tail = l->prev;
        if (!e->head) remove_entry(t, e);
        free(l);
    }
    *owner_links = NULL;
}

void keytable_remove_key(struct keytable *t, struct keyentry *e)
{
    for (struct keylink *l = e->head, *next; l; l = next) {
        next = l->next;
        *l->owner_pprev = l->owner_next;
        if (l->owner_next) l->owner_next->owner_pprev = l->owner_pprev;
        free(l);
    }
    remove_entry(t, e);
}

void keytable_each_on_key(const struct keytable *t, int db, const char *key, size_t len,
                          void (*fn)(struct keylink *l, void *ctx), void *ctx)
{
    struct keyentry *e = keytable_find(t, db, key, len);
    for (struct keylink *l = e ? e->head : NULL; l; l = l->next) fn(l, ctx);
}

void keytable_each_in_db(const struct keytable *t, int db, void (*fn)(struct keylink *l, void *ctx),
                         void *ctx)
{
    for (size_t i = 0; i < t->nbuckets && t->count; i++)
        for (struct keyentry *e = t->buckets[i]; e; e = e->bucket_next)
            if (db < 0 || e->db == db)
                for (struct keylink *l = e->head; l; l = l->next) fn(l, ctx);
}

void keytable_free(struct keytable *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (struct keyentry *e = t->buckets[i], *next; e; e = next) {
            next = e->bucket_next;
            for (struct keylink *l = e->head, *ln; l; l = ln) {
                ln = l->next;
                free(l);
            }
            free(e);
        }
    }
    free(t->buckets);
    *t = (struct keytable){0};
}
