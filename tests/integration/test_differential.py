"""Differential test: one scripted session of supported commands, sent as raw RESP both to a
redis-server directly and through redpair (in front of a fresh, empty pair). Every reply must be
byte-identical; afterwards both backends hold identical data (and the same as the direct server).

Only commands whose replies are deterministic are used: nothing returns a relative TTL, a random
member, or the members of a hash-table-encoded set (whose order depends on the server's hash seed).

Run: /usr/bin/python3 tests/integration/test_differential.py   (REDPAIR_BIN=path/to/redpair)
"""

from harness import (
    RawConn,
    RedpairTestCase,
    assert_backends_equal,
    assert_datasets_equal,
    dataset_dump,
    main,
    resp_command,
)

FAR = 4102444800  # 2100-01-01, an absolute time that keeps replies deterministic

SCRIPT = [
    # connection
    ("PING",),
    ("PING", "hello"),
    ("ECHO", "echo me"),
    ("ECHO", ""),
    ("AUTH", "nopass"),  # no requirepass: Redis explains
    ("DBSIZE",),
    # strings
    ("SET", "s1", "hello"),
    ("GET", "s1"),
    ("APPEND", "s1", " world"),
    ("STRLEN", "s1"),
    ("GETRANGE", "s1", "0", "4"),
    ("SETRANGE", "s1", "6", "W"),
    ("GET", "s1"),
    ("MSET", "ma", "1", "mb", "2", "mc", "3"),
    ("MGET", "ma", "mb", "mc", "nokey"),
    ("MSETNX", "ma", "x", "md", "y"),
    ("MSETNX", "me", "x", "mf", "y"),
    ("SETNX", "ma", "x"),
    ("SETNX", "newk", "v"),
    ("GETSET", "newk", "w"),
    ("GETDEL", "newk"),
    ("GETDEL", "newk"),
    ("SET", "s2", "v", "NX"),
    ("SET", "s2", "v2", "NX"),
    ("SET", "s2", "v3", "XX", "GET"),
    ("SET", "nope", "v", "XX"),
    ("SET", "s2", "v", "NX", "XX"),
    ("SET", "s3", "v", "EX", "1000"),
    ("SET", "s3", "v", "PX", "1000000", "GET"),
    ("SET", "s4", "v", "EXAT", str(FAR)),
    ("EXPIRETIME", "s4"),
    ("SET", "s4", "w", "KEEPTTL"),
    ("EXPIRETIME", "s4"),
    ("SET", "s5", "v", "PXAT", str(FAR * 1000 + 123)),
    ("PEXPIRETIME", "s5"),
    ("SET", "bad", "v", "EX", "0"),
    ("SET", "bad", "v", "EX", "-5"),
    ("SET", "bad", "v", "EX", "abc"),
    ("SET", "bad", "v", "PX", "0"),
    ("SET", "bad", "v", "EX", "10", "PX", "10"),
    ("SET", "bad", "v", "EX"),
    ("SET", "bad", "v", "EX", "9223372036854775807"),
    ("SETEX", "bad", "0", "v"),
    ("SETEX", "bad", "-1", "v"),
    ("SETEX", "bad", "abc", "v"),
    ("PSETEX", "bad", "0", "v"),
    ("SETEX", "sx", "1000", "v"),
    ("PSETEX", "psx", "1000000", "v"),
    ("EXISTS", "bad"),
    ("GETEX", "s1"),
    ("GETEX", "s1", "EX", "1000"),
    ("GETEX", "s1", "PERSIST"),
    ("TTL", "s1"),
    ("GETEX", "s1", "EXAT", str(FAR)),
    ("EXPIRETIME", "s1"),
    ("GETEX", "s1", "EX", "0"),
    ("GETEX", "s1", "EX", "abc"),
    ("GETEX", "nokey", "EX", "100"),
    # TTL commands with deterministic replies
    ("TTL", "nokey"),
    ("PTTL", "ma"),
    ("EXPIRE", "ma", "1000"),
    ("EXPIRE", "ma", "1000", "NX"),
    ("EXPIRE", "ma", "2000", "GT"),
    ("EXPIRE", "ma", "10", "GT"),
    ("EXPIRE", "ma", "abc"),
    ("EXPIRE", "ma", "9223372036854775807"),
    ("EXPIRE", "nokey", "100"),
    ("PEXPIRE", "mb", "1000000"),
    ("PERSIST", "ma"),
    ("PERSIST", "ma"),
    ("TTL", "ma"),
    ("EXPIREAT", "mb", str(FAR)),
    ("EXPIRETIME", "mb"),
    ("PEXPIREAT", "mc", str(FAR * 1000 + 7)),
    ("PEXPIRETIME", "mc"),
    ("SET", "gone", "x"),
    ("EXPIRE", "gone", "-1"),
    ("EXISTS", "gone"),
    ("SET", "gone", "x"),
    ("PEXPIRE", "gone", "0"),
    ("EXISTS", "gone"),
    # counters
    ("INCR", "cnt"),
    ("INCRBY", "cnt", "41"),
    ("DECR", "cnt"),
    ("DECRBY", "cnt", "-10"),
    ("GET", "cnt"),
    ("INCR", "s1"),
    ("INCRBY", "cnt", "abc"),
    ("SET", "huge", "9223372036854775807"),
    ("INCR", "huge"),
    ("INCRBYFLOAT", "flt", "10.5"),
    ("INCRBYFLOAT", "flt", "0.1"),
    ("INCRBYFLOAT", "flt", "-5.0e3"),
    ("INCRBYFLOAT", "flt", "abc"),
    ("INCRBYFLOAT", "s1", "1"),
    ("INCRBYFLOAT", "cnt", "1.5"),
    ("GET", "flt"),
    ("SET", "big", "1.7e308"),
    ("INCRBYFLOAT", "big", "1.7e308"),
    # lists
    ("RPUSH", "l", "a", "b", "c"),
    ("LPUSH", "l", "z", "y"),
    ("LRANGE", "l", "0", "-1"),
    ("LLEN", "l"),
    ("LINDEX", "l", "2"),
    ("LINDEX", "l", "99"),
    ("LSET", "l", "0", "Y"),
    ("LSET", "l", "99", "x"),
    ("LINSERT", "l", "BEFORE", "b", "bb"),
    ("LINSERT", "l", "AFTER", "nothere", "x"),
    ("LPOS", "l", "b"),
    ("LREM", "l", "1", "a"),
    ("LPOP", "l"),
    ("RPOP", "l"),
    ("LPOP", "l", "2"),
    ("RPUSH", "l", "1", "2", "3", "4", "5"),
    ("LTRIM", "l", "1", "-2"),
    ("LRANGE", "l", "0", "-1"),
    ("RPOPLPUSH", "l", "l2"),
    ("LMOVE", "l", "l2", "LEFT", "RIGHT"),
    ("LRANGE", "l2", "0", "-1"),
    ("LPUSHX", "nolist", "x"),
    ("RPUSHX", "l2", "x"),
    ("LPOP", "nolist"),
    ("LPOP", "l2", "100"),
    ("EXISTS", "l2"),
    # hashes (small: listpack, ordered)
    ("HSET", "h", "f1", "v1", "f2", "v2"),
    ("HGET", "h", "f1"),
    ("HMGET", "h", "f1", "nof", "f2"),
    ("HSETNX", "h", "f1", "x"),
    ("HSETNX", "h", "f3", "v3"),
    ("HGETALL", "h"),
    ("HKEYS", "h"),
    ("HVALS", "h"),
    ("HLEN", "h"),
    ("HEXISTS", "h", "f2"),
    ("HSTRLEN", "h", "f1"),
    ("HDEL", "h", "f2", "nof"),
    ("HINCRBY", "h", "n", "5"),
    ("HINCRBY", "h", "f1", "1"),
    ("HINCRBYFLOAT", "h", "x", "2.5"),
    ("HINCRBYFLOAT", "h", "x", "0.25"),
    ("HINCRBYFLOAT", "h", "f1", "1"),
    ("HMSET", "h", "a", "1"),
    ("HGETALL", "h"),
    ("HGET", "nohash", "f"),
    # sets: members that are integers (intset: sorted, deterministic)
    ("SADD", "si", "5", "3", "9", "1"),
    ("SADD", "si", "3"),
    ("SMEMBERS", "si"),
    ("SCARD", "si"),
    ("SISMEMBER", "si", "9"),
    ("SMISMEMBER", "si", "1", "2", "3"),
    ("SREM", "si", "9", "8"),
    ("SADD", "sj", "3", "4", "5"),
    ("SINTER", "si", "sj"),
    ("SINTERCARD", "2", "si", "sj"),
    ("SUNIONSTORE", "su", "si", "sj"),
    ("SMEMBERS", "su"),
    ("SDIFFSTORE", "sd", "si", "sj"),
    ("SMEMBERS", "sd"),
    ("SMOVE", "si", "sj", "1"),
    ("SMEMBERS", "sj"),
    ("SPOP", "sd"),
    ("SADD", "sp", "7", "8"),
    ("SPOP", "sp", "5"),
    ("EXISTS", "sp"),
    ("SPOP", "nokey"),
    ("SADD", "strset", "apple"),
    ("SISMEMBER", "strset", "apple"),
    ("SPOP", "strset"),
    # sorted sets
    ("ZADD", "z", "1", "a", "2", "b", "3", "c"),
    ("ZADD", "z", "NX", "10", "a", "4", "d"),
    ("ZADD", "z", "XX", "CH", "5", "a"),
    ("ZADD", "z", "GT", "1", "b"),
    ("ZADD", "z", "INCR", "1.5", "b"),
    ("ZADD", "z", "abc", "x"),
    ("ZSCORE", "z", "b"),
    ("ZMSCORE", "z", "a", "nope"),
    ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
    ("ZREVRANGE", "z", "0", "1"),
    ("ZRANGEBYSCORE", "z", "(2", "+inf"),
    ("ZRANGE", "z", "[a", "[c", "BYLEX"),
    ("ZRANK", "z", "c"),
    ("ZREVRANK", "z", "c"),
    ("ZCARD", "z"),
    ("ZCOUNT", "z", "-inf", "3"),
    ("ZINCRBY", "z", "0.5", "c"),
    ("ZREM", "z", "d", "nope"),
    ("ZPOPMIN", "z"),
    ("ZPOPMAX", "z", "1"),
    ("ZADD", "z2", "1", "x", "2", "y"),
    ("ZUNIONSTORE", "zu", "2", "z", "z2", "WEIGHTS", "2", "3"),
    ("ZRANGE", "zu", "0", "-1", "WITHSCORES"),
    ("ZINTERSTORE", "zi", "2", "z", "z2"),
    ("ZRANGESTORE", "zr", "zu", "0", "1"),
    ("ZRANGE", "zr", "0", "-1", "WITHSCORES"),
    # bitmaps
    ("SETBIT", "bm", "7", "1"),
    ("SETBIT", "bm", "100", "1"),
    ("SETBIT", "bm", "7", "0"),
    ("GETBIT", "bm", "100"),
    ("GETBIT", "bm", "7"),
    ("BITCOUNT", "bm"),
    ("BITCOUNT", "bm", "0", "5"),
    ("BITPOS", "bm", "1"),
    ("SETBIT", "bm", "-1", "1"),
    ("SET", "bk1", "foobar"),
    ("SET", "bk2", "abcdef"),
    ("BITOP", "AND", "bkand", "bk1", "bk2"),
    ("BITOP", "OR", "bkor", "bk1", "bk2"),
    ("BITOP", "XOR", "bkxor", "bk1", "bk2"),
    ("BITOP", "NOT", "bknot", "bk1"),
    ("MGET", "bkand", "bkor", "bkxor", "bknot"),
    ("BITFIELD", "bf", "SET", "i8", "0", "100", "GET", "u4", "0"),
    ("BITFIELD", "bf", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100"),
    ("BITFIELD", "bf", "OVERFLOW", "WRAP", "INCRBY", "u8", "8", "300"),
    ("BITFIELD_RO", "bf", "GET", "i8", "0"),
    # hyperloglog
    ("PFADD", "hll", "a", "b", "c", "d"),
    ("PFADD", "hll", "a"),
    ("PFCOUNT", "hll"),
    ("PFADD", "hll2", "c", "d", "e"),
    ("PFMERGE", "hllm", "hll", "hll2"),
    ("PFCOUNT", "hllm"),
    ("PFCOUNT", "hll", "hll2"),
    ("PFADD", "s1", "x"),
    # keys
    ("TYPE", "s1"),
    ("TYPE", "l"),
    ("TYPE", "h"),
    ("TYPE", "si"),
    ("TYPE", "z"),
    ("TYPE", "nokey"),
    ("OBJECT", "ENCODING", "si"),
    ("OBJECT", "ENCODING", "h"),
    ("EXISTS", "s1", "s1", "nokey", "h"),
    ("RENAME", "s2", "s2r"),
    ("RENAME", "nokey", "x"),
    ("RENAMENX", "s2r", "s1"),
    ("RENAMENX", "s2r", "s2"),
    ("COPY", "h", "hcopy"),
    ("COPY", "h", "hcopy"),
    ("COPY", "h", "hcopy", "REPLACE"),
    ("COPY", "h", "hcopy", "DB", "2"),
    ("HGETALL", "hcopy"),
    ("TOUCH", "h", "nokey"),
    ("DEL", "hcopy", "nokey", "s2"),
    ("UNLINK", "l2", "su"),
    ("EXISTS", "hcopy", "s2"),
    ("DUMP", "nokey"),
    ("DUMP", "cnt"),
    ("RESTORE", "rst", "0", "not a dump payload"),
    # RESTORE with real payloads is appended by the test (the payload comes from the server).
    # errors
    ("GET", "l"),
    ("LPUSH", "s1", "x"),
    ("HGET", "s1", "f"),
    ("SADD", "z", "m"),
    ("ZADD", "h", "1", "m"),
    ("GET",),
    ("SET", "k"),
    ("HSET", "h", "f"),
    ("LPUSH", "l"),
    ("ZADD", "z", "1"),
    ("FOOBAR",),
    ("FOOBAR", "x", "y"),
    ("OBJECT", "NOSUCH"),
    ("LSET", "nokey", "0", "x"),
    ("SELECT", "99"),
    ("SELECT", "-1"),
    ("SELECT", "abc"),
    ("SELECT", "1", "2"),
    # other databases
    ("SELECT", "2"),
    ("HGETALL", "hcopy"),
    ("SET", "in2", "two"),
    ("DBSIZE",),
    ("FLUSHDB",),
    ("DBSIZE",),
    ("SET", "in2", "again"),
    ("SELECT", "3"),
    ("GET", "in2"),
    ("RPUSH", "l3", "x"),
    ("SELECT", "0"),
    ("GET", "in2"),
    ("COMMAND", "COUNT"),
    ("COMMAND", "INFO", "get", "set"),
    ("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"),
    ("DBSIZE",),
]

# Inline forms, sent after the multibulk script.
INLINE = [
    b"PING\r\n",
    b'SET inl "a b"\r\n',
    b"GET inl\r\n",
    b"incr inlc\r\n",
    b"get  inlc\r\n",
    b"nosuchcommand  x\r\n",
    b"GET\r\n",
]


def replay(d, p, script, inline=()):
    """Sends script (command tuples) to d (redis-server) and p (redpair), both RawConns: the first
    half one command at a time, the second half pipelined in one write, then the inline lines.
    Returns the replies that differ, as (command, redis-server's, redpair's)."""
    mismatches = []
    half = len(script) // 2
    for cmd in script[:half]:
        want = d.cmd(*cmd)
        got = p.cmd(*cmd)
        if got != want:
            mismatches.append((cmd, want, got))
    blob = b"".join(resp_command(*c) for c in script[half:])
    d.send(blob)
    p.send(blob)
    wants = d.read_replies(len(script) - half)
    gots = p.read_replies(len(script) - half)
    for cmd, want, got in zip(script[half:], wants, gots):
        if got != want:
            mismatches.append((cmd, want, got))
    for line in inline:
        d.send(line)
        p.send(line)
        want, got = d.read_reply(), p.read_reply()
        if got != want:
            mismatches.append((line, want, got))
    return mismatches


def describe(mismatches, total):
    return "%d of %d replies differ (command, redis-server, redpair):\n%s" % (
        len(mismatches),
        total,
        "\n".join("  %r\n     redis:   %r\n     redpair: %r" % (c, w[:300], g[:300]) for c, w, g in mismatches),
    )


class DifferentialTest(RedpairTestCase):
    def test_session_replies_identical(self):
        pair = self.start_pair()
        direct = self.start_redis()

        # A DUMP payload made by this very redis-server version, for RESTORE.
        with RawConn(direct.port) as d:
            d.cmd("SET", "tmp", "restored value")
            payload = d.cmd("DUMP", "tmp")
            d.cmd("DEL", "tmp")
        payload = payload.split(b"\r\n", 1)[1][:-2]
        script = list(SCRIPT) + [
            ("RESTORE", "rst", "0", payload),
            ("RESTORE", "rst", "0", payload),
            ("RESTORE", "rst", "0", payload, "REPLACE"),
            ("RESTORE", "rst2", "1000000", payload),
            ("RESTORE", "rst3", str(FAR * 1000), payload, "ABSTTL"),
            ("PEXPIRETIME", "rst3"),
            ("RESTORE", "rst4", "-5", payload),
            ("RESTORE", "rst4", "abc", payload),
            ("GET", "rst"),
            ("DBSIZE",),
        ]

        with RawConn(direct.port, timeout=10) as d, pair.raw(timeout=10) as p:
            mismatches = replay(d, p, script, INLINE)
            self.assertEqual(p.cmd("PING"), b"+PONG\r\n")
        if mismatches:
            self.fail(describe(mismatches, len(script) + len(INLINE)))

        pair.wait_caught_up()
        self.assertEqual(pair.info()["divergences"], 0)
        da, _ = assert_backends_equal(pair)
        # The direct server ran the same commands: it holds the same data (times within tolerance).
        assert_datasets_equal(dataset_dump(direct.client()), da, msg="direct redis-server vs backend a")


if __name__ == "__main__":
    main()
