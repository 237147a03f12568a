"""The client side of redpair on raw sockets: RESP parsing, protocol errors, inline commands,
pipelining, authentication, refused commands, output-buffer limits, dead backends, and the
command line (--check-config, --version).

Run: /usr/bin/python3 tests/integration/test_protocol.py   (REDPAIR_BIN=path/to/redpair)
"""

import os
import socket
import subprocess
import tempfile
import shutil
import time

from harness import (
    ConnectionClosed,
    RawConn,
    RedpairTestCase,
    main,
    redpair_bin,
    resp_command,
    info_raw,
    parse_info,
    rss_kb,
    wait_until,
)

MB = 1024 * 1024
LIMITS = ["--proto-max-bulk-len", "1mb", "--client-output-buffer-limit", "normal", "1mb", "0", "0"]
REDIS_LIMITS = ["--proto-max-bulk-len", "1mb"]

# Inputs Redis rejects with a protocol error, closing the connection.
GARBAGE = [
    b"*abc\r\n",
    b"*1\r\n$-5\r\n",
    b"*1\r\n$abc\r\n",
    b"*1\r\n$1048577\r\n",  # one byte over --proto-max-bulk-len 1mb
    b"*99999999999\r\n",
    b"*3000000000\r\n",
    b"*1\r\nfoo\r\n",
    b'SET a "b\r\n',
    b"x" * 70000,  # inline request with no newline in sight
]


class ProtocolTest(RedpairTestCase):
    def pair(self, **kw):
        kw.setdefault("extra", LIMITS)
        return self.start_pair(**kw)

    # --------------------------------------------------------------------------------------------
    # protocol errors
    # --------------------------------------------------------------------------------------------

    def test_protocol_errors_close_only_that_connection(self):
        pair = self.pair()
        with pair.raw(timeout=5) as bystander:
            self.assertEqual(bystander.cmd("SET", "k", "v"), b"+OK\r\n")
            for garbage in GARBAGE:
                with self.subTest(garbage=garbage[:40]):
                    with pair.raw(timeout=5) as bad:
                        bad.send(garbage)
                        data = bad.read_until_closed(timeout=5)
                    self.assertTrue(
                        data.startswith(b"-ERR Protocol error: "),
                        "%r -> %r" % (garbage[:40], data[:200]),
                    )
                    self.assertTrue(data.endswith(b"\r\n") and data.count(b"\r\n") == 1, data[:200])
                    self.assertEqual(bystander.cmd("PING"), b"+PONG\r\n")
                    self.assertEqual(bystander.cmd("GET", "k"), b"$1\r\nv\r\n")
        self.assertTrue(pair.redpair.alive())

    def test_protocol_error_text_matches_redis(self):
        pair = self.pair()
        direct = self.start_redis(extra_args=REDIS_LIMITS)
        for garbage in GARBAGE:
            with self.subTest(garbage=garbage[:40]):
                got = []
                for port in (direct.port, pair.port):
                    with RawConn(port, timeout=5) as conn:
                        conn.send(garbage)
                        got.append(conn.read_until_closed(timeout=5))
                self.assertEqual(got[1], got[0], "redpair vs redis-server for %r" % garbage[:40])

    def test_error_after_good_commands_in_same_write(self):
        """Replies to the commands before the garbage arrive, then the error, then EOF."""
        pair = self.pair()
        with pair.raw(timeout=5) as conn:
            conn.send(resp_command("SET", "x", "1") + resp_command("INCR", "x") + b"*1\r\n$-5\r\n")
            data = conn.read_until_closed(timeout=5)
        self.assertEqual(data, b"+OK\r\n:2\r\n-ERR Protocol error: invalid bulk length\r\n")
        self.assertEqual(pair.b.client().get("x"), b"2")

    def test_bulk_at_limit_is_accepted(self):
        # No output-buffer limit here: a 1 MB reply is over a 1mb hard limit, as in Redis.
        pair = self.pair(extra=["--proto-max-bulk-len", "1mb"])
        value = os.urandom(MB)
        with pair.raw(timeout=10) as conn:
            self.assertEqual(conn.cmd("SET", "big", value), b"+OK\r\n")
            self.assertEqual(conn.cmd("GET", "big"), b"$%d\r\n%s\r\n" % (MB, value))
        pair.wait_caught_up()
        self.assertEqual(pair.b.client().get("big"), value)

    # --------------------------------------------------------------------------------------------
    # framing
    # --------------------------------------------------------------------------------------------

    def test_command_split_across_many_writes(self):
        pair = self.pair()
        value = b"".join(b"%05d" % i for i in range(4000))  # 20000 bytes
        cmd = resp_command("SET", "pieces", value)
        with pair.raw(timeout=10) as conn:
            pieces = [cmd[i : i + 1] for i in range(64)]  # header a byte at a time
            pos = 64
            step = 997
            while pos < len(cmd):
                pieces.append(cmd[pos : pos + step])
                pos += step
            for i, p in enumerate(pieces):
                conn.send(p)
                if i % 8 == 0:
                    time.sleep(0.002)
            self.assertEqual(conn.read_reply(), b"+OK\r\n")
            # A pipeline cut in the middle of a length line and of a CRLF.
            two = resp_command("SET", "p2", "abc") + resp_command("GET", "p2")
            for cut in (3, 7, 12, 13, len(two) - 1):
                conn.send(two[:cut])
                time.sleep(0.01)
                conn.send(two[cut:])
                self.assertEqual(conn.read_replies(2), [b"+OK\r\n", b"$3\r\nabc\r\n"], cut)
            self.assertEqual(conn.cmd("GET", "pieces"), b"$20000\r\n" + value + b"\r\n")
        pair.wait_caught_up()
        self.assertEqual(pair.b.client().get("pieces"), value)

    def test_inline_commands(self):
        pair = self.pair()
        with pair.raw(timeout=5) as conn:
            conn.send(b"PING\r\n")
            self.assertEqual(conn.read_reply(), b"+PONG\r\n")
            conn.send(b'SET a "b c"\r\n')
            self.assertEqual(conn.read_reply(), b"+OK\r\n")
            conn.send(b"GET a\r\n")
            self.assertEqual(conn.read_reply(), b"$3\r\nb c\r\n")
            conn.send(b"set  q  'x y'\n")  # bare LF, extra spaces, single quotes
            self.assertEqual(conn.read_reply(), b"+OK\r\n")
            conn.send(b'\r\n\r\nECHO "tab\\there"\r\n')  # empty lines are skipped
            self.assertEqual(conn.read_reply(), b"$8\r\ntab\there\r\n")
            conn.send(b"PI")
            time.sleep(0.02)
            conn.send(b"NG\r\nINCR n\r\nINCR n\r\n")
            self.assertEqual(conn.read_replies(3), [b"+PONG\r\n", b":1\r\n", b":2\r\n"])
            conn.send(b"*0\r\nPING\r\n")  # empty multibulk: no reply
            self.assertEqual(conn.read_reply(), b"+PONG\r\n")
        pair.wait_caught_up()
        b = pair.b.client()
        self.assertEqual(b.get("a"), b"b c")
        self.assertEqual(b.get("q"), b"x y")
        self.assertEqual(b.get("n"), b"2")

    def test_pipeline_10k_in_one_write(self):
        pair = self.pair()
        cmds, expected = [], []
        for i in range(2500):
            cmds.append(resp_command("SET", "k%d" % i, "v%d" % i))
            expected.append(b"+OK\r\n")
            cmds.append(resp_command("GET", "k%d" % i))
            v = b"v%d" % i
            expected.append(b"$%d\r\n%s\r\n" % (len(v), v))
            cmds.append(resp_command("INCR", "ctr"))
            expected.append(b":%d\r\n" % (i + 1))
            cmds.append(resp_command("ECHO", "e%d" % i) if i % 2 else b"PING\r\n")
            e = b"e%d" % i
            expected.append(b"$%d\r\n%s\r\n" % (len(e), e) if i % 2 else b"+PONG\r\n")
        blob = b"".join(cmds)
        self.assertEqual(len(expected), 10000)
        with pair.raw(timeout=20) as conn:
            import threading

            sender = threading.Thread(target=conn.send, args=(blob,), daemon=True)
            sender.start()
            replies = conn.read_replies(len(expected))
            sender.join(timeout=20)
        for i, (got, want) in enumerate(zip(replies, expected)):
            self.assertEqual(got, want, "reply %d" % i)
        pair.wait_caught_up()
        self.assertEqual(pair.b.client().get("ctr"), b"2500")
        self.assertEqual(pair.b.client().get("k2499"), b"v2499")
        self.assertEqual(pair.client().dbsize(), 2501)

    # --------------------------------------------------------------------------------------------
    # errors as Redis words them
    # --------------------------------------------------------------------------------------------

    def test_unknown_command_error_matches_redis(self):
        pair = self.pair()
        direct = self.start_redis(extra_args=REDIS_LIMITS)
        cases = [
            ("FOOBAR",),
            ("foobar", "a", "b"),
            ("NoSuchCmd", "x" * 300, "y"),
            ("z" * 300,),
            ("OBJECT", "FOO"),
            ("GET",),
            ("SET", "k"),
            ("PING", "a", "b"),
            ("ECHO",),
            ("SELECT",),
        ]
        with RawConn(direct.port) as d, pair.raw() as p:
            for c in cases:
                with self.subTest(cmd=c[0][:20]):
                    self.assertEqual(p.cmd(*c), d.cmd(*c))
            for line in (b"foobar a b\r\n", b"\x01\x02 x\r\n"):
                d.send(line)
                p.send(line)
                self.assertEqual(p.read_reply(), d.read_reply(), line)

    # --------------------------------------------------------------------------------------------
    # requirepass
    # --------------------------------------------------------------------------------------------

    def test_requirepass(self):
        pair = self.pair(requirepass="secret")
        direct = self.start_redis(extra_args=REDIS_LIMITS + ["--requirepass", "secret"])
        script = [
            ("GET", "k"),
            ("SET", "k", "v"),
            ("PING",),
            ("AUTH", "wrong"),
            ("GET", "k"),
            ("AUTH",),
            ("AUTH", "secret"),
            ("GET", "k"),
            ("SET", "k", "v"),
            ("GET", "k"),
            ("PING",),
        ]
        got = {}
        for name, port in (("redis", direct.port), ("redpair", pair.port)):
            with RawConn(port, timeout=5) as conn:
                got[name] = [conn.cmd(*c) for c in script]
        self.assertEqual(got["redpair"][0], b"-NOAUTH Authentication required.\r\n")
        self.assertEqual(got["redpair"][3], b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        for i, c in enumerate(script):
            self.assertEqual(got["redpair"][i], got["redis"][i], "reply to %r" % (c,))
        pair.wait_caught_up()
        self.assertEqual(pair.a.client().get("k"), b"v")
        self.assertEqual(pair.b.client().get("k"), b"v")

    def test_unauthenticated_limits_match_redis(self):
        """Before AUTH, Redis takes at most 10 arguments and 16 KB per argument: a client without
        the password cannot make the server buffer megabytes."""
        pair = self.pair(requirepass="secret")
        direct = self.start_redis(extra_args=REDIS_LIMITS + ["--requirepass", "secret"])
        too_big = [
            resp_command("SET", "k", "x" * 16385),
            resp_command("DEL", *["k%d" % i for i in range(10)]),
        ]
        for data in too_big:
            with self.subTest(data=data[:30]):
                got = {}
                for name, port in (("redis", direct.port), ("redpair", pair.port)):
                    with RawConn(port, timeout=5) as conn:
                        conn.send(data)
                        got[name] = conn.read_until_closed(timeout=5)
                self.assertEqual(got["redpair"], got["redis"])
                self.assertTrue(got["redpair"].startswith(b"-ERR Protocol error: unauthenticated"))
        for name, port in (("redis", direct.port), ("redpair", pair.port)):
            with RawConn(port, timeout=5) as conn:  # at the limits: refused only for want of AUTH
                self.assertTrue(conn.cmd("SET", "k", "x" * 16384).startswith(b"-NOAUTH"), name)
                self.assertTrue(conn.cmd("DEL", *["k%d" % i for i in range(9)]).startswith(b"-NOAUTH"), name)
        with RawConn(pair.port, timeout=5) as conn:
            self.assertEqual(conn.cmd("AUTH", "secret"), b"+OK\r\n")
            self.assertEqual(conn.cmd("SET", "k", "x" * 100000), b"+OK\r\n")

    def test_requirepass_auth_with_default_user(self):
        pair = self.pair(requirepass="secret")
        direct = self.start_redis(extra_args=REDIS_LIMITS + ["--requirepass", "secret"])
        script = [("AUTH", "default", "wrong"), ("AUTH", "bob", "secret"), ("AUTH", "default", "secret"), ("PING",)]
        got = {}
        for name, port in (("redis", direct.port), ("redpair", pair.port)):
            with RawConn(port, timeout=5) as conn:
                got[name] = [conn.cmd(*c) for c in script]
        self.assertEqual(got["redpair"], got["redis"])

    def test_requirepass_redis_py(self):
        pair = self.pair(requirepass="secret")
        import redis

        bad = pair.redpair.client(password="nope")
        with self.assertRaises((redis.AuthenticationError, redis.ResponseError)) as cm:
            bad.ping()
        self.assertIn("WRONGPASS", str(cm.exception))
        good = pair.client()
        self.assertTrue(good.set("x", "1"))
        self.assertEqual(good.get("x"), b"1")

    # --------------------------------------------------------------------------------------------
    # refused commands
    # --------------------------------------------------------------------------------------------

    def test_refused_commands(self):
        pair = self.pair()
        unsupported = []  # the built-in table has none left: a module's command without flags
        admin = [
            ("CONFIG", "SET", "maxmemory", "1", "port", "1"),
            ("DEBUG", "SLEEP", "0"),
            ("SHUTDOWN",),
            ("SHUTDOWN", "NOSAVE"),
            ("REPLICAOF", "127.0.0.1", "1"),
            ("SLAVEOF", "NO", "ONE"),
            ("ACL", "LOG"),
            ("MODULE", "LOAD", "/nowhere.so"),
        ]
        with pair.raw(timeout=5) as conn:
            for c in unsupported + admin:
                with self.subTest(cmd=" ".join(c[:2])):
                    reply = conn.cmd(*c)
                    self.assertTrue(reply.startswith(b"-ERR "), "%r -> %r" % (c, reply))
                    self.assertIn(c[0].lower(), reply.decode(errors="replace").lower(), "%r -> %r" % (c, reply))
                    if c in unsupported:
                        self.assertIn(b"not supported by redpair yet", reply, "%r -> %r" % (c, reply))
                    # The connection is in no special state afterwards.
                    self.assertEqual(conn.cmd("SET", "after", c[0]), b"+OK\r\n", "after %r" % (c,))
                    self.assertEqual(conn.cmd("GET", "after"), b"$%d\r\n%s\r\n" % (len(c[0]), c[0].encode()))
            # XADD with an explicit ID is mirrored as it came.
            self.assertEqual(conn.cmd("XADD", "s2", "1-1", "f", "v"), b"$3\r\n1-1\r\n")
        self.assertTrue(pair.redpair.alive())
        self.assertTrue(pair.a.alive() and pair.b.alive())
        pair.wait_caught_up()
        self.assertEqual(pair.b.client().xlen("s2"), 1)
        self.assertEqual(pair.a.client().exists("s"), 0)
        self.assertEqual(pair.a.client().config_get("maxmemory"), {"maxmemory": "0"})
        self.assertEqual(pair.b.client().config_get("maxmemory"), {"maxmemory": "0"})

    def test_info(self):
        pair = self.pair()
        c = pair.client()
        full = info_raw(c)
        sections = parse_info(full)["#sections"]
        self.assertEqual(sections[0], "redpair", full[:500])
        self.assertIn("Server", sections, "the primary's INFO follows redpair's section")
        self.assertIn("Keyspace", sections)
        self.assertEqual(sections.count("redpair"), 1)
        self.assertIn("redis_version:", full)

        only = info_raw(c, "redpair")
        info = parse_info(only)
        self.assertEqual(info["#sections"], ["redpair"], only)
        keys = [line.split(":", 1)[0] for line in only.splitlines() if line and not line.startswith("#")]
        want = ["redpair_version", "uptime_in_seconds", "connected_clients", "write_ack", "primary",
                "stream_offset", "divergences", "backend_a", "backend_b"]
        self.assertEqual([k for k in keys if k in want], want, only)
        self.assertEqual(info["redpair_version"], "0.1.0")
        self.assertEqual(info["write_ack"], "all")
        self.assertEqual(info["primary"], "a")
        self.assertGreaterEqual(info["connected_clients"], 1)
        for name, srv, role in (("a", pair.a, "primary"), ("b", pair.b, "secondary")):
            be = info["backend_" + name]
            self.assertEqual(be["addr"], "127.0.0.1:%d" % srv.port, be)
            self.assertEqual(be["state"], "in-sync", be)
            self.assertEqual(be["role"], role, be)
            self.assertEqual(be["acked_offset"], info["stream_offset"], be)
            self.assertEqual(be["lag"], 0, be)

        # Writes advance the stream; reads and local commands do not.
        before = info["stream_offset"]
        c.set("x", "1")
        c.incr("x")
        c.get("x")
        c.ping()
        c.echo("e")
        after = parse_info(info_raw(c, "redpair"))
        self.assertEqual(after["stream_offset"], before + 2)
        for name in ("a", "b"):
            self.assertEqual(after["backend_" + name]["acked_offset"], before + 2)

        ack_primary = self.pair(write_ack="primary")
        self.assertEqual(ack_primary.info()["write_ack"], "primary")

    def test_quit(self):
        pair = self.pair()
        with pair.raw(timeout=5) as conn:
            conn.send(resp_command("SET", "q", "1") + resp_command("QUIT") + resp_command("SET", "q", "2"))
            data = conn.read_until_closed(timeout=5)
        self.assertEqual(data, b"+OK\r\n+OK\r\n")
        self.assertEqual(pair.client().get("q"), b"1")

    def test_maxclients(self):
        pair = self.pair(extra=LIMITS + ["--maxclients", "4"])
        pair.drop_info_client()
        conns = []
        try:
            # Connections the fixture closed may take a moment to be counted out: retry.
            def fill():
                while len(conns) < 4:
                    c = pair.raw(timeout=5)
                    conns.append(c)
                    if c.cmd("PING") != b"+PONG\r\n":
                        conns.pop().close()
                        return False
                return True

            wait_until(fill, timeout=5, what="4 clients connected")
            extra = pair.raw(timeout=5)
            try:
                extra.send(resp_command("PING"))
                data = extra.read_until_closed(timeout=5)
            finally:
                extra.close()
            self.assertEqual(data, b"-ERR max number of clients reached\r\n")
            self.assertEqual(conns[0].cmd("PING"), b"+PONG\r\n")
        finally:
            for c in conns:
                c.close()

    # --------------------------------------------------------------------------------------------
    # output buffer limit
    # --------------------------------------------------------------------------------------------

    def test_slow_reader_disconnected_by_output_buffer_limit(self):
        # Redis builds all 500 MB of replies for redpair's link at once and may not answer the
        # monitor for a second on a loaded machine: that is not what this test is about.
        pair = self.pair(extra=LIMITS + ["--down-after-ms", "10000"])
        big = os.urandom(512 * 1024)
        client = pair.client()
        client.set("big", big)
        requests = 1000  # 500 MB of replies if nobody stopped it
        rss_before = rss_kb(pair.redpair.pid)

        slow = pair.raw(timeout=5, rcvbuf=4096)
        try:
            self.assertEqual(slow.cmd("PING"), b"+PONG\r\n")
            clients_with_slow = pair.info()["connected_clients"]
            slow.send(resp_command("GET", "big") * requests)
            peak = [rss_before]

            def slow_gone():
                peak[0] = max(peak[0], rss_kb(pair.redpair.pid))
                return pair.info()["connected_clients"] < clients_with_slow

            wait_until(slow_gone, timeout=20, interval=0.05, what="the non-reading client to be disconnected")
            # Others are still served while and after it happens.
            self.assertEqual(client.get("big"), big)
            with pair.raw(timeout=5) as other:
                self.assertEqual(other.cmd("PING"), b"+PONG\r\n")
            for _ in range(20):
                peak[0] = max(peak[0], rss_kb(pair.redpair.pid))
                time.sleep(0.02)
            self.assertLess(peak[0], 200 * 1024, "redpair's RSS peaked at %d KiB" % peak[0])
            data = slow.read_until_closed(timeout=10, limit=requests * len(big))
            self.assertLess(len(data), requests * len(big) // 4, "the slow client got most of its replies")
        finally:
            slow.close()
        self.assertEqual(client.ping(), True)
        self.assertLess(rss_kb(pair.redpair.pid), 200 * 1024)

    # --------------------------------------------------------------------------------------------
    # dead backends
    # --------------------------------------------------------------------------------------------

    def test_primary_killed_gives_errors_not_hangs(self):
        """Until b is promoted (if redpair fails over), commands needing the primary get -ERR.
        A successful reply is only acceptable from a promoted b."""
        pair = self.pair()
        ok_replies = {
            ("GET", "k"): (b"$1\r\nv\r\n", b"$2\r\nv2\r\n"),
            ("SET", "k", "v2"): (b"+OK\r\n",),
            ("INCR", "n"): (b":1\r\n", b":2\r\n"),
        }
        succeeded = []
        with pair.raw(timeout=5) as conn:
            self.assertEqual(conn.cmd("SET", "k", "v"), b"+OK\r\n")
            pair.a.kill()
            for c in (("GET", "k"), ("SET", "k", "v2"), ("INCR", "n"), ("GET", "k")):
                try:
                    reply = conn.cmd(*c)
                except socket.timeout:
                    self.fail("%r hung for 5s after the primary was killed" % (c,))
                except (ConnectionClosed, ConnectionResetError):
                    self.fail("redpair closed the connection on %r instead of replying -ERR" % (c,))
                if reply.startswith(b"-ERR"):
                    continue
                self.assertIn(reply, ok_replies[c], "%r after the primary died -> %r" % (c, reply))
                succeeded.append(c)
            self.assertEqual(conn.cmd("PING"), b"+PONG\r\n")
        with pair.raw(timeout=5) as fresh:
            reply = fresh.cmd("GET", "k")
            if not reply.startswith(b"-ERR"):
                self.assertIn(reply, ok_replies[("GET", "k")], reply)
                succeeded.append("GET on a new connection")
        if succeeded:
            info = pair.info()
            self.assertEqual(
                info["primary"], "b", "%r succeeded with the primary dead, yet b is not primary: %r" % (succeeded, info)
            )
        self.assertTrue(pair.redpair.alive())

    def test_secondary_killed_no_hang(self):
        pair = self.pair()
        with pair.raw(timeout=5) as conn:
            self.assertEqual(conn.cmd("SET", "k", "v"), b"+OK\r\n")
            pair.b.kill()
            for c in (("SET", "k", "v2"), ("INCR", "n"), ("GET", "k"), ("PING",)):
                try:
                    reply = conn.cmd(*c)
                except socket.timeout:
                    self.fail("%r hung for 5s after the secondary was killed" % (c,))
                self.assertIn(reply[:1], (b"+", b"-", b":", b"$"), reply)
                if reply.startswith(b"-"):
                    self.assertTrue(reply.startswith(b"-ERR"), "%r -> %r" % (c, reply))
            # Reads come from the live primary.
            self.assertIn(conn.cmd("GET", "k"), (b"$1\r\nv\r\n", b"$2\r\nv2\r\n"))
        wait_until(
            lambda: pair.info()["backend_b"]["state"] != "in-sync",
            timeout=5,
            what="backend b to leave in-sync after being killed",
        )
        self.assertTrue(pair.redpair.alive())

    # --------------------------------------------------------------------------------------------
    # command line
    # --------------------------------------------------------------------------------------------

    def _run(self, *args):
        return subprocess.run(
            [redpair_bin()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=15
        )

    def test_version(self):
        p = self._run("--version")
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn(b"0.1.0", p.stdout)

    def test_check_config(self):
        d = tempfile.mkdtemp(prefix="redpair-conf-")
        self.addCleanup(shutil.rmtree, d, True)
        good = os.path.join(d, "good.conf")
        with open(good, "w") as f:
            f.write("# comment\nport 7000\nbackend a 127.0.0.1 6400\nbackend b 127.0.0.1 6401\n\nadmin-port 0\n")
        p = self._run("--check-config", good)
        self.assertEqual(p.returncode, 0, p.stdout)

        cases = {
            "unknown.conf": ("port 7000\nbackend a 127.0.0.1 6400\nbackend b 127.0.0.1 6401\nno-such-directive 1\n", 4),
            "badport.conf": ("# x\nport notanumber\nbackend a 127.0.0.1 6400\nbackend b 127.0.0.1 6401\n", 2),
            "quotes.conf": ('backend a 127.0.0.1 6400\nbackend b 127.0.0.1 6401\nrequirepass "open\n', 3),
            "writeack.conf": ("backend a 127.0.0.1 6400\nbackend b 127.0.0.1 6401\nwrite-ack sometimes\n", 3),
        }
        for name, (text, line) in cases.items():
            with self.subTest(name=name):
                path = os.path.join(d, name)
                with open(path, "w") as f:
                    f.write(text)
                p = self._run("--check-config", path)
                self.assertNotEqual(p.returncode, 0, p.stdout)
                self.assertIn(("%s:%d" % (path, line)).encode(), p.stdout, p.stdout)

        one_backend = os.path.join(d, "one.conf")
        with open(one_backend, "w") as f:
            f.write("backend a 127.0.0.1 6400\n")
        p = self._run("--check-config", one_backend)
        self.assertNotEqual(p.returncode, 0, p.stdout)

        p = self._run("--check-config", os.path.join(d, "missing.conf"))
        self.assertNotEqual(p.returncode, 0, p.stdout)

    def test_bad_command_line_exits(self):
        p = self._run("--port", "notanumber", "--backend", "a", "127.0.0.1", "1", "--backend", "b", "127.0.0.1", "2")
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn(b"port", p.stdout)


if __name__ == "__main__":
    main()
