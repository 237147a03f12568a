#include "backlog.h"

#include <stdlib.h>
#include <string.h>

#include "buffer.h"

/* Each entry is this header followed by its bytes; both may wrap around the end of the ring. */
struct entry_header {
    uint64_t offset;
    uint32_t len;
    int32_t db;
};

static struct {
    char *ring;
    size_t size;
    size_t tail, used; /* oldest entry's position; bytes in use */
    size_t entries;
    uint64_t first; /* every write with offset >= first is held (if it happened) */
    uint64_t last;  /* newest offset appended, first - 1 when none */
} bl;

void backlog_reset(size_t size, uint64_t next)
{
    if (bl.size != size) {
        free(bl.ring);
        bl.ring = malloc(size);
        if (!bl.ring) abort();
        bl.size = size;
    }
    bl.tail = bl.used = bl.entries = 0;
    bl.first = next;
    bl.last = next - 1;
}

void backlog_free(void)
{
    free(bl.ring);
    memset(&bl, 0, sizeof(bl));
}

static void ring_write(size_t pos, const void *src, size_t n)
{
    pos %= bl.size;
    size_t first = n < bl.size - pos ? n : bl.size - pos;
    memcpy(bl.ring + pos, src, first);
    memcpy(bl.ring, (const char *)src + first, n - first);
}

static void ring_read(size_t pos, void *dst, size_t n)
{
    pos %= bl.size;
    size_t first = n < bl.size - pos ? n : bl.size - pos;
    memcpy(dst, bl.ring + pos, first);
    memcpy((char *)dst + first, bl.ring, n - first);
}

static void evict_oldest(void)
{
    struct entry_header h;
    ring_read(bl.tail, &h, sizeof(h));
    size_t n = sizeof(h) + h.len;
    bl.tail = (bl.tail + n) % bl.size;
    bl.used -= n;
    bl.entries--;
    bl.first = h.offset + 1;
}

void backlog_append(uint64_t offset, int db, const char *bytes, size_t len)
{
    size_t need = sizeof(struct entry_header) + len;
    bl.last = offset;
    if (need > bl.size) { /* larger than the whole backlog: nobody can be replayed past it */
        bl.tail = bl.used = bl.entries = 0;
        bl.first = offset + 1;
        return;
    }
    while (bl.size - bl.used < need) evict_oldest();
    struct entry_header h = {.offset = offset, .len = (uint32_t)len, .db = db};
    size_t head = bl.tail + bl.used;
    ring_write(head, &h, sizeof(h));
    ring_write(head + sizeof(h), bytes, len);
    bl.used += need;
    bl.entries++;
}

bool backlog_covers(uint64_t offset)
{
    return offset + 1 >= bl.first && offset <= bl.last;
}

/* Walks the entries after `offset`; each one's bytes are copied out only when emit wants them. */
static size_t walk(uint64_t offset, backlog_emit emit, void *ctx)
{
    struct buffer scratch = {0};
    size_t pos = bl.tail, bytes = 0;
    for (size_t i = 0; i < bl.entries; i++) {
        struct entry_header h;
        ring_read(pos, &h, sizeof(h));
        if (h.offset > offset) {
            bytes += h.len;
            if (emit) {
                buffer_clear(&scratch);
                char *dst = buffer_reserve(&scratch, h.len);
                ring_read(pos + sizeof(h), dst, h.len);
                emit(ctx, h.offset, h.db, dst, h.len);
            }
        }
        pos = (pos + sizeof(h) + h.len) % bl.size;
    }
    buffer_free(&scratch);
    return bytes;
}

size_t backlog_bytes_after(uint64_t offset)
{
    return walk(offset, NULL, NULL);
}

bool backlog_replay(uint64_t offset, backlog_emit emit, void *ctx)
{
    if (!backlog_covers(offset)) return false;
    walk(offset, emit, ctx);
    return true;
}
