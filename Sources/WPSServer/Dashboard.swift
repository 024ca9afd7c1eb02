import WPSHTTP

/// The dashboard at `/admin/` (protocol-spec/admin.md §6): one self-contained page, its script
/// and styles inline, so it works offline. It holds no data; its script asks for an admin token
/// and calls the admin routes with it.
enum Dashboard {
    /// Strict: nothing loads from elsewhere; the script may only talk to this origin.
    static let contentSecurityPolicy =
        "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; "
        + "script-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        + "frame-ancestors 'none'"

    static let body: [UInt8] = Array(html.utf8)

    static let headers: HTTPHeaders = [
        "Content-Security-Policy": contentSecurityPolicy, "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    ]

    static let html = ##"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>wps-server dashboard</title>
        <link rel="icon" href="data:,">
        <style>
        :root{--bg:#f4f6f9;--card:#fff;--ink:#1c2430;--mute:#6b7785;--line:#e3e7ee;--blue:#2f6fde;--green:#1f9d6b;--amber:#c77d0a;--red:#d0413c;--violet:#7a4fd1}
        *{box-sizing:border-box}
        body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
        header{display:flex;align-items:center;gap:16px;padding:12px 24px;background:#16202c;color:#fff;flex-wrap:wrap}
        header h1{font-size:17px;margin:0;font-weight:600;letter-spacing:.2px}
        header .meta{color:#9fb0c3;font-size:12px}
        header form{margin-left:auto;display:flex;gap:8px;align-items:center}
        input{font:inherit;padding:6px 9px;border:1px solid var(--line);border-radius:6px;background:#fff;color:var(--ink);min-width:0}
        header input{width:260px;border-color:#2c3a4b;background:#0f1720;color:#fff}
        button{font:inherit;padding:6px 12px;border:0;border-radius:6px;background:var(--blue);color:#fff;cursor:pointer}
        button.ghost{background:transparent;color:var(--blue);border:1px solid var(--line)}
        #status{font-size:12px;padding:3px 9px;border-radius:10px;background:#2c3a4b;color:#cbd5e1}
        #status.ok{background:#164d39;color:#bdf2d9}#status.bad{background:#5b1f1d;color:#ffd0cd}
        main{padding:20px 24px;display:grid;grid-template-columns:repeat(12,1fr);gap:16px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;min-width:0}
        .card h2{font-size:12px;text-transform:uppercase;letter-spacing:.7px;color:var(--mute);margin:0 0 10px;font-weight:600}
        .s3{grid-column:span 3}.s4{grid-column:span 4}.s5{grid-column:span 5}.s6{grid-column:span 6}.s7{grid-column:span 7}.s8{grid-column:span 8}.s12{grid-column:span 12}
        @media (max-width:1000px){.s3,.s4,.s5,.s6,.s7,.s8{grid-column:span 12}}
        .big{font-size:40px;font-weight:650;line-height:1.1;font-variant-numeric:tabular-nums}
        .sub{color:var(--mute);font-size:12px;margin-top:4px}
        .bars{display:flex;flex-direction:column;gap:5px;margin-top:6px}
        .bar{display:grid;grid-template-columns:110px 1fr 44px;gap:8px;align-items:center;font-size:12px}
        .bar .track{height:8px;background:#edf0f5;border-radius:4px;overflow:hidden}
        .bar .fill{height:100%;background:var(--blue);border-radius:4px}
        .bar .n{text-align:right;font-variant-numeric:tabular-nums}
        .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
        svg{display:block;width:100%;height:160px}
        .legend{display:flex;gap:14px;font-size:12px;color:var(--mute);margin-bottom:4px}
        .legend i{display:inline-block;width:10px;height:3px;border-radius:2px;margin-right:5px;vertical-align:middle}
        table{width:100%;border-collapse:collapse;font-size:12.5px}
        th{text-align:left;color:var(--mute);font-weight:600;border-bottom:1px solid var(--line);padding:5px 6px}
        td{border-bottom:1px solid #f0f2f6;padding:5px 6px;font-variant-numeric:tabular-nums;max-width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
        tr.click{cursor:pointer}tr.click:hover td{background:#f5f8ff}
        .mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
        .list{max-height:260px;overflow:auto}
        .empty{color:var(--mute);font-size:12px;padding:8px 0}
        .tag{display:inline-block;padding:1px 7px;border-radius:9px;font-size:11px;font-weight:600;background:#eef1f6;color:#3b4654}
        .t-err{background:#fde8e7;color:var(--red)}.t-warn{background:#fdf1dc;color:var(--amber)}.t-ok{background:#e2f5ec;color:var(--green)}.t-msg{background:#e8effd;color:var(--blue)}.t-life{background:#f0eafb;color:var(--violet)}
        .kv{display:grid;grid-template-columns:repeat(3,1fr);gap:10px;margin-top:10px}
        .kv div{background:#f7f9fc;border-radius:8px;padding:8px 10px;min-width:0}
        .kv b{display:block;font-size:18px;font-variant-numeric:tabular-nums;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
        .kv span{font-size:11px;color:var(--mute);text-transform:uppercase;letter-spacing:.5px}
        .row{display:flex;gap:8px;flex-wrap:wrap;align-items:center}
        .row input{flex:1 1 120px}
        #trace{height:340px;overflow:auto;border:1px solid var(--line);border-radius:8px;margin-top:10px}
        #trace .ev{display:grid;grid-template-columns:86px 120px 1fr;gap:8px;padding:3px 8px;border-bottom:1px solid #f3f4f7;font-size:12px}
        #trace .ev:nth-child(odd){background:#fbfcfd}
        .err{color:var(--red);font-size:12px;margin-top:6px}
        </style>
        </head>
        <body>
        <header>
          <h1>wps-server</h1><span class="meta" id="meta">dashboard</span>
          <span id="status">not connected</span>
          <form id="auth" autocomplete="off">
            <input id="token" type="password" placeholder="admin token (wps-server token --admin)" aria-label="admin token">
            <button id="connect" type="submit">Connect</button>
            <button id="forget" class="ghost" type="button">Forget</button>
          </form>
        </header>
        <main>
          <section class="card s3"><h2>Connections</h2><div class="big" id="total">–</div><div class="sub" id="waiting">waiting for resume: –</div></section>
          <section class="card s3"><h2>Client messages / s</h2><div class="big" id="rate-in">–</div><div class="sub">5 s average, from the live trace (sends, events, invokes, joins)</div></section>
          <section class="card s3"><h2>REST sends / s</h2><div class="big" id="rate-out">–</div><div class="sub">5 s average, from the live trace (restSend)</div></section>
          <section class="card s3"><h2>Trace events / s</h2><div class="big" id="rate-all">–</div><div class="sub" id="problems-count">problems seen: 0</div></section>

          <section class="card s6"><h2>Connections, last 5 minutes</h2><div class="legend"><span><i style="background:var(--blue)"></i>connected</span><span><i style="background:var(--amber)"></i>waiting for resume</span></div><svg id="chart-conn" viewBox="0 0 600 160" preserveAspectRatio="none"></svg></section>
          <section class="card s6"><h2>Event rates, last 5 minutes</h2><div class="legend"><span><i style="background:var(--green)"></i>client messages/s</span><span><i style="background:var(--violet)"></i>REST sends/s</span><span><i style="background:#9aa5b1"></i>all events/s</span></div><svg id="chart-rate" viewBox="0 0 600 160" preserveAspectRatio="none"></svg></section>

          <section class="card s4"><h2>Per hub</h2><div class="bars" id="hubs"><div class="empty">no data yet</div></div></section>
          <section class="card s4"><h2>Per event loop</h2><div class="bars" id="loops"><div class="empty">no data yet</div></div></section>
          <section class="card s12" id="cluster-card" hidden><h2>Cluster nodes</h2><div class="sub" id="cluster-meta"></div><div class="bars" id="cluster-nodes"></div><div class="sub">bars: seconds left of each node's lease (renewed every third of it)</div></section>
          <section class="card s4"><h2>Recent problems and recoveries</h2><div class="list" id="problems"><div class="empty">nothing yet</div></div></section>

          <section class="card s7"><h2>Slowest connections (most queued bytes)</h2>
            <table><thead><tr><th>connection</th><th>hub</th><th>user</th><th>loop</th><th>queued</th><th>unacked</th><th>RTT</th></tr></thead><tbody id="slowest"></tbody></table>
          </section>
          <section class="card s5"><h2>Connection inspector</h2>
            <form class="row" id="inspect-form" autocomplete="off"><input id="inspect-id" class="mono" placeholder="connection id"><button id="inspect-go" type="submit">Inspect</button></form>
            <div id="inspector"><div class="empty">enter a connection id, or click a row</div></div>
          </section>

          <section class="card s12"><h2>Live trace</h2>
            <form class="row" id="filter-form" autocomplete="off">
              <input id="f-hub" placeholder="hub"><input id="f-user" placeholder="user"><input id="f-connection" class="mono" placeholder="connection"><input id="f-group" placeholder="group">
              <button type="submit">Apply filters</button><button type="button" class="ghost" id="pause">Pause</button><button type="button" class="ghost" id="clear">Clear</button>
              <span class="sub" id="trace-state"></span>
            </form>
            <div id="trace" class="mono"></div>
          </section>
        </main>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        const KEY = "wps-admin-token";
        const HISTORY = 300;
        let token = sessionStorage.getItem(KEY) || "";
        let serverTimer = null, slowTimer = null, inspectTimer = null, tickTimer = null;
        let statsSocket = null, traceSocket = null, paused = false;
        let inspected = "";
        const series = {conn: [], waiting: [], rin: [], rout: [], rall: []};
        const counts = {in: 0, out: 0, all: 0};
        let problemCount = 0;
        const IN_TYPES = new Set(["joinGroup", "leaveGroup", "sendToGroup", "event", "invoke", "cancelInvocation"]);

        function el(tag, cls, text) {
          const e = document.createElement(tag);
          if (cls) e.className = cls;
          if (text !== undefined && text !== null) e.textContent = String(text);
          return e;
        }
        function setStatus(text, kind) { const s = $("status"); s.textContent = text; s.className = kind || ""; }
        function fmtBytes(n) { if (n == null) return "–"; if (n < 1024) return n + " B"; if (n < 1048576) return (n / 1024).toFixed(1) + " KiB"; return (n / 1048576).toFixed(1) + " MiB"; }
        function fmtRtt(us) { if (us == null) return "–"; return us < 1000 ? us + " µs" : (us / 1000).toFixed(1) + " ms"; }
        function fmtAge(ms) { const s = Math.floor(ms / 1000); if (s < 60) return s + " s"; if (s < 3600) return Math.floor(s / 60) + " min"; return (s / 3600).toFixed(1) + " h"; }
        function fmtRate(x) { return x >= 10 ? Math.round(x).toString() : x.toFixed(1); }

        async function api(path) {
          const r = await fetch(path, {headers: {"Authorization": "Bearer " + token}, cache: "no-store"});
          if (r.status === 401) { setStatus("token refused", "bad"); stop(); throw new Error("unauthorized"); }
          const body = await r.json().catch(() => null);
          return {status: r.status, body};
        }

        function bars(target, rows) {
          const box = $(target); box.replaceChildren();
          if (!rows.length) { box.append(el("div", "empty", "none")); return; }
          const max = Math.max(1, ...rows.map((r) => r[1]));
          for (const [name, n] of rows) {
            const row = el("div", "bar"), track = el("div", "track"), fill = el("div", "fill");
            fill.style.width = (100 * n / max) + "%"; track.append(fill);
            const label = el("span", "name", name); label.title = name;
            row.append(label, track, el("span", "n", n)); box.append(row);
          }
        }

        let lastServer = null;
        async function pollServer() {
          try {
            const {status, body} = await api("/admin/server");
            if (status !== 200 || !body) return;
            lastServer = body;
            setStatus("live", "ok");
            $("total").textContent = body.connections;
            $("waiting").textContent = "waiting for resume: " + body.waitingForResume;
            $("meta").textContent = "v" + body.version + " · up " + fmtAge(body.uptimeSeconds * 1000) + " · " + body.loops.length + " loops";
            bars("hubs", body.hubs.map((h) => [h.hub, h.connections]));
            bars("loops", body.loops.map((l) => ["loop " + l.loop, l.connections]));
            const cluster = body.cluster;
            $("cluster-card").hidden = !cluster;
            if (cluster) {
              $("cluster-meta").textContent = "cluster " + cluster.name + " · this node " + cluster.nodeId + " · Redis " + cluster.redis + " · link " + (cluster.linkUp ? "up" : "DOWN");
              $("cluster-meta").className = cluster.linkUp ? "sub" : "sub bad";
              if (cluster.nodes) bars("cluster-nodes", cluster.nodes.map((n) => [n.nodeId + (n.nodeId === cluster.nodeId ? " (this)" : ""), Math.max(0, Math.round(n.leaseLeftMillis / 1000))]));
            }
          } catch (e) { if (e.message !== "unauthorized") setStatus("server unreachable", "bad"); }
        }

        async function pollSlowest() {
          try {
            const {status, body} = await api("/admin/connections?slowest=10");
            if (status !== 200 || !body) return;
            const tb = $("slowest"); tb.replaceChildren();
            if (!body.connections.length) { const tr = el("tr"); const td = el("td", "empty", "no attached connections"); td.colSpan = 7; tr.append(td); tb.append(tr); return; }
            for (const c of body.connections) {
              const tr = el("tr", "click");
              tr.append(el("td", "mono", c.connectionId), el("td", null, c.hub), el("td", null, c.userId ?? "–"), el("td", null, c.loop),
                el("td", null, fmtBytes(c.queuedBytes)), el("td", null, c.unackedMessages), el("td", null, fmtRtt(c.pingRoundTripMicros)));
              tr.addEventListener("click", () => inspect(c.connectionId));
              tb.append(tr);
            }
          } catch (e) { /* status shows it */ }
        }

        function inspect(id) {
          inspected = id.trim(); $("inspect-id").value = inspected;
          clearInterval(inspectTimer);
          if (!inspected) return;
          loadInspector();
          inspectTimer = setInterval(loadInspector, 2000);
        }
        async function loadInspector() {
          const box = $("inspector");
          try {
            const {status, body} = await api("/admin/connections/" + encodeURIComponent(inspected));
            box.replaceChildren();
            if (status === 404) {
              // Gone for good: stop asking.
              clearInterval(inspectTimer); inspectTimer = null;
              box.append(el("div", "err", "no such connection (ended or never existed)")); box.firstChild.id = "insp-missing";
              return;
            }
            if (status !== 200 || !body) { box.append(el("div", "err", (body && body.message) || ("error " + status))); return; }
            const head = el("div", "sub");
            head.append(el("span", body.attached ? "tag t-ok" : "tag t-warn", body.attached ? "attached" : "waiting for resume"), document.createTextNode(" " + body.hub + " · " + body.protocol + " · loop " + body.loop + " · age " + fmtAge(body.ageMillis)));
            const kv = el("div", "kv");
            const cell = (label, value, id) => { const d = el("div"); const b = el("b", null, value); if (id) b.id = id; b.title = String(value); d.append(b, el("span", null, label)); kv.append(d); };
            cell("user", body.userId ?? "–", "insp-user");
            cell("queued", fmtBytes(body.queuedBytes), "insp-queued");
            cell("unacked", body.unackedMessages, "insp-unacked");
            cell("resumes", body.resumes, "insp-resumes");
            cell("ping RTT", fmtRtt(body.pingRoundTripMicros), "insp-rtt");
            cell("last ack", body.lastSequenceAck ?? "–", "insp-ack");
            const groups = el("div", "sub", "groups: " + (body.groups.length ? body.groups.join(", ") : "none"));
            groups.id = "insp-groups";
            box.append(head, kv, groups);
          } catch (e) { /* status shows it */ }
        }

        function problemKind(ev) {
          switch (ev.type) {
            case "upgradeRefused": case "resumeRefused": return ["refused", "t-err"];
            case "slowConsumer": return ["slow consumer", "t-warn"];
            case "detached": return [ev.cause === "slowConsumer" ? "slow consumer" : "detached", "t-warn"];
            case "resumed": return ["recovered", "t-ok"];
            case "ended": return (ev.cause === "clientClosed" || ev.cause === "closedByServer") ? null : ["ended: " + ev.cause, "t-err"];
            case "ack": return ev.success === false ? ["ack error", "t-err"] : null;
            default: return null;
          }
        }
        function summary(ev) {
          const skip = new Set(["type", "time", "loop", "hub", "connectionId", "userId"]);
          const parts = [];
          if (ev.hub) parts.push(ev.hub);
          if (ev.userId) parts.push("user=" + ev.userId);
          if (ev.connectionId) parts.push("conn=" + ev.connectionId);
          for (const [k, v] of Object.entries(ev)) if (!skip.has(k) && v !== null && v !== undefined) parts.push(k + "=" + (typeof v === "object" ? JSON.stringify(v) : v));
          return parts.join("  ");
        }
        function typeClass(t) {
          if (IN_TYPES.has(t) || t === "restSend" || t === "ack" || t === "sequenceAck") return "tag t-msg";
          if (t === "upgradeRefused" || t === "resumeRefused") return "tag t-err";
          if (t === "slowConsumer" || t === "detached") return "tag t-warn";
          return "tag t-life";
        }
        function clock(ms) { const d = new Date(ms); return d.toTimeString().slice(0, 8) + "." + String(d.getMilliseconds()).padStart(3, "0"); }

        function addProblem(ev, kind) {
          const box = $("problems");
          if (!problemCount) box.replaceChildren();
          problemCount++;
          $("problems-count").textContent = "problems seen: " + problemCount;
          const row = el("div", "sub");
          row.append(el("span", "tag " + kind[1], kind[0]), document.createTextNode(" " + clock(ev.time) + "  " + summary(ev)));
          box.prepend(row);
          while (box.children.length > 50) box.lastChild.remove();
        }
        function addTrace(ev) {
          if (paused) return;
          const box = $("trace");
          const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
          const row = el("div", "ev");
          row.dataset.type = ev.type;
          const tag = el("span", null); tag.append(el("span", typeClass(ev.type), ev.type));
          row.append(el("span", "sub", clock(ev.time)), tag, el("span", "name", summary(ev)));
          row.lastChild.title = JSON.stringify(ev);
          if (ev.connectionId) { row.style.cursor = "pointer"; row.addEventListener("click", () => inspect(ev.connectionId)); }
          box.append(row);
          while (box.children.length > 500) box.firstChild.remove();
          if (stick) box.scrollTop = box.scrollHeight;
        }

        function filters() {
          const q = new URLSearchParams();
          for (const f of ["hub", "user", "connection", "group"]) { const v = $("f-" + f).value.trim(); if (v) q.set(f, v); }
          return q;
        }
        function traceUrl(q) {
          q.set("access_token", token);
          return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/admin/trace?" + q.toString();
        }
        function openStats() {
          if (statsSocket) statsSocket.close();
          const ws = new WebSocket(traceUrl(new URLSearchParams()));
          statsSocket = ws;
          ws.onmessage = (m) => {
            let ev; try { ev = JSON.parse(m.data); } catch (e) { return; }
            counts.all++;
            if (IN_TYPES.has(ev.type)) counts.in++;
            if (ev.type === "restSend") counts.out++;
            const kind = problemKind(ev); if (kind) addProblem(ev, kind);
            if (!traceSocket) addTrace(ev);
          };
          ws.onclose = () => { if (statsSocket === ws) { statsSocket = null; $("trace-state").textContent = "trace closed; reconnecting…"; setTimeout(() => { if (token && !statsSocket && serverTimer) openStats(); }, 2000); } };
          ws.onopen = () => { $("trace-state").textContent = filters().toString() ? "" : "showing every event"; };
        }
        function openFiltered() {
          if (traceSocket) { const old = traceSocket; traceSocket = null; old.close(); }
          const q = filters();
          if (!q.toString()) { $("trace-state").textContent = "showing every event"; return; }
          const label = "filtered: " + q.toString().replace(/&/g, ", ");
          const ws = new WebSocket(traceUrl(q));
          traceSocket = ws;
          ws.onmessage = (m) => { try { addTrace(JSON.parse(m.data)); } catch (e) { /* not JSON */ } };
          ws.onopen = () => { $("trace-state").textContent = label; };
          ws.onclose = () => { if (traceSocket === ws) $("trace-state").textContent = label + " (closed)"; };
        }

        function line(points, max, color, w, h) {
          const n = points.length;
          if (n < 2) return "";
          const step = w / (HISTORY - 1), x0 = w - (n - 1) * step;
          let d = "";
          points.forEach((v, i) => { d += (i ? "L" : "M") + (x0 + i * step).toFixed(1) + " " + (h - 4 - (h - 22) * v / max).toFixed(1); });
          // A faint area under the line, then the line itself.
          const area = d + "L" + w + " " + (h - 4) + "L" + x0.toFixed(1) + " " + (h - 4) + "Z";
          return '<path d="' + area + '" fill="' + color + '" fill-opacity="0.08" stroke="none"/>'
            + '<path d="' + d + '" fill="none" stroke="' + color + '" stroke-width="2" vector-effect="non-scaling-stroke" stroke-linejoin="round"/>';
        }
        function niceMax(v) { if (v <= 4) return 4; const p = Math.pow(10, Math.floor(Math.log10(v))); for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p; return v; }
        function chart(id, lines) {
          const w = 600, h = 160, svg = $(id);
          const max = niceMax(Math.max(0, ...lines.flatMap((l) => l[0])));
          let out = "";
          for (const f of [0, 0.5, 1]) {
            const y = (h - 4 - (h - 22) * f).toFixed(1);
            out += '<line x1="0" x2="' + w + '" y1="' + y + '" y2="' + y + '" stroke="#e9edf3" vector-effect="non-scaling-stroke"/>';
            out += '<text x="4" y="' + (y - 3) + '" font-size="10" fill="#8a96a3">' + fmtRate(max * f) + "</text>";
          }
          out += '<text x="' + (w - 4) + '" y="' + (h - 8) + '" font-size="10" fill="#8a96a3" text-anchor="end">now</text>';
          out += '<text x="' + (w / 2) + '" y="' + (h - 8) + '" font-size="10" fill="#c0c8d2" text-anchor="middle">5 minutes</text>';
          for (const [pts, color] of lines) out += line(pts, max, color, w, h);
          svg.innerHTML = out;
        }
        function push(arr, v) { arr.push(v); if (arr.length > HISTORY) arr.shift(); }
        function tick() {
          push(series.rin, counts.in); push(series.rout, counts.out); push(series.rall, counts.all);
          // The big numbers average the last five seconds, so they do not flicker.
          const avg = (a) => { const t = a.slice(-5); return t.reduce((x, y) => x + y, 0) / Math.max(1, t.length); };
          $("rate-in").textContent = fmtRate(avg(series.rin)); $("rate-out").textContent = fmtRate(avg(series.rout));
          $("rate-all").textContent = fmtRate(avg(series.rall));
          counts.in = counts.out = counts.all = 0;
          if (lastServer) { push(series.conn, lastServer.connections); push(series.waiting, lastServer.waitingForResume); }
          chart("chart-conn", [[series.conn, "#2f6fde"], [series.waiting, "#c77d0a"]]);
          chart("chart-rate", [[series.rall, "#9aa5b1"], [series.rin, "#1f9d6b"], [series.rout, "#7a4fd1"]]);
        }

        function stop() {
          clearInterval(serverTimer); clearInterval(slowTimer); clearInterval(inspectTimer); clearInterval(tickTimer);
          serverTimer = slowTimer = inspectTimer = tickTimer = null;
          const s = statsSocket, t = traceSocket; statsSocket = traceSocket = null;
          if (s) s.close(); if (t) t.close();
        }
        function start() {
          stop();
          if (!token) { setStatus("enter an admin token", ""); return; }
          setStatus("connecting…", "");
          pollServer(); pollSlowest();
          serverTimer = setInterval(pollServer, 1000);
          slowTimer = setInterval(pollSlowest, 2000);
          tickTimer = setInterval(tick, 1000);
          openStats(); openFiltered();
          if (inspected) inspect(inspected);
        }

        $("auth").addEventListener("submit", (e) => { e.preventDefault(); token = $("token").value.trim(); if (token) sessionStorage.setItem(KEY, token); start(); });
        $("forget").addEventListener("click", () => { sessionStorage.removeItem(KEY); token = ""; $("token").value = ""; stop(); setStatus("not connected", ""); });
        $("inspect-form").addEventListener("submit", (e) => { e.preventDefault(); inspect($("inspect-id").value); });
        $("filter-form").addEventListener("submit", (e) => { e.preventDefault(); $("trace").replaceChildren(); if (serverTimer) openFiltered(); });
        $("pause").addEventListener("click", () => { paused = !paused; $("pause").textContent = paused ? "Resume" : "Pause"; });
        $("clear").addEventListener("click", () => $("trace").replaceChildren());
        if (token) { $("token").value = token; start(); }
        tick();
        </script>
        </body>
        </html>
        """##
}
