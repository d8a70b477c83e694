"""Alert messages: an intent plus a risk snapshot (and optional heavy figures) rendered as text.

One rendering per channel family: Telegram HTML (escaped, at most 4096 UTF-16 units), email
(a subject carrying level, account and risk %, and a plain-text body) and a one-line terminal form.
All three carry the same facts in the order a trader needs them: what happened, the one action
that restores safety, then the figures — each liquidation price next to the current mark and
its distance (`BTCUSDT SHORT liq 111,242 (mark 95,070, +17.0 %)`). Times are shown in a
configurable local zone, and in UTC too when that zone is not UTC.

`urgency` tells a sender how loudly to deliver a rendered alert (Apprise notify type, channel
priority, a silent Telegram message); it is read from the subject's bracketed label, so it
survives the outbox, which stores only the texts. Labels, urgencies and summary sentences per
kind come from the table of alert kinds (`alerts/kinds.py`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from monitor.alerts import kinds
from monitor.alerts.kinds import URGENCY
from monitor.alerts.levels import AlertIntent
from monitor.engine.model import Mode
from monitor.engine.risk import LegFigures, RiskSnapshot

#: Telegram's limit on a message's text, in UTF-16 code units.
TELEGRAM_MAX = 4096
#: How many legs the "top contributors" list shows.
TOP_LEGS = 3
#: How many liquidation prices a message lists.
MAX_LIQUIDATION_PRICES = 6


@dataclass(frozen=True, slots=True)
class HeavyFigures:
    """Figures too costly for every tick, computed by the service when an alert is rendered.

    Fractions are of price: `distance_down=0.082` means a uniform 8.2 % fall liquidates.
    `nearest_distance` is signed (−0.051: that underlying falling 5.1 % alone liquidates).
    """

    distance_down: float | None = None
    distance_up: float | None = None
    nearest_underlying: str | None = None
    nearest_distance: float | None = None
    liquidation_prices: Mapping[tuple[str, str], float] = field(default_factory=dict)
    marks: Mapping[str, float] = field(default_factory=dict)  # symbol → current mark price
    deposit: tuple[str, float] | None = None  # (asset, amount) that restores `target_risk`
    cut: tuple[str, float] | None = None  # (symbol, fraction of the position to close)
    target_risk: float = 0.50


@dataclass(frozen=True, slots=True)
class RenderedAlert:
    """The texts of one alert, as persisted in the outbox."""

    subject: str
    text: str
    html: str
    line: str
    #: Routing facts a sender may use (Telegram buttons, PagerDuty dedup keys); persisted.
    account: str = ""
    kind: str = ""
    incident: str = ""

    @property
    def urgency(self) -> str:
        """`emergency`, `critical`, `warning`, `success` or `info`, from the subject's label
        (`[TEST EMERGENCY]` → `emergency`: a test alert may ask for a level's urgency)."""
        if not self.subject.startswith("["):
            return "warning"
        tag = self.subject[1 : self.subject.find("]")].strip().upper()
        if tag.startswith("TEST "):
            tag = tag[5:]
        return URGENCY.get(tag, "warning")


def label(intent: AlertIntent) -> str:
    """The bracketed tag of a subject: the level for level-bearing alerts, else the kind's
    (`kinds.KINDS`)."""
    return kinds.label(intent)


def summary(intent: AlertIntent) -> str:
    """What happened, in a few words (`kinds.KINDS`)."""
    return kinds.summary(intent)


def pct(fraction: float | None, digits: int = 1) -> str:
    return "n/a" if fraction is None else f"{fraction * 100:.{digits}f} %"


def amount(x: float) -> str:
    """Thousands separators; 2 decimals for large figures, more for small ones."""
    if abs(x) >= 100:
        return f"{x:,.2f}"
    if abs(x) >= 1:
        return f"{x:,.4f}"
    return f"{x:.6g}"


def native_figure(snap: RiskSnapshot) -> str:
    """Binance's own figure: uniMMR in Portfolio Margin, margin ratio elsewhere."""
    if snap.mode is Mode.PORTFOLIO_MARGIN:
        uni = snap.uni_mmr
        return "uniMMR ∞ (no maintenance margin)" if uni is None else f"uniMMR {uni:.3f}"
    return f"margin ratio {pct(snap.margin_ratio, 2)}"


def _leg_values(snap: RiskSnapshot) -> list[tuple[LegFigures, float]]:
    """Each leg with its MM valued in the account unit (via the asset's MM rate when known)."""
    rates = {
        a.asset: a.maint_margin / a.maint_margin_asset
        for a in snap.assets
        if a.maint_margin_asset > 0.0
    }
    return [(leg, leg.maint_margin * rates.get(leg.settle_asset, 1.0)) for leg in snap.legs]


def _loan_values(
    snap: RiskSnapshot, legs: list[tuple[LegFigures, float]]
) -> list[tuple[str, float]]:
    """PM margin loans: each asset's MM beyond its legs' MM is its loan's MM (account unit)."""
    if snap.mode is not Mode.PORTFOLIO_MARGIN:
        return []
    by_asset: dict[str, float] = {}
    for leg, value in legs:
        by_asset[leg.settle_asset] = by_asset.get(leg.settle_asset, 0.0) + value
    loans = []
    for a in snap.assets:
        rest = a.maint_margin - by_asset.get(a.asset, 0.0)
        if rest > 1e-9 * max(1.0, snap.maint_margin):
            loans.append((f"{a.asset} margin loan MM {amount(rest)} {snap.unit}", rest))
    return loans


def top_contributors(snap: RiskSnapshot, n: int = TOP_LEGS) -> list[str]:
    """The largest maintenance-margin terms: legs and, in Portfolio Margin, margin loans."""
    legs = _leg_values(snap)
    items = [
        (f"{leg.symbol} {leg.side} MM {amount(leg.maint_margin)} {leg.settle_asset}", value)
        for leg, value in legs
    ]
    items += _loan_values(snap, legs)
    items.sort(key=lambda item: item[1], reverse=True)
    total = sum(value for _, value in items)
    return [
        text + (f" ({value / total * 100:.0f} %)" if total > 0.0 else "")
        for text, value in items[:n]
    ]


def _signed_pct(fraction: float) -> str:
    return f"{fraction * 100:+.1f} %".replace("-", "−")


def price(x: float) -> str:
    """A price at a glance: whole units above 1,000 (`111,242`), else 4 significant digits."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def liquidation_items(heavy: HeavyFigures) -> list[str]:
    """`BTCUSDT SHORT liq 111,242 (mark 95,070, +17.0 %)`, nearest to its mark first."""

    def distance(item: tuple[tuple[str, str], float]) -> float:
        (symbol, _), liq = item
        mark = heavy.marks.get(symbol)
        return abs(liq / mark - 1.0) if mark else float("inf")

    items = sorted(heavy.liquidation_prices.items(), key=lambda i: (distance(i), i[0]))
    out = []
    for (symbol, side), liq in items[:MAX_LIQUIDATION_PRICES]:
        mark = heavy.marks.get(symbol)
        where = f" (mark {price(mark)}, {_signed_pct(liq / mark - 1.0)})" if mark else ""
        out.append(f"{symbol} {side} liq {price(liq)}{where}")
    return out


def action(heavy: HeavyFigures | None) -> str | None:
    """The one line that restores safety (deposit or cut), or None when none is known."""
    if heavy is None:
        return None
    fixes = []
    if heavy.deposit is not None:
        asset, qty = heavy.deposit
        fixes.append(f"deposit {amount(qty)} {asset} to return to {pct(heavy.target_risk, 0)}")
    if heavy.cut is not None:
        symbol, fraction = heavy.cut
        fixes.append(f"cut {symbol} by {fraction * 100:.0f} %")
    return "To restore safety: " + " or ".join(fixes) if fixes else None


def heavy_lines(heavy: HeavyFigures) -> list[str]:
    """The figures (the action to take is `action`, shown before them)."""
    out = []
    moves = []
    if heavy.nearest_underlying is not None and heavy.nearest_distance is not None:
        # First: one underlying moving (its contracts and its collateral alike) is what a hedged
        # book is exposed to; the uniform move and per-symbol prices follow.
        out.append(
            f"Nearest single underlying: {heavy.nearest_underlying}"
            f" {_signed_pct(heavy.nearest_distance)}"
        )
    if heavy.distance_down is not None:
        moves.append(_signed_pct(-abs(heavy.distance_down)))
    if heavy.distance_up is not None:
        moves.append(_signed_pct(abs(heavy.distance_up)))
    if moves:
        out.append("Liquidation at a uniform move of " + " or ".join(moves))
    if heavy.liquidation_prices:
        out.append("Liquidation: " + "; ".join(liquidation_items(heavy)))
    return out


def when(t_ms: int, tz: tzinfo) -> str:
    at = datetime.fromtimestamp(t_ms / 1000, UTC)
    local = at.astimezone(tz)
    utc = f"{at:%Y-%m-%d %H:%M:%S} UTC"
    if local.utcoffset() == at.utcoffset() and local.tzname() in ("UTC", "GMT", "Z", None):
        return utc
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({utc})"


def subject(intent: AlertIntent) -> str:
    return f"[{label(intent)}] {intent.account}: {summary(intent)}, risk {pct(intent.risk)}"


def attention_lines(intent: AlertIntent) -> list[str]:
    """What humans said: the ack of this episode, a snooze in force (UTC end time)."""
    out = []
    if intent.acked is not None:
        out.append(f"Acknowledged at {intent.acked}: its repeats and escalation are stopped")
    if intent.snoozed_until_ms is not None:
        end = datetime.fromtimestamp(intent.snoozed_until_ms / 1000, UTC)
        out.append(f"Snoozed until {end:%Y-%m-%d %H:%M} UTC (a higher level still alerts)")
    return out


def body_lines(
    intent: AlertIntent, snap: RiskSnapshot | None, heavy: HeavyFigures | None
) -> list[str]:
    """The body, most important first; rendering drops trailing optional lines to fit."""
    lines = [f"{label(intent)} {intent.account}: {summary(intent)}"]
    todo = action(heavy)
    if todo is not None:
        lines.append(todo)
    if intent.detail:
        lines.append(intent.detail)
    lines.extend(attention_lines(intent))
    if snap is not None:
        lines.append(f"Risk {pct(snap.risk)} · {native_figure(snap)} · mode {snap.mode}")
        lines.append(
            f"Equity {amount(snap.equity)} {snap.unit}"
            f" · maintenance margin {amount(snap.maint_margin)} {snap.unit}"
        )
        if snap.status != "ok":
            lines.append(f"Exchange status: {snap.status}")
    elif intent.risk is not None:
        lines.append(f"Risk {pct(intent.risk)} (no snapshot)")
    if heavy is not None:
        lines.extend(heavy_lines(heavy))
    if snap is not None and snap.legs:
        lines.append("Top maintenance margin: " + "; ".join(top_contributors(snap)))
    return lines


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def telegram_html(lines: list[str], footer: str, limit: int = TELEGRAM_MAX) -> str:
    """Bold first line, escaped lines, footer; whole lines dropped from the end to fit `limit`."""
    escaped = [html.escape(x) for x in lines]
    escaped[0] = f"<b>{escaped[0]}</b>"
    tail = html.escape(footer)
    for kept in range(len(escaped), 0, -1):
        cut = [] if kept == len(escaped) else ["…"]
        text = "\n".join([*escaped[:kept], *cut, tail])
        if _utf16_len(text) <= limit:
            return text
    head = lines[0]
    while _utf16_len(html.escape(head)) > limit - 1:
        head = head[: len(head) * 9 // 10]
    return html.escape(head) + "…"


def render(
    intent: AlertIntent,
    snap: RiskSnapshot | None,
    heavy: HeavyFigures | None = None,
    tz: tzinfo = UTC,
) -> RenderedAlert:
    """Every rendering of one alert; `tz` is the reader's local zone (a `zoneinfo.ZoneInfo`)."""
    lines = body_lines(intent, snap, heavy)
    stamp = when(intent.t_ms, tz)
    footer = f"{stamp} · alert {intent.alert_id}"
    text = "\n".join([*lines, footer])
    native = f" {native_figure(snap)}" if snap is not None else ""
    detail = f"; {intent.detail}" if intent.detail else ""
    todo = action(heavy)
    first = f"; {todo[0].lower()}{todo[1:]}" if todo else ""
    liqs = liquidation_items(heavy) if heavy is not None else []
    liq = f"; {'; '.join(liqs[:2])}" if liqs else ""
    at = datetime.fromtimestamp(intent.t_ms / 1000, UTC)
    line = (
        f"{at:%Y-%m-%dT%H:%M:%SZ} {label(intent)} {intent.account} risk {pct(intent.risk)}"
        f"{native} {summary(intent)}{first}{detail}{liq}"
    )
    return RenderedAlert(
        subject=subject(intent),
        text=text,
        html=telegram_html(lines, footer),
        line=line,
        account=intent.account,
        kind=str(intent.kind),
        incident=intent.incident,
    )
