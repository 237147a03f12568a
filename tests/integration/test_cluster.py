"""Cluster mode: real redpair daemons (two side-cars and a witness) in front of one pair of real
redis-servers, agreeing through Raft on who sequences.

Writers connected to every side-car RPUSH numbered values and record what was acknowledged; then
a leader is killed, stopped, cut off or left without a majority, and the data on the servers
themselves is checked: no acknowledged write lost, nothing a deposed leader still held applied,
both servers equal, and never two nodes sequencing at once.

Run: /usr/bin/python3 tests/integration/test_cluster.py   (REDPAIR_BIN=path/to/redpair)
"""

import signal
import socket
import threading
import time

import redis

from clusters import ELECTION_MS, Cluster, Node
from harness import Api, RedisServer, RedpairTestCase, assert_backends_equal, main, wait_until
from netns import HUB_IP, HUB_IP_B, Netns

WRITERS = 20


class Op:
    __slots__ = ("n", "node", "conn_opened", "sent", "acked")

    def __init__(self, n, node, conn_opened, sent):
        self.n, self.node, self.conn_opened, self.sent, self.acked = n, node, conn_opened, sent, False


class ClusterWriters:
    """WRITERS threads, half on each side-car, each RPUSHing its own numbered sequence to log:T.
    A writer whose connection fails reconnects, to the other side-car once its own is gone."""

    def __init__(self, cluster, count=WRITERS, timeout=2.0):
        self.cluster = cluster
        self.timeout = timeout
        self.stop = threading.Event()
        self.ops = [[] for _ in range(count)]
        self.tryagain = [0] * count
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(count)]
        for th in self.threads:
            th.start()

    def _run(self, t):
        nodes = self.cluster.sidecars
        home = t % len(nodes)
        conn, node, opened, n = None, None, 0.0, 0
        while not self.stop.is_set():
            if conn is None:
                node = nodes[home]
                if not node.alive():
                    home = (home + 1) % len(nodes)
                    node = nodes[home]
                conn = redis.Redis(host=node.bind, port=node.port, socket_timeout=self.timeout,
                                   socket_connect_timeout=self.timeout)
                opened = time.monotonic()
            n += 1
            op = Op(n, node.name, opened, time.monotonic())
            self.ops[t].append(op)
            try:
                conn.rpush("log:%d" % t, n)
                op.acked = True
            except redis.exceptions.ResponseError as e:
                if str(e).startswith("TRYAGAIN"):
                    self.tryagain[t] += 1
                time.sleep(0.02)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                conn.close()
                conn = None
                if not node.alive():
                    home = (home + 1) % len(nodes)
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    def acked(self):
        return sum(op.acked for ops in self.ops for op in ops)

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(timeout=30)

    def check(self, server, must_be_absent=lambda op: False):
        """Every acknowledged value is on server, once and in order; none that must_be_absent."""
        r = server.client()
        for t, ops in enumerate(self.ops):
            present = [int(v) for v in r.lrange("log:%d" % t, 0, -1)]
            self.cluster_test.assertEqual(len(present), len(set(present)), "writer %d: a value twice" % t)
            # A write that timed out may still run later, after the next one on a new connection
            # (as on any server); the acknowledged ones keep their order.
            acked = {op.n for op in ops if op.acked}
            in_order = [n for n in present if n in acked]
            self.cluster_test.assertEqual(in_order, sorted(in_order), "writer %d: out of order" % t)
            have = set(present)
            lost = [op.n for op in ops if op.acked and op.n not in have]
            self.cluster_test.assertEqual(lost, [], "writer %d: acknowledged writes lost" % t)
            applied = [op.n for op in ops if not op.acked and op.n in have and must_be_absent(op)]
            self.cluster_test.assertEqual(applied, [], "writer %d: writes a deposed leader held were applied" % t)


class ClusterCase(RedpairTestCase):
    """Starts clusters and writers, cleans them up, and prints every node's log on failure."""

    def start_cluster(self, **kw):
        c = Cluster(**kw)
        self.addCleanup(c.cleanup)
        self.cluster = c
        return c

    def writers(self, c, **kw):
        w = ClusterWriters(c, **kw)
        w.cluster_test = self
        self.addCleanup(w.finish)
        return w

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before and getattr(self, "cluster", None):
            import sys

            sys.stderr.write("\n===== cluster logs for %s =====\n%s\n" % (self.id(), self.cluster.log_tails()))
        return out

    def watch_leaders(self, c):
        """Samples who leads until the test ends; returns the list of samples seen with two."""
        split = []
        stop = threading.Event()

        apis = {n.name: Api(n.admin_port, host=n.bind, timeout=2) for n in c.nodes}

        def sample():
            while not stop.is_set():
                leading = c.leaders(apis)
                if len(leading) > 1:
                    split.append(leading)
                time.sleep(0.05)

        th = threading.Thread(target=sample, daemon=True)
        th.start()

        def done():
            stop.set()
            th.join(timeout=10)
            for api in apis.values():
                api.close()

        self.addCleanup(done)
        return split, done

    def settle(self, c, w):
        w.finish()
        c.wait_caught_up()
        assert_backends_equal(c)
        for server in (c.a, c.b):
            w.check(server)


class ClusterTest(ClusterCase):
    def test_leader_killed_under_writers(self):
        c = self.start_cluster()
        w = self.writers(c)
        wait_until(lambda: w.acked() > 200, timeout=20, what="writes through both side-cars")
        old = c.leader()
        killed_at = time.monotonic()
        old.kill()
        new = c.wait_leader(timeout=10, exclude=(old.name,))
        took = time.monotonic() - killed_at
        self.assertLess(took, ELECTION_MS / 1000.0 + 1.0,
                        "a new leader took %.2fs after the leader was killed" % took)
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 200, timeout=20, what="writes through the new leader")
        old.start()  # with its consensus state: it rejoins as a follower
        old.wait_answers()
        wait_until(lambda: (old.describe() or {}).get("leader") == new.name, timeout=15,
                   what="the restarted node following the new leader")
        self.settle(c, w)

    def test_a_leader_shut_down_hands_over(self):
        c = self.start_cluster()
        w = self.writers(c)
        wait_until(lambda: w.acked() > 200, timeout=20, what="writes through both side-cars")
        old = c.leader()
        old.stop()  # SIGTERM: drain, hand leadership over, exit 0
        self.assertIn("handing leadership to", old.final_log)
        new = c.wait_leader(timeout=10, exclude=(old.name,))
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 200, timeout=20, what="writes through the new leader")
        old.start()
        old.wait_answers()
        wait_until(lambda: (old.describe() or {}).get("leader") == new.name, timeout=15,
                   what="the restarted node following")
        self.settle(c, w)

    def test_stopped_leader_applies_nothing_it_held(self):
        c = self.start_cluster()
        old = c.leader()
        w = self.writers(c, timeout=1.5)
        wait_until(lambda: w.acked() > 200, timeout=20, what="writes through both side-cars")
        old.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        new = c.wait_leader(timeout=10, exclude=(old.name,))
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 200, timeout=20, what="writes through the new leader")
        queued = sum(1 for ops in w.ops for op in ops
                     if op.sent > stopped_at and op.node == old.name and not op.acked)
        old.signal(signal.SIGCONT)
        wait_until(lambda: (d := old.describe()) and not d["leading"] and d["leader"] == new.name,
                   timeout=15, what="the old leader following the new one")
        self.assertGreater(queued, 0, "no write was left waiting in the stopped leader")

        def held_by_old_leader(op):
            # Sent while it was stopped, to it or through a relay that still pointed at it.
            return op.sent > stopped_at and (op.node == old.name or op.conn_opened < stopped_at)

        w.finish()
        c.wait_caught_up()
        assert_backends_equal(c)
        for server in (c.a, c.b):
            w.check(server, must_be_absent=held_by_old_leader)
        self.assertEqual(c.leaders(), [new.name])

    def test_no_majority_no_leader(self):
        c = self.start_cluster()
        split, stop_watching = self.watch_leaders(c)
        w = self.writers(c)
        wait_until(lambda: w.acked() > 100, timeout=20, what="writes")
        c.witness.kill()
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 200, timeout=20, what="writes with the witness gone")
        leader = c.leader()
        follower = next(n for n in c.sidecars if n is not leader)
        follower.kill()
        # Alone, the leader steps down within the election timeout; past it, clients are told so.
        seen = []

        def stopped_leading():
            seen[:] = [leader.describe()]
            return seen[0] is not None and not seen[0]["leading"]

        try:
            wait_until(stopped_leading, timeout=10, what="the lone node to stop leading")
        except AssertionError as e:
            raise AssertionError("%s; it says %r" % (e, seen)) from None
        with leader.client(socket_timeout=5) as r:
            reply = wait_until(lambda: _tryagain(r), timeout=10, what="-TRYAGAIN from the lone node")
        self.assertEqual(reply, "TRYAGAIN no redpair leader")
        self.assertEqual(leader.api.get("/readyz").status, 503)
        c.witness.start()  # a majority again: writes resume
        c.witness.wait_answers()
        c.wait_leader(timeout=15)
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 100, timeout=20, what="writes once a majority is back")
        follower.start()
        follower.wait_answers()
        stop_watching()
        self.assertEqual(split, [], "two nodes led at once")
        self.settle(c, w)

    def test_restart_rejoins_and_a_wiped_node_is_readded(self):
        c = self.start_cluster()
        leader = c.leader()
        follower = next(n for n in c.sidecars if n is not leader)
        follower.stop()
        follower.start()
        follower.wait_answers()
        wait_until(lambda: (follower.describe() or {}).get("leader") == leader.name, timeout=15,
                   what="the restarted follower back in the cluster")
        with follower.client() as r:
            self.assertTrue(r.set("after-restart", "1"))

        follower.stop()
        follower.wipe_consensus()
        follower.start()
        rc = follower.proc.wait(timeout=20)
        self.assertEqual(rc, 1, "a node whose consensus state was wiped must refuse to start")
        self.assertTrue(follower.logged("will not bootstrap a second cluster"))
        self.assertTrue(follower.logged("/api/v1/cluster/nodes/%s/readd" % follower.name))
        self.assertEqual(c.leader(), leader)
        with leader.client() as r:
            self.assertTrue(r.set("while-refused", "1"))

        r = leader.api.request("POST", "/api/v1/cluster/nodes/%s/readd" % follower.name)
        self.assertEqual(r.status, 202, r)
        r = leader.api.request("POST", "/api/v1/cluster/nodes/nobody/readd")
        self.assertEqual(r.status, 409, r)
        follower.start()
        follower.wait_answers()

        def readded():
            d = leader.describe() or {}
            me = next((n for n in d.get("nodes", []) if n["name"] == follower.name), {})
            fd = follower.describe() or {}
            return me.get("raft_role") == "voter" and fd.get("incarnation") == 2 and fd.get("leader") == leader.name

        wait_until(readded, timeout=30, what="the wiped node re-added as a voter, incarnation 2")
        with follower.client() as r:
            self.assertEqual(r.get("while-refused"), b"1")
        assert_backends_equal(c)

    def test_cluster_api_and_metrics(self):
        c = self.start_cluster()
        leader = c.leader()
        follower = next(n for n in c.sidecars if n is not leader)
        d = follower.api.json("GET", "/api/v1/cluster")
        self.assertEqual(d["leader"], leader.name)
        self.assertEqual(d["voters"], 3)
        self.assertFalse(d["leading"])
        names = {n["name"]: n for n in d["nodes"]}
        self.assertEqual(set(names), {"n1", "n2", "w"})
        self.assertTrue(names["w"]["witness"])
        for n in names.values():
            self.assertEqual(n["backends"], {"a": "up", "b": "up"})
            self.assertEqual(n["raft_role"], "voter")
        metrics = leader.api.get("/metrics").body.decode()
        self.assertIn("redpair_cluster_leader 1\n", metrics)
        self.assertIn("redpair_cluster_peers_up 2\n", metrics)
        self.assertIn("redpair_cluster_term %d\n" % d["term"], metrics)
        self.assertIn("redpair_cluster_leader 0\n", follower.api.get("/metrics").body.decode())
        self.assertEqual(follower.api.get("/readyz").status, 200)
        self.assertEqual(c.witness.api.get("/readyz").status, 200)
        config = leader.api.json("GET", "/api/v1/config")
        text = repr(config)
        self.assertIn("********", text)
        self.assertNotIn("cluster-secret-for-tests", text)  # the cluster token is masked
        self.assertIn("peer", text)
        r = leader.api.request("PATCH", "/api/v1/config", body={"cluster-token": "x" * 20})
        self.assertEqual(r.status, 409, r)

        # Operations act on the leader: a follower says where it is.
        r = follower.api.request("POST", "/api/v1/failover")
        self.assertEqual(r.status, 409)
        self.assertIn("leader is %s" % leader.name, r.json()["error"])
        r = leader.api.request("POST", "/api/v1/cluster/transfer", body={"node": "w"})
        self.assertEqual(r.status, 409)
        self.assertIn("witness", r.json()["error"])
        r = leader.api.request("POST", "/api/v1/cluster/transfer", body={"node": 7})
        self.assertEqual(r.status, 400)
        r = leader.api.request("POST", "/api/v1/cluster/transfer", body={"node": follower.name})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(c.wait_leader(timeout=10, exclude=(leader.name,)), follower)
        c.wait_in_sync(node=leader)  # the old leader relays to the new one
        with leader.client() as r:
            self.assertTrue(r.set("after-transfer", "1"))
        events = follower.api.json("GET", "/api/v1/events?limit=1000")["events"]
        self.assertTrue(any(e["kind"] == "election" for e in events), events[-5:])

    def test_config_set_outlives_its_leader(self):
        c = self.start_cluster()
        leader = c.leader()
        follower = next(n for n in c.sidecars if n is not leader)
        with follower.client() as r:  # through the follower, as a client would
            self.assertTrue(r.config_set("slowlog-log-slower-than", "12345"))
        for server in (c.a, c.b):
            self.assertEqual(server.client().config_get("slowlog-log-slower-than"),
                             {"slowlog-log-slower-than": "12345"})
        r = leader.api.request("POST", "/api/v1/cluster/transfer", body={"node": follower.name})
        self.assertEqual(r.status, 202, r)
        new = c.wait_leader(timeout=10, exclude=(leader.name,))
        c.wait_in_sync(node=new)
        port = c.b.port  # b restarts empty, with Redis's default: the new leader sets it again
        c.b.cleanup()
        c.b = RedisServer(port=port)
        c.wait_in_sync(node=new, timeout=30)
        wait_until(lambda: c.b.client().config_get("slowlog-log-slower-than")
                   == {"slowlog-log-slower-than": "12345"}, timeout=10,
                   what="the new leader's CONFIG SET on the restarted server")

    def test_acl_changes_outlive_their_leader(self):
        c = self.start_cluster()
        leader = c.leader()
        follower = next(n for n in c.sidecars if n is not leader)
        with follower.client() as r:  # through the follower: the leader enforces and keeps it
            r.acl_setuser("zed", enabled=True, passwords=["+zedpw"], keys=["z:*"],
                          commands=["-@all", "+set", "+acl|whoami"])
            r.acl_setuser("gone", enabled=True, nopass=True)
            self.assertEqual(r.acl_deluser("gone"), 1)
            listing = r.acl_list()
        r = leader.api.request("POST", "/api/v1/cluster/transfer", body={"node": follower.name})
        self.assertEqual(r.status, 202, r)
        new = c.wait_leader(timeout=10, exclude=(leader.name,))
        c.wait_in_sync(node=new)
        with new.client() as r:
            self.assertEqual(r.acl_list(), listing)
        with new.raw() as zed:
            self.assertEqual(zed.cmd("AUTH", "zed", "zedpw"), b"+OK\r\n")
            self.assertEqual(zed.cmd("SET", "z:1", "v"), b"+OK\r\n")
            self.assertEqual(zed.cmd("SET", "other", "v"), b"-NOPERM this user has no permissions "
                             b"to access one of the keys used as arguments\r\n")
            self.assertEqual(zed.cmd("GET", "z:1"), b"-NOPERM this user has no permissions to "
                             b"run the 'get' command\r\n")

    def test_strangers_are_refused(self):
        c = self.start_cluster()
        leader = c.leader()
        # Something that is not redpair on the cluster port is closed.
        with socket.create_connection((leader.bind, leader.cluster_port), timeout=5) as s:
            s.sendall(b"*1\r\n$4\r\nPING\r\n" + b"x" * 100)
            s.settimeout(5)
            try:
                self.assertEqual(s.recv(100), b"")
            except ConnectionResetError:
                pass
        wait_until(lambda: leader.logged("not a redpair cluster handshake"), timeout=10,
                   what="the stray connection logged")
        # A node posing as n1 without the cluster's token gets no vote and no status.
        impostor = Node("n1", False, [line for line in c.nodes[0].base_lines if not line.startswith("cluster-token")]
                        + ["cluster-token not-the-cluster-token-at-all"])
        self.addCleanup(impostor.cleanup)
        impostor.write_config(c.nodes)
        impostor.start()
        wait_until(lambda: leader.logged("failed authentication") or impostor.logged("failed authentication"),
                   timeout=10, what="the wrong token refused")
        time.sleep(1.0)
        self.assertEqual(c.leaders(), [leader.name])
        d = impostor.describe()
        self.assertEqual(d["state"], "asking")  # it never heard from a peer
        with leader.client() as r:
            self.assertTrue(r.set("still-fine", "1"))


class PartitionTest(ClusterCase):
    """Each node in a network namespace of its own, so the leader can be cut off from its peers
    while it still reaches the backends (netns.py)."""

    def start_netns_cluster(self):
        net = Netns(3)
        self.addCleanup(net.cleanup)
        hosts = (HUB_IP, HUB_IP_B)
        c = self.start_cluster(
            bind=net.data_ip, cluster_bind=net.peer_ip, netns_of=lambda i: net.node_ns[i],
            backend_host=hosts,
            redis_factory=lambda i: RedisServer(
                extra_args=["--bind", "127.0.0.1", hosts[i], "--protected-mode", "no"]))
        return net, c

    def test_a_follower_relays_to_the_leaders_client_address(self):
        """Clients and peers on different networks (the cluster port on its own): a follower
        relays its clients to the address the leader's clients use, which the leader's status
        gives, not to the peer address it dials for Raft."""
        net, c = self.start_netns_cluster()
        leader = c.leader()
        follower = c.followers()[0]
        r = follower.client(socket_timeout=5)
        self.addCleanup(r.close)
        self.assertTrue(r.set("relayed", "through %s" % follower.name))
        self.assertEqual(leader.client(socket_timeout=5).get("relayed"), b"through %s" % follower.name.encode())
        self.assertEqual(r.incr("relayed:n"), 1)

    def test_leader_cut_off_from_its_peers(self):
        net, c = self.start_netns_cluster()
        w = self.writers(c)
        wait_until(lambda: w.acked() > 200, timeout=20, what="writes through both side-cars")
        old = c.leader()
        net.cut_peers(c.nodes.index(old))
        cut_at = time.monotonic()
        wait_until(lambda: not (old.describe() or {"leading": True})["leading"], timeout=10,
                   what="the cut-off leader to stop sequencing")
        took = time.monotonic() - cut_at
        self.assertLess(took, ELECTION_MS / 1000.0 + 0.5,
                        "the cut-off leader sequenced for %.2fs" % took)
        new = c.wait_leader(timeout=10, exclude=(old.name,))
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 200, timeout=20, what="writes on the majority side")
        net.heal_peers(c.nodes.index(old))
        wait_until(lambda: (old.describe() or {}).get("leader") == new.name, timeout=20,
                   what="the healed node following the new leader")
        self.assertEqual(c.leaders(), [new.name])
        self.settle(c, w)


    def test_leader_that_cannot_reach_a_backend_hands_over(self):
        net, c = self.start_netns_cluster()
        w = self.writers(c)
        wait_until(lambda: w.acked() > 200, timeout=20, what="writes through both side-cars")
        old = c.leader()
        net.unreachable(c.nodes.index(old), HUB_IP_B)  # the others still reach b
        new = c.wait_leader(timeout=15, exclude=(old.name,))
        c.wait_in_sync(node=new, timeout=30)  # b is brought back, not left out
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 200, timeout=20, what="writes through the new leader")
        net.unreachable(c.nodes.index(old), HUB_IP_B, on=False)
        self.assertEqual(c.leaders(), [new.name])
        self.settle(c, w)


    def test_a_deposed_leader_acknowledges_nothing_one_server_holds(self):
        """The new leader reaches one server only, the old one (cut off from its peers) both: the
        old one's link to the fenced server dies, and what it then writes reaches the other alone.
        Until it has committed that loss (it cannot: it has no majority) it must not acknowledge
        those writes, or the copy from the fenced server would erase them."""
        net, c = self.start_netns_cluster()
        w = self.writers(c)
        wait_until(lambda: w.acked() > 200, timeout=20, what="writes through both side-cars")
        old = c.leader()
        new = next(n for n in c.sidecars if n is not old)
        net.unreachable(c.nodes.index(new), HUB_IP_B)  # the next leader will not reach b
        net.cut_peers(c.nodes.index(old))
        wait_until(lambda: (new.describe() or {}).get("leading"), timeout=15,
                   what="the majority's leader")
        acked = w.acked()
        wait_until(lambda: w.acked() > acked + 100, timeout=20, what="writes through the new leader")
        net.heal_peers(c.nodes.index(old))
        net.unreachable(c.nodes.index(new), HUB_IP_B, on=False)
        c.wait_in_sync(node=new, timeout=30)
        self.settle(c, w)


def _tryagain(r):
    try:
        r.set("x", "1")
    except redis.exceptions.ResponseError as e:
        if str(e).startswith("TRYAGAIN"):
            return str(e)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        pass
    return None


if __name__ == "__main__":
    main()
