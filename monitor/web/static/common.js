/* marginwatch dashboard: shared helpers (formatting, the risk gauge, the live event stream). */
"use strict";

const MW = (() => {
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function num(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    return Number(x).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function pct(x, digits = 2, sign = false) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    const s = (x * 100).toFixed(digits) + " %";
    return sign && x > 0 ? "+" + s : s;
  }

  function levelOf(acc) { return acc.level || "ok"; }

  /** The account's native figure: uniMMR (Portfolio Margin) or margin ratio. */
  function native(acc) {
    if (acc.mode === "portfolio_margin") {
      return { label: "uniMMR", value: acc.uni_mmr, text: acc.uni_mmr === null ? "∞" : num(acc.uni_mmr, 4) };
    }
    return { label: "margin ratio", value: acc.margin_ratio, text: pct(acc.margin_ratio) };
  }

  /** Nearest distance to liquidation: all non-stable prices together, and the nearest single underlying. */
  function distance(acc) {
    const d = acc.distance || {};
    const u = d.nearest_underlying;
    const one = u && d.by_underlying && d.by_underlying[u] ? d.by_underlying[u] : null;
    return { uniform: d.uniform_down, underlying: u, single: one ? one.down : null };
  }

  /** Seconds since the account's data last changed. */
  function dataAge(acc, t) {
    return acc.updated_ms ? Math.max(0, (t - acc.updated_ms) / 1000) : null;
  }

  function streams(acc) {
    const list = acc.streams || [];
    const up = list.filter((s) => s.connected).length;
    return { up, total: list.length, text: `${up}/${list.length} connected`,
      ok: list.length > 0 && up === list.length };
  }

  /** A horizontal risk gauge: 0 … max(1.1, risk), level lines, liquidation at 100 %. */
  function gauge(acc) {
    const levels = acc.levels || [];
    const top = Math.max(1.1, (acc.risk || 0) * 1.05);
    const W = 300, H = 34, x = (r) => Math.min(W, Math.max(0, (r / top) * W));
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "gauge", role: "img",
      "aria-label": `risk ${pct(acc.risk)}` });
    g.appendChild(svg("rect", { x: 0, y: 6, width: W, height: 14, rx: 3, fill: "#0f1419", stroke: "#2a3440" }));
    const lvl = levelOf(acc);
    const colour = { ok: "#3fb950", warning: "#d29922", critical: "#f0883e", emergency: "#f85149" }[lvl] || "#3fb950";
    g.appendChild(svg("rect", { x: 0, y: 6, width: x(acc.risk || 0), height: 14, rx: 3, fill: colour, "data-field": "gauge-fill" }));
    const names = ["warning", "critical", "emergency"];
    levels.forEach((l, i) => {
      g.appendChild(svg("line", { x1: x(l), x2: x(l), y1: 2, y2: 24, stroke: ["#d29922", "#f0883e", "#f85149"][i] || "#888",
        "stroke-width": 2, "data-level": names[i] || "" }));
    });
    g.appendChild(svg("line", { x1: x(1), x2: x(1), y1: 0, y2: 26, stroke: "#ffffff", "stroke-width": 2, "stroke-dasharray": "3 2" }));
    const label = svg("text", { x: Math.min(x(1) + 3, W - 60), y: 33, fill: "#8a96a3", "font-size": 9 });
    label.textContent = "liquidation";
    g.appendChild(label);
    return g;
  }

  /** A <dd> holding a formatted figure, its raw value in data-value (tests compare it with /status). */
  function figure(field, value, text) {
    const dd = el("dd", { "data-field": field }, text);
    if (value !== null && value !== undefined) dd.setAttribute("data-value", String(value));
    return dd;
  }

  /** Subscribe to /events; `onUpdate(doc)` gets every update. Reconnects on its own (EventSource). */
  function live(onUpdate) {
    const conn = document.getElementById("conn");
    const updated = document.getElementById("updated");
    const source = new EventSource("/events");
    source.onopen = () => { conn.textContent = "live"; conn.className = "conn conn-live"; };
    source.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn conn-wait"; };
    source.onmessage = (event) => {
      const doc = JSON.parse(event.data);
      updated.textContent = "updated " + new Date(doc.t).toLocaleTimeString();
      updated.setAttribute("data-t", String(doc.t));
      onUpdate(doc);
    };
    window.addEventListener("beforeunload", () => source.close());
    return source;
  }

  return { el, svg, num, pct, levelOf, native, distance, dataAge, streams, gauge, figure, live };
})();
