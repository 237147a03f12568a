"""Mirroring: every write reaches both backends in one order, and both end up holding the same data.

Run: /usr/bin/python3 tests/integration/test_mirror.py   (REDPAIR_BIN=path/to/redpair)
"""

import collections
import time

import redis

from harness import (
    RedpairTestCase,
    assert_backends_equal,
    main,
    resp_command,
    run_threads,
    wait_until,
)

THREADS = 50
OPS = 200
INCR_KEYS = 4
LIST_KEYS = 3
SET_KEYS = 3
HASH_KEYS = 3
STR_KEYS = 5


def worker(tid, port, password=None):
    """Interleaved writes on keys shared by every thread. Returns what was acknowledged."""
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30, password=password)
    res = {
        "incr": collections.defaultdict(list),  # key -> replies
        "lpush": collections.defaultdict(list),  # key -> [(value, reply)]
        "sadd": collections.defaultdict(list),
        "hset": {},  # (key, field) -> last value
        "set": collections.defaultdict(list),
        "writes": 0,
    }
    try:
        for i in range(OPS):
            kind = (tid + i) % 6
            if kind == 0:
                key = "ctr:%d" % (i % INCR_KEYS)
                v = r.incr(key)
                assert isinstance(v, int), "INCR %s replied %r" % (key, v)
                res["incr"][key].append(v)
            elif kind == 1:
                key = "list:%d" % (i % LIST_KEYS)
                val = "%d:%d" % (tid, i)
                n = r.lpush(key, val)
                assert isinstance(n, int) and n >= 1, "LPUSH %s replied %r" % (key, n)
                res["lpush"][key].append((val, n))
            elif kind == 2:
                key = "set:%d" % (i % SET_KEYS)
                member = "m%d:%d" % (tid, i)
                n = r.sadd(key, member)
                assert n == 1, "SADD %s %s replied %r" % (key, member, n)
                res["sadd"][key].append(member)
            elif kind == 3:
                key = "hash:%d" % (i % HASH_KEYS)
                field = "f%d" % tid
                r.hset(key, field, str(i))
                res["hset"][(key, field)] = str(i)
            elif kind == 4:
                key = "str:%d" % (i % STR_KEYS)
                val = "%d:%d" % (tid, i)
                ok = r.set(key, val, ex=100 + i % 50)
                assert ok is True, "SET %s EX replied %r" % (key, ok)
                res["set"][key].append(val)
            else:
                # Read-your-writes: a read after an acknowledged write sees it.
                key = "own:%d" % tid
                val = "v%d" % i
                assert r.set(key, val) is True
                got = r.get(key)
                assert got == val.encode(), "GET %s after SET %s returned %r" % (key, val, got)
            res["writes"] += 1
    finally:
        r.close()
    return res


class MirrorTest(RedpairTestCase):
    # --------------------------------------------------------------------------------------------
    # concurrency
    # --------------------------------------------------------------------------------------------

    def _concurrent(self, write_ack):
        pair = self.start_pair(write_ack=write_ack)
        c = pair.client()
        info0 = pair.info()
        self.assertEqual(info0.get("write_ack"), write_ack or "all")
        self.assertEqual(info0.get("divergences"), 0)

        results = run_threads(worker, THREADS, pair.port)
        info = pair.wait_caught_up() if write_ack == "primary" else pair.info()

        writes = sum(r["writes"] for r in results)
        self.assertEqual(writes, THREADS * OPS)
        self.assertEqual(
            info["stream_offset"] - info0["stream_offset"],
            writes,
            "stream_offset should advance by exactly the number of writes sent",
        )
        if write_ack != "primary":
            # With write-ack all every acknowledged write was acknowledged by both backends.
            for n in ("a", "b"):
                self.assertEqual(info["backend_" + n]["acked_offset"], info["stream_offset"], info)
        pair.wait_caught_up()

        a = pair.a.client()
        b = pair.b.client()

        # INCR: the total is the number of acknowledged INCRs, and the replies were 1..N once each.
        incr = collections.defaultdict(list)
        for r in results:
            for k, v in r["incr"].items():
                incr[k].extend(v)
        self.assertEqual(len(incr), INCR_KEYS)
        for k, replies in incr.items():
            n = len(replies)
            self.assertEqual(sorted(replies), list(range(1, n + 1)), "INCR %s replies not 1..%d" % (k, n))
            for name, srv in (("redpair", c), ("a", a), ("b", b)):
                self.assertEqual(srv.get(k), str(n).encode(), "%s on %s" % (k, name))

        # LPUSH: every value once, each thread's values in the order it pushed them.
        pushed = collections.defaultdict(list)
        for r in results:
            for k, v in r["lpush"].items():
                pushed[k].extend(v)
        for k, items in pushed.items():
            self.assertEqual(sorted(n for _, n in items), list(range(1, len(items) + 1)), "LPUSH %s replies" % k)
            got = [x.decode() for x in c.lrange(k, 0, -1)]
            self.assertEqual(sorted(got), sorted(v for v, _ in items), "LRANGE %s through redpair" % k)
            self.assertEqual(a.lrange(k, 0, -1), b.lrange(k, 0, -1), "LRANGE %s a vs b" % k)
            oldest_first = list(reversed(got))
            by_thread = collections.defaultdict(list)
            for v in oldest_first:
                t, i = v.split(":")
                by_thread[t].append(int(i))
            for t, seq in by_thread.items():
                self.assertEqual(seq, sorted(seq), "thread %s's LPUSHes to %s out of order" % (t, k))

        # SADD
        added = collections.defaultdict(set)
        for r in results:
            for k, v in r["sadd"].items():
                added[k].update(v)
        for k, members in added.items():
            self.assertEqual({m.decode() for m in c.smembers(k)}, members, "SMEMBERS %s" % k)
            self.assertEqual(a.smembers(k), b.smembers(k), "SMEMBERS %s a vs b" % k)

        # HSET: each field is written by one thread only, so its last value is known.
        hashes = collections.defaultdict(dict)
        for r in results:
            for (k, f), v in r["hset"].items():
                hashes[k][f] = v
        for k, fields in hashes.items():
            got = {f.decode(): v.decode() for f, v in c.hgetall(k).items()}
            self.assertEqual(got, fields, "HGETALL %s" % k)

        # SET EX on shared keys: the value is one that was written, with a TTL.
        for r in results:
            for k in r["set"]:
                v = c.get(k)
                self.assertIsNotNone(v, k)
                self.assertTrue(any(v.decode() in rr["set"][k] for rr in results), "%s = %r never written" % (k, v))
                self.assertGreater(c.ttl(k), 0, k)

        # Reads through redpair match the primary's data.
        for k in list(incr) + list(pushed)[:1] + ["own:%d" % t for t in range(THREADS)]:
            t = a.type(k)
            if t == b"string":
                self.assertEqual(c.get(k), a.get(k), k)

        assert_backends_equal(pair)
        self.assertEqual(pair.info()["divergences"], 0, "identical backends must not diverge")

    def test_concurrent_shared_keys_write_ack_all(self):
        self._concurrent(None)

    def test_concurrent_shared_keys_write_ack_primary(self):
        self._concurrent("primary")

    # --------------------------------------------------------------------------------------------
    # writes made deterministic
    # --------------------------------------------------------------------------------------------

    def test_spop_mirrored(self):
        pair = self.start_pair()
        c = pair.client()
        a, b = pair.a.client(), pair.b.client()

        c.sadd("strs", *["m%02d" % i for i in range(40)])
        c.sadd("ints", *range(100))
        c.sadd("big", *["x%03d" % i for i in range(300)])
        c.sadd("one", "only")
        c.sadd("few", "p", "q", "r")

        popped = set()
        for _ in range(5):
            m = c.spop("strs")
            self.assertIsNotNone(m)
            popped.add(m)
        popped.update(c.spop("strs", 3))
        popped.update(c.spop("strs", 7))
        self.assertEqual(len(popped), 15)
        self.assertEqual(c.scard("strs"), 25)
        self.assertFalse(any(b.sismember("strs", m) for m in popped), "SPOPped members still on b")

        self.assertEqual(len(c.spop("ints", 10)), 10)
        self.assertIsNotNone(c.spop("ints"))
        # Count close to the size: Redis builds a new set of the remaining members.
        self.assertEqual(len(c.spop("big", 290)), 290)
        self.assertEqual(c.scard("big"), 10)
        # Count beyond the size: the whole set goes.
        self.assertEqual(c.spop("one"), b"only")
        self.assertEqual(sorted(c.spop("few", 10)), [b"p", b"q", b"r"])
        self.assertEqual(c.exists("one", "few"), 0)
        # Nothing to pop.
        self.assertIsNone(c.spop("missing"))
        self.assertEqual(c.spop("missing", 3), [])
        self.assertEqual(c.spop("strs", 0), [])

        pair.wait_caught_up()
        self.assertEqual(b.exists("one", "few"), 0)
        for k in ("strs", "ints", "big"):
            self.assertEqual(a.smembers(k), b.smembers(k), k)
        assert_backends_equal(pair)
        self.assertEqual(pair.info()["divergences"], 0)

    def test_incrbyfloat_mirrored(self):
        pair = self.start_pair()
        c = pair.client()
        a, b = pair.a.client(), pair.b.client()

        c.set("f", "10.5")
        total = None
        for _ in range(10):
            total = c.incrbyfloat("f", 0.1)
        self.assertAlmostEqual(total, 11.5, places=9)
        c.incrbyfloat("f", 1e3)
        c.incrbyfloat("f", "-3.3e-2")
        c.incrbyfloat("new", 2.5)
        c.set("ttl", "1", ex=1000)
        c.incrbyfloat("ttl", 0.25)
        self.assertGreater(c.ttl("ttl"), 900, "INCRBYFLOAT must keep the TTL")

        for _ in range(10):
            c.hincrbyfloat("h", "x", 0.1)
        c.hincrbyfloat("h", "y", "1.5e3")
        c.hset("h", "z", "7")
        c.hincrbyfloat("h", "z", -0.5)

        with self.assertRaises(redis.ResponseError):
            c.incrbyfloat("h", 1)  # wrong type on both: same error, no divergence

        pair.wait_caught_up()
        for k in ("f", "new", "ttl"):
            self.assertEqual(a.get(k), b.get(k), k)
            self.assertEqual(c.get(k), a.get(k), k)
        self.assertEqual(a.hgetall("h"), b.hgetall("h"))
        assert_backends_equal(pair)
        self.assertEqual(pair.info()["divergences"], 0)

    def test_relative_ttls_become_identical_absolute_ttls(self):
        """b is paused while the commands are sent, so it runs them ~300 ms after a: were relative
        times passed through, b's expiry times would lie ~300 ms after a's."""
        pair = self.start_pair()
        c = pair.client()
        a, b = pair.a.client(), pair.b.client()
        c.set("src", "payload")
        dump = c.dump("src")
        self.assertIsNotNone(dump)
        for k in ("e1", "e2", "e7", "e8", "e11", "e14", "e16"):
            c.set(k, "v")
        c.set("e15", "1.5")

        ttl_ms = {}
        p = c.pipeline(transaction=False)
        p.expire("e1", 100)
        ttl_ms["e1"] = 100_000
        p.pexpire("e2", 100_000)
        ttl_ms["e2"] = 100_000
        p.setex("e3", 100, "v")
        ttl_ms["e3"] = 100_000
        p.psetex("e4", 100_000, "v")
        ttl_ms["e4"] = 100_000
        p.set("e5", "v", ex=100)
        ttl_ms["e5"] = 100_000
        p.set("e6", "v", px=100_000)
        ttl_ms["e6"] = 100_000
        p.getex("e7", ex=100)
        ttl_ms["e7"] = 100_000
        p.getex("e8", px=100_000)
        ttl_ms["e8"] = 100_000
        p.set("e9", "v", ex=100, nx=True)
        ttl_ms["e9"] = 100_000
        p.execute_command("SET", "e10", "v", "EX", 100, "GET")
        ttl_ms["e10"] = 100_000
        p.execute_command("EXPIRE", "e11", 100, "NX")
        p.execute_command("EXPIRE", "e11", 200, "GT")
        ttl_ms["e11"] = 200_000
        p.execute_command("RESTORE", "e12", 100_000, dump)
        ttl_ms["e12"] = 100_000
        p.expire("e14", 100)
        p.execute_command("SET", "e14", "w", "KEEPTTL")
        ttl_ms["e14"] = 100_000
        p.expire("e15", 100)
        p.incrbyfloat("e15", 1)
        ttl_ms["e15"] = 100_000
        p.execute_command("SETEX", "e16", 100, "v")
        p.execute_command("PEXPIRE", "e16", 50_000, "LT")
        ttl_ms["e16"] = 50_000
        p.execute_command("SET", "e17", "v", "PX", 100_000, "XX")  # no such key: not set
        p.execute_command("SET", "e18", "v", "EX", "100", "NX", "GET")
        ttl_ms["e18"] = 100_000

        b.client_pause(300)
        t0 = int(time.time() * 1000)
        replies = p.execute(raise_on_error=False)
        t1 = int(time.time() * 1000)
        errors = [r for r in replies if isinstance(r, Exception)]
        self.assertEqual(errors, [])
        self.assertIsNone(c.get("e17"))

        pair.wait_caught_up()
        for k, ms in sorted(ttl_ms.items()):
            ea = a.execute_command("PEXPIRETIME", k)
            eb = b.execute_command("PEXPIRETIME", k)
            self.assertEqual(ea, eb, "PEXPIRETIME %s: a %r, b %r (b ran it ~300 ms later)" % (k, ea, eb))
            self.assertGreaterEqual(ea, t0 + ms - 1000, "%s expires too early" % k)
            self.assertLessEqual(ea, t1 + ms + 1000, "%s expires too late" % k)
        assert_backends_equal(pair)
        self.assertEqual(pair.info()["divergences"], 0)

    # --------------------------------------------------------------------------------------------
    # divergence detection
    # --------------------------------------------------------------------------------------------

    def _divergences(self, pair):
        return pair.info()["divergences"]

    def test_divergence_counted_incr(self):
        pair = self.start_pair()
        c = pair.client()
        c.set("k", 1)
        c.set("other", "x")
        self.assertEqual(self._divergences(pair), 0)
        pair.b.client().set("k", 100)  # behind redpair's back
        self.assertEqual(c.incr("k"), 2, "the client gets the primary's reply")
        wait_until(lambda: self._divergences(pair) >= 1, timeout=5, what="divergences >= 1")
        c.set("other", "y")  # identical replies: no new divergence
        c.incr("other2")
        pair.wait_caught_up()
        self.assertEqual(self._divergences(pair), 1)

    def test_divergence_counted_set_get(self):
        pair = self.start_pair(write_ack="primary")
        c = pair.client()
        pair.b.client().set("s", "behind")
        self.assertIsNone(c.set("s", "through", get=True), "the client gets the primary's reply")
        wait_until(lambda: self._divergences(pair) >= 1, timeout=5, what="divergences >= 1")
        self.assertEqual(self._divergences(pair), 1)

    def test_identical_errors_are_not_divergences(self):
        pair = self.start_pair()
        c = pair.client()
        c.lpush("l", "x")
        with self.assertRaises(redis.ResponseError):
            c.incr("l")
        with self.assertRaises(redis.ResponseError):
            c.execute_command("SET", "k", "v", "EX", "notanumber")
        pair.wait_caught_up()
        self.assertEqual(self._divergences(pair), 0)

    # --------------------------------------------------------------------------------------------
    # databases
    # --------------------------------------------------------------------------------------------

    def test_select_per_client(self):
        pair = self.start_pair()
        c0, c3, c5 = pair.client(0), pair.client(3), pair.client(5)
        for i in range(20):
            c3.set("k", "three-%d" % i)
            c5.set("k", "five-%d" % i)
            c0.set("k", "zero-%d" % i)
            c3.rpush("l", i)
            c5.rpush("l", -i)
        self.assertEqual(c3.get("k"), b"three-19")
        self.assertEqual(c5.get("k"), b"five-19")
        self.assertEqual(c0.get("k"), b"zero-19")

        # One raw connection switching databases mid-pipeline.
        with pair.raw() as conn:
            cmds = [
                ("SELECT", "3"), ("SET", "mixed", "in3"), ("SELECT", "5"), ("SET", "mixed", "in5"),
                ("GET", "k"), ("SELECT", "3"), ("GET", "k"), ("SELECT", "0"), ("GET", "mixed"),
            ]
            conn.send(b"".join(resp_command(*x) for x in cmds))
            replies = conn.read_replies(len(cmds))
        self.assertEqual(
            replies,
            [b"+OK\r\n", b"+OK\r\n", b"+OK\r\n", b"+OK\r\n", b"$7\r\nfive-19\r\n",
             b"+OK\r\n", b"$8\r\nthree-19\r\n", b"+OK\r\n", b"$-1\r\n"],
        )

        pair.wait_caught_up()
        for name, srv in (("a", pair.a), ("b", pair.b)):
            self.assertEqual(srv.client(3).get("k"), b"three-19", name)
            self.assertEqual(srv.client(5).get("k"), b"five-19", name)
            self.assertEqual(srv.client(0).get("k"), b"zero-19", name)
            self.assertEqual(srv.client(3).llen("l"), 20, name)
            self.assertEqual(srv.client(5).llen("l"), 20, name)
            self.assertEqual(srv.client(0).exists("l"), 0, name)
            self.assertEqual(srv.client(3).get("mixed"), b"in3", name)
            self.assertEqual(srv.client(5).get("mixed"), b"in5", name)
            self.assertIsNone(srv.client(0).get("mixed"), name)
        assert_backends_equal(pair)

    def test_a_transaction_undone_by_oom_leaves_the_database_right(self):
        """Under maxmemory, an INCR refused as it queues undoes its whole transaction (EXECABORT),
        SELECTs and all; what redpair sends next on that link must still go to its database."""
        pair = self.start_pair()
        for db in (0, 3):
            pair.client(db).set("k", "db%d" % db)
        pair.wait_caught_up()
        c = pair.client()
        self.assertTrue(c.config_set("maxmemory", "1"))
        try:
            with pair.raw() as conn:
                cmds = [("SELECT", "3"), ("SET", "a", "1"), ("INCR", "n"), ("SELECT", "0"), ("DEL", "k")]
                conn.send(b"".join(resp_command(*x) for x in cmds))
                replies = conn.read_replies(len(cmds))
            self.assertTrue(replies[1].startswith(b"-OOM") and replies[2].startswith(b"-OOM"), replies)
            # DEL may go in a transaction, which the offset mark makes refuse it (the README's
            # known limit); the point is where the DEL goes when it does run.
            self.assertIn(replies[4], (b":1\r\n", b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"))
        finally:
            self.assertTrue(c.config_set("maxmemory", "0"))  # never refused: a setting goes bare
        if replies[4] != b":1\r\n":
            c.delete("k")
        pair.wait_caught_up()
        for name, srv in (("a", pair.a), ("b", pair.b)):
            self.assertIsNone(srv.client(0).get("k"), name)
            self.assertEqual(srv.client(3).get("k"), b"db3", name)
        assert_backends_equal(pair)

    def test_select_concurrent_clients(self):
        """Threads in different databases pushing to the same key name, interleaved."""
        pair = self.start_pair()
        dbs = (0, 1, 2, 7)

        def work(tid, port):
            r = redis.Redis(host="127.0.0.1", port=port, db=dbs[tid % len(dbs)], socket_timeout=30)
            try:
                for i in range(100):
                    r.rpush("q", "%d:%d" % (tid, i))
                    r.incr("n")
            finally:
                r.close()

        run_threads(work, 16, pair.port)
        pair.wait_caught_up()
        for db in dbs:
            for name, srv in (("a", pair.a), ("b", pair.b)):
                self.assertEqual(srv.client(db).get("n"), b"400", "db %d on %s" % (db, name))
                items = srv.client(db).lrange("q", 0, -1)
                self.assertEqual(len(items), 400)
                self.assertTrue(all(int(x.split(b":")[0]) % len(dbs) == dbs.index(db) for x in items), db)
        assert_backends_equal(pair)


if __name__ == "__main__":
    main()
