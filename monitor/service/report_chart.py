"""The chart of a replay report (`risk.png`), drawn with matplotlib from a finished timeline.

Risk in % on the recording's own clock, the alert levels as dashed lines (with uniMMR in
Portfolio Margin), liquidation at 100 %, every alert as a marker coloured by level
(`alerts/kinds.py`), and shaded spans where the monitor was blind; alerts close in time share one
label, placed where it overlaps no other label nor the legend. Under it, sharing the time axis, a
price panel shows how the marks of the underlyings that drive the risk moved (% since the start;
the legend gives first → last price). The output depends only on the timeline: no wall-clock
time, no matplotlib version stamp, the default matplotlib style whatever the local matplotlibrc
says.
"""

from __future__ import annotations

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

from monitor.alerts import kinds
from monitor.alerts.kinds import KINDS, LEVEL_COLOURS, OTHER_COLOUR
from monitor.alerts.levels import Level
from monitor.core.account_core import AccountCore
from monitor.core.step import TimedAlert
from monitor.engine.model import PM_LIQUIDATION_UNIMMR, ContractKind
from monitor.service.report_summary import ReportSummary, summarise, uni_mmr_text

FIG_INCHES = (12.0, 8.0)
RISK_PRICE_HEIGHTS = (3.0, 1.4)
DPI = 100
#: The y axis stops here (in %); higher risk is drawn at the edge and noted as off scale.
Y_CEILING = 200.0

RISK_COLOUR = "#1f5fa8"
LIQUIDATION_COLOUR = "#000000"
#: Vertical offsets (points) tried in turn for an alert group's label until it overlaps nothing.
_LABEL_OFFSETS = (14, -14, 28, -28, 42, -42, 56, -56, 70, -70, 84, 98, 112)
#: Clearance (px) kept around each label's text: its white box reaches this far.
LABEL_PAD_PX = 3.0
#: Alerts closer than this fraction of the time axis share one label.
GROUP_WINDOW = 0.035
#: A group label lists up to this many alerts, else "first … last (n alerts)".
GROUP_LABEL_MAX = 2
PRICE_COLOURS = ("#e08a00", "#6a3d9a", "#1b9e77", "#d95f02", "#7570b3", "#66a61e")


def marker_label(alert: TimedAlert) -> str:
    """The short label drawn beside an alert's marker (`kinds.KINDS`)."""
    return kinds.chart_label(alert.intent)


_DAY_MS = 86_400_000


def _unix_epoch() -> float:
    """The Unix epoch as a matplotlib date number (days since matplotlib's own epoch)."""
    return float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


def chart_figure(timeline: AccountCore, *, tz: tzinfo = UTC) -> Figure:
    """The chart of `risk.png` as a drawn matplotlib figure (axes: risk, prices)."""
    return _figure(timeline, summarise(timeline, None, None, tz), tz)


def write_chart(timeline: AccountCore, info: ReportSummary, tz: tzinfo, path: Path) -> None:
    with matplotlib.style.context("default"):
        fig = _figure(timeline, info, tz)
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _figure(timeline: AccountCore, info: ReportSummary, tz: tzinfo) -> Figure:
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


def _draw_risk(ax: Axes, timeline: AccountCore, epoch: float) -> list[Artist]:
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


def _draw_levels(ax: Axes, timeline: AccountCore, pm: bool) -> None:
    """Dashed alert-level lines and the liquidation line, labelled at the right edge."""
    trans = ax.get_yaxis_transform()
    lines = [*zip(Level, timeline.config.lines, strict=True)]
    for level, value in lines:
        y = value * 100
        ax.axhline(y, color=LEVEL_COLOURS[level], ls="--", lw=1.0)
        native = f" · uniMMR {uni_mmr_text(value)}" if pm else ""
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


def price_series(timeline: AccountCore) -> dict[str, list[tuple[int, float]]]:
    """Per underlying, its recorded (t, mark) samples (the timeline's `prices`)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for t, marks in timeline.prices:
        for underlying, mark in marks:
            series.setdefault(underlying, []).append((t, mark))
    return series


def _draw_prices(ax: Axes, timeline: AccountCore, epoch: float) -> None:
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


def _price_unit(timeline: AccountCore, underlying: str) -> str:
    """The unit of an underlying's recorded mark: its held linear contract's quote, else USD."""
    book = timeline.book
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
    return kinds.colour(alert.intent)


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
            marker=KINDS[intent.kind].marker,
            color=colour,
            edgecolors="black",
            linewidths=0.6,
            zorder=7,
        )
        legend = KINDS[intent.kind].legend
        if legend is not None:
            used.setdefault(legend, colour)
        elif colour == OTHER_COLOUR:
            used.setdefault("other alert", colour)
        else:
            used.setdefault(f"{intent.level} alert", colour)
    own = [row.legend for row in KINDS.values() if row.legend is not None]
    order = [f"{lv} alert" for lv in Level] + own + ["other alert"]
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
