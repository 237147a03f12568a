"""Differential sessions: several raw-RESP clients run one scripted session against a
redis-server directly and through redpair at the same time, and every reply must be
byte-identical; afterwards both backends hold the same data as the direct server.

A session is a list of steps, run in order on CLIENTS connections:

    (i, cmd)            client i sends cmd and reads its reply
    ("block", i, cmd)   client i sends cmd; no reply may come within QUIET seconds
    ("wake", i)         client i reads the reply it was waiting for
    ("quiet", i)        client i has nothing to read within QUIET seconds
    ("pipe", i, cmds)   client i sends cmds in one write, then reads all their replies
    ("send", i, cmd)    client i sends cmd without reading anything
    ("read", i)         client i reads one reply (after "send")
    ("close", i)        client i closes its connection (then a pause, so the server notices)
"""

import socket
import time

from harness import (
    ConnectionClosed,
    RawConn,
    RedpairTestCase,
    assert_backends_equal,
    assert_datasets_equal,
    dataset_dump,
    resp_command,
    run_threads,
)

QUIET = 0.2  # how long a blocked client must stay unanswered before another client writes
REPLY_TIMEOUT = 5.0  # a reply that is due comes within milliseconds; this only bounds a failure
CLIENTS = 4  # connections per session; the last one is the usual writer
W = CLIENTS - 1


def quiet(conn, secs=QUIET):
    """True when nothing arrives on conn within secs; what did arrive stays buffered."""
    if conn.pos < len(conn.buf):
        return False
    conn.settimeout(secs)
    try:
        chunk = conn.sock.recv(1 << 16)
    except socket.timeout:
        return True
    finally:
        conn.settimeout(REPLY_TIMEOUT)
    if not chunk:
        raise ConnectionClosed("connection closed while it should have been blocked")
    conn.buf += chunk
    return False


def early_reply(conn):
    """The reply that came when none should have, as bytes for the report."""
    try:
        return b"answered early: " + conn.read_reply()
    except (OSError, ConnectionClosed, AssertionError) as e:
        return b"answered early (unreadable: %r)" % (e,)


def run_session(port, steps):
    """Runs the steps against port; returns what each step saw, as (step, bytes) pairs. A step
    whose connection fails (a reply that never comes) ends the session there."""
    conns = [RawConn(port, timeout=REPLY_TIMEOUT) for _ in range(CLIENTS)]
    seen = []
    try:
        for step in steps:
            kind = step[0]
            try:
                if kind == "block":
                    _, i, cmd = step
                    conns[i].send(resp_command(*cmd))
                    seen.append((step, b"blocked" if quiet(conns[i]) else early_reply(conns[i])))
                elif kind in ("wake", "read"):
                    seen.append((step, conns[step[1]].read_reply()))
                elif kind == "quiet":
                    c = conns[step[1]]
                    seen.append((step, b"quiet" if quiet(c) else early_reply(c)))
                elif kind == "pipe":
                    _, i, cmds = step
                    conns[i].send(b"".join(resp_command(*c) for c in cmds))
                    seen.append((step, b"".join(conns[i].read_replies(len(cmds)))))
                elif kind == "send":
                    _, i, cmd = step
                    conns[i].send(resp_command(*cmd))
                    seen.append((step, b"sent"))
                elif kind == "close":
                    conns[step[1]].close()
                    time.sleep(QUIET)  # so that the server notices before the next write
                    seen.append((step, b"closed"))
                else:
                    i, cmd = step
                    seen.append((step, conns[i].cmd(*cmd)))
            except (OSError, ConnectionClosed) as e:
                seen.append((step, b"connection error: %r" % (e,)))
                break
    finally:
        for c in conns:
            c.close()
    return seen


def run_both(direct_port, redpair_port, steps):
    """The same session against the direct server and through redpair, at the same time (the
    two runs are independent, and the waits dominate). Returns (redis-server's, redpair's)."""
    return run_threads(lambda i: run_session((direct_port, redpair_port)[i], steps), 2)


def describe(want, got):
    """One line per step whose results differ: step, redis-server's bytes, redpair's bytes."""
    lines = []
    for i in range(max(len(want), len(got))):
        w = want[i] if i < len(want) else (None, b"<not run>")
        g = got[i] if i < len(got) else (None, b"<not run>")
        if w != g:
            lines.append("  step %d %r\n     redis:   %r\n     redpair: %r"
                         % (i, w[0] or g[0], w[1][:400], g[1][:400]))
    return lines


def wait_until_unblocked(pair, timeout=5.0):
    """INFO's blocked_clients back to 0 once every session is over."""
    deadline = time.monotonic() + timeout
    while True:
        n = pair.info().get("blocked_clients", 0)
        if n == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError("INFO blocked_clients still %r after the sessions ended" % n)
        time.sleep(0.05)



class SessionTestCase(RedpairTestCase):
    def assert_session_identical(self, steps):
        direct = self.start_redis()
        pair = self.start_pair()
        want, got = run_both(direct.port, pair.port, steps)
        diffs = describe(want, got)
        if diffs:
            self.fail("%d of %d steps differ (step, redis-server, redpair):\n%s"
                      % (len(diffs), len(steps), "\n".join(diffs)))
        self.assert_pair_consistent(pair, direct)
        return pair

    def assert_pair_consistent(self, pair, direct=None):
        """No divergence, both backends equal (and equal to the direct server), nobody parked."""
        pair.wait_caught_up()
        self.assertEqual(pair.info()["divergences"], 0)
        da, _ = assert_backends_equal(pair)
        if direct is not None:
            assert_datasets_equal(dataset_dump(direct.client()), da, msg="direct redis-server vs backend a")
        wait_until_unblocked(pair)

