"""Sessions of several clients at once: transactions, WATCH conflicts and client-side caching, sent
as raw RESP to a redis-server directly and through redpair, with every reply byte-identical and,
afterwards, the same data on both backends as on the direct server (sessions.py). Then the same
features through Debian's python3-redis, as applications use them. Blocking commands have their
own file, test_blocking.py.

Run: /usr/bin/python3 tests/integration/test_sessions.py   (REDPAIR_BIN=path/to/redpair)
"""

import threading

import redis

from harness import (
    RawConn,
    RedpairTestCase,
    assert_backends_equal,
    assert_datasets_equal,
    dataset_dump,
    main,
    run_threads,
)
from sessions import SessionTestCase, quiet

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

class SessionsTest(SessionTestCase):
    def test_transactions(self):
        self.assert_session_identical(TRANSACTIONS)

    def test_watch_conflicts(self):
        self.assert_session_identical(WATCHES)

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
