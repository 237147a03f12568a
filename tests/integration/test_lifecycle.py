"""redpair's life under a supervisor: sd_notify readiness and status, and the orderly end on
SIGTERM (no new clients, in-flight requests answered, bounded by a deadline).

Run: /usr/bin/python3 tests/integration/test_lifecycle.py   (REDPAIR_BIN=path/to/redpair)
"""

import os
import signal
import socket
import tempfile

import redis

from harness import (
    RedpairTestCase,
    main,
    redpair_args,
    resp_command,
    run_threads,
    wait_until,
)

CLIENTS = 8
PIPELINE = 500  # below client.c's flow-control pause (1024 owed replies), so all are dispatched
DRAIN_MS = 5000  # LIFECYCLE_DRAIN_MS


def pause_writes(pair, ms):
    """Holds every write on both servers (CLIENT PAUSE WRITE): redpair dispatches the clients'
    writes, whose replies then wait on the servers. Probes (PING, INFO) still answer."""
    for server in (pair.a, pair.b):
        server.client().execute_command("CLIENT", "PAUSE", ms, "WRITE")


def unpause_writes(pair):
    for server in (pair.a, pair.b):
        server.client().execute_command("CLIENT", "UNPAUSE")


def refuses_connections(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


class LifecycleTest(RedpairTestCase):
    def send_pipelines(self, pair):
        """CLIENTS raw connections, each with PIPELINE INCRs of its own key sent at once; returns
        them once redpair has sequenced every one of those writes."""
        start = pair.info()["stream_offset"]
        conns = []
        for i in range(CLIENTS):
            c = pair.raw(timeout=30)
            self.addCleanup(c.close)
            c.send(b"".join(resp_command("INCR", "ctr:%d" % i) for _ in range(PIPELINE)))
            conns.append(c)
        wait_until(
            lambda: pair.info()["stream_offset"] - start >= CLIENTS * PIPELINE,
            what="every pipelined write sequenced",
        )
        pair.drop_info_client()
        return conns

    def sigterm(self, pair):
        pair.redpair.stopped = True  # the test reaps it itself
        pair.redpair.proc.send_signal(signal.SIGTERM)

    def test_sigterm_answers_in_flight_pipelines(self):
        pair = self.start_pair()
        pause_writes(pair, 30000)
        self.addCleanup(unpause_writes, pair)
        conns = self.send_pipelines(pair)

        self.sigterm(pair)
        # The listener closes at once, while the writes are still held on the servers.
        wait_until(lambda: refuses_connections(pair.port), timeout=5, what="the client port closed")
        self.assertIsNone(pair.redpair.proc.poll(), "redpair exited with replies still owed")
        unpause_writes(pair)

        def collect(i):
            c = conns[i]
            replies = c.read_replies(PIPELINE)
            tail = c.read_until_closed(timeout=10)
            return replies, tail

        for i, (replies, tail) in enumerate(run_threads(collect, CLIENTS)):
            self.assertEqual(replies, [b":%d\r\n" % n for n in range(1, PIPELINE + 1)], "client %d" % i)
            self.assertEqual(tail, b"", "client %d got more than its replies" % i)
        self.assertEqual(pair.redpair.proc.wait(timeout=10), 0, pair.redpair.log_tail())
        for server in (pair.a, pair.b):
            r = server.client()
            for i in range(CLIENTS):
                self.assertEqual(r.get("ctr:%d" % i), b"%d" % PIPELINE)
        with open(pair.redpair.log_path) as f:
            log = f.read()
        self.assertIn("received SIGTERM, shutting down", log)
        self.assertIn("every client has its replies", log)

    def test_drain_gives_up_after_the_deadline(self):
        pair = self.start_pair()
        pause_writes(pair, 60000)
        self.addCleanup(unpause_writes, pair)
        conns = self.send_pipelines(pair)
        idle = pair.raw()
        self.addCleanup(idle.close)
        self.assertEqual(idle.cmd("PING"), b"+PONG\r\n")

        self.sigterm(pair)
        # A client owed nothing is let go at once; the others wait for the deadline.
        self.assertEqual(idle.read_until_closed(timeout=DRAIN_MS / 2000), b"")
        self.assertEqual(pair.redpair.proc.wait(timeout=DRAIN_MS / 1000 + 15), 0)
        with open(pair.redpair.log_path) as f:
            log = f.read()
        self.assertIn("%d client(s) still owed replies after %d ms" % (CLIENTS, DRAIN_MS), log)
        for c in conns:
            self.assertEqual(c.read_until_closed(timeout=5), b"")

    def test_second_signal_stops_at_once(self):
        pair = self.start_pair()
        pause_writes(pair, 60000)
        self.addCleanup(unpause_writes, pair)
        self.send_pipelines(pair)
        self.sigterm(pair)
        wait_until(lambda: refuses_connections(pair.port), timeout=5, what="the client port closed")
        pair.redpair.proc.send_signal(signal.SIGINT)
        self.assertEqual(pair.redpair.proc.wait(timeout=DRAIN_MS / 1000 / 2), 0)
        with open(pair.redpair.log_path) as f:
            self.assertIn("received SIGINT while draining: stopping now", f.read())

    def soft_limit(self, pid):
        with open("/proc/%d/limits" % pid) as f:
            line = next(l for l in f if l.startswith("Max open files"))
        return int(line.split()[3])

    def limited_redpair(self, soft, hard, maxclients, drop_sys_resource=False):
        a, b = self.start_redis(), self.start_redis()
        wrap = ["prlimit", "--nofile=%d:%d" % (soft, hard), "--"]
        if drop_sys_resource:  # as root could raise the hard limit too
            wrap += ["setpriv", "--bounding-set", "-sys_resource", "--inh-caps", "-sys_resource", "--"]
        return self.start_redpair(redpair_args(a.port, b.port, extra=["--maxclients", str(maxclients)]),
                                  wrap=wrap)

    def test_open_files_limit_raised_for_maxclients(self):
        """As Redis does: a soft ulimit -n below maxclients plus what redpair keeps open itself is
        raised at start (FDLIMIT_RESERVED, 64)."""
        rp = self.limited_redpair(256, 4096, 1000)
        self.assertEqual(self.soft_limit(rp.proc.pid), 1064)
        self.assertIn("open files limit raised from 256 to 1064 for maxclients 1000", rp.log_tail())

    def test_maxclients_lowered_to_the_open_files_limit(self):
        """Where even the hard limit leaves too few descriptors, maxclients is lowered to fit,
        with a warning, and the client past it is refused with Redis's error rather than
        dropped without a word when accept() finds no descriptor."""
        rp = self.limited_redpair(128, 128, 1000, drop_sys_resource=True)
        self.assertIn("maxclients 1000 needs 1064 open files, but this process may open 128 "
                      "(ulimit -n; LimitNOFILE in the systemd unit): maxclients is 64", rp.log_tail())
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        for _ in range(64):
            conns.append(redis.Redis(port=rp.port, single_connection_client=True))
            conns[-1].ping()
        with socket.create_connection(("127.0.0.1", rp.port), timeout=10) as extra:
            extra.sendall(resp_command("PING"))
            self.assertEqual(extra.recv(100), b"-ERR max number of clients reached\r\n")

    def test_sd_notify(self):
        """READY=1 once the client port is open, STATUS= lines, STOPPING=1 on SIGTERM, all on the
        datagram socket systemd names in NOTIFY_SOCKET."""
        tmp = tempfile.mkdtemp(prefix="redpair-notify-")
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        self.addCleanup(sock.close)
        self.addCleanup(os.rmdir, tmp)
        self.addCleanup(os.unlink, path)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            pair = self.start_pair()
        finally:
            del os.environ["NOTIFY_SOCKET"]

        sock.settimeout(10)
        messages = []

        def receive_until(field):
            while not any(field in m.split("\n") for m in messages):
                messages.append(sock.recv(4096).decode())

        receive_until("READY=1")
        ready = next(m for m in messages if "READY=1" in m.split("\n"))
        self.assertIn("STATUS=accepting clients on port %d" % pair.port, ready.split("\n"))
        self.assertEqual(messages[0], "STATUS=waiting for the backends")
        self.assertEqual(pair.client().ping(), True)

        pair.drop_info_client()
        self.sigterm(pair)
        receive_until("STOPPING=1")
        self.assertTrue(any(line.startswith("STATUS=shutting down") for line in messages[-1].split("\n")))
        self.assertEqual(pair.redpair.proc.wait(timeout=10), 0)


if __name__ == "__main__":
    main()
