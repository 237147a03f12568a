#include "hidden.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "fence.h"
#include "proxy.h"
#include "resp.h"

/* Each script gets the hidden keys as KEYS[1] (the offset key) and KEYS[2] (cluster mode's fence,
 * fence.h) and the client's arguments as ARGV; errors come back as the command's own (pcall), not
 * as script errors. */
static const char dbsize_script[] =
    "return redis.call('dbsize') - redis.call('exists', KEYS[1], KEYS[2])";
static const char randomkey_script[] =
    "for i = 1, 64 do local k = redis.call('randomkey') "
    "if k ~= KEYS[1] and k ~= KEYS[2] then return k end end "
    "if redis.call('dbsize') <= redis.call('exists', KEYS[1], KEYS[2]) then return false end "
    "local c = '0' repeat local r = redis.call('scan', c, 'count', 100) c = r[1] "
    "for _, k in ipairs(r[2]) do if k ~= KEYS[1] and k ~= KEYS[2] then return k end end "
    "until c == '0' return false";
static const char keys_script[] =
    "local r = redis.pcall('keys', unpack(ARGV)) if r.err then return r end "
    "for i = #r, 1, -1 do if r[i] == KEYS[1] or r[i] == KEYS[2] then table.remove(r, i) end end "
    "return r";
static const char scan_script[] =
    "local r = redis.pcall('scan', unpack(ARGV)) if r.err then return r end "
    "local k = r[2] for i = #k, 1, -1 do if k[i] == KEYS[1] or k[i] == KEYS[2] then "
    "table.remove(k, i) end end return r";
/* SWAPDB 0 n carries the keys into database n: once the swap succeeded, they go from there and
 * are put back into database 0 as they were. */
static const char swapdb_script[] =
    "redis.call('select', 0) local keep = {redis.call('get', KEYS[1]), redis.call('get', KEYS[2])} "
    "local r = redis.pcall('swapdb', ARGV[1], ARGV[2]) if r.err then return r end "
    "for i = 1, 2 do if tonumber(ARGV[i]) ~= 0 then redis.call('select', ARGV[i]) "
    "redis.call('del', KEYS[1], KEYS[2]) end end redis.call('select', 0) "
    "for i = 1, 2 do if keep[i] then redis.call('set', KEYS[i], keep[i]) end end return r";
/* A flush of database 0 keeps the fence: a deposed leader must find it there (the offset key is
 * written again by the transaction the flush is in). */
static const char flushall_script[] =
    "redis.call('select', 0) local keep = redis.call('get', KEYS[2]) "
    "local r = redis.pcall('flushall', unpack(ARGV)) if r.err then return r end "
    "if keep then redis.call('set', KEYS[2], keep) end return r";
static const char flushdb_script[] =
    "local keep = redis.call('get', KEYS[2]) "
    "local r = redis.pcall('flushdb', unpack(ARGV)) if r.err then return r end "
    "if keep then redis.call('set', KEYS[2], keep) end return r";

static const char *script_for(const struct command *cmd, int db)
{
    if (!strcmp(cmd->name, "swapdb")) return swapdb_script;
    if (!strcmp(cmd->name, "flushall"))
        return config_clustered(proxy.config) ? flushall_script : NULL;
    if (db != 0) return NULL;
    if (!strcmp(cmd->name, "flushdb"))
        return config_clustered(proxy.config) ? flushdb_script : NULL;
    if (!strcmp(cmd->name, "dbsize")) return dbsize_script;
    if (!strcmp(cmd->name, "randomkey")) return randomkey_script;
    if (!strcmp(cmd->name, "keys")) return keys_script;
    if (!strcmp(cmd->name, "scan")) return scan_script;
    return NULL;
}

bool hidden_rewrite(const struct command *cmd, int db, int argc, const char *const *argv,
                    const size_t *argl, struct buffer *out)
{
    if (cmd->first_key != 0 || !strchr("drksf", cmd->name[0])) return false;
    const char *script = script_for(cmd, db);
    if (!script) return false;

    enum { FIXED = 5 };
    const char *args[FIXED + 64];
    size_t lens[FIXED + 64];
    int n = argc - 1;
    if (n > 64) return false; /* no such SCAN: let Redis answer its syntax error */
    bool writes = script == swapdb_script || script == flushall_script || script == flushdb_script;
    args[0] = writes ? "EVAL" : "EVAL_RO";
    args[1] = script;
    args[2] = "2";
    args[3] = BACKEND_OFFSET_KEY;
    args[4] = FENCE_KEY;
    for (int i = 0; i < FIXED; i++) lens[i] = strlen(args[i]);
    for (int i = 0; i < n; i++) {
        args[FIXED + i] = argv[1 + i];
        lens[FIXED + i] = argl[1 + i];
    }
    buffer_clear(out);
    resp_append_command(out, FIXED + n, args, lens);
    return true;
}

bool hidden_key(const char *name, size_t len)
{
    static const char offset[] = BACKEND_OFFSET_KEY, fence[] = FENCE_KEY;
    return (len == sizeof(offset) - 1 && !memcmp(name, offset, len)) ||
           (len == sizeof(fence) - 1 && !memcmp(name, fence, len));
}

void hidden_fix_info(const char *text, size_t len, struct buffer *out)
{
    static const char tag[] = "\r\ndb0:keys=";
    const char *at = NULL;
    for (const char *p = text; p + sizeof(tag) - 1 <= text + len; p++) {
        p = memchr(p, '\r', (size_t)(text + len - p));
        if (!p) break;
        if ((size_t)(text + len - p) >= sizeof(tag) - 1 && !memcmp(p, tag, sizeof(tag) - 1)) {
            at = p + 2;
            break;
        }
    }
    if (!at) {
        buffer_append(out, text, len);
        return;
    }
    const char *num = at + sizeof(tag) - 3, *end = num;
    while (end < text + len && *end >= '0' && *end <= '9') end++;
    const char *eol = memchr(end, '\r', (size_t)(text + len - end));
    if (!eol) eol = text + len;
    long long keys = 0;
    resp_parse_ll(num, (size_t)(end - num), &keys);
    buffer_append(out, text, (size_t)(at - text));
    long long hidden = config_clustered(proxy.config) ? 2 : 1; /* a leader's fence makes both */
    if (keys > hidden) {
        buffer_appendf(out, "db0:keys=%lld", keys - hidden);
        buffer_append(out, end, (size_t)(eol - end));
    } else if (eol < text + len) {
        eol += 2; /* the whole line goes, with its CRLF */
    }
    if (eol <= text + len) buffer_append(out, eol, (size_t)(text + len - eol));
}
