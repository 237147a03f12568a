"""ioredis from npm against a real redpair: tests/clients/ioredis.test.js under `node --test`.

Its packages come from tests/clients/package-lock.json by `npm ci`, into a clients/ folder beside
the redpair binary under test (one per build tree, never in the source tree); skipped where no
Node.js is installed (scripts/deps.sh installs it).

Run: /usr/bin/python3 tests/integration/test_ioredis.py   (REDPAIR_BIN=path/to/redpair)
"""

import filecmp
import os
import shutil
import subprocess
import unittest

from harness import REPO, RedpairTestCase, assert_backends_equal, main, redpair_bin

CLIENTS = os.path.join(REPO, "tests", "clients")


def node_modules_for(work):
    """work/node_modules as tests/clients/package-lock.json pins them."""
    lock = os.path.join(CLIENTS, "package-lock.json")
    copied = os.path.join(work, "package-lock.json")
    if os.path.isdir(os.path.join(work, "node_modules", "ioredis")) and os.path.exists(copied) \
            and filecmp.cmp(lock, copied, shallow=False):
        return
    os.makedirs(work, exist_ok=True)
    shutil.copyfile(os.path.join(CLIENTS, "package.json"), os.path.join(work, "package.json"))
    shutil.copyfile(lock, copied)
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=work, check=True, timeout=240)


class IoredisTest(RedpairTestCase):
    def test_ioredis(self):
        if not shutil.which("node") or not shutil.which("npm"):
            raise unittest.SkipTest("no node/npm (scripts/deps.sh installs them)")
        work = os.path.join(os.path.dirname(os.path.abspath(redpair_bin())), "clients")
        node_modules_for(work)
        pair = self.start_pair()
        env = dict(os.environ, NODE_PATH=os.path.join(work, "node_modules"), REDPAIR_PORT=str(pair.port))
        run = subprocess.run(["node", "--test", os.path.join(CLIENTS, "ioredis.test.js")], env=env,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        pair.wait_caught_up()
        assert_backends_equal(pair)


if __name__ == "__main__":
    main()
