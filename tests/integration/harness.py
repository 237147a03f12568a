"""Shared fixtures for redpair's integration tests.

Real redis-server processes, a real redpair in front of two of them, raw RESP helpers and
dataset comparison. Standard library plus Debian's python3-redis; run with /usr/bin/python3.

Everything a fixture starts is registered for cleanup the moment it exists, so processes are
killed and temporary directories removed even when a test fails half-way. When a test fails, the
tail of every redpair log it produced is printed to stderr.
"""

import glob
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
REDIS_BENCHMARK = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"

START_TIMEOUT = 10.0  # seconds to wait for a process to answer
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL


def redpair_bin():
    """$REDPAIR_BIN, else the newest build*/redpair in the repository."""
    path = os.environ.get("REDPAIR_BIN")
    if path:
        return path
    found = [p for p in glob.glob(os.path.join(REPO, "build*", "redpair")) if os.access(p, os.X_OK)]
    if not found:
        raise unittest.SkipTest("no redpair binary: set REDPAIR_BIN or build into build*/redpair")
    return max(found, key=os.path.getmtime)


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now, below the kernel's ephemeral range:
    a port from that range could be taken as the source port of some outgoing connection (the
    tests open thousands) between this check and the server's bind. Never the same one twice in
    a process: a cluster picks all its nodes' ports before any of them listens."""
    low, _ = _ephemeral_range()
    top = max(low - 1, 2048)
    while True:
        port = random.randrange(1024, top)
        if port in _handed_out:
            continue
        _handed_out.add(port)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns a truthy value; returns it, or raises AssertionError."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - the predicate may fail while things start
            last_exc = e
        if time.monotonic() >= deadline:
            raise AssertionError(
                "timed out after %.1fs waiting for %s%s"
                % (timeout, what, " (last error: %r)" % (last_exc,) if last_exc else "")
            )
        time.sleep(interval)


def rss_kb(pid):
    """Resident set size of a process in KiB, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------------------------------------
# RESP on raw sockets
# ------------------------------------------------------------------------------------------------


def _arg_bytes(a):
    if isinstance(a, bytes):
        return a
    if isinstance(a, str):
        return a.encode()
    return str(a).encode()


def resp_command(*args):
    """Encodes one command as a RESP multibulk."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = _arg_bytes(a)
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class ConnectionClosed(Exception):
    pass


class RawConn:
    """A plain socket speaking RESP, reading replies as their exact bytes."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1", rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, *args):
        """Sends one command and returns its reply's raw bytes."""
        self.send(resp_command(*args))
        return self.read_reply()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionClosed("connection closed by peer")
        self.buf += chunk

    def _line_end(self, start):
        while True:
            i = self.buf.find(b"\r\n", start)
            if i >= 0:
                return i
            self._fill()

    def _skip_value(self, start):
        """Returns the offset just after the complete value starting at start, reading as needed.
        Without recursing: a Lua reply may nest arrays thousands deep."""
        pos, todo = start, 1
        while todo:
            while len(self.buf) <= pos:
                self._fill()
            t = self.buf[pos : pos + 1]
            end = self._line_end(pos)
            todo -= 1
            if t in (b"+", b"-", b":"):
                pos = end + 2
                continue
            if t not in (b"$", b"*"):
                raise AssertionError("not a RESP reply: %r" % bytes(self.buf[pos : pos + 64]))
            n = int(self.buf[pos + 1 : end])
            pos = end + 2
            if t == b"*":
                todo += max(n, 0)
            elif n >= 0:
                pos += n + 2
                while len(self.buf) < pos:
                    self._fill()
        return pos

    def read_reply(self):
        """The raw bytes of the next complete reply."""
        if self.pos > (1 << 20):  # between replies, where no offset into buf is held
            del self.buf[: self.pos]
            self.pos = 0
        end = self._skip_value(self.pos)
        data = bytes(self.buf[self.pos : end])
        self.pos = end
        return data

    def read_replies(self, n):
        return [self.read_reply() for _ in range(n)]

    def read_until_closed(self, timeout=5.0, limit=1 << 30):
        """Reads until EOF; returns everything read (from the unread part of the buffer on).
        Raises AssertionError when the peer keeps the connection open past timeout."""
        data = bytearray(self.buf[self.pos :])
        self.buf = bytearray()
        self.pos = 0
        deadline = time.monotonic() + timeout
        while len(data) < limit:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection still open after %.1fs (read %d bytes)" % (timeout, len(data)))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return bytes(data)


def parse_resp(data):
    """Decodes one complete RESP2 reply (bytes) into Python values: str for status, an
    Exception-like ('error', text) tuple for errors, int, bytes or None, list."""

    def parse(pos):
        t = data[pos : pos + 1]
        end = data.index(b"\r\n", pos)
        line = data[pos + 1 : end]
        if t == b"+":
            return line.decode(), end + 2
        if t == b"-":
            return ("error", line.decode()), end + 2
        if t == b":":
            return int(line), end + 2
        if t == b"$":
            n = int(line)
            if n < 0:
                return None, end + 2
            return data[end + 2 : end + 2 + n], end + 2 + n + 2
        if t == b"*":
            n = int(line)
            if n < 0:
                return None, end + 2
            items = []
            pos = end + 2
            for _ in range(n):
                v, pos = parse(pos)
                items.append(v)
            return items, pos
        raise ValueError("bad RESP: %r" % data[pos : pos + 32])

    value, _ = parse(0)
    return value


# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------


def _ping_raw(port, timeout=1.0, tls=None):
    """True when something on port answers a PING with any complete RESP reply (over TLS with
    tls, a tlscerts.Certs, presenting its client certificate)."""
    if tls:
        try:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout, **tls.redis_kw()) as r:
                r.execute_command("PING")
            return True
        except redis.exceptions.ResponseError:
            return True
        except (OSError, redis.exceptions.RedisError):
            return False
    try:
        with RawConn(port, timeout=timeout) as c:
            reply = c.cmd("PING")
            return reply[:1] in (b"+", b"-")
    except (OSError, ConnectionClosed, AssertionError, ValueError):
        return False


class RedisServer:
    """A real redis-server on 127.0.0.1 in a temporary directory; with tls (a tlscerts.Certs),
    TLS only (port 0, tls-port), client certificates required, TLS replication."""

    def __init__(self, port=None, extra_args=(), tls=None):
        self.port = port or free_port()
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="redpair-redis-")
        self.log_path = os.path.join(self.dir, "redis.log")
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--daemonize", "no",
            "--logfile", self.log_path,
        ]
        if tls:
            args[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            args += tls.server_args() + ["--tls-auth-clients", "yes", "--tls-replication", "yes"]
        args += list(extra_args)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(
                lambda: self.proc.poll() is not None or _ping_raw(self.port, tls=tls),
                timeout=START_TIMEOUT,
                what="redis-server on port %d" % self.port,
            )
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server on port %d exited: %s" % (self.port, self.log_tail()))
        except BaseException:
            self.cleanup()
            raise

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def client(self, db=0, **kw):
        kw.setdefault("socket_timeout", 30)
        if self.tls:
            kw = dict(self.tls.redis_kw(), **kw)
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, **kw)

    def log_tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)

    def cleanup(self):
        try:
            self.kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def log_tails(paths, n=40, label=""):
    """The last n lines of each file that has any, under a header naming it."""
    parts = []
    for path in paths:
        try:
            with open(path, errors="replace") as f:
                lines = f.readlines()[-n:]
            if lines:
                parts.append("--- %s%s (last %d lines)\n%s" % (label, os.path.basename(path), len(lines), "".join(lines)))
        except OSError:
            pass
    return "\n".join(parts)


class Endpoint:
    """Clients of something that speaks RESP on self.host (127.0.0.1 unless set) and self.port."""

    host = "127.0.0.1"
    tls = None  # a tlscerts.Certs when it speaks TLS only

    def client(self, db=0, **kw):
        kw.setdefault("socket_timeout", 30)
        if self.tls:
            kw = dict(self.tls.redis_kw(), **kw)
        return redis.Redis(host=self.host, port=self.port, db=db, **kw)

    def raw(self, timeout=10.0, **kw):
        return RawConn(self.port, timeout=timeout, host=self.host, **kw)


class Redpair(Endpoint):
    """redpair started with command-line directives, logging into a temporary directory.

    Ready once a PING through it gets a reply. stop() sends SIGTERM and, past STOP_TIMEOUT,
    SIGKILL; it raises AssertionError when redpair had died on its own, died by a signal, or
    ignored SIGTERM, so a crash during a test never goes unnoticed."""

    def __init__(self, args, port=None, wait=True, state_dir=None, tls=None, wrap=()):
        self.port = port or free_port()
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="redpair-")
        self.log_path = os.path.join(self.dir, "redpair.log")
        self.out_path = os.path.join(self.dir, "stdout-stderr.log")
        self.state_dir = state_dir or os.path.join(self.dir, "state")
        ports = ["--port", "0", "--tls-port", str(self.port)] if tls else ["--port", str(self.port)]
        # wrap: a command line redpair runs under (prlimit, setpriv)
        self.args = list(wrap) + [redpair_bin()] + ports + ["--logfile", self.log_path,
                                                            "--state-dir", self.state_dir] + list(args)
        self.final_log = None
        self.stopped = False
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._out, stderr=subprocess.STDOUT)
        if wait:
            try:
                wait_until(
                    lambda: self.proc.poll() is not None or _ping_raw(self.port, tls=tls),
                    timeout=START_TIMEOUT,
                    what="redpair on port %d" % self.port,
                )
                if self.proc.poll() is not None:
                    raise AssertionError(
                        "redpair exited with %s at start-up: %s\n%s"
                        % (self.proc.returncode, " ".join(self.args), self.log_tail())
                    )
            except BaseException:
                self.final_log = self.log_tail()
                self._kill_quietly()
                shutil.rmtree(self.dir, ignore_errors=True)
                raise

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=40):
        return log_tails((self.log_path, self.out_path), n)

    def _kill_quietly(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self._out.close()

    def kill(self):
        """SIGKILL, as a crash would; stop() then has nothing to do."""
        self.stopped = True
        self._kill_quietly()

    def stop(self):
        """SIGTERM, then SIGKILL. Raises AssertionError on an unclean life or death."""
        if self.stopped:
            return
        self.stopped = True
        problem = None
        rc = self.proc.poll()
        if rc is not None:
            problem = "redpair died during the test (exit status %s)" % rc
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=STOP_TIMEOUT)
                if rc < 0:
                    problem = "redpair died by signal %d on SIGTERM" % -rc
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
                problem = "redpair ignored SIGTERM for %.0fs and was killed" % STOP_TIMEOUT
        self._out.close()
        self.final_log = self.log_tail()
        if problem:
            raise AssertionError(problem + "\n" + self.final_log)

    def cleanup(self):
        try:
            self.stop()
        finally:
            self._kill_quietly()
            if self.final_log is None:
                self.final_log = self.log_tail()
            shutil.rmtree(self.dir, ignore_errors=True)


def redpair_args(port_a, port_b, write_ack=None, extra=(), tls=None):
    """With tls (a tlscerts.Certs): TLS on tls-port with its certificates, and to the backends."""
    args = [
        "--backend", "a", "127.0.0.1", str(port_a),
        "--backend", "b", "127.0.0.1", str(port_b),
        "--admin-port", "0",
        "--loglevel", "verbose",
    ]
    if write_ack:
        args += ["--write-ack", write_ack]
    if tls:
        args += tls.server_args() + ["--backend-tls", "yes", "--backend-tls-cert-file",
                                     tls.path("client"), "--backend-tls-key-file", tls.path("client", "key")]
    return args + list(extra)


class PairBase:
    """What a test reaches a pair through: clients, raw connections, INFO redpair and its waits.
    A subclass sets self.redpair (anything with port and client()) and self.requirepass."""

    _info_client = None

    @property
    def port(self):
        return self.redpair.port

    def client(self, db=0, **kw):
        if self.requirepass is not None:
            kw.setdefault("password", self.requirepass)
        return self.redpair.client(db=db, **kw)

    def raw(self, timeout=10.0, **kw):
        return self.redpair.raw(timeout=timeout, **kw)

    def info(self):
        """INFO redpair through one connection kept for the purpose."""
        if self._info_client is None:
            self._info_client = self.client()
        try:
            return info_redpair(self._info_client)
        except Exception:
            self.drop_info_client()
            raise

    def drop_info_client(self):
        if self._info_client is not None:
            try:
                self._info_client.close()
            except Exception:  # noqa: BLE001
                pass
            self._info_client = None

    def wait_in_sync(self, timeout=10.0):
        def ok():
            info = self.info()
            return all(info.get("backend_" + n, {}).get("state") == "in-sync" for n in ("a", "b")) and info

        try:
            return wait_until(ok, timeout=timeout, what="both backends in-sync in INFO redpair")
        except AssertionError as e:
            try:
                info = self.info()
            except Exception as e2:  # noqa: BLE001
                info = "unavailable (%r)" % (e2,)
            raise AssertionError("%s; INFO redpair: %r" % (e, info)) from None

    def wait_caught_up(self, timeout=15.0):
        """Waits until every backend acknowledged the whole stream: lag 0 and acked_offset equal
        to stream_offset. Returns the INFO dict."""

        def ok():
            info = self.info()
            so = info["stream_offset"]
            for n in ("a", "b"):
                be = info["backend_" + n]
                if be.get("lag") != 0 or be.get("acked_offset") != so:
                    return None
            return info

        return wait_until(ok, timeout=timeout, what="lag 0 on both backends")


class Pair(PairBase):
    """Two redis-servers (a primary, b secondary) and redpair mirroring to both.

    Ready once INFO redpair reports both backends in-sync (unless wait_in_sync is False)."""

    def __init__(self, write_ack=None, extra=(), redis_args=(), requirepass=None, wait_in_sync=True,
                 tls=None):
        self.a = self.b = self.redpair = None
        self._info_client = None
        self.requirepass = requirepass
        try:
            self.a = RedisServer(extra_args=redis_args, tls=tls)
            self.b = RedisServer(extra_args=redis_args, tls=tls)
            args = redpair_args(self.a.port, self.b.port, write_ack, extra, tls=tls)
            if requirepass is not None:
                args += ["--requirepass", requirepass]
            self.redpair = Redpair(args, tls=tls)
            if wait_in_sync:
                self.wait_in_sync()
        except BaseException:
            self.cleanup()
            raise

    def cleanup(self):
        self.drop_info_client()
        cleanup_all((self.redpair, self.a, self.b))


def cleanup_all(things):
    """Cleans up every one of things (None is passed over), then raises the first error."""
    errors = []
    for thing in things:
        if thing is None:
            continue
        try:
            thing.cleanup()
        except Exception as e:  # noqa: BLE001 - clean up the rest, report afterwards
            errors.append(e)
    if errors:
        raise errors[0]


# ------------------------------------------------------------------------------------------------
# INFO and datasets
# ------------------------------------------------------------------------------------------------


def _info_value(v):
    if "=" in v and "," in v or v.startswith("addr="):
        d = {}
        for part in v.split(","):
            k, _, val = part.partition("=")
            d[k] = _info_value(val)
        return d
    try:
        return int(v)
    except ValueError:
        return v


def parse_info(text):
    """INFO text -> {field: value}; numbers become int, `k=v,k=v` values become dicts.
    Section headers are kept under '#sections' in order."""
    if isinstance(text, bytes):
        text = text.decode()
    out = {"#sections": []}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            out["#sections"].append(line[1:].strip())
            continue
        k, sep, v = line.partition(":")
        if sep:
            out[k] = _info_value(v)
    return out


def info_raw(client, section=None):
    """INFO's bulk text, bypassing redis-py's own INFO parser."""
    args = ("INFO", section) if section else ("INFO",)
    pool = client.connection_pool
    conn = pool.get_connection("INFO")
    try:
        conn.send_command(*args)
        reply = conn.read_response()
    finally:
        pool.release(conn)
    if isinstance(reply, bytes):
        reply = reply.decode()
    return reply


def info_redpair(client):
    """INFO redpair -> dict (see parse_info)."""
    return parse_info(info_raw(client, "redpair"))


def used_dbs(client):
    """Database numbers holding keys, from INFO keyspace."""
    info = parse_info(info_raw(client, "keyspace"))
    return sorted(int(k[2:]) for k in info if k.startswith("db") and k[2:].isdigit())


class Entry(tuple):
    """(type, DUMP bytes, pttl); .value holds the decoded contents, .expire_at PEXPIRETIME."""

    def __new__(cls, type_, dump, pttl, value=None, expire_at=None):
        self = super().__new__(cls, (type_, dump, pttl))
        self.value = value
        self.expire_at = expire_at
        return self


def _logical_value(r, key, type_):
    if type_ == "string":
        return r.get(key)
    if type_ == "list":
        return r.lrange(key, 0, -1)
    if type_ == "set":
        return sorted(r.smembers(key))
    if type_ == "zset":
        return r.zrange(key, 0, -1, withscores=True)
    if type_ == "hash":
        return sorted(r.hgetall(key).items())
    if type_ == "stream":
        return _stream_state(r.xinfo_stream(key, full=True))
    return None


def _stream_state(full):
    """XINFO STREAM FULL without what each server's own clock sets: consumers' seen and active
    times and the delivery times of pending entries. The rest, consumer groups and their pending
    lists included, must be the same on both backends."""
    groups = []
    for g in full.get("groups") or []:
        g = dict(g)
        g["pending"] = [[e[0], e[1], e[3]] for e in g.get("pending") or []]
        consumers = []
        for c in g.get("consumers") or []:
            c = dict(zip(c[::2], c[1::2]))
            c.pop(b"seen-time", None)
            c.pop(b"active-time", None)
            c[b"pending"] = [[e[0], e[2]] for e in c.get(b"pending") or []]
            consumers.append(c)
        g["consumers"] = consumers
        groups.append(g)
    full = dict(full)
    full["groups"] = groups
    return full


OFFSET_KEY = b"__redpair_stream_offset__"
FENCE_KEY = b"__redpair_epoch__"  # cluster mode's fence (server/fence.h)


def dataset_dump(client, dbs=None):
    """{(db, key): Entry(type, DUMP bytes, pttl)} over every database holding keys (or dbs).

    Keys are listed with SCAN on a direct connection to one redis-server. redpair's own offset
    key is left out: a server that never saw redpair has none (assert_backends_equal compares it
    separately)."""
    pool = client.connection_pool
    if dbs is None:
        dbs = used_dbs(client)
    out = {}
    for db in dbs:
        # the same server the same way (password, TLS), in database db
        r = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **dict(pool.connection_kwargs, db=db, socket_timeout=30)))
        try:
            for key in r.scan_iter(count=1000):
                if db == 0 and key in (OFFSET_KEY, FENCE_KEY):
                    continue
                pipe = r.pipeline(transaction=False)
                pipe.type(key)
                pipe.dump(key)
                pipe.pttl(key)
                pipe.execute_command("PEXPIRETIME", key)
                type_, dump, pttl, expire_at = pipe.execute()
                type_ = type_.decode() if isinstance(type_, bytes) else type_
                if type_ == "none":
                    continue  # expired or deleted while listing
                out[(db, key)] = Entry(type_, dump, pttl, _logical_value(r, key, type_), expire_at)
        finally:
            r.close()
    return out


# Sets, hashes and sorted sets stored as hash tables are dumped in the table's iteration order,
# which depends on each redis-server's random hash seed: two servers holding the same members dump
# them in different orders. Where DUMP differs for those types the decoded contents are compared.
_ORDER_DEPENDENT = ("set", "hash", "zset")


def _stream_has_groups(entry):
    return entry[0] == "stream" and bool(entry.value["groups"])


def diff_datasets(a, b, ttl_tolerance_ms=1500):
    """Returns a list of human-readable differences between two dataset_dump() results."""
    problems = []
    for k in sorted(set(a) | set(b), key=repr):
        if k not in a:
            problems.append("%r only on the second server (%s)" % (k, b[k][0]))
            continue
        if k not in b:
            problems.append("%r only on the first server (%s)" % (k, a[k][0]))
            continue
        ea, eb = a[k], b[k]
        if ea[0] != eb[0]:
            problems.append("%r type %s vs %s" % (k, ea[0], eb[0]))
            continue
        if ea[1] != eb[1]:
            if ea[0] in _ORDER_DEPENDENT and ea.value == eb.value:
                pass
            elif _stream_has_groups(ea) and ea.value == eb.value:
                pass  # DUMP holds the delivery times of pending entries: each server's clock
            elif ea.value != eb.value:
                problems.append("%r %s contents differ: %r vs %r" % (k, ea[0], _short(ea.value), _short(eb.value)))
            else:
                problems.append(
                    "%r %s DUMP differs though contents are equal (%r): %r vs %r"
                    % (k, ea[0], _short(ea.value), _short(ea[1]), _short(eb[1]))
                )
        ta, tb = ea[2], eb[2]
        if (ta < 0) != (tb < 0) or (ta >= 0 and abs(ta - tb) > ttl_tolerance_ms):
            problems.append("%r pttl %d vs %d" % (k, ta, tb))
    return problems


def _short(v, n=200):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def assert_datasets_equal(a, b, ttl_tolerance_ms=1500, msg=""):
    problems = diff_datasets(a, b, ttl_tolerance_ms)
    if problems:
        raise AssertionError(
            "%sdatasets differ in %d key(s) (%d vs %d keys):\n  %s"
            % (msg + ": " if msg else "", len(problems), len(a), len(b), "\n  ".join(problems[:30]))
        )


def settled_offsets(pair, timeout=5.0):
    """Both backends' offset keys once redpair has marked them exact: a link writes the plain
    offset ("N", not "N+") a moment after its last write (server/backend.h). Returns them as they
    are when that does not happen in time."""

    def read():
        return (pair.a.client().get(OFFSET_KEY), pair.b.client().get(OFFSET_KEY))

    def settled():
        o = read()
        return o if o[0] == o[1] and not (o[0] or b"").endswith(b"+") else None

    try:
        return wait_until(settled, timeout=timeout, what="exact offset marks")
    except AssertionError:
        return read()


def assert_backends_equal(pair, ttl_tolerance_ms=1500, exact_expire=True):
    """Dumps both backends of a Pair and compares them; with exact_expire, PEXPIRETIME must be
    identical too (redpair sends both servers the same absolute times)."""
    da = dataset_dump(pair.a.client())
    db = dataset_dump(pair.b.client())
    assert_datasets_equal(da, db, ttl_tolerance_ms, msg="backend a vs backend b")
    offsets = settled_offsets(pair)
    if offsets[0] != offsets[1]:
        raise AssertionError("the backends' offset keys differ: %r" % (offsets,))
    functions = tuple(s.client().execute_command("FUNCTION", "DUMP") for s in (pair.a, pair.b))
    if functions[0] != functions[1]:
        raise AssertionError("the backends' functions differ (FUNCTION DUMP): %r" % (functions,))
    if exact_expire:
        bad = [(k, da[k].expire_at, db[k].expire_at) for k in da if da[k].expire_at != db[k].expire_at]
        if bad:
            raise AssertionError(
                "PEXPIRETIME differs between the backends for %d key(s): %r" % (len(bad), bad[:20])
            )
    return da, db


# ------------------------------------------------------------------------------------------------
# unittest glue
# ------------------------------------------------------------------------------------------------


class RedpairTestCase(unittest.TestCase):
    """A TestCase that cleans up everything it starts and prints redpair's log tail when a test
    fails or errors."""

    def _track(self, rp):
        self.__dict__.setdefault("_redpairs", []).append(rp)

    def start_pair(self, **kw):
        """A Pair; with REDPAIR_THROUGH=follower, a cluster reached through a follower."""
        if os.environ.get("REDPAIR_THROUGH") == "follower":
            from clusters import ClusterPair

            pair = ClusterPair(**kw)
        else:
            pair = Pair(**kw)
        self._track(pair.redpair)
        self.addCleanup(pair.cleanup)
        return pair

    def start_redis(self, **kw):
        r = RedisServer(**kw)
        self.addCleanup(r.cleanup)
        return r

    def start_redpair(self, args, **kw):
        rp = Redpair(args, **kw)
        self._track(rp)
        self.addCleanup(rp.cleanup)
        return rp

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for rp in getattr(self, "_redpairs", []):
                log = rp.final_log if rp.final_log is not None else rp.log_tail()
                sys.stderr.write(
                    "\n===== redpair log tail for %s (port %d) =====\n%s\n" % (self.id(), rp.port, log)
                )
        return out


def run_threads(target, count, *args):
    """Runs target(i, *args) in count threads; returns their results in order, re-raising the
    first exception any of them hit."""
    results = [None] * count
    errors = []

    def wrap(i):
        try:
            results[i] = target(i, *args)
        except BaseException as e:  # noqa: BLE001
            errors.append((i, e))

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if any(t.is_alive() for t in threads):
        raise AssertionError("%d thread(s) still running after 120s" % sum(t.is_alive() for t in threads))
    if errors:
        i, e = errors[0]
        raise AssertionError("thread %d failed: %r (%d thread(s) failed)" % (i, e, len(errors))) from e
    return results


def main():
    unittest.main(verbosity=2)


# --- the admin API -----------------------------------------------------------------------------

TOKEN = "t0ken-for-tests"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Api:
    """HTTP to redpair's admin port; one keep-alive connection, reopened when the server closes."""

    def __init__(self, port, token=TOKEN, host="127.0.0.1", timeout=15):
        self.port = port
        self.token = token
        self.host = host
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, token=..., headers=None, raw_body=None):
        token = self.token if token is ... else token
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        resp = Response(r.status, r.headers, r.read())
        if r.will_close:
            self.close()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def json(self, method, path, body=None, expect=200, **kw):
        r = self.request(method, path, body=body, **kw)
        if r.status != expect:
            raise AssertionError("%s %s: expected %d, got %r" % (method, path, expect, r))
        return r.json()
