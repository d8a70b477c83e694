"""The replay report: a PNG chart of risk over time plus Markdown and HTML summaries of a timeline.

`write_report(timeline, out_dir)` reads a finished `AlertTimeline` (risk samples, alerts, final
book) and writes `risk.png`, `report.md` and `report.html` into `out_dir`. The chart shows risk
in % on the recording's own clock, the alert levels as dashed lines (with uniMMR in Portfolio
Margin), liquidation at 100 %, every alert as a marker coloured by level, and shaded spans where
the monitor was blind; alerts close in time share one label, placed where it overlaps no other
label nor the legend. Under it, sharing the time axis, a price panel shows how the marks of the
underlyings that drive the risk moved (% since the start; the legend gives first → last price).
The output depends only on the timeline: no wall-clock time, no
matplotlib version stamp, the default matplotlib style whatever the local matplotlibrc says.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import matplotlib.style
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

from monitor.alerts.messages import summary
from monitor.alerts.policy import AlertKind, Level
from monitor.calc import build_report, format_table, risk_text
from monitor.engine.model import PM_LIQUIDATION_UNIMMR, ContractKind, Mode
from monitor.service.riskmap import write_risk_map
from monitor.service.timeline import AlertTimeline, TimedAlert

PNG_NAME = "risk.png"
#: The risk map: risk over a grid of (BTC move × every other underlying's move).
RISKMAP_NAME = "riskmap.png"
MD_NAME = "report.md"
HTML_NAME = "report.html"
#: Chart size: 12 × 8 inches at 100 dpi = 1200 × 800 px: the risk panel over the price panel.
FIG_INCHES = (12.0, 8.0)
RISK_PRICE_HEIGHTS = (3.0, 1.4)
DPI = 100
#: The y axis stops here (in %); higher risk is drawn at the edge and noted as off scale.
Y_CEILING = 200.0

LEVEL_COLOURS = {
    Level.WARNING: "#d9a400",
    Level.CRITICAL: "#e0600b",
    Level.EMERGENCY: "#c8102e",
}
ALL_CLEAR_COLOUR = "#2e8b3a"
OTHER_COLOUR = "#5f6b7a"
RISK_COLOUR = "#1f5fa8"
LIQUIDATION_COLOUR = "#000000"
_MARKERS = {
    AlertKind.LEVEL: "^",
    AlertKind.REPEAT: "^",
    AlertKind.DEESCALATION: "v",
    AlertKind.ALL_CLEAR: "o",
    AlertKind.RAPID: "D",
    AlertKind.BLIND: "X",
    AlertKind.RESTORED: "P",
    AlertKind.DRIFT: "d",
    AlertKind.EXCHANGE: "s",
    AlertKind.DIGEST: ".",
}
#: Vertical offsets (points) tried in turn for an alert group's label until it overlaps nothing.
_LABEL_OFFSETS = (14, -14, 28, -28, 42, -42, 56, -56, 70, -70, 84, 98, 112)
#: Clearance (px) kept around each label's text: its white box reaches this far.
LABEL_PAD_PX = 3.0
#: Alerts closer than this fraction of the time axis share one label.
GROUP_WINDOW = 0.035
#: A group label lists up to this many alerts, else "first … last (n alerts)".
GROUP_LABEL_MAX = 2
PRICE_COLOURS = ("#e08a00", "#6a3d9a", "#1b9e77", "#d95f02", "#7570b3", "#66a61e")


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """The three files of a report."""

    png: Path
    html: Path
    md: Path
    riskmap: Path | None = None  # when the recording left a book to shock


@dataclass(frozen=True, slots=True)
class _Summary:
    """Everything the chart and both text summaries show, computed once from the timeline."""

    title: str
    account: str
    mode: str
    pm: bool
    tz_name: str
    start_ms: int
    end_ms: int
    samples: int
    peak: tuple[int, float] | None
    blind: list[tuple[int, int]]
    facts: list[tuple[str, str]]  # (label, plain text)
    rows: list[list[str]]  # the alerts table, plain text cells
    final: dict[str, Any] | None  # the calc report of the final book


def write_report(
    timeline: AlertTimeline,
    out_dir: Path,
    *,
    title: str | None = None,
    source: str | None = None,
    tz: tzinfo = UTC,
) -> ReportFiles:
    """Write `risk.png`, `report.md` and `report.html` for a finished timeline into `out_dir`.

    `title` defaults to "Replay report: ACCOUNT"; `source` (the recording's name) is shown as
    given; `tz` is the zone of every time shown (the recording's UTC clock by default).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    info = _summarise(timeline, title, source, tz)
    riskmap = None
    if timeline.replay.book is not None and timeline.replay.book.state.positions:
        riskmap = write_risk_map(timeline, out_dir / RISKMAP_NAME)
    files = ReportFiles(out_dir / PNG_NAME, out_dir / HTML_NAME, out_dir / MD_NAME, riskmap)
    _chart(timeline, info, tz, files.png)
    files.md.write_text(_markdown(info, riskmap is not None), encoding="utf-8")
    files.html.write_text(_html(info, riskmap is not None), encoding="utf-8")
    return files


# ---- summary -------------------------------------------------------------------------------------


def _tz_name(tz: tzinfo, at_ms: int) -> str:
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    return datetime.fromtimestamp(at_ms / 1000, tz).tzname() or "UTC"


def _stamp(t_ms: int, tz: tzinfo) -> str:
    return f"{datetime.fromtimestamp(t_ms / 1000, tz):%Y-%m-%d %H:%M:%S}"


def _duration(ms: int) -> str:
    seconds = max(0, ms) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _pct(risk: float | None) -> str:
    return "—" if risk is None else f"{risk * 100:.1f} %"


def _uni_mmr(risk: float) -> str:
    return "∞" if risk <= 0.0 else f"{PM_LIQUIDATION_UNIMMR / risk:.3f}"


def blind_spans(alerts: Iterable[TimedAlert], end_ms: int) -> list[tuple[int, int]]:
    """(start, end) of each blind episode: a BLIND alert to the next RESTORED (or `end_ms`)."""
    spans: list[tuple[int, int]] = []
    since: int | None = None
    for alert in alerts:
        kind, t = alert.intent.kind, alert.intent.t_ms
        if kind is AlertKind.BLIND and since is None:
            since = t
        elif kind is AlertKind.RESTORED and since is not None:
            spans.append((since, t))
            since = None
    if since is not None:
        spans.append((since, max(since, end_ms)))
    return spans


def marker_label(alert: TimedAlert) -> str:
    """The short label drawn beside an alert's marker."""
    intent = alert.intent
    match intent.kind:
        case AlertKind.LEVEL:
            return str(intent.level)
        case AlertKind.REPEAT:
            return f"{intent.level} again"
        case AlertKind.DEESCALATION:
            return f"eased to {intent.level}"
        case AlertKind.ALL_CLEAR:
            return "all clear"
        case AlertKind.EXCHANGE:
            return intent.topic.rsplit(":", 1)[-1] or "exchange"
    return str(intent.kind)


def _native_of(alert: TimedAlert) -> str:
    snap = alert.snapshot
    if snap is None:
        return "—"
    if snap.mode is Mode.PORTFOLIO_MARGIN:
        return "∞" if snap.uni_mmr is None else f"{snap.uni_mmr:.3f}"
    return _pct(snap.margin_ratio)


def _nearest_of(alert: TimedAlert) -> str:
    heavy = alert.figures
    if heavy is None or heavy.nearest_underlying is None or heavy.nearest_distance is None:
        return "—"
    return f"{heavy.nearest_underlying} {heavy.nearest_distance * 100:+.1f} %".replace("-", "−")


def _message(alert: TimedAlert) -> str:
    intent = alert.intent
    text = summary(intent) + (f"; {intent.detail}" if intent.detail else "")
    return " ".join(text.split())


def _summarise(
    timeline: AlertTimeline, title: str | None, source: str | None, tz: tzinfo
) -> _Summary:
    meta = timeline.meta
    replay = timeline.replay
    mode = replay.mode
    risks = timeline.risks
    alerts = timeline.alerts
    times = [t for t, _ in risks] + [a.intent.t_ms for a in alerts]
    if meta.started is not None:
        times.append(meta.started)
    if replay.last_t:
        times.append(replay.last_t)
    start, end = min(times, default=0), max(times, default=0)
    tz_name = _tz_name(tz, start)
    peak = max(risks, key=lambda sample: sample[1]) if risks else None
    pm = mode is Mode.PORTFOLIO_MARGIN
    spans = blind_spans(alerts, end)
    final: dict[str, Any] | None = None
    if replay.book is not None:
        final = build_report(replay.book)
        final["account"] = meta.account
    facts: list[tuple[str, str]] = []
    if source is not None:
        facts.append(("Recording", source))
    mode_name = "unknown" if mode is None else str(mode)
    environment = meta.environment or "unknown"
    facts += [
        ("Account", f"{meta.account} · mode {mode_name} · environment {environment}"),
        (
            "Time span",
            f"{_stamp(start, tz)} → {_stamp(end, tz)} {tz_name}"
            f" ({_duration(end - start)}, {len(risks)} risk updates)",
        ),
        ("Peak risk", _peak_text(peak, pm, tz, tz_name)),
        ("Final", _final_text(final)),
        ("Monitor blind", _blind_text(spans)),
        ("Alerts", _counts_text(alerts)),
    ]
    rows = [
        [
            str(n),
            _stamp(a.intent.t_ms, tz),
            str(a.intent.kind),
            "—" if a.intent.level is None else str(a.intent.level),
            _pct(a.intent.risk),
            _native_of(a),
            _nearest_of(a),
            _message(a),
        ]
        for n, a in enumerate(alerts, 1)
    ]
    return _Summary(
        title=title or f"Replay report: {meta.account}",
        account=meta.account,
        mode=mode_name,
        pm=pm,
        tz_name=tz_name,
        start_ms=start,
        end_ms=end,
        samples=len(risks),
        peak=peak,
        blind=spans,
        facts=facts,
        rows=rows,
        final=final,
    )


def _alert_columns(pm: bool, tz_name: str) -> list[str]:
    native = "uniMMR" if pm else "margin ratio"
    return [
        "#",
        f"time ({tz_name})",
        "kind",
        "level",
        "risk",
        native,
        "nearest liquidation",
        "message",
    ]


# ---- text summaries ----------------------------------------------------------------------------


def _peak_text(peak: tuple[int, float] | None, pm: bool, tz: tzinfo, tz_name: str) -> str:
    if peak is None:
        return "no risk figures in this recording"
    t, risk = peak
    native = f" (uniMMR {_uni_mmr(risk)})" if pm else ""
    return f"{risk * 100:.2f} %{native} at {_stamp(t, tz)} {tz_name}"


def _final_text(final: dict[str, Any] | None) -> str:
    if final is None:
        return "no account state (the recording has no usable REST snapshot)"
    unit = final["unit"]
    if final["mode"] == Mode.PORTFOLIO_MARGIN.value:
        uni = final["uni_mmr"]
        native = "uniMMR ∞" if uni is None else f"uniMMR {uni:.4f}"
    else:
        native = f"margin ratio {final['margin_ratio'] * 100:.2f} %"
    return (
        f"{risk_text(final)} · {native} · equity {final['equity']:,.2f} {unit}"
        f" · maintenance margin {final['maint_margin']:,.2f} {unit} · status {final['status']}"
    )


def _blind_text(spans: list[tuple[int, int]]) -> str:
    if not spans:
        return "never"
    total = sum(end - start for start, end in spans)
    return f"{len(spans)} span(s), {_duration(total)} in all (shaded on the chart)"


def _counts_text(alerts: list[TimedAlert]) -> str:
    if not alerts:
        return "none"
    kinds = Counter(str(a.intent.kind) for a in alerts)
    levels = Counter(str(a.intent.level or "none") for a in alerts)
    by_kind = ", ".join(f"{k} {kinds[k]}" for k in map(str, AlertKind) if kinds[k])
    by_level = ", ".join(f"{lv} {levels[lv]}" for lv in [*map(str, Level), "none"] if levels[lv])
    return f"{len(alerts)} — by kind: {by_kind} — by level: {by_level}"


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|$&~"})


def md_escape(text: str) -> str:
    """Text safe inside Markdown (tables included): specials backslash-escaped, one line."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def _markdown(info: _Summary, riskmap: bool = False) -> str:
    """The Markdown summary."""
    out = [f"# {md_escape(info.title)}", ""]
    out += [f"- **{name}:** {md_escape(text)}" for name, text in info.facts]
    out += ["", f"![risk]({PNG_NAME})"]
    if riskmap:
        out += ["", f"![risk map: the final book under price moves]({RISKMAP_NAME})"]
    out += ["", "## Alerts", ""]
    if info.rows:
        columns = _alert_columns(info.pm, info.tz_name)
        out.append("| " + " | ".join(md_escape(c) for c in columns) + " |")
        out.append("|" + "|".join("---:" if c in ("#", "risk") else "---" for c in columns) + "|")
        out += ["| " + " | ".join(md_escape(cell) for cell in row) + " |" for row in info.rows]
    else:
        out.append("No alerts.")
    if info.final is not None:
        table = format_table(info.final).replace("```", "'''")
        out += ["", "## Final figures", "", "```text", table, "```"]
    return "\n".join(out) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1240px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .25em 1em; }
dt { font-weight: 600; } dd { margin: 0; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; } td.time { white-space: nowrap; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
""".strip()


def _html(info: _Summary, riskmap: bool = False) -> str:
    """The HTML summary: one self-contained page (inline CSS) that embeds `risk.png`."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{esc(info.title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(info.title)}</h1>",
        "<dl>",
    ]
    out += [f"<dt>{esc(name)}</dt><dd>{esc(text)}</dd>" for name, text in info.facts]
    width, height = (int(v * DPI) for v in FIG_INCHES)
    out += [
        "</dl>",
        f'<p><img src="{PNG_NAME}" alt="risk over time" width="{width}" height="{height}"></p>',
    ]
    if riskmap:
        out.append(
            f'<p><img src="{RISKMAP_NAME}" alt="risk map: the final book under price moves"></p>'
        )
    out += [
        "<h2>Alerts</h2>",
    ]
    if info.rows:
        columns = _alert_columns(info.pm, info.tz_name)
        classes = ["num", "time", "", "", "num", "num", "num", ""]
        out.append("<table>")
        out.append("<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in columns) + "</tr></thead>")
        out.append("<tbody>")
        for row in info.rows:
            cells = "".join(
                f'<td class="{cls}">{esc(cell)}</td>' if cls else f"<td>{esc(cell)}</td>"
                for cls, cell in zip(classes, row, strict=True)
            )
            out.append(f"<tr>{cells}</tr>")
        out += ["</tbody>", "</table>"]
    else:
        out.append("<p>No alerts.</p>")
    if info.final is not None:
        out += ["<h2>Final figures</h2>", f"<pre>{esc(format_table(info.final))}</pre>"]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# ---- chart ---------------------------------------------------------------------------------------


_DAY_MS = 86_400_000


def _unix_epoch() -> float:
    """The Unix epoch as a matplotlib date number (days since matplotlib's own epoch)."""
    return float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


def chart_figure(timeline: AlertTimeline, *, tz: tzinfo = UTC) -> Figure:
    """The chart of `risk.png` as a drawn matplotlib figure (axes: risk, prices)."""
    return _figure(timeline, _summarise(timeline, None, None, tz), tz)


def _chart(timeline: AlertTimeline, info: _Summary, tz: tzinfo, path: Path) -> None:
    with matplotlib.style.context("default"):
        fig = _figure(timeline, info, tz)
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _figure(timeline: AlertTimeline, info: _Summary, tz: tzinfo) -> Figure:
    with matplotlib.style.context("default"):
        fig = Figure(figsize=FIG_INCHES, dpi=DPI)
        FigureCanvasAgg(fig)
        fig.subplots_adjust(left=0.065, right=0.815, top=0.95, bottom=0.07, hspace=0.08)
        ax, prices_ax = fig.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": RISK_PRICE_HEIGHTS}
        )
        epoch = _unix_epoch()
        start, end = info.start_ms, max(info.end_ms, info.start_ms + 1000)
        peak = 0.0 if info.peak is None else info.peak[1] * 100
        top = max(110.0, min(peak + 8.0, Y_CEILING))
        handles = _draw_risk(ax, timeline, epoch)
        _draw_levels(ax, timeline, info.pm)
        handles += _draw_blind(ax, info.blind, epoch)
        handles += _draw_alert_markers(ax, timeline.alerts, epoch, top)
        ax.set_xlim(epoch + start / _DAY_MS, epoch + end / _DAY_MS)
        ax.set_ylim(0.0, top)
        locator = mdates.AutoDateLocator(tz=tz)  # type: ignore[no-untyped-call]
        formatter = mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
            locator, tz=tz, formats=["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"]
        )
        prices_ax.xaxis.set_major_locator(locator)
        prices_ax.xaxis.set_major_formatter(formatter)
        prices_ax.set_xlabel(f"time ({info.tz_name})")
        ax.set_ylabel("risk (%) — 100 % = liquidation")
        ax.grid(True, alpha=0.3)
        ax.set_title(f"{info.account} · {info.mode} — risk over time", parse_math=False)
        if info.samples == 0:
            ax.text(
                0.5,
                0.5,
                "no risk figures in this recording",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color=OTHER_COLOUR,
            )
        elif peak > top:
            ax.text(
                0.99,
                0.98,
                f"off scale: peak {peak:.0f} %",
                transform=ax.transAxes,
                ha="right",
                va="top",
                color=LEVEL_COLOURS[Level.EMERGENCY],
                fontsize=9,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
            )
        _draw_prices(prices_ax, timeline, epoch)
        legend = ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)
        legend.set_zorder(9)
        # pin where "best" put it (with the data only), so the labels placed next cannot move it
        box = legend.get_window_extent(fig.canvas.get_renderer())  # type: ignore[attr-defined]
        legend.set_loc(tuple(ax.transAxes.inverted().transform((box.x0, box.y0))))
        _label_alerts(fig, ax, timeline.alerts, epoch, top, avoid=[legend])
        fig.canvas.draw()
        return fig


def _draw_risk(ax: Axes, timeline: AlertTimeline, epoch: float) -> list[Artist]:
    """The risk line (held between updates, broken where no figure came for too long)."""
    gap = timeline.config.stale_after_ms
    xs: list[float] = []
    ys: list[float] = []
    previous: int | None = None
    for t, risk in timeline.risks:
        if previous is not None and t - previous > gap:
            xs.append(epoch + previous / _DAY_MS)
            ys.append(float("nan"))
        xs.append(epoch + t / _DAY_MS)
        ys.append(min(risk * 100, Y_CEILING * 2))
        previous = t
    (line,) = ax.plot(xs, ys, color=RISK_COLOUR, lw=1.4, drawstyle="steps-post", label="risk")
    return [line]


def _draw_levels(ax: Axes, timeline: AlertTimeline, pm: bool) -> None:
    """Dashed alert-level lines and the liquidation line, labelled at the right edge."""
    trans = ax.get_yaxis_transform()
    lines = [*zip(Level, timeline.config.lines, strict=True)]
    for level, value in lines:
        y = value * 100
        ax.axhline(y, color=LEVEL_COLOURS[level], ls="--", lw=1.0)
        native = f" · uniMMR {_uni_mmr(value)}" if pm else ""
        ax.text(
            1.01,
            y,
            f"{level} {y:g} %{native}",
            transform=trans,
            va="top" if level is Level.EMERGENCY else "center",
            fontsize=8,
            color=LEVEL_COLOURS[level],
            clip_on=False,
        )
    ax.axhline(100.0, color=LIQUIDATION_COLOUR, lw=1.2)
    native = f" · uniMMR {PM_LIQUIDATION_UNIMMR:g}" if pm else ""
    ax.text(
        1.01,
        100.0,
        f"liquidation 100 %{native}",
        transform=trans,
        va="bottom",
        fontsize=8,
        fontweight="bold",
        color=LIQUIDATION_COLOUR,
        clip_on=False,
    )


def _draw_blind(ax: Axes, spans: list[tuple[int, int]], epoch: float) -> list[Artist]:
    for start, end in spans:
        ax.axvspan(
            epoch + start / _DAY_MS,
            epoch + end / _DAY_MS,
            color="#9a9a9a",
            alpha=0.25,
            lw=0,
        )
    return [Patch(color="#9a9a9a", alpha=0.25, label="monitor blind")] if spans else []


def price_series(timeline: AlertTimeline) -> dict[str, list[tuple[int, float]]]:
    """Per underlying, its recorded (t, mark) samples (the timeline's `prices`)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for t, marks in timeline.prices:
        for underlying, mark in marks:
            series.setdefault(underlying, []).append((t, mark))
    return series


def _draw_prices(ax: Axes, timeline: AlertTimeline, epoch: float) -> None:
    """The underlyings' marks as % change since their first sample, one line each."""
    series = price_series(timeline)
    ax.axhline(0.0, color="#888888", lw=0.8)
    for n, (underlying, samples) in enumerate(sorted(series.items())):
        first, last = samples[0][1], samples[-1][1]
        if first <= 0.0:
            continue
        xs = [epoch + t / _DAY_MS for t, _ in samples]
        ys = [(mark / first - 1.0) * 100 for _, mark in samples]
        ax.plot(
            xs,
            ys,
            color=PRICE_COLOURS[n % len(PRICE_COLOURS)],
            lw=1.2,
            drawstyle="steps-post",
            label=f"{underlying} {_price(first)} → {_price(last)} "
            f"{_price_unit(timeline, underlying)}",
        )
    ax.set_ylabel("mark vs start (%)")
    ax.grid(True, alpha=0.3)
    if series:
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
    else:
        ax.text(
            0.5,
            0.5,
            "no mark prices in this recording",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color=OTHER_COLOUR,
        )


def _price_unit(timeline: AlertTimeline, underlying: str) -> str:
    """The unit of an underlying's recorded mark: its held linear contract's quote, else USD."""
    book = timeline.replay.book
    if book is None:
        return "USD"
    state = book.state
    held = {pos.symbol for pos in state.positions.values()}
    quotes = sorted(
        c.settle_asset
        for c in state.contracts.values()
        if c.symbol in held and c.base_asset == underlying and c.kind is ContractKind.LINEAR
    )
    return quotes[0] if quotes else "USD"


def _price(mark: float) -> str:
    return f"{mark:,.0f}" if mark >= 1000 else f"{mark:,.4g}"


def _colour(alert: TimedAlert) -> str:
    intent = alert.intent
    if intent.kind is AlertKind.ALL_CLEAR:
        return ALL_CLEAR_COLOUR
    if intent.level is None or intent.kind is AlertKind.RAPID:
        return OTHER_COLOUR
    return LEVEL_COLOURS[intent.level]


def _alert_y(alert: TimedAlert, top: float) -> float:
    risk = alert.intent.risk
    return 2.0 if risk is None else min(risk * 100, top - 3.0)


def _draw_alert_markers(
    ax: Axes, alerts: list[TimedAlert], epoch: float, top: float
) -> list[Artist]:
    """A marker per alert at its time and risk, coloured by level (labels come later)."""
    used: dict[str, str] = {}
    for alert in alerts:
        intent = alert.intent
        colour = _colour(alert)
        ax.scatter(
            [epoch + intent.t_ms / _DAY_MS],
            [_alert_y(alert, top)],
            s=55,
            marker=_MARKERS.get(intent.kind, "o"),
            color=colour,
            edgecolors="black",
            linewidths=0.6,
            zorder=7,
        )
        if intent.kind is AlertKind.ALL_CLEAR:
            used.setdefault("all clear", colour)
        elif colour == OTHER_COLOUR:
            used.setdefault("other alert", colour)
        else:
            used.setdefault(f"{intent.level} alert", colour)
    order = [f"{lv} alert" for lv in Level] + ["all clear", "other alert"]
    return [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color=used[name],
            markeredgecolor="black",
            markeredgewidth=0.6,
            label=name,
        )
        for name in order
        if name in used
    ]


def alert_groups(alerts: list[TimedAlert], window_ms: int) -> list[list[TimedAlert]]:
    """Alerts in time order, grouped while each is within `window_ms` of the previous one."""
    groups: list[list[TimedAlert]] = []
    for alert in sorted(alerts, key=lambda a: a.intent.t_ms):
        if groups and alert.intent.t_ms - groups[-1][-1].intent.t_ms <= window_ms:
            groups[-1].append(alert)
        else:
            groups.append([alert])
    return groups


def group_label(group: list[TimedAlert]) -> str:
    """One label for a group of close alerts: each short label, or first … last (n alerts)."""
    names = [marker_label(a) for a in group]
    if len(names) <= GROUP_LABEL_MAX:
        return " · ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)} alerts)"


def _label_alerts(
    fig: Figure,
    ax: Axes,
    alerts: list[TimedAlert],
    epoch: float,
    top: float,
    avoid: list[Artist],
) -> None:
    """One label per group of alerts close in time, placed where it overlaps no other label,
    the legend, nor leaves the axes (tried above, then below, further and further out)."""
    if not alerts:
        return
    left, right = ax.get_xlim()
    span_ms = max(1.0, (right - left) * _DAY_MS)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    taken = [artist.get_window_extent(renderer) for artist in avoid]
    for alert in alerts:  # the markers themselves
        px, py = ax.transData.transform((epoch + alert.intent.t_ms / _DAY_MS, _alert_y(alert, top)))
        taken.append(Bbox.from_extents(px - 6, py - 6, px + 6, py + 6))
    for group in alert_groups(alerts, int(span_ms * GROUP_WINDOW)):
        ts = [a.intent.t_ms for a in group]
        x = epoch + (min(ts) + max(ts)) / 2 / _DAY_MS
        ys = [_alert_y(a, top) for a in group]
        worst = max(group, key=lambda a: -1 if a.intent.level is None else list(Level).index(
            a.intent.level))
        label = ax.annotate(
            group_label(group),
            (x, max(ys)),
            xytext=(0, 0),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=7,
            color=_colour(worst),
            zorder=8,
            parse_math=False,
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.6, "shrinkA": 0,
                        "shrinkB": 4},
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )
        for dy in _LABEL_OFFSETS:
            anchor = max(ys) if dy > 0 else min(ys)
            label.xy = (x, anchor)
            label.set_position((0, dy))
            box = _text_box(label, renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and (
                box.y1 <= frame.y1)
            if inside and not any(box.overlaps(other) for other in taken):
                break
        taken.append(_text_box(label, renderer))


def _text_box(label: Text, renderer: Any) -> Bbox:
    """Where a label's text and its white box are (in pixels), without its leader line."""
    if isinstance(label, Annotation):
        label.update_positions(renderer)  # places the text at its offset from the point
    return Text.get_window_extent(label, renderer).padded(LABEL_PAD_PX)
