"""Certificates for the TLS tests, made with the openssl CLI in a temporary directory.

    ca        the CA every party trusts
    server    127.0.0.1 / localhost (redis-servers, redpair's tls-port, admin API, peers)
    client    a client certificate from ca
    expired   a client certificate from ca that expired yesterday
    stranger  a client certificate from another CA nobody trusts

Certs.redis_kw(name) gives redis-py's TLS arguments presenting that certificate (None: none).
"""

import datetime
import os
import shutil
import subprocess
import tempfile

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def _run(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def _stamp(days):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y%m%d%H%M%SZ")


class Certs:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="redpair-tls-")
        try:
            self._ca("ca")
            self._ca("otherca")
            self.issue("server", "ca", san="IP:127.0.0.1,DNS:localhost")
            self.issue("client", "ca")
            self.issue("expired", "ca", days=(-30, -1))
            self.issue("stranger", "otherca")
        except BaseException:
            self.cleanup()
            raise

    def path(self, name, ext="crt"):
        return os.path.join(self.dir, "%s.%s" % (name, ext))

    def _ca(self, name):
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
             name + ".crt", "-days", "30", "-subj", "/CN=redpair test %s" % name, cwd=self.dir)

    def issue(self, name, ca, san=None, days=(0, 30)):
        """A key and a certificate for name signed by ca, valid from days[0] to days[1] from now
        (negative: in the past)."""
        _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
             "-subj", "/CN=%s" % name, cwd=self.dir)
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if san:
                f.write("subjectAltName=%s\n" % san)
        # openssl x509 -req takes no start date: `openssl ca` does, with its small database.
        db = os.path.join(self.dir, "db-" + name)
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "w").close()
        conf = os.path.join(db, "ca.conf")
        with open(conf, "w") as f:
            f.write(
                "[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nnew_certs_dir=%s\nserial=%s/serial\n"
                "default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
                % (db, db, db))
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("%s\n" % os.urandom(8).hex())
        start = days[0] or -1  # a day back: a clock a little behind still sees it valid
        _run("ca", "-batch", "-config", conf, "-cert", ca + ".crt", "-keyfile", ca + ".key", "-in",
             name + ".csr", "-out", name + ".crt", "-startdate", _stamp(start), "-enddate",
             _stamp(days[1]), "-extfile", ext, "-notext", cwd=self.dir)

    def redis_kw(self, cert="client"):
        kw = {"ssl": True, "ssl_ca_certs": self.path("ca"), "ssl_cert_reqs": "required"}
        if cert:
            kw.update(ssl_certfile=self.path(cert), ssl_keyfile=self.path(cert, "key"))
        return kw

    def server_args(self, prefix="tls-"):
        """A redis-server's or redpair's certificate directives: server.crt, ca.crt."""
        return ["--%scert-file" % prefix, self.path("server"), "--%skey-file" % prefix,
                self.path("server", "key"), "--%sca-cert-file" % prefix, self.path("ca")]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
