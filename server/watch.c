#include "watch.h"

#include "client.h"
#include "keytable.h"

static struct keytable watched;

void watch_keys(struct client *c, int argc, const char *const *argv, const size_t *argl)
{
    for (int i = 1; i < argc; i++) keytable_add(&watched, c->db, argv[i], argl[i], c, &c->watching);
}

void watch_clear(struct client *c)
{
    keytable_remove_all(&watched, &c->watching);
    c->watch_touched = false;
}

bool watch_any(void)
{
    return !keytable_empty(&watched);
}

static void mark(struct keylink *l, void *ctx)
{
    (void)ctx;
    ((struct client *)l->owner)->watch_touched = true;
}

void watch_touch_key(int db, const char *key, size_t len)
{
    keytable_each_on_key(&watched, db, key, len, mark, NULL);
}

void watch_touch_db(int db)
{
    keytable_each_in_db(&watched, db, mark, NULL);
}
