"""The view of `marginwatch watch`: one /status document as a rich renderable (pure).

`render_status(doc)` turns one /status document (briefs/status.md) into a rich renderable: per
account its state and alert level, a risk bar coloured by the alert levels, the native figure
(margin ratio or uniMMR), equity and maintenance margin, the positions with mark, liquidation
price and distance to it, the nearest distance to liquidation, and the health of every stream.
It never raises on a malformed document: missing or mistyped fields show as "—".
`render_unreachable` is the frame shown when there is no document. Polling is `watch.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from monitor.alerts.policy_config import PolicyConfig

#: Default alert levels (risk fractions) for colouring the bar, as in the default policy.
DEFAULT_LEVELS: tuple[float, float, float] = PolicyConfig().lines
LEVEL_NAMES = ("warning", "critical", "emergency")
LEVEL_STYLES = {
    None: "green",
    "warning": "yellow",
    "critical": "dark_orange",
    "emergency": "bold red",
}
STATE_STYLES = {
    "live": "bold green",
    "starting": "bold cyan",
    "blind": "bold white on dark_orange",
    "error": "bold white on red",
}
BAR_WIDTH = 40
#: A frame older than this (s) shows in yellow; older than STALE_S in red.
SLOW_S = 5.0
STALE_S = 15.0
NONE = "—"


# ---- field access (a malformed document never raises) -------------------------------------------


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _amount(value: object, digits: int = 2) -> str:
    number = _num(value)
    if number is None:
        return NONE
    if abs(number) >= 100 or number == 0:
        return f"{number:,.{digits}f}"
    return f"{number:,.6g}"


def _pct(fraction: float | None, digits: int = 1, signed: bool = False) -> str:
    if fraction is None:
        return NONE
    text = f"{fraction * 100:{'+' if signed else ''}.{digits}f} %"
    return text.replace("-", "−")


def _age(seconds: float | None) -> Text:
    if seconds is None:
        return Text(NONE, style="dim")
    style = "red" if seconds > STALE_S else "yellow" if seconds > SLOW_S else ""
    return Text(f"{seconds:.1f} s", style=style)


# ---- levels ------------------------------------------------------------------------------------


def risk_level(risk: float, levels: tuple[float, float, float] = DEFAULT_LEVELS) -> str | None:
    """The level whose line `risk` has reached (no hysteresis: this only picks a colour)."""
    reached = None
    for name, line in zip(LEVEL_NAMES, levels, strict=True):
        if risk >= line:
            reached = name
    return reached


def _rank(level: str | None) -> int:
    return LEVEL_NAMES.index(level) + 1 if level in LEVEL_NAMES else 0


def _worse(a: str | None, b: str | None) -> str | None:
    return a if _rank(a) >= _rank(b) else b


# ---- one account -------------------------------------------------------------------------------


def _native(entry: Mapping[str, Any]) -> str:
    if entry.get("mode") == "portfolio_margin":
        uni = _num(entry.get("uni_mmr"))
        if uni is None:
            return "uniMMR ∞" if _num(entry.get("risk")) is not None else f"uniMMR {NONE}"
        return f"uniMMR {uni:.3f}"
    text = f"margin ratio {_pct(_num(entry.get('margin_ratio')), 2)}"
    unit = _str(entry.get("unit"))
    if unit is not None and len(_list(entry.get("pools"))) > 1:
        text += f" ({unit} cross pool)"
    return text


def _risk_source(entry: Mapping[str, Any]) -> str | None:
    """The pool or isolated leg the risk belongs to, when the account has more than one."""
    if len(_list(entry.get("pools"))) < 2:
        return None
    return _str(_map(entry.get("risk_source")).get("name"))


def _with(text: str, unit: object) -> str:
    """A figure with its unit (when the document gives one)."""
    name = _str(unit)
    return text if name is None or text == NONE else f"{text} {name}"


def _risk_row(entry: Mapping[str, Any], levels: tuple[float, float, float]) -> RenderableType:
    risk = _num(entry.get("risk"))
    level = _str(entry.get("level"))
    grid = Table.grid(padding=(0, 1))
    if risk is None:
        grid.add_row(Text("risk"), Text(f"{NONE} (no figures yet)", style="dim"))
        return grid
    style = LEVEL_STYLES[_worse(risk_level(risk, levels), level)]
    if risk >= 1.0:
        style = "bold white on red"
    bar = ProgressBar(
        total=100.0,
        completed=min(max(risk, 0.0), 1.0) * 100.0,
        width=BAR_WIDTH,
        complete_style=style,
        finished_style=style,
    )
    label = Text(f"{risk * 100:6.2f} %", style=f"bold {style}" if "bold" not in style else style)
    source = _risk_source(entry)
    if source is not None:
        label.append(f" ({source})", style="")
    grid.add_row(Text("risk"), bar, label, Text(_native(entry), style="bold"))
    return grid


def _headline(entry: Mapping[str, Any], now_ms: float | None) -> Text:
    state = _str(entry.get("state")) or "unknown"
    out = Text.assemble((state.upper(), STATE_STYLES.get(state, "bold")))
    level = _str(entry.get("level"))
    if level is not None:
        out.append("  ")
        out.append(f" {level.upper()} ", style=f"reverse {LEVEL_STYLES.get(level, 'bold')}")
    ack = _map(entry.get("ack"))
    if ack:
        out.append(f"  acknowledged at {_str(ack.get('level')) or '?'}", style="cyan")
    snooze = _num(entry.get("snooze_until"))
    if snooze is not None and now_ms is not None and snooze > now_ms:
        out.append(f"  snoozed {(snooze - now_ms) / 60_000:.0f} min more", style="cyan")
    status = _str(entry.get("status"))
    if status is not None and status != "ok":
        out.append(f"  exchange status {status}", style="bold red")
    updated = _num(entry.get("updated_ms"))
    if updated is not None and now_ms is not None:
        out.append("  updated ")
        out.append_text(_age(max(0.0, (now_ms - updated) / 1000)))
        out.append(" ago")
    elif updated is None:
        out.append("  no figures yet", style="dim")
    return out


def _money(entry: Mapping[str, Any]) -> Text | None:
    equity, mm = _num(entry.get("equity")), _num(entry.get("maint_margin"))
    if equity is None and mm is None:
        return None
    unit = _str(entry.get("unit")) or ""
    return Text(
        f"equity {_amount(equity)} {unit} · maintenance margin {_amount(mm)} {unit}".strip()
    )


def _nearest(distance: Mapping[str, Any]) -> tuple[str, float] | None:
    """The underlying whose move alone liquidates soonest, with that signed move."""
    name = _str(distance.get("nearest_underlying"))
    if name is None:
        return None
    by = _map(_map(distance.get("by_underlying")).get(name))
    moves = [m for m in (_num(by.get("down")), _num(by.get("up"))) if m is not None]
    return (name, min(moves, key=abs)) if moves else None


def _distance_style(fraction: float | None) -> str:
    if fraction is None:
        return "dim"
    move = abs(fraction)
    return "bold red" if move < 0.05 else "yellow" if move < 0.15 else "green"


def _distances(entry: Mapping[str, Any]) -> Text | None:
    """Uniform moves of all non-stable prices to liquidation (signed), and the nearest single."""
    distance = _map(entry.get("distance"))
    if not distance:
        return None
    out = Text("to liquidation: all prices ")
    for n, key in enumerate(("uniform_down", "uniform_up")):
        move = _num(distance.get(key))
        if n:
            out.append(" or ")
        out.append(
            _pct(move, signed=True) if move is not None else ("no fall", "no rise")[n],
            style=_distance_style(move),
        )
    nearest = _nearest(distance)
    if nearest is not None:
        name, move = nearest
        out.append(" · nearest: ")
        out.append(f"{name} alone {_pct(move, signed=True)}", style=_distance_style(move))
    return out


def _positions(entry: Mapping[str, Any]) -> Table | None:
    rows = _list(entry.get("positions"))
    if not rows:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("position")
    for name in ("qty", "entry", "mark", "liq. price", "to liq.", "uPnL"):
        table.add_column(name, justify="right")
    table.add_column("margin")
    for p in rows:
        qty = _num(p.get("qty"))
        mark, liq = _num(p.get("mark_price")), _num(p.get("liquidation_price"))
        gap = (liq - mark) / mark if liq is not None and mark else None
        pnl = _num(p.get("unrealized_pnl"))
        price_unit = p.get("price_unit")
        table.add_row(
            Text(f"{_str(p.get('symbol')) or '?'} {_str(p.get('side')) or ''}".strip()),
            _with(NONE if qty is None else f"{qty:,.6g}", p.get("qty_unit")),
            _with(_amount(p.get("entry_price")), price_unit),
            _with(_amount(mark), price_unit),
            Text(_with(_amount(liq), price_unit), style="bold" if liq is not None else "dim"),
            Text(_pct(gap, signed=True), style=_distance_style(gap)),
            Text(
                _with(_amount(pnl), p.get("unit")),
                style="red" if pnl is not None and pnl < 0 else "",
            ),
            Text(_str(p.get("margin")) or NONE),
        )
    return table


def _streams(entry: Mapping[str, Any]) -> Table | None:
    rows = _list(entry.get("streams"))
    if not rows:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("stream")
    table.add_column("connected")
    for name in ("last frame", "reconnects", "frames", "decode errors", "watchdog", "rotations"):
        table.add_column(name, justify="right")
    for s in rows:
        connected = s.get("connected")
        link = (
            Text("● yes", style="green")
            if connected is True
            else Text("✗ no", style="bold red")
            if connected is False
            else Text(NONE, style="dim")
        )
        cells: list[RenderableType] = [Text(_str(s.get("name")) or "?"), link]
        cells.append(_age(_num(s.get("last_frame_age_s"))))
        for key in ("reconnects", "frames", "decode_errors", "watchdog_fires", "rotations"):
            count = _num(s.get(key))
            bad = key in ("decode_errors", "watchdog_fires") and count
            cells.append(Text(NONE if count is None else f"{count:,.0f}", "red" if bad else ""))
        table.add_row(*cells)
    return table


def _sources(entry: Mapping[str, Any]) -> Text | None:
    sources = _map(entry.get("sources"))
    if not sources:
        return None
    out = Text("sources: ", style="dim")
    for n, (name, age) in enumerate(sorted(sources.items())):
        if n:
            out.append(" · ", style="dim")
        out.append(f"{name} ")
        out.append_text(_age(_num(age)))
    return out


def _account(
    entry: Mapping[str, Any], now_ms: float | None, levels: tuple[float, float, float]
) -> Panel:
    title = Text.assemble(
        (_str(entry.get("account")) or "?", "bold"),
        f" · {_str(entry.get('mode')) or 'mode unknown'}",
        f" · {_str(entry.get('environment')) or '?'}",
    )
    parts: list[RenderableType] = [_headline(entry, now_ms), _risk_row(entry, levels)]
    for extra in (_money(entry), _distances(entry), _positions(entry), _streams(entry)):
        if extra is not None:
            parts.append(extra)
    sources = _sources(entry)
    if sources is not None:
        parts.append(sources)
    error = _str(entry.get("last_error"))
    if error is not None:
        parts.append(Text(f"last error: {error}", style="red"))
    level = _str(entry.get("level"))
    border = "red" if _str(entry.get("state")) in ("blind", "error") else LEVEL_STYLES.get(level)
    return Panel(Group(*parts), title=title, title_align="left", border_style=border or "green")


# ---- the whole document ------------------------------------------------------------------------


def render_status(
    doc: Mapping[str, Any], *, levels: tuple[float, float, float] = DEFAULT_LEVELS
) -> RenderableType:
    """One frame of the view for a /status document; `levels` colour the risk bars."""
    now_ms = _num(doc.get("t"))
    healthy = doc.get("healthy")
    accounts = doc.get("accounts")
    entries = _list(accounts)
    head = Text.assemble(("marginwatch", "bold"), "  ")
    if healthy is True:
        head.append("healthy", style="bold green")
    elif healthy is False:
        head.append("UNHEALTHY", style="bold white on red")
    else:
        head.append("health unknown", style="yellow")
    head.append(f"  {len(entries)} account(s)")
    if now_ms is not None:
        at = datetime.fromtimestamp(now_ms / 1000, UTC)
        head.append(f"  status at {at:%Y-%m-%d %H:%M:%S} UTC", style="dim")
    parts: list[RenderableType] = [head]
    version = doc.get("version")
    if version != 1:
        parts.append(Text(f"unexpected /status version {version!r}; showing what I can", "yellow"))
    problems = doc.get("problems")
    if isinstance(problems, list):
        parts += [Text(f"⚠ {problem}", style="yellow") for problem in problems]
    skipped = len(accounts) - len(entries) if isinstance(accounts, list) else 0
    if skipped:
        parts.append(Text(f"{skipped} malformed account entr(y/ies) skipped", style="yellow"))
    if not entries:
        parts.append(Text("no accounts", style="dim"))
    parts += [_account(entry, now_ms, levels) for entry in entries]
    return Group(*parts)


def render_unreachable(
    url: str, reason: str, *, failures: int = 1, interval: float | None = None
) -> RenderableType:
    """The frame shown when no /status document could be fetched."""
    body = Text.assemble(("daemon unreachable", "bold red"), f" at {url}\n", (reason, "red"))
    if interval is not None:
        body.append(f"\nretrying every {interval:g} s ({failures} failed attempt(s) in a row)")
    return Panel(body, title="marginwatch", title_align="left", border_style="red")
