// minirtc web console: plain JavaScript, no framework. Every page is
// rendered from the REST API (docs/rest-api.md) with the API key of the
// signed-in operator (HTTP Basic auth; the key lives in sessionStorage only).
// Live updates: GET /v1/events, a server-sent event stream read with fetch
// so that the Authorization header goes along (EventSource cannot send it).
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const state = { base: "", auth: null, keyId: "", route: null, refreshing: false, pending: false, chart: null, nodeHist: [], stream: null };
  window.consoleState = state; // for tests and debugging

  // ---- DOM helpers (text only: client strings never become HTML) ----
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat(Infinity)) {
      if (k == null || k === false) continue;
      el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }
  const enc = encodeURIComponent;
  const fmtTime = (t) => (t ? new Date(t).toLocaleTimeString([], { hour12: false }) : "");
  const fmtDate = (t) => (t ? new Date(t).toLocaleString([], { hour12: false }) : "");
  const kbps = (b) => (b / 1000).toFixed(0) + " kbps";
  const bytes = (n) => (n > 1 << 30 ? (n / (1 << 30)).toFixed(2) + " GiB" : (n / (1 << 20)).toFixed(1) + " MiB");
  function toast(msg) {
    const s = $("#status");
    s.textContent = msg;
    s.classList.add("show");
    clearTimeout(toast.t);
    toast.t = setTimeout(() => s.classList.remove("show"), 3000);
  }
  function pill(text, cls) { return h("span", { class: "pill " + (cls || "") }, text); }
  function table(headers, rows, empty) {
    if (!rows.length) return h("p", { class: "empty" }, empty || "Nothing yet.");
    return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))), h("tbody", {}, rows));
  }

  // ---- API ----
  async function api(path, opts) {
    opts = opts || {};
    const headers = { Authorization: state.auth, "X-Requested-With": "minirtc-console" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(state.base + path, { method: opts.method || "GET", headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    if (resp.status === 401 && !opts.signingIn) { signOut("Your API key was refused; sign in again."); throw new Error("unauthorized"); }
    if (opts.raw) { if (!resp.ok) throw new Error("HTTP " + resp.status); return resp; }
    const text = await resp.text();
    const body = text ? JSON.parse(text) : null;
    if (!resp.ok) { const e = new Error((body && body.reason) || "HTTP " + resp.status); e.status = resp.status; throw e; }
    return body;
  }

  // ---- sign in ----
  function showSignIn(msg) {
    $("#signin-view").hidden = false;
    $("#nav").hidden = true;
    $("#session").hidden = true;
    $("#view").replaceChildren();
    $("#signin-error").textContent = msg || "";
    $("#key-id").focus();
  }
  async function signIn(id, secret) {
    state.auth = "Basic " + btoa(unescape(encodeURIComponent(id + ":" + secret)));
    try {
      await api("/v1/apps?pageSize=1", { signingIn: true });
    } catch (e) {
      state.auth = null;
      throw e;
    }
    sessionStorage.setItem("minirtc.auth", state.auth);
    sessionStorage.setItem("minirtc.keyId", id);
    state.keyId = id;
    started();
  }
  function signOut(msg) {
    sessionStorage.removeItem("minirtc.auth");
    sessionStorage.removeItem("minirtc.keyId");
    state.auth = null;
    if (state.stream) state.stream.abort();
    showSignIn(msg);
  }
  function started() {
    $("#signin-view").hidden = true;
    $("#nav").hidden = false;
    $("#session").hidden = false;
    $("#who").textContent = "key " + state.keyId;
    if (!location.hash || location.hash === "#/") location.hash = "#/apps";
    route();
    liveStream();
  }

  // ---- live updates ----
  async function liveStream() {
    const live = $("#live");
    while (state.auth) {
      const ctrl = new AbortController();
      state.stream = ctrl;
      try {
        const resp = await fetch(state.base + "/v1/events", { headers: { Authorization: state.auth, "X-Requested-With": "minirtc-console" }, signal: ctrl.signal });
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        live.classList.add("on");
        $("#live-text").textContent = "live";
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let ev = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) ev = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            onLiveEvent(ev, data ? JSON.parse(data) : null);
          }
        }
      } catch (e) {
        if (!state.auth) return;
      }
      live.classList.remove("on");
      $("#live-text").textContent = "reconnecting";
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  state.events = [];
  function onLiveEvent(kind, data) {
    if (kind === "channel") {
      state.events.push(data);
      if (state.events.length > 200) state.events.shift();
    }
    if (kind === "channel" || kind === "tick") refresh();
  }

  // ---- router ----
  const routes = [
    [/^#\/apps$/, appsPage],
    [/^#\/apps\/([^/]+)$/, appPage],
    [/^#\/apps\/([^/]+)\/channels\/([^/]+)$/, channelPage],
    [/^#\/apps\/([^/]+)\/channels\/([^/]+)\/members\/(\d+)$/, memberPage],
    [/^#\/node$/, nodePage],
  ];
  function route() {
    if (!state.auth) return showSignIn();
    const hash = location.hash || "#/apps";
    for (const [re, page] of routes) {
      const m = hash.match(re);
      if (m) {
        state.route = { page, args: m.slice(1).map(decodeURIComponent), hash };
        state.chart = null;
        for (const a of document.querySelectorAll("[data-nav]")) {
          if (hash.startsWith("#/" + a.dataset.nav)) a.setAttribute("aria-current", "page");
          else a.removeAttribute("aria-current");
        }
        $("#view").replaceChildren(h("p", { class: "muted" }, "Loading…"));
        refresh(true);
        $("#main").focus();
        return;
      }
    }
    location.hash = "#/apps";
  }
  // refresh re-renders the current page; calls during a refresh coalesce.
  async function refresh(first) {
    if (!state.route || !state.auth) return;
    if (state.refreshing) { state.pending = true; return; }
    state.refreshing = true;
    const r = state.route;
    try {
      await r.page(...r.args, first === true);
    } catch (e) {
      if (e.message !== "unauthorized" && r === state.route) $("#view").replaceChildren(h("div", { class: "card" }, h("p", { class: "error", role: "alert" }, "Could not load this page: " + e.message)));
    } finally {
      state.refreshing = false;
      if (state.pending) { state.pending = false; refresh(); }
    }
  }
  // render swaps the view's content, keeping focus and scroll where they were.
  function render(...nodes) {
    const active = document.activeElement && document.activeElement.id;
    const y = window.scrollY;
    // What the operator typed or chose survives the live redraws.
    const values = {};
    for (const el of $("#view").querySelectorAll("input[id], select[id]")) values[el.id] = el.value;
    $("#view").replaceChildren(...nodes);
    for (const [id, v] of Object.entries(values)) {
      const el = document.getElementById(id);
      if (el && $("#view").contains(el)) el.value = v;
    }
    if (active && document.getElementById(active) && $("#view").contains(document.getElementById(active))) document.getElementById(active).focus();
    window.scrollTo(0, y);
  }
  function crumbs(...parts) {
    return h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, parts.map((p, i) => [i ? " / " : "", p]));
  }
  async function act(what, fn) {
    try { await fn(); toast(what); } catch (e) { toast(what + " failed: " + e.message); }
    refresh();
  }

  // ---- pages ----
  async function appsPage() {
    const apps = (await api("/v1/apps?pageSize=500")).items;
    const rows = apps.map((a) => h("tr", {},
      h("td", {}, h("a", { href: "#/apps/" + enc(a.appId) }, a.name || "(no name)")),
      h("td", { class: "mono" }, a.appId),
      h("td", {}, a.enabled ? pill("enabled", "ok") : pill("disabled", "off")),
      h("td", {}, fmtDate(a.createdAt))));
    const form = h("form", { class: "inline", id: "create-app", onsubmit: (e) => {
      e.preventDefault();
      const name = $("#new-app-name").value.trim();
      act("App created", async () => { await api("/v1/apps", { method: "POST", body: { name } }); $("#new-app-name").value = ""; });
    } }, h("div", {}, h("label", { for: "new-app-name" }, "New app name"), h("input", { id: "new-app-name", maxlength: "64", required: true })), h("button", { type: "submit" }, "Create app"));
    render(h("h1", {}, "Apps"), h("p", { class: "muted" }, apps.length + " app(s) on this node's store"),
      h("section", { class: "card", "aria-labelledby": "apps-h" }, h("h2", { id: "apps-h" }, "All apps"), table(["Name", "App id", "State", "Created"], rows, "No app yet.")),
      h("section", { class: "card", "aria-labelledby": "create-h" }, h("h2", { id: "create-h" }, "Create an app"), form));
  }

  async function appPage(appId) {
    const [a, chans, hooks] = await Promise.all([
      api("/v1/apps/" + enc(appId)),
      api("/v1/apps/" + enc(appId) + "/channels?pageSize=500"),
      api("/v1/apps/" + enc(appId) + "/webhooks").catch(() => null),
    ]);
    const certShown = state.certShown === appId;
    const actions = h("div", { class: "row-actions" },
      a.enabled ? h("button", { type: "button", class: "secondary", id: "disable-app", onclick: () => act("App disabled", () => api("/v1/apps/" + enc(appId) + "/disable", { method: "POST" })) }, "Disable")
        : h("button", { type: "button", id: "enable-app", onclick: () => act("App enabled", () => api("/v1/apps/" + enc(appId) + "/enable", { method: "POST" })) }, "Enable"),
      h("button", { type: "button", class: "danger", id: "rotate-cert", onclick: () => {
        if (confirm("Rotate the certificate? Tokens signed with the current one are refused from the next join on.")) act("Certificate rotated", () => api("/v1/apps/" + enc(appId) + "/rotate-certificate", { method: "POST" }));
      } }, "Rotate certificate"));
    const info = h("section", { class: "card", "aria-labelledby": "app-h" }, h("h2", { id: "app-h" }, "App"),
      table(["Field", "Value"], [
        h("tr", {}, h("td", {}, "App id"), h("td", { class: "mono" }, a.appId)),
        h("tr", {}, h("td", {}, "Certificate"), h("td", { class: "mono" }, certShown ? a.appCertificate : "••••••••", " ",
          h("button", { type: "button", class: "secondary", onclick: () => { state.certShown = certShown ? null : appId; refresh(); } }, certShown ? "Hide" : "Show"))),
        h("tr", {}, h("td", {}, "State"), h("td", {}, a.enabled ? pill("enabled", "ok") : pill("disabled", "off"))),
        h("tr", {}, h("td", {}, "Tokens"), h("td", {}, a.allowNoToken ? "optional (allowNoToken)" : "required")),
      ]), h("div", { class: "actions" }, actions));
    const chRows = chans.items.map((c) => h("tr", {},
      h("td", {}, h("a", { href: "#/apps/" + enc(appId) + "/channels/" + enc(c.name) }, c.name)),
      h("td", {}, c.profile), h("td", {}, c.members), h("td", {}, c.broadcasters), h("td", {}, c.publishing)));
    const sections = [crumbs(h("a", { href: "#/apps" }, "Apps"), a.name || a.appId), h("h1", {}, a.name || a.appId), info,
      h("section", { class: "card", "aria-labelledby": "ch-h" }, h("h2", { id: "ch-h" }, "Live channels"),
        table(["Channel", "Profile", "Members", "Broadcasters", "Publishing"], chRows, "No live channel on this node."))];
    if (hooks) sections.push(webhooksSection(appId, hooks));
    render(...sections);
  }

  // Webhook endpoints (GET/POST/DELETE /v1/apps/{app}/webhooks, POST
  // .../webhooks/{id}/test): shown only when the node answers that endpoint.
  function webhooksSection(appId, hooks) {
    const items = Array.isArray(hooks) ? hooks : hooks.items || [];
    const path = "/v1/apps/" + enc(appId) + "/webhooks";
    const rows = items.map((w) => h("tr", { "data-webhook": w.id },
      h("td", { class: "mono" }, w.url || ""), h("td", {}, fmtDate(w.createdAt)),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "secondary", "data-test-webhook": w.id, "aria-label": "Send a test event to " + w.url,
          onclick: () => act("Test event sent", () => api(path + "/" + enc(w.id) + "/test", { method: "POST" })) }, "Send test event"),
        h("button", { type: "button", class: "secondary", "aria-label": "Remove " + w.url,
          onclick: () => { if (confirm("Remove the endpoint " + w.url + "?")) act("Endpoint removed", () => api(path + "/" + enc(w.id), { method: "DELETE" })); } }, "Remove"))));
    const form = h("form", { class: "inline", id: "add-webhook", onsubmit: (e) => {
      e.preventDefault();
      act("Endpoint added", async () => {
        const made = await api(path, { method: "POST", body: { url: $("#hook-url").value.trim() } });
        state.newHook = made && made.secret ? { appId, url: made.url, secret: made.secret } : null;
        $("#hook-url").value = "";
      });
    } }, h("div", {}, h("label", { for: "hook-url" }, "Endpoint URL"), h("input", { id: "hook-url", type: "url", required: true, placeholder: "https://your-back-end/ncs" })),
      h("button", { type: "submit" }, "Add endpoint"));
    const secret = state.newHook && state.newHook.appId === appId
      ? h("p", { class: "hint", role: "status" }, h("strong", {}, "Signing secret of " + state.newHook.url + " (shown once):"), h("code", {}, state.newHook.secret)) : null;
    return h("section", { class: "card", id: "webhooks", "aria-labelledby": "hooks-h" }, h("h2", { id: "hooks-h" }, "Webhook endpoints"),
      table(["URL", "Added", ""], rows, "No endpoint."), secret, form);
  }

  async function channelPage(appId, ch) {
    const base = "/v1/apps/" + enc(appId) + "/channels/" + enc(ch);
    const [members, streams] = await Promise.all([api(base + "/members?pageSize=500"), api("/v1/streams?pageSize=500&appId=" + enc(appId) + "&channel=" + enc(ch))]);
    const mRows = members.items.map((m) => h("tr", { "data-uid": m.uid },
      h("td", {}, h("a", { href: "#/apps/" + enc(appId) + "/channels/" + enc(ch) + "/members/" + m.uid }, String(m.uid))),
      h("td", {}, m.role), h("td", {}, [m.client.kind || "?", m.client.sdkVersion ? " " + m.client.sdkVersion : ""].join("")),
      h("td", {}, m.publishing ? pill("publishing", "ok") : pill("no", "off"), m.detached ? [" ", pill("detached", "warning")] : null),
      h("td", {}, fmtTime(m.joinedAt))));
    const track = (t) => (t ? t.codec + (t.width ? " " + t.width + "×" + t.height : "") + (t.sampleRate ? " " + t.sampleRate / 1000 + " kHz" : "") : "—");
    const sRows = streams.items.map((s) => h("tr", { "data-stream": s.uid },
      h("td", {}, s.uid), h("td", {}, s.live ? pill("live", "ok") : s.paused ? pill("paused", "warning") : pill("waiting", "off")),
      h("td", {}, track(s.video)), h("td", {}, track(s.audio)), h("td", {}, kbps(s.bitrate)), h("td", {}, s.frameRate.toFixed(1)),
      h("td", {}, s.readers.length ? s.readers.map((r) => r.protocol + (r.viewer ? " (" + r.viewer + ")" : "")).join(", ") : "none")));
    render(crumbs(h("a", { href: "#/apps" }, "Apps"), h("a", { href: "#/apps/" + enc(appId) }, appId), ch), h("h1", {}, "Channel " + ch),
      h("section", { class: "card", "aria-labelledby": "m-h" }, h("h2", { id: "m-h" }, "Members (" + members.items.length + ")"),
        table(["Uid", "Role", "Client", "Publishing", "Joined"], mRows, "The channel is empty.")),
      h("section", { class: "card", "aria-labelledby": "s-h" }, h("h2", { id: "s-h" }, "Streams"),
        table(["Uid", "State", "Video", "Audio", "Bitrate", "FPS", "Readers"], sRows, "No stream.")));
  }

  async function memberPage(appId, ch, uid) {
    const base = "/v1/apps/" + enc(appId) + "/channels/" + enc(ch) + "/members/" + uid;
    const [tl, logs] = await Promise.all([api(base + "/timeline"), api(base + "/logs")]);
    const m = tl.member;
    const summary = h("section", { class: "card", "aria-labelledby": "sum-h" }, h("h2", { id: "sum-h" }, "Member"),
      m ? table(["Role", "Client", "Device", "Publishing", "Stream", "Joined"], [h("tr", {},
        h("td", {}, m.role), h("td", {}, (m.client.kind || "?") + " " + (m.client.sdkVersion || "")), h("td", {}, [m.client.device, m.client.os].filter(Boolean).join(" · ") || "—"),
        h("td", { id: "member-publishing" }, m.publishing ? pill("publishing", "ok") : pill("no", "off")),
        h("td", {}, m.stream ? (m.stream.video ? m.stream.video.codec + " " + m.stream.video.width + "×" + m.stream.video.height + ", " : "") + kbps(m.stream.bitrate) + ", " + m.stream.frameRate.toFixed(1) + " fps, " + m.stream.readers.length + " reader(s)" : "—"),
        h("td", {}, fmtDate(m.joinedAt)))])
        : h("p", { id: "member-gone", class: "muted" }, "Not in the channel now (the timeline below is what was recorded)."));
    const hints = h("section", { class: "card", id: "hints", "aria-labelledby": "hints-h" }, h("h2", { id: "hints-h" }, "Diagnosis"),
      tl.hints.length ? tl.hints.map((x) => h("div", { class: "hint", "data-hint": x.id }, h("strong", {}, x.title), x.text)) : h("p", { class: "empty" }, "No known problem detected."));
    const kick = h("form", { class: "inline", id: "kick-form", onsubmit: (e) => {
      e.preventDefault();
      const ban = parseInt($("#ban-duration").value, 10);
      if (!confirm(ban ? "Kick uid " + uid + " and ban it from the channel?" : "Kick uid " + uid + "?")) return;
      act(ban ? "Member kicked and banned" : "Member kicked", () => api(base + "/kick", { method: "POST", body: { banSeconds: ban } }));
    } }, h("div", {}, h("label", { for: "ban-duration" }, "Ban for"), h("select", { id: "ban-duration" },
      h("option", { value: "0" }, "no ban (kick only)"), h("option", { value: "300" }, "5 minutes"), h("option", { value: "3600" }, "1 hour"), h("option", { value: "86400" }, "1 day"))),
      h("button", { type: "submit", class: "danger", id: "kick", disabled: !m }, "Kick"));
    const sevCls = (s) => (s === "error" ? "error" : s === "warning" ? "warning" : "");
    const rows = tl.items.slice().reverse().map((it) => h("tr", { class: "sev-" + it.severity, "data-source": it.source, "data-code": it.code || "" },
      h("td", { class: "mono" }, fmtTime(it.at)), h("td", {}, it.source + (it.target ? " → " + it.target : "")),
      h("td", {}, it.kind === "state" ? pill(String(it.code), sevCls(it.severity)) : pill(it.kind, sevCls(it.severity))),
      h("td", {}, it.meaning || "", it.message ? h("div", { class: "muted" }, "“" + it.message + "”") : null),
      h("td", {}, it.fix || "")));
    const logRows = logs.items.map((f) => h("tr", { "data-log": f.name }, h("td", {}, fmtDate(f.received)), h("td", {}, (f.size / 1024).toFixed(1) + " KiB"),
      h("td", { class: "row-actions" },
        h("button", { type: "button", class: "secondary", "data-view": f.name, onclick: () => viewLog(appId, f) }, "View"),
        h("button", { type: "button", class: "secondary", onclick: () => downloadLog(appId, f) }, "Download"))));
    const chartBox = h("div", { class: "chart", id: "net-chart", role: "img", "aria-label": "Network quality over time: video bitrate, audio bitrate and net quality level of the pusher and player" });
    const logBox = state.logView && state.logView.key === base ? state.logView.el : h("div", { id: "log-view" });
    render(crumbs(h("a", { href: "#/apps" }, "Apps"), h("a", { href: "#/apps/" + enc(appId) }, appId), h("a", { href: "#/apps/" + enc(appId) + "/channels/" + enc(ch) }, ch), "uid " + uid),
      h("h1", {}, "Member " + uid), summary, hints,
      h("div", { class: "cols" },
        h("section", { class: "card", "aria-labelledby": "net-h" }, h("h2", { id: "net-h" }, "Network"), chartBox,
          tl.pusherNet.length + tl.playerNet.length ? null : h("p", { class: "empty" }, "No network report yet.")),
        h("section", { class: "card", "aria-labelledby": "kick-h" }, h("h2", { id: "kick-h" }, "Moderation"),
          h("p", { class: "muted" }, "Kicking removes the member and stops its streams; a ban also refuses its joins to this channel for the chosen time."), kick)),
      h("section", { class: "card", "aria-labelledby": "tl-h" }, h("h2", { id: "tl-h" }, "Diagnostics timeline"),
        table(["Time", "Source", "Code / event", "Meaning", "Fix"], rows, "Nothing recorded yet.")),
      h("section", { class: "card", "aria-labelledby": "logs-h" }, h("h2", { id: "logs-h" }, "Uploaded SDK logs"),
        table(["Received", "Size", ""], logRows, "No log uploaded by this member."), logBox));
    state.logView = { key: base, el: logBox };
    drawNetChart(chartBox, tl);
  }

  function drawNetChart(el, tl) {
    const pts = [];
    for (const p of tl.pusherNet) pts.push(["pusher", p]);
    for (const p of tl.playerNet) pts.push(["player", p]);
    if (!pts.length || !window.uPlot) return;
    pts.sort((a, b) => new Date(a[1].at) - new Date(b[1].at));
    const xs = [], pv = [], pa = [], pq = [], yv = [], yq = [];
    for (const [src, p] of pts) {
      xs.push(new Date(p.at).getTime() / 1000);
      const s = p.stats || {};
      const isP = src === "pusher";
      pv.push(isP && s.videoBitrate != null ? s.videoBitrate : null);
      pa.push(isP && s.audioBitrate != null ? s.audioBitrate : null);
      pq.push(isP && s.netQualityLevel != null ? s.netQualityLevel : null);
      yv.push(!isP && s.videoBitrate != null ? s.videoBitrate : null);
      yq.push(!isP && s.netQualityLevel != null ? s.netQualityLevel : null);
    }
    const width = Math.max(300, el.clientWidth || 560);
    const opts = {
      width, height: 240, spanGaps: true,
      scales: { x: { time: true }, kbps: { auto: true }, q: { range: [0, 6] } },
      axes: [{}, { scale: "kbps", label: "kbps" }, { scale: "q", side: 1, label: "quality (1 best .. 6 down)", grid: { show: false } }],
      series: [{},
        { label: "pusher video kbps", scale: "kbps", stroke: "#3656e8", width: 2 },
        { label: "pusher audio kbps", scale: "kbps", stroke: "#12b76a", width: 2 },
        { label: "pusher quality", scale: "q", stroke: "#f79009", dash: [4, 4] },
        { label: "player video kbps", scale: "kbps", stroke: "#7a5af8", width: 2 },
        { label: "player quality", scale: "q", stroke: "#d92d20", dash: [4, 4] }],
    };
    el.replaceChildren();
    state.chart = new uPlot(opts, [xs, pv, pa, pq, yv, yq], el);
  }

  async function viewLog(appId, f) {
    const resp = await api("/v1/apps/" + enc(appId) + "/logs/" + enc(f.day) + "/" + enc(f.name), { raw: true });
    const text = await resp.text();
    const box = state.logView.el;
    box.replaceChildren(h("h3", {}, "Log of " + fmtDate(f.received)), h("pre", { class: "log", id: "log-text", tabindex: "0", "aria-label": "Log content" }, text));
    $("#log-text").focus();
  }
  async function downloadLog(appId, f) {
    const resp = await api("/v1/apps/" + enc(appId) + "/logs/" + enc(f.day) + "/" + enc(f.name) + "?download=1", { raw: true });
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: f.name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function nodePage() {
    const o = await api("/v1/node");
    const now = Date.now() / 1000;
    const hist = state.nodeHist;
    hist.push([now, o.cpuPercent, o.memoryRss / (1 << 20), o.tcpConnections]);
    while (hist.length > 300) hist.shift();
    const stat = (k, v) => h("div", { class: "stat" }, h("div", { class: "k" }, k), h("div", { class: "v" }, v));
    const chartBox = h("div", { class: "chart", id: "node-chart", role: "img", "aria-label": "CPU, memory and connections over time" });
    render(h("h1", {}, "Node"), h("p", { class: "muted" }, "minirtc " + o.version + " · up since " + fmtDate(o.startedAt)),
      h("div", { class: "grid", id: "node-stats" },
        stat("CPU", o.cpuPercent.toFixed(1) + " %"), stat("Memory (RSS)", bytes(o.memoryRss)), stat("Heap in use", bytes(o.heapInUse)),
        stat("TCP connections", o.tcpConnections), stat("Gateway sessions", o.gatewaySessions), stat("Channels", o.channels),
        stat("Members", o.members), stat("Streams", o.streams), stat("Publishers", o.publishers), stat("Readers", o.readers),
        stat("Transcoders", o.transcoders < 0 ? "n/a" : o.transcoders), stat("Goroutines", o.goroutines), stat("CPU cores", o.cpus)),
      h("section", { class: "card", style: null, "aria-labelledby": "nc-h" }, h("h2", { id: "nc-h" }, "Over time (this tab)"), chartBox));
    if (window.uPlot && hist.length) {
      const cols = [0, 1, 2, 3].map((i) => hist.map((r) => r[i]));
      new uPlot({ width: Math.max(300, chartBox.clientWidth || 800), height: 220, scales: { x: { time: true } },
        axes: [{}, { scale: "y", label: "CPU % / MiB" }, { scale: "c", side: 1, label: "connections", grid: { show: false } }],
        series: [{}, { label: "CPU %", stroke: "#3656e8", width: 2 }, { label: "RSS MiB", stroke: "#12b76a", width: 2 }, { label: "connections", scale: "c", stroke: "#f79009", width: 2 }] },
        cols, chartBox);
    }
  }

  // ---- start ----
  async function boot() {
    try {
      const cfg = await (await fetch("config.json")).json();
      state.base = cfg.apiBase || "";
    } catch (e) { /* same origin root */ }
    $("#signin").addEventListener("submit", async (e) => {
      e.preventDefault();
      $("#signin-error").textContent = "";
      $("#signin-button").disabled = true;
      try {
        await signIn($("#key-id").value.trim(), $("#key-secret").value);
        $("#key-secret").value = "";
      } catch (err) {
        $("#signin-error").textContent = "Sign-in failed: " + err.message;
      } finally {
        $("#signin-button").disabled = false;
      }
    });
    $("#signout").addEventListener("click", () => signOut());
    window.addEventListener("hashchange", route);
    state.auth = sessionStorage.getItem("minirtc.auth");
    state.keyId = sessionStorage.getItem("minirtc.keyId") || "";
    if (state.auth) started(); else showSignIn();
  }
  boot();
})();
