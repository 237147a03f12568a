#include "scripts.h"

#include "backend.h"
#include "config.h"
#include "keytable.h"
#include "proxy.h"

/* A key table used as a set of sources: one owner holds them all. */
static struct keytable known;
static struct keylink *known_links;
static char owner;

static void load(struct backend *b, const char *source, size_t len)
{
    backend_send_ignored(b, 3, (const char *[]){"SCRIPT", "LOAD", source},
                         (const size_t[]){6, 4, len});
}

void scripts_seen(const char *source, size_t len)
{
    if (keytable_find(&known, 0, source, len)) return;
    keytable_add(&known, 0, source, len, &owner, &known_links);
    for (int i = 0; i < CONFIG_BACKENDS; i++) load(&proxy.backends[i], source, len);
}

void scripts_flushed(void)
{
    keytable_remove_all(&known, &known_links);
}

static void load_one(struct keylink *l, void *b)
{
    load(b, l->entry->key, l->entry->len);
}

void scripts_load_into(struct backend *b)
{
    keytable_each_in_db(&known, 0, load_one, b);
}
