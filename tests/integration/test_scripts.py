"""Scripts, functions and streams through redpair, against real redis-servers.

- Differential sessions (the same commands to a redis-server directly and through redpair, replies
  byte for byte): EVAL with keys and arguments, EVALSHA after SCRIPT LOAD, NOSCRIPT, EVAL_RO,
  a Lua library with FUNCTION LOAD, FCALL and FCALL_RO, FUNCTION DUMP/RESTORE/DELETE/FLUSH,
  XADD with explicit and automatic IDs, XRANGE, consumer groups (XGROUP, XREADGROUP without BLOCK,
  XACK, XPENDING, XINFO GROUPS, XSETID, XCLAIM, XAUTOCLAIM). Stream IDs made from a server's clock cannot match
  between two servers: they are masked before the comparison, so only their shape is compared.
- Afterwards both backends hold the same data: the same stream IDs, the same consumer groups and
  pending lists (all but the delivery times, each server's clock), the same functions.
- XCLAIM and XAUTOCLAIM follow what the primary took by its own clock, even where the secondary's
  clock would have taken something else.
- After the primary is killed, EVALSHA of a script loaded before and FCALL still work.
- A script that writes TIME is caught by the comparison of the two replies: INFO's divergences.

Run: /usr/bin/python3 tests/integration/test_scripts.py   (REDPAIR_BIN=path/to/redpair)
"""

import hashlib
import re

from harness import (
    RawConn,
    parse_resp,
    RedpairTestCase,
    assert_backends_equal,
    main,
    wait_until,
)
from test_differential import describe

HA_ARGS = ["--probe-interval-ms", "50", "--down-after-ms", "500"]

SET_SCRIPT = "return redis.call('SET', KEYS[1], ARGV[1])"
GET_SCRIPT = "return redis.call('GET', KEYS[1])"
GET_SHA = hashlib.sha1(GET_SCRIPT.encode()).hexdigest()

LIBRARY = """#!lua name=mylib
redis.register_function('myset', function(keys, args)
  return redis.call('SET', keys[1], args[1])
end)
redis.register_function{function_name='myget', flags={'no-writes'},
  callback=function(keys, args) return redis.call('GET', keys[1]) end}
redis.register_function('mypush', function(keys, args)
  return redis.call('RPUSH', keys[1], unpack(args))
end)
"""

SCRIPTS = [
    ("EVAL", SET_SCRIPT, "1", "k", "v"),
    ("EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", "2", "a", "b", "c", "d"),
    ("EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "n", "5"),
    ("EVAL", "return redis.call('INCR', KEYS[1])", "1", "k"),  # not an integer: an error
    ("EVAL", "return redis.error_reply('boom')", "0"),
    ("EVAL", "return redis.status_reply('fine')", "0"),
    ("EVAL", "return {1, 2.5, 'x', false, true}", "0"),
    ("EVAL", "this is not lua", "0"),
    ("EVAL", "return 1", "-1"),
    ("EVAL", "return 1", "3", "a"),
    ("EVAL", "return 1", "x"),
    ("EVAL", "local v = redis.call('HSET', KEYS[1], 'f', ARGV[1]) "
             "redis.call('PEXPIREAT', KEYS[1], 99999999999999) return v", "1", "h", "1"),
    ("EVAL", "redis.call('SELECT', 1) redis.call('SET', 'in1', 'x') return 1", "0"),
    ("SELECT", "1"),
    ("GET", "in1"),
    ("SELECT", "0"),
    ("SCRIPT", "LOAD", GET_SCRIPT),
    ("EVALSHA", GET_SHA, "1", "k"),
    ("EVALSHA", GET_SHA.upper(), "1", "k"),
    ("EVALSHA_RO", GET_SHA, "1", "k"),
    ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"),
    ("EVALSHA_RO", "ffffffffffffffffffffffffffffffffffffffff", "0"),
    ("SCRIPT", "EXISTS", GET_SHA, "ffffffffffffffffffffffffffffffffffffffff"),
    ("EVAL_RO", GET_SCRIPT, "1", "k"),
    ("EVAL_RO", SET_SCRIPT, "1", "k", "w"),  # a write from a read-only script: an error
    ("GET", "k"),
    ("SCRIPT", "FLUSH"),
    ("SCRIPT", "EXISTS", GET_SHA),
    ("EVALSHA", GET_SHA, "1", "k"),
    ("SCRIPT", "FLUSH", "SYNC"),
    ("SCRIPT", "FLUSH", "BOGUS"),
    ("SCRIPT", "HELP"),
    ("FUNCTION", "LOAD", LIBRARY),
    ("FUNCTION", "LOAD", LIBRARY),  # already there: an error
    ("FUNCTION", "LOAD", "REPLACE", LIBRARY),
    ("FUNCTION", "LOAD", "#!lua name=bad\nthis is not lua"),
    ("FCALL", "myset", "1", "fk", "fv"),
    ("FCALL", "mypush", "1", "fl", "a", "b", "c"),
    ("FCALL_RO", "myget", "1", "fk"),
    ("FCALL_RO", "myset", "1", "fk", "x"),  # not flagged no-writes: an error
    ("FCALL", "nosuch", "0"),
    ("FUNCTION", "LIST"),
    ("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "my"),
    ("FUNCTION", "STATS"),
    ("FUNCTION", "DELETE", "nosuch"),
    ("FUNCTION", "DELETE", "mylib"),
    ("FCALL", "myset", "1", "fk", "fv"),
    ("FUNCTION", "LIST"),
    ("FUNCTION", "LOAD", LIBRARY),
    ("FUNCTION", "FLUSH"),
    ("FUNCTION", "LIST"),
    ("LRANGE", "fl", "0", "-1"),
]

STREAMS = [
    ("XADD", "s", "1-1", "f", "v"),
    ("XADD", "s", "1-1", "f", "v"),  # not above the top: an error
    ("XADD", "s", "*", "f", "v", "g", "w"),
    ("XADD", "s", "*", "f", "v2"),
    ("XADD", "t", "5-*", "f", "v"),
    ("XADD", "t", "5-*", "f", "v"),
    ("XADD", "t", "6", "f", "v"),
    ("XADD", "t", "*", "f"),  # wrong number of arguments
    ("XADD", "t", "bad", "f", "v"),
    ("XADD", "missing", "NOMKSTREAM", "*", "f", "v"),
    ("EXISTS", "missing"),
    ("XADD", "t", "MAXLEN", "=", "2", "*", "f", "trimmed"),
    ("XADD", "t", "MAXLEN", "10", "LIMIT", "5", "*", "f", "v"),  # LIMIT without ~: an error
    ("XLEN", "s"),
    ("XLEN", "t"),
    ("XRANGE", "s", "-", "+"),
    ("XREVRANGE", "t", "+", "-", "COUNT", "1"),
    ("XTRIM", "s", "MAXLEN", "2"),
    ("XRANGE", "s", "-", "+"),
    ("XSETID", "t", "99999999999999-0"),
    ("XADD", "t", "*", "f", "after setid"),
    # Consumer groups, on a stream of explicit IDs.
    ("XADD", "cs", "1-1", "n", "1"),
    ("XADD", "cs", "2-1", "n", "2"),
    ("XADD", "cs", "3-1", "n", "3"),
    ("XADD", "cs", "4-1", "n", "4"),
    ("XGROUP", "CREATE", "cs", "g", "0"),
    ("XGROUP", "CREATE", "cs", "g", "0"),  # BUSYGROUP
    ("XGROUP", "CREATE", "cs", "late", "$"),
    ("XGROUP", "CREATE", "nostream", "g", "$", "MKSTREAM"),
    ("XREADGROUP", "GROUP", "g", "c1", "COUNT", "2", "STREAMS", "cs", ">"),
    ("XREADGROUP", "GROUP", "g", "c2", "COUNT", "1", "STREAMS", "cs", ">"),
    ("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "cs", "0"),
    ("XREADGROUP", "GROUP", "g", "c3", "NOACK", "STREAMS", "cs", ">"),
    ("XREADGROUP", "GROUP", "g", "c3", "STREAMS", "cs", ">"),
    ("XREADGROUP", "GROUP", "nosuch", "c1", "STREAMS", "cs", ">"),
    ("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "cs", "nostream", ">", ">"),
    ("XPENDING", "cs", "g"),
    ("XREAD", "COUNT", "2", "STREAMS", "cs", "nostream", "1-1", "0"),
    ("XREAD", "STREAMS", "cs", "$"),
    ("XACK", "cs", "g", "1-1", "9-9"),
    ("XPENDING", "cs", "g"),
    ("XINFO", "GROUPS", "cs"),
    ("XGROUP", "CREATECONSUMER", "cs", "g", "c4"),
    ("XGROUP", "DELCONSUMER", "cs", "g", "c2"),
    ("XGROUP", "SETID", "cs", "late", "2-1"),
    ("XREADGROUP", "GROUP", "late", "c1", "STREAMS", "cs", ">"),
    ("XGROUP", "DESTROY", "cs", "nosuch"),
    ("XINFO", "GROUPS", "cs"),
    ("XDEL", "cs", "4-1"),
    ("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "cs", "0"),
]

# Claims, on a stream of explicit IDs. An entry's idle time is each server's own clock's; IDLE
# sets it alike on both (to within the milliseconds between them), so that which entries a
# min-idle-time takes is the same answer here, while redpair mirrors whatever the primary took.
CLAIMS = [
    ("XADD", "cl", "1-1", "n", "1"),
    ("XADD", "cl", "2-1", "n", "2"),
    ("XADD", "cl", "3-1", "n", "3"),
    ("XADD", "cl", "4-1", "n", "4"),
    ("XADD", "cl", "5-1", "n", "5"),
    ("XGROUP", "CREATE", "cl", "g", "0"),
    ("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "cl", ">"),
    ("XCLAIM", "cl", "g", "c2", "0", "1-1", "2-1", "JUSTID"),
    ("XCLAIM", "cl", "g", "c2", "0", "3-1"),
    ("XCLAIM", "cl", "g", "c1", "0", "4-1", "IDLE", "3600000", "RETRYCOUNT", "7"),
    ("XCLAIM", "cl", "g", "c3", "1800000", "1-1", "4-1", "5-1"),  # 4-1 alone is that idle
    ("XCLAIM", "cl", "g", "c3", "0", "9-9"),  # not pending: nothing
    ("XCLAIM", "cl", "g", "c3", "0", "9-9", "FORCE"),  # not in the stream: nothing
    ("XCLAIM", "cl", "g", "c3", "0", "1-1", "LASTID", "7-0", "JUSTID"),
    ("XCLAIM", "cl", "g", "c3", "0", "nonsense"),
    ("XCLAIM", "cl", "nosuch", "c3", "0", "1-1"),
    ("XINFO", "GROUPS", "cl"),
    ("XDEL", "cl", "2-1", "5-1"),
    ("XCLAIM", "cl", "g", "c4", "3600000", "2-1", "3-1"),  # 2-1 is gone: dropped, 3-1 stays
    ("XPENDING", "cl", "g"),
    ("XCLAIM", "cl", "g", "c1", "0", "3-1", "IDLE", "7200000"),
    ("XAUTOCLAIM", "cl", "g", "c5", "3600000", "0"),  # 3-1 and 4-1; 5-1 is gone
    ("XAUTOCLAIM", "cl", "g", "c6", "0", "0", "COUNT", "1", "JUSTID"),
    ("XAUTOCLAIM", "cl", "g", "c6", "0", "0", "COUNT", "1", "JUSTID"),  # the same entry again
    ("XAUTOCLAIM", "cl", "g", "c7", "3600000", "0"),  # none that idle any more: nothing
    ("XAUTOCLAIM", "cl", "nosuch", "c7", "0", "0"),
    ("XPENDING", "cl", "g"),
    ("XINFO", "GROUPS", "cl"),
]

# An ID from a server's clock: milliseconds since 1970, thirteen digits for centuries yet.
CLOCK_ID = re.compile(rb"\b1\d{12}-\d+\b")


def masked(reply):
    """The reply with clock-made stream IDs replaced by one placeholder of the same length, so
    that RESP lengths still match."""
    return CLOCK_ID.sub(lambda m: b"X" * len(m.group(0)), reply)


def canonical(cmd, reply):
    """What is compared of a reply: FUNCTION LIST lists a library's functions in the order of a
    hash table seeded at random by each server, so there the lists are sorted first."""
    if cmd[:2] != ("FUNCTION", "LIST"):
        return masked(reply)

    def sort(v):
        return sorted((sort(x) for x in v), key=repr) if isinstance(v, list) else v

    return sort(parse_resp(reply))


class ScriptsTest(RedpairTestCase):
    def replay(self, pair, script):
        """Sends each command to a fresh redis-server and to redpair, in turn, and compares the
        replies (canonical())."""
        direct = self.start_redis()
        mismatches = []
        with RawConn(direct.port) as d, pair.raw() as p:
            for cmd in script:
                want, got = d.cmd(*cmd), p.cmd(*cmd)
                if canonical(cmd, got) != canonical(cmd, want):
                    mismatches.append((cmd, want, got))
        if mismatches:
            self.fail(describe(mismatches, len(script)))

    def test_script_and_function_session_identical(self):
        pair = self.start_pair()
        # A FUNCTION DUMP payload from this very redis-server version, for FUNCTION RESTORE.
        scratch = self.start_redis().client()
        scratch.execute_command("FUNCTION", "LOAD", LIBRARY)
        payload = scratch.execute_command("FUNCTION", "DUMP")
        restore = [
            ("FUNCTION", "RESTORE", payload),
            ("FUNCTION", "RESTORE", payload),  # the library exists: an error
            ("FUNCTION", "RESTORE", payload, "REPLACE"),
            ("FUNCTION", "DUMP"),
            ("FCALL", "myset", "1", "rk", "restored"),
            ("FCALL_RO", "myget", "1", "rk"),
            ("FUNCTION", "RESTORE", b"garbage"),
        ]
        self.replay(pair, SCRIPTS + restore)
        pair.wait_caught_up()
        da, _ = assert_backends_equal(pair)
        self.assertEqual(da[(0, b"rk")].value, b"restored")
        self.assertEqual(da[(1, b"in1")].value, b"x")
        self.assertEqual(pair.info()["divergences"], 0)

    def test_stream_session_identical(self):
        pair = self.start_pair()
        self.replay(pair, STREAMS)
        pair.wait_caught_up()
        da, db = assert_backends_equal(pair)
        # XADD * took the primary's ID on both servers.
        ids = [e[0] for e in pair.client().xrange("s")]
        self.assertEqual(len(ids), 2)
        self.assertTrue(all(CLOCK_ID.fullmatch(i) for i in ids), ids)
        for server in (pair.a, pair.b):
            self.assertEqual([e[0] for e in server.client().xrange("s")], ids)
        self.assertEqual(da[(0, b"s")][1], db[(0, b"s")][1])  # no groups: DUMP byte for byte
        # Acknowledged 1-1, and 3-1 went with consumer c2: 2-1 alone is pending, with c1, which
        # was handed it once and read it twice from its history.
        group = da[(0, b"cs")].value["groups"][0]
        self.assertEqual(group["pel-count"], 1)
        self.assertEqual(group["pending"], [[b"2-1", b"c1", 3]])
        self.assertEqual(pair.info()["divergences"], 0)

    def test_claims_session_identical(self):
        pair = self.start_pair()
        self.replay(pair, CLAIMS)
        pair.wait_caught_up()
        da, _ = assert_backends_equal(pair)
        group = da[(0, b"cl")].value["groups"][0]
        # 1-1 taken twice by c6's XAUTOCLAIM JUSTID, which counts no delivery, 3-1 by c5's (idle two hours), 4-1 by c3's XCLAIM.
        self.assertEqual(group["pending"], [[b"1-1", b"c6", 1], [b"3-1", b"c5", 4], [b"4-1", b"c3", 8]])
        self.assertEqual(group["last-delivered-id"], b"7-0")
        self.assertEqual(pair.info()["divergences"], 0)

    def test_claims_follow_the_primary(self):
        """Each server's clock decides idle times: a claim the primary makes by its own clock is
        what the secondary gets, whatever its clock says."""
        pair = self.start_pair()
        r = pair.client()
        r.xadd("s", {"n": 1}, id="1-1")
        r.xadd("s", {"n": 2}, id="2-1")
        r.xgroup_create("s", "g", "0")
        r.xreadgroup("g", "c1", {"s": ">"})
        pair.wait_caught_up()
        # Make 1-1 idle on the primary alone: the secondary would claim nothing by its clock.
        pair.a.client().xclaim("s", "g", "c1", 0, ["1-1"], idle=3600000, justid=True)
        self.assertEqual(r.xclaim("s", "g", "c2", 1800000, ["1-1", "2-1"], justid=True), [b"1-1"])
        self.assertEqual(r.xautoclaim("s", "g", "c3", 1800000, justid=True), [])
        pair.a.client().xclaim("s", "g", "c1", 0, ["2-1"], idle=3600000, justid=True)
        self.assertEqual(r.xautoclaim("s", "g", "c3", 1800000, justid=True), [b"2-1"])
        pair.wait_caught_up()
        for server in (pair.a, pair.b):
            pending = server.client().xpending_range("s", "g", "-", "+", 10)
            self.assertEqual([(p["message_id"], p["consumer"]) for p in pending],
                             [(b"1-1", b"c2"), (b"2-1", b"c3")], server.port)
        assert_backends_equal(pair)

    def test_claims_of_many_ids(self):
        """More IDs than one Lua unpack() takes: the secondary's script claims them in slices."""
        pair = self.start_pair()
        r = pair.client()
        n = 9000
        pipe = r.pipeline(transaction=False)
        for i in range(1, n + 1):
            pipe.xadd("big", {"i": i}, id="%d-1" % i)
        pipe.execute()
        r.xgroup_create("big", "g", "0")
        self.assertEqual(len(r.xreadgroup("g", "c1", {"big": ">"})[0][1]), n)
        r.xdel("big", *["%d-1" % i for i in range(1, n + 1, 2)])  # every other one gone
        ids = ["%d-1" % i for i in range(1, n + 1)]
        # None idle enough: the gone ones leave the pending list, the others stay with c1.
        self.assertEqual(r.xclaim("big", "g", "c2", 3600000, ids, justid=True), [])
        self.assertEqual(r.xpending("big", "g")["pending"], n // 2)
        # All claimed by c3, in slices on the secondary.
        self.assertEqual(len(r.xclaim("big", "g", "c3", 0, ids[1::2], justid=True)), n // 2)
        pair.wait_caught_up()
        for server in (pair.a, pair.b):
            summary = server.client().xpending("big", "g")
            self.assertEqual(summary["pending"], n // 2, server.port)
            self.assertEqual(summary["consumers"], [{"name": b"c3", "pending": n // 2}], server.port)
        assert_backends_equal(pair)

    def test_xadd_pipelined_and_trimmed(self):
        """Many XADD * in one pipeline: each secondary copy waits for the primary's ID, and writes
        sequenced behind them keep their order. Approximate trimming keeps what Redis keeps, the
        same entries on both servers."""
        pair = self.start_pair()
        direct = self.start_redis()

        def run(r):
            pipe = r.pipeline(transaction=False)
            for i in range(300):
                pipe.xadd("p", {"i": i})
                pipe.xadd("q", {"i": i}, maxlen=50, approximate=True)
                pipe.rpush("order", i)
            replies = pipe.execute()
            self.assertEqual(replies[2::3], list(range(1, 301)))
            return (r.xlen("q"), r.execute_command("XTRIM", "p", "MAXLEN", "~", "10", "LIMIT", "5"),
                    r.execute_command("XTRIM", "p", "MAXLEN", "~", "10"), r.xlen("p"))

        self.assertEqual(run(pair.client()), run(direct.client()))
        pair.wait_caught_up()
        assert_backends_equal(pair)
        self.assertEqual(pair.info()["divergences"], 0)

    def test_refusals(self):
        pair = self.start_pair()
        with pair.raw() as p:
            reply = p.cmd("SCRIPT", "DEBUG", "YES")
            self.assertTrue(reply.startswith(b"-ERR SCRIPT DEBUG is not available through redpair"),
                            reply)
            # No script runs: each server says so (test_admin kills running ones).
            self.assertEqual(p.cmd("SCRIPT", "KILL"), b"-NOTBUSY No scripts in execution right now.\r\n")
            self.assertEqual(p.cmd("PING"), b"+PONG\r\n")
        self.assertEqual(pair.info()["stream_offset"], 0)  # nothing reached the stream

    def test_scripts_and_functions_survive_failover(self):
        pair = self.start_pair(extra=HA_ARGS)
        r = pair.client()
        sha = r.script_load(GET_SCRIPT)
        self.assertEqual(sha, GET_SHA)
        r.execute_command("FUNCTION", "LOAD", LIBRARY)
        r.set("k", "before")
        self.assertEqual(r.evalsha(sha, 1, "k"), b"before")
        pair.wait_caught_up()

        pair.a.kill()
        wait_until(lambda: pair.info()["primary"] == "b", what="backend b primary")
        r = pair.client()
        self.assertEqual(r.evalsha(sha, 1, "k"), b"before")
        self.assertEqual(r.execute_command("FCALL", "myset", "1", "k", "after"), b"OK")
        self.assertEqual(r.execute_command("FCALL_RO", "myget", "1", "k"), b"after")
        self.assertEqual(r.execute_command("EVALSHA_RO", sha, "1", "k"), b"after")
        self.assertEqual(pair.b.client().get("k"), b"after")

    def test_nondeterministic_script_is_a_divergence(self):
        pair = self.start_pair()
        r = pair.client()
        # Each server writes its own clock; the replies differ, and so does the data.
        script = ("local t = redis.call('TIME') local v = t[1] .. '.' .. t[2] "
                  "redis.call('SET', KEYS[1], v) return v")
        before = pair.info()["divergences"]
        for _ in range(3):  # the microseconds of two servers match once in a blue moon at most
            r.eval(script, 1, "clock")
            if pair.info()["divergences"] > before:
                break
        wait_until(lambda: pair.info()["divergences"] > before, timeout=5, what="a divergence")
        # The secondary is copied again from the primary: the primary's clock on both.
        pair.wait_in_sync(timeout=30)
        pair.wait_caught_up()
        self.assertEqual(pair.a.client().get("clock"), pair.b.client().get("clock"))
        # A deterministic script that follows is no divergence.
        after = pair.info()["divergences"]
        self.assertEqual(r.eval(SET_SCRIPT, 1, "clock", "fixed"), b"OK")
        pair.wait_caught_up()
        self.assertEqual(pair.info()["divergences"], after)
        assert_backends_equal(pair)

if __name__ == "__main__":
    main()
