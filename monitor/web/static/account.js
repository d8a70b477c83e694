/* marginwatch dashboard: one account — figures, risk chart, positions, collateral, what-if, alerts. */
"use strict";

(() => {
  const { el, svg, num, pct, levelOf, native, distance, dataAge, streams, gauge, figure } = MW;
  const NAME = decodeURIComponent(location.pathname.slice("/account/".length));
  const WINDOW_MS = 6 * 3600 * 1000; // the chart's span, as the server's ring buffer
  const MAX_POINTS = 4000; // the page's own bound: older points are thinned past it
  const COLOURS = { warning: "#d29922", critical: "#f0883e", emergency: "#f85149" };
  let points = []; // [[t_ms, risk|null], ...] oldest first
  let levels = [];
  let alerts = []; // newest last
  let last = null; // the latest account entry
  let movesBuilt = false;

  document.getElementById("name").textContent = NAME;
  document.title = `marginwatch — ${NAME}`;

  // ------------------------------------------------------------------ bounded history
  function addPoint(t, r) {
    if (points.length && t <= points[points.length - 1][0]) return;
    points.push([t, r === undefined ? null : r]);
    const cutoff = t - WINDOW_MS;
    let drop = 0;
    while (drop < points.length && points[drop][0] < cutoff) drop++;
    if (drop) points.splice(0, drop);
    if (points.length > MAX_POINTS) { // keep each pair's higher risk in the older half
      const half = Math.floor(points.length / 2), thinned = [];
      for (let i = 0; i + 1 < half; i += 2) {
        const a = points[i], b = points[i + 1];
        thinned.push((b[1] ?? -1) > (a[1] ?? -1) ? b : a);
      }
      points = thinned.concat(points.slice(half - (half % 2)));
    }
  }

  function mergeAlerts(list) {
    const seen = new Set(alerts.map((a) => `${a.t}/${a.kind}/${a.level}`));
    for (const a of list || []) {
      const key = `${a.t}/${a.kind}/${a.level}`;
      if (!seen.has(key)) { alerts.push(a); seen.add(key); }
    }
    alerts.sort((a, b) => a.t - b.t);
    if (alerts.length > 200) alerts = alerts.slice(-200);
  }

  // ------------------------------------------------------------------ chart
  function chart() {
    const W = 900, H = 280, L = 46, R = 112, T = 10, B = 24;
    const box = document.getElementById("chart");
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
      "aria-label": "risk over time", "data-points": String(points.length) });
    const finite = points.filter((p) => p[1] !== null).map((p) => p[1]);
    const top = Math.max(1.1, ...finite.map((r) => r * 1.05));
    const t1 = points.length ? points[points.length - 1][0] : Date.now();
    const t0 = Math.min(points.length ? points[0][0] : t1, t1 - 60 * 1000);
    const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
    const y = (r) => T + (1 - r / top) * (H - T - B);
    g.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#0f1419" }));
    for (let r = 0; r <= top; r += 0.25) {
      g.appendChild(svg("line", { x1: L, x2: W - R, y1: y(r), y2: y(r), stroke: "#1f2731" }));
      const lab = svg("text", { x: L - 6, y: y(r) + 4, "text-anchor": "end", fill: "#8a96a3", "font-size": 11 });
      lab.textContent = `${Math.round(r * 100)} %`;
      g.appendChild(lab);
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) * i) / 4;
      const lab = svg("text", { x: x(t), y: H - 6, "text-anchor": "middle", fill: "#8a96a3", "font-size": 11 });
      const short = t1 - t0 < 15 * 60 * 1000; // under 15 min: show seconds
      lab.textContent = new Date(t).toLocaleTimeString([], short
        ? { hour: "2-digit", minute: "2-digit", second: "2-digit" } : { hour: "2-digit", minute: "2-digit" });
      g.appendChild(lab);
    }
    const named = ["warning", "critical", "emergency"];
    const lines = levels.map((l, i) => [l, named[i], COLOURS[named[i]]]).concat([[1, "liquidation", "#ffffff"]]);
    for (const [l, name, colour] of lines) {
      g.appendChild(svg("line", { x1: L, x2: W - R, y1: y(l), y2: y(l), stroke: colour,
        "stroke-dasharray": "6 4", "stroke-width": 1.5, "data-level": name }));
      const lab = svg("text", { x: W - R + 4, y: y(l) + 4, fill: colour, "font-size": 11 });
      lab.textContent = `${name} ${Math.round(l * 100)} %`;
      g.appendChild(lab);
    }
    let d = "", pen = false;
    for (const [t, r] of points) {
      if (r === null) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(Math.min(r, top)).toFixed(1)}`;
      pen = true;
    }
    g.appendChild(svg("path", { d, fill: "none", stroke: "#58a6ff", "stroke-width": 2, "data-series": "risk" }));
    for (const a of alerts) {
      if (a.t < t0 || a.risk === null || a.risk === undefined) continue;
      const m = svg("circle", { cx: x(a.t), cy: y(Math.min(a.risk, top)), r: 5,
        fill: COLOURS[a.level] || "#8a96a3", stroke: "#000", "data-alert": a.kind });
      const tip = svg("title");
      tip.textContent = `${new Date(a.t).toLocaleString()} ${a.kind} ${a.level || ""} ${pct(a.risk)}`;
      m.appendChild(tip);
      g.appendChild(m);
    }
    box.replaceChildren(g);
  }

  // ------------------------------------------------------------------ tables
  function summary(acc, t) {
    const lvl = levelOf(acc), nat = native(acc), unit = acc.unit || "", dist = distance(acc);
    const age = dataAge(acc, t), st = streams(acc);
    const box = el("article", { class: "card", "data-account": acc.account });
    const title = el("h3", {}, `${acc.mode} · ${acc.environment} · ${acc.state}`);
    title.appendChild(el("span", { class: "badge lvl-" + lvl, "data-field": "level" }, lvl));
    box.appendChild(title);
    const big = el("div", { class: "big lvl-" + lvl, "data-field": "risk", "data-value": String(acc.risk) }, "risk " + pct(acc.risk));
    box.appendChild(big);
    box.appendChild(gauge(acc));
    const dl = el("dl");
    const rows = [
      [nat.label, figure("native", nat.value, nat.text)],
      ["equity", figure("equity", acc.equity, `${num(acc.equity, 2)} ${unit}`)],
      ["maint. margin", figure("maint_margin", acc.maint_margin, `${num(acc.maint_margin, 2)} ${unit}`)],
      ["to liquidation", figure("distance", dist.uniform,
        dist.uniform === null ? "no liquidation on a fall" : `${pct(dist.uniform, 1)} all non-stable prices`)],
      ["data age", figure("age", age, age === null ? "—" : `${age.toFixed(1)} s`)],
      ["streams", figure("streams", st.up, st.text)],
    ];
    for (const [u, d] of Object.entries((acc.distance || {}).by_underlying || {})) {
      rows.push([`${u} alone`, figure("distance-" + u, d.down, `${pct(d.down, 1)} down · ${pct(d.up, 1, true)} up`)]);
    }
    for (const [label, dd] of rows) { dl.appendChild(el("dt", {}, label)); dl.appendChild(dd); }
    if (acc.last_error) { dl.appendChild(el("dt", {}, "problem")); dl.appendChild(el("dd", { class: "error" }, acc.last_error)); }
    box.appendChild(dl);
    document.getElementById("summary").replaceChildren(box);
  }

  function fill(id, rows) {
    const body = document.querySelector(`#${id} tbody`);
    const next = document.createDocumentFragment();
    for (const cells of rows) {
      const tr = el("tr");
      for (const [text, cls, value] of cells) {
        const td = el("td", cls ? { class: cls } : {}, text);
        if (value !== undefined && value !== null) td.setAttribute("data-value", String(value));
        tr.appendChild(td);
      }
      next.appendChild(tr);
    }
    body.replaceChildren(next);
  }

  function positions(acc) {
    fill("positions", (acc.positions || []).map((p) => {
      const lp = p.liquidation_price;
      const dist = lp === null || !p.mark_price ? null : (lp - p.mark_price) / p.mark_price;
      return [
        [p.symbol], [p.side], [`${num(p.qty, 4)} ${p.qty_unit}`, "n", p.qty],
        [num(p.entry_price, 2), "n", p.entry_price], [num(p.mark_price, 2), "n", p.mark_price],
        [lp === null ? "—" : num(lp, 2), "n", lp], [pct(dist, 2, true), "n", dist],
        [`${num(p.unrealized_pnl, 2)} ${p.unit}`, "n", p.unrealized_pnl],
        [`${num(p.maint_margin, 2)} ${p.unit}`, "n", p.maint_margin],
      ];
    }));
  }

  function collateral(acc) {
    const sources = acc.collateral_prices || {};
    fill("collateral", (acc.collateral || []).map((c) => {
      const src = sources[c.asset];
      const where = src ? src.source + (src.proxy_symbol ? ` (${src.proxy_symbol})` : "") : c.price_source;
      return [
        [c.asset], [num(c.balance, 6), "n", c.balance], [num(c.price, 2), "n", c.price],
        [c.rate === null ? "—" : pct(c.rate, 2), "n", c.rate], [c.haircut === null ? "—" : pct(c.haircut, 2), "n", c.haircut],
        [`${num(c.value, 2)} ${acc.unit}`, "n", c.value], [where || "—"],
        [src && src.age_s !== null ? `${src.age_s.toFixed(1)} s` : "—", "n"],
      ];
    }));
  }

  function alertTable() {
    fill("alerts", alerts.slice().reverse().map((a) => [
      [new Date(a.t).toLocaleString()], [a.kind], [a.level || "—", "lvl-" + (a.level || "ok")],
      [pct(a.risk), "n", a.risk], [a.detail || ""],
    ]));
  }

  // ------------------------------------------------------------------ what-if
  function buildMoves(acc) {
    if (movesBuilt) return;
    movesBuilt = true;
    const box = document.getElementById("whatif-moves");
    for (const u of Object.keys((acc.distance || {}).by_underlying || {})) {
      const label = el("label", {}, `${u} `);
      label.appendChild(el("input", { id: "move-" + u, "data-underlying": u, type: "number", step: "any", placeholder: "0" }));
      label.appendChild(document.createTextNode(" %"));
      box.appendChild(label);
    }
    if (acc.mode !== "portfolio_margin") document.getElementById("rate-row").style.display = "none";
  }

  function whatifRows(now, after) {
    const nn = native(now), na = native(after), unit = after.unit || "";
    const row = (label, a, b, fmt) => [[label], [fmt(a), "n", a], [fmt(b), "n", b]];
    const rows = [
      row("risk", now.risk, after.risk, (v) => pct(v)),
      row(nn.label, nn.value, na.value, (v) => nn.label === "uniMMR" ? num(v, 4) : pct(v)),
      row(`equity (${unit})`, now.equity, after.equity, (v) => num(v, 2)),
      row(`maint. margin (${unit})`, now.maint_margin, after.maint_margin, (v) => num(v, 2)),
      row("to liquidation (all)", now.distance.uniform_down, after.distance.uniform_down, (v) => pct(v, 1)),
    ];
    fill("whatif-result", rows);
    const body = document.querySelectorAll("#whatif-result tbody tr");
    ["risk", "native", "equity", "maint_margin", "distance"].forEach((f, i) => {
      body[i].children[2].setAttribute("data-field", "whatif-" + f);
    });
  }

  async function runWhatif(event) {
    event.preventDefault();
    const q = new URLSearchParams({ account: NAME });
    for (const input of document.querySelectorAll("#whatif-moves input")) {
      if (input.value.trim() !== "") q.append("move", `${input.dataset.underlying}:${Number(input.value) / 100}`);
    }
    const all = document.getElementById("move-all").value.trim();
    if (all !== "") q.append("move", `all:${Number(all) / 100}`);
    const ra = document.getElementById("rate-asset").value.trim(), rv = document.getElementById("rate-value").value.trim();
    if (ra && rv) q.append("rate", `${ra}:${rv}`);
    const error = document.getElementById("whatif-error");
    error.textContent = "";
    const resp = await fetch("/api/whatif?" + q.toString());
    const body = await resp.json();
    if (!resp.ok) { error.textContent = body.error || `error ${resp.status}`; return; }
    document.getElementById("whatif-result").setAttribute("data-query", q.toString());
    whatifRows(last, body);
  }
  document.getElementById("whatif").addEventListener("submit", runWhatif);

  // ------------------------------------------------------------------ wiring
  function update(doc) {
    const acc = doc.accounts.find((a) => a.account === NAME);
    if (!acc) return;
    last = acc;
    if (acc.risk !== undefined) addPoint(doc.t, acc.risk);
    mergeAlerts(acc.alerts);
    if (acc.levels) levels = acc.levels;
    summary(acc, doc.t);
    positions(acc);
    collateral(acc);
    buildMoves(acc);
    alertTable();
    chart();
  }

  fetch("/api/history?account=" + encodeURIComponent(NAME))
    .then((r) => r.json())
    .then((h) => {
      levels = h.levels || [];
      const fresh = points;
      points = [];
      for (const [t, r] of h.points || []) addPoint(t, r);
      for (const [t, r] of fresh) addPoint(t, r);
      mergeAlerts(h.alerts);
      chart();
      alertTable();
    })
    .finally(() => MW.live(update));
})();
