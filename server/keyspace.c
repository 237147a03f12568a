#include "keyspace.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "blocked.h"
#include "client.h"
#include "command.h"
#include "config.h"
#include "proxy.h"
#include "resp.h"
#include "tracking.h"
#include "watch.h"

static void touch_key(const struct client *writer, int db, const char *key, size_t len, bool wake)
{
    watch_touch_key(db, key, len);
    if (wake) blocked_touch_key(db, key, len);
    tracking_touch_key(writer, key, len);
}

static void touch_db(int db, bool wake)
{
    watch_touch_db(db);
    if (wake) blocked_touch_db(db);
}

/* The database a command moves or copies a key into: MOVE key db, COPY src dst DB db. */
static int target_db(const struct command *cmd, int argc, const char *const *argv,
                     const size_t *argl)
{
    long long db = -1;
    if (strcmp(cmd->name, "move") == 0 && argc == 3) resp_parse_ll(argv[2], argl[2], &db);
    if (strcmp(cmd->name, "copy") == 0)
        for (int i = 3; i + 1 < argc; i++)
            if (argl[i] == 2 && strncasecmp(argv[i], "db", 2) == 0)
                resp_parse_ll(argv[i + 1], argl[i + 1], &db);
    return db >= 0 && db < proxy.config->databases ? (int)db : -1;
}

void keyspace_written(const struct client *c, const struct command *cmd, int db, int argc,
                      const char *const *argv, const size_t *argl)
{
    bool wake = blocked_any() && blocked_wakes(c, cmd);
    if (!wake && !watch_any() && !tracking_any()) return;

    bool flushall = strcmp(cmd->name, "flushall") == 0;
    if (flushall || strcmp(cmd->name, "flushdb") == 0) {
        /* Nothing is there to serve, but an XREADGROUP waiter learns that its stream went. */
        touch_db(flushall ? -1 : db, wake);
        tracking_touch_all(); /* as Redis: every cached key goes, whichever database */
        return;
    }
    if (strcmp(cmd->name, "swapdb") == 0) {
        long long a, b;
        if (argc == 3 && resp_parse_ll(argv[1], argl[1], &a) &&
            resp_parse_ll(argv[2], argl[2], &b) && a >= 0 && b >= 0 &&
            a < proxy.config->databases && b < proxy.config->databases) {
            touch_db((int)a, wake);
            touch_db((int)b, wake);
        }
        return;
    }
    struct command_keypos keys;
    command_keypos(cmd, argc, argv, argl, &keys);
    if (keys.n < 0) {
        touch_db(db, wake); /* keys redpair cannot find: any of the database's */
        tracking_touch_all();
        return;
    }
    int other = target_db(cmd, argc, argv, argl);
    for (int i = 0; i < keys.n; i++) {
        const char *key = argv[keys.pos[i]];
        size_t len = argl[keys.pos[i]];
        touch_key(c, db, key, len, wake);
        if (other >= 0) touch_key(c, other, key, len, wake);
    }
    command_keypos_free(&keys);
}
