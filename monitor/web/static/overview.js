/* marginwatch dashboard: the overview, one card per account, updated live. */
"use strict";

(() => {
  const { el, num, pct, levelOf, native, distance, dataAge, streams, gauge, figure } = MW;
  const cards = document.getElementById("cards");

  function card(acc, t) {
    const lvl = levelOf(acc);
    const box = el("article", { class: "card", "data-account": acc.account });
    const title = el("h3");
    const link = el("a", { href: "/account/" + encodeURIComponent(acc.account) }, acc.account);
    title.appendChild(link);
    title.appendChild(el("span", { class: "badge lvl-" + lvl, "data-field": "level" }, lvl));
    box.appendChild(title);
    box.appendChild(el("div", { class: "muted" }, `${acc.mode || "—"} · ${acc.environment} · ${acc.state}`));
    const big = el("div", { class: "big lvl-" + lvl, "data-field": "risk" }, "risk " + pct(acc.risk));
    if (acc.risk !== undefined && acc.risk !== null) big.setAttribute("data-value", String(acc.risk));
    box.appendChild(big);
    box.appendChild(gauge(acc));
    const dl = el("dl");
    const nat = native(acc);
    const unit = acc.unit || "";
    const dist = distance(acc);
    const age = dataAge(acc, t);
    const st = streams(acc);
    const rows = [
      [nat.label, figure("native", nat.value, nat.text)],
      ["equity", figure("equity", acc.equity, `${num(acc.equity, 2)} ${unit}`)],
      ["maint. margin", figure("maint_margin", acc.maint_margin, `${num(acc.maint_margin, 2)} ${unit}`)],
      ["to liquidation", figure("distance", dist.uniform,
        dist.uniform === null && dist.single === null ? "no liquidation on a fall"
          : `${pct(dist.uniform, 1)} all` + (dist.underlying ? ` · ${pct(dist.single, 1)} ${dist.underlying}` : ""))],
      ["data age", figure("age", age, age === null ? "—" : `${age.toFixed(1)} s`)],
      ["streams", figure("streams", st.up, st.text)],
    ];
    const attention = [];
    if (acc.ack) attention.push(`acknowledged at ${acc.ack.level}`);
    if (acc.snooze_until && acc.snooze_until > t) {
      attention.push(`snoozed ${Math.round((acc.snooze_until - t) / 60000)} min more`);
    }
    rows.push(["attention", figure("attention", attention.length, attention.join(" · ") || "—")]);
    for (const [label, dd] of rows) { dl.appendChild(el("dt", {}, label)); dl.appendChild(dd); }
    if (acc.last_error) { dl.appendChild(el("dt", {}, "problem")); dl.appendChild(el("dd", { class: "error" }, acc.last_error)); }
    box.appendChild(dl);
    return box;
  }

  function render(doc) {
    const next = document.createDocumentFragment();
    for (const acc of doc.accounts) next.appendChild(card(acc, doc.t));
    cards.replaceChildren(next);
  }

  MW.live(render);
})();
