"""What a replay report shows, computed once from a finished `AccountCore` (`summarise`).

The facts (recording, account, time span, peak and final risk, blind spans, alert counts), the
alerts table as plain text cells and the final book's `calc` report, in the zone `tz`; the chart
(`service/report_chart.py`) and the Markdown and HTML pages (`service/report_text.py`) draw from
the same `ReportSummary`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from monitor.alerts.levels import AlertKind, Level
from monitor.alerts.messages import summary
from monitor.calc import build_report, risk_text
from monitor.core.account_core import AccountCore
from monitor.core.step import TimedAlert
from monitor.engine.model import PM_LIQUIDATION_UNIMMR, Mode


@dataclass(frozen=True, slots=True)
class ReportSummary:
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


def uni_mmr_text(risk: float) -> str:
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


def summarise(
    timeline: AccountCore, title: str | None, source: str | None, tz: tzinfo
) -> ReportSummary:
    meta = timeline.meta
    replay = timeline
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
    return ReportSummary(
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


def alert_columns(pm: bool, tz_name: str) -> list[str]:
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
    native = f" (uniMMR {uni_mmr_text(risk)})" if pm else ""
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
