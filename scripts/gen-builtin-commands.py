#!/usr/bin/python3
"""Generates server/command_builtin.c, redpair's fallback command table, from a Redis 7.0 server's
own COMMAND reply, and records that reply in tests/unit/data/command-7.0.resp so the unit tests can
check that the built-in table equals what command_table_learn() makes of the same reply.

    /usr/bin/python3 scripts/gen-builtin-commands.py            # starts a throwaway redis-server
    /usr/bin/python3 scripts/gen-builtin-commands.py --port 6379  # asks a running one

Only the standard library is used, so it runs wherever redis-server does.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_C = os.path.join(ROOT, "server", "command_builtin.c")
OUT_RESP = os.path.join(ROOT, "tests", "unit", "data", "command-7.0.resp")

# COMMAND flag names -> the CMD_FLAG_* bits of server/command.h; others are not kept.
FLAGS = [
    ("write", "CMD_FLAG_WRITE"),
    ("readonly", "CMD_FLAG_READONLY"),
    ("denyoom", "CMD_FLAG_DENYOOM"),
    ("admin", "CMD_FLAG_ADMIN"),
    ("pubsub", "CMD_FLAG_PUBSUB"),
    ("noscript", "CMD_FLAG_NOSCRIPT"),
    ("blocking", "CMD_FLAG_BLOCKING"),
    ("loading", "CMD_FLAG_LOADING"),
    ("stale", "CMD_FLAG_STALE"),
    ("fast", "CMD_FLAG_FAST"),
    ("movablekeys", "CMD_FLAG_MOVABLEKEYS"),
    ("no_multi", "CMD_FLAG_NO_MULTI"),
    ("allow_busy", "CMD_FLAG_ALLOW_BUSY"),
    ("skip_monitor", "CMD_FLAG_SKIP_MONITOR"),
]


# Redis's ACL categories in its order: bit i of a row's categories (server/command.h).
CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
              "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
              "dangerous", "connection", "transaction", "scripting"]

# Key spec flags -> CMD_KEY_* as Redis's ACL reads them.
KEY_ACCESS = {"access": 1, "insert": 2, "delete": 2, "update": 2}


def categories(e):
    names = {c.decode().lower() for c in (e[6] if len(e) > 6 else [])}
    return sum(1 << i for i, c in enumerate(CATEGORIES) if "@" + c in names)


def key_access(e):
    """CMD_KEY_* of the first key spec, and the union of the others (the first's if alone)."""
    per_spec = []
    for spec in (e[8] if len(e) > 8 else []):
        fields = dict(zip(spec[0::2], spec[1::2]))
        flags = {f.decode().lower() for f in fields.get(b"flags", [])}
        per_spec.append(sum({KEY_ACCESS[f] for f in flags if f in KEY_ACCESS}))
    if not per_spec:
        return 0, 0
    rest = 0
    for a in per_spec[1:]:
        rest |= a
    return per_spec[0], rest if len(per_spec) > 1 else per_spec[0]


class RespError(Exception):
    pass


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Reader:
    """Reads exactly one RESP2 reply from a socket, keeping its raw bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.pos = 0

    def _fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise RespError("connection closed mid-reply")
        self.buf += data

    def _line(self):
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos:end]
                self.pos = end + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n + 2
        return data

    def value(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return RespError(rest.decode()) if kind == b"-" else rest
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.value() for _ in range(n)]
        raise RespError("unexpected reply type %r" % kind)

    def reply(self):
        """Returns (decoded value, raw bytes) of the next reply."""
        start = self.pos
        v = self.value()
        raw = self.buf[start:self.pos]
        self.buf, self.pos = self.buf[self.pos:], 0
        return v, raw


def ask(sock, reader, *args):
    sock.sendall(command(*args))
    v, raw = reader.reply()
    if isinstance(v, RespError):
        raise RespError("%s: %s" % (" ".join(args), v))
    return v, raw


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_server(binary):
    tmp = tempfile.mkdtemp(prefix="redpair-gen-")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            return proc, tmp, socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit("gen-builtin-commands: %s did not start on port %d" % (binary, port))


def entry_row(e, container):
    name = e[0].decode().lower()
    if container and not name.startswith(container + "|"):
        raise RespError("subcommand %r of %r is not named %s|..." % (name, container, container))
    names = {f.decode().lower() for f in e[2]}
    flags = " | ".join(c for f, c in FLAGS if f in names) or "0"
    subs = e[9] if len(e) >= 10 and e[9] else []
    first, rest = key_access(e)
    return (name, e[1], flags, e[3], e[4], e[5], bool(subs), categories(e), first, rest), subs


def flatten(reply):
    rows = []
    for e in sorted(reply, key=lambda e: e[0].lower()):
        row, subs = entry_row(e, None)
        rows.append(row)
        for s in sorted(subs, key=lambda s: s[0].lower()):
            rows.append(entry_row(s, row[0])[0])
    return rows


def render(rows, version):
    def cells(r):
        return ['"%s",' % r[0], "%d," % r[1], r[2] + ",", "%d," % r[3], "%d," % r[4],
                "%d," % r[5], ("true" if r[6] else "false") + ",", "0x%06x," % r[7],
                "%d," % r[8], "%d" % r[9]]

    table = [cells(r) for r in rows]
    widths = [max(len(c[i]) for c in table) for i in range(len(table[0]) - 1)]
    lines = []
    for c in table:
        padded = [c[i].ljust(widths[i] + 1) for i in range(len(widths))] + [c[-1]]
        lines.append("    {" + "".join(padded) + "},")
    return """\
/* The built-in command table, redpair's fallback when no backend answers COMMAND at start-up.
 *
 * GENERATED from the COMMAND reply of Redis %(version)s by scripts/gen-builtin-commands.py: do not
 * edit. To regenerate, with a Redis 7.0 redis-server on PATH (or --port of a running one):
 *
 *     /usr/bin/python3 scripts/gen-builtin-commands.py
 *
 * It also records that reply in tests/unit/data/command-7.0.resp, from which test_command checks
 * that this table and command_table_learn() agree. Rows: name, arity, flags, first key, last key,
 * key step, container, ACL categories, key access of the first key and of the others; a
 * container's subcommands follow it. */
#include "command_builtin.h"

/* clang-format off */
const struct command_builtin command_builtin[] = {
%(rows)s
};
/* clang-format on */

const size_t command_builtin_count = sizeof(command_builtin) / sizeof(command_builtin[0]);
""" % {"version": version, "rows": "\n".join(lines)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="ask this running server instead of starting one")
    ap.add_argument("--redis-server", default="redis-server", help="binary to start")
    ap.add_argument("--any-version", action="store_true",
                    help="accept a server that is not Redis 7.0 (the test data is named 7.0)")
    args = ap.parse_args()

    proc = tmp = None
    if args.port:
        sock = socket.create_connection((args.host, args.port), timeout=10)
    else:
        binary = shutil.which(args.redis_server)
        if not binary:
            sys.exit("gen-builtin-commands: %s not found; use --port" % args.redis_server)
        proc, tmp, sock = start_server(binary)
    try:
        reader = Reader(sock)
        info, _ = ask(sock, reader, "INFO", "server")
        fields = dict(l.split(":", 1) for l in info.decode().splitlines() if ":" in l)
        version = fields.get("redis_version", "?")
        if not version.startswith("7.0.") and not args.any_version:
            sys.exit("gen-builtin-commands: server is Redis %s, want 7.0 (or --any-version)"
                     % version)
        reply, raw = ask(sock, reader, "COMMAND")
    finally:
        sock.close()
        if proc:
            proc.terminate()
            proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)

    rows = flatten(reply)
    os.makedirs(os.path.dirname(OUT_RESP), exist_ok=True)
    with open(OUT_RESP, "wb") as f:
        f.write(raw)
    with open(OUT_C, "w") as f:
        f.write(render(rows, version))
    print("gen-builtin-commands: Redis %s, %d commands (%d with subcommands) -> %s, %s"
          % (version, len(reply), len(rows), os.path.relpath(OUT_C, ROOT),
             os.path.relpath(OUT_RESP, ROOT)))


if __name__ == "__main__":
    main()
