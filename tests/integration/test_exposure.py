"""Safe defaults: redpair admits no one it should not. A client port on an address other hosts
reach needs a password (protected mode, as Redis's), an admin API on one needs a token, a
configuration file holding secrets is not for every user to read, and the state redpair writes is
never world-readable.

Run: /usr/bin/python3 tests/integration/test_exposure.py   (REDPAIR_BIN=path/to/redpair)
"""

import os
import socket
import stat
import subprocess
import tempfile
import shutil
import urllib.error
import urllib.request

from harness import RedpairTestCase, free_port, main, redpair_args, redpair_bin

TOKEN = "exposure-test-token"


def other_bits(path):
    return stat.S_IMODE(os.stat(path).st_mode) & 0o007


def non_loopback_address():
    """An address of this host that is not loopback (other hosts' view of a wildcard bind)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()


class ExposureTest(RedpairTestCase):
    def setUp(self):
        self.a = self.start_redis()
        self.b = self.start_redis()
        self.tmp = tempfile.mkdtemp(prefix="redpair-exposure-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def base(self, *extra):
        return redpair_args(self.a.port, self.b.port, extra=list(extra))

    def refused(self, args, conf=()):
        """redpair with this file and these arguments exits at once with status 1; returns what
        it printed."""
        state = os.path.join(self.tmp, "state-refused")
        p = subprocess.run([redpair_bin()] + list(conf) +
                           ["--port", str(free_port()), "--state-dir", state] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=15)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertFalse(os.path.exists(state), "a refused start wrote state")
        return p.stdout.decode()

    def test_protected_mode(self):
        out = self.refused(self.base("--bind", "127.0.0.1", "0.0.0.0"))
        self.assertIn("configuration error: protected mode: 'bind 0.0.0.0' lets other hosts in but "
                      "the default user needs no password: set requirepass, or 'protected-mode no'",
                      out)

        rp = self.start_redpair(self.base("--bind", "0.0.0.0", "--requirepass", "s3cret"))
        with rp.raw() as c:
            self.assertEqual(c.cmd("SET", "k", "v"),
                             b"-NOAUTH Authentication required.\r\n")
            self.assertEqual(c.cmd("AUTH", "s3cret"), b"+OK\r\n")
            self.assertEqual(c.cmd("SET", "k", "v"), b"+OK\r\n")
        addr = non_loopback_address()
        if addr:  # reached as another host would reach it
            with socket.create_connection((addr, rp.port), timeout=5) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                self.assertEqual(s.recv(100), b"-NOAUTH Authentication required.\r\n")

        # With users, the default user's own line says whether it needs a password.
        out = self.refused(self.base("--bind", "0.0.0.0", "--user", "default", "on", "nopass",
                                     "~*", "+@all"))
        self.assertIn("lets other hosts in but the default user needs no password", out)
        rp = self.start_redpair(self.base("--bind", "0.0.0.0", "--user", "default", "on",
                                          ">s3cret", "~*", "&*", "+@all"))
        with rp.raw() as c:
            self.assertEqual(c.cmd("PING"), b"-NOAUTH Authentication required.\r\n")

        rp = self.start_redpair(self.base("--bind", "0.0.0.0", "--protected-mode", "no"))
        with rp.raw() as c:
            self.assertEqual(c.cmd("PING"), b"+PONG\r\n")

    def test_admin_api_needs_a_token_off_loopback(self):
        admin = free_port()
        # Later directives win: these replace redpair_args's admin-port 0.
        api = ["--admin-bind", "0.0.0.0", "--admin-port", str(admin)]
        out = self.refused(self.base(*api))
        self.assertIn("admin-bind 0.0.0.0 is reachable from other hosts but admin-token is not set",
                      out)

        self.start_redpair(self.base(*api, "--admin-token", TOKEN))
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % admin, timeout=5) as r:
            self.assertEqual(r.status, 200)
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/status" % admin,
                                     headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(e.exception.code, 401)

    def test_config_file_modes(self):
        conf = os.path.join(self.tmp, "redpair.conf")
        with open(conf, "w") as f:
            f.write("backend a 127.0.0.1 %d\nbackend b 127.0.0.1 %d\nadmin-port 0\n"
                    "requirepass s3cret\n" % (self.a.port, self.b.port))
        os.chmod(conf, 0o644)
        out = self.refused([], conf=[conf])
        self.assertIn("%s holds passwords or tokens but every user may read it (mode 0644): "
                      "chmod o-r %s" % (conf, conf), out)

        os.chmod(conf, 0o640)
        p = subprocess.run([redpair_bin(), "--check-config", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=15)
        self.assertEqual((p.returncode, p.stdout), (0, b"configuration OK\n"))

        with open(conf, "w") as f:
            f.write("backend a 127.0.0.1 %d\nbackend b 127.0.0.1 %d\nadmin-port 0\n"
                    % (self.a.port, self.b.port))
        os.chmod(conf, 0o666)
        out = self.refused([], conf=[conf])
        self.assertIn("%s: every user may change it (mode 0666): chmod o-w %s" % (conf, conf), out)

    def test_aclfile_is_private(self):
        acl = os.path.join(self.tmp, "users.acl")
        with open(acl, "w") as f:
            f.write("user default on >s3cret ~* &* +@all\n")
        os.chmod(acl, 0o644)
        out = self.refused(self.base("--aclfile", acl))
        self.assertIn("%s holds passwords or tokens but every user may read it (mode 0644)" % acl,
                      out)
        os.chmod(acl, 0o600)
        rp = self.start_redpair(self.base("--aclfile", acl))
        with rp.raw() as c:
            self.assertEqual(c.cmd("AUTH", "s3cret"), b"+OK\r\n")
            os.chmod(acl, 0o604)
            reply = c.cmd("ACL", "LOAD")
            self.assertTrue(reply.startswith(b"-ERR ") and b"every user may read it" in reply, reply)

    def test_state_is_private(self):
        rp = self.start_redpair(self.base())
        with rp.raw() as c:
            self.assertEqual(c.cmd("SET", "k", "v"), b"+OK\r\n")
        rp.stop()
        for root, dirs, files in os.walk(rp.state_dir):
            for name in [root] + [os.path.join(root, f) for f in files]:
                self.assertEqual(other_bits(name), 0, "%s is open to every user" % name)
        self.assertEqual(other_bits(rp.log_path), 0, "the log is open to every user")

        # A state directory made open by hand is closed again, and said so.
        shared = os.path.join(self.tmp, "shared-state")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        rp = self.start_redpair(self.base(), state_dir=shared)
        self.assertEqual(other_bits(shared), 0)
        rp.stop()
        with open(rp.log_path) as f:
            self.assertIn("state-dir %s was open to every user (mode 0777): now 0770" % shared,
                          f.read())


if __name__ == "__main__":
    main()
