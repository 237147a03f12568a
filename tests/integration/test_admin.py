"""Redis administration through the pair, held to a redis-server run directly: the same sessions
sent to both must get byte-identical replies (sessions.py), and the servers behind redpair must
end equal. CONFIG GET and SET and their refusals; a setting surviving a failover and a full resync;
keyspace notifications, exactly once, across a failover; SAVE, BGSAVE, LASTSAVE; CLIENT REPLY
SKIP in a pipeline; CLIENT PAUSE; MONITOR's lines; SCRIPT KILL and FUNCTION KILL of a busy script
on both servers; "~" trimming with both servers compared; a reply nested 8000 deep; INFO's
statistics; SLOWLOG and LATENCY, labelled; DEBUG and OBJECT; and redis-cli's --stat, --bigkeys and
--latency through redpair.

Run: /usr/bin/python3 tests/integration/test_admin.py   (REDPAIR_BIN=path/to/redpair)
"""

import re
import subprocess

from harness import (
    REDIS_CLI,
    RawConn,
    RedisServer,
    assert_backends_equal,
    dataset_dump,
    info_raw,
    main,
    parse_resp,
    resp_command,
    wait_until,
)
from sessions import SessionTestCase, describe, run_both, W

HA_ARGS = ["--probe-interval-ms", "20", "--down-after-ms", "300"]

# Settings both a direct redis-server and the pair's start with alike (harness.RedisServer).
SETTINGS = ["maxmemory", "maxmemory-policy", "hash-max-listpack-entries", "set-max-intset-entries",
            "notify-keyspace-events", "appendonly", "save", "databases", "busy-reply-threshold",
            "slowlog-log-slower-than", "latency-monitor-threshold", "MAXMEMORY", "nosuchsetting"]
# A pattern's matches come in the order of each server's own hash table: compared as a map.
PATTERNS = ["maxmemory-*", "list-max-*", "*max*-entries", "port", "*pass*", "bind"]

CONFIG = [(0, ("CONFIG", "GET", s)) for s in SETTINGS] + [
    (0, ("CONFIG", "SET", "maxmemory", "100mb")),
    (0, ("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")),
    (0, ("CONFIG", "SET", "hash-max-listpack-entries", "64", "hash-max-listpack-value", "32")),
    (0, ("CONFIG", "SET", "Set-Max-Intset-Entries", "256")),
    (0, ("CONFIG", "SET", "notify-keyspace-events", "Kx")),
    (0, ("CONFIG", "SET", "hash-max-ziplist-entries", "100")),  # an alias
    # Redis's own errors, from both servers
    (0, ("CONFIG", "SET", "nosuch", "1")),
    (0, ("CONFIG", "SET", "maxmemory", "abc")),
    (0, ("CONFIG", "SET", "daemonize", "yes")),
    (0, ("CONFIG", "SET", "maxmemory", "1", "maxmemory", "2")),
    (0, ("CONFIG", "SET", "maxmemory", "1", "x")),
    (0, ("CONFIG", "SET", "maxmemory")),
    (0, ("CONFIG", "GET")),
    (0, ("CONFIG", "FOO")),
    (0, ("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu", "maxmemory", "x")),  # all or nothing
    ("pipe", 1, [("CONFIG", "GET", s) for s in SETTINGS]),
    (0, ("CONFIG", "RESETSTAT")),
    (0, ("CONFIG", "REWRITE")),  # neither has a file to write
    (0, ("CONFIG", "HELP")),
    # in a transaction, and a command Redis never runs in one
    ("pipe", 2, [("MULTI",), ("CONFIG", "SET", "maxmemory", "200mb"), ("CONFIG", "GET", "maxmemory"),
                 ("EXEC",)]),
    ("pipe", 2, [("MULTI",), ("SAVE",), ("EXEC",)]),
    (0, ("CONFIG", "SET", "maxmemory", "0")),
    (W, ("SET", "k", "v")),
]

# Persistence on every server, and what does not change with time or with the pair.
PERSISTENCE = [
    (0, ("SET", "p", "1")),
    (0, ("SAVE",)),
    (0, ("SAVE", "x")),
    (0, ("BGSAVE", "x")),
    (0, ("LASTSAVE", "x")),
    (0, ("MEMORY", "PURGE")),
    (0, ("MODULE", "LIST")),
    (0, ("CLUSTER", "INFO")),
    (0, ("OBJECT", "FREQ", "p")),
    (0, ("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")),
    (0, ("SET", "lfu", "v")),  # not a shared integer, whose counter every key holding it moves
    (0, ("OBJECT", "FREQ", "lfu")),
    (0, ("GET", "lfu")),
    (0, ("OBJECT", "FREQ", "lfu")),
    (0, ("OBJECT", "IDLETIME", "lfu")),
    (0, ("CONFIG", "SET", "maxmemory-policy", "noeviction")),
    (0, ("DEBUG", "DIGEST-VALUE", "p", "lfu", "none")),
    (0, ("DEBUG", "PROTOCOL", "integer")),
    (0, ("DEBUG", "PROTOCOL", "array")),
    (0, ("DEBUG", "ERROR", "made up")),
    (0, ("DEBUG", "HELP")),
]

# CLIENT PAUSE: redpair holds its own clients as Redis holds its.
PAUSE = [
    (0, ("SET", "p", "0")),
    (0, ("CLIENT", "PAUSE", "100000", "WRITE")),
    ("block", 1, ("SET", "p", "1")),
    (2, ("GET", "p")),  # reads go on
    (2, ("EVAL_RO", "return redis.call('get', KEYS[1])", "1", "p")),
    ("block", 3, ("PFCOUNT", "h")),  # may write or replicate, so held
    ("block", 2, ("PUBLISH", "c", "m")),
    (0, ("CLIENT", "UNPAUSE")),
    ("wake", 1),
    ("wake", 3),
    ("wake", 2),
    (2, ("GET", "p")),
    # a write queued in MULTI is held as it comes, as in Redis 7.0
    (0, ("CLIENT", "PAUSE", "100000", "WRITE")),
    (2, ("MULTI",)),
    ("block", 2, ("INCR", "p")),
    (0, ("CLIENT", "UNPAUSE")),
    ("wake", 2),
    (2, ("EXEC",)),
    # ALL holds everyone, the pausing client too, until the timeout
    (0, ("CLIENT", "PAUSE", "1500", "ALL")),
    ("block", 1, ("GET", "p")),
    ("block", 0, ("CLIENT", "UNPAUSE")),
    ("wake", 1),
    ("wake", 0),
    # a later pause sets the mode, and moves the end only later: held past the 10 ms
    (0, ("CLIENT", "PAUSE", "1500", "WRITE")),
    (0, ("CLIENT", "PAUSE", "10", "ALL")),
    ("block", 1, ("GET", "p")),
    ("wake", 1),
    (0, ("CLIENT", "PAUSE", "x")),
    (0, ("CLIENT", "PAUSE", "-1")),
    (0, ("CLIENT", "PAUSE", "10", "FOO")),
    (0, ("CLIENT", "PAUSE", "10", "WRITE", "X")),
    (0, ("CLIENT", "UNPAUSE", "x")),
    (0, ("CLIENT", "PAUSE", "0")),
]

# Scripts that hold a server busy: killed on both, on connections of their own.
LIBRARY = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)"
KILL = [
    (0, ("CONFIG", "SET", "busy-reply-threshold", "50")),
    (0, ("SCRIPT", "KILL")),
    (0, ("FUNCTION", "KILL")),
    (0, ("FUNCTION", "LOAD", LIBRARY)),
    ("send", 1, ("EVAL", "while true do end", "0")),
    ("busy", 0),
    (0, ("FUNCTION", "STATS")),  # Redis's answer while an EVAL runs
    (0, ("FUNCTION", "KILL")),
    (0, ("SCRIPT", "KILL")),
    ("read", 1),
    (0, ("SCRIPT", "KILL")),
    ("send", 1, ("FCALL", "spin", "0")),
    ("busy", 0),
    (0, ("SCRIPT", "KILL")),
    (0, ("FUNCTION", "KILL")),
    ("read", 1),
    (1, ("SET", "after", "1")),
    # a script that wrote cannot be killed: it is left to end by itself
    (0, ("EVAL", "redis.call('set', 'w', 1) local i = 0 while i < 3000000 do i = i + 1 end "
                 "return i", "0")),
    (0, ("GET", "w")),
]

# Approximate trimming: Redis's own answers, the same entries on both servers.
TRIM = [(W, ("XADD", "s", "MAXLEN", "~", "100", "%d-1" % i, "f", "v%d" % i)) for i in range(1, 801)] + [
    (W, ("XLEN", "s")),
    (W, ("XRANGE", "s", "-", "+", "COUNT", "1")),
    (W, ("XADD", "s", "MINID", "~", "790", "LIMIT", "50", "*", "f", "v")),
    (W, ("XLEN", "s")),
    (W, ("XTRIM", "s", "MAXLEN", "~", "40")),
    (W, ("XLEN", "s")),
    (W, ("XTRIM", "s", "MINID", "~", "795-0", "LIMIT", "100")),
    (W, ("XTRIM", "s", "MAXLEN", "=", "30")),
    (W, ("XTRIM", "s", "MAXLEN", "~", "-1")),
    (W, ("XADD", "s", "MAXLEN", "~", "x", "*", "f", "v")),
    (W, ("XADD", "missing", "NOMKSTREAM", "MAXLEN", "~", "1", "*", "f", "v")),
    (W, ("SET", "str", "x")),
    (W, ("XTRIM", "str", "MAXLEN", "~", "1")),
    ("pipe", W, [("MULTI",), ("XADD", "t", "MAXLEN", "~", "5", "1-1", "f", "v"),
                 ("XTRIM", "t", "MAXLEN", "~", "0"), ("XLEN", "t"), ("EXEC",)]),
    (W, ("XLEN", "s")),
    (W, ("XLEN", "t")),
]
# XADD * picks its IDs from each server's clock: compare their number, not their values.
TRIM_IDS = re.compile(rb"\$\d+\r\n\d+-\d+\r\n")

# A Lua table holding itself: each server answers it nested some 8000 arrays deep.
NESTED = [
    (0, ("EVAL", "local a = {}; local b = {a}; a[1] = b; return a", "0")),
    (0, ("EVAL", "local a = {}; local b = {a, 1}; a[1] = b; a[2] = 2; return a", "0")),
    (0, ("EVAL_RO", "local a = {}; local b = {a}; a[1] = b; return a", "0")),
    (0, ("PING",)),
    (W, ("SET", "after", "1")),
]


def busy(conn, timeout=10.0):
    """Until conn's FUNCTION STATS says a script keeps the server busy (the EVAL has started)."""
    def started():
        reply = conn.cmd("FUNCTION", "STATS")
        return reply.startswith(b"-BUSY") or b"running_script\r\n*" in reply
    wait_until(started, timeout=timeout, what="the script running")


def run_with_busy(port, steps):
    """sessions.run_session, with ("busy", i): client i waits until a script runs."""
    conns = [RawConn(port, timeout=10) for _ in range(2)]
    seen = []
    try:
        for step in steps:
            if step[0] == "busy":
                busy(conns[step[1]])
                seen.append((step, b"busy"))
            elif step[0] == "send":
                conns[step[1]].send(resp_command(*step[2]))
                seen.append((step, b"sent"))
            elif step[0] == "read":
                seen.append((step, conns[step[1]].read_reply()))
            else:
                seen.append((step, conns[step[0]].cmd(*step[1])))
    finally:
        for c in conns:
            c.close()
    return seen


def pipeline_replies(port, cmds):
    """Sends cmds in one write and returns every byte that comes back, up to the ECHO that ends
    them (CLIENT REPLY drops replies: how many come is the point)."""
    with RawConn(port) as c:
        c.send(b"".join(resp_command(*cmd) for cmd in cmds) + resp_command("ECHO", "end"))
        replies = []
        while True:
            replies.append(c.read_reply())
            if replies[-1] == b"$3\r\nend\r\n":
                return replies


REPLY_SKIP = [("SET", "a", "1"), ("CLIENT", "REPLY", "SKIP"), ("SET", "b", "2"), ("GET", "a"),
              ("CLIENT", "REPLY", "OFF"), ("GET", "a"), ("NOSUCH",), ("SET", "c", "3"),
              ("CLIENT", "REPLY", "ON"), ("GET", "b"), ("CLIENT", "REPLY", "SKIP"), ("NOSUCH",),
              ("GET", "a"), ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "SKIP"), ("GET", "a"),
              ("GET", "b"), ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "ON"), ("GET", "c"),
              ("CLIENT", "REPLY", "SKIP"), ("MULTI",), ("INCR", "n"), ("EXEC",),
              ("CLIENT", "REPLY", "OFF"), ("RESET",), ("CLIENT", "REPLY", "BAD"),
              ("CLIENT", "REPLY")]

MONITORED = [("SET", "k", "v"), ("set", "k2", 'a b"c\n\x01\\'), ("SELECT", "1"), ("GET", "k"),
             ("SELECT", "0"), ("AUTH", "x"), ("AUTH", "u", "p"), ("HELLO", "2", "AUTH", "default", "pw"),
             ("CONFIG", "GET", "maxmemory"), ("SAVE",), ("MULTI",), ("SET", "x", "1"), ("INCR", "x"),
             ("EXEC",), ("MULTI",), ("NOSUCH",), ("DISCARD",), ("NOSUCH",), ("GET",), ("PING",),
             ("CLIENT", "ID"), ("CLIENT", "LIST"), ("BLPOP", "nol", "0.01"), ("DEBUG", "HELP"),
             ("SCRIPT", "LOAD", "return 1"), ("SUBSCRIBE", "ch"), ("QUIT",)]


def monitor_lines(port):
    """What MONITOR shows of MONITORED from another client, time and address left out; then what
    the monitoring client itself may and may not do."""
    with RawConn(port) as m, RawConn(port) as a:
        out = [m.cmd("MONITOR")]
        for cmd in MONITORED:
            a.cmd(*cmd)
        a.close()
        m.send(resp_command("ECHO", "end"))  # a monitor may still talk: its line ends the list
        while True:
            line = m.read_reply()
            out.append(re.sub(rb"^\+\d+\.\d{6} \[(\d+) [0-9.:]+\]", rb"[\1 addr]", line))
            if line.endswith(b'"ECHO" "end"\r\n'):
                break
        out.append(m.cmd("GET", "k"))
        out.append(m.cmd("SET", "k", "v"))
        m.send(resp_command("MONITOR") + resp_command("RESET"))  # no reply to the first
        out.append(m.read_reply())
        out.append(m.cmd("GET", "k"))
        return out


class AdminTest(SessionTestCase):
    def assert_same(self, want, got, what):
        diffs = describe(want, got)
        self.assertFalse(diffs, "%s: %d steps differ (step, redis-server, redpair):\n%s"
                         % (what, len(diffs), "\n".join(diffs)))

    def identical(self, steps, redis_args=()):
        """assert_session_identical, on servers started with redis_args; (pair, direct)."""
        direct = self.start_redis(extra_args=redis_args)
        pair = self.start_pair(redis_args=redis_args)
        want, got = run_both(direct.port, pair.port, steps)
        self.assert_same(want, got, "session")
        self.assert_pair_consistent(pair, direct)
        return pair, direct

    def test_config_get_set(self):
        pair, direct = self.identical(CONFIG)
        for server in (pair.a, pair.b):
            got = server.client().config_get("*max*-entries")
            self.assertEqual((got["hash-max-listpack-entries"], got["set-max-intset-entries"]),
                             ("100", "256"))
            self.assertEqual(server.client().config_get("maxmemory-policy")["maxmemory-policy"],
                             "allkeys-lru")
        with RawConn(direct.port) as d, pair.raw() as p:
            for pattern in PATTERNS:
                want, got = (parse_resp(c.cmd("CONFIG", "GET", pattern)) for c in (d, p))
                want, got = dict(zip(want[::2], want[1::2])), dict(zip(got[::2], got[1::2]))
                if b"port" in want:  # the port a client of redpair connects to
                    want[b"port"] = str(pair.port).encode()
                self.assertEqual(got, want, pattern)

    def test_config_refusals(self):
        pair = self.start_pair()
        why = {
            "port": "each server listens where redpair's links reach it (redpair's own is its port)",
            "BIND": "each server listens where redpair's links reach it (redpair's own is its bind)",
            "dir": "each server has its own files",
            "dbfilename": "each server has its own files",
            "requirepass": "the servers' password is redpair's backend-password, its clients' is "
                           "redpair's requirepass (PATCH /api/v1/config)",
            "masterauth": "redpair sets it from backend-password when it copies a server",
            "replicaof": "redpair manages the servers' roles",
            "timeout": "the servers would close redpair's idle links (redpair's clients have none)",
            "client-output-buffer-limit": "it limits redpair's links to the servers (redpair's own "
                                          "is its client-output-buffer-limit)",
            "min-replicas-to-write": "the servers have no replicas: they would refuse redpair's "
                                     "writes",
            "tls-cert-file": "each server has its own certificates",
        }
        with pair.raw() as p:
            for name, reason in why.items():
                self.assertEqual(
                    p.cmd("CONFIG", "SET", "maxmemory", "5mb", name, "1"),
                    ("-ERR CONFIG SET failed (possibly related to argument '%s') - not through "
                     "redpair: %s\r\n" % (name, reason)).encode(), name)
            # The settings of the connection a client has are redpair's.
            self.assertEqual(parse_resp(p.cmd("CONFIG", "GET", "port")), [b"port", str(pair.port).encode()])
            self.assertEqual(parse_resp(p.cmd("CONFIG", "GET", "bind")), [b"bind", b"127.0.0.1"])
            self.assertEqual(parse_resp(p.cmd("CONFIG", "GET", "requirepass")), [b"requirepass", b""])
        for server in (pair.a, pair.b):  # all or nothing: maxmemory went nowhere
            self.assertEqual(server.client().config_get("maxmemory"), {"maxmemory": "0"})

    def test_config_set_survives_failover_and_resync(self):
        pair = self.start_pair(extra=HA_ARGS)
        r = pair.client()
        r.config_set("maxmemory-policy", "allkeys-lfu")
        r.config_set("hash-max-listpack-entries", "77")
        r.set("k", "v")
        pair.a.kill()
        wait_until(lambda: pair.info()["primary"] == "b", timeout=10, what="b primary")
        self.assertEqual(r.config_get("maxmemory-policy"), {"maxmemory-policy": "allkeys-lfu"})
        r.config_set("maxmemory-policy", "volatile-ttl")  # while a is away
        old, pair.a = pair.a, None
        old.cleanup()
        pair.a = RedisServer(port=old.port)  # back empty, with its defaults
        pair.wait_in_sync(timeout=20)
        got = pair.a.client().config_get("*")
        self.assertEqual((got["maxmemory-policy"], got["hash-max-listpack-entries"]),
                         ("volatile-ttl", "77"))
        # And the other way round: b restarted, a primary again.
        old, pair.b = pair.b, None
        old.cleanup()
        wait_until(lambda: pair.info()["primary"] == "a", timeout=10, what="a primary")
        pair.b = RedisServer(port=old.port)
        pair.wait_in_sync(timeout=20)
        got = pair.b.client().config_get("*")
        self.assertEqual((got["maxmemory-policy"], got["hash-max-listpack-entries"]),
                         ("volatile-ttl", "77"))
        self.assertEqual(r.get("k"), b"v")
        pair.wait_caught_up()
        assert_backends_equal(pair)

    def test_keyspace_notifications(self):
        """The primary's events, each once, none of redpair's own key; through a failover too."""
        direct = self.start_redis()
        pair = self.start_pair(extra=HA_ARGS)
        writes = [("SET", "k", "v"), ("EXPIRE", "k", "100"), ("INCRBYFLOAT", "f", "1.5"),
                  ("SPOP", "nos"), ("SADD", "s", "x"), ("SPOP", "s"), ("LPUSH", "l", "a"),
                  ("RPOP", "l"), ("XADD", "x", "1-1", "f", "v"), ("DEL", "k"), ("SELECT", "2"),
                  ("SET", "z", "1"), ("SWAPDB", "0", "2"), ("FLUSHALL",)]

        def events(port):
            with RawConn(port) as c, RawConn(port) as s:
                c.cmd("CONFIG", "SET", "notify-keyspace-events", "KEA")
                out = [s.cmd("PSUBSCRIBE", "__key*__:*")]
                for cmd in writes:
                    c.cmd(*cmd)
                c.cmd("SELECT", "0")
                c.cmd("SET", "last", "1")
                while not out[-1].endswith(b"__keyevent@0__:set\r\n$4\r\nlast\r\n"):
                    out.append(s.read_reply())
                return out

        self.assertEqual(events(pair.port), events(direct.port))

        # Across a failover: subscribed again to the new primary, never twice.
        with pair.raw() as c, pair.raw() as s:
            s.cmd("SUBSCRIBE", "__keyevent@0__:set")
            pair.a.kill()
            wait_until(lambda: pair.info()["primary"] == "b", timeout=10, what="b primary")
            s.settimeout(0.2)

            def resubscribed(n=[0]):  # noqa: B006 - a marker per try
                n[0] += 1
                c.cmd("SET", "marker%d" % n[0], "1")
                try:
                    while True:
                        if parse_resp(s.read_reply())[2] == b"marker%d" % n[0]:
                            return True
                except OSError:
                    return False
            wait_until(resubscribed, timeout=10, what="events from the new primary")
            for i in range(50):
                c.cmd("SET", "after%d" % i, "v")
            s.settimeout(5)
            got = [parse_resp(s.read_reply())[2] for _ in range(50)]
            self.assertEqual(got, [b"after%d" % i for i in range(50)])
            s.settimeout(0.3)
            with self.assertRaises(OSError):
                s.read_reply()  # nothing more: each event once


    def test_persistence(self):
        self.identical(PERSISTENCE, redis_args=["--enable-debug-command", "yes"])
        pair = self.start_pair()
        r = pair.client()
        with pair.raw() as p:
            self.assertEqual(p.cmd("SAVE"), b"+OK\r\n")
            self.assertEqual(p.cmd("BGSAVE"), b"+Background saving started\r\n")
        wait_until(lambda: all(s.client().info("persistence")["rdb_bgsave_in_progress"] == 0
                               for s in (pair.a, pair.b)), what="the saves done")
        # LASTSAVE is the older of the two servers'.
        self.assertEqual(r.lastsave(), min(pair.a.client().lastsave(), pair.b.client().lastsave()))

    def test_client_reply_skip_in_a_pipeline(self):
        direct = self.start_redis()
        pair = self.start_pair()
        self.assertEqual(pipeline_replies(pair.port, REPLY_SKIP), pipeline_replies(direct.port, REPLY_SKIP))
        self.assert_pair_consistent(pair, direct)

    def test_client_pause(self):
        self.identical(PAUSE)

    def test_monitor(self):
        direct = self.start_redis()
        pair = self.start_pair()
        self.assertEqual(monitor_lines(pair.port), monitor_lines(direct.port))

    def test_script_kill_on_both_servers(self):
        direct = self.start_redis()
        pair = self.start_pair()
        want = run_with_busy(direct.port, KILL)
        got = run_with_busy(pair.port, KILL)
        self.assert_same(want, got, "SCRIPT KILL")
        for server in (pair.a, pair.b):  # killed on both, nothing left running
            self.assertEqual(server.client().execute_command("FUNCTION", "STATS")[1], None)
        self.assert_pair_consistent(pair, direct)

    def test_approximate_trimming(self):
        direct = self.start_redis()
        pair = self.start_pair()
        want, got = run_both(direct.port, pair.port, TRIM)

        def norm(seen):
            return [(s, TRIM_IDS.sub(b"<id>", b) if "*" in (s[1] if s[0] == W else ()) else b)
                    for s, b in seen]
        self.assert_same(norm(want), norm(got), "~ trimming")
        pair.wait_caught_up()
        self.assertEqual(pair.info()["divergences"], 0)
        da, db = assert_backends_equal(pair)
        # What the direct server kept, the pair kept: "~" as Redis does it.
        def lengths(dump):
            return {k: v.value["length"] for k, v in dump.items() if v[0] == "stream"}
        self.assertEqual(lengths(da), lengths(dataset_dump(direct.client())))

    def test_reply_nested_as_deep_as_lua_goes(self):
        pair, _ = self.identical(NESTED)
        info = pair.info()
        self.assertEqual((info["failovers"], info["resyncs"], info["divergences"]), (0, 0, 0))

    def test_info_statistics(self):
        """commandstats and errorstats: redpair's own view, as Redis counts them."""
        direct = self.start_redis()
        pair = self.start_pair()
        session = [("CONFIG", "RESETSTAT"), ("SET", "a", "1"), ("GET", "a"), ("INCR", "a"),
                   ("LPUSH", "a", "x"), ("GET",), ("NOSUCH",), ("MULTI",), ("SET", "b", "2"),
                   ("EXEC",), ("HSET", "h", "f", "v"), ("HGET", "h", "f"), ("PING",)]

        def stats(port):
            with RawConn(port) as c:
                for cmd in session:
                    c.cmd(*cmd)
                text = parse_resp(c.cmd("INFO", "commandstats")).decode()
                errors = parse_resp(c.cmd("INFO", "errorstats"))
            calls = sorted(re.sub(r",usec=\d+,usec_per_call=[\d.]+", "", line)
                           for line in text.split("\r\n") if line.startswith("cmdstat_"))
            return calls, errors

        want, got = stats(direct.port), stats(pair.port)
        self.assertEqual(got, want, "\nredis:   %r\nredpair: %r" % (want, got))
        # The Clients section counts redpair's clients, as its own section does.
        counts = re.findall(r"\r\nconnected_clients:(\d+)\r\n", info_raw(pair.client()))
        self.assertEqual(len(counts), 2)
        self.assertEqual(counts[0], counts[1])

    def test_slowlog_and_latency_of_each_server(self):
        pair = self.start_pair()
        r = pair.client()
        r.config_set("slowlog-log-slower-than", "0")
        r.slowlog_reset()
        r.set("slow", "1")
        r.get("slow")
        entries = parse_resp(pair.raw().cmd("SLOWLOG", "GET", "-1"))
        # Each server's entries, labelled with its name; none of redpair's own commands.
        labelled = sorted((e[5], e[3]) for e in entries if e[3][0] != b"SLOWLOG")
        self.assertIn((b"a", [b"SET", b"slow", b"1"]), labelled)
        self.assertIn((b"b", [b"SET", b"slow", b"1"]), labelled)
        self.assertIn((b"a", [b"GET", b"slow"]), labelled)
        self.assertNotIn((b"b", [b"GET", b"slow"]), labelled)  # reads go to the primary
        self.assertFalse([e for e in entries if b"__redpair_stream_offset__" in e[3]])
        r.config_set("slowlog-log-slower-than", "-1")  # SLOWLOG itself no longer logged
        self.assertEqual(parse_resp(pair.raw().cmd("SLOWLOG", "LEN")),
                         len(parse_resp(pair.raw().cmd("SLOWLOG", "GET", "-1"))))
        times = [(e[1], e[0]) for e in entries]
        self.assertEqual(times, sorted(times, reverse=True))  # newest first, as Redis lists
        self.assertEqual(len(parse_resp(pair.raw().cmd("SLOWLOG", "GET", "2"))), 2)
        self.assertEqual(pair.raw().cmd("SLOWLOG", "GET", "-2"),
                         b"-ERR count should be greater than or equal to -1\r\n")
        self.assertEqual(pair.raw().cmd("SLOWLOG", "RESET"), b"+OK\r\n")

        r.config_set("latency-monitor-threshold", "1")
        spin = "local t = redis.call('time') repeat local n = redis.call('time') until " \
               "(n[1] - t[1]) * 1000000 + n[2] - t[2] > 5000 return 1"
        r.eval(spin, 0)
        names = {e[0] for e in parse_resp(pair.raw().cmd("LATENCY", "LATEST"))}
        self.assertTrue({b"a:command", b"b:command"} <= names, names)  # each server's, labelled
        self.assertTrue(all(n.startswith((b"a:", b"b:")) for n in names), names)
        history = parse_resp(pair.raw().cmd("LATENCY", "HISTORY", "b:command"))
        self.assertGreaterEqual(max(sample[1] for sample in history), 5)
        both = parse_resp(pair.raw().cmd("LATENCY", "HISTORY", "command"))
        self.assertGreaterEqual(len(both), 2)
        self.assertEqual([s[0] for s in both], sorted(s[0] for s in both))  # by time
        doctor = parse_resp(pair.raw().cmd("LATENCY", "DOCTOR")).decode()
        self.assertTrue(doctor.startswith("backend a:\n") and "\nbackend b:\n" in doctor, doctor)
        self.assertEqual(pair.raw().cmd("LATENCY", "RESET", "a:command"), b":1\r\n")
        names = {e[0] for e in parse_resp(pair.raw().cmd("LATENCY", "LATEST"))}
        self.assertNotIn(b"a:command", names)
        self.assertIn(b"b:command", names)

    def test_debug_reads_and_refusals(self):
        pair = self.start_pair(redis_args=["--enable-debug-command", "yes"])
        with pair.raw() as p:
            p.cmd("SET", "k", "v")
            self.assertTrue(p.cmd("DEBUG", "OBJECT", "k").startswith(b"+Value at:"))
            self.assertEqual(p.cmd("DEBUG", "SLEEP", "0"),
                             b"-ERR DEBUG SLEEP is not available through redpair: it changes or "
                             b"stops the server it runs on; send it to each server directly (the "
                             b"admin API lists them: GET /api/v1/backends)\r\n")
            self.assertTrue(p.cmd("DEBUG", "DIGEST").startswith(b"-ERR DEBUG DIGEST is not available"))
            self.assertTrue(p.cmd("DEBUG", "RELOAD").startswith(b"-ERR DEBUG RELOAD is not available"))

    def test_redis_cli_tools(self):
        """redis-cli --stat, --bigkeys and --latency through redpair, as against Redis."""
        direct = self.start_redis()
        pair = self.start_pair()
        for port in (direct.port, pair.port):
            with RawConn(port) as c:
                for i in range(100):  # no two of a type alike in size: one biggest
                    c.cmd("SET", "key:%d" % i, "v" * (i + 1))
                for i in range(10):
                    c.cmd("RPUSH", "list:%d" % i, *(["x"] * (i + 1)))
                c.cmd("HSET", "h", "a", "1", "b", "2")

        def bigkeys(port):
            out = subprocess.run([REDIS_CLI, "-p", str(port), "--bigkeys"], capture_output=True,
                                 text=True, timeout=60).stdout
            return [line for line in out.splitlines()
                    if line.startswith(("Biggest", "Sampled")) or re.match(r"\d+ \w+ with ", line)]

        self.assertEqual(bigkeys(pair.port), bigkeys(direct.port))

        # --stat runs until stopped: its first lines, then it is stopped.
        proc = subprocess.Popen(["stdbuf", "-oL", REDIS_CLI, "-p", str(pair.port), "--stat", "-i", "0.1"],
                                stdout=subprocess.PIPE, text=True)
        try:
            lines = [proc.stdout.readline() for _ in range(4)]
        finally:
            proc.kill()
            proc.wait()
        self.assertTrue(lines[0].startswith("------- data ------"), lines)
        keys, _, clients = lines[2].split()[:3]
        self.assertEqual(int(keys), 111)  # as the direct server counts them: the offset key hidden
        self.assertEqual(int(clients), pair.info()["connected_clients"] + 1)  # with --stat's own

        out = subprocess.run([REDIS_CLI, "-p", str(pair.port), "--latency", "--raw", "-i", "1"],
                             capture_output=True, text=True, timeout=30).stdout.split()
        self.assertEqual(len(out), 4, out)  # min max avg samples
        self.assertGreater(int(out[3]), 0)
        self.assert_pair_consistent(pair, direct)


if __name__ == "__main__":
    main()
