"""Cluster fixtures: several real redpair daemons in front of one pair of real redis-servers.

A Cluster is two redis-servers and three (or five) redpair nodes, the last one a witness
(`redpair --witness`), each with its own configuration file, state directory and consensus
directory, on free loopback ports. ClusterPair dresses a cluster as harness.Pair does a single
redpair, so the differential and session suites run unchanged through a follower
(REDPAIR_THROUGH=follower).
"""

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    TOKEN,
    Api,
    cleanup_all,
    log_tails,
    Endpoint,
    PairBase,
    RedisServer,
    free_port,
    info_redpair,
    redpair_bin,
    wait_until,
)

CLUSTER_TOKEN = "cluster-secret-for-tests-0123456789"
ELECTION_MS = 1000


class Node(Endpoint):
    """One redpair of a cluster, started from a configuration file it writes itself."""

    def __init__(self, name, witness, lines, bind="127.0.0.1", netns=None, cluster_bind=None, tls=None):
        self.name = name
        self.tls = tls  # a tlscerts.Certs: clients on tls-port only (port 0)
        self.witness = witness
        self.netns = netns
        self.bind = self.host = bind
        self.cluster_bind = cluster_bind or bind
        self.port = None if witness else free_port()
        self.cluster_port = free_port()
        self.admin_port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redpair-node-%s-" % name)
        self.state_dir = os.path.join(self.dir, "state")
        self.cluster_dir = os.path.join(self.dir, "raft")
        self.log_path = os.path.join(self.dir, "redpair.log")
        self.out_path = os.path.join(self.dir, "stdout-stderr.log")
        self.conf_path = os.path.join(self.dir, "redpair.conf")
        self.base_lines = list(lines)
        self.proc = None
        self.final_log = None
        self.api = None

    def config_lines(self, peers):
        lines = self.base_lines + [
            "node-id %s" % self.name,
            "cluster-bind %s %d" % (self.cluster_bind, self.cluster_port),
            "cluster-dir %s" % self.cluster_dir,
            "state-dir %s" % self.state_dir,
            "admin-bind %s" % self.bind,
            "admin-port %d" % self.admin_port,
            "logfile %s" % self.log_path,
        ]
        if self.port and self.tls:
            lines += ["bind %s" % self.bind, "port 0", "tls-port %d" % self.port]
        elif self.port:
            lines += ["bind %s" % self.bind, "port %d" % self.port]
        if self.port and self.bind != "127.0.0.1":
            lines.append("protected-mode no")  # clients in the test's namespaces, no password
        for p in peers:
            if p.name != self.name:
                lines.append("peer %s %s %d" % (p.name, p.cluster_bind, p.cluster_port))
        return lines

    def write_config(self, peers):
        with open(self.conf_path, "w") as f:
            f.write("\n".join(self.config_lines(peers)) + "\n")
        os.chmod(self.conf_path, 0o600)  # it holds the tokens: redpair refuses it readable by all

    def start(self):
        args = [redpair_bin()] + (["--witness"] if self.witness else []) + [self.conf_path]
        if self.netns:
            args = ["ip", "netns", "exec", self.netns] + args
        self._close_out()
        self._out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT)
        self.final_log = None
        self.api = Api(self.admin_port, host=self.bind, timeout=2)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def describe(self, api=None):
        """GET /api/v1/cluster as this node sees it, or None when it does not answer. A thread
        of its own passes an Api of its own."""
        api = api or self.api
        try:
            r = api.get("/api/v1/cluster")
            return r.json() if r.status == 200 else None
        except (OSError, ValueError, http.client.HTTPException):
            api.close()
            return None

    def wait_answers(self, timeout=START_TIMEOUT):
        wait_until(lambda: not self.alive() or self.describe() is not None, timeout=timeout,
                   what="node %s's admin API" % self.name)
        if not self.alive():
            raise AssertionError("node %s exited at start-up (%s)\n%s"
                                 % (self.name, self.proc.returncode, self.log_tail()))

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        self._close_out()

    def stop(self):
        """SIGTERM; raises AssertionError when the node had crashed or ignored it."""
        if self.proc is None:
            return
        problem = None
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
                problem = "node %s ignored SIGTERM" % self.name
        if rc is not None and rc < 0 and rc != -signal.SIGKILL:
            problem = "node %s died by signal %d" % (self.name, -rc)
        self._close_out()
        self.final_log = self.log_tail()
        self.proc = None
        if problem:
            raise AssertionError(problem + "\n" + self.final_log)

    def _close_out(self):
        out = getattr(self, "_out", None)
        if out and not out.closed:
            out.close()
        if self.api:
            self.api.close()

    def wipe_consensus(self):
        shutil.rmtree(self.cluster_dir, ignore_errors=True)

    def logged(self, text):
        """The node's whole log holds text."""
        try:
            with open(self.log_path, errors="replace") as f:
                return text in f.read()
        except OSError:
            return False

    def log_tail(self, n=60):
        return log_tails((self.log_path, self.out_path), n, label="node %s " % self.name)

    def cleanup(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        finally:
            self._close_out()
            if self.final_log is None:
                self.final_log = self.log_tail()
            shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """Two redis-servers, `sidecars` data nodes n1, n2, … and one witness w."""

    def __init__(self, sidecars=2, witnesses=1, extra=(), redis_args=(), start=True,
                 election_ms=ELECTION_MS, probe_ms=50, down_ms=600, bind="127.0.0.1",
                 cluster_bind=None, netns_of=None, backend_host="127.0.0.1", redis_factory=None,
                 password=None, tls=None):
        self.a = self.b = None
        self.password = password  # the default user's, for the cluster's own INFO
        self.nodes = []
        try:
            make = redis_factory or (lambda i: RedisServer(extra_args=redis_args))
            self.a, self.b = make(0), make(1)
            hosts = backend_host if isinstance(backend_host, tuple) else (backend_host, backend_host)
            common = [
                "backend a %s %d" % (hosts[0], self.a.port),
                "backend b %s %d" % (hosts[1], self.b.port),
                "cluster-token %s" % CLUSTER_TOKEN,
                "cluster-election-timeout-ms %d" % election_ms,
                "probe-interval-ms %d" % probe_ms,
                "down-after-ms %d" % down_ms,
                "admin-token %s" % TOKEN,
                "loglevel verbose",
            ] + list(extra)
            names = ["n%d" % (i + 1) for i in range(sidecars)] + (["w"] if witnesses == 1 else
                                                                  ["w%d" % (i + 1) for i in range(witnesses)])
            for i, name in enumerate(names):
                witness = i >= sidecars
                host = bind(i) if callable(bind) else bind
                ns = netns_of(i) if netns_of else None
                peer_host = cluster_bind(i) if cluster_bind else None
                self.nodes.append(Node(name, witness, common, bind=host, netns=ns, cluster_bind=peer_host,
                                       tls=tls))
            for n in self.nodes:
                n.write_config(self.nodes)
            if start:
                for n in self.nodes:
                    n.start()
                for n in self.nodes:
                    n.wait_answers()
                self.wait_leader()
                self.wait_in_sync()
        except BaseException:
            self.cleanup()
            raise

    @property
    def sidecars(self):
        return [n for n in self.nodes if not n.witness]

    @property
    def witness(self):
        return next(n for n in self.nodes if n.witness)

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def leaders(self, apis=None):
        """Names of the nodes that say they lead (take clients and sequence). A thread of its own
        passes {name: Api} of its own."""
        out = []
        for n in self.nodes:
            if n.alive():
                d = n.describe(apis[n.name] if apis else None)
                if d and d.get("leading"):
                    out.append(n.name)
        return out

    def wait_leader(self, timeout=15.0, exclude=()):
        def one():
            found = [name for name in self.leaders() if name not in exclude]
            return found[0] if len(found) == 1 else None

        return self.node(wait_until(one, timeout=timeout, what="exactly one leading node"))

    def leader(self):
        return self.wait_leader()

    def followers(self):
        lead = self.leader()
        return [n for n in self.sidecars if n is not lead and n.alive()]

    def info(self, node=None):
        node = node or self.leader()
        c = node.client(socket_timeout=5, password=self.password)
        try:
            return info_redpair(c)
        finally:
            c.close()

    def wait_in_sync(self, timeout=20.0, node=None):
        def ok():
            info = self.info(node)
            return all(info.get("backend_" + n, {}).get("state") == "in-sync" for n in ("a", "b")) and info

        return wait_until(ok, timeout=timeout, what="both backends in-sync through the cluster")

    def wait_caught_up(self, timeout=20.0, node=None):
        def ok():
            info = self.info(node)
            so = info["stream_offset"]
            return all(info["backend_" + n].get("acked_offset") == so for n in ("a", "b")) and info

        return wait_until(ok, timeout=timeout, what="lag 0 on both backends")

    def log_tails(self):
        return "\n".join((n.final_log if n.final_log is not None else n.log_tail()) for n in self.nodes)

    def cleanup(self):
        cleanup_all(self.nodes + [self.a, self.b])


class _FollowerView(Endpoint):
    """What harness.Pair.redpair offers, for a follower of a cluster."""

    def __init__(self, cluster, node):
        self.cluster = cluster
        self.node = node
        self.host = node.bind
        self.port = node.port
        self.final_log = None

    def log_tail(self, n=40):
        return self.cluster.log_tails()

    def alive(self):
        return self.node.alive()


class ClusterPair(PairBase):
    """harness.Pair's interface over a cluster, talking to a follower: every command is relayed
    to the leader on a connection of its own."""

    def __init__(self, write_ack=None, extra=(), redis_args=(), requirepass=None, wait_in_sync=True):
        lines = list(extra_lines(extra))
        if write_ack:
            lines.append("write-ack %s" % write_ack)
        if requirepass is not None:
            lines.append("requirepass %s" % requirepass)
        self.requirepass = requirepass
        # redpair's own probe defaults, as a Pair has them: a busy machine must not make the
        # suites' servers look down.
        self.cluster = Cluster(extra=lines, redis_args=redis_args, probe_ms=100, down_ms=1000,
                               password=requirepass)
        self.a, self.b = self.cluster.a, self.cluster.b
        self.redpair = _FollowerView(self.cluster, self.cluster.followers()[0])
        if wait_in_sync:
            self.wait_in_sync()

    def cleanup(self):
        self.drop_info_client()
        self.redpair.final_log = self.cluster.log_tails()
        self.cluster.cleanup()


def extra_lines(args):
    """`--directive value ...` arguments as configuration lines."""
    line = []
    for a in args:
        if a.startswith("--") and line:
            yield " ".join(line)
            line = []
        line.append(a[2:] if a.startswith("--") else a)
    if line:
        yield " ".join(line)


def through_follower():
    return os.environ.get("REDPAIR_THROUGH") == "follower"
