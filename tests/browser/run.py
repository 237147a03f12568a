#!/usr/bin/python3
"""The dashboard's browser tests: two real redis-servers and a real redpair (harness.Pair), then
dashboard.test.js in Debian's headless Chromium through playwright-core; then a cluster
(clusters.Cluster: two side-cars and a witness) and cluster.test.js.

Installs what it lacks first: Debian's chromium (and nodejs/npm when there is no node), and
playwright-core from package-lock.json with `npm ci`, into the work directory (one per build tree,
so two trees never share node_modules). The screenshot lands there too; its path is printed.

Run: /usr/bin/python3 tests/browser/run.py WORK_DIR   (REDPAIR_BIN=path/to/redpair)
"""

import filecmp
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from clusters import Cluster  # noqa: E402
from harness import TOKEN as CLUSTER_TOKEN, Pair, free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TOKEN = "dashboard-test-token"
# Fast probes so that a killed server is seen down at once and the test stays short.
HA_ARGS = ["--probe-interval-ms", "50", "--down-after-ms", "2000"]


def apt_install(packages):
    print("run.py: installing Debian packages: " + " ".join(packages), flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + packages,
                   check=True, env=env)


def ensure_tools():
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("chromium")
    # Debian's npm cannot sit beside a Node.js that brings its own: only when there is none.
    if not shutil.which("node"):
        missing.append("nodejs")
    if not shutil.which("npm"):
        missing.append("npm")
    if missing:
        apt_install(missing)


def ensure_node_modules(work):
    """npm ci into work/, unless it already holds exactly this package-lock.json's packages."""
    lock = os.path.join(HERE, "package-lock.json")
    installed = os.path.join(work, "node_modules", ".redpair-package-lock.json")
    if os.path.exists(installed) and filecmp.cmp(lock, installed, shallow=False):
        return
    os.makedirs(work, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(HERE, name), os.path.join(work, name))
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=work, check=True)
    shutil.copyfile(lock, installed)


def node_test(work, name, env):
    env = dict(os.environ, NODE_PATH=os.path.join(work, "node_modules"),
               BROWSER_ARTIFACTS=os.path.join(work, "artifacts"), CHROMIUM=CHROMIUM, **env)
    return subprocess.run(["node", "--test", os.path.join(HERE, name)], env=env).returncode


def cluster_test(work):
    cluster = Cluster()
    rc = 1
    try:
        urls = ",".join("%s=http://127.0.0.1:%d" % (n.name, n.admin_port) for n in cluster.sidecars)
        rc = node_test(work, "cluster.test.js", {"REDPAIR_CLUSTER_URLS": urls,
                                                 "REDPAIR_ADMIN_TOKEN": CLUSTER_TOKEN})
    finally:
        try:
            cluster.cleanup()
        except AssertionError as e:
            print(e, file=sys.stderr)
            rc = rc or 1
        if rc:
            print(cluster.log_tails(), file=sys.stderr)
    return rc


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run.py WORK_DIR")
    work = os.path.abspath(sys.argv[1])
    ensure_tools()
    ensure_node_modules(work)

    admin_port = free_port()
    pair = Pair(extra=HA_ARGS + ["--admin-port", str(admin_port), "--admin-token", TOKEN])
    rc = 1
    try:
        rc = node_test(work, "dashboard.test.js", {
            "REDPAIR_ADMIN_URL": "http://127.0.0.1:%d" % admin_port,
            "REDPAIR_ADMIN_TOKEN": TOKEN,
            "REDIS_PIDS": "a=%d,b=%d" % (pair.a.pid, pair.b.pid),
        })
    finally:
        try:
            pair.cleanup()
        except AssertionError as e:  # redpair crashed or would not stop: that fails the test
            print(e, file=sys.stderr)
            rc = rc or 1
        if rc:
            print(pair.redpair.final_log or "", file=sys.stderr)
    sys.exit(rc or cluster_test(work))


if __name__ == "__main__":
    main()
