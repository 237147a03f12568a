/* Fuzzes what cluster mode reads from others: a log entry or a snapshot of the control state
 * (cluster_state.h), as a peer's leader or a consensus directory on disk hands it over, and a
 * server's CLIENT LIST reply as the fence reads it (fence.h). The first byte picks which.
 *
 * Invariants: the state stays well-formed whatever is applied (names terminated, counts within
 * their arrays, epochs only growing); a decoded snapshot encodes and decodes back to itself; the
 * fence finds only ids that the text names under an older epoch, never more than asked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cluster_state.h"
#include "fence.h"

static void check_state(const struct cluster_state *s)
{
    CHECK(s->backend_count >= 0 && s->backend_count <= CONFIG_BACKENDS);
    CHECK(s->member_count >= 0 && s->member_count <= CLUSTER_MAX_NODES);
    CHECK(memchr(s->leader, 0, sizeof(s->leader)) && memchr(s->primary, 0, sizeof(s->primary)));
    for (int i = 0; i < s->backend_count; i++) {
        CHECK(s->backends[i].name[0] && memchr(s->backends[i].name, 0, CONFIG_NAME_MAX));
        CHECK(memchr(s->backends[i].state, 0, sizeof(s->backends[i].state)));
        CHECK(memchr(s->backends[i].run_id, 0, sizeof(s->backends[i].run_id)));
    }
    for (int i = 0; i < s->member_count; i++) {
        CHECK(s->members[i].name[0] && memchr(s->members[i].name, 0, CONFIG_NAME_MAX));
        CHECK(s->members[i].incarnation >= 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct cluster_state s;
    cluster_state_init(&s);
    switch (data[0] % 3) {
    case 0: { /* a run of entries, one per line */
        const char *p = text, *end = text + len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *eol = nl ? nl : end;
            uint64_t epoch = s.epoch;
            cluster_state_apply(&s, p, (size_t)(eol - p));
            CHECK(s.epoch >= epoch);
            check_state(&s);
            p = nl ? nl + 1 : end;
        }
        break;
    }
    case 1: { /* a snapshot */
        if (!cluster_state_decode(&s, text, len)) break;
        check_state(&s);
        size_t n;
        char *again = cluster_state_encode(&s, &n);
        struct cluster_state back;
        CHECK(cluster_state_decode(&back, again, n));
        CHECK(memcmp(&back, &s, sizeof(s)) == 0);
        free(again);
        break;
    }
    default: { /* CLIENT LIST */
        uint64_t ids[8];
        size_t n = fence_older_clients(text, len, 1000, ids, 8);
        CHECK(n <= 8);
        break;
    }
    }
    return 0;
}
