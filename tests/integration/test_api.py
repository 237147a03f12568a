"""The admin API over real HTTP: a real redpair in front of two real redis-servers, driven with
http.client and raw sockets. Every route, auth, errors (400, 401, 404, 405, 409, 413, 414, 431),
malformed and slow requests, keep-alive and pipelining, a failover through the API seen in /status,
/events and /metrics, live PATCHes seen in behaviour, overrides surviving a restart, SIGHUP.

Run: /usr/bin/python3 tests/integration/test_api.py   (REDPAIR_BIN=path/to/redpair)
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import redis

from harness import (
    TOKEN,
    Api,
    RedpairTestCase,
    _ping_raw,
    free_port,
    info_redpair,
    main,
    redpair_args,
    redpair_bin,
    wait_until,
)

HA_ARGS = ["--probe-interval-ms", "20", "--down-after-ms", "300"]
REQUEST_TIMEOUT_S = 5  # HTTP_REQUEST_TIMEOUT_MS in api/http.h

BACKEND_KEYS = {
    "name", "address", "state", "role", "acked_offset", "lag_writes", "lag_bytes", "probe", "run_id",
    "redis_version", "redis_role", "loading", "keys", "memory", "persistence",
}
STATUS_KEYS = {
    "version", "uptime_seconds", "epoch", "primary", "write_ack", "write_marks", "clients", "ops_per_sec",
    "latency_p50_us", "latency_p99_us", "stream_offset", "divergences", "failovers", "resyncs",
}
AUTH_ROUTES = [
    ("GET", "/api/v1/status", None),
    ("GET", "/api/v1/backends", None),
    ("GET", "/api/v1/backends/a", None),
    ("POST", "/api/v1/failover", None),
    ("POST", "/api/v1/backends/b/maintenance", {"enabled": True}),
    ("POST", "/api/v1/backends/b/resync", None),
    ("GET", "/api/v1/events", None),
    ("GET", "/api/v1/config", None),
    ("PATCH", "/api/v1/config", {"write-ack": "primary"}),
    ("GET", "/api/v1/advice", None),
    ("GET", "/metrics", None),
]


def raw_http(port, data, timeout=10.0):
    """Sends bytes on a fresh socket and reads until the server closes; returns (bytes, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
        return out, False


def split_responses(data):
    """Raw HTTP/1.1 responses (with Content-Length) -> [(status, body bytes)]."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        out.append((status, rest[:length]))
        data = rest[length:]
    return out


def metric(text, name, **labels):
    """The value of one sample in Prometheus text, or None."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-z_:]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
        if got == want:
            return float(m.group(3))
    return None


class ApiTest(RedpairTestCase):
    def start(self, extra=(), token=TOKEN, **kw):
        self.admin_port = free_port()
        args = HA_ARGS + ["--admin-port", str(self.admin_port)] + list(extra)
        if token:
            args += ["--admin-token", token]
        pair = self.start_pair(extra=args, **kw)
        api = Api(self.admin_port)
        self.addCleanup(api.close)
        return pair, api

    def events(self, api, since=0):
        return api.json("GET", "/api/v1/events?since=%d&limit=1000" % since)["events"]

    # --- routes and shapes ----------------------------------------------------------------------

    def test_health_and_readiness(self):
        pair, api = self.start()
        r = api.get("/healthz", token=None)
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        self.assertEqual(r.headers["Content-Type"], "application/json")
        r = api.get("/readyz", token=None)
        self.assertEqual((r.status, r.json()), (200, {"ready": True}))

        pair.a.kill()
        pair.b.kill()
        r = wait_until(lambda: (lambda r: r.status == 503 and r)(api.get("/readyz", token=None)),
                       what="/readyz 503 with both backends down")
        body = r.json()
        self.assertIs(body["ready"], False)
        self.assertIn("in sync", body["reason"])
        self.assertEqual(api.get("/healthz", token=None).status, 200)

    def test_status_and_backends(self):
        pair, api = self.start()
        c = pair.client()
        for i in range(50):
            c.set("k%d" % i, i)
        pair.wait_caught_up()
        st = api.json("GET", "/api/v1/status")
        self.assertEqual(set(st), STATUS_KEYS)
        self.assertEqual(st["version"], "0.1.0")
        self.assertEqual(st["primary"], "a")
        self.assertEqual(st["write_ack"], "all")
        self.assertEqual(st["write_marks"], "quiet")
        self.assertEqual(st["stream_offset"], pair.info()["stream_offset"])
        self.assertGreaterEqual(st["stream_offset"], 50)
        self.assertGreaterEqual(st["clients"], 1)
        self.assertEqual((st["divergences"], st["failovers"]), (0, 0))
        self.assertIsInstance(st["ops_per_sec"], float)

        # ops/s and latency cover the last completed second: keep traffic flowing over one.
        def busy_second():
            for i in range(200):
                c.get("k1")
            s = api.json("GET", "/api/v1/status")
            return s["ops_per_sec"] > 0 and s
        s = wait_until(busy_second, what="ops_per_sec above 0")
        self.assertGreater(s["latency_p99_us"], 0)
        self.assertLessEqual(s["latency_p50_us"], s["latency_p99_us"])

        wait_until(lambda: all(b["run_id"] for b in api.json("GET", "/api/v1/backends")["backends"]),
                   what="both backends probed")
        backends = api.json("GET", "/api/v1/backends")["backends"]
        self.assertEqual([b["name"] for b in backends], ["a", "b"])
        for b, server, role in zip(backends, (pair.a, pair.b), ("primary", "secondary")):
            self.assertEqual(set(b), BACKEND_KEYS)
            self.assertEqual(b["address"], "127.0.0.1:%d" % server.port)
            self.assertEqual(b["state"], "in-sync")
            self.assertEqual(b["role"], role)
            self.assertEqual(b["lag_writes"], 0)
            self.assertEqual(b["acked_offset"], st["stream_offset"])
            self.assertEqual(set(b["probe"]), {"up", "last_probe_ms_ago", "latency_us", "last_error"})
            self.assertIs(b["probe"]["up"], True)
            self.assertEqual(b["probe"]["last_error"], "")
            direct = server.client()
            self.assertEqual(b["run_id"], direct.info("server")["run_id"])
            self.assertEqual(b["redis_version"], direct.info("server")["redis_version"])
            self.assertEqual(b["redis_role"], "master")
            self.assertIs(b["loading"], False)
            self.assertGreater(b["memory"]["used"], 0)
            self.assertEqual((b["memory"]["max"], b["memory"]["policy"]), (0, "noeviction"))
            self.assertEqual(b["persistence"], {"aof": False, "rdb_save": ""})
        # The monitor counts INFO keyspace, which may include redpair's own offset key.
        wait_until(lambda: api.json("GET", "/api/v1/backends/a")["keys"] in (50, 51), what="keys 50")
        self.assertEqual(api.json("GET", "/api/v1/backends/b")["name"], "b")

    def test_config(self):
        pair, api = self.start(extra=["--requirepass", "pw"], requirepass="pw")
        doc = api.json("GET", "/api/v1/config")
        cfg = doc["config"]
        self.assertTrue(all(isinstance(v, str) for v in cfg.values()))
        self.assertEqual(cfg["port"], str(pair.port))
        self.assertEqual(cfg["write-ack"], "all")
        self.assertEqual(cfg["backend"], "a 127.0.0.1 %d, b 127.0.0.1 %d" % (pair.a.port, pair.b.port))
        self.assertEqual(cfg["admin-port"], str(self.admin_port))
        self.assertEqual(cfg["requirepass"], "********")
        self.assertEqual(cfg["admin-token"], "********")
        self.assertEqual(cfg["backend-password"], "")
        self.assertEqual(cfg["probe-interval-ms"], "20")
        for d in ("bind", "maxclients", "databases", "proto-max-bulk-len", "client-output-buffer-limit",
                  "loglevel", "logfile", "admin-bind", "state-dir", "down-after-ms", "backlog-size",
                  "write-marks"):
            self.assertIn(d, cfg)
        self.assertEqual(set(doc["live"]), {
            "write-ack", "loglevel", "maxclients", "client-output-buffer-limit", "proto-max-bulk-len",
            "probe-interval-ms", "down-after-ms", "requirepass", "admin-token"})

        out = api.json("PATCH", "/api/v1/config", {"loglevel": "debug", "maxclients": 500,
                                                   "client-output-buffer-limit": "normal 64mb 16mb 60"})
        self.assertEqual(set(out), {"config"})
        self.assertEqual(out["config"]["loglevel"], "debug")
        self.assertEqual(out["config"]["maxclients"], "500")
        self.assertEqual(out["config"]["client-output-buffer-limit"], "normal 67108864 16777216 60")
        self.assertEqual(api.json("GET", "/api/v1/config")["config"]["loglevel"], "debug")

    def test_advice(self):
        pair, api = self.start()

        def advice():
            return api.json("GET", "/api/v1/advice")["advice"]

        wait_until(lambda: not any(a["severity"] == "info" for a in advice()), what="both probed")
        items = advice()
        for a in items:
            self.assertEqual(set(a), {"severity", "backend", "message"})
            self.assertIn(a["severity"], ("warning", "info"))
        for name in ("a", "b"):
            mine = " ".join(a["message"] for a in items if a["backend"] == name)
            self.assertIn("no maxmemory", mine)
            self.assertIn("no persistence", mine)
        host = " ".join(a["message"] for a in items if a["backend"] is None)
        with open("/proc/sys/vm/overcommit_memory") as f:
            self.assertEqual("overcommit_memory" in host, f.read().strip() != "1")
        try:
            with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
                self.assertEqual("transparent huge pages" in host, "[never]" not in f.read())
        except FileNotFoundError:
            pass

        # Memory near maxmemory, and persistence on, as the probes see them.
        direct = pair.a.client()
        used = direct.info("memory")["used_memory"]
        direct.config_set("maxmemory", used + 50000)
        direct.config_set("appendonly", "yes")

        def near():
            mine = " ".join(a["message"] for a in advice() if a["backend"] == "a")
            return "% of its maxmemory" in mine and "no persistence" not in mine
        wait_until(near, what="advice about a's memory and persistence")
        direct.config_set("maxmemory", 0)

    def test_events_paging(self):
        pair, api = self.start()
        self.assertEqual(api.json("POST", "/api/v1/backends/b/maintenance", {"enabled": True}, expect=202),
                         {"ok": True})
        self.assertEqual(api.json("POST", "/api/v1/backends/b/maintenance", {"enabled": False}, expect=202),
                         {"ok": True})
        evs = wait_until(lambda: (lambda e: len(e) >= 2 and e)(self.events(api)), what="events")
        ids = [e["id"] for e in evs]
        self.assertEqual(ids, sorted(ids))
        for e in evs:
            self.assertEqual(set(e), {"id", "time_ms", "time", "epoch", "kind", "backend", "detail"})
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertLess(abs(e["time_ms"] / 1000 - time.time()), 600)
        page = api.json("GET", "/api/v1/events?since=%d&limit=1" % ids[0])
        self.assertEqual([e["id"] for e in page["events"]], ids[1:2])
        self.assertEqual(page["next"], ids[1])
        later = api.json("GET", "/api/v1/events?since=%d" % ids[-1])
        self.assertTrue(all(e["id"] > ids[-1] for e in later["events"]))
        self.assertEqual(later["next"], later["events"][-1]["id"] if later["events"] else ids[-1])
        far = 1 << 50
        self.assertEqual(api.json("GET", "/api/v1/events?since=%d" % far), {"events": [], "next": far})
        self.assertTrue(any(e["backend"] == "b" and "maintenance" in (e["detail"] + e["kind"]) for e in evs))

    def test_dashboard_is_served_without_token(self):
        pair, api = self.start()
        r = api.get("/", token=None)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"<", r.body)
        self.assertEqual(api.request("POST", "/", token=None).status, 405)

    # --- auth and errors ------------------------------------------------------------------------

    def test_auth(self):
        pair, api = self.start()
        for method, path, body in AUTH_ROUTES:
            for token in (None, "wrong", TOKEN + "x", TOKEN[:-1], ""):
                r = api.request(method, path, body=body, token=token)
                self.assertEqual(r.status, 401, (method, path, token, r))
                self.assertIn("error", r.json())
                self.assertEqual(r.headers["WWW-Authenticate"], 'Bearer realm="redpair"')
            r = api.request(method, path, body=body, token=None,
                            headers={"Authorization": "Basic " + TOKEN})
            self.assertEqual(r.status, 401)
        # Nothing happened: no failover, no maintenance, no config change.
        st = api.json("GET", "/api/v1/status")
        self.assertEqual((st["primary"], st["write_ack"], st["epoch"]), ("a", "all", pair.info()["epoch"]))
        self.assertEqual(api.json("GET", "/api/v1/backends/b")["state"], "in-sync")
        self.assertEqual(api.request("GET", "/api/v1/status", headers={"Authorization": "bearer  " + TOKEN},
                                     token=None).status, 200)

    def test_no_token_configured(self):
        pair, api = self.start(token=None)
        r = api.get("/api/v1/status")
        self.assertEqual(r.status, 401)
        self.assertIn("admin-token is not set", r.json()["error"])
        self.assertEqual(api.get("/healthz", token=None).status, 200)

    def test_not_found_and_method_not_allowed(self):
        pair, api = self.start()
        for path in ("/api/v1/nope", "/api/v2/status", "/api/v1/status/", "/nope.js"):
            r = api.get(path)
            self.assertEqual(r.status, 404, path)
            self.assertIn("error", r.json())
        r = api.get("/api/v1/backends/zzz")
        self.assertEqual((r.status, r.json()), (404, {"error": "no backend named 'zzz'"}))
        self.assertEqual(api.request("POST", "/api/v1/backends/zzz/resync").status, 404)
        self.assertEqual(api.request("POST", "/api/v1/backends/zzz/maintenance", {"enabled": True}).status, 404)
        # Bytes that are not UTF-8 in the path still give a JSON error.
        out, _ = raw_http(self.admin_port, b"GET /api/v1/backends/\xff\xc3 HTTP/1.1\r\nAuthorization: Bearer "
                          + TOKEN.encode() + b"\r\nConnection: close\r\n\r\n")
        status, body = split_responses(out)[0]
        self.assertIn(status, (400, 404))
        self.assertIn("error", json.loads(body))
        r = api.request("DELETE", "/api/v1/config")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["Allow"], "GET, PATCH")
        self.assertEqual(api.get("/api/v1/failover").status, 405)
        self.assertEqual(api.request("POST", "/api/v1/status").status, 405)
        self.assertEqual(api.request("PUT", "/healthz", token=None).status, 405)

    def test_bad_json_and_values(self):
        pair, api = self.start()

        def bad(method, path, expect=400, **kw):
            r = api.request(method, path, **kw)
            self.assertEqual(r.status, expect, (method, path, kw, r))
            return r.json()["error"]

        self.assertIn("invalid JSON", bad("PATCH", "/api/v1/config", raw_body=b"{bad"))
        self.assertIn("JSON object", bad("PATCH", "/api/v1/config", body=["write-ack"]))
        self.assertIn("required", bad("PATCH", "/api/v1/config"))
        self.assertIn("write-ack", bad("PATCH", "/api/v1/config", body={"write-ack": "sometimes"}))
        self.assertIn("maxclients", bad("PATCH", "/api/v1/config", body={"maxclients": "0"}))
        self.assertIn("must be a string", bad("PATCH", "/api/v1/config", body={"maxclients": True}))
        self.assertIn("unknown directive", bad("PATCH", "/api/v1/config", body={"nosuch": "1"}))
        self.assertIn("down-after-ms", bad("PATCH", "/api/v1/config", body={"down-after-ms": "10"}))
        self.assertIn("admin-token", bad("PATCH", "/api/v1/config", body={"admin-token": ""}))
        self.assertIn("restart", bad("PATCH", "/api/v1/config", expect=409, body={"port": "1"}))
        self.assertIn("restart", bad("PATCH", "/api/v1/config", expect=409,
                                     body={"write-ack": "primary", "backlog-size": "1mb"}))
        # All or nothing: the good half of a bad request is not applied.
        bad("PATCH", "/api/v1/config", body={"write-ack": "primary", "maxclients": "-1"})
        self.assertEqual(api.json("GET", "/api/v1/config")["config"]["write-ack"], "all")
        self.assertEqual(pair.info()["write_ack"], "all")

        self.assertIn("enabled", bad("POST", "/api/v1/backends/b/maintenance", body={}))
        self.assertIn("enabled", bad("POST", "/api/v1/backends/b/maintenance", body={"enabled": "yes"}))
        self.assertIn("JSON", bad("POST", "/api/v1/backends/b/maintenance", raw_body=b"[1,"))
        self.assertIn("target", bad("POST", "/api/v1/failover", body={"target": 5}))
        self.assertIn("zzz", bad("POST", "/api/v1/failover", body={"target": "zzz"}))
        self.assertIn("limit", bad("GET", "/api/v1/events?limit=abc"))
        self.assertIn("limit", bad("GET", "/api/v1/events?limit=0"))
        self.assertIn("since", bad("GET", "/api/v1/events?since=-1"))
        self.assertEqual(pair.info()["primary"], "a")

    def test_conflicts(self):
        pair, api = self.start()
        r = api.request("POST", "/api/v1/failover", {"target": "a"})
        self.assertEqual(r.status, 409)
        self.assertIn("already the primary", r.json()["error"])
        r = api.request("POST", "/api/v1/backends/a/resync")
        self.assertEqual(r.status, 409)
        r = api.request("POST", "/api/v1/backends/b/maintenance", {"enabled": False})
        self.assertEqual(r.status, 409)

    def test_oversize_requests(self):
        pair, api = self.start()
        big = {"write-ack": "primary", "pad": "x" * 200000}
        r = api.request("PATCH", "/api/v1/config", body=big)
        self.assertEqual(r.status, 413)
        self.assertIn("65536", r.json()["error"])
        self.assertEqual(api.json("GET", "/api/v1/config")["config"]["write-ack"], "all")
        # A chunked body has no length up front: refused when it grows too large.
        chunk = b"x" * 30000
        data = (b"PATCH /api/v1/config HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 4)
        out, closed = raw_http(self.admin_port, data)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:200])
        self.assertTrue(closed)
        out, closed = raw_http(self.admin_port, b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "), out[:200])
        out, closed = raw_http(self.admin_port, b"GET /healthz HTTP/1.1\r\n" + b"X-Pad: yyyyyyyyyy\r\n" * 4000 + b"\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out[:200])
        self.assertEqual(api.get("/healthz").status, 200)

    def test_malformed_http(self):
        pair, api = self.start()
        for junk in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x00\x01\x02\x03\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n"):
            out, closed = raw_http(self.admin_port, junk)
            self.assertTrue(out.startswith(b"HTTP/1.1 400 "), (junk, out[:200]))
            self.assertIn(b"Connection: close", out)
            self.assertIn(b'{"error":', out)
            self.assertTrue(closed, junk)
        # A request cut off by the client: no answer owed, nothing breaks.
        with socket.create_connection(("127.0.0.1", self.admin_port)) as s:
            s.sendall(b"GET /api/v1/sta")
        self.assertEqual(api.get("/healthz").status, 200)
        self.assertEqual(pair.client().ping(), True)

    def test_slow_client_times_out(self):
        pair, api = self.start()
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=REQUEST_TIMEOUT_S + 10) as s:
            s.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            # Meanwhile everyone else is served.
            self.assertEqual(api.get("/healthz").status, 200)
            self.assertEqual(pair.client().ping(), True)
            s.sendall(b"X-Slow: 1\r\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            self.assertTrue(out.startswith(b"HTTP/1.1 408 "), out[:200])
            self.assertGreaterEqual(time.monotonic() - started, REQUEST_TIMEOUT_S - 1)

    def test_keep_alive_and_pipelining(self):
        pair, api = self.start()
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        self.addCleanup(conn.close)
        sock = None
        for path in ("/healthz", "/api/v1/status", "/api/v1/events", "/metrics", "/api/v1/backends"):
            conn.request("GET", path, headers={"Authorization": "Bearer " + TOKEN})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200, path)
            self.assertFalse(r.will_close)
            sock = sock or conn.sock
            self.assertIs(conn.sock, sock, "one connection for all")
        conn.request("PATCH", "/api/v1/config", body=b'{"loglevel":"verbose"}',
                     headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(json.loads(r.read())["config"]["loglevel"], "verbose")
        self.assertIs(conn.sock, sock)

        # Pipelined, with the event log (answered from the store's thread) in the middle: the
        # responses still come back in request order.
        auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        patch = b'{"loglevel":"debug"}'
        reqs = [b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /api/v1/backends/b HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
                b"PATCH /api/v1/config HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: %d\r\n\r\n%s" % (len(patch), patch),
                b"GET /api/v1/events?limit=1 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
                b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]
        out, closed = raw_http(self.admin_port, b"".join(reqs))
        self.assertTrue(closed)
        res = split_responses(out)
        self.assertEqual([s for s, _ in res], [200, 200, 200, 200, 200, 404])
        self.assertIn("events", json.loads(res[0][1]))
        self.assertEqual(json.loads(res[1][1]), {"status": "ok"})
        self.assertEqual(json.loads(res[2][1])["name"], "b")
        self.assertEqual(json.loads(res[3][1])["config"]["loglevel"], "debug")
        self.assertLessEqual(len(json.loads(res[4][1])["events"]), 1)

        # HTTP/1.0 closes unless it asks to stay.
        out, closed = raw_http(self.admin_port, b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertTrue(closed and out.startswith(b"HTTP/1.1 200 "))

    # --- operations seen in behaviour -------------------------------------------------------------

    def test_failover_through_the_api(self):
        pair, api = self.start()
        c = pair.client()
        c.set("before", "1")
        epoch = api.json("GET", "/api/v1/status")["epoch"]
        first = self.events(api)
        since = first[-1]["id"] if first else 0

        self.assertEqual(api.json("POST", "/api/v1/failover", expect=202), {"ok": True})
        st = wait_until(lambda: (lambda s: s["primary"] == "b" and s)(api.json("GET", "/api/v1/status")),
                        what="b primary in /status")
        self.assertEqual(st["epoch"], epoch + 1)
        self.assertEqual(st["failovers"], 1)
        self.assertEqual(pair.info()["primary"], "b")
        roles = {b["name"]: b["role"] for b in api.json("GET", "/api/v1/backends")["backends"]}
        self.assertEqual(roles, {"a": "secondary", "b": "primary"})

        evs = wait_until(lambda: [e for e in self.events(api, since) if e["kind"] == "failover"],
                         what="a failover event")
        self.assertEqual(evs[-1]["backend"], "b")
        self.assertEqual(evs[-1]["epoch"], epoch + 1)

        text = api.get("/metrics").body.decode()
        self.assertEqual(metric(text, "redpair_failovers_total"), 1)
        self.assertEqual(metric(text, "redpair_epoch"), epoch + 1)
        self.assertEqual(metric(text, "redpair_backend_primary", backend="b"), 1)
        self.assertEqual(metric(text, "redpair_backend_primary", backend="a"), 0)

        # Data goes on through the new primary; back to a with an explicit target.
        self.assertEqual(c.get("before"), b"1")
        c.set("after", "2")
        pair.wait_in_sync()
        self.assertEqual(api.json("POST", "/api/v1/failover", {"target": "a"}, expect=202), {"ok": True})
        wait_until(lambda: api.json("GET", "/api/v1/status")["primary"] == "a", what="a primary again")
        self.assertEqual(c.get("after"), b"2")

    def test_maintenance_and_resync(self):
        pair, api = self.start()
        c = pair.client()
        api.json("POST", "/api/v1/backends/b/maintenance", {"enabled": True}, expect=202)
        wait_until(lambda: api.json("GET", "/api/v1/backends/b")["state"] == "maintenance",
                   what="b in maintenance")
        r = api.request("POST", "/api/v1/backends/b/maintenance", {"enabled": True})
        self.assertEqual(r.status, 409)
        c.set("during", "x")
        text = api.get("/metrics").body.decode()
        self.assertEqual(metric(text, "redpair_backend_state", backend="b", state="maintenance"), 1)
        self.assertEqual(metric(text, "redpair_backend_state", backend="b", state="in-sync"), 0)
        self.assertGreaterEqual(metric(text, "redpair_backend_lag_writes", backend="b"), 1)
        api.json("POST", "/api/v1/backends/b/maintenance", {"enabled": False}, expect=202)
        pair.wait_in_sync(timeout=20)
        self.assertEqual(pair.b.client().get("during"), b"x")

        seen = self.events(api)
        api.json("POST", "/api/v1/backends/b/resync", expect=202)
        self.assertIn(api.json("GET", "/api/v1/backends/b")["state"], ("stale", "resyncing"))
        wait_until(lambda: [e for e in self.events(api, seen[-1]["id"])
                            if e["kind"] == "resync" and e["backend"] == "b" and "full" in e["detail"]
                            and "done" in e["detail"]], timeout=30, what="a full resync done")
        pair.wait_in_sync(timeout=20)
        self.assertEqual(pair.b.client().get("during"), b"x")

    def test_metrics(self):
        pair, api = self.start()
        c = pair.client()
        for i in range(20):
            c.set("m%d" % i, i)
            c.get("m%d" % i)
        pair.wait_caught_up()
        r = api.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        text = r.body.decode()
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
        self.assertEqual(set(types), helps)
        for name, kind in {
            "redpair_commands_total": "counter", "redpair_command_duration_seconds": "histogram",
            "redpair_backend_up": "gauge", "redpair_backend_state": "gauge",
            "redpair_backend_lag_writes": "gauge", "redpair_backend_probe_latency_seconds": "gauge",
            "redpair_failovers_total": "counter", "redpair_divergences_total": "counter",
            "redpair_resyncs_total": "counter", "redpair_connected_clients": "gauge",
            "redpair_blocked_clients": "gauge",
            "redpair_net_input_bytes_total": "counter", "redpair_net_output_bytes_total": "counter",
            "redpair_epoch": "gauge",
        }.items():
            self.assertEqual(types.get(name), kind, name)
        for line in text.splitlines():
            if not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$')

        self.assertGreaterEqual(metric(text, "redpair_commands_total", command="set"), 20)
        self.assertGreaterEqual(metric(text, "redpair_commands_total", command="get"), 20)
        count = metric(text, "redpair_command_duration_seconds_count", command="set")
        self.assertEqual(count, metric(text, "redpair_commands_total", command="set"))
        self.assertEqual(metric(text, "redpair_command_duration_seconds_bucket", command="set", le="+Inf"), count)
        buckets = [float(v) for v in re.findall(
            r'^redpair_command_duration_seconds_bucket\{command="set",le="[^"]+"\} (\S+)$', text, re.M)]
        self.assertEqual(buckets, sorted(buckets))
        self.assertGreater(metric(text, "redpair_command_duration_seconds_sum", command="set"), 0)
        for b in ("a", "b"):
            self.assertEqual(metric(text, "redpair_backend_up", backend=b), 1)
            self.assertEqual(metric(text, "redpair_backend_state", backend=b, state="in-sync"), 1)
            states = re.findall(r'^redpair_backend_state\{backend="%s",state="([^"]+)"\} (\S+)$' % b, text, re.M)
            self.assertEqual({s for s, _ in states},
                             {"in-sync", "down", "catching-up", "resyncing", "stale", "maintenance"})
            self.assertEqual(sum(float(v) for _, v in states), 1)
            self.assertEqual(metric(text, "redpair_backend_lag_writes", backend=b), 0)
            self.assertIsNotNone(metric(text, "redpair_backend_probe_latency_seconds", backend=b))
        self.assertGreaterEqual(metric(text, "redpair_connected_clients"), 1)
        self.assertGreater(metric(text, "redpair_net_input_bytes_total"), 0)
        self.assertGreater(metric(text, "redpair_net_output_bytes_total"), 0)
        self.assertEqual(metric(text, "redpair_divergences_total"), 0)

    def test_live_write_ack_and_maxclients(self):
        # down-after-ms far away: a stopped secondary is not taken out during the test.
        pair, api = self.start(extra=["--down-after-ms", "60000"])
        c = pair.client(socket_timeout=1.5)
        out = api.json("PATCH", "/api/v1/config", {"write-ack": "primary"})
        self.assertEqual(out["config"]["write-ack"], "primary")
        self.assertEqual(pair.info()["write_ack"], "primary")
        self.assertEqual(api.json("GET", "/api/v1/status")["write_ack"], "primary")

        os.kill(pair.b.pid, signal.SIGSTOP)
        try:
            # Acknowledged on the primary's reply alone, while b cannot answer.
            self.assertTrue(c.set("k", "1"))
            self.assertEqual(c.get("k"), b"1")
            api.json("PATCH", "/api/v1/config", {"write-ack": "all"})
            # Now a write waits for b: it is not acknowledged while b is stopped.
            with self.assertRaises(redis.exceptions.TimeoutError):
                c.set("k", "2")
        finally:
            os.kill(pair.b.pid, signal.SIGCONT)
        pair.wait_caught_up()
        self.assertEqual(pair.b.client().get("k"), b"2")

        c.close()
        pair.drop_info_client()
        api.json("PATCH", "/api/v1/config", {"maxclients": "1"})
        with pair.client() as first:
            wait_until(first.ping, what="the one client let in")
            with pair.raw() as second:
                self.assertEqual(second.read_until_closed(), b"-ERR max number of clients reached\r\n")
        api.json("PATCH", "/api/v1/config", {"maxclients": "100"})
        wait_until(lambda: pair.client().ping(), what="clients let in again")

    def test_live_requirepass_and_token(self):
        pair, api = self.start()
        api.json("PATCH", "/api/v1/config", {"requirepass": "newpass"})
        with self.assertRaises(redis.exceptions.AuthenticationError):
            pair.client().get("x")
        self.assertEqual(pair.client(password="newpass").ping(), True)
        pair.requirepass = "newpass"
        api.json("PATCH", "/api/v1/config", {"admin-token": "other-token"})
        self.assertEqual(api.get("/api/v1/status").status, 401)
        api.token = "other-token"
        self.assertEqual(api.get("/api/v1/status").status, 200)

    def test_overrides_survive_restart(self):
        pair, api = self.start()
        api.json("PATCH", "/api/v1/config", {"write-ack": "primary", "probe-interval-ms": "30"})
        api.json("PATCH", "/api/v1/config", {"loglevel": "debug"})
        state_dir = pair.redpair.state_dir
        args = pair.redpair.args[pair.redpair.args.index("--state-dir") + 2:]
        pair.drop_info_client()
        api.close()
        pair.redpair.stop()

        rp = self.start_redpair(args, state_dir=state_dir)
        pair.redpair = rp
        pair.wait_in_sync(timeout=20)
        self.assertEqual(pair.info()["write_ack"], "primary")
        cfg = wait_until(lambda: api.json("GET", "/api/v1/config")["config"], what="admin API back")
        self.assertEqual((cfg["write-ack"], cfg["probe-interval-ms"], cfg["loglevel"]), ("primary", "30", "debug"))
        with open(rp.log_path) as f:
            self.assertIn("3 overrides from the admin API applied", f.read())

    def test_sighup_reloads_the_file(self):
        a = self.start_redis()
        b = self.start_redis()
        tmp = tempfile.mkdtemp(prefix="redpair-api-")
        conf = os.path.join(tmp, "redpair.conf")
        port, admin = free_port(), free_port()
        log = os.path.join(tmp, "redpair.log")

        def write(write_ack, loglevel, extra=""):
            with open(conf, "w") as f:
                f.write("port %d\nbackend a 127.0.0.1 %d\nbackend b 127.0.0.1 %d\nadmin-port %d\n"
                        "admin-token %s\nstate-dir %s\nlogfile %s\nwrite-ack %s\nloglevel %s\n%s"
                        % (port, a.port, b.port, admin, TOKEN, os.path.join(tmp, "state"), log,
                           write_ack, loglevel, extra))
            os.chmod(conf, 0o600)  # it holds the admin token

        write("all", "notice")
        proc = subprocess.Popen([redpair_bin(), conf] + HA_ARGS, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        self.addCleanup(stop)
        wait_until(lambda: _ping_raw(port), what="redpair up")
        api = Api(admin)
        self.addCleanup(api.close)
        info = lambda: info_redpair(redis.Redis(port=port, socket_timeout=5))  # noqa: E731
        wait_until(lambda: info()["write_ack"] == "all", what="start")

        write("primary", "verbose", "maxclients 77\nbacklog-size 1mb\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: info()["write_ack"] == "primary", what="write-ack reloaded")
        cfg = api.json("GET", "/api/v1/config")["config"]
        self.assertEqual((cfg["loglevel"], cfg["maxclients"], cfg["backlog-size"]), ("verbose", "77", "67108864"))
        with open(log) as f:
            text = f.read()
        self.assertIn("'backlog-size' changed in the configuration; it takes effect at the next restart", text)
        self.assertNotIn("'backend' changed", text)

        # An API override wins over the file, across SIGHUP too.
        api.json("PATCH", "/api/v1/config", {"write-ack": "all"})
        proc.send_signal(signal.SIGHUP)
        write("primary", "verbose", "maxclients nope\n")
        proc.send_signal(signal.SIGHUP)
        def refused():
            with open(log) as f:
                return "configuration not reloaded" in f.read()
        wait_until(refused, what="bad file refused")
        self.assertEqual(info()["write_ack"], "all")
        self.assertEqual(api.json("GET", "/api/v1/config")["config"]["maxclients"], "77")
        stop()
        self.assertEqual(proc.returncode, 0)


if __name__ == "__main__":
    main()
