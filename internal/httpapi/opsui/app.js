// The ops dashboard. It holds no key: the session is an HttpOnly cookie,
// and the CSRF token for writes lives in this variable only.
"use strict";

const REFRESH_MS = 15000;
const SVGNS = "http://www.w3.org/2000/svg";
const st = {
  session: null, csrf: "", rows: [], byId: new Map(), sort: { key: "number", dir: 1 },
  selected: null, timer: null, failovers: [], user: null,
};

const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};
const svg = (tag, attrs, text) => {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
};
const pct = (x) => (x === null || x === undefined ? "–" : Math.round(x * 100) + "%");
const fmtTime = (t) => (t ? new Date(t).toLocaleString() : "");
const canWrite = () => !!(st.session && st.session.scopes.includes("ops:write"));

class HTTPError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function api(method, path, body) {
  const opt = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") opt.headers["X-CSRF-Token"] = st.csrf;
  if (body !== undefined) { opt.headers["Content-Type"] = "application/json"; opt.body = JSON.stringify(body); }
  const r = await fetch(path, opt);
  if (r.status === 204) return {};
  const out = await r.json().catch(() => ({}));
  if (!r.ok) throw new HTTPError(r.status, (out.error && out.error.message) || r.statusText);
  return out;
}

// optional reads a section's endpoint; a missing feature (404) shows empty.
async function optional(path) {
  try { return await api("GET", path); } catch (e) { if (e.status === 404) return null; throw e; }
}

function showSignedIn(sess) {
  st.session = sess; st.csrf = sess.csrf_token;
  document.body.classList.toggle("can-write", canWrite());
  $("who").textContent = `${sess.name} (${sess.scopes.filter((s) => s.startsWith("ops:")).join(", ")})`;
  $("signin").hidden = true; $("bar").hidden = false; $("dash").hidden = false;
}

function showSignedOut(msg) {
  st.session = null; st.csrf = "";
  clearTimeout(st.timer);
  $("signin").hidden = false; $("bar").hidden = true; $("dash").hidden = true;
  $("err").textContent = msg || "";
}

// allLines reads every page of the pool (GET /v1/ops/lines pages it).
async function allLines() {
  let out = null, path = "/v1/ops/lines?limit=1000";
  for (;;) {
    const page = await api("GET", path);
    if (out) out.lines.push(...page.lines); else out = page;
    if (!page.next) return out;
    path = "/v1/ops/lines?limit=1000&after=" + encodeURIComponent(page.next);
  }
}

async function refresh() {
  clearTimeout(st.timer);
  try {
    const [pool, health, cap, rot, fo, quar, retrying, dead] = await Promise.all([
      allLines(), optional("/v1/ops/health"), api("GET", "/v1/ops/capacity"),
      api("GET", "/v1/ops/rotation?n=10"), optional("/v1/ops/failovers?limit=100"), optional("/v1/ops/quarantines"),
      optional("/v1/ops/event-deliveries?state=retrying&limit=50"), optional("/v1/ops/event-deliveries?state=dead&limit=50"),
    ]);
    merge(pool, health, cap);
    renderPool(pool, health, cap);
    renderLines();
    renderRotation(rot);
    renderSingle(cap.single_failure);
    st.failovers = (fo && fo.failovers) || [];
    renderFailovers();
    renderQuarantines((quar && quar.quarantines) || []);
    renderDeliveries([...((retrying && retrying.deliveries) || []), ...((dead && dead.deliveries) || [])]);
    if (st.selected !== null) await renderChart(st.selected);
    $("err").textContent = "";
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.status === 401) { showSignedOut("Signed out: " + e.message); return; }
    $("err").textContent = "Could not load: " + e.message;
  }
  if ($("auto").checked && st.session) st.timer = setTimeout(refresh, REFRESH_MS);
}

// merge joins the line list, health and capacity plan per line.
function merge(pool, health, cap) {
  const h = new Map(((health && health.lines) || []).map((x) => [x.line_id, x]));
  const c = new Map(cap.lines.map((x) => [x.line_id, x]));
  st.rows = pool.lines.map((l) => {
    const hl = h.get(l.id) || {}; const cl = c.get(l.id) || {};
    return {
      id: l.id, number: l.number, admin: l.admin_state, state: hl.state || cl.health_state || "ok",
      cause: hl.cause || "", stale: !!hl.stale, held: !!hl.held_at, users: l.users, cap: l.cap,
      fill: l.utilization, blocked: l.blocked_reason || "", volume: cl.volume_24h || 0,
      budget: cl.effective_budget || l.budget.effective, budgetUsed: cl.budget_used || 0,
      warmup: l.budget.warmup_factor, reciprocity: cl.reciprocity === undefined ? null : cl.reciprocity,
      signups: cl.signups_24h || 0,
    };
  });
  st.byId = new Map(st.rows.map((r) => [r.id, r]));
}

function card(label, value, cls, id) {
  const d = el("div", undefined, "card"); if (id) d.id = id;
  d.append(el("b", value, cls), el("span", label));
  return d;
}

function renderPool(pool, health, cap) {
  const p = cap.pool; const sf = cap.single_failure;
  const limit = 1; // users ÷ cap; the cap already keeps the headroom free
  drawGauge(p.fill, p.headroom_target);
  const cards = $("cards"); cards.replaceChildren();
  cards.append(
    card("users / capacity", `${p.users} / ${p.capacity}`, p.fill >= limit ? "bad" : "", "card-users"),
    card("room for new users", p.room, p.room === 0 ? "bad" : "", "card-room"),
    card("days until full (7 d signups)", p.days_until_full === null ? "∞" : p.days_until_full.toFixed(1),
      p.days_until_full !== null && p.days_until_full < 14 ? "warn" : "", "card-days"),
    card(`lines to add for ${p.horizon_days} d`, p.lines_to_add < 0 ? "n/a" : p.lines_to_add, p.lines_to_add > 0 ? "warn" : "", "card-add"),
    card("usable lines", `${p.usable_lines} / ${p.lines}`, "", "card-lines"),
    card("signups 24 h / 7 d", `${p.signups_24h} / ${p.signups_7d}`),
    card("volume 24 h / budget", `${p.volume_24h} / ${p.budget_24h}`),
    card("in : out 7 d (target 0.5)", p.reciprocity === null ? "–" : p.reciprocity.toFixed(2),
      p.reciprocity !== null && p.reciprocity < cap.reciprocity_target ? "warn" : ""),
  );
  if (health) {
    cards.append(
      card("stranded users", health.stranded_users, health.stranded_users > 0 ? "bad" : "ok", "card-stranded"),
      card("stale / held lines", `${health.stale_lines} / ${health.held_lines}`, health.held_lines > 0 ? "warn" : ""),
    );
  }
  if (sf) cards.append(card("single failure", sf.ok ? "survives" : `${sf.would_strand.length} lines at risk`, sf.ok ? "ok" : "bad", "card-single"));
  cards.append(card("usage per user per day", `${cap.usage.msgs_per_user_per_day.toFixed(1)} (${cap.usage.source})`));
}

// drawGauge is a half-circle of the pool's fill of its caps; the caps keep
// the headroom free, so 100 % of cap is (1 − headroom) of the budgets.
function drawGauge(fill, headroom) {
  const g = $("gauge"); g.replaceChildren();
  const cx = 100, cy = 100, r = 80;
  const pt = (f) => { const a = Math.PI * (1 - Math.min(Math.max(f, 0), 1)); return [cx + r * Math.cos(a), cy - r * Math.sin(a)]; };
  const arc = (f0, f1, color, w) => {
    const [x0, y0] = pt(f0); const [x1, y1] = pt(f1);
    return svg("path", { d: `M${x0},${y0} A${r},${r} 0 0 1 ${x1},${y1}`, fill: "none", stroke: color, "stroke-width": w });
  };
  g.append(arc(0, 0.9999, "#e4e4e4", 16));
  const f = fill || 0;
  if (f > 0) g.append(arc(0, Math.min(f, 0.9999), f >= 1 ? "#c62828" : f >= 0.8 ? "#d98c00" : "#2e8b57", 16));
  g.append(svg("text", { x: cx, y: cy - 10, "text-anchor": "middle", "font-size": 24, "font-weight": "bold" }, pct(f)));
  g.append(svg("text", { x: cx, y: cy + 12, "text-anchor": "middle", "font-size": 11, fill: "#555" },
    `of caps (${pct(headroom)} headroom kept)`));
}

const sorters = {
  number: (r) => r.number, state: (r) => r.state, admin: (r) => r.admin, fill: (r) => r.fill,
  volume: (r) => r.budgetUsed, warmup: (r) => r.warmup, reciprocity: (r) => (r.reciprocity === null ? -1 : r.reciprocity),
  signups: (r) => r.signups, blocked: (r) => r.blocked,
};

function visibleRows() {
  const q = $("search").value.replace(/[^0-9+]/g, "");
  const f = $("state-filter").value;
  const keep = (r) => {
    if (q && !r.number.includes(q)) return false;
    switch (f) {
      case "": return true;
      case "held": return r.held;
      case "stale": return r.stale;
      case "blocked": return r.blocked !== "";
      case "draining": case "retired": return r.admin === f;
      default: return r.state === f;
    }
  };
  const key = sorters[st.sort.key]; const dir = st.sort.dir;
  return st.rows.filter(keep).sort((a, b) => {
    const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : a.id - b.id) * dir;
  });
}

function bar(frac) {
  const b = el("span", undefined, "bar"); const i = el("i");
  i.style.width = Math.min(100, Math.round((frac || 0) * 100)) + "%";
  if (frac >= 1) i.className = "bad"; else if (frac >= 0.8) i.className = "warn";
  b.append(i); return b;
}

function renderLines() {
  const t0 = performance.now();
  const rows = visibleRows();
  const frag = document.createDocumentFragment();
  const write = canWrite();
  for (const r of rows) {
    const tr = el("tr"); tr.dataset.lineId = r.id; tr.dataset.state = r.state; tr.dataset.admin = r.admin;
    if (r.id === st.selected) tr.className = "selected";
    const num = el("td"); const a = el("a", r.number); a.href = "#"; a.className = "line-link"; num.append(a);
    const hs = el("td"); hs.append(el("span", r.state, "state " + r.state));
    if (r.stale) hs.append(el("span", "stale", "badge"));
    if (r.held) hs.append(el("span", "held", "badge"));
    if (r.cause) hs.append(el("span", r.cause, "why"));
    const uc = el("td"); uc.append(bar(r.cap > 0 ? r.users / r.cap : r.users > 0 ? 1 : 0), `${r.users} / ${r.cap}`);
    const vb = el("td"); vb.append(bar(r.budgetUsed), `${r.volume} / ${r.budget}`);
    const recip = r.reciprocity === null ? "–" : r.reciprocity.toFixed(2);
    tr.append(num, hs, el("td", r.admin, "admin"), uc, vb, el("td", pct(r.warmup), "num"),
      el("td", recip, "num" + (r.reciprocity !== null && r.reciprocity < 0.5 ? " warn" : "")),
      el("td", r.signups, "num"), el("td", r.blocked ? "no: " + r.blocked : "yes", r.blocked ? "warn" : "ok"));
    const act = el("td", undefined, "actions");
    if (write) {
      if (r.admin === "active") act.append(actionButton("drain", "Drain"));
      if (r.admin === "draining") act.append(actionButton("activate", "Activate"));
      if (r.admin !== "retired") act.append(actionButton("retire", "Retire"), actionButton("failover", "Fail over"));
      if (r.held || r.state === "ok") act.append(actionButton("recover", "Recover"));
    }
    tr.append(act);
    frag.append(tr);
  }
  $("lines").replaceChildren(frag);
  $("shown").textContent = `showing ${rows.length} of ${st.rows.length}`;
  // How long the table took to build, for anyone timing the page.
  $("lines").dataset.renderMs = (performance.now() - t0).toFixed(1);
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.classList.toggle("asc", th.dataset.sort === st.sort.key && st.sort.dir > 0);
    th.classList.toggle("desc", th.dataset.sort === st.sort.key && st.sort.dir < 0);
  }
}

function actionButton(action, label) {
  const b = el("button", label); b.type = "button"; b.dataset.action = action; return b;
}

async function act(action, id) {
  const r = st.byId.get(id); if (!r) return;
  const path = `/v1/ops/lines/${id}`;
  try {
    switch (action) {
      case "drain": await api("PATCH", path, { admin_state: "draining" }); break;
      case "activate": await api("PATCH", path, { admin_state: "active" }); break;
      case "retire":
        if (!confirm(`Retire ${r.number}? Its ${r.users} users move to other lines; this is not undone by activating.`)) return;
        await api("PATCH", path, { admin_state: "retired" }); break;
      case "failover":
        if (!confirm(`Move all ${r.users} users off ${r.number} now?`)) return;
        await api("POST", path + "/failover"); break;
      case "recover": await api("POST", path + "/recover"); break;
      default: return;
    }
  } catch (e) {
    $("err").textContent = `${action} ${r.number} failed: ${e.message}`; return;
  }
  await refresh();
}

async function renderChart(id) {
  const r = st.byId.get(id);
  $("chart-line").textContent = r ? r.number : "";
  const data = await api("GET", `/v1/ops/lines/${id}/volume?bucket=15m&hours=24`);
  const g = $("chart"); g.replaceChildren();
  const W = 720, H = 200, L = 40, B = 20, T = 10;
  const pts = data.points; const n = pts.length;
  const top = Math.max(1, ...pts.map((p) => Math.max(p.inbound, p.outbound)));
  const x = (i) => L + (n > 1 ? (i / (n - 1)) * (W - L - 10) : 0);
  const y = (v) => H - B - (v / top) * (H - B - T);
  g.append(svg("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, stroke: "#999" }),
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }),
    svg("text", { x: L - 4, y: T + 8, "text-anchor": "end", "font-size": 10 }, top),
    svg("text", { x: L - 4, y: H - B, "text-anchor": "end", "font-size": 10 }, 0));
  for (const i of [0, Math.floor(n / 2), n - 1]) {
    if (i < 0 || !pts[i]) continue;
    g.append(svg("text", { x: x(i), y: H - 4, "text-anchor": "middle", "font-size": 10 },
      new Date(pts[i].start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
  }
  for (const [k, color] of [["inbound", "#1f77b4"], ["outbound", "#ff7f0e"]]) {
    g.append(svg("polyline", { points: pts.map((p, i) => `${x(i)},${y(p[k])}`).join(" "), fill: "none", stroke: color, "stroke-width": 1.5, class: "series-" + k }));
  }
}

function renderRotation(rot) {
  const ol = $("rotation"); ol.replaceChildren();
  for (const p of rot.picks || []) {
    const li = el("li", `${p.line.number} — ${p.reason} (${p.users_before} / ${p.cap})`);
    li.dataset.lineId = p.line.id; ol.append(li);
  }
  $("rotation-note").textContent = rot.unavailable ? "Then no line takes users: " + rot.unavailable : "";
}

function renderSingle(sf) {
  const d = $("single"); d.replaceChildren();
  if (!sf) { d.append(el("p", "Line health is not running.")); return; }
  if (sf.ok) { d.append(el("p", "Any one line can fail: the others have room for its users.", "ok")); return; }
  d.append(el("p", `Add ${sf.lines_to_add} line(s) (cap ${sf.new_line_cap} each once warmed up) to survive the worst failure.`, "bad"));
  const ul = el("ul");
  for (const w of sf.would_strand) ul.append(el("li", `${w.number}: ${w.users} users, ${w.would_strand} would be stranded`));
  d.append(ul);
}

function renderFailovers() {
  const fs = st.failovers;
  const tb = $("failovers"); tb.replaceChildren();
  const byLine = (id) => { const r = st.byId.get(id); return r ? r.number : "#" + id; };
  for (const f of fs) {
    const tr = el("tr"); tr.dataset.lineId = f.line_id;
    tr.append(el("td", fmtTime(f.started_at)), el("td", f.number), el("td", f.reason), el("td", f.cause),
      el("td", f.users_moved, "num"), el("td", f.stranded, "num" + (f.stranded > 0 ? " bad" : "")),
      el("td", f.to.map((t) => `${byLine(t.line_id)} (${t.users})`).join(", ")));
    tb.append(tr);
  }
  const g = $("timeline"); g.replaceChildren();
  const W = 720, now = Date.now(), span = 7 * 24 * 3600 * 1000;
  const x = (t) => 10 + ((t - (now - span)) / span) * (W - 20);
  g.append(svg("line", { x1: 10, y1: 30, x2: W - 10, y2: 30, stroke: "#999" }));
  for (let d = 0; d <= 7; d++) {
    const t = now - span + d * 24 * 3600 * 1000;
    g.append(svg("line", { x1: x(t), y1: 26, x2: x(t), y2: 34, stroke: "#999" }),
      svg("text", { x: x(t), y: 52, "text-anchor": "middle", "font-size": 10 }, d === 7 ? "now" : `-${7 - d} d`));
  }
  for (const f of fs) {
    const t = Date.parse(f.started_at); if (t < now - span) continue;
    const c = svg("circle", { cx: x(t), cy: 30, r: 4 + Math.min(10, Math.log10(1 + f.users_moved) * 3),
      fill: f.stranded > 0 ? "#c62828" : "#d98c00", "fill-opacity": 0.8, class: "failover-mark" });
    c.append(svg("title", {}, `${f.number} ${fmtTime(f.started_at)}: ${f.cause}, ${f.users_moved} moved, ${f.stranded} stranded`));
    g.append(c);
  }
}

function renderQuarantines(qs) {
  const tb = $("quarantines"); tb.replaceChildren();
  for (const q of qs) {
    const tr = el("tr"); const r = st.byId.get(q.line_id);
    tr.append(el("td", r ? r.number : q.line_id), el("td", q.handle), el("td", q.hits, "num"), el("td", fmtTime(q.until)));
    tb.append(tr);
  }
  if (!qs.length) tb.append(emptyRow(4, "none"));
}

function renderDeliveries(ds) {
  const tb = $("deliveries"); tb.replaceChildren();
  for (const d of ds) {
    const tr = el("tr");
    tr.append(el("td", `${d.event_type} ${d.event_id}`), el("td", d.state, d.state === "dead" ? "bad" : "warn"),
      el("td", d.attempts, "num"), el("td", d.last_error || (d.last_status ? "HTTP " + d.last_status : "")));
    tb.append(tr);
  }
  if (!ds.length) tb.append(emptyRow(4, "none"));
}

// lineName is a line's number when the table has it, else its id.
function lineName(id) {
  if (id === null || id === undefined) return "–";
  const r = st.byId.get(id); return r ? r.number : "#" + id;
}

// lookUpUser shows a user, found by user_ref or (by = "handle") by the
// phone number or email support has in hand.
async function lookUpUser(key, by = "user_ref") {
  const u = await api("GET", by === "handle" ? "/v1/ops/users?handle=" + encodeURIComponent(key) : "/v1/ops/users/" + encodeURIComponent(key));
  st.user = u.user_ref;
  $("user-summary").textContent = `${u.user_ref}${u.handle ? " (" + u.handle + ")" : ""}: on ${u.current_line.number}, home ${u.home_line.number}` +
    (u.opted_out ? ", opted out" : "");
  const v = u.volume;
  $("user-volume").textContent = `7 days: ${v.inbound} in, ${v.outbound} out (outbound as of ${fmtTime(v.outbound_as_of)})`;
  const lines = $("user-lines"); lines.replaceChildren();
  for (const l of u.line_set) {
    const tr = el("tr"); tr.dataset.lineId = l.id;
    tr.append(el("td", l.position, "num"), el("td", l.number + (l.id === u.current_line.id ? " (current)" : "")),
      el("td", l.admin_state), el("td", l.reputation), el("td", l.service_status));
    lines.append(tr);
  }
  const sel = $("reassign-line"); sel.replaceChildren();
  for (const r of st.rows) {
    if (r.blocked || r.id === u.current_line.id) continue;
    const o = el("option", `${r.number} (${r.users} / ${r.cap})`); o.value = r.id; sel.append(o);
  }
  const ledger = $("user-ledger"); ledger.replaceChildren();
  for (const e of [...u.ledger].reverse()) {
    const tr = el("tr");
    tr.append(el("td", fmtTime(e.at)), el("td", e.reason), el("td", lineName(e.from_line_id)), el("td", lineName(e.to_line_id)), el("td", e.note || ""));
    ledger.append(tr);
  }
  $("user").hidden = false;
}

function emptyRow(cols, text) {
  const tr = el("tr"); const td = el("td", text, "hint"); td.colSpan = cols; tr.append(td); return tr;
}

function wire() {
  $("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const sess = await api("POST", "/ops/session", { key: $("key").value.trim() });
      $("key").value = "";
      showSignedIn(sess); await refresh();
    } catch (err) { $("err").textContent = "Sign-in failed: " + err.message; }
  });
  $("signout").addEventListener("click", async () => {
    try { await api("DELETE", "/ops/session"); } catch (err) { /* the session may have ended already */ }
    showSignedOut("Signed out.");
  });
  $("refresh").addEventListener("click", refresh);
  $("auto").addEventListener("change", () => { clearTimeout(st.timer); if ($("auto").checked) refresh(); });
  $("sync").addEventListener("click", async () => {
    try { const r = await api("POST", "/v1/ops/lines/sync"); $("err").textContent = `Synced: ${r.listed} listed, ${r.added.length} added, ${r.missing.length} missing.`; }
    catch (err) { $("err").textContent = "Sync failed: " + err.message; return; }
    await refresh();
  });
  $("user-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await lookUpUser($("user-ref").value.trim(), $("user-by").value); $("err").textContent = ""; }
    catch (err) { $("user").hidden = true; $("err").textContent = "Look-up failed: " + err.message; }
  });
  $("reassign-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = Number($("reassign-line").value); if (!st.user || !id) return;
    if (!confirm(`Move ${st.user} to ${lineName(id)} for good?`)) return;
    try { await api("POST", `/v1/ops/users/${encodeURIComponent(st.user)}/reassign`, { line_id: id }); }
    catch (err) { $("err").textContent = `Reassign ${st.user} failed: ${err.message}`; return; }
    await refresh(); await lookUpUser(st.user);
  });
  $("search").addEventListener("input", renderLines);
  $("state-filter").addEventListener("change", renderLines);
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.addEventListener("click", () => {
      const k = th.dataset.sort;
      st.sort = { key: k, dir: st.sort.key === k ? -st.sort.dir : 1 };
      renderLines();
    });
  }
  $("lines").addEventListener("click", (e) => {
    const tr = e.target.closest("tr"); if (!tr) return;
    const id = Number(tr.dataset.lineId);
    if (e.target.dataset.action) { act(e.target.dataset.action, id); return; }
    if (e.target.classList.contains("line-link")) {
      e.preventDefault(); st.selected = id; renderLines();
      renderChart(id).catch((err) => { $("err").textContent = "Could not load the chart: " + err.message; });
    }
  });
}

async function start() {
  wire();
  try {
    const sess = await api("GET", "/ops/session");
    if (!sess.signed_in) { showSignedOut(""); return; }
    showSignedIn(sess); await refresh();
  } catch (e) { showSignedOut("Could not reach the gateway: " + e.message); }
}

start();
