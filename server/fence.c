#define _GNU_SOURCE /* memmem */
#include "fence.h"

#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "resp.h"

/* A replica cannot store it (READONLY) and needs not: nothing but its primary writes to it, and
 * the copy it takes from its primary brings the primary's epoch. The offset key is made too, at
 * 0 (the same as none), so a leader's servers always hold both hidden keys (hidden.h). */
const char fence_script[] =
    "local held = tonumber(redis.call('get', KEYS[1]) or '0') "
    "local mine = tonumber(ARGV[1]) "
    "if held > mine then return redis.error_reply('FENCED epoch ' .. held .. "
    "' holds this server, newer than ' .. mine) end "
    "if held < mine then local r = redis.pcall('set', KEYS[1], ARGV[1]) "
    "if type(r) == 'table' and r.err and string.sub(r.err, 1, 8) ~= 'READONLY' then return r end "
    "redis.pcall('setnx', KEYS[2], '0') end "
    "return held";

int fence_command(uint64_t epoch, const char *argv[FENCE_ARGC], char digits[24])
{
    snprintf(digits, 24, "%llu", (unsigned long long)epoch);
    const char *cmd[FENCE_ARGC] = {"EVAL",    fence_script,       "2",
                                   FENCE_KEY, BACKEND_OFFSET_KEY, digits};
    memcpy(argv, cmd, sizeof(cmd));
    return FENCE_ARGC;
}

void fence_client_name(char *out, size_t len, uint64_t epoch, const char *node, const char *kind)
{
    snprintf(out, len, "redpair-%llu-%s-%s", (unsigned long long)epoch, node, kind);
}

/* One CLIENT LIST line: "id=7 addr=… name=redpair-3-a-link …". */
static bool older_line(const char *line, size_t n, uint64_t epoch, uint64_t *id)
{
    static const char tag[] = " name=redpair-";
    const char *end = line + n;
    if (n < 4 || memcmp(line, "id=", 3) != 0) return false;
    const char *p = line + 3, *q = p;
    while (q < end && *q >= '0' && *q <= '9') q++;
    long long v;
    if (!resp_parse_ll(p, (size_t)(q - p), &v) || v < 0) return false;
    const char *name = memmem(line, n, tag, sizeof(tag) - 1);
    if (!name) return false;
    p = q = name + sizeof(tag) - 1;
    while (q < end && *q >= '0' && *q <= '9') q++;
    long long e;
    if (q == end || *q != '-' || !resp_parse_ll(p, (size_t)(q - p), &e) || e < 0) return false;
    *id = (uint64_t)v;
    return (uint64_t)e < epoch;
}

size_t fence_older_clients(const char *text, size_t len, uint64_t epoch, uint64_t *ids, size_t max)
{
    size_t found = 0;
    const char *end = text + len;
    for (const char *line = text; line < end && found < max;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        uint64_t id;
        if (older_line(line, (size_t)(eol - line), epoch, &id)) ids[found++] = id;
        line = nl ? nl + 1 : end;
    }
    return found;
}

bool fence_refused(const char *error, size_t len)
{
    return len >= 6 && memcmp(error, "FENCED", 6) == 0;
}
