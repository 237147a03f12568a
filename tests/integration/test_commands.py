"""Connection, server and Pub/Sub commands through redpair, against real redis-servers.

- Differential sessions (the same commands to a redis-server directly and through redpair, replies
  byte for byte, reusing test_differential's replay): HELLO, AUTH, CLIENT, RESET, WAIT argument
  errors, SCAN/KEYS/DBSIZE/RANDOMKEY and the random-member reads, PUBSUB, and a whole subscriber
  session (confirmations, the subscriber's PING, its refusals, leaving the context).
- What cannot be byte-identical is checked for shape: HELLO and CLIENT INFO/LIST (client ids and
  addresses are redpair's own), TIME, ROLE, WAIT, CLIENT KILL, and the refusals of administration.
- Pub/Sub with Debian's python3-redis: delivery, PUBLISH reaching the primary only, and the
  subscriptions following the primary when backend a's redis-server is SIGKILLed.

Run: /usr/bin/python3 tests/integration/test_commands.py   (REDPAIR_BIN=path/to/redpair)
"""

import json
import re
import socket
import time
import urllib.request

from harness import (
    RawConn,
    RedpairTestCase,
    free_port,
    main,
    parse_resp,
    resp_command,
    wait_until,
)
from test_differential import describe, replay

# Fast probes, so that a killed server is seen down at once and the test stays short.
HA_ARGS = ["--probe-interval-ms", "50", "--down-after-ms", "500"]

CONNECTION = [
    ("HELLO", "1"),
    ("HELLO", "x"),
    ("HELLO", "4"),
    ("HELLO", "2", "FOO"),
    ("HELLO", "2", "AUTH", "default"),
    ("HELLO", "2", "AUTH", "bob", "x"),
    ("HELLO", "2", "SETNAME", "a b"),
    ("HELLO", "2", "SETNAME"),
    ("HELLO", "2", "f\x00oo"),
    ("CLIENT",),
    ("CLIENT", "FOO"),
    ("CLIENT", "HELP"),
    ("CLIENT", "GETNAME"),
    ("CLIENT", "SETNAME", "conn-1"),
    ("CLIENT", "GETNAME"),
    ("CLIENT", "SETNAME", ""),
    ("CLIENT", "GETNAME"),
    ("CLIENT", "SETNAME", "a b"),
    ("CLIENT", "SETNAME", "caf\xe9"),
    ("CLIENT", "SETNAME", "a\r\nb"),
    ("CLIENT", "SETNAME", "x", "y"),
    ("CLIENT", "NO-EVICT", "on"),
    ("CLIENT", "NO-EVICT", "maybe"),
    ("CLIENT", "NO-EVICT", "OFF"),
    ("CLIENT", "TRACKING", "off"),
    ("CLIENT", "TRACKING", "maybe"),
    ("CLIENT", "TRACKINGINFO"),
    ("CLIENT", "GETREDIR"),
    ("CLIENT", "CACHING", "yes"),
    ("CLIENT", "REPLY", "ON"),
    ("CLIENT", "REPLY", "maybe"),
    ("CLIENT", "UNBLOCK", "12345"),
    ("CLIENT", "UNBLOCK", "x"),
    ("CLIENT", "UNBLOCK", "5", "ERROR"),
    ("CLIENT", "UNBLOCK", "x", "FOO"),
    ("CLIENT", "UNBLOCK", "5", "ERROR", "x"),
    ("CLIENT", "KILL", "1.2.3.4:5"),
    ("CLIENT", "KILL", "ID", "999999"),
    ("CLIENT", "KILL", "ID", "0"),
    ("CLIENT", "KILL", "ID", "x"),
    ("CLIENT", "KILL", "FOO", "x"),
    ("CLIENT", "KILL", "TYPE", "foo"),
    ("CLIENT", "KILL", "TYPE", "pubsub"),
    ("CLIENT", "KILL", "TYPE", "master"),
    ("CLIENT", "KILL", "USER", "nouser"),
    ("CLIENT", "KILL", "USER", "default", "ID", "999999"),
    ("CLIENT", "KILL", "SKIPME", "maybe"),
    ("CLIENT", "KILL", "ID", "999999", "SKIPME"),
    ("CLIENT", "KILL", "LADDR", "1.1.1.1:1"),
    ("CLIENT", "KILL", "addr", "1.1.1.1:1", "skipme", "NO"),
    ("CLIENT", "LIST", "TYPE", "foo"),
    ("CLIENT", "LIST", "TYPE", "pubsub"),
    ("CLIENT", "LIST", "type", "REPLICA"),
    ("CLIENT", "LIST", "ID", "abc"),
    ("CLIENT", "LIST", "ID", "999999"),
    ("CLIENT", "LIST", "ID"),
    ("CLIENT", "LIST", "FOO"),
    ("CLIENT", "LIST", "TYPE", "normal", "ID", "3"),
    ("AUTH", "x"),
    ("AUTH", "default", "anything"),  # no requirepass: the default user takes any password
    ("AUTH", "bob", "x"),
    ("AUTH", "a", "b", "c"),
    ("ACL", "WHOAMI"),
    ("WAIT", "x", "0"),
    ("WAIT", "0", "x"),
    ("WAIT", "0", "-1"),
    ("WAIT", "0", "1.5"),
    ("WAIT", "1"),
    # RESET: back to database 0, no name
    ("SELECT", "4"),
    ("SET", "k4", "v"),
    ("CLIENT", "SETNAME", "before-reset"),
    ("RESET",),
    ("CLIENT", "GETNAME"),
    ("GET", "k4"),
    ("SELECT", "4"),
    ("GET", "k4"),
    # One key per database at most: with more, SCAN and KEYS order by each server's hash seed.
    ("SELECT", "0"),
    ("DBSIZE",),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("RANDOMKEY",),
    ("SET", "only", "1"),
    ("DBSIZE",),
    ("KEYS", "*"),
    ("KEYS", "o*"),
    ("KEYS", "x*"),
    ("SCAN", "0"),
    ("SCAN", "0", "MATCH", "o*", "COUNT", "100"),
    ("SCAN", "0", "TYPE", "string"),
    ("SCAN", "0", "TYPE", "list"),
    ("SCAN", "x"),
    ("SCAN", "0", "COUNT", "0"),
    ("SCAN", "0", "FOO"),
    ("RANDOMKEY",),
    ("SELECT", "6"),
    ("SADD", "s", "m"),
    ("SRANDMEMBER", "s"),
    ("SRANDMEMBER", "s", "-3"),
    ("SRANDMEMBER", "s", "5"),
    ("SRANDMEMBER", "nokey"),
    ("DEL", "s"),
    ("ZADD", "z", "1", "m"),
    ("ZRANDMEMBER", "z"),
    ("ZRANDMEMBER", "z", "-2", "WITHSCORES"),
    ("DEL", "z"),
    ("HSET", "h", "f", "v"),
    ("HRANDFIELD", "h"),
    ("HRANDFIELD", "h", "-2", "WITHVALUES"),
    ("RANDOMKEY",),
    ("DBSIZE",),
    ("FLUSHDB",),
    ("RANDOMKEY",),
    ("SCAN", "0"),
    ("KEYS", "*"),
    ("SELECT", "0"),
    ("PUBSUB", "CHANNELS"),
    ("PUBSUB", "NUMSUB", "a", "b"),
    ("PUBSUB", "NUMPAT"),
    ("PUBSUB", "SHARDCHANNELS"),
    ("PUBSUB", "SHARDNUMSUB", "x"),
    ("PUBSUB", "FOO"),
    ("PUBSUB", "HELP"),
    ("PUBLISH", "nobody", "hi"),
    ("SPUBLISH", "nobody", "hi"),
    ("PUBLISH", "x"),
    ("CONFIG", "HELP"),
    ("MEMORY", "USAGE", "nokey"),
    ("PING",),
]

# One subscriber's session; no one publishes meanwhile. An UNSUBSCRIBE of all never has more than
# one subscription left to list: Redis lists them in its hash table's order.
SUBSCRIBER = [
    ("UNSUBSCRIBE",),
    ("PUNSUBSCRIBE", "x"),
    ("SUNSUBSCRIBE",),
    ("SSUBSCRIBE", "s1"),
    ("PING",),
    ("GET", "x"),
    ("SUBSCRIBE", "a", "a", "b"),
    ("PSUBSCRIBE", "p*"),
    ("SSUBSCRIBE", "s2"),
    ("PING",),
    ("PING", "hi"),
    ("PING", "a", "b"),
    ("GET", "x"),
    ("CLIENT", "INFO"),
    ("CONFIG", "GET", "x"),
    ("HELLO",),
    ("MULTI",),
    ("SUBSCRIBE",),
    ("FOO",),
    ("GET",),
    ("UNSUBSCRIBE", "zz"),
    ("SUNSUBSCRIBE", "s1"),
    ("SUNSUBSCRIBE",),
    ("PUNSUBSCRIBE",),
    ("UNSUBSCRIBE", "a"),
    ("UNSUBSCRIBE",),
    ("UNSUBSCRIBE",),
    ("PING",),
    ("GET", "x"),
    ("SSUBSCRIBE", "s1"),
    ("RESET",),
    ("PING",),
    ("PSUBSCRIBE", "y*"),
    ("SUBSCRIBE", "x"),
    ("PUNSUBSCRIBE", "y*"),
    ("UNSUBSCRIBE", "x"),
    ("ECHO", "done"),
    ("SUBSCRIBE", "last"),
    ("QUIT",),
]

ADMIN_HINT = "send it to each server directly (the admin API lists them: GET /api/v1/backends)"
ROLES_HINT = ("which manages the servers' roles: use the admin API (POST /api/v1/failover, "
              "POST /api/v1/backends/NAME/resync)")
REFUSALS = [
    (("CONFIG", "SET", "port", "1"),
     "CONFIG SET failed (possibly related to argument 'port') - not through redpair: each server "
     "listens where redpair's links reach it (redpair's own is its port)"),
    (("CONFIG", "SET", "maxmemory", "1", "DIR", "/tmp"),
     "CONFIG SET failed (possibly related to argument 'DIR') - not through redpair: each server "
     "has its own files"),
    (("SHUTDOWN", "NOSAVE"),
     "SHUTDOWN is not available through redpair: stop redpair with SIGTERM, or take a server out "
     "with the admin API (POST /api/v1/backends/NAME/maintenance)"),
    (("REPLICAOF", "NO", "ONE"), "REPLICAOF is not available through redpair, " + ROLES_HINT),
    (("SLAVEOF", "127.0.0.1", "1"), "SLAVEOF is not available through redpair, " + ROLES_HINT),
    (("FAILOVER",), "FAILOVER is not available through redpair, " + ROLES_HINT),
    (("SYNC",), "SYNC is not available through redpair, " + ROLES_HINT),
    (("PSYNC", "?", "-1"), "PSYNC is not available through redpair, " + ROLES_HINT),
    (("DEBUG", "SLEEP", "0"), "DEBUG SLEEP is not available through redpair: it changes or stops "
     "the server it runs on; " + ADMIN_HINT),
    (("DEBUG", "DIGEST"), "DEBUG DIGEST is not available through redpair: the servers hold "
     "redpair's offset key, so it is not the digest of your data; DEBUG DIGEST-VALUE of your keys "
     "is"),
    (("ACL", "LOG"), "ACL LOG is not available through redpair: it keeps no log of denied "
     "commands; INFO redpair counts them (acl_access_denied_*)"),
    (("MODULE", "LOAD", "/x.so"), "MODULE LOAD is not available through redpair: load a module on "
     "each server directly, then restart redpair, which learns its commands at start-up"),
    (("MIGRATE", "h", "1", "k", "0", "1"), "MIGRATE is not available through redpair: both servers "
     "would move the keys; copy them with DUMP and RESTORE"),
    (("PFSELFTEST",), "PFSELFTEST is not available through redpair: " + ADMIN_HINT),
    (("SCRIPT", "DEBUG", "YES"), "SCRIPT DEBUG is not available through redpair: the Lua debugger "
     "needs a connection of its own to one server; debug against a server directly"),
]

# CLIENT LIST's fields in Redis 7.0's order, with what redpair's values look like.
INFO_LINE = re.compile(
    r"id=(\d+) addr=([^ ]+) laddr=([^ ]+) fd=\d+ name=([!-~]*) age=\d+ idle=\d+ flags=([A-Za-z]+) "
    r"db=(\d+) sub=(\d+) psub=(\d+) ssub=(\d+) multi=-1 qbuf=\d+ qbuf-free=\d+ argv-mem=\d+ "
    r"multi-mem=0 rbs=\d+ rbp=\d+ obl=\d+ oll=\d+ omem=\d+ tot-mem=\d+ events=r?w? cmd=([a-z|\-_]+|NULL) "
    r"user=default redir=-1 resp=2\n"
)


def field_names(line):
    return [part.split("=", 1)[0] for part in line.rstrip("\n").split(" ")]


def bulk_text(reply):
    value = parse_resp(reply)
    assert isinstance(value, bytes), reply
    return value.decode()


def local_addr(conn):
    host, port = conn.sock.getsockname()[:2]
    return "%s:%d" % (host, port)


def hello_map(reply):
    items = parse_resp(reply)
    return {items[i].decode(): items[i + 1] for i in range(0, len(items), 2)}


def kind_of(reply):
    """The first element of a Pub/Sub reply: b"message", b"subscribe", ..."""
    value = parse_resp(reply)
    return value[0] if isinstance(value, list) and value else None


class CommandsTest(RedpairTestCase):
    def assert_same_session(self, pair, script):
        direct = self.start_redis()
        with RawConn(direct.port) as d, pair.raw() as p:
            mismatches = replay(d, p, script)
        if mismatches:
            self.fail(describe(mismatches, len(script)))

    def test_connection_session_identical(self):
        self.assert_same_session(self.start_pair(), CONNECTION)

    def test_subscriber_session_identical(self):
        self.assert_same_session(self.start_pair(), SUBSCRIBER)

    def test_hello(self):
        pair = self.start_pair()
        direct = self.start_redis()
        with RawConn(direct.port) as d, pair.raw() as p:
            want, got = hello_map(d.cmd("HELLO")), hello_map(p.cmd("HELLO"))
            self.assertEqual(got["id"], parse_resp(p.cmd("CLIENT", "ID")))
            del want["id"], got["id"]
            self.assertEqual(got, want)  # server, version (the primary's), proto, mode, role, modules
            self.assertEqual(list(hello_map(p.cmd("HELLO", "2"))), ["server", "version", "proto", "id", "mode", "role", "modules"])
            self.assertEqual(p.cmd("HELLO", "3"), b"-NOPROTO sorry, this protocol version is not supported\r\n")
            self.assertEqual(p.cmd("HELLO", "3", "SETNAME", "x"), b"-NOPROTO sorry, this protocol version is not supported\r\n")
            self.assertEqual(p.cmd("CLIENT", "GETNAME"), b"$-1\r\n")
            self.assertEqual(hello_map(p.cmd("HELLO", "2", "SETNAME", "one", "SETNAME", "two"))["proto"], 2)
            self.assertEqual(p.cmd("CLIENT", "GETNAME"), b"$3\r\ntwo\r\n")
            self.assertEqual(p.cmd("PING"), b"+PONG\r\n")

    def test_hello_auth_and_reset_with_requirepass(self):
        pair = self.start_pair(requirepass="s3cret")
        with pair.raw() as p:
            self.assertEqual(p.cmd("GET", "k"), b"-NOAUTH Authentication required.\r\n")
            self.assertEqual(p.cmd("CLIENT", "SETNAME", "x"), b"-NOAUTH Authentication required.\r\n")
            self.assertEqual(
                p.cmd("HELLO"),
                b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                b"HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                b"select the RESP protocol version at the same time\r\n",
            )
            wrongpass = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            self.assertEqual(p.cmd("HELLO", "2", "AUTH", "default", "nope"), wrongpass)
            self.assertEqual(p.cmd("HELLO", "2", "AUTH", "admin", "s3cret"), wrongpass)
            self.assertEqual(p.cmd("GET", "k"), b"-NOAUTH Authentication required.\r\n")
            self.assertEqual(p.cmd("RESET"), b"+RESET\r\n")  # allowed before AUTH, as in Redis
            self.assertEqual(hello_map(p.cmd("HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "app"))["server"], b"redis")
            self.assertEqual(p.cmd("CLIENT", "GETNAME"), b"$3\r\napp\r\n")
            self.assertEqual(p.cmd("SELECT", "3"), b"+OK\r\n")
            self.assertEqual(p.cmd("SET", "k3", "v"), b"+OK\r\n")
            self.assertEqual(p.cmd("RESET"), b"+RESET\r\n")
            self.assertEqual(p.cmd("GET", "k3"), b"-NOAUTH Authentication required.\r\n")
            self.assertEqual(p.cmd("AUTH", "s3cret"), b"+OK\r\n")
            self.assertEqual(p.cmd("CLIENT", "GETNAME"), b"$-1\r\n")
            self.assertEqual(p.cmd("GET", "k3"), b"$-1\r\n")  # database 0 again
            self.assertEqual(p.cmd("AUTH", "default", "s3cret"), b"+OK\r\n")
            self.assertEqual(p.cmd("AUTH", "default", "wrong"), wrongpass)

    def test_client_info_and_list_format(self):
        pair = self.start_pair()
        direct = self.start_redis()
        with RawConn(direct.port) as d, pair.raw() as p, pair.raw() as q:
            want = bulk_text(d.cmd("CLIENT", "INFO"))
            self.assertEqual(p.cmd("CLIENT", "SETNAME", "first"), b"+OK\r\n")
            self.assertEqual(p.cmd("SELECT", "5"), b"+OK\r\n")
            line = bulk_text(p.cmd("CLIENT", "INFO"))
            self.assertEqual(field_names(line), field_names(want))
            m = INFO_LINE.fullmatch(line)
            self.assertIsNotNone(m, line)
            self.assertEqual(int(m.group(1)), parse_resp(p.cmd("CLIENT", "ID")))
            self.assertEqual(m.group(2), local_addr(p))
            self.assertEqual(m.group(3), "127.0.0.1:%d" % pair.port)
            self.assertEqual((m.group(4), m.group(5), m.group(6), m.group(10)), ("first", "N", "5", "client|info"))

            q.cmd("PING")
            lines = bulk_text(p.cmd("CLIENT", "LIST")).splitlines(keepends=True)
            ids = [int(INFO_LINE.fullmatch(x).group(1)) for x in lines]
            p_id, q_id = parse_resp(p.cmd("CLIENT", "ID")), parse_resp(q.cmd("CLIENT", "ID"))
            self.assertIn(p_id, ids)
            self.assertIn(q_id, ids)
            self.assertEqual(ids, sorted(ids))  # oldest first, as Redis
            self.assertEqual(field_names(lines[0]), field_names(want))
            only_q = bulk_text(p.cmd("CLIENT", "LIST", "ID", str(q_id), "999999", str(q_id)))
            self.assertEqual(only_q.count("id=%d " % q_id), 2, only_q)
            self.assertIn("cmd=client|id ", only_q)
            self.assertEqual(bulk_text(p.cmd("CLIENT", "LIST", "TYPE", "pubsub")), "")
            self.assertEqual(len(bulk_text(p.cmd("CLIENT", "LIST", "TYPE", "normal")).splitlines()), len(lines))

            q.send(resp_command("SUBSCRIBE", "ch") + resp_command("PSUBSCRIBE", "p*"))
            self.assertEqual(kind_of(q.read_reply()), b"subscribe")
            self.assertEqual(kind_of(q.read_reply()), b"psubscribe")
            sub = INFO_LINE.fullmatch(bulk_text(p.cmd("CLIENT", "LIST", "TYPE", "pubsub")))
            self.assertEqual((int(sub.group(1)), sub.group(5), sub.group(7), sub.group(8), sub.group(9), sub.group(10)),
                             (q_id, "P", "1", "1", "0", "psubscribe"))
            self.assertEqual(p.cmd("CLIENT", "NO-EVICT", "on"), b"+OK\r\n")
            self.assertIn(" flags=e ", bulk_text(p.cmd("CLIENT", "INFO")))

    def test_client_kill(self):
        pair = self.start_pair()
        with pair.raw() as p, pair.raw() as q, pair.raw() as s, pair.raw() as t:
            q_id = parse_resp(q.cmd("CLIENT", "ID"))
            self.assertEqual(p.cmd("CLIENT", "KILL", "ID", str(q_id)), b":1\r\n")
            self.assertEqual(q.read_until_closed(), b"")
            # The subscriber's connection to the primary goes with it.
            s.send(resp_command("SUBSCRIBE", "killme"))
            self.assertEqual(kind_of(s.read_reply()), b"subscribe")
            self.assertEqual(parse_resp(p.cmd("PUBSUB", "NUMSUB", "killme")), [b"killme", 1])
            self.assertEqual(p.cmd("CLIENT", "KILL", "TYPE", "pubsub"), b":1\r\n")
            self.assertEqual(s.read_until_closed(), b"")
            wait_until(lambda: parse_resp(p.cmd("PUBSUB", "NUMSUB", "killme")) == [b"killme", 0],
                       what="the killed subscriber's connection to the primary closed")
            # The old form, by the address CLIENT LIST shows.
            self.assertEqual(p.cmd("CLIENT", "KILL", local_addr(t)), b"+OK\r\n")
            self.assertEqual(t.read_until_closed(), b"")
            self.assertEqual(p.cmd("CLIENT", "KILL", local_addr(t)), b"-ERR No such client\r\n")
            # SKIPME yes (the default) spares the caller; no kills it after its reply.
            p_id = parse_resp(p.cmd("CLIENT", "ID"))
            self.assertEqual(p.cmd("CLIENT", "KILL", "ID", str(p_id)), b":0\r\n")
            self.assertEqual(p.cmd("CLIENT", "KILL", "ID", str(p_id), "SKIPME", "no"), b":1\r\n")
            self.assertEqual(p.read_until_closed(), b"")
        with pair.raw() as u:
            self.assertEqual(u.cmd("PING"), b"+PONG\r\n")

    def test_time_role_wait(self):
        pair = self.start_pair()
        with pair.raw() as p:
            secs, usecs = (int(x) for x in parse_resp(p.cmd("TIME")))
            self.assertLess(abs(secs - time.time()), 5)
            self.assertTrue(0 <= usecs < 1000000)
            self.assertEqual(p.cmd("SET", "k", "v"), b"+OK\r\n")
            role = parse_resp(p.cmd("ROLE"))
            self.assertEqual(role[0], b"master")
            self.assertEqual(role[2], [])
            self.assertEqual(role[1], pair.info()["stream_offset"])
            # write-ack all: every write was acknowledged by the other in-sync backend already.
            self.assertEqual(p.cmd("WAIT", "1", "0"), b":1\r\n")
            self.assertEqual(p.cmd("WAIT", "2", "50"), b":1\r\n")
            self.assertEqual(p.cmd("WAIT", "0", "0"), b":1\r\n")

    def test_wait_with_write_ack_primary(self):
        pair = self.start_pair(write_ack="primary")
        with pair.raw() as p:
            p.send(b"".join(resp_command("INCR", "n") for _ in range(200)) + resp_command("WAIT", "1", "5000"))
            replies = p.read_replies(201)
            self.assertEqual(replies[-1], b":1\r\n")
            info = pair.info()
            self.assertGreaterEqual(info["backend_b"]["acked_offset"], 200)
            self.assertEqual(p.cmd("WAIT", "2", "100"), b":1\r\n")  # only one other backend: the timeout

    def test_refusals_point_to_the_admin_api(self):
        pair = self.start_pair()
        with pair.raw() as p:
            for cmd, text in REFUSALS:
                self.assertEqual(p.cmd(*cmd), b"-ERR " + text.encode() + b"\r\n", cmd)
            self.assertEqual(p.cmd("PING"), b"+PONG\r\n")
        for server in (pair.a, pair.b):  # nothing reached the servers
            c = server.client()
            self.assertEqual(c.config_get("maxmemory"), {"maxmemory": "0"})
            self.assertEqual(c.info("replication")["role"], "master")
            self.assertTrue(server.alive())
            c.close()

    def test_pubsub_with_redis_py(self):
        pair = self.start_pair()
        r = pair.client()
        sub = pair.client().pubsub()
        sub.subscribe("news")
        sub.psubscribe("n*")
        confirmations = [sub.get_message(timeout=5) for _ in range(2)]
        self.assertEqual([(m["type"], m["channel"], m["data"]) for m in confirmations],
                         [("subscribe", b"news", 1), ("psubscribe", b"n*", 2)])
        # Direct subscribers on each server: PUBLISH goes to the primary alone.
        on_a = pair.a.client().pubsub()
        on_b = pair.b.client().pubsub()
        for s in (on_a, on_b):
            s.subscribe("news")
            self.assertEqual(s.get_message(timeout=5)["type"], "subscribe")

        self.assertEqual(r.publish("news", "hello"), 3)  # redpair's connection twice, on_a once
        got = [sub.get_message(timeout=5) for _ in range(2)]
        self.assertEqual([(m["type"], m["channel"], m["data"]) for m in got],
                         [("message", b"news", b"hello"), ("pmessage", b"news", b"hello")])
        self.assertEqual(on_a.get_message(timeout=5)["data"], b"hello")
        self.assertIsNone(on_b.get_message(timeout=0.5))
        self.assertIsNone(sub.get_message(timeout=0.3))  # exactly once

        # Many messages, pipelined: all, in order, once.
        pipe = r.pipeline(transaction=False)
        for i in range(300):
            pipe.publish("news", "m%d" % i)
        self.assertEqual(pipe.execute(), [3] * 300)
        seen = [sub.get_message(timeout=5) for _ in range(600)]
        self.assertEqual([m["data"] for m in seen if m["type"] == "message"], [b"m%d" % i for i in range(300)])
        self.assertEqual([m["data"] for m in seen if m["type"] == "pmessage"], [b"m%d" % i for i in range(300)])
        self.assertIsNone(on_b.get_message(timeout=0.2))

        sub.unsubscribe("news")
        self.assertEqual(sub.get_message(timeout=5)["type"], "unsubscribe")
        self.assertEqual(r.publish("news", "pattern only"), 2)
        self.assertEqual(sub.get_message(timeout=5)["type"], "pmessage")
        sub.punsubscribe()
        self.assertEqual(sub.get_message(timeout=5)["type"], "punsubscribe")
        self.assertEqual(r.publish("news", "nobody via redpair"), 1)
        self.assertIsNone(sub.get_message(timeout=0.3))
        self.assertEqual(r.pubsub_numsub("news"), [(b"news", 1)])
        self.assertEqual(r.pubsub_numpat(), 0)
        sub.close()
        for s in (on_a, on_b):
            s.close()
        r.close()

    def test_subscriptions_follow_the_primary(self):
        pair = self.start_pair(extra=HA_ARGS)
        publisher = pair.client()
        with pair.raw() as s:
            s.send(resp_command("SUBSCRIBE", "news") + resp_command("PSUBSCRIBE", "n*"))
            self.assertEqual(s.read_replies(2), [
                b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n",
                b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n",
            ])
            self.assertEqual(publisher.publish("news", "before"), 2)
            self.assertEqual([kind_of(x) for x in s.read_replies(2)], [b"message", b"pmessage"])

            pair.a.kill()
            wait_until(lambda: pair.info()["primary"] == "b", what="backend b primary")
            # Subscribed again on b once a PUBLISH there reaches redpair's connection twice.
            probes = []

            def resubscribed():
                probes.append("probe%d" % len(probes))
                return publisher.publish("news", probes[-1]) == 2

            wait_until(resubscribed, timeout=10, what="the subscriptions made again on backend b")
            self.assertEqual(publisher.publish("news", "after"), 2)

            s.settimeout(5)
            replies = []
            while not replies or parse_resp(replies[-1])[-1] != b"after" or kind_of(replies[-1]) != b"pmessage":
                replies.append(s.read_reply())
            kinds = {kind_of(x) for x in replies}
            self.assertEqual(kinds, {b"message", b"pmessage"}, replies)  # no second confirmation
            payloads = [parse_resp(x)[-1] for x in replies]
            self.assertEqual(payloads[-4:], [probes[-1].encode()] * 2 + [b"after"] * 2)
            for p in set(payloads):
                self.assertLessEqual(payloads.count(p), 2, p)
            # The session goes on with the counts it had.
            self.assertEqual(s.cmd("UNSUBSCRIBE", "news"), b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n")
            self.assertEqual(publisher.publish("news", "pattern"), 1)
            self.assertEqual(parse_resp(s.read_reply()), [b"pmessage", b"n*", b"news", b"pattern"])
            self.assertEqual(s.cmd("PUNSUBSCRIBE"), b"*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n")
            self.assertEqual(s.cmd("PING"), b"+PONG\r\n")
        publisher.close()

    def test_subscriptions_follow_a_manual_failover(self):
        """The old primary stays up: nothing but the new primary tells the connection to move."""
        admin = free_port()
        pair = self.start_pair(extra=HA_ARGS + ["--admin-port", str(admin), "--admin-token", "t0ken"])
        publisher = pair.client()
        with pair.raw() as s:
            s.send(resp_command("SUBSCRIBE", "news"))
            self.assertEqual(kind_of(s.read_reply()), b"subscribe")
            on_a, on_b = pair.a.client(), pair.b.client()
            self.assertEqual((on_a.pubsub_numsub("news"), on_b.pubsub_numsub("news")), ([(b"news", 1)], [(b"news", 0)]))
            request = urllib.request.Request(
                "http://127.0.0.1:%d/api/v1/failover" % admin, data=json.dumps({"target": "b"}).encode(),
                method="POST", headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).read()
            wait_until(lambda: pair.info()["primary"] == "b", what="backend b primary")
            wait_until(lambda: publisher.publish("news", "probe") == 1, what="subscribed on backend b")
            wait_until(lambda: on_a.publish("news", "on a") == 0, what="the connection to a closed")
            self.assertEqual(on_b.pubsub_numsub("news"), [(b"news", 1)])
            self.assertEqual(publisher.publish("news", "after"), 1)
            s.settimeout(5)
            payloads = []
            while b"after" not in payloads:
                reply = parse_resp(s.read_reply())
                self.assertEqual(reply[0], b"message", reply)
                payloads.append(reply[2])
            self.assertNotIn(b"on a", payloads)
            on_a.close()
            on_b.close()
        publisher.close()

    def test_subscriber_disconnect_closes_its_connection(self):
        pair = self.start_pair()
        r = pair.client()
        for _ in range(3):
            with pair.raw() as s:
                s.send(resp_command("SUBSCRIBE", "gone", "too") + resp_command("SSUBSCRIBE", "shard"))
                self.assertEqual(len(s.read_replies(3)), 3)
                self.assertEqual(r.pubsub_numsub("gone"), [(b"gone", 1)])
        wait_until(lambda: r.pubsub_numsub("gone", "too") == [(b"gone", 0), (b"too", 0)],
                   what="the subscribers' connections to the primary closed")
        # A client gone while its SUBSCRIBE is still on its way.
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", pair.port))
            sock.sendall(resp_command("SUBSCRIBE", "half"))
            sock.close()
        wait_until(lambda: r.pubsub_numsub("half") == [(b"half", 0)], what="no connection left for 'half'")
        self.assertEqual(r.ping(), True)
        r.close()


if __name__ == "__main__":
    main()
