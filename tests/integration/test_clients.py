"""Stock Redis clients work unchanged against redpair: redis-cli (plain, --pipe, -r) and
redis-benchmark (plain and pipelined); afterwards both backends hold the same data.

Run: /usr/bin/python3 tests/integration/test_clients.py   (REDPAIR_BIN=path/to/redpair)
"""

import subprocess
import tempfile

from harness import (
    REDIS_BENCHMARK,
    REDIS_CLI,
    RedpairTestCase,
    assert_backends_equal,
    main,
    resp_command,
)

BENCH_TESTS = ("SET", "GET", "INCR", "LPUSH", "LPOP")


class ClientsTest(RedpairTestCase):
    def cli(self, port, *args, stdin=None, timeout=60):
        p = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port)] + [str(a) for a in args],
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        return p

    def bench(self, port, *args, timeout=120):
        p = subprocess.run(
            [REDIS_BENCHMARK, "-h", "127.0.0.1", "-p", str(port)] + [str(a) for a in args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        return p

    def test_redis_cli(self):
        pair = self.start_pair()
        p = self.cli(pair.port, "set", "k", "v")
        self.assertEqual((p.returncode, p.stdout), (0, b"OK\n"), p.stderr)
        p = self.cli(pair.port, "get", "k")
        self.assertEqual(p.stdout, b"v\n", p.stderr)
        p = self.cli(pair.port, "-n", "4", "rpush", "list", "a", "b c")
        self.assertEqual(p.stdout, b"2\n", p.stderr)
        p = self.cli(pair.port, "-n", "4", "lrange", "list", "0", "-1")
        self.assertEqual(p.stdout, b"a\nb c\n", p.stderr)
        p = self.cli(pair.port, "--raw", "info", "redpair")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"# redpair", p.stdout)
        self.assertIn(b"primary:a", p.stdout)
        p = self.cli(pair.port, "config", "get", "maxmemory")
        self.assertEqual(p.stdout, b"maxmemory\n0\n", p.stderr)
        p = self.cli(pair.port, "nosuchcommand")
        self.assertIn(b"unknown command", p.stdout + p.stderr)

        p = self.cli(pair.port, "-r", "100", "incr", "c")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.split()
        self.assertEqual(lines, [str(i).encode() for i in range(1, 101)])
        pair.wait_caught_up()
        for srv in (pair.a, pair.b):
            self.assertEqual(srv.client().get("c"), b"100")
            self.assertEqual(srv.client(4).lrange("list", 0, -1), [b"a", b"b c"])
        assert_backends_equal(pair)

    def test_redis_cli_pipe_mass_insert(self):
        pair = self.start_pair()
        n = 20000
        chunks = []
        for i in range(n):
            chunks.append(resp_command("SET", "key:%d" % i, "value:%d" % i))
        for i in range(2000):
            chunks.append(resp_command("RPUSH", "mass:list", i))
            chunks.append(resp_command("HSET", "mass:hash:%d" % (i % 10), "f%d" % i, i))
        chunks.append(resp_command("INCRBY", "mass:ctr", 5))
        total = n + 4000 + 1
        with tempfile.NamedTemporaryFile(prefix="redpair-mass-", suffix=".resp") as f:
            f.write(b"".join(chunks))
            f.flush()
            with open(f.name, "rb") as data:
                p = subprocess.run(
                    [REDIS_CLI, "-h", "127.0.0.1", "-p", str(pair.port), "--pipe"],
                    stdin=data,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=60,
                )
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("errors: 0, replies: %d" % total, out)
        pair.wait_caught_up()
        self.assertEqual(pair.client().dbsize(), n + 1 + 10 + 1)
        for name, srv in (("a", pair.a), ("b", pair.b)):
            c = srv.client()
            self.assertEqual(c.get("key:0"), b"value:0", name)
            self.assertEqual(c.hlen("mass:hash:3"), 200, name)
            self.assertEqual(c.get("key:12345"), b"value:12345", name)
            self.assertEqual(c.llen("mass:list"), 2000, name)
            self.assertEqual(c.get("mass:ctr"), b"5", name)
        assert_backends_equal(pair)

    def test_redis_cli_with_password(self):
        pair = self.start_pair(requirepass="secret")
        p = self.cli(pair.port, "-a", "secret", "--no-auth-warning", "set", "k", "v")
        self.assertEqual(p.stdout, b"OK\n", p.stderr)
        p = self.cli(pair.port, "get", "k")
        self.assertIn(b"NOAUTH", p.stdout + p.stderr)
        p = self.cli(pair.port, "-a", "wrong", "--no-auth-warning", "get", "k")
        self.assertIn(b"WRONGPASS", p.stdout + p.stderr)
        self.assertEqual(pair.b.client().get("k"), b"v")

    def _check_bench(self, p):
        out = p.stdout.decode(errors="replace").replace("\r", "\n")
        err = p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out + err)
        for t in BENCH_TESTS:
            self.assertRegex(out, r"(?m)^%s: [\d.]+ requests per second" % t, out + err)
        # Any error reply shows up as "Error from server" in redis-benchmark's output.
        self.assertNotIn("Error from server", out + err)
        return out

    def test_redis_benchmark(self):
        pair = self.start_pair()
        tests = ",".join(t.lower() for t in BENCH_TESTS)

        p = self.bench(pair.port, "-t", tests, "-n", 20000, "-c", 20, "-q")
        self._check_bench(p)
        pair.wait_caught_up()
        a, b = pair.a.client(), pair.b.client()
        # Without -r every INCR hits one key; LPUSH and LPOP balance out.
        self.assertEqual(a.get("counter:__rand_int__"), b"20000")
        self.assertEqual(a.exists("mylist"), 0)
        assert_backends_equal(pair)

        p = self.bench(pair.port, "-t", tests, "-n", 20000, "-c", 20, "-q", "-P", 16)
        self._check_bench(p)
        pair.wait_caught_up()
        self.assertEqual(a.get("counter:__rand_int__"), b"40000")
        self.assertEqual(b.get("counter:__rand_int__"), b"40000")
        self.assertEqual(a.exists("mylist"), 0)
        assert_backends_equal(pair)

        p = self.bench(pair.port, "-t", "set,incr", "-n", 20000, "-c", 20, "-q", "-r", 1000, "-P", 8)
        out = p.stdout.decode(errors="replace").replace("\r", "\n")
        self.assertEqual(p.returncode, 0, out)
        self.assertRegex(out, r"(?m)^INCR: [\d.]+ requests per second")
        pair.wait_caught_up()
        total = sum(int(v) for k in a.scan_iter("counter:*") for v in [a.get(k)])
        self.assertEqual(total, 40000 + 20000)
        assert_backends_equal(pair)
        self.assertEqual(pair.info()["divergences"], 0)

    def test_redis_benchmark_write_ack_primary(self):
        pair = self.start_pair(write_ack="primary")
        p = self.bench(pair.port, "-t", "set,incr,lpush", "-n", 20000, "-c", 20, "-q", "-P", 16, "-r", 500)
        out = p.stdout.decode(errors="replace").replace("\r", "\n")
        self.assertEqual(p.returncode, 0, out)
        self.assertRegex(out, r"(?m)^LPUSH: [\d.]+ requests per second")
        pair.wait_caught_up()
        a = pair.a.client()
        self.assertEqual(sum(int(a.get(k)) for k in a.scan_iter("counter:*")), 20000)
        self.assertEqual(a.llen("mylist"), 20000)
        assert_backends_equal(pair)


if __name__ == "__main__":
    main()
