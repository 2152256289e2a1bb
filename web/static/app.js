// sorterd's operator page: plain JavaScript against the JSON API, no
// build step and nothing fetched from outside the station.
"use strict";

const $ = (id) => document.getElementById(id);

// api calls the JSON API with the bearer token the operator entered (if
// the station has one); a 401 shows the token field.
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  const tok = localStorage.getItem("sorterd-token");
  if (tok) headers["Authorization"] = "Bearer " + tok;
  const res = await fetch(path, Object.assign({}, opts, { headers }));
  if (res.status === 401) $("tokenform").hidden = false;
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res;
}

function showError(err) {
  const e = $("error");
  if (!err) { e.hidden = true; return; }
  e.textContent = String(err.message || err);
  e.hidden = false;
}

function el(tag, attrs = {}, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") n.className = v; else if (k.startsWith("on")) n.addEventListener(k.slice(2), v); else n.setAttribute(k, v);
  }
  for (const k of kids) n.append(k);
  return n;
}

const pct = (v) => (100 * v).toFixed(1) + "%";

function setupToken() {
  $("tokenform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    localStorage.setItem("sorterd-token", $("token").value);
    location.reload();
  });
}

// ---- classify ----
function classifyPage() {
  const drop = $("drop"), file = $("file");
  const send = async (f) => {
    showError(null);
    $("result").hidden = true;
    const form = new FormData();
    form.append("image", f, f.name);
    try {
      const r = await (await api("/api/classify?top=6", { method: "POST", body: form })).json();
      $("preview").src = URL.createObjectURL(f);
      $("label").textContent = r.label;
      $("score").textContent = pct(r.score);
      $("bin").textContent = r.bin ? (r.action === "reject" ? "→ reject bin " + r.bin + " (below the threshold " + r.threshold.toFixed(2) + ")" : "→ bin " + r.bin) : "";
      const top = $("top");
      top.replaceChildren(...r.top.map((s) => el("li", { "data-label": s.label },
        el("span", {}, s.label), el("span", { class: "bar" }, el("span", { style: "width:" + pct(s.score) })), el("span", {}, pct(s.score)))));
      const views = 1 + (r.tta || []).length;
      $("timing").textContent = "inference " + (r.latency_ms.preprocess + r.latency_ms.invoke).toFixed(1) + " ms (total " +
        r.latency_ms.total.toFixed(1) + " ms, " + views + " view" + (views > 1 ? "s" : "") + ", " + r.delegate.active + ")";
      $("result").hidden = false;
    } catch (e) { showError(e); }
  };
  file.addEventListener("change", () => file.files[0] && send(file.files[0]));
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault(); drop.classList.remove("over");
    if (ev.dataTransfer.files[0]) send(ev.dataTransfer.files[0]);
  });
}

// ---- live ----
function livePage() {
  let frameURL = null, busy = false;
  // The status is fetched right after each frame, so the bins table is
  // never behind the decision the frame's caption names (polled apart,
  // it lagged the frame by up to a second).
  const frame = async () => {
    if (busy) return;
    busy = true;
    try {
      const res = await api("/api/frame");
      const blob = await res.blob();
      if (frameURL) URL.revokeObjectURL(frameURL);
      frameURL = URL.createObjectURL(blob);
      $("frame").src = frameURL;
      $("frametime").textContent = "frame at " + new Date(res.headers.get("X-Frame-Time")).toLocaleTimeString();
    } catch (e) { $("frametime").textContent = String(e.message); }
    await status();
    busy = false;
  };
  let binsDrawn = false;
  const status = async () => {
    try {
      const s = await (await api("/api/status")).json();
      showError(null);
      const st = s.station || {};
      const state = $("state");
      state.textContent = !s.running ? "no station" : st.paused ? "paused" : s.healthy ? "running" : "stalled";
      state.className = "pill " + (st.paused ? "warn" : s.healthy ? "ok" : "bad");
      const rows = [];
      const cam = s.links.camera, mq = s.links.mqtt;
      if (cam) rows.push(["camera", cam.connected ? "connected" : "disconnected" + (cam.last_error ? ": " + cam.last_error : "")]);
      rows.push(["MQTT", mq ? (mq.connected ? "connected" : "disconnected") + ", outbox " + mq.outbox : "off"]);
      if (s.problem) rows.push(["problem", s.problem]);
      rows.push(["frames", (st.frames || 0) + " (" + (st.fps || 0).toFixed(1) + "/s)"]);
      rows.push(["inference", (st.inference_p50_ms || 0).toFixed(1) + " ms p50"]);
      $("links").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-key": k }, v)]));
      const tbody = $("bins").tBodies[0];
      if (!binsDrawn) {
        tbody.replaceChildren(...s.bins.map((b) => el("tr", {}, el("td", {}, b), el("td", { "data-bin": b }, "0"),
          el("td", {}, el("button", { onclick: () => testFlap(b) }, "test flap")))));
        binsDrawn = true;
      }
      for (const b of s.bins) {
        const td = tbody.querySelector('[data-bin="' + b + '"]');
        if (td) td.textContent = (st.items_per_bin || {})[b] || 0;
      }
    } catch (e) { showError(e); }
  };
  const testFlap = async (b) => {
    try {
      await api("/api/flaps/" + encodeURIComponent(b) + "/test", { method: "POST" });
      $("flapresult").textContent = "flap " + b + " opened";
    } catch (e) { showError(e); }
  };
  $("pause").addEventListener("click", () => api("/api/pause", { method: "POST" }).then(status, showError));
  $("resume").addEventListener("click", () => api("/api/resume", { method: "POST" }).then(status, showError));
  frame();
  setInterval(frame, 500);
}

// ---- recent items ----
function itemsPage() {
  let labels = [];
  // The frame with the item's box drawn, and what the model saw.
  const thumb = async (img, id, query) => {
    try {
      img.src = URL.createObjectURL(await (await api("/api/events/" + encodeURIComponent(id) + "/image?" + query)).blob());
    } catch (e) { img.alt = "no frame"; }
  };
  const correct = async (id, sel, note) => {
    try {
      const r = await (await api("/api/events/" + encodeURIComponent(id) + "/label", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ label: sel.value }),
      })).json();
      note.textContent = "saved as " + r.label;
      note.title = r.file;
      counts();
    } catch (e) { showError(e); }
  };
  const counts = async () => {
    try {
      const s = await (await api("/api/status")).json();
      const c = (s.station && s.station.corrections) || {};
      const parts = Object.keys(c).sort().map((k) => k + " " + c[k]);
      $("corrections").textContent = parts.length ? "Corrections since start: " + parts.join(", ") : "No corrections yet.";
    } catch (e) { showError(e); }
  };
  const load = async () => {
    try {
      const s = await (await api("/api/status")).json();
      labels = s.labels;
      const items = await (await api("/api/events?limit=50")).json();
      $("empty").hidden = items.length > 0;
      const tbody = $("items").tBodies[0];
      tbody.replaceChildren(...items.map((it) => {
        const img = el("img", { alt: "frame" });
        const crop = el("img", { alt: "what the model saw", class: "crop" });
        if (it.has_image) {
          thumb(img, it.id, "thumb=1");
          if (it.box) thumb(crop, it.id, "kind=crop");
        }
        const sel = el("select", { "aria-label": "correct class" }, ...labels.map((l) => el("option", { value: l }, l)));
        sel.value = it.corrected || it.label;
        const note = el("span", { class: "saved" }, it.corrected ? "saved as " + it.corrected : "");
        return el("tr", { "data-id": it.id },
          el("td", { class: "pics" }, img, it.box ? crop : ""), el("td", {}, new Date(it.ts).toLocaleTimeString()), el("td", {}, it.label),
          el("td", {}, pct(it.score)), el("td", {}, it.bin + (it.action === "reject" ? " (reject)" : "")),
          el("td", {}, sel, " ", el("button", { onclick: () => correct(it.id, sel, note) }, "Save"), " ", note));
      }));
    } catch (e) { showError(e); }
  };
  load(); counts();
}

document.addEventListener("DOMContentLoaded", () => {
  setupToken();
  ({ classify: classifyPage, live: livePage, items: itemsPage })[document.body.dataset.page]();
});
