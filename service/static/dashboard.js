// The live dashboard. Every piece of text that came from a user or a stream (names, reasons, rules) is put in
// the page with textContent / createTextNode, never parsed as HTML; the CSP forbids inline script besides.
"use strict";

const $ = (id) => document.getElementById(id);
const POLARITIES = ["positive", "neutral", "negative"];
const COLOURS = { positive: "#009e73", negative: "#d55e00", neutral: "#56b4e9" };
const UNCERTAIN = 0.4; // labels held below this confidence are shown as uncertain
const ON_SCREEN_S = 2; // a character seen within this many media seconds is "on screen"
// Why verification held an alert back, in words (the reasons are the names of the checks)
const REASONS = {
  shot_cuts: "too many shot cuts in the window",
  low_confidence: "too many faces read with low confidence",
  track_churn: "faces coming and going too fast",
  occluded_or_absent: "faces absent or covered too often",
  not_after_cut: "not true since the last cut",
  occlusion: "the face was covered for most of it",
};

const state = {
  stream: null, socket: null, lastId: null, retry: 1000,
  ticks: [], faces: new Map(), characters: new Map(), alerts: [], rules: [],
  characterTicks: new Map(), // character id -> its window statistics ticks
  timelineOf: "", // "" for everyone, or a character id
  frames: new Map(), // media time -> that frame's face events (the last few seconds), to box the preview
};
let apiKey = sessionStorage.getItem("apiKey");
const thumbnails = new Map(); // character id -> its <img>

/** An element with text children only: strings become text nodes, so nothing is ever parsed as markup. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function showLogin(reason) {
  $("login-reason").textContent = reason;
  $("login").hidden = false;
  $("key-input").focus();
}

/** fetch with the API key when one is set; a 401 asks for the key. Returns the parsed body and the response. */
async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (apiKey) headers["X-API-Key"] = apiKey;
  const response = await fetch(path, { ...options, headers });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) showLogin("This needs the service's API key.");
  return { response, body };
}

// ---- streams -------------------------------------------------------------------------------------------------

async function refreshStreams(select) {
  const { response, body } = await api("/streams");
  if (!response.ok) return;
  const list = $("streams");
  list.replaceChildren(...body.streams.map((s) =>
    new Option(`${s.name || s.url.split("/").pop()} (${s.status})`, s.id)));
  const pick = select || state.stream || (body.streams.length ? body.streams[body.streams.length - 1].id : null);
  if (pick) {
    list.value = pick;
    if (pick !== state.stream) watch(pick);
  }
}

function watch(id) {
  if (state.socket) { const old = state.socket; state.socket = null; old.close(); }
  Object.assign(state, { stream: id, lastId: null, retry: 1000, ticks: [], alerts: [], rules: [], timelineOf: "",
    heatmapsHaveFaces: false }); // a new stream's heatmaps are drawn again with its first faces, not 10 s later
  state.faces.clear();
  state.frames.clear();
  state.characters.clear();
  state.characterTicks.clear();
  drawAll();
  connect();
  refreshHeatmaps();
  refreshRules();
}

// ---- live messages -------------------------------------------------------------------------------------------

function connect() {
  if (!state.stream) return;
  const params = new URLSearchParams();
  if (state.lastId) params.set("since", state.lastId);
  if (apiKey) params.set("token", apiKey);
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/streams/${encodeURIComponent(state.stream)}?${params}`);
  state.socket = ws;
  ws.onopen = () => { state.retry = 1000; };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id) state.lastId = message.id;
    handle(message);
  };
  ws.onclose = (event) => {
    if (state.socket !== ws) return; // replaced by another stream
    if (event.code === 4401) { showLogin("Live updates need the service's API key."); return; }
    if (event.code === 4404) { notice("This stream no longer exists."); return; }
    if (event.code === 4408) state.lastId = null; // too far behind: start again from a fresh snapshot
    setTimeout(connect, state.retry); // resume from lastId: nothing is lost
    state.retry = Math.min(state.retry * 2, 15000);
  };
}

function handle(m) {
  switch (m.type) {
    case "snapshot":
      setStatus(m.status, m.reason);
      if (m.stats) addTick(m.stats);
      state.alerts = m.alerts.slice();
      state.characters.clear();
      for (const c of m.characters) {
        state.characters.set(c.character_id, { name: c.name, seen: c.last_seen, face: null });
        if (c.stats) addCharacterTick(c.character_id, { ...c.stats, pts: c.last_seen });
      }
      drawAll();
      break;
    case "status": setStatus(m.status, m.reason); break;
    case "face": onFace(m); break;
    case "stats":
      if (m.character_id != null) { addCharacterTick(m.character_id, m); drawCharacters(); if (state.timelineOf) drawTimeline(); }
      else if (m.track_id == null) {
        addTick(m);
        drawStats();
        if (!state.heatmapsHaveFaces && m.face_frames > 0) { state.heatmapsHaveFaces = true; refreshHeatmaps(); }
      }
      break;
    case "alert": state.alerts.push(m); if (state.alerts.length > 100) state.alerts.shift(); drawAlerts(); break;
    case "character": onCharacter(m); break;
  }
}

function setStatus(status, reason) {
  $("status").textContent = status + (reason ? ` — ${reason}` : "");
}

/** Appends a statistics tick to ``ticks`` (a new timeline when time goes back); keeps the last 900. */
function appendTick(ticks, stats) {
  const last = ticks[ticks.length - 1];
  if (last && stats.pts < last.pts) ticks.length = 0;
  ticks.push(stats);
  if (ticks.length > 900) ticks.shift();
}

function addTick(stats) { appendTick(state.ticks, stats); }

function addCharacterTick(id, stats) {
  if (!state.characterTicks.has(id)) state.characterTicks.set(id, []);
  appendTick(state.characterTicks.get(id), stats);
}

function onFace(face) {
  state.faces.set(face.track_id, face);
  const same = state.frames.get(face.pts) || [];
  state.frames.set(face.pts, [...same, face]);
  for (const pts of state.frames.keys()) if (face.pts - pts > 10 || pts > face.pts) state.frames.delete(pts);
  if (face.character_id) {
    const known = state.characters.get(face.character_id) || { name: face.character, seen: face.pts, face: null };
    known.name = face.character || known.name;
    known.seen = face.pts;
    known.face = face;
    state.characters.set(face.character_id, known);
  }
  for (const [track, f] of state.faces) if (face.pts - f.pts > 2 || face.pts < f.pts) state.faces.delete(track);
  drawFaces();
  drawCharacters();
}

function onCharacter(m) {
  if (m.event === "removed") {
    state.characters.delete(m.character_id);
    if (state.timelineOf === m.character_id) state.timelineOf = "";
  }
  else if (m.event !== "excluded") {
    const known = state.characters.get(m.character_id) || { name: m.character, seen: m.pts, face: null };
    known.name = m.character || known.name;
    state.characters.set(m.character_id, known);
  }
  drawCharacters();
}

// ---- drawing -------------------------------------------------------------------------------------------------

const percent = (v) => Math.round(v * 100);

function drawAll() {
  drawStats();
  drawFaces();
  drawCharacters();
  drawAlerts();
}

function drawStats() {
  const s = state.ticks[state.ticks.length - 1];
  if (!s) {
    $("shares").replaceChildren();
    $("window").textContent = "waiting for the first statistics…";
    drawTimeline();
    return;
  }
  $("shares").replaceChildren(...POLARITIES.map((p) => {
    const part = el("div", { class: p, title: `${p} ${percent(s.shares[p])} %` },
      percent(s.shares[p]) >= 8 ? `${p} ${percent(s.shares[p])} %` : "");
    part.style.width = `${percent(s.shares[p])}%`;
    return part;
  }));
  $("window").textContent = s.face_frames
    ? `${s.face_frames} face-frames of ${s.face_count} face(s); faces visible in ${percent(s.coverage)} % of frames; ` +
      `mostly ${s.dominant || "—"}; media ${s.window_start.toFixed(1)}–${s.window_end.toFixed(1)} s`
    : "no faces in the last 60 seconds";
  drawTimeline();
}

function drawTimeline() {
  const canvas = $("timeline"), g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 34, bottom = 20;
  g.clearRect(0, 0, w, h);
  const ticks = state.timelineOf ? state.characterTicks.get(state.timelineOf) || [] : state.ticks;
  const threshold = timelineThreshold();
  const t0 = ticks.length ? ticks[0].pts : 0, t1 = ticks.length ? Math.max(ticks[ticks.length - 1].pts, t0 + 1) : 60;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (w - left - 8);
  const y = (v) => h - bottom - v * (h - bottom - 8);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#888";
  g.strokeStyle = "#333";
  g.lineWidth = 1;
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(w - 8, y(v)); g.stroke();
    g.fillText(`${percent(v)}%`, 2, y(v) + 4);
  }
  const step = Math.max(1, Math.ceil((t1 - t0) / 8 / 5) * 5);
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) g.fillText(`${t} s`, x(t) - 8, h - 5);
  if (threshold) {
    g.strokeStyle = "#999"; g.setLineDash([4, 4]);
    g.beginPath(); g.moveTo(left, y(threshold.threshold)); g.lineTo(w - 8, y(threshold.threshold)); g.stroke();
    g.setLineDash([]);
  }
  if (!ticks.length) { g.fillStyle = "#888"; g.fillText("no statistics yet", left + 10, 20); }
  for (const key of POLARITIES) {
    g.strokeStyle = COLOURS[key]; g.lineWidth = 2; g.beginPath();
    ticks.forEach((t, i) => (i ? g.lineTo(x(t.pts), y(t.shares[key])) : g.moveTo(x(t.pts), y(t.shares[key]))));
    g.stroke();
  }
}

/** The share rule that applies to what the timeline shows (a per-person rule for a person), for its dashed line. */
function timelineThreshold() {
  const shares = state.rules.filter((r) => /^(positive|negative|neutral)_share$/.test(r.metric) && !r.per_track);
  const rule = shares.find((r) => !!r.per_character === !!state.timelineOf) || shares[0];
  $("threshold-legend").textContent = rule
    ? `alert threshold: ${rule.metric.replace("_share", "")} ${rule.op} ${percent(rule.threshold)} %` +
      ` ${rule.per_character ? "for a person" : "for everyone"}`
    : "no share alert rule";
  return rule;
}

function nameOf(characterId, fallback) {
  const known = characterId && state.characters.get(characterId);
  return (known && known.name) || fallback;
}

function drawFaces() {
  const rows = [...state.faces.values()].map((f) => {
    const uncertain = f.confidence < UNCERTAIN;
    const shown = f.occluded ? `${f.label} (held: face covered)` : uncertain ? `${f.label}?` : f.label;
    return el("tr", {},
      el("td", {}, nameOf(f.character_id, `face ${f.track_id}`)),
      el("td", uncertain || f.occluded ? { class: "uncertain", title: f.occluded ? "face covered" : "low confidence" } : {}, shown),
      el("td", {}, f.polarity),
      el("td", {}, f.confidence.toFixed(2)),
      el("td", {}, f.pts.toFixed(1)));
  });
  $("faces").replaceChildren(...rows);
}

function drawCharacters() {
  const now = Math.max(0, ...[...state.characters.values()].map((c) => c.seen || 0));
  const entries = [...state.characters.entries()].sort((a, b) => (b[1].seen || 0) - (a[1].seen || 0));
  const items = entries.map(([id, c]) => {
    const onScreen = now - (c.seen || 0) <= ON_SCREEN_S;
    const feeling = c.face ? `${c.face.confidence < UNCERTAIN ? "maybe " : ""}${c.face.label} (${c.face.polarity})` : "";
    const ticks = state.characterTicks.get(id) || [];
    const last = ticks[ticks.length - 1];
    const shares = last && last.face_frames
      ? `last 60 s: ${POLARITIES.map((p) => `${percent(last.shares[p])} % ${p}`).join(" · ")}`
      : "no statistics yet";
    return el("li", { "data-character": id, class: onScreen ? "" : "gone" },
      thumbnail(id),
      el("div", {},
        el("div", { class: "who" }, c.name || "unnamed"),
        el("div", { class: "muted" }, onScreen ? `on screen: ${feeling}` : `last seen at ${(c.seen || 0).toFixed(0)} s`),
        el("div", { class: "shares" }, shares),
        trend(ticks)),
      el("button", { type: "button", onclick: () => rename(id, c.name) }, "Name…"));
  });
  $("characters").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "nobody identified yet")]));
  const pick = $("timeline-of");
  pick.replaceChildren(new Option("everyone on screen", ""), ...entries.map(([id, c]) => new Option(c.name || id, id)));
  pick.value = state.timelineOf;
}

function thumbnail(id) {
  let thumb = thumbnails.get(id); // one element per character: redrawing must not fetch it again
  if (!thumb) {
    thumb = el("img", { src: `/characters/${encodeURIComponent(id)}/thumbnail`, alt: "" });
    thumb.addEventListener("error", () => thumb.removeAttribute("src"));
    thumbnails.set(id, thumb);
  }
  return thumb;
}

/** A small trend line of a person's positive and negative shares over their last ticks. */
function trend(ticks) {
  const canvas = el("canvas", { class: "trend", width: 120, height: 28, title: "trend: positive (green), negative (orange)" });
  const g = canvas.getContext("2d"), recent = ticks.slice(-60);
  if (recent.length < 2) return canvas;
  for (const key of ["positive", "negative"]) {
    g.strokeStyle = COLOURS[key]; g.lineWidth = 1.5; g.beginPath();
    recent.forEach((t, i) => {
      const x = (i / (recent.length - 1)) * 118 + 1, y = 27 - t.shares[key] * 26;
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
  }
  return canvas;
}

function metricText(metric, value) {
  const shown = /_share$|coverage|confidence/.test(metric) ? `${percent(value)} %` : value.toFixed(2);
  return `${metric.replace(/_/g, " ")} ${shown}`;
}

function alertItem(a) {
  const who = a.character_id ? nameOf(a.character_id, a.character || "a person") :
    a.track_id != null ? `face ${a.track_id}` : "everyone on screen";
  const limit = /_share$/.test(a.metric) ? `${percent(a.threshold)} %` : a.threshold;
  const what = `${who}: ${metricText(a.metric, a.value)} (rule: ${a.op} ${limit}), ` +
    `media ${a.window_start.toFixed(0)}–${a.window_end.toFixed(0)} s`;
  const picture = el("img", { alt: `the frame at ${a.pts.toFixed(1)} s`, loading: "lazy",
    src: `/streams/${encodeURIComponent(state.stream)}/alerts/${encodeURIComponent(a.id)}/frame.jpg` });
  picture.addEventListener("error", () => picture.remove());
  const words = a.kind === "alert" ? [el("strong", {}, "ALERT "), what] :
    [what, el("div", { class: "muted" }, `held back: ${a.reasons.map((r) => REASONS[r] || r).join("; ")}`)];
  return el("li", { class: a.kind, "data-alert": a.id }, picture, el("div", {}, ...words));
}

function drawAlerts() {
  const newest = state.alerts.slice().reverse();
  const alerts = newest.filter((a) => a.kind === "alert").map(alertItem);
  const held = newest.filter((a) => a.kind !== "alert").map(alertItem);
  $("alerts").replaceChildren(...(alerts.length ? alerts : [el("li", { class: "muted" }, "none yet")]));
  $("held").replaceChildren(...(held.length ? held : [el("li", { class: "muted" }, "none")]));
}

function ruleText(r) {
  const scope = r.per_character ? "each person" : r.per_track ? "each face track" : "everyone";
  const limit = /_share$/.test(r.metric) ? `${percent(r.threshold)} %` : r.threshold;
  return `${scope}: ${r.metric.replace(/_/g, " ")} ${r.op} ${limit} over ${r.window_s} s`;
}

function drawRules() {
  const items = state.rules.map((r, i) => el("li", {}, el("span", {}, ruleText(r)),
    el("button", { type: "button", onclick: () => saveRules(state.rules.filter((_, j) => j !== i)) }, "Remove")));
  $("rules").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "no rules: no alerts")]));
  drawTimeline();
}

async function refreshRules() {
  if (!state.stream) return;
  const { response, body } = await api(`/streams/${encodeURIComponent(state.stream)}/alert-rules`);
  if (response.ok) { state.rules = body; drawRules(); }
}

async function saveRules(rules) {
  const { response, body } = await api(`/streams/${encodeURIComponent(state.stream)}/alert-rules`, {
    method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(rules),
  });
  if (!response.ok) { notice(`Rules not changed: ${detail(body)}`); return false; }
  notice("");
  state.rules = body;
  drawRules();
  return true;
}

/** FastAPI's error detail as one line: a string, or the first validation error's message. */
function detail(body) {
  const d = body && body.detail;
  return Array.isArray(d) ? d.map((e) => e.msg).join("; ") : d || "unexpected answer";
}

/** The latest analysed frame with its faces' boxes, names and labels; polled, never replayed from history. */
async function refreshPreview() {
  if (!state.stream || document.hidden) return;
  const response = await fetch(`/streams/${encodeURIComponent(state.stream)}/preview.jpg`, { cache: "no-store" });
  if (!response.ok) return;
  const pts = Number(response.headers.get("X-Media-Time"));
  const bitmap = await createImageBitmap(await response.blob());
  const canvas = $("preview"), g = canvas.getContext("2d");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  g.drawImage(bitmap, 0, 0);
  const faces = state.frames.get(pts) || [];
  g.lineWidth = Math.max(2, canvas.width / 320);
  g.font = `${Math.max(12, Math.round(canvas.width / 50))}px system-ui, sans-serif`;
  for (const f of faces) {
    const sx = canvas.width / f.frame_size[0], sy = canvas.height / f.frame_size[1];
    const [x1, y1, x2, y2] = f.box;
    const uncertain = f.confidence < UNCERTAIN || f.occluded;
    g.strokeStyle = COLOURS[f.polarity];
    g.setLineDash(uncertain ? [6, 4] : []);
    g.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    const state = f.occluded ? " (covered)" : uncertain ? "?" : "";
    const text = `${nameOf(f.character_id, `face ${f.track_id}`)}: ${f.label}${state}`;
    const width = g.measureText(text).width + 8, height = parseInt(g.font, 10) + 6;
    g.fillStyle = "rgba(0, 0, 0, 0.7)";
    g.fillRect(x1 * sx, Math.max(0, y1 * sy - height), width, height);
    g.fillStyle = "#fff";
    g.fillText(text, x1 * sx + 4, Math.max(height - 6, y1 * sy - 6)); // canvas text: drawn, never parsed
  }
  g.setLineDash([]);
  canvas.dataset.pts = String(pts);
  canvas.dataset.faces = String(faces.length);
}

function refreshHeatmaps() {
  if (!state.stream) return;
  const stamp = Date.now(), id = encodeURIComponent(state.stream);
  const who = state.timelineOf ? `&character=${encodeURIComponent(state.timelineOf)}` : ""; // as the timeline
  swapImage("spatial", `/streams/${id}/heatmap?kind=spatial&window=60${who}&t=${stamp}`);
  swapImage("temporal", `/streams/${id}/heatmap?kind=temporal${who}&t=${stamp}`);
  swapImage("saliency", `/streams/${id}/heatmap?kind=saliency&window=60${who}&t=${stamp}`);
}

const latestImage = new Map(); // image id -> the URL asked for last

/** Loads ``url`` off screen and only then puts it in place of the image ``id``: no blank while it renders,
 * and an older request that finishes late (another person was chosen meanwhile) is dropped. */
function swapImage(id, url) {
  latestImage.set(id, url);
  const next = new Image();
  next.onload = () => {
    if (latestImage.get(id) !== url) return;
    const current = $(id);
    next.id = id;
    next.alt = current.alt;
    current.replaceWith(next);
  };
  next.src = url;
}

// ---- actions -------------------------------------------------------------------------------------------------

async function rename(id, current) {
  const name = prompt("Name this person (seen in every stream from now on):", current || "");
  if (!name || !name.trim()) return;
  const { response, body } = await api(`/characters/${encodeURIComponent(id)}`, {
    method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: name.trim() }),
  });
  if (!response.ok) { notice(`Could not rename: ${detail(body)}`); return; }
  const known = state.characters.get(id);
  if (known) known.name = body.name;
  drawAll();
}

$("add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const payload = { url: $("url").value.trim() };
  if ($("name").value.trim()) payload.name = $("name").value.trim();
  if ($("fps").value) payload.analysis_fps = Number($("fps").value);
  const { response, body } = await api("/streams", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload),
  });
  if (!response.ok) { notice(`Not added: ${detail(body)}`); return; }
  notice("");
  refreshStreams(body.id);
});

$("stop").addEventListener("click", async () => {
  if (!state.stream) return;
  const { response, body } = await api(`/streams/${encodeURIComponent(state.stream)}`, { method: "DELETE" });
  if (!response.ok) notice(`Could not stop: ${detail(body)}`);
});

$("key").addEventListener("click", () => showLogin("Enter the service's API key."));
$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey = $("key-input").value || null;
  if (apiKey) sessionStorage.setItem("apiKey", apiKey); else sessionStorage.removeItem("apiKey");
  $("key-input").value = "";
  $("login").hidden = true;
  if (state.stream) { const id = state.stream; state.stream = null; refreshStreams(id); } else refreshStreams();
});
$("streams").addEventListener("change", (event) => watch(event.target.value));
$("timeline-of").addEventListener("change", (event) => {
  state.timelineOf = event.target.value;
  drawTimeline();
  refreshHeatmaps();
});
$("rule").addEventListener("submit", async (event) => {
  event.preventDefault();
  const scope = $("rule-scope").value;
  const rule = { metric: $("rule-metric").value, op: $("rule-op").value, threshold: Number($("rule-threshold").value),
    window_s: Number($("rule-window").value), per_character: scope === "character", per_track: scope === "track" };
  await saveRules([...state.rules, rule]);
});

refreshStreams();
setInterval(() => refreshStreams(), 5000);
setInterval(refreshHeatmaps, 10000);
setInterval(() => refreshPreview().catch(() => {}), 400);
