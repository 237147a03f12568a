#!/usr/bin/python3
"""Cluster mode measured: write and read throughput through a follower, through the leader and
through a single redpair, in one run; then the time a failover takes after the leader is killed
with SIGKILL, over TRIALS trials (median and max).

    /usr/bin/python3 bench/cluster.py            # N=100000 requests per test, 20 trials
    N=20000 TRIALS=5 /usr/bin/python3 bench/cluster.py

Uses the integration tests' fixtures (real redis-servers and redpairs on loopback ports) and
redis-benchmark. Two side-cars and a witness, election timeout ELECTION_MS (1000). Nothing here
is asserted: it prints what it measured.
"""

import csv
import io
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

import redis  # noqa: E402

from clusters import Cluster  # noqa: E402
from harness import REDIS_BENCHMARK, Pair, wait_until  # noqa: E402

N = int(os.environ.get("N", "100000"))
TRIALS = int(os.environ.get("TRIALS", "20"))
ELECTION_MS = int(os.environ.get("ELECTION_MS", "1000"))
RUNS = [("-c 50", ["-c", "50"]), ("-c 50 -P 16", ["-c", "50", "-P", "16"])]


def benchmark(port, extra):
    out = subprocess.run([REDIS_BENCHMARK, "-p", str(port), "-t", "set,get", "-n", str(N), "-r", "10000",
                          "--csv"] + extra, capture_output=True, text=True, check=True).stdout
    rows = {}
    for row in csv.reader(io.StringIO(out)):
        if row and row[0] in ("SET", "GET"):
            rows[row[0]] = float(row[1])
    return rows


def throughput():
    results = {}
    single = Pair(extra=["--loglevel", "warning"])
    try:
        for label, extra in RUNS:
            results[("single", label)] = benchmark(single.port, extra)
    finally:
        single.cleanup()
    c = Cluster(extra=["loglevel warning"])
    try:
        leader = c.leader()
        follower = next(n for n in c.sidecars if n is not leader)
        for label, extra in RUNS:
            results[("leader", label)] = benchmark(leader.port, extra)
            results[("follower", label)] = benchmark(follower.port, extra)
    finally:
        c.cleanup()
    print("Throughput, req/s (redis-benchmark -n %d, 2 side-cars and a witness on loopback)" % N)
    print("%-14s %-5s %12s %12s %12s %10s %10s" % ("run", "cmd", "single", "leader", "follower",
                                                   "fol/lead", "lead/single"))
    for label, _ in RUNS:
        for cmd in ("SET", "GET"):
            s, l, f = (results[(t, label)][cmd] for t in ("single", "leader", "follower"))
            print("%-14s %-5s %12.0f %12.0f %12.0f %10.2f %10.2f" % (label, cmd, s, l, f, f / l, l / s))
    print()


def failover_times():
    c = Cluster(extra=["loglevel warning"], election_ms=ELECTION_MS)
    leader_known, writes_again = [], []
    try:
        for trial in range(TRIALS):
            old = c.leader()
            survivor = next(n for n in c.sidecars if n is not old)
            r = redis.Redis(host="127.0.0.1", port=survivor.port, socket_timeout=1, socket_connect_timeout=1)
            killed = time.monotonic()
            old.kill()
            known = None
            while True:
                now = time.monotonic()
                if known is None:
                    d = survivor.describe()
                    if d and d.get("leading"):
                        known = now - killed
                try:
                    r.set("failover:%d" % trial, "1")
                    break
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                        redis.exceptions.ResponseError):
                    time.sleep(0.005)
            writes_again.append(time.monotonic() - killed)
            leader_known.append(known if known is not None else writes_again[-1])
            r.close()
            old.start()
            old.wait_answers()
            wait_until(lambda: (old.describe() or {}).get("leader") == survivor.name, timeout=20,
                       what="the restarted node following")
            c.wait_in_sync(node=survivor)
    finally:
        c.cleanup()
    print("Failover after kill -9 of the leader, %d trials, cluster-election-timeout-ms %d" % (TRIALS, ELECTION_MS))
    for name, xs in (("new leader leads", leader_known), ("a write succeeds again", writes_again)):
        print("  %-24s median %6.0f ms   max %6.0f ms" % (name, statistics.median(xs) * 1000, max(xs) * 1000))


if __name__ == "__main__":
    throughput()
    failover_times()
