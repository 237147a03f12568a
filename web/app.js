/* redpair dashboard: polls the admin API (/api/v1/...) and renders the pair.
 *
 *   token (sessionStorage) ──▶ every second: status, backends, events?since=next ──▶ render
 *                                every 10 s: advice                               ──▶ render
 *   status history (client-side, last 5 minutes) ──▶ hand-drawn SVG charts
 *   buttons ──▶ in-page confirmation dialog ──▶ POST ──▶ notice (the API's error when refused)
 *
 * A 401 drops the token and asks for it again. No dependencies, no build step: this file is
 * embedded in the redpair binary as it is. */
"use strict";

const POLL_MS = 1000;
const ADVICE_EVERY = 10; /* polls */
const REQUEST_TIMEOUT_MS = 3000;
const HISTORY_MS = 5 * 60 * 1000;
const EVENTS_KEPT = 200;
const TOKEN_KEY = "redpair.admin-token";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/* ---------------------------------------------------------------------------------------------
 * Formatting
 * ------------------------------------------------------------------------------------------- */

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

function fmtNum(n) {
  return typeof n === "number" && isFinite(n) ? numberFormat.format(n) : "—";
}

/* Rates: whole numbers once the fraction no longer matters at a glance. */
function fmtRate(n) {
  return typeof n === "number" && n >= 100 ? fmtNum(Math.round(n)) : fmtNum(n);
}

function fmtBytes(n) {
  if (typeof n !== "number" || !isFinite(n)) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 || n >= 10 ? Math.round(n) : n.toFixed(1)) + " " + units[i];
}

function fmtUs(us) {
  if (typeof us !== "number" || !isFinite(us)) return "—";
  if (us < 1000) return Math.round(us) + " µs";
  if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 1 : 0) + " ms";
  return (us / 1e6).toFixed(1) + " s";
}

function fmtDuration(s) {
  if (typeof s !== "number" || !isFinite(s)) return "—";
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${sec} s`;
  return `${sec} s`;
}

function fmtTime(ms) {
  const t = new Date(ms);
  const time = t.toLocaleTimeString("en-GB", { hour12: false });
  return t.toDateString() === new Date().toDateString()
    ? time
    : t.toLocaleDateString("en-CA") + " " + time;
}

/* ---------------------------------------------------------------------------------------------
 * The API
 * ------------------------------------------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let token = sessionStorage.getItem(TOKEN_KEY);

async function api(method, path, body) {
  if (!token) throw new ApiError(401, "no admin token");
  const headers = { Authorization: "Bearer " + token };
  const init = { method, headers, cache: "no-store", signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, e.name === "TimeoutError" ? "no answer within 3 s" : "cannot reach redpair");
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: the status line says enough */
  }
  const message = (data && typeof data.error === "string" && data.error) || `HTTP ${res.status}`;
  if (res.status === 401) signIn(message);
  if (!res.ok) throw new ApiError(res.status, message);
  return data;
}

/* ---------------------------------------------------------------------------------------------
 * Token
 * ------------------------------------------------------------------------------------------- */

function signIn(error) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopPolling();
  document.body.classList.add("signed-out");
  $("#dashboard").hidden = true;
  $("#sign-out").hidden = true;
  $("#failover").disabled = true;
  $("#login").hidden = false;
  const err = $("#login-error");
  err.textContent = error || "";
  err.hidden = !error;
  setConn("signed-out", "Signed out");
  $("#token").value = "";
  $("#token").focus();
}

function signedIn() {
  document.body.classList.remove("signed-out");
  $("#login").hidden = true;
  $("#dashboard").hidden = false;
  $("#sign-out").hidden = false;
  $("#failover").disabled = false;
  setConn("connecting", "Connecting…");
  startPolling();
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const value = $("#token").value.trim();
  if (!value) return;
  token = value;
  sessionStorage.setItem(TOKEN_KEY, token);
  signedIn();
});

$("#sign-out").addEventListener("click", () => signIn(""));

/* ---------------------------------------------------------------------------------------------
 * Polling
 * ------------------------------------------------------------------------------------------- */

let timer = null;
let generation = 0; /* a poll that was started before a sign-out renders nothing */
let polls = 0;
let lastUptime = null;
let eventsSince = 0;
const history = [];

function startPolling() {
  stopPolling();
  polls = 0;
  poll(++generation);
}

function stopPolling() {
  generation++;
  clearTimeout(timer);
  timer = null;
}

/* Polls now rather than at the next tick, e.g. right after an action. */
function pollSoon() {
  if (!token) return;
  clearTimeout(timer);
  poll(++generation);
}

async function poll(gen) {
  const started = Date.now();
  const wantAdvice = polls++ % ADVICE_EVERY === 0;
  const [status, backends, events, advice, cluster] = await Promise.allSettled([
    api("GET", "/api/v1/status"),
    api("GET", "/api/v1/backends"),
    api("GET", `/api/v1/events?since=${eventsSince}&limit=1000`),
    wantAdvice ? api("GET", "/api/v1/advice") : Promise.resolve(null),
    clustered === false ? Promise.resolve(null) : clusterView(),
  ]);
  if (gen !== generation) return;

  if (status.status === "fulfilled") renderStatus(status.value);
  if (backends.status === "fulfilled") renderBackends(backends.value.backends || [], status.value);
  if (events.status === "fulfilled") renderEvents(events.value);
  if (advice.status === "fulfilled" && advice.value) renderAdvice(advice.value.advice || []);
  if (cluster.status === "fulfilled" && cluster.value) renderCluster(cluster.value);

  const failed = [status, backends, events, advice, cluster].find((r) => r.status === "rejected");
  if (failed) {
    setConn("error", `Cannot update: ${failed.reason.message}. Retrying…`);
    if (status.status === "rejected") addSample(null);
  } else {
    setConn("live", "Live");
  }
  $("#conn").title = "Last update " + new Date().toLocaleTimeString("en-GB", { hour12: false });
  timer = setTimeout(() => poll(gen), Math.max(0, POLL_MS - (Date.now() - started)));
}

function setConn(state, text) {
  const conn = $("#conn");
  conn.dataset.state = state;
  if (conn.textContent !== text) conn.textContent = text;
  document.body.classList.toggle("stale", state === "error");
}

/* ---------------------------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------------------------- */

function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

function setStat(name, text) {
  for (const el of $$(`[data-stat="${name}"]`)) setText(el, text);
}

function renderStatus(s) {
  /* A restarted redpair (uptime went back) may start a new event log: read it again. */
  if (lastUptime !== null && s.uptime_seconds < lastUptime) resetEvents();
  lastUptime = s.uptime_seconds;

  setStat("epoch", fmtNum(s.epoch));
  setStat("primary", s.primary || "none");
  setStat("write_ack", s.write_ack || "—");
  setStat("write_marks", s.write_marks || "—");
  setStat("clients", fmtNum(s.clients));
  setStat("uptime", fmtDuration(s.uptime_seconds));
  setStat("version", s.version || "—");
  setStat("ops_per_sec", fmtRate(s.ops_per_sec));
  setStat("latency_p50_us", fmtUs(s.latency_p50_us));
  setStat("latency_p99_us", fmtUs(s.latency_p99_us));
  setStat("stream_offset", fmtNum(s.stream_offset));
  for (const name of ["divergences", "failovers", "resyncs"]) {
    setStat(name, fmtNum(s[name]));
    $(`[data-counter="${name}"]`).classList.toggle("nonzero", s[name] > 0);
  }
  document.body.dataset.primary = s.primary || "";
  addSample(s);
}

const STATE_TEXT = {
  "in-sync": "in sync",
  "catching-up": "catching up",
};

function renderBackends(list, status) {
  const box = $("#backends");
  const names = list.map((b) => b.name).join(" ");
  if (box.dataset.names !== names) {
    box.replaceChildren(...list.map(backendCard));
    box.dataset.names = names;
  }
  for (const b of list) {
    const card = box.querySelector(`[data-backend="${CSS.escape(b.name)}"]`);
    fillBackend(card, b, status && status.primary);
  }
}

function backendCard(b) {
  const card = $("#backend-template").content.firstElementChild.cloneNode(true);
  card.dataset.backend = b.name;
  card.setAttribute("aria-label", `Backend ${b.name}`);
  $('[data-action="promote"]', card).addEventListener("click", () => promote(b.name));
  $('[data-action="maintenance"]', card).addEventListener("click", (ev) =>
    maintenance(b.name, ev.currentTarget.dataset.enable === "true"),
  );
  $('[data-action="resync"]', card).addEventListener("click", () => resync(b.name));
  return card;
}

function fillBackend(card, b, primary) {
  const f = (name) => card.querySelector(`[data-field="${name}"]`);
  const probe = b.probe || {};
  const mem = b.memory || {};
  const pers = b.persistence || {};
  const role = b.role || (b.name === primary ? "primary" : "secondary");

  card.dataset.state = b.state || "unknown";
  card.dataset.role = role;
  setText(f("name"), b.name);
  setText(f("role"), role);
  setText(f("state"), STATE_TEXT[b.state] || b.state || "unknown");
  f("state").dataset.state = b.state || "unknown";
  setText(f("address"), b.address || "—");
  setText(f("lag"), `${fmtNum(b.lag_writes)} writes · ${fmtBytes(b.lag_bytes)}`);
  setText(f("acked_offset"), fmtNum(b.acked_offset));

  setText(f("probe-latency"), probe.up ? fmtUs(probe.latency_us) : "no answer");
  f("probe-latency").classList.toggle("bad", !probe.up);
  let probeSub = "";
  if (typeof probe.last_probe_ms_ago === "number") probeSub = `${fmtNum(probe.last_probe_ms_ago)} ms ago`;
  if (probe.last_error) probeSub += (probeSub ? " · " : "") + probe.last_error;
  setText(f("probe"), probeSub);

  const bar = f("memory-bar");
  if (mem.max > 0) {
    const pct = Math.min(100, (100 * mem.used) / mem.max);
    const of = `${fmtBytes(mem.used)} of ${fmtBytes(mem.max)}`;
    setText(f("memory"), `${of} (${Math.round(pct)}%) · ${mem.policy}`);
    bar.hidden = false;
    bar.setAttribute("aria-valuenow", pct.toFixed(0));
    bar.firstElementChild.style.width = pct + "%";
    bar.dataset.level = pct >= 90 ? "high" : pct >= 75 ? "mid" : "low";
  } else {
    setText(f("memory"), `${fmtBytes(mem.used)} · no maxmemory`);
    bar.hidden = true;
  }
  setText(f("keys"), fmtNum(b.keys));
  const redis = b.redis_version && `${b.redis_version} · ${b.redis_role}${b.loading ? " · loading" : ""}`;
  setText(f("redis"), redis || "—");
  const rdb = pers.rdb_save ? `RDB "${pers.rdb_save}"` : "no RDB";
  setText(f("persistence"), pers.aof ? `AOF · ${rdb}` : `no AOF · ${rdb}`);
  setText(f("run_id"), b.run_id ? b.run_id.slice(0, 12) : "—");
  f("run_id").title = b.run_id || "";

  const promoteBtn = $('[data-action="promote"]', card);
  promoteBtn.hidden = role === "primary";
  const inMaintenance = b.state === "maintenance";
  const maintBtn = $('[data-action="maintenance"]', card);
  maintBtn.dataset.enable = String(!inMaintenance);
  setText(maintBtn, inMaintenance ? "End maintenance…" : "Start maintenance…");
}

function resetEvents() {
  eventsSince = 0;
  $("#events").replaceChildren();
  $("#events-empty").hidden = false;
}

function renderEvents(data) {
  const list = $("#events");
  for (const e of data.events || []) {
    if (e.id <= eventsSince) continue;
    const li = document.createElement("li");
    li.dataset.eventId = e.id;
    li.dataset.kind = e.kind;
    const time = document.createElement("time");
    time.dateTime = e.time || new Date(e.time_ms).toISOString();
    time.textContent = fmtTime(e.time_ms);
    const kind = document.createElement("span");
    kind.className = "badge kind";
    kind.textContent = e.kind;
    const what = document.createElement("span");
    what.className = "detail";
    what.textContent = (e.backend ? e.backend + ": " : "") + e.detail;
    const epoch = document.createElement("span");
    epoch.className = "sub";
    epoch.textContent = `epoch ${e.epoch}`;
    li.append(time, kind, what, epoch);
    list.prepend(li);
  }
  while (list.children.length > EVENTS_KEPT) list.lastElementChild.remove();
  if (typeof data.next === "number") eventsSince = data.next;
  $("#events-empty").hidden = list.children.length > 0;
}

/* Cluster mode: the nodes and who leads (GET /api/v1/cluster). A redpair alone answers 404 once,
 * and the panel stays hidden. */
let clustered = null;

async function clusterView() {
  try {
    const d = await api("GET", "/api/v1/cluster");
    clustered = true;
    return d;
  } catch (e) {
    if (e.status !== 404) throw e;
    clustered = false;
    return null;
  }
}

function nodeRole(n, d) {
  if (n.name === d.leader) return "leader";
  if (n.witness) return "witness";
  return n.state === "unknown" ? "not heard from" : n.state;
}

function renderCluster(d) {
  $("#cluster").hidden = false;
  const leads = d.leading ? "this node leads" : d.leader ? `'${d.leader}' leads` : "no leader";
  setText($("#cluster-summary"), `${leads} · term ${fmtNum(d.term)} · ${d.voters} voters · this is '${d.node}'`);
  document.body.dataset.leader = d.leader || "";
  $("#transfer").hidden = !d.leading;
  const rows = d.nodes.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.node = n.name;
    tr.dataset.role = nodeRole(n, d);
    tr.classList.toggle("self", n.self);
    tr.classList.toggle("unreachable", !n.self && !n.reachable);
    const sees = Object.entries(n.backends || {})
      .map(([b, v]) => `${b} ${v || "?"}`)
      .join(" · ");
    const contact = n.self ? "this node" : n.last_contact_ms === null ? "never" : fmtMs(n.last_contact_ms);
    for (const text of [n.name, tr.dataset.role, fmtNum(n.term), contact, sees]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $("#nodes").replaceChildren(...rows);
}

function fmtMs(ms) {
  return ms < 1000 ? `${ms} ms ago` : `${fmtDuration(Math.round(ms / 1000))} ago`;
}

function renderAdvice(items) {
  const list = $("#advice");
  list.replaceChildren(
    ...items.map((a) => {
      const li = document.createElement("li");
      li.dataset.severity = a.severity;
      if (a.backend) li.dataset.backend = a.backend;
      const sev = document.createElement("span");
      sev.className = "badge severity";
      sev.textContent = a.severity;
      const msg = document.createElement("span");
      msg.textContent = a.message;
      li.append(sev, msg);
      return li;
    }),
  );
  $("#advice-empty").hidden = items.length > 0;
}

/* ---------------------------------------------------------------------------------------------
 * Charts: ops/s and latency over the last five minutes, drawn as SVG paths
 * ------------------------------------------------------------------------------------------- */

const SVG_NS = "http://www.w3.org/2000/svg";

function addSample(s) {
  const now = Date.now();
  history.push(s ? { t: now, ops: s.ops_per_sec, p50: s.latency_p50_us, p99: s.latency_p99_us } : { t: now });
  while (history.length && history[0].t < now - HISTORY_MS) history.shift();
  drawCharts();
}

/* 1, 2 or 5 times a power of ten, at least v: round axis maxima. */
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/* floor: the least axis maximum, so that an idle pair draws a flat line, not magnified noise. */
function drawChart(svg, series, fmt, floor) {
  const width = Math.max(200, svg.clientWidth || 600);
  const height = Math.max(80, svg.clientHeight || 140);
  const pad = { l: 56, r: 8, t: 8, b: 20 };
  const now = Date.now();
  const x = (t) => pad.l + ((t - (now - HISTORY_MS)) / HISTORY_MS) * (width - pad.l - pad.r);
  let max = 0;
  for (const s of history)
    for (const { key } of series) if (typeof s[key] === "number") max = Math.max(max, s[key]);
  max = niceMax(Math.max(max, floor));
  const y = (v) => height - pad.b - (v / max) * (height - pad.t - pad.b);

  const nodes = [];
  for (const v of [0, max / 2, max]) {
    nodes.push(svgEl("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v) }));
    nodes.push(svgEl("text", { class: "axis", x: pad.l - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  nodes.push(svgEl("text", { class: "axis", x: pad.l, y: height - 4 }, "5 min ago"));
  nodes.push(svgEl("text", { class: "axis", x: width - pad.r, y: height - 4, "text-anchor": "end" }, "now"));

  for (const { key, cls } of series) {
    /* A missed poll or a gap of more than a few seconds breaks the line. */
    let d = "", prevT = null;
    for (const s of history) {
      if (typeof s[key] !== "number") {
        prevT = null;
        continue;
      }
      const gap = prevT === null || s.t - prevT > 3 * POLL_MS;
      d += `${gap ? "M" : "L"}${x(s.t).toFixed(1)},${y(s[key]).toFixed(1)}`;
      prevT = s.t;
    }
    if (d) nodes.push(svgEl("path", { class: "line " + cls, d }));
  }
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren(...nodes);
}

function drawCharts() {
  const last = history.length ? history[history.length - 1] : {};
  const peak = (key) => Math.max(0, ...history.map((s) => (typeof s[key] === "number" ? s[key] : 0)));
  drawChart($("#chart-ops"), [{ key: "ops", cls: "ops" }], fmtRate, 10);
  const latency = [{ key: "p50", cls: "p50" }, { key: "p99", cls: "p99" }];
  drawChart($("#chart-latency"), latency, fmtUs, 100);
  setText($("#legend-ops"), fmtRate(last.ops));
  setText($("#legend-p50"), fmtUs(last.p50));
  setText($("#legend-p99"), fmtUs(last.p99));
  $("#chart-ops").setAttribute(
    "aria-label",
    `Ops per second over the last 5 minutes: now ${fmtRate(last.ops)}, peak ${fmtRate(peak("ops"))}`,
  );
  $("#chart-latency").setAttribute(
    "aria-label",
    `Latency over the last 5 minutes: p50 now ${fmtUs(last.p50)}, p99 now ${fmtUs(last.p99)}, ` +
      `p99 peak ${fmtUs(peak("p99"))}`,
  );
}

window.addEventListener("resize", drawCharts);

/* ---------------------------------------------------------------------------------------------
 * Actions: confirm in a dialog, POST, show the outcome
 * ------------------------------------------------------------------------------------------- */

function confirmAction(title, text, okLabel) {
  const dialog = $("#confirm");
  setText($("#confirm-title"), title);
  setText($("#confirm-text"), text);
  setText($("#confirm-ok"), okLabel);
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) =>
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }),
  );
}

let noticeTimer = null;

function notice(kind, text) {
  const box = $("#notice");
  clearTimeout(noticeTimer);
  box.dataset.kind = kind;
  setText($("#notice-text"), text);
  box.hidden = false;
  if (kind === "ok") noticeTimer = setTimeout(() => (box.hidden = true), 8000);
}

$("#notice-close").addEventListener("click", () => {
  clearTimeout(noticeTimer);
  $("#notice").hidden = true;
});

async function act({ title, text, okLabel, path, body, done }) {
  if (!(await confirmAction(title, text, okLabel))) return;
  const buttons = $$("[data-action]");
  for (const b of buttons) b.disabled = true;
  try {
    await api("POST", path, body);
    notice("ok", done);
  } catch (e) {
    const outcome = e.status ? `refused (${e.status})` : "failed";
    if (e.status !== 401) notice("error", `${title} ${outcome}: ${e.message}`);
  } finally {
    for (const b of buttons) b.disabled = false;
    if (!token) $("#failover").disabled = true;
    pollSoon();
  }
}

function failover() {
  act({
    title: "Fail over",
    text:
      "The other in-sync backend becomes primary under a new epoch. Clients pause for a moment " +
      "while the epoch is stored, then reads go to the new primary.",
    okLabel: "Fail over",
    path: "/api/v1/failover",
    done: "Failover requested.",
  });
}

function promote(name) {
  act({
    title: `Make '${name}' primary`,
    text: `'${name}' becomes primary under a new epoch; reads go to it from then on.`,
    okLabel: `Make '${name}' primary`,
    path: "/api/v1/failover",
    body: { target: name },
    done: `Failover to '${name}' requested.`,
  });
}

function maintenance(name, enable) {
  act(
    enable
      ? {
          title: `Start maintenance on '${name}'`,
          text:
            `'${name}' gets no reads and no writes; its writes wait in the backlog. If it is the ` +
            "primary, redpair fails over first.",
          okLabel: "Start maintenance",
          path: `/api/v1/backends/${encodeURIComponent(name)}/maintenance`,
          body: { enabled: true },
          done: `'${name}' is going into maintenance.`,
        }
      : {
          title: `End maintenance on '${name}'`,
          text: `'${name}' is brought back in sync (the missed writes replayed, or a full copy) and rejoins.`,
          okLabel: "End maintenance",
          path: `/api/v1/backends/${encodeURIComponent(name)}/maintenance`,
          body: { enabled: false },
          done: `'${name}' is leaving maintenance.`,
        },
  );
}

function resync(name) {
  act({
    title: `Resync '${name}'`,
    text: `'${name}' is copied in full from the primary: its current data is replaced.`,
    okLabel: "Resync",
    path: `/api/v1/backends/${encodeURIComponent(name)}/resync`,
    done: `Full resync of '${name}' started.`,
  });
}

function transfer() {
  act({
    title: "Hand over leadership",
    text:
      "Another side-car becomes the leader and sequences from then on. Clients connected here " +
      "are disconnected and reconnect; the servers keep their data.",
    okLabel: "Hand over",
    path: "/api/v1/cluster/transfer",
    done: "Leadership transfer requested.",
  });
}

$("#failover").addEventListener("click", failover);
$("#transfer").addEventListener("click", transfer);

/* ---------------------------------------------------------------------------------------------
 * Start
 * ------------------------------------------------------------------------------------------- */

if (token) signedIn();
else signIn("");
