"""Network namespaces a test makes for itself, so that a network can be cut in a few places.

    hub namespace:  the redis-servers on 192.0.2.1 and .2, and two bridges
      rpdata:         192.0.2.1/25 ─── veth ─── node i's 192.0.2.(10+i)   RESP, admin API, backends
      rppeer:        no address   ─── veth ─── node i's 192.0.2.(130+i)  cluster port
    node i:         one namespace per redpair

Cutting node i's peer link (its veth's hub end down) leaves it talking to the backends and
silent to its peers. The calling thread moves into the hub namespace (setns), so the test's own
clients, and the processes it starts, are in the hub; nodes start with `ip netns exec`.
Addresses live only inside these namespaces (192.0.2.0/24, TEST-NET-1).
"""

import ctypes
import os
import subprocess
import threading
import unittest

CLONE_NEWNET = 0x40000000
HUB_IP = "192.0.2.1"
HUB_IP_B = "192.0.2.2"  # a second address of the hub, for a second server
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise OSError("%s: %s" % (" ".join(cmd), r.stderr.strip()))


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns %s: %s" % (path, os.strerror(err)))
    finally:
        os.close(fd)


class Netns:
    def __init__(self, nodes):
        tag = "%d" % os.getpid()
        self.hub = "rph%s" % tag
        self.node_ns = ["rpn%d-%s" % (i, tag) for i in range(nodes)]
        self.made = []
        self.home = None
        try:
            for ns in [self.hub] + self.node_ns:
                _ip("netns", "add", ns)
                self.made.append(ns)
                _ip("link", "set", "lo", "up", ns=ns)
            for br, addrs in (("rpdata", (HUB_IP, HUB_IP_B)), ("rppeer", ())):
                _ip("link", "add", br, "type", "bridge", ns=self.hub)
                for addr in addrs:
                    _ip("addr", "add", addr + "/25", "dev", br, ns=self.hub)
                _ip("link", "set", br, "up", ns=self.hub)
            for i, ns in enumerate(self.node_ns):
                for kind, br, ip in (("d", "rpdata", self.data_ip(i)), ("p", "rppeer", self.peer_ip(i))):
                    hub_end, node_end = "%s%dh" % (kind, i), "%s%d" % (kind, i)
                    _ip("link", "add", hub_end, "type", "veth", "peer", "name", node_end, ns=self.hub)
                    _ip("link", "set", node_end, "netns", ns, ns=self.hub)
                    _ip("link", "set", hub_end, "master", br, "up", ns=self.hub)
                    _ip("addr", "add", ip + "/25", "dev", node_end, ns=ns)
                    _ip("link", "set", node_end, "up", ns=ns)
            self.home = os.open("/proc/self/task/%d/ns/net" % threading.get_native_id(), os.O_RDONLY)
            _setns("/run/netns/" + self.hub)
        except OSError as e:
            self.cleanup()
            raise unittest.SkipTest("network namespaces cannot be made here (%s): the partition "
                                    "test needs root and iproute2" % e)

    @staticmethod
    def data_ip(i):
        return "192.0.2.%d" % (10 + i)

    @staticmethod
    def peer_ip(i):
        return "192.0.2.%d" % (130 + i)

    def cut_peers(self, i):
        _ip("link", "set", "p%dh" % i, "down", ns=self.hub)

    def heal_peers(self, i):
        _ip("link", "set", "p%dh" % i, "up", ns=self.hub)

    def unreachable(self, i, ip, on=True):
        """Node i's packets to ip are dropped (a blackhole route), or flow again."""
        _ip("route", "add" if on else "del", "blackhole", ip + "/32", ns=self.node_ns[i])

    def cleanup(self):
        if self.home is not None:
            try:
                _libc.setns(self.home, CLONE_NEWNET)
            finally:
                os.close(self.home)
                self.home = None
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []
