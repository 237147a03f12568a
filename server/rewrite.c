#include "rewrite.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* The parsing here mirrors Redis 7.0's own, byte for byte where it matters: a command is only
 * rewritten when Redis would accept the original, so every error a client can get is still
 * Redis's own, from the command it sent. */

/* Redis compares options with strcasecmp() on the argument, which ends at a NUL byte. */
static bool is_opt(const char *s, size_t len, const char *opt)
{
    size_t n = strlen(opt);
    if (len < n) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + ('a' - 'A')) : s[i];
        if (c != opt[i]) return false;
    }
    return len == n || s[n] == '\0';
}

/* now + v * unit in milliseconds, for a relative time Redis would accept: strictly positive and
 * not overflowing. Anything else is left for Redis to reject (or, at <= 0, to apply at once, which
 * both servers do alike). */
static bool absolute_ms(const char *s, size_t len, long long unit, long long now, long long *abs)
{
    long long v;
    if (!resp_parse_ll(s, len, &v) || v <= 0 || v > LLONG_MAX / unit) return false;
    v *= unit;
    if (now < 0 || v > LLONG_MAX - now) return false;
    *abs = now + v;
    return true;
}

/* The argument vector of a rewritten command: small ones on the stack. */
struct args {
    int argc;
    const char **argv;
    size_t *argl;
    const char *argv_small[16];
    size_t argl_small[16];
};

static void args_init(struct args *a, int argc)
{
    a->argc = 0;
    a->argv = a->argv_small;
    a->argl = a->argl_small;
    if (argc > 16) {
        a->argv = malloc(sizeof(*a->argv) * (size_t)argc);
        a->argl = malloc(sizeof(*a->argl) * (size_t)argc);
        if (!a->argv || !a->argl) {
            fprintf(stderr, "redpair: out of memory rewriting a %d-argument command\n", argc);
            abort();
        }
    }
}

static void args_push(struct args *a, const char *s, size_t len)
{
    a->argv[a->argc] = s;
    a->argl[a->argc++] = len;
}

static void args_str(struct args *a, const char *s)
{
    args_push(a, s, strlen(s));
}

static void args_free(struct args *a)
{
    if (a->argv != a->argv_small) {
        free(a->argv);
        free(a->argl);
    }
}

static void args_emit(struct args *a, struct buffer *out)
{
    resp_append_command(out, a->argc, a->argv, a->argl);
    args_free(a);
}

/* EXPIRE key s [NX|XX|GT|LT] -> PEXPIREAT key abs [...]: the flags mean the same to both. */
static enum rewrite_result rewrite_expire(int argc, const char *const *argv, const size_t *argl,
                                          long long unit, long long now, struct buffer *out)
{
    char num[24];
    long long abs;
    struct args a;

    if (argc < 3 || !absolute_ms(argv[2], argl[2], unit, now, &abs)) return REWRITE_UNCHANGED;
    snprintf(num, sizeof(num), "%lld", abs);
    args_init(&a, argc);
    args_str(&a, "PEXPIREAT");
    args_push(&a, argv[1], argl[1]);
    args_str(&a, num);
    for (int i = 3; i < argc; i++) args_push(&a, argv[i], argl[i]);
    args_emit(&a, out);
    return REWRITE_DONE;
}

/* SETEX key s v, PSETEX key ms v -> SET key v PXAT abs: the same +OK, the same value. */
static enum rewrite_result rewrite_setex(int argc, const char *const *argv, const size_t *argl,
                                         long long unit, long long now, struct buffer *out)
{
    char num[24];
    long long abs;
    struct args a;

    if (argc != 4 || !absolute_ms(argv[2], argl[2], unit, now, &abs)) return REWRITE_UNCHANGED;
    snprintf(num, sizeof(num), "%lld", abs);
    args_init(&a, 5);
    args_str(&a, "SET");
    args_push(&a, argv[1], argl[1]);
    args_push(&a, argv[3], argl[3]);
    args_str(&a, "PXAT");
    args_str(&a, num);
    args_emit(&a, out);
    return REWRITE_DONE;
}

/* SET key v [options] and GETEX key [options]: each EX n or PX n becomes PXAT abs in place.
 *
 * Redis lets an expiry option repeat (the last wins) but never mixes two kinds, nor one with
 * KEEPTTL (SET) or PERSIST (GETEX); NX, XX and GET only clash among themselves, which the rewrite
 * does not touch. So: walk the options as Redis does, find the one expiry kind in use, and
 * rewrite only if it is EX or PX with a valid last value. */
enum expiry { NO_EXPIRY, EX, PX, EXAT, PXAT, KEEP };

static enum expiry expiry_option(const char *s, size_t len)
{
    if (is_opt(s, len, "ex")) return EX;
    if (is_opt(s, len, "px")) return PX;
    if (is_opt(s, len, "exat")) return EXAT;
    if (is_opt(s, len, "pxat")) return PXAT;
    return NO_EXPIRY;
}

static enum rewrite_result rewrite_set(bool getex, int argc, const char *const *argv,
                                       const size_t *argl, long long now, struct buffer *out)
{
    int first = getex ? 2 : 3; /* first option */
    enum expiry kind = NO_EXPIRY;
    int last = 0; /* the value Redis would use */

    for (int j = first; j < argc; j++) {
        enum expiry k = expiry_option(argv[j], argl[j]);
        if (k != NO_EXPIRY) {
            if (j + 1 == argc) return REWRITE_UNCHANGED; /* no value: syntax error */
            last = ++j;
        } else if (is_opt(argv[j], argl[j], getex ? "persist" : "keepttl")) {
            k = KEEP;
        } else if (getex || !(is_opt(argv[j], argl[j], "nx") || is_opt(argv[j], argl[j], "xx") ||
                              is_opt(argv[j], argl[j], "get"))) {
            return REWRITE_UNCHANGED; /* syntax error */
        }
        if (k == NO_EXPIRY) continue;
        if (kind != NO_EXPIRY && kind != k) return REWRITE_UNCHANGED; /* syntax error */
        kind = k;
    }

    char num[24];
    long long abs;
    if (kind != EX && kind != PX) return REWRITE_UNCHANGED;
    if (!absolute_ms(argv[last], argl[last], kind == EX ? 1000 : 1, now, &abs))
        return REWRITE_UNCHANGED;
    snprintf(num, sizeof(num), "%lld", abs);

    struct args a;
    args_init(&a, argc);
    for (int j = 0; j < argc; j++) {
        if (j >= first && expiry_option(argv[j], argl[j]) != NO_EXPIRY) {
            /* All of one kind, EX or PX, each followed by its value. */
            args_str(&a, "PXAT");
            args_str(&a, num);
            j++;
        } else {
            args_push(&a, argv[j], argl[j]);
        }
    }
    args_emit(&a, out);
    return REWRITE_DONE;
}

/* RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f] -> ttl absolute, ABSTTL
 * appended. The options are walked as Redis does, so that the added ABSTTL cannot become the
 * value of a dangling IDLETIME or FREQ. */
static enum rewrite_result rewrite_restore(int argc, const char *const *argv, const size_t *argl,
                                           long long now, struct buffer *out)
{
    bool idletime = false, freq = false;

    if (argc < 4) return REWRITE_UNCHANGED;
    for (int j = 4; j < argc; j++) {
        bool more = j + 1 < argc;
        if (is_opt(argv[j], argl[j], "replace")) {
        } else if (is_opt(argv[j], argl[j], "absttl")) {
            return REWRITE_UNCHANGED; /* already absolute */
        } else if (is_opt(argv[j], argl[j], "idletime") && more && !freq) {
            idletime = true;
            j++;
        } else if (is_opt(argv[j], argl[j], "freq") && more && !idletime) {
            freq = true;
            j++;
        } else {
            return REWRITE_UNCHANGED; /* syntax error */
        }
    }

    char num[24];
    long long abs;
    if (!absolute_ms(argv[2], argl[2], 1, now, &abs)) return REWRITE_UNCHANGED; /* 0: no TTL */
    snprintf(num, sizeof(num), "%lld", abs);

    struct args a;
    args_init(&a, argc + 1);
    for (int j = 0; j < argc; j++) {
        if (j == 2)
            args_str(&a, num);
        else
            args_push(&a, argv[j], argl[j]);
    }
    args_str(&a, "ABSTTL");
    args_emit(&a, out);
    return REWRITE_DONE;
}

/* Redis's string2ull(): string2ll() for what it takes, else strtoull() over the whole string. */
static bool parse_ull(const char *s)
{
    long long ll;
    if (resp_parse_ll(s, strlen(s), &ll)) return ll >= 0;
    if (*s == '\0') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    (void)v; /* only whether it parses matters */
    return errno != EINVAL && errno != ERANGE && *end == '\0';
}

/* Redis's strict stream ID parse: "<ms>", "<ms>-<seq>", or, for XADD's ID only (auto_seq
 * non-NULL), "<ms>-*", which sets *auto_seq. */
static bool parse_stream_id(const char *s, size_t len, bool *auto_seq)
{
    char buf[128];
    if (len > sizeof(buf) - 1) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if ((buf[0] == '-' || buf[0] == '+') && buf[1] == '\0') return false;
    char *dash = strchr(buf, '-');
    if (dash) *dash = '\0';
    if (!parse_ull(buf)) return false;
    if (!dash) return true;
    if (auto_seq && strcmp(dash + 1, "*") == 0) {
        *auto_seq = true;
        return true;
    }
    return parse_ull(dash + 1);
}

/* Where the parts of an XADD or XTRIM are, found as Redis's own parser walks the options. */
struct xargs {
    int id;     /* XADD: the ID argument (an explicit ID, "*" or "<ms>-*") */
    int approx; /* the "~" of approximate trimming; 0: exact or no trimming */
    int limit;  /* the "LIMIT" of "LIMIT count"; 0: none */
};

/* XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] <*|id> field value ...
 * XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
 * False where Redis would reply an error: such a command is left for Redis to reject. */
static bool parse_xargs(bool xadd, int argc, const char *const *argv, const size_t *argl,
                        struct xargs *x)
{
    bool trim = false;
    long long n;
    int i;

    memset(x, 0, sizeof(*x));
    for (i = 2; i < argc; i++) {
        int more = argc - 1 - i;
        const char *o = argv[i];
        size_t len = argl[i];
        if (xadd && is_opt(o, len, "*")) {
            break;
        } else if ((is_opt(o, len, "maxlen") || is_opt(o, len, "minid")) && more) {
            bool maxlen = is_opt(o, len, "maxlen");
            if (trim) return false;
            x->approx = 0;
            if (more >= 2 && is_opt(argv[i + 1], argl[i + 1], "~")) {
                x->approx = ++i;
            } else if (more >= 2 && is_opt(argv[i + 1], argl[i + 1], "=")) {
                i++;
            }
            i++;
            if (maxlen ? !resp_parse_ll(argv[i], argl[i], &n) || n < 0
                       : !parse_stream_id(argv[i], argl[i], NULL))
                return false;
            trim = true;
        } else if (is_opt(o, len, "limit") && more) {
            if (!resp_parse_ll(argv[i + 1], argl[i + 1], &n) || n < 0) return false;
            x->limit = i++;
        } else if (xadd && is_opt(o, len, "nomkstream")) {
        } else if (xadd) {
            bool auto_seq = false;
            if (!parse_stream_id(o, len, &auto_seq)) return false;
            break;
        } else {
            return false;
        }
    }
    if (x->limit && (!trim || !x->approx)) return false;
    if (!xadd) return trim;
    x->id = i;
    int pairs = argc - (i + 1);
    return i < argc && pairs >= 2 && pairs % 2 == 0;
}

/* The arguments of an XADD or XTRIM with its "~" trimming made exact: to `kept` entries
 * (MAXLEN = kept) when given, else to the threshold asked (= in place of ~, LIMIT dropped, which
 * Redis allows with ~ only); an XADD's ID replaced by `id` when given. */
static void exact_trim(struct args *a, int argc, const char *const *argv, const size_t *argl,
                       const struct xargs *x, const char *id, size_t idlen, const char *kept)
{
    for (int j = 0; j < argc; j++) {
        if (x->approx && j == x->approx - 1 && kept) {
            args_str(a, "MAXLEN");
        } else if (x->approx && j == x->approx) {
            args_str(a, "=");
        } else if (x->approx && j == x->approx + 1 && kept) {
            args_str(a, kept);
        } else if (x->limit && (j == x->limit || j == x->limit + 1)) {
            continue;
        } else if (id && j == x->id) {
            args_push(a, id, idlen);
        } else {
            args_push(a, argv[j], argl[j]);
        }
    }
}

enum rewrite_result rewrite_request(const struct command *cmd, int argc, const char *const *argv,
                                    const size_t *argl, long long now_ms, struct buffer *out)
{
    switch (cmd->rewrite) {
    case REWRITE_EXPIRE: return rewrite_expire(argc, argv, argl, 1000, now_ms, out);
    case REWRITE_PEXPIRE: return rewrite_expire(argc, argv, argl, 1, now_ms, out);
    case REWRITE_SETEX: return rewrite_setex(argc, argv, argl, 1000, now_ms, out);
    case REWRITE_PSETEX: return rewrite_setex(argc, argv, argl, 1, now_ms, out);
    case REWRITE_SET: return rewrite_set(false, argc, argv, argl, now_ms, out);
    case REWRITE_GETEX: return rewrite_set(true, argc, argv, argl, now_ms, out);
    case REWRITE_RESTORE: return rewrite_restore(argc, argv, argl, now_ms, out);
    default: return REWRITE_UNCHANGED;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Effects: what the primary's reply says happened, as a command for the secondary.
 * ------------------------------------------------------------------------------------------- */

static bool read_bulk(const char **p, size_t *left, const char **s, size_t *len)
{
    struct resp_value v;
    if (!resp_value_next(p, left, &v) || v.type != '$' || !v.str) return false;
    *s = v.str;
    *len = v.len;
    return true;
}

/* SPOP key [count] -> SREM key popped...: a bulk, or an array of bulks; nil or empty is nothing. */
static bool effect_spop(const char *key, size_t keylen, const char *reply, size_t len,
                        struct buffer *out)
{
    struct resp_value v;
    size_t n = resp_value_read(reply, len, &v);
    long long members;

    if (n == 0 || n > len) return false;
    if (v.type == '$' && v.str) {
        members = 1;
        n = 0; /* the bulk itself is the one member */
    } else if (v.type == '*' && v.integer > 0 && v.integer <= INT_MAX - 2) {
        members = v.integer;
    } else {
        return false;
    }

    const char *p = reply + n;
    size_t left = len - n;
    struct args a;
    args_init(&a, (int)members + 2);
    args_str(&a, "SREM");
    args_push(&a, key, keylen);
    for (long long i = 0; i < members; i++) {
        const char *s;
        size_t slen;
        if (!read_bulk(&p, &left, &s, &slen)) {
            args_free(&a);
            return false;
        }
        args_push(&a, s, slen);
    }
    args_emit(&a, out);
    return true;
}

/* The reply's bulk, as the primary formatted the number: the secondary stores the same bytes. */
static bool effect_float(enum command_rewrite rw, int argc, const char *const *argv,
                         const size_t *argl, const char *reply, size_t len, struct buffer *out)
{
    const char *v;
    size_t vlen;

    if (!read_bulk(&reply, &len, &v, &vlen)) return false; /* an error: nothing happened */
    if (rw == REWRITE_INCRBYFLOAT && argc >= 2) {
        /* KEEPTTL, as Redis's own replication of INCRBYFLOAT. */
        const char *out_argv[] = {"SET", argv[1], v, "KEEPTTL"};
        const size_t out_argl[] = {3, argl[1], vlen, 7};
        resp_append_command(out, 4, out_argv, out_argl);
        return true;
    }
    if (rw == REWRITE_HINCRBYFLOAT && argc >= 3) {
        const char *out_argv[] = {"HSET", argv[1], argv[2], v};
        const size_t out_argl[] = {4, argl[1], argl[2], vlen};
        resp_append_command(out, 4, out_argv, out_argl);
        return true;
    }
    return false;
}

/* The integer the probe (rewrite_probe) answered, as text: the entries the primary kept. */
static const char *kept_entries(const char *probe, size_t len, char *out, size_t outlen)
{
    struct resp_value v;
    if (!probe || !resp_value_next(&probe, &len, &v) || v.type != ':' || v.integer < 0) return NULL;
    snprintf(out, outlen, "%lld", v.integer);
    return out;
}

/* XADD -> the same XADD with the ID the primary chose in place of "*" or "<ms>-*", "~" trimming
 * made exact to the entries the primary kept: the same entries, the same stream. XTRIM with "~"
 * -> XTRIM key MAXLEN = <kept>. Without the probe's answer (its link went between the two
 * replies) the trim is exact to the threshold asked, which "~" allows. A nil reply (NOMKSTREAM,
 * no stream) or an error is nothing. */
static bool effect_stream(bool xadd, int argc, const char *const *argv, const size_t *argl,
                          const char *reply, size_t len, const char *probe, size_t probe_len,
                          struct buffer *out)
{
    const char *id = NULL;
    size_t idlen = 0;
    struct xargs x;
    struct resp_value v;
    char kept[24];

    if (xadd ? !read_bulk(&reply, &len, &id, &idlen)
             : !resp_value_next(&reply, &len, &v) || v.type != ':')
        return false;
    if (!parse_xargs(xadd, argc, argv, argl, &x)) return false;
    struct args a;
    args_init(&a, argc + 1);
    exact_trim(&a, argc, argv, argl, &x, id, idlen,
               kept_entries(probe, probe_len, kept, sizeof(kept)));
    args_emit(&a, out);
    return true;
}

/* XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID] -> [cursor, claimed, deleted].
 * Which entries were idle long enough is for the primary's clock to say; the secondary gets
 *     XCLAIM key group consumer 0 <claimed IDs> <deleted IDs> [JUSTID]
 * which claims the same entries (delivered once more unless JUSTID, as XAUTOCLAIM counts) and
 * drops the deleted ones from the pending list, as XCLAIM does for an ID gone from the stream. */
static bool effect_xautoclaim(int argc, const char *const *argv, const size_t *argl,
                              const char *reply, size_t len, struct buffer *out)
{
    struct resp_value v;
    long long claimed, deleted;
    bool justid = false;

    for (int j = 6; j < argc; j++) {
        if (is_opt(argv[j], argl[j], "count"))
            j++;
        else if (is_opt(argv[j], argl[j], "justid"))
            justid = true;
    }
    if (argc < 6 || !resp_value_next(&reply, &len, &v) || v.type != '*' || v.integer < 3 ||
        !resp_value_skip(&reply, &len)) /* the cursor */
        return false;
    const char *list = reply;
    size_t list_len = len;
    if (!resp_value_next(&reply, &len, &v) || v.type != '*' || v.integer < 0) return false;
    claimed = v.integer;
    for (long long i = 0; i < claimed; i++)
        if (!resp_value_skip(&reply, &len)) return false;
    if (!resp_value_next(&reply, &len, &v) || v.type != '*' || v.integer < 0) return false;
    deleted = v.integer;
    if (claimed + deleted == 0) return false; /* nothing happened */
    if (claimed + deleted > (long long)list_len || claimed + deleted > INT_MAX - 8) return false;

    struct args a;
    args_init(&a, 6 + (int)(claimed + deleted));
    args_str(&a, "XCLAIM");
    for (int j = 1; j <= 3; j++) args_push(&a, argv[j], argl[j]);
    args_str(&a, "0");
    resp_value_next(&list, &list_len, &v);
    for (long long i = 0; i < claimed + deleted; i++) {
        if (i == claimed) resp_value_next(&list, &list_len, &v); /* the deleted IDs */
        const char *id;
        size_t idlen;
        long long rest = 0; /* an entry is [id, [field, value, ...]] */
        if (i < claimed && !justid) {
            if (!resp_value_next(&list, &list_len, &v) || v.type != '*' || v.integer < 1) break;
            rest = v.integer - 1;
        }
        if (!read_bulk(&list, &list_len, &id, &idlen)) break;
        while (rest > 0 && resp_value_skip(&list, &list_len)) rest--;
        if (rest > 0) break;
        args_push(&a, id, idlen);
    }
    if (a.argc != 5 + (int)(claimed + deleted)) {
        args_free(&a);
        return false;
    }
    if (justid) args_str(&a, "JUSTID");
    args_emit(&a, out);
    return true;
}

/* A stream ID's value, strictly: "<ms>" (sequence 0) or "<ms>-<seq>". */
static bool stream_id_value(const char *s, size_t len, unsigned long long v[2])
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf) || !parse_stream_id(s, len, NULL)) return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    v[0] = strtoull(buf, &end, 10);
    v[1] = *end == '-' ? strtoull(end + 1, NULL, 10) : 0;
    return true;
}

/* The secondary's XCLAIM, in one script, as the backend links carry one command per effect:
 * the claimed IDs with min-idle 0 and the client's options; then the others with a min-idle no
 * entry reaches, which claims none of them but drops those gone from the stream from the pending
 * list, as the primary's XCLAIM did, and sets LASTID. A thousand IDs at a time: Lua's unpack()
 * takes some eight thousand values at most, and every option means the same for each ID. */
static const char xclaim_script[] =
    "local nc, nu, g, c, last = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5] "
    "local function claim(idle, from, to, extra) "
    "for s = from, to, 1000 do "
    "local a = {'XCLAIM', KEYS[1], g, c, idle} "
    "for i = s, math.min(s + 999, to) do a[#a + 1] = ARGV[i] end "
    "for _, v in ipairs(extra) do a[#a + 1] = v end "
    "redis.call(unpack(a)) end end "
    "local opts = {} for i = 6 + nc + nu, #ARGV do opts[#opts + 1] = ARGV[i] end "
    "claim('0', 6, 5 + nc, opts) "
    "claim('9223372036854775807', 6 + nc, 5 + nc + nu, last ~= '' and {'LASTID', last} or {}) "
    "return nc";

/* XCLAIM key group consumer min-idle id... [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID]
 * [LASTID id] -> the claimed entries (or IDs), in the order asked. Which were idle long enough
 * is for the primary's clock to say; every ID asked for that is gone from the stream leaves the
 * pending list whatever its idle time, which the secondary's data decides alike. */
static bool effect_xclaim(int argc, const char *const *argv, const size_t *argl, const char *reply,
                          size_t len, struct buffer *out)
{
    struct resp_value v;
    int ids_end = 5, opts;
    bool justid = false;
    const char *last = "";
    size_t lastlen = 0;
    unsigned long long want[2], got[2];

    while (ids_end < argc && parse_stream_id(argv[ids_end], argl[ids_end], NULL)) ids_end++;
    for (opts = ids_end; opts < argc; opts++) {
        if (is_opt(argv[opts], argl[opts], "justid")) justid = true;
        if (is_opt(argv[opts], argl[opts], "lastid") && opts + 1 < argc) {
            last = argv[opts + 1];
            lastlen = argl[opts + 1];
        }
    }
    if (argc < 6 || ids_end == 5 || !resp_value_next(&reply, &len, &v) || v.type != '*' ||
        v.integer < 0 || v.integer > ids_end - 5)
        return false;
    long long claimed = v.integer;

    char counts[2][24] = {"", ""}; /* filled in once known */
    struct args a;
    args_init(&a, 8 + 2 * argc);
    args_str(&a, "EVAL");
    args_str(&a, xclaim_script);
    args_str(&a, "1");
    args_push(&a, argv[1], argl[1]);
    args_str(&a, counts[0]);
    args_str(&a, counts[1]);
    args_push(&a, argv[2], argl[2]);
    args_push(&a, argv[3], argl[3]);
    args_push(&a, last, lastlen);
    /* The reply lists the claimed IDs in the order asked: a merge finds the others. */
    int *unclaimed = malloc(sizeof(*unclaimed) * (size_t)argc);
    int nu = 0, j = 5;
    if (!unclaimed) abort();
    for (long long i = 0; i < claimed; i++) {
        const char *id;
        size_t idlen;
        long long rest = 0; /* an entry is [id, [field, value, ...]] */
        if (!justid) {
            if (!resp_value_next(&reply, &len, &v) || v.type != '*' || v.integer < 1) break;
            rest = v.integer - 1;
        }
        if (!read_bulk(&reply, &len, &id, &idlen) || !stream_id_value(id, idlen, got)) break;
        while (rest > 0 && resp_value_skip(&reply, &len)) rest--;
        if (rest > 0) break;
        for (; j < ids_end; j++) {
            if (stream_id_value(argv[j], argl[j], want) && want[0] == got[0] && want[1] == got[1])
                break;
            unclaimed[nu++] = j;
        }
        if (j++ == ids_end) break; /* not one asked for */
        args_push(&a, id, idlen);
    }
    if (a.argc != 9 + claimed) {
        free(unclaimed);
        args_free(&a);
        return false;
    }
    for (; j < ids_end; j++) unclaimed[nu++] = j;
    for (int i = 0; i < nu; i++) args_push(&a, argv[unclaimed[i]], argl[unclaimed[i]]);
    free(unclaimed);
    for (int i = ids_end; i < argc; i++) args_push(&a, argv[i], argl[i]);
    snprintf(counts[0], sizeof(counts[0]), "%lld", claimed);
    snprintf(counts[1], sizeof(counts[1]), "%d", nu);
    a.argl[4] = strlen(counts[0]);
    a.argl[5] = strlen(counts[1]);
    args_emit(&a, out);
    return true;
}

bool rewrite_by_effect(const struct command *cmd, int argc, const char *const *argv,
                       const size_t *argl)
{
    struct xargs x;
    bool xadd = cmd->rewrite == REWRITE_XADD;
    if (!rewrite_needs_effect(cmd)) return false;
    if (!xadd && cmd->rewrite != REWRITE_XTRIM) return true;
    if (!parse_xargs(xadd, argc, argv, argl, &x)) return xadd; /* both refuse it alike */
    /* "~" cuts at whole nodes of each server's own radix tree, whose layout need not match;
     * "*" or "<ms>-*": the primary picks the ID. */
    return x.approx || (xadd && argv[x.id][argl[x.id] - 1] == '*');
}

/* The arguments of a request as it was sent, a multibulk, into `in` (they point into it);
 * args_free() it after. */
static bool sent_args(const char *request, size_t len, struct args *in)
{
    struct resp_request r;
    resp_request_init(&r, LLONG_MAX);
    bool ok = resp_request_parse(&r, request, len) == RESP_DONE;
    args_init(in, ok ? r.argc : 0);
    for (int i = 0; ok && i < r.argc; i++)
        args_push(in, resp_request_arg(&r, request, i), r.argv[i].len);
    resp_request_free(&r);
    return ok;
}

bool rewrite_probe(const struct command *cmd, const char *request, size_t len, struct buffer *out)
{
    struct args in;
    struct xargs x;
    bool xadd = cmd->rewrite == REWRITE_XADD, probe = false;
    if (!xadd && cmd->rewrite != REWRITE_XTRIM) return false;
    if (sent_args(request, len, &in) && parse_xargs(xadd, in.argc, in.argv, in.argl, &x) &&
        x.approx) {
        resp_append_command(out, 2, (const char *[]){"XLEN", in.argv[1]},
                            (const size_t[]){4, in.argl[1]});
        probe = true;
    }
    args_free(&in);
    return probe;
}

bool rewrite_effect(const struct command *cmd, const char *request, size_t request_len,
                    const char *reply, size_t reply_len, const char *probe, size_t probe_len,
                    struct buffer *out)
{
    struct args in;
    bool ok = false;

    if (!rewrite_needs_effect(cmd)) return false;
    if (!sent_args(request, request_len, &in))
        ok = false;
    else if (cmd->rewrite == REWRITE_SPOP)
        ok = in.argc >= 2 && effect_spop(in.argv[1], in.argl[1], reply, reply_len, out);
    else if (cmd->rewrite == REWRITE_XADD || cmd->rewrite == REWRITE_XTRIM)
        ok = effect_stream(cmd->rewrite == REWRITE_XADD, in.argc, in.argv, in.argl, reply,
                           reply_len, probe, probe_len, out);
    else if (cmd->rewrite == REWRITE_XAUTOCLAIM)
        ok = effect_xautoclaim(in.argc, in.argv, in.argl, reply, reply_len, out);
    else if (cmd->rewrite == REWRITE_XCLAIM)
        ok = effect_xclaim(in.argc, in.argv, in.argl, reply, reply_len, out);
    else
        ok = effect_float(cmd->rewrite, in.argc, in.argv, in.argl, reply, reply_len, out);
    args_free(&in);
    return ok;
}
