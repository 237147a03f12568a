"""Sessions of several clients at once: transactions, WATCH conflicts and blocking commands woken
by another client, sent as raw RESP to a redis-server directly and through redpair, with every
reply byte-identical and, afterwards, the same data on both backends as on the direct server.
Then the same features through Debian's python3-redis, as applications use them.

A session is a list of steps, run in order:

    (i, cmd)            client i sends cmd and reads its reply
    ("block", i, cmd)   client i sends cmd; no reply may come within QUIET seconds
    ("wake", i)         client i reads the reply it was waiting for
    ("quiet", i)        client i has nothing to read within QUIET seconds
    ("pipe", i, cmds)   client i sends cmds in one write, then reads all their replies

Run: /usr/bin/python3 tests/integration/test_sessions.py   (REDPAIR_BIN=path/to/redpair)
"""

import socket
import threading
import time

import redis

from harness import (
    RawConn,
    RedpairTestCase,
    assert_backends_equal,
    assert_datasets_equal,
    dataset_dump,
    main,
    resp_command,
    run_threads,
)

QUIET = 0.2
CLIENTS = 4

TRANSACTIONS = [
    (0, ("MULTI",)),
    (0, ("SET", "t:a", "1")),
    (0, ("INCR", "t:a")),
    (0, ("LPUSH", "t:l", "x", "y")),
    (0, ("LRANGE", "t:l", "0", "-1")),
    (0, ("HSET", "t:h", "f", "v")),
    (0, ("HGETALL", "t:h")),
    (0, ("SADD", "t:s", "3", "1", "2")),
    (0, ("SMEMBERS", "t:s")),
    (0, ("ZADD", "t:z", "1", "a", "2", "b")),
    (0, ("ZRANGE", "t:z", "0", "-1", "WITHSCORES")),
    (0, ("GET", "t:nokey")),
    (0, ("EXEC",)),
    # empty, discarded, misplaced
    (0, ("MULTI",)),
    (0, ("EXEC",)),
    (0, ("MULTI",)),
    (0, ("SET", "t:d", "1")),
    (0, ("DISCARD",)),
    (0, ("GET", "t:d")),
    (0, ("EXEC",)),
    (0, ("DISCARD",)),
    (0, ("MULTI",)),
    (0, ("MULTI",)),
    (0, ("SET", "t:n", "1")),
    (0, ("EXEC",)),
    # a malformed EXEC discards the transaction
    (0, ("MULTI",)),
    (0, ("INCR", "t:qe")),
    (0, ("EXEC", "extra")),
    (0, ("EXEC",)),
    (0, ("EXISTS", "t:qe")),
    # queue-time errors abort it all; run-time errors are one element
    (0, ("MULTI",)),
    (0, ("SET", "t:q", "1")),
    (0, ("NOSUCHCOMMAND", "x")),
    (0, ("GET",)),
    (0, ("EXEC",)),
    (0, ("EXISTS", "t:q")),
    (0, ("SET", "t:str", "abc")),
    (0, ("MULTI",)),
    (0, ("INCR", "t:str")),
    (0, ("SET", "t:after", "1")),
    (0, ("EXEC",)),
    (0, ("GET", "t:after")),
    # reads only; SELECT, PING, ECHO and TTL-setting writes inside
    (0, ("MULTI",)),
    (0, ("GET", "t:a")),
    (0, ("LLEN", "t:l")),
    (0, ("EXEC",)),
    (0, ("MULTI",)),
    (0, ("SELECT", "2")),
    (0, ("SET", "t:db2", "x")),
    (0, ("EXEC",)),
    (0, ("GET", "t:db2")),
    (0, ("SELECT", "0")),
    (0, ("GET", "t:db2")),
    (0, ("MULTI",)),
    (0, ("PING",)),
    (0, ("ECHO", "hi")),
    (0, ("SET", "t:ex", "v", "EX", "1000")),
    (0, ("EXPIRE", "t:a", "1000")),
    (0, ("EXEC",)),
    # blocking commands inside MULTI do not block
    (0, ("MULTI",)),
    (0, ("BLPOP", "b:empty", "0")),
    (0, ("RPUSH", "b:full", "a", "b")),
    (0, ("BLPOP", "b:full", "0")),
    (0, ("BLMOVE", "b:full", "b:dst", "LEFT", "RIGHT", "0")),
    (0, ("BLMOVE", "b:full", "b:dst", "LEFT", "RIGHT", "0")),
    (0, ("BZPOPMIN", "b:z", "0")),
    (0, ("EXEC",)),
    # a transaction pipelined in one write, and one among other commands
    ("pipe", 0, [("MULTI",), ("INCR", "p:n"), ("INCR", "p:n"), ("GET", "p:n"), ("EXEC",)]),
    ("pipe", 1, [("SET", "p:x", "1"), ("MULTI",), ("APPEND", "p:x", "2"), ("EXEC",), ("GET", "p:x")]),
]

WATCHES = [
    # another client's write to a watched key: null array, nothing applied
    (0, ("WATCH", "w:k")),
    (1, ("SET", "w:k", "other")),
    (0, ("MULTI",)),
    (0, ("SET", "w:k", "mine")),
    (0, ("EXEC",)),
    (0, ("GET", "w:k")),
    # no conflicting write: applied
    (0, ("WATCH", "w:k")),
    (0, ("GET", "w:k")),
    (0, ("MULTI",)),
    (0, ("SET", "w:k", "mine")),
    (0, ("EXEC",)),
    # several keys, one written
    (0, ("WATCH", "w:a", "w:b")),
    (1, ("INCR", "w:b")),
    (0, ("MULTI",)),
    (0, ("INCR", "w:a")),
    (0, ("EXEC",)),
    # UNWATCH, EXEC and DISCARD end the watch
    (0, ("WATCH", "w:k")),
    (0, ("UNWATCH",)),
    (1, ("SET", "w:k", "2")),
    (0, ("MULTI",)),
    (0, ("SET", "w:k", "3")),
    (0, ("EXEC",)),
    (0, ("WATCH", "w:k")),
    (0, ("MULTI",)),
    (0, ("EXEC",)),
    (1, ("SET", "w:k", "4")),
    (0, ("MULTI",)),
    (0, ("SET", "w:k", "5")),
    (0, ("EXEC",)),
    (0, ("WATCH", "w:k")),
    (0, ("MULTI",)),
    (0, ("DISCARD",)),
    (1, ("SET", "w:k", "6")),
    (0, ("MULTI",)),
    (0, ("SET", "w:k", "7")),
    (0, ("EXEC",)),
    # WATCH inside MULTI is an error that leaves the transaction going
    (0, ("MULTI",)),
    (0, ("WATCH", "w:k")),
    (0, ("SET", "w:k", "8")),
    (0, ("EXEC",)),
    # the watching client's own write counts too
    (0, ("WATCH", "w:k")),
    (0, ("SET", "w:k", "self")),
    (0, ("MULTI",)),
    (0, ("GET", "w:k")),
    (0, ("EXEC",)),
    # FLUSHDB of a database holding the watched key
    (0, ("WATCH", "w:k")),
    (1, ("FLUSHDB",)),
    (0, ("MULTI",)),
    (0, ("SET", "w:k", "9")),
    (0, ("EXEC",)),
    (0, ("EXISTS", "w:k")),
    # a key of the same name in another database is another key
    (0, ("SET", "w:k", "10")),
    (0, ("WATCH", "w:k")),
    (1, ("SELECT", "1")),
    (1, ("SET", "w:k", "other db")),
    (1, ("SELECT", "0")),
    (0, ("MULTI",)),
    (0, ("SET", "w:k", "11")),
    (0, ("EXEC",)),
    # a malformed EXEC ends the watch too
    (0, ("WATCH", "w:m")),
    (1, ("SET", "w:m", "1")),
    (0, ("EXEC", "extra")),
    (0, ("MULTI",)),
    (0, ("SET", "w:m", "2")),
    (0, ("EXEC",)),
    # a write by a transaction of another client
    (0, ("WATCH", "w:t")),
    (1, ("MULTI",)),
    (1, ("SET", "w:t", "1")),
    (1, ("EXEC",)),
    (0, ("MULTI",)),
    (0, ("SET", "w:t", "2")),
    (0, ("EXEC",)),
    (0, ("GET", "w:t")),
]

BLOCKING = [
    # served at once when there is data
    (3, ("RPUSH", "im", "a")),
    (0, ("BLPOP", "im", "0")),
    # woken by another client's write
    ("block", 0, ("BLPOP", "k1", "k2", "0")),
    (3, ("RPUSH", "k2", "a")),
    ("wake", 0),
    ("block", 0, ("BRPOP", "k1", "0")),
    (3, ("RPUSH", "k1", "x", "y")),
    ("wake", 0),
    (3, ("DEL", "k1")),
    # a move wakes whoever waits on its destination
    ("block", 0, ("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0")),
    ("block", 1, ("BLPOP", "dst", "0")),
    (3, ("RPUSH", "src", "v")),
    ("wake", 0),
    ("wake", 1),
    ("block", 0, ("BRPOPLPUSH", "src", "dst", "0")),
    (3, ("LPUSH", "src", "w")),
    ("wake", 0),
    (3, ("LRANGE", "dst", "0", "-1")),
    ("block", 0, ("BZPOPMIN", "z1", "z2", "0")),
    (3, ("ZADD", "z2", "5", "m")),
    ("wake", 0),
    ("block", 0, ("BZPOPMAX", "z1", "0")),
    (3, ("ZADD", "z1", "1", "a", "2", "b")),
    ("wake", 0),
    ("block", 0, ("BLMPOP", "0", "2", "l1", "l2", "LEFT", "COUNT", "2")),
    (3, ("RPUSH", "l2", "a", "b", "c")),
    ("wake", 0),
    ("block", 0, ("BZMPOP", "0", "1", "z3", "MIN", "COUNT", "2")),
    (3, ("ZADD", "z3", "1", "a", "2", "b", "3", "c")),
    ("wake", 0),
    # a script that declares the key wakes too
    ("block", 0, ("BLPOP", "sk", "0")),
    (3, ("EVAL", "return redis.call('RPUSH', KEYS[1], ARGV[1])", "1", "sk", "from-lua")),
    ("wake", 0),
    # streams
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "s", "$")),
    (3, ("XADD", "s", "5-1", "f", "v")),
    ("wake", 0),
    ("block", 0, ("XREAD", "COUNT", "10", "BLOCK", "0", "STREAMS", "s", "$")),
    (3, ("XADD", "s", "6-1", "f", "w")),
    ("wake", 0),
    (3, ("XADD", "s2", "1-1", "f", "v")),
    ("block", 0, ("XREAD", "BLOCK", "0", "STREAMS", "s2", "1-1")),
    (3, ("XADD", "s2", "2-1", "f", "w")),
    ("wake", 0),
    (3, ("XGROUP", "CREATE", "s3", "g", "$", "MKSTREAM")),
    ("block", 0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s3", ">")),
    (3, ("XADD", "s3", "3-1", "f", "v")),
    ("wake", 0),
    (3, ("XPENDING", "s3", "g")),
    # fairness: the longest waiter first
    ("block", 0, ("BLPOP", "f", "0")),
    ("block", 1, ("BLPOP", "f", "0")),
    ("block", 2, ("BLPOP", "f", "0")),
    (3, ("RPUSH", "f", "1")),
    ("wake", 0),
    ("quiet", 1),
    ("quiet", 2),
    (3, ("RPUSH", "f", "2")),
    ("wake", 1),
    ("quiet", 2),
    (3, ("RPUSH", "f", "3")),
    ("wake", 2),
    ("block", 0, ("BLPOP", "f", "0")),
    ("block", 1, ("BLPOP", "f", "0")),
    ("block", 2, ("BLPOP", "f", "0")),
    (3, ("RPUSH", "f", "a", "b", "c")),
    ("wake", 0),
    ("wake", 1),
    ("wake", 2),
    # the other clients are served while one waits
    ("block", 0, ("BLPOP", "later", "0")),
    (1, ("PING",)),
    (1, ("SET", "meanwhile", "1")),
    (1, ("GET", "meanwhile")),
    (3, ("LPUSH", "later", "z")),
    ("wake", 0),
    # errors, and timeouts
    (0, ("BLPOP", "k", "-1")),
    (0, ("BLPOP", "k", "abc")),
    (0, ("BLPOP", "k")),
    (3, ("SET", "str", "v")),
    (0, ("BLPOP", "str", "0")),
    (0, ("XREAD", "BLOCK", "-1", "STREAMS", "s", "$")),
    (0, ("XREAD", "BLOCK", "0", "STREAMS", "s")),
    (0, ("BLPOP", "t:e", "0.2")),
    (0, ("BZPOPMIN", "t:z", "0.1")),
    (0, ("BLMOVE", "t:a", "t:b", "LEFT", "LEFT", "0.1")),
    (0, ("BLMPOP", "0.1", "1", "t:l", "RIGHT")),
    (0, ("XREAD", "BLOCK", "100", "STREAMS", "t:s", "$")),
    (0, ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "s3", ">")),
    # the connection goes on normally afterwards
    (0, ("SET", "done", "1")),
]


def quiet(conn):
    """True when nothing arrives on conn within QUIET seconds."""
    if conn.pos < len(conn.buf):
        return False
    conn.settimeout(QUIET)
    try:
        chunk = conn.sock.recv(1 << 16)
    except socket.timeout:
        return True
    finally:
        conn.settimeout(10)
    conn.buf += chunk
    return False


def run_session(port, steps):
    """Runs the steps against port; returns what each step saw, as (step, bytes) pairs."""
    conns = [RawConn(port, timeout=10) for _ in range(CLIENTS)]
    seen = []
    try:
        for step in steps:
            if step[0] == "block":
                _, i, cmd = step
                conns[i].send(resp_command(*cmd))
                seen.append((step, b"quiet" if quiet(conns[i]) else b"answered at once"))
            elif step[0] == "wake":
                seen.append((step, conns[step[1]].read_reply()))
            elif step[0] == "quiet":
                seen.append((step, b"quiet" if quiet(conns[step[1]]) else b"answered"))
            elif step[0] == "pipe":
                _, i, cmds = step
                conns[i].send(b"".join(resp_command(*c) for c in cmds))
                seen.append((step, b"".join(conns[i].read_replies(len(cmds)))))
            else:
                i, cmd = step
                seen.append((step, conns[i].cmd(*cmd)))
    finally:
        for c in conns:
            c.close()
    return seen


class SessionsTest(RedpairTestCase):
    def assert_session_identical(self, steps):
        direct = self.start_redis()
        pair = self.start_pair()
        want = run_session(direct.port, steps)
        got = run_session(pair.port, steps)
        diffs = ["  %r\n     redis:   %r\n     redpair: %r" % (w[0], w[1][:300], g[1][:300])
                 for w, g in zip(want, got) if w != g]
        if diffs:
            self.fail("%d of %d steps differ:\n%s" % (len(diffs), len(steps), "\n".join(diffs)))
        pair.wait_caught_up()
        self.assertEqual(pair.info()["divergences"], 0)
        da, _ = assert_backends_equal(pair)
        assert_datasets_equal(dataset_dump(direct.client()), da, msg="direct redis-server vs backend a")

    def test_transactions(self):
        self.assert_session_identical(TRANSACTIONS)

    def test_watch_conflicts(self):
        self.assert_session_identical(WATCHES)

    def test_blocking_commands_woken_by_other_clients(self):
        self.assert_session_identical(BLOCKING)

    def test_watch_errs_on_the_side_of_aborting(self):
        """A write command naming a watched key aborts the transaction even when it changed
        nothing; Redis would run it (README, "Transactions")."""
        pair = self.start_pair()
        with pair.raw() as a, pair.raw() as b:
            a.cmd("SET", "k", "v")
            self.assertEqual(a.cmd("WATCH", "k"), b"+OK\r\n")
            self.assertEqual(b.cmd("SETNX", "k", "x"), b":0\r\n")
            a.cmd("MULTI")
            a.cmd("SET", "k", "y")
            self.assertEqual(a.cmd("EXEC"), b"*-1\r\n")

    def test_blocked_client_that_disconnects_takes_nothing(self):
        pair = self.start_pair()
        with pair.raw() as waiter, pair.raw() as other:
            waiter.send(resp_command("BLPOP", "dc", "0"))
            self.assertTrue(quiet(waiter))
            info = pair.info()
            self.assertEqual(info["blocked_clients"], 1)
            waiter.close()
            time.sleep(QUIET)
            self.assertEqual(other.cmd("RPUSH", "dc", "x"), b":1\r\n")
            self.assertEqual(other.cmd("LRANGE", "dc", "0", "-1"), b"*1\r\n$1\r\nx\r\n")
        self.assertEqual(pair.info()["blocked_clients"], 0)

    def test_client_unblock(self):
        pair = self.start_pair()
        with pair.raw() as waiter, pair.raw() as other:
            waiter_id = int(waiter.cmd("CLIENT", "ID")[1:-2])
            for reason, reply in (("TIMEOUT", b"*-1\r\n"),
                                  ("ERROR", b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")):
                waiter.send(resp_command("BRPOP", "nothing", "0"))
                self.assertTrue(quiet(waiter))
                self.assertIn(b" flags=b ", other.cmd("CLIENT", "LIST", "ID", str(waiter_id)))
                self.assertEqual(other.cmd("CLIENT", "UNBLOCK", str(waiter_id), reason), b":1\r\n")
                self.assertEqual(waiter.read_reply(), reply)
            self.assertEqual(other.cmd("CLIENT", "UNBLOCK", str(waiter_id)), b":0\r\n")

    def test_timeouts_take_about_their_time(self):
        pair = self.start_pair()
        with pair.raw() as c:
            for cmd in (("BLPOP", "e", "0.3"), ("XREAD", "BLOCK", "300", "STREAMS", "s", "$")):
                started = time.monotonic()
                self.assertEqual(c.cmd(*cmd), b"*-1\r\n")
                took = time.monotonic() - started
                self.assertTrue(0.25 <= took < 3, "%r took %.2fs" % (cmd, took))

    # --- redis-py, as applications use it ------------------------------------------------------

    def test_redis_py_pipelines_and_transactions(self):
        pair = self.start_pair()
        direct = self.start_redis()
        results = []
        for r in (direct.client(), pair.client()):
            p = r.pipeline(transaction=True)
            for i in range(50):
                p.set("py:%d" % i, i).incr("py:n").rpush("py:l", i).hincrby("py:h", "f%d" % (i % 5), i)
            p.lrange("py:l", 0, 4).hgetall("py:h").get("py:n")
            results.append(p.execute())

            def bump(pipe):
                n = int(pipe.get("py:n"))
                pipe.multi()
                pipe.set("py:n", n * 2)

            r.transaction(bump, "py:n")
        self.assertEqual(results[0], results[1])
        pair.wait_caught_up()
        da, _ = assert_backends_equal(pair)
        assert_datasets_equal(dataset_dump(direct.client()), da, msg="direct redis-server vs backend a")

    def test_redis_py_optimistic_locking_from_many_threads(self):
        pair = self.start_pair()
        retries = [0] * 8

        def increment(t):
            r = pair.client()
            with r.pipeline() as pipe:
                for _ in range(100):
                    while True:
                        try:
                            pipe.watch("counter")
                            n = int(pipe.get("counter") or 0)
                            pipe.multi()
                            pipe.set("counter", n + 1)
                            pipe.execute()
                            break
                        except redis.WatchError:
                            retries[t] += 1

        run_threads(increment, 8)
        self.assertEqual(pair.client().get("counter"), b"800")
        self.assertGreater(sum(retries), 0, "no conflict at all: the test proved nothing")
        pair.wait_caught_up()
        assert_backends_equal(pair)

    def test_redis_py_transactions_beside_plain_writes(self):
        pair = self.start_pair()
        stop = threading.Event()
        done = [0] * 4

        def plain(t):
            r = pair.client()
            i = 0
            while not stop.is_set():
                i += 1
                r.set("plain:%d:%d" % (t, i % 50), i)

        def blocks(t):
            r = pair.client()
            for _ in range(150):
                r.pipeline(transaction=True).incr("a").incr("b").lpush("l", "x").execute()
                done[t] += 1

        writers = [threading.Thread(target=plain, args=(t,), daemon=True) for t in range(4)]
        for w in writers:
            w.start()
        try:
            run_threads(blocks, 4)
        finally:
            stop.set()
            for w in writers:
                w.join(timeout=30)
        pair.wait_caught_up()
        for server in (pair.a, pair.b):
            c = server.client()
            self.assertEqual((int(c.get("a")), int(c.get("b")), c.llen("l")), (600, 600, 600))
        assert_backends_equal(pair)

    def test_redis_py_blocking_consumers(self):
        pair = self.start_pair()
        lists = ["job:%d" % i for i in range(4)]

        def consume(t):
            r = pair.client()
            got = []
            while True:
                item = r.blpop(lists, timeout=1)
                if item is None:
                    return got
                got.append(item[1])

        def produce():
            r = pair.client()
            for i in range(500):
                r.rpush(lists[i % 4], i)

        producer = threading.Thread(target=produce)
        producer.start()
        got = run_threads(consume, 4)
        producer.join()
        items = sorted(int(v) for g in got for v in g)
        self.assertEqual(items, list(range(500)))

        # A reliable queue: BLMOVE into a processing list, then LREM once done.
        r = pair.client()
        r.rpush("rq", *range(100))

        def worker(t):
            c = pair.client()
            n = 0
            while c.blmove("rq", "rq:busy:%d" % t, timeout=0.5, src="LEFT", dest="RIGHT") is not None:
                c.lpop("rq:busy:%d" % t)
                n += 1
            return n

        self.assertEqual(sum(run_threads(worker, 2)), 100)

        # Consumer groups: each entry read once, by one consumer, then acknowledged.
        r.xgroup_create("ev", "g", id="$", mkstream=True)

        def reader(t):
            c = pair.client()
            seen = []
            while True:
                res = c.xreadgroup("g", "c%d" % t, {"ev": ">"}, count=10, block=1000)
                if not res:
                    return seen
                for entry_id, _fields in res[0][1]:
                    seen.append(entry_id)
                    c.xack("ev", "g", entry_id)

        def add():
            c = pair.client()
            for i in range(200):
                c.xadd("ev", {"n": i}, id="%d-1" % (i + 1))

        adder = threading.Thread(target=add)
        adder.start()
        seen = run_threads(reader, 3)
        adder.join()
        ids = [v for s in seen for v in s]
        self.assertEqual(len(ids), 200)
        self.assertEqual(len(set(ids)), 200)
        self.assertEqual(r.xpending("ev", "g")["pending"], 0)
        pair.wait_caught_up()
        assert_backends_equal(pair)
        self.assertTrue(all(r.llen(k) == 0 for k in lists))



def tracking_session(port):
    """Client-side caching through RESP2 redirection: what the caching client and the
    invalidation subscriber see, step by step."""
    seen = []
    with RawConn(port) as cache, RawConn(port) as inval, RawConn(port) as writer:
        inval_id = inval.cmd("CLIENT", "ID")[1:-2].decode()
        seen.append(inval.cmd("SUBSCRIBE", "__redis__:invalidate"))
        for cmd in [
            ("CLIENT", "TRACKINGINFO"),
            ("CLIENT", "GETREDIR"),
            ("CLIENT", "CACHING", "yes"),
            ("CLIENT", "TRACKING", "on", "PREFIX", "a"),
            ("CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"),
            ("CLIENT", "TRACKING", "on", "BCAST", "OPTIN"),
            ("CLIENT", "TRACKING", "on", "REDIRECT", "999999"),
            ("CLIENT", "TRACKING", "maybe"),
            ("CLIENT", "TRACKING", "on", "NOSUCHOPTION"),
            ("CLIENT", "TRACKING", "on", "REDIRECT", inval_id),
            ("CLIENT", "GETREDIR"),
            ("GET", "k1"),
            ("MGET", "k2", "k3"),
            ("HGET", "h", "f"),
        ]:
            seen.append(cache.cmd(*cmd).replace(b":%s\r\n" % inval_id.encode(), b":ID\r\n"))
        # a write to a cached key: one invalidation, then the key is forgotten
        for cmd in [("SET", "k1", "v"), ("SET", "k1", "w"), ("MSET", "k2", "1", "k3", "2"),
                    ("HSET", "h", "f", "v"), ("SET", "uncached", "v")]:
            seen.append(writer.cmd(*cmd))
        seen += [inval.read_reply() for _ in range(4)]
        seen.append(b"quiet" if quiet(inval) else b"more")
        # the caching client's own write (no NOLOOP: it is told too)
        seen.append(cache.cmd("GET", "k1"))
        seen.append(cache.cmd("DEL", "k1"))
        seen.append(inval.read_reply())
        # FLUSHALL: a null for every tracking client
        seen.append(cache.cmd("GET", "k1"))
        seen.append(writer.cmd("FLUSHALL"))
        seen.append(inval.read_reply())
        # OPTIN: only the read after CLIENT CACHING yes is remembered
        seen.append(cache.cmd("CLIENT", "TRACKING", "off"))
        for cmd in [("CLIENT", "TRACKING", "on", "REDIRECT", inval_id, "OPTIN"), ("GET", "o1"),
                    ("CLIENT", "CACHING", "yes"), ("GET", "o2"), ("CLIENT", "CACHING", "no"),
                    ("CLIENT", "TRACKINGINFO")]:
            seen.append(cache.cmd(*cmd).replace(b":%s\r\n" % inval_id.encode(), b":ID\r\n"))
        seen.append(writer.cmd("MSET", "o1", "1", "o2", "2"))
        seen.append(inval.read_reply())
        seen.append(b"quiet" if quiet(inval) else b"more")
        # BCAST with prefixes and NOLOOP: one message per prefix per loop turn
        seen.append(cache.cmd("CLIENT", "TRACKING", "off"))
        for cmd in [("CLIENT", "TRACKING", "on", "REDIRECT", inval_id, "BCAST", "PREFIX", "user:",
                     "PREFIX", "acct:", "NOLOOP"), ("CLIENT", "TRACKINGINFO")]:
            seen.append(cache.cmd(*cmd).replace(b":%s\r\n" % inval_id.encode(), b":ID\r\n"))
        seen.append(writer.cmd("MSET", "user:2", "a", "user:1", "b", "other", "c", "acct:9", "d"))
        seen += [inval.read_reply() for _ in range(2)]
        seen.append(cache.cmd("SET", "user:3", "mine"))
        seen.append(b"quiet" if quiet(inval) else b"more")
        seen.append(cache.cmd("CLIENT", "TRACKING", "off"))
        seen.append(cache.cmd("CLIENT", "TRACKINGINFO"))
    return seen


class TrackingTest(RedpairTestCase):
    def test_tracking_invalidations_identical(self):
        direct = self.start_redis()
        pair = self.start_pair()
        want, got = tracking_session(direct.port), tracking_session(pair.port)
        diffs = ["  step %d\n     redis:   %r\n     redpair: %r" % (i, w[:300], g[:300])
                 for i, (w, g) in enumerate(zip(want, got)) if w != g]
        if diffs:
            self.fail("%d of %d steps differ:\n%s" % (len(diffs), len(want), "\n".join(diffs)))


if __name__ == "__main__":
    main()
