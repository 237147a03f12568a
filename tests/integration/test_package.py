"""The packages (make package): the .deb built, linted, installed on this machine with dpkg, its
installed binary run with its installed configuration against two real redis-servers, then
purged; the .rpm built and linted, with the same layout.

Installing needs root (CI runs as root); as another user that part is skipped and says so. A
redpair package that is already installed here is left alone (that part is skipped too).

Debian policy leaves system users in place on purge (their uid may still own files elsewhere), so
the purge keeps the redpair user; this test removes it afterwards only when it created it.

Run: /usr/bin/python3 tests/integration/test_package.py
"""

import fcntl
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.request

from harness import REDIS_CLI, REPO, RedisServer, free_port, main, wait_until

DIST = os.path.join(REPO, "dist")
BUILD_TIMEOUT = 900
LOCK = os.path.join(tempfile.gettempdir(), "redpair-package-install.lock")

# The installed layout, the same in both packages but for where each distribution keeps units.
BINARY = "/usr/bin/redpair"
CONF = "/etc/redpair/redpair.conf"
STATE = "/var/lib/redpair"
MAN = "/usr/share/man/man1/redpair.1"
DEB_UNIT = "/lib/systemd/system/redpair.service"
RPM_UNIT = "/usr/lib/systemd/system/redpair.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/redpair.service"


def run(args, timeout=120, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(
            "%s exited with %d:\n%s%s" % (" ".join(args), p.returncode, p.stdout[-4000:], p.stderr[-4000:])
        )
    return p


def one(pattern):
    found = sorted(glob.glob(os.path.join(DIST, pattern)))
    assert len(found) == 1, "expected one %s in dist/, found %r" % (pattern, found)
    return found[0]


def deb_installed():
    p = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", "redpair"], check=False)
    return p.returncode == 0 and p.stdout.strip() not in ("", "not-installed", "config-files")


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def dpkg(*args):
    """dpkg, waiting out the lock of an apt or dpkg that runs at the same time."""
    result = {}

    def attempt():
        p = run(["dpkg"] + list(args), check=False, timeout=300)
        if p.returncode != 0 and "lock" in p.stderr:
            return None
        result["p"] = p
        return True

    wait_until(attempt, timeout=300, interval=2, what="the dpkg lock")
    p = result["p"]
    if p.returncode != 0:
        raise AssertionError(
            "dpkg %s exited with %d:\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr)
        )
    return p


def redis_cli(port, *args):
    return run([REDIS_CLI, "-p", str(port)] + list(args), timeout=10).stdout.strip()


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Builds once per source state: dist/ is reused when it holds these sources' packages.
        run(["bash", os.path.join(REPO, "packaging", "build.sh"), "--if-stale"], timeout=BUILD_TIMEOUT)
        cls.deb = one("redpair_*.deb")
        cls.rpm = one("redpair-[0-9]*.rpm")

    def test_versions_agree(self):
        with open(os.path.join(REPO, "CMakeLists.txt")) as f:
            cmake = re.search(r"project\(redpair VERSION ([0-9.]+)", f.read()).group(1)
        deb_version = run(["dpkg-deb", "-f", self.deb, "Version"]).stdout.strip()
        rpm_version = run(["rpm", "-qp", "--qf", "%{VERSION}", self.rpm]).stdout.strip()
        self.assertEqual(deb_version.rsplit("-", 1)[0], cmake)
        self.assertEqual(rpm_version, cmake)

    def test_lintian(self):
        changes = glob.glob(os.path.join(REPO, "build-package", "redpair_*.changes"))
        p = run(["lintian", "--fail-on", "error"] + (changes or [self.deb]), check=False, timeout=300)
        self.assertEqual(p.returncode, 0, "lintian found errors:\n" + p.stdout + p.stderr)
        self.assertNotRegex(p.stdout, r"(?m)^E: ")

    def test_rpm(self):
        qf = "[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags}\n]"
        files = run(["rpm", "-qp", "--qf", qf, self.rpm]).stdout
        entries = {line.split()[0]: line.split()[1:] for line in files.splitlines()}
        self.assertEqual(entries[BINARY][:3], ["-rwxr-xr-x", "root", "root"])
        self.assertEqual(entries[CONF][:3], ["-rw-r-----", "root", "redpair"])
        flags = (entries[CONF] + [""])[3]
        self.assertTrue("c" in flags and "n" in flags, "redpair.conf is not %%config(noreplace): %r" % flags)
        self.assertEqual(entries[STATE][:3], ["drwxr-x---", "redpair", "redpair"])
        self.assertIn(RPM_UNIT, entries)
        self.assertTrue(any(f.startswith(MAN) for f in entries))
        scripts = run(["rpm", "-qp", "--scripts", self.rpm]).stdout
        self.assertIn("useradd -r -g redpair -d /var/lib/redpair", scripts)
        for step in ("preset", "disable --now", "try-restart"):
            self.assertIn(step + " redpair.service", scripts)
        # The same layout as the .deb, but for the units' directory.
        listing = run(["dpkg-deb", "-c", self.deb]).stdout
        deb_files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        for path in (BINARY, CONF, MAN + ".gz", DEB_UNIT):
            self.assertIn(path, deb_files)
        if shutil.which("rpmlint"):
            p = run(["rpmlint", "-r", os.path.join(REPO, "packaging", "rpm", "redpair.rpmlintrc"),
                     os.path.join(REPO, "packaging", "rpm", "redpair.spec"), self.rpm], check=False)
            self.assertIn(" 0 errors", p.stdout, p.stdout)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_install_run_purge(self):
        if os.geteuid() != 0:
            self.skipTest("installing the .deb needs root (dpkg -i); run as root to test it")
        lock = open(LOCK, "w")
        self.addCleanup(lock.close)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if deb_installed():
            self.skipTest("a redpair package is already installed on this machine: not replacing it")
        had_user = user_exists("redpair")
        self.addCleanup(self.purge_quietly, had_user)

        dpkg("-i", self.deb)
        self.check_installed()
        self.run_installed()
        dpkg("--purge", "redpair")
        self.check_purged()

    def check_installed(self):
        user = pwd.getpwnam("redpair")
        self.assertLess(user.pw_uid, 1000, "a system user")
        self.assertEqual(user.pw_dir, STATE)
        self.assertIn(user.pw_shell, ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"))
        for path in (BINARY, CONF, DEB_UNIT, MAN + ".gz"):
            self.assertTrue(os.path.exists(path), path)
        st = os.stat(CONF)
        self.assertEqual((st.st_mode & 0o777, st.st_uid, st.st_gid), (0o640, 0, user.pw_gid), "0640 root:redpair")
        st = os.stat(STATE)
        self.assertEqual((st.st_mode & 0o777, st.st_uid), (0o750, user.pw_uid), "0750 redpair")
        conffiles = run(["dpkg-query", "-W", "-f", "${Conffiles}", "redpair"]).stdout
        self.assertIn(CONF, conffiles)
        self.assertTrue(os.path.islink(WANTS), "redpair.service enabled")
        with open(CONF) as f:
            conf = f.read()
        self.assertRegex(conf, r"(?m)^state-dir /var/lib/redpair$")
        self.assertRegex(conf, r'(?m)^logfile ""$')
        self.assertEqual(run([BINARY, "--check-config", CONF]).stdout.strip(), "configuration OK")
        if shutil.which("systemd-analyze"):
            p = run(["systemd-analyze", "verify", DEB_UNIT], check=False, cwd="/")
            self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""), "systemd-analyze verify")

    def run_installed(self):
        """The installed binary and configuration, as the service runs them (the redpair user, the
        state directory), with the backends and ports of this test."""
        a = RedisServer()
        self.addCleanup(a.cleanup)
        b = RedisServer()
        self.addCleanup(b.cleanup)
        port, admin = free_port(), free_port()
        out = tempfile.NamedTemporaryFile(prefix="redpair-package-", suffix=".log")
        self.addCleanup(out.close)
        args = ["setpriv", "--reuid=redpair", "--regid=redpair", "--init-groups", BINARY, CONF,
                "--port", str(port), "--admin-port", str(admin),
                "--backend", "a", "127.0.0.1", str(a.port), "--backend", "b", "127.0.0.1", str(b.port)]
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)

        def log():
            with open(out.name, errors="replace") as f:
                return f.read()[-4000:]

        def cleanup():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

        self.addCleanup(cleanup)
        try:
            wait_until(
                lambda: proc.poll() is not None or redis_cli(port, "PING") == "PONG", what="the installed redpair"
            )
            self.assertIsNone(proc.poll(), "redpair exited at start-up")
            self.assertEqual(redis_cli(port, "SET", "packaged", "yes"), "OK")
            self.assertEqual(redis_cli(port, "GET", "packaged"), "yes")
            self.assertEqual(redis_cli(b.port, "GET", "packaged"), "yes", "mirrored to the second server")
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % admin, timeout=5) as r:
                self.assertEqual(r.status, 200)
            self.assertTrue(os.path.exists(os.path.join(STATE, "redpair.db")), "no state in /var/lib/redpair")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=15), 0)
        except BaseException:
            print("\n--- installed redpair's output ---\n" + log())
            raise
        self.assertIn("redpair stopped", log())

    def check_purged(self):
        self.assertFalse(deb_installed())
        gone = (BINARY, CONF, "/etc/redpair", STATE, "/var/log/redpair", DEB_UNIT, WANTS, MAN + ".gz",
                "/usr/share/doc/redpair")
        for path in gone:
            self.assertFalse(os.path.lexists(path), "%s left after purge" % path)
        self.assertNotIn("redpair", run(["dpkg-statoverride", "--list"]).stdout)
        leftovers = run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "redpair"], check=False).stdout
        self.assertNotIn("c", leftovers.strip()[1:2], "config files left")
        self.assertTrue(user_exists("redpair"), "Debian policy: the system user stays after purge")

    def purge_quietly(self, had_user):
        if deb_installed() or os.path.exists(CONF):
            subprocess.run(["dpkg", "--purge", "redpair"], capture_output=True, timeout=300)
        if not had_user and user_exists("redpair"):
            subprocess.run(["deluser", "--system", "redpair"], capture_output=True, timeout=60)
            subprocess.run(["delgroup", "--system", "redpair"], capture_output=True, timeout=60)


if __name__ == "__main__":
    main()
