"""TLS everywhere, with real handshakes: certificates made by the openssl CLI (tlscerts.py), TLS-only
redis-servers (port 0, tls-port, client certificates required), redpair on tls-port only with
backend-tls, and real clients (redis-cli --tls, redis-py, ioredis, curl).

Run: /usr/bin/python3 tests/integration/test_tls.py   (REDPAIR_BIN=path/to/redpair)
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import redis

from harness import (
    REDIS_CLI,
    TOKEN,
    Pair,
    RedisServer,
    RedpairTestCase,
    assert_backends_equal,
    free_port,
    main,
    redpair_args,
    redpair_bin,
    wait_until,
)
from test_cluster import ClusterCase
from test_ha import HA_ARGS, Writers
from tlscerts import Certs


def whole_log(rp):
    with open(rp.log_path, errors="replace") as f:
        return f.read()


def handshake(port, certs, cert="client"):
    """A TLS connection to port presenting cert (None: none): the server's certificate subject
    CN once the server answered a PING, or the ssl/OS error that ended it."""
    ctx = ssl.create_default_context(cafile=certs.path("ca"))
    if cert:
        ctx.load_cert_chain(certs.path(cert), certs.path(cert, "key"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"PING\r\n")
                reply = s.recv(64)
                if not reply:
                    return ConnectionError("closed")
                subject = dict(x[0] for x in s.getpeercert()["subject"])
                return subject["commonName"]
    except (ssl.SSLError, OSError) as e:
        return e


class WithCerts:
    """One set of certificates for a test class."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certs()

    @classmethod
    def tearDownClass(cls):
        cls.certs.cleanup()


class TLSTest(WithCerts, RedpairTestCase):

    def pair(self, extra=(), **kw):
        p = Pair(tls=self.certs, extra=list(extra), **kw)
        self._track(p.redpair)
        self.addCleanup(p.cleanup)
        return p

    def cli(self, port, *args, cert="client"):
        tls = ["--tls", "--cacert", self.certs.path("ca")]
        if cert:
            tls += ["--cert", self.certs.path(cert), "--key", self.certs.path(cert, "key")]
        return subprocess.run([REDIS_CLI, "-p", str(port)] + tls + list(args), capture_output=True,
                              text=True, timeout=30)

    def wait_logged(self, rp, pattern):
        return wait_until(lambda: re.search(pattern, whole_log(rp)), timeout=10,
                          what="%r in redpair's log" % pattern)

    def test_redis_cli_to_tls_only_backends(self):
        pair = self.pair()
        for i in range(50):
            self.assertEqual(self.cli(pair.port, "SET", "k:%d" % i, "v%d" % i).stdout.strip(), "OK")
        self.assertEqual(self.cli(pair.port, "INCRBY", "n", "5").stdout.strip(), "5")
        self.assertEqual(self.cli(pair.port, "GET", "k:7").stdout.strip(), "v7")
        # redpair's own ports, as CONFIG GET port shows its port
        self.assertEqual(self.cli(pair.port, "CONFIG", "GET", "port").stdout.split(), ["port", "0"])
        self.assertEqual(self.cli(pair.port, "CONFIG", "GET", "tls-port").stdout.split(),
                         ["tls-port", str(pair.port)])
        pair.wait_caught_up()
        self.assertEqual(pair.a.client().get("k:49"), b"v49")
        self.assertEqual(pair.b.client().get("k:49"), b"v49")
        assert_backends_equal(pair)

    def test_redis_py_large_values_pipelines_and_pubsub(self):
        pair = self.pair()
        r = pair.client()
        big = os.urandom(3 << 20)  # many TLS records each way
        self.assertTrue(r.set("big", big))
        self.assertEqual(r.get("big"), big)
        with r.pipeline(transaction=False) as p:
            for i in range(2000):
                p.rpush("list", i)
            self.assertEqual(p.execute()[-1], 2000)
        sub = pair.client().pubsub()
        sub.subscribe("ch")
        wait_until(lambda: sub.get_message(timeout=0.1), what="subscribed")
        wait_until(lambda: r.publish("ch", "hello") == 1, what="a subscriber")
        msg = wait_until(lambda: sub.get_message(timeout=0.1), what="the message")
        self.assertEqual(msg["data"], b"hello")
        sub.close()
        pair.wait_caught_up()
        assert_backends_equal(pair)

    def test_client_certificates(self):
        pair = self.pair()
        self.assertEqual(handshake(pair.port, self.certs), "server")
        for cert, reason in (
            (None, "peer did not return a certificate"),
            ("expired", "certificate verify failed: certificate has expired"),
            ("stranger", "certificate verify failed: unable to get local issuer certificate"),
        ):
            with self.subTest(cert=cert):
                self.assertIsInstance(handshake(pair.port, self.certs, cert), Exception)
                self.wait_logged(pair.redpair, r"TLS handshake with client 127\.0\.0\.1:\d+ failed: "
                                 + re.escape(reason))
                with self.assertRaises(redis.exceptions.ConnectionError):
                    redis.Redis(port=pair.port, socket_timeout=5, **self.certs.redis_kw(cert)).ping()
        self.assertTrue(pair.client().ping())

    def test_optional_client_certificates(self):
        pair = self.pair(extra=["--tls-auth-clients", "optional"])
        self.assertTrue(redis.Redis(port=pair.port, **self.certs.redis_kw(None)).set("k", "v"))
        self.assertEqual(pair.client().get("k"), b"v")
        # optional still checks a certificate that is shown
        self.assertIsInstance(handshake(pair.port, self.certs, "expired"), Exception)
        self.wait_logged(pair.redpair, "certificate has expired")

    def test_maxclients_reply_goes_out_over_tls(self):
        pair = self.pair(extra=["--maxclients", "1"])
        pair.info()  # the one client redpair takes
        ctx = ssl.create_default_context(cafile=self.certs.path("ca"))
        ctx.load_cert_chain(self.certs.path("client"), self.certs.path("client", "key"))
        with socket.create_connection(("127.0.0.1", pair.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                got = b""
                while not got.endswith(b"\r\n"):
                    chunk = s.recv(256)
                    self.assertTrue(chunk, "closed before the refusal: %r" % got)
                    got += chunk
        self.assertEqual(got, b"-ERR max number of clients reached\r\n")

    def test_plain_refused_on_tls_only(self):
        pair = self.pair()
        with socket.create_connection(("127.0.0.1", pair.port), timeout=10) as s:
            s.sendall(b"PING\r\n")
            try:
                reply = s.recv(64)
            except ConnectionResetError:
                reply = b""
            self.assertNotIn(b"PONG", reply)  # closed, or a TLS alert
        self.wait_logged(pair.redpair, r"TLS handshake with client 127\.0\.0\.1:\d+ failed: ")
        self.assertTrue(pair.client().ping())

    def test_config_checks(self):
        c = self.certs

        def check(*args):
            return subprocess.run([redpair_bin(), "--check-config", os.devnull, "--backend", "a",
                                   "127.0.0.1", "1", "--backend", "b", "127.0.0.1", "2"] + list(args),
                                  capture_output=True, text=True, timeout=30)

        run = check("--port", "0")
        self.assertEqual(run.returncode, 1)
        self.assertIn("'port 0' needs a 'tls-port'", run.stderr)
        run = check("--tls-port", "7000", "--tls-cert-file", c.path("server"), "--tls-key-file",
                    c.path("client", "key"), "--tls-ca-cert-file", c.path("ca"))
        self.assertEqual(run.returncode, 1)
        self.assertIn("does not match certificate", run.stderr)
        run = check("--tls-cert-file", "/nonexistent.crt")
        self.assertIn("tls-cert-file '/nonexistent.crt' cannot be read", run.stderr)
        run = check("--tls-port", "7000", "--tls-cert-file", c.path("server"), "--tls-key-file",
                    c.path("server", "key"))
        self.assertIn("tls-auth-clients yes needs 'tls-ca-cert-file'", run.stderr)
        run = check("--tls-protocols", "TLSv1.2 SSLv3")
        self.assertIn("tls-protocols must be", run.stderr)
        run = check("--port", "0", "--tls-port", "7000", "--tls-protocols", "TLSv1.3", *c.server_args())
        self.assertEqual(run.returncode, 0, run.stderr)
        run = check("--tls-port", "7000", "--tls-ciphers", "NO-SUCH-CIPHER", *c.server_args())
        self.assertIn("invalid tls-ciphers 'NO-SUCH-CIPHER'", run.stderr)
        # a key under a passphrase: tls-key-file-pass
        locked = os.path.join(c.dir, "locked.key")
        subprocess.run(["openssl", "pkey", "-in", c.path("server", "key"), "-aes256", "-passout",
                        "pass:s3cret", "-out", locked], check=True, capture_output=True)
        args = ["--tls-port", "7000", *c.server_args(), "--tls-key-file", locked]
        self.assertEqual(check(*args, "--tls-key-file-pass", "s3cret").returncode, 0)
        run = check(*args, "--tls-key-file-pass", "wrong")
        self.assertIn("cannot load private key '%s'" % locked, run.stderr)

    def test_admin_api_over_https(self):
        port = free_port()
        pair = self.pair(extra=["--admin-port", str(port), "--admin-tls", "yes", "--admin-token", TOKEN])

        def curl(url, *args):
            return subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", self.certs.path("ca")]
                                  + list(args) + [url], capture_output=True, text=True, timeout=30)

        base = "https://127.0.0.1:%d" % port
        run = curl(base + "/api/v1/status", "-H", "Authorization: Bearer " + TOKEN)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(json.loads(run.stdout)["primary"], "a")
        run = curl(base + "/", "-o", "/dev/null", "-w", "%{http_code}")
        self.assertEqual(run.stdout, "200", run.stderr)  # the dashboard
        run = curl("http://127.0.0.1:%d/healthz" % port)
        self.assertNotEqual(run.returncode, 0, "plain HTTP answered on the HTTPS port")
        self.wait_logged(pair.redpair, r"TLS handshake with admin client 127\.0\.0\.1:\d+ failed: ")
        self.assertIn("admin API on https://127.0.0.1:%d/" % port, whole_log(pair.redpair))

    def test_sighup_reloads_certificates(self):
        c = self.certs
        c.issue("server2", "ca", san="IP:127.0.0.1,DNS:localhost")
        live = os.path.join(c.dir, "live")
        os.makedirs(live, exist_ok=True)
        crt, key = os.path.join(live, "rp.crt"), os.path.join(live, "rp.key")
        shutil.copyfile(c.path("server"), crt)
        shutil.copyfile(c.path("server", "key"), key)
        pair = self.pair(extra=["--tls-cert-file", crt, "--tls-key-file", key])
        before = pair.client()
        before.set("k", "1")
        self.assertEqual(handshake(pair.port, c), "server")

        shutil.copyfile(c.path("server2"), crt)
        shutil.copyfile(c.path("server2", "key"), key)
        os.kill(pair.redpair.pid, signal.SIGHUP)
        self.wait_logged(pair.redpair, "TLS certificates reloaded")
        self.assertEqual(handshake(pair.port, c), "server2")
        self.assertEqual(before.incr("k"), 2)  # an existing connection keeps its own

        shutil.copyfile(c.path("server", "key"), key)  # no longer the certificate's key
        os.kill(pair.redpair.pid, signal.SIGHUP)
        self.wait_logged(pair.redpair, "TLS certificates not reloaded, the old ones stay in use: "
                         "private key '%s' does not match certificate '%s'" % (key, crt))
        self.assertEqual(handshake(pair.port, c), "server2")
        pair.wait_caught_up()
        assert_backends_equal(pair)

    def test_kill_tls_backend_under_load(self):
        pair = self.pair(extra=HA_ARGS)
        w = Writers(pair.port, count=8, client_kw=self.certs.redis_kw())
        self.addCleanup(w.finish)
        wait_until(lambda: w.total() > 300, timeout=20, what="writes flowing")
        pair.a.kill()
        wait_until(lambda: pair.info()["primary"] == "b", timeout=10, what="b primary")
        before = w.total()
        wait_until(lambda: w.total() > before + 300, timeout=20, what="writes flowing on b alone")
        pair.a = RedisServer(port=pair.a.port, tls=self.certs)
        pair.wait_in_sync(timeout=30)
        w.finish()
        pair.wait_caught_up(timeout=30)
        w.check(pair.b)
        w.check(pair.a)
        assert_backends_equal(pair)

    def test_ioredis(self):
        from test_ioredis import CLIENTS, node_modules_for

        work = os.path.join(os.path.dirname(os.path.abspath(redpair_bin())), "clients")
        node_modules_for(work)
        pair = self.pair()
        env = dict(os.environ, NODE_PATH=os.path.join(work, "node_modules"), REDPAIR_PORT=str(pair.port),
                   REDPAIR_TLS_CA=self.certs.path("ca"), REDPAIR_TLS_CERT=self.certs.path("client"),
                   REDPAIR_TLS_KEY=self.certs.path("client", "key"))
        run = subprocess.run(["node", "--test", os.path.join(CLIENTS, "ioredis.test.js")], env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        pair.wait_caught_up()
        assert_backends_equal(pair)


class ClusterTLSTest(WithCerts, ClusterCase):

    def test_peers_over_mutual_tls_elect_and_reelect(self):
        c = self.certs
        lines = ["cluster-tls yes", "tls-cert-file " + c.path("server"), "tls-key-file " + c.path("server", "key"),
                 "tls-ca-cert-file " + c.path("ca")]
        cl = self.start_cluster(extra=lines)
        w = self.writers(cl)
        wait_until(lambda: w.acked() > 200, timeout=20, what="writes through both side-cars")
        old = cl.leader()
        old.kill()
        cl.wait_leader(timeout=10, exclude=(old.name,))
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 200, timeout=20, what="writes through the new leader")
        self.settle(cl, w)
        for n in cl.nodes:
            self.assertFalse(n.logged("TLS handshake with"), n.log_tail())

    def test_follower_relays_tls_clients_to_a_tls_only_leader(self):
        c = self.certs
        lines = ["cluster-tls yes"] + ["%s %s" % (a[2:], b) for a, b in zip(*[iter(c.server_args())] * 2)]
        cl = self.start_cluster(extra=lines, tls=c)
        follower = cl.followers()[0]
        with follower.client() as r:  # TLS to the follower, which relays over TLS to the leader
            self.assertTrue(r.set("via", "follower"))
            with r.pipeline(transaction=False) as p:
                for i in range(1000):
                    p.incr("n")
                self.assertEqual(p.execute()[-1], 1000)
            self.assertEqual(r.get("via"), b"follower")
        self.assertIsInstance(handshake(follower.port, c, "expired"), Exception)
        cl.wait_caught_up()
        self.assertEqual(cl.a.client().get("n"), b"1000")
        assert_backends_equal(cl)

    def test_a_peer_without_the_ca_is_refused(self):
        c = self.certs
        lines = ["cluster-tls yes", "tls-cert-file " + c.path("server"), "tls-key-file " + c.path("server", "key"),
                 "tls-ca-cert-file " + c.path("ca")]
        cl = self.start_cluster(extra=lines, start=False)
        stranger = cl.nodes[-1]  # the witness, with a certificate from another CA
        stranger.base_lines = [line for line in stranger.base_lines if not line.startswith("tls-")] + [
            "tls-cert-file " + c.path("stranger"), "tls-key-file " + c.path("stranger", "key"),
            "tls-ca-cert-file " + c.path("ca")]
        for n in cl.nodes:
            n.write_config(cl.nodes)
            n.start()
        for n in cl.nodes:
            n.wait_answers()
        wait_until(lambda: any(n.logged("TLS handshake with cluster peer") and
                               n.logged("unable to get local issuer certificate") for n in cl.nodes[:2]),
                   timeout=15, what="the stranger's certificate refused")


if __name__ == "__main__":
    main()
