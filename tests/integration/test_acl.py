"""ACL users: a differential against a redis-server started with the same `user` lines. For each
user the same commands go as raw RESP to the server directly and through redpair, and the replies
must be byte-identical; refused writes reach neither backend; ACL SETUSER and DELUSER act on
connected clients; an aclfile survives ACL SAVE and ACL LOAD; bad user configuration is reported
with its file and line.

Run: /usr/bin/python3 tests/integration/test_acl.py   (REDPAIR_BIN=path/to/redpair)
"""

import hashlib
import os
import random
import subprocess
import tempfile

from harness import ConnectionClosed, RawConn, RedpairTestCase, main, redpair_bin

ERIN_HASH = hashlib.sha256(b"erinpw").hexdigest()

# Each user has at most one single-command rule: Redis lists several in its hash table's order,
# which changes with every process (README, "ACL users").
USERS = [
    ["alice", "on", ">alicepw", "~app:*", "&news.*", "-@all", "+@string", "+@connection",
     "+@transaction", "-append"],
    ["bob", "on", ">bobpw", ">bobpw2", "%R~ro:*", "%W~wo:*", "~rw:*", "allchannels", "+@all",
     "-flushall"],
    ["carol", "off", ">carolpw", "~*", "+@all"],
    ["dave", "on", "nopass", "resetchannels", "&chan", "&p.*", "-@all", "+@pubsub",
     "+@connection"],
    ["erin", "on", "#" + ERIN_HASH, "~k*", "-@all", "+@read", "+@scripting"],
    ["keys", "on", "nopass", "%R~r*", "%W~w*", "~b*", "+@all"],
]

# Commands whose keys are read, written or both, each per its key specs: DRYRUN for the user
# "keys" with every pair of a read-only (r1), write-only (w1) and both (b1) key.
KEY_COMMANDS = [
    ("lmove", "{0}", "{1}", "left", "right"), ("rpoplpush", "{0}", "{1}"),
    ("smove", "{0}", "{1}", "m"), ("zrangestore", "{0}", "{1}", "0", "1"),
    ("bitop", "and", "{0}", "{1}"), ("zunionstore", "{0}", "1", "{1}"),
    ("zinterstore", "{0}", "2", "{1}", "{1}"), ("sinterstore", "{0}", "{1}"),
    ("rename", "{0}", "{1}"), ("renamenx", "{0}", "{1}"), ("copy", "{0}", "{1}"),
    ("geosearchstore", "{0}", "{1}", "frommember", "m", "byradius", "1", "km"),
    ("sdiffstore", "{0}", "{1}"), ("pfmerge", "{0}", "{1}"),
    ("blmove", "{0}", "{1}", "left", "left", "0"), ("zdiffstore", "{0}", "1", "{1}"),
    ("lmpop", "2", "{0}", "{1}", "left"), ("sintercard", "2", "{0}", "{1}"),
    ("xread", "streams", "{0}", "{1}", "0", "0"), ("eval", "return 1", "2", "{0}", "{1}"),
    ("mget", "{0}", "{1}"), ("mset", "{0}", "v", "{1}", "v"), ("del", "{0}", "{1}"),
    ("exists", "{0}", "{1}"), ("touch", "{0}", "{1}"), ("getdel", "{0}"), ("getex", "{0}"),
    ("incr", "{0}"), ("lpop", "{0}"), ("setrange", "{0}", "0", "v"),
    ("object", "encoding", "{0}"), ("memory", "usage", "{0}"), ("type", "{0}"), ("dump", "{0}"),
    ("hset", "{0}", "f", "v"), ("hget", "{0}", "f"), ("xadd", "{0}", "*", "f", "v"),
    ("pfcount", "{0}", "{1}"), ("lpos", "{0}", "x"), ("expire", "{0}", "10"), ("ttl", "{0}"),
    ("georadius", "{0}", "0", "0", "1", "km", "store", "{1}"), ("sort", "{0}", "store", "{1}"),
    ("bitfield_ro", "{0}", "get", "u8", "0"), ("smismember", "{0}", "a"),
]


def user_args(users):
    args = []
    for u in users:
        args += ["--user"] + u
    return args


def auth(user, pw):
    return [("AUTH", user, pw)]


# (user, password) -> the commands that user runs, one connection each.
SESSIONS = [
    (None, [
        ("ACL", "WHOAMI"),
        ("ACL", "USERS"),
        ("ACL", "LIST"),
        ("ACL", "GETUSER", "alice"),
        ("ACL", "GETUSER", "bob"),
        ("ACL", "GETUSER", "dave"),
        ("ACL", "GETUSER", "erin"),
        ("ACL", "GETUSER", "nosuch"),
        ("ACL", "CAT"),
        ("ACL", "CAT", "nosuch"),
        ("ACL", "DRYRUN", "alice", "set", "app:1", "v"),
        ("ACL", "DRYRUN", "alice", "set", "other", "v"),
        ("ACL", "DRYRUN", "alice", "append", "app:1", "v"),
        ("ACL", "DRYRUN", "alice", "lpush", "app:1", "v"),
        ("ACL", "DRYRUN", "dave", "publish", "nochan", "m"),
        ("ACL", "DRYRUN", "dave", "publish", "p.x", "m"),
        ("ACL", "DRYRUN", "nosuch", "get", "k"),
        ("ACL", "DRYRUN", "alice", "nosuchcmd"),
        ("ACL", "DRYRUN", "alice", "get"),
        ("ACL", "SETUSER", "x", "foo"),
        ("ACL", "SETUSER", "x", "+nosuch"),
        ("ACL", "SETUSER", "x", "+@nosuch"),
        ("ACL", "SETUSER", "x", "allkeys", "~a"),
        ("ACL", "SETUSER", "x", "allchannels", "&a"),
        ("ACL", "SETUSER", "x", "!abc"),
        ("ACL", "SETUSER", "x", "<nosuchpass"),
        ("ACL", "SETUSER", "x", "%X~a"),
        ("ACL", "SETUSER", "a b"),
        ("ACL", "DELUSER", "default"),
        ("ACL", "SAVE"),
        ("ACL", "LOAD"),
        ("ACL", "GENPASS", "0"),
        ("ACL", "GENPASS", "x"),
        ("ACL", "GENPASS", "1", "2"),
        ("ACL", "NOSUCH"),
        ("ACL", "HELP"),
        ("AUTH", "x"),
        ("AUTH", "alice", "wrong"),
        ("AUTH", "carol", "carolpw"),
        ("AUTH", "nosuch", "x"),
        ("ACL", "WHOAMI"),
    ]),
    (("alice", "alicepw"), [
        ("ACL", "WHOAMI"),
        ("SET", "app:1", "v"),
        ("GET", "app:1"),
        ("SET", "other", "v"),
        ("GET", "other"),
        ("APPEND", "app:1", "x"),
        ("LPUSH", "app:l", "x"),
        ("MSET", "app:2", "a", "app:3", "b"),
        ("MSET", "app:4", "a", "nope", "b"),
        ("PUBLISH", "news.x", "m"),
        ("PING",),
        ("MULTI",),
        ("SET", "app:5", "v"),
        ("SET", "nope", "v"),
        ("SUBSCRIBE", "news.x"),
        ("SAVE",),  # MULTI cannot hold it: that error comes before the ACL's
        ("EXEC",),
        ("GET", "app:5"),
        ("ACL", "WHOAMI"),
        ("ACL", "LIST"),
    ]),
    (("bob", "bobpw2"), [
        ("SET", "wo:1", "v"),
        ("SET", "wo:1", "v", "GET"),
        ("SET", "rw:1", "v", "GET"),
        ("BITFIELD", "ro:b", "GET", "u8", "0"),
        ("BITFIELD", "ro:b", "SET", "u8", "0", "1"),
        ("BITFIELD", "wo:b", "SET", "u8", "0", "1"),
        ("BITFIELD", "rw:b", "INCRBY", "u8", "0", "1"),
        ("GET", "wo:1"),
        ("LPUSH", "wo:l", "v"),
        ("GET", "ro:1"),
        ("SET", "ro:1", "v"),
        ("SET", "rw:1", "v"),
        ("GET", "rw:1"),
        ("COPY", "rw:1", "wo:2"),
        ("COPY", "wo:1", "rw:2"),
        ("EXISTS", "ro:1", "wo:1"),
        ("DEL", "wo:1"),
        ("FLUSHALL",),
        ("PUBLISH", "any", "m"),
        ("SORT", "ro:l"),
        ("SORT", "ro:l", "STORE", "wo:s"),
        ("SORT", "ro:l", "STORE", "ro:s"),
        ("SORT", "ro:l", "GET", "STORE", "LIMIT", "0", "1", "STORE", "wo:s"),
        ("SORT", "ro:l", "BY", "nosort"),
        ("SORT", "ro:l", "BY", "w*"),
        ("GEORADIUS", "ro:g", "0", "0", "1", "km", "STORE", "wo:s"),
        ("GEORADIUS", "ro:g", "0", "0", "1", "km", "STOREDIST", "ro:s"),
        ("EVAL", "return 1", "1", "rw:1"),
        ("EVAL", "return 1", "1", "ro:1"),
    ]),
    (("dave", "anything"), [
        ("PUBLISH", "chan", "m"),
        ("PUBLISH", "chan2", "m"),
        ("PUBLISH", "p.1", "m"),
        ("GET", "k"),
        ("SUBSCRIBE", "nochan"),
        ("PSUBSCRIBE", "p.x*"),
        ("PSUBSCRIBE", "p.*"),
        ("SUBSCRIBE", "chan", "p.y"),
    ]),
    (("erin", "erinpw"), [
        ("GET", "k1"),
        ("GET", "x1"),
        ("SET", "k1", "v"),
        ("EVAL_RO", "return 1", "1", "k1"),
        ("EVAL_RO", "return 1", "1", "x1"),
        ("SET", "k2", "v"),
    ]),
]


class AclTest(RedpairTestCase):
    def setUp(self):
        self.direct = self.start_redis(extra_args=user_args(USERS))
        self.pair = self.start_pair(extra=user_args(USERS))

    def both(self):
        return RawConn(self.direct.port), self.pair.raw()

    def compare(self, a, b, cmd):
        ra, rb = a.cmd(*cmd), b.cmd(*cmd)
        self.assertEqual(ra, rb, "%r: redis-server %r, redpair %r" % (cmd, ra, rb))
        return ra

    def test_sessions_match_redis(self):
        for login, cmds in SESSIONS:
            a, b = self.both()
            with a, b:
                if login:
                    self.compare(a, b, ("AUTH",) + login)
                for cmd in cmds:
                    self.compare(a, b, cmd)

    def test_normal_form_and_dryrun_match_redis(self):
        """Seeded random rule sets: GETUSER's fields and DRYRUN's verdicts as Redis gives them;
        the single-command rules after the categories compared as sets (Redis's order is its hash
        table's)."""
        cats = ["@" + c for c in ("keyspace", "read", "write", "set", "sortedset", "list", "hash",
                                  "string", "bitmap", "geo", "stream", "pubsub", "admin", "fast",
                                  "slow", "blocking", "dangerous", "connection", "scripting", "all")]
        cmds = ["get", "set", "del", "lpush", "ping", "flushall", "config", "config|get",
                "client|id", "eval", "publish", "subscribe", "monitor", "acl", "acl|whoami", "sort"]
        others = ["~k*", "%R~r*", "%W~w*", "allkeys", "resetkeys", "&c*", "allchannels",
                  "resetchannels", "on", "off", "nopass", ">pw", "reset", "allcommands",
                  "nocommands"]
        probes = [("get", "k1"), ("get", "w1"), ("set", "w1", "v"), ("set", "r1", "v", "GET"),
                  ("publish", "c1", "m"), ("config", "get", "x"), ("ping",), ("flushall",),
                  ("eval", "return 1", "1", "r1"), ("sort", "k1")]

        def normal(getuser):
            fields = getuser.split(b"\r\n")
            for i, f in enumerate(fields):
                if f[:5] in (b"-@all", b"+@all"):
                    words = f.split(b" ")
                    fields[i] = b" ".join([w for w in words if w[1:2] == b"@"] +
                                          sorted(w for w in words if w[1:2] != b"@"))
            return fields

        rnd = random.Random(7)
        a, b = self.both()
        with a, b:
            for i in range(150):
                rules = [rnd.choice("+-") + rnd.choice(cats + cmds) if rnd.random() < 0.8
                         else rnd.choice(others) for _ in range(rnd.randint(1, 6))]
                name = "r%d" % i
                self.compare(a, b, ("ACL", "SETUSER", name) + tuple(rules))
                ga, gb = a.cmd("ACL", "GETUSER", name), b.cmd("ACL", "GETUSER", name)
                self.assertEqual(normal(ga), normal(gb), rules)
                for probe in probes:
                    self.compare(a, b, ("ACL", "DRYRUN", name) + probe)

    def test_key_access_by_key_spec_matches_redis(self):
        a, b = self.both()
        with a, b:
            for cmd in KEY_COMMANDS:
                for k0 in ("r1", "w1", "b1"):
                    for k1 in ("r1", "w1", "b1"):
                        args = tuple(x.format(k0, k1) for x in cmd)
                        self.compare(a, b, ("ACL", "DRYRUN", "keys") + args)

    def test_category_listing_and_hello(self):
        a, b = self.both()
        with a, b:
            # Redis lists a category's commands in its hash table's order.
            for cat in ("string", "pubsub", "dangerous"):
                ra, rb = a.cmd("ACL", "CAT", cat), b.cmd("ACL", "CAT", cat)
                self.assertEqual(sorted(ra.split(b"\r\n")), sorted(rb.split(b"\r\n")), cat)
            self.assertEqual(len(b.cmd("ACL", "GENPASS")), len(b"$64\r\n\r\n") + 64)
            self.assertEqual(len(b.cmd("ACL", "GENPASS", "5")), len(b"$2\r\n\r\n") + 2)
            self.compare(a, b, ("HELLO", "2", "AUTH", "alice", "wrong"))
            ra, rb = a.cmd("HELLO", "2", "AUTH", "alice", "alicepw"), b.cmd("HELLO", "2", "AUTH", "alice", "alicepw")
            self.assertTrue(ra.startswith(b"*14\r\n") and rb.startswith(b"*14\r\n"), (ra, rb))
            self.compare(a, b, ("ACL", "WHOAMI"))
            self.compare(a, b, ("GET", "nope"))
            self.compare(a, b, ("ACL", "GENPASS"))  # alice may not
        with self.pair.raw() as c:
            c.cmd("AUTH", "bob", "bobpw")
            c.cmd("CLIENT", "SETNAME", "bobs")
            listing = self.pair.client().client_list()
            self.assertIn("bob", [x["user"] for x in listing if x["name"] == "bobs"])
            with RawConn(self.direct.port) as a, self.pair.raw() as b:
                self.compare(a, b, ("CLIENT", "KILL", "USER", "nosuch"))
                self.assertEqual(b.cmd("CLIENT", "KILL", "USER", "bob"), b":1\r\n")
            with self.assertRaises((ConnectionClosed, OSError)):
                c.cmd("PING")

    def test_refused_writes_reach_no_backend(self):
        with self.pair.raw() as c:
            self.assertEqual(c.cmd("AUTH", "alice", "alicepw"), b"+OK\r\n")
            self.assertEqual(c.cmd("SET", "app:ok", "1"), b"+OK\r\n")
            self.assertTrue(c.cmd("SET", "forbidden", "1").startswith(b"-NOPERM"))
            self.assertTrue(c.cmd("APPEND", "app:ok", "x").startswith(b"-NOPERM"))
            c.cmd("MULTI")
            c.cmd("SET", "app:tx", "1")
            self.assertTrue(c.cmd("SET", "forbidden2", "1").startswith(b"-NOPERM"))
            self.assertTrue(c.cmd("EXEC").startswith(b"-EXECABORT"))
        self.pair.wait_in_sync()
        stats = self.pair.info()
        self.assertEqual((stats["acl_access_denied_cmd"], stats["acl_access_denied_key"]), (1, 2))
        for server in (self.pair.a, self.pair.b):
            r = server.client()
            self.assertEqual(r.get("app:ok"), b"1")
            self.assertEqual(r.exists("forbidden", "forbidden2", "app:tx"), 0)

    def live_change(self, port):
        """What a connected alice sees as the default user changes and then deletes her."""
        seen = []
        with RawConn(port) as alice, RawConn(port) as admin:
            seen.append(alice.cmd("AUTH", "alice", "alicepw"))
            seen.append(alice.cmd("GET", "app:1"))
            seen.append(admin.cmd("ACL", "SETUSER", "alice", "-get"))
            seen.append(alice.cmd("GET", "app:1"))
            seen.append(admin.cmd("ACL", "SETUSER", "alice", "off"))
            seen.append(alice.cmd("SET", "app:1", "v"))  # Redis 7.0 keeps an off user's clients
            seen.append(admin.cmd("ACL", "DELUSER", "alice", "nosuch"))
            try:
                seen.append(alice.cmd("SET", "app:1", "w"))
            except (ConnectionClosed, OSError):
                seen.append("closed")
            seen.append(admin.cmd("GET", "app:1"))
        return seen

    def subscribers_after_setuser(self, port):
        """Two of dave's subscribers, as a SETUSER takes one's channel away."""
        seen = []
        with RawConn(port) as kept, RawConn(port) as lost, RawConn(port) as admin:
            for conn, channel in ((kept, "p.x"), (lost, "chan")):
                seen.append(conn.cmd("AUTH", "dave", "x"))
                seen.append(conn.cmd("SUBSCRIBE", channel))
            seen.append(admin.cmd("ACL", "SETUSER", "dave", "resetchannels", "&p.*"))
            for conn in (kept, lost):
                try:
                    seen.append(conn.cmd("PING"))
                except (ConnectionClosed, OSError):
                    seen.append("closed")
            seen.append(admin.cmd("ACL", "SETUSER", "dave", "resetchannels", "&chan", "&p.*"))
        return seen

    def test_setuser_drops_subscribers_it_takes_channels_from(self):
        direct, proxied = (self.subscribers_after_setuser(self.direct.port),
                           self.subscribers_after_setuser(self.pair.port))
        self.assertEqual(direct, proxied)
        self.assertEqual(proxied[-3:-1], [b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", "closed"])

    def exec_after_setuser(self, port):
        """A transaction queued before its user's rules changed, and one queued after."""
        seen = []
        with RawConn(port) as tx, RawConn(port) as admin:
            seen.append(admin.cmd("ACL", "SETUSER", "tx", "on", "nopass", "~*", "&*", "+@all"))
            seen.append(tx.cmd("AUTH", "tx", "x"))
            for cmd in (("MULTI",), ("SET", "tx:1", "v"), ("GET", "tx:1"), ("PUBLISH", "ch", "m"),
                        ("SET", "tx:2", "v")):
                seen.append(tx.cmd(*cmd))
            seen.append(admin.cmd("ACL", "SETUSER", "tx", "-get", "resetchannels", "resetkeys",
                                  "~tx:1"))
            seen.append(tx.cmd("EXEC"))
            seen.append(admin.cmd("EXISTS", "tx:1", "tx:2"))
            seen.append(tx.cmd("MULTI"))
            seen.append(tx.cmd("GET", "tx:1"))
            seen.append(admin.cmd("ACL", "SETUSER", "tx", "-set"))
            for cmd in (("SET", "tx:1", "w"), ("EXEC",), ("MULTI",), ("SET", "tx:1", "w")):
                seen.append(tx.cmd(*cmd))
            seen.append(admin.cmd("ACL", "SETUSER", "tx", "-@all"))
            seen.append(tx.cmd("EXEC"))  # EXEC itself refused: the transaction ends
            seen.append(tx.cmd("EXEC"))
            seen.append(admin.cmd("ACL", "DELUSER", "tx"))
        return seen

    def test_exec_checks_again_after_the_rules_changed(self):
        direct, proxied = self.exec_after_setuser(self.direct.port), self.exec_after_setuser(self.pair.port)
        self.assertEqual(direct, proxied)
        self.assertTrue(proxied[8].startswith(b"*4\r\n+OK\r\n-NOPERM ACLs rules changed between "
                                              b"the moment the transaction was accumulated"),
                        proxied[8])
        self.pair.wait_in_sync()
        for server in (self.pair.a, self.pair.b):
            self.assertEqual(server.client().exists("tx:1", "tx:2"), 1)

    def test_setuser_and_deluser_act_on_connected_clients(self):
        direct, proxied = self.live_change(self.direct.port), self.live_change(self.pair.port)
        self.assertEqual(direct, proxied)
        self.assertEqual(proxied[-2], "closed")


class RequirepassTest(RedpairTestCase):
    """requirepass is the default user's password, beside the other users."""

    def test_requirepass_is_defaults_password(self):
        users = ["--user", "svc", "on", "nopass", "~*", "+@all"]
        direct = self.start_redis(extra_args=["--requirepass", "s3cret"] + users)
        pair = self.start_pair(requirepass="s3cret", extra=users)
        session = [
            ("ACL", "WHOAMI"),
            ("GET", "k"),
            ("HELLO", "2"),
            ("AUTH", "wrong"),
            ("AUTH", "default", "wrong"),
            ("AUTH", "svc", "whatever"),
            ("ACL", "WHOAMI"),
            ("RESET",),
            ("ACL", "WHOAMI"),
            ("AUTH", "s3cret"),
            ("ACL", "LIST"),
            ("ACL", "GETUSER", "default"),
            ("ACL", "SETUSER", "default", "nopass"),
            ("RESET",),
            ("ACL", "WHOAMI"),
            ("AUTH", "anything"),
        ]
        with RawConn(direct.port) as a, pair.raw() as b:
            for cmd in session:
                ra, rb = a.cmd(*cmd), b.cmd(*cmd)
                if cmd[0] == "HELLO" and ra.startswith(b"*"):  # the version differs
                    continue
                self.assertEqual(ra, rb, cmd)


class AclFileTest(RedpairTestCase):
    def write(self, path, lines):
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        os.chmod(path, 0o600)  # users' passwords: redpair refuses a file every user may read

    def test_load_save_round_trip(self):
        d = tempfile.mkdtemp(prefix="redpair-acl-")
        mine, theirs = os.path.join(d, "redpair.acl"), os.path.join(d, "redis.acl")
        first = ["user default on nopass ~* &* +@all", "user zed on >zedpw ~z:* -@all +@read"]
        self.write(mine, first)
        self.write(theirs, first)
        direct = self.start_redis(extra_args=["--aclfile", theirs])
        pair = self.start_pair(extra=["--aclfile", mine])
        with RawConn(direct.port) as a, pair.raw() as b:
            for cmd in [("ACL", "LIST"), ("ACL", "SETUSER", "yan", "on", ">y", "+@hash", "~h*"),
                        ("ACL", "SAVE"), ("ACL", "LIST")]:
                self.assertEqual(a.cmd(*cmd), b.cmd(*cmd), cmd)
            with open(mine) as m, open(theirs) as t:
                self.assertEqual(m.read(), t.read())
            with RawConn(pair.port) as zed:
                self.assertEqual(zed.cmd("AUTH", "zed", "zedpw"), b"+OK\r\n")
                second = first[:1] + ["user zed on >other ~z:* -@all +@write", "user zed off"]
                self.write(mine, second)
                self.write(theirs, second)
                ra = a.cmd("ACL", "LOAD").replace(theirs.encode(), b"PATH")
                rb = b.cmd("ACL", "LOAD").replace(mine.encode(), b"PATH")
                self.assertEqual(ra, rb)
                bad = first[:1] + ["user zed on +nosuch foo", "nouser", "user q on"]
                self.write(mine, bad)
                self.write(theirs, bad)
                ra = a.cmd("ACL", "LOAD").replace(theirs.encode(), b"PATH")
                rb = b.cmd("ACL", "LOAD").replace(mine.encode(), b"PATH")
                self.assertEqual(ra, rb)
                self.assertEqual(zed.cmd("GET", "z:1"), b"$-1\r\n")  # nothing changed
                good = first[:1] + ["user zed on >new ~z:* -@all +@write"]
                self.write(mine, good)
                self.write(theirs, good)
                self.assertEqual(a.cmd("ACL", "LOAD"), b.cmd("ACL", "LOAD"))
                with self.assertRaises((ConnectionClosed, OSError)):  # zed's clients go
                    zed.cmd("PING")
            self.assertEqual(a.cmd("ACL", "LIST"), b.cmd("ACL", "LIST"))

    def test_requirepass_gives_way_to_an_aclfile(self):
        d = tempfile.mkdtemp(prefix="redpair-acl-")
        mine, theirs = os.path.join(d, "redpair.acl"), os.path.join(d, "redis.acl")
        for path in (mine, theirs):
            self.write(path, ["user bob on nopass +@all"])
        direct = self.start_redis(extra_args=["--aclfile", theirs, "--requirepass", "x"])
        pair = self.start_pair(extra=["--aclfile", mine, "--requirepass", "x"])
        with RawConn(direct.port) as a, pair.raw() as b:
            for cmd in [("AUTH", "x"), ("ACL", "LIST"), ("AUTH", "bob", "y"), ("ACL", "WHOAMI")]:
                self.assertEqual(a.cmd(*cmd), b.cmd(*cmd), cmd)
        self.assertIn("requirepass has no effect with an aclfile", pair.redpair.log_tail())

    def check_config(self, lines):
        d = tempfile.mkdtemp(prefix="redpair-acl-")
        conf = os.path.join(d, "redpair.conf")
        self.write(conf, ["backend a 127.0.0.1 7001", "backend b 127.0.0.1 7002"] + lines)
        p = subprocess.run([redpair_bin(), "--check-config", conf], capture_output=True, text=True)
        return conf, p.returncode, p.stderr

    def test_config_errors_name_file_and_line(self):
        conf, rc, err = self.check_config(["user ann on >pw +get", "user bad on +nosuch"])
        self.assertEqual(rc, 1)
        self.assertIn("%s:4: user 'bad': error in rule '+nosuch': Unknown command or category "
                      "name in ACL" % conf, err)
        state = tempfile.mkdtemp(prefix="redpair-acl-")
        p = subprocess.run([redpair_bin(), conf, "--state-dir", state, "--admin-port", "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)  # starting, not only checking
        self.assertIn("%s:4: user 'bad': error in rule '+nosuch'" % conf, p.stderr)
        conf, rc, err = self.check_config(["user ann on >pw +get", "aclfile /tmp/x.acl"])
        self.assertEqual(rc, 1)
        self.assertIn("%s:3: 'aclfile /tmp/x.acl' and 'user' lines" % conf, err)
        d = tempfile.mkdtemp(prefix="redpair-acl-")
        acl = os.path.join(d, "users.acl")
        self.write(acl, ["user default on nopass ~* +@all", "user x on +nosuch"])
        conf, rc, err = self.check_config(["aclfile " + acl])
        self.assertEqual(rc, 1)
        self.assertIn("%s:2: Error in applying operation '+nosuch'" % acl, err)
        conf, rc, err = self.check_config(["user ann on", "user ann off"])
        self.assertIn("%s:4: user 'ann': Duplicate user found" % conf, err)
        conf, rc, err = self.check_config(['user "a b" on'])
        self.assertIn("%s:3: user 'a b': Usernames can't contain spaces" % conf, err)
        conf, rc, err = self.check_config(["user ann on >pw ~a* +@read"])
        self.assertEqual((rc, err), (0, ""))


if __name__ == "__main__":
    main()
