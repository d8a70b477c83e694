"""The replay report: chart PNG, Markdown and HTML summaries of an alert timeline."""

from __future__ import annotations

import re
import struct
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.calc import build_report
from monitor.core.account_core import AccountCore
from monitor.examples import path as example_path
from monitor.feed.recording import Line, Meta, read_recording
from monitor.service.report import ReportFiles, write_report
from tests.recordings import mark, price_for_risk, snapshot

T0 = 1_763_700_000_000
HOSTILE = '<script>alert("x")</script> & $a$ | _b_ `c` [d](e)'


@pytest.fixture(scope="module")
def pm_timeline() -> AccountCore:
    meta, lines = read_recording(example_path("portfolio_margin"))
    timeline = AccountCore(meta, with_figures=True)
    timeline.run(lines)
    return timeline


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert (length, chunk) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _md_rows(md: str) -> list[str]:
    """Data rows of the Markdown alerts table."""
    return [line for line in md.splitlines() if re.match(r"\| \d+ \|", line)]


def _html_rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body)


def test_pm_report_files_chart_and_alert_table(pm_timeline: AccountCore, tmp_path: Path) -> None:
    files = write_report(pm_timeline, tmp_path / "out", source="portfolio_margin.jsonl")
    assert files == ReportFiles(
        tmp_path / "out" / "risk.png",
        tmp_path / "out" / "report.html",
        tmp_path / "out" / "report.md",
        tmp_path / "out" / "riskmap.png",
    )
    assert _png_size(files.png) == (1200, 800)
    assert b"Matplotlib" not in files.png.read_bytes()  # no version stamp in the metadata

    md = files.md.read_text(encoding="utf-8")
    page = files.html.read_text(encoding="utf-8")
    alerts = pm_timeline.alerts
    assert len(alerts) == 8  # the bundled PM timeline (tests/core/test_account_core.py)
    assert len(_md_rows(md)) == len(alerts)
    assert len(_html_rows(page)) == len(alerts)
    assert "![risk](risk.png)" in md
    assert '<img src="risk.png"' in page

    # peak risk with its uniMMR, from the timeline's own samples
    t_peak, peak = max(pm_timeline.risks, key=lambda sample: sample[1])
    assert 0.95 < peak < 1.0
    at = datetime.fromtimestamp(t_peak / 1000, UTC)
    peak_text = f"{peak * 100:.2f} % (uniMMR {1.05 / peak:.3f}) at {at:%Y-%m-%d %H:%M:%S} UTC"
    assert peak_text in md
    assert peak_text in page

    # each alert in order: time, kind, level, risk
    for row, alert in zip(_md_rows(md), alerts, strict=True):
        intent = alert.intent
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[2].replace("\\", "") == intent.kind.value
        assert cells[3] == (intent.level.value if intent.level else "—")
        assert intent.risk is not None
        assert cells[4] == f"{intent.risk * 100:.1f} %"
    assert "| 2026-07-15 07:57:34 | level | warning | 70.1 % | 1.498 |" in md
    assert "riskLevelChange REDUCE\\_ONLY" in md
    assert "riskLevelChange REDUCE_ONLY" in page

    # counts by kind and level
    kinds = Counter(a.intent.kind.value for a in alerts)
    assert f"level {kinds['level']}, deescalation {kinds['deescalation']}" in page
    assert "by level: warning 1, critical 3, emergency 2, none 2" in page

    # final figures from the final book, as `calc` shows them
    assert pm_timeline.book is not None
    final = build_report(pm_timeline.book)
    assert f"risk {final['risk'] * 100:.2f} % · uniMMR {final['uni_mmr']:.4f}" in md
    assert "liq. price" in md and "liq. price" in page
    assert "Monitor blind:** never" in md
    assert "portfolio\\_margin.jsonl" in md
    assert "2026-07-15 07:55:00 → 2026-07-15 08:05:00 UTC (10 min 00 s" in md


def test_report_is_deterministic(pm_timeline: AccountCore, tmp_path: Path) -> None:
    first = write_report(pm_timeline, tmp_path / "a", title="PM demo")
    second = write_report(pm_timeline, tmp_path / "b", title="PM demo")
    for a, b in zip(
        (first.md, first.html, first.png), (second.md, second.html, second.png), strict=True
    ):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert first.md.read_text(encoding="utf-8").startswith("# PM demo\n")


def test_times_in_another_zone(pm_timeline: AccountCore, tmp_path: Path) -> None:
    files = write_report(pm_timeline, tmp_path, tz=timezone(timedelta(hours=2)))
    md = files.md.read_text(encoding="utf-8")
    assert "| # | time (UTC+02:00) |" in md
    assert "| 2026-07-15 09:57:34 | level | warning |" in md


def _blind_then_liquidated() -> list[Line]:
    """Warning, critical, a 40 s hole in the marks (blind), emergency past 100 %, all clear."""
    lines: list[Line] = list(snapshot(T0))
    t = 1
    for risk, seconds in [(0.3, 20), (0.75, 20), (0.9, 10), (None, 40), (0.99, 30), (2.5, 5)]:
        for _ in range(seconds):
            if risk is not None:
                lines.append(mark(T0 + t * 1000, "BTCUSDT", price_for_risk(risk)))
            t += 1
    lines += [mark(T0 + (t + k) * 1000, "BTCUSDT", price_for_risk(0.4)) for k in range(30)]
    return lines


def test_hostile_account_name_is_escaped_and_blind_span_reported(tmp_path: Path) -> None:
    timeline = AccountCore(Meta(account=HOSTILE), with_figures=True)
    timeline.run(_blind_then_liquidated())
    kinds = [a.intent.kind.value for a in timeline.alerts]
    assert "blind" in kinds and "restored" in kinds
    files = write_report(timeline, tmp_path)
    assert _png_size(files.png) == (1200, 800)  # `$a$` is not taken for mathtext

    page = files.html.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $a$" in page
    assert len(_html_rows(page)) == len(timeline.alerts)

    md = files.md.read_text(encoding="utf-8")
    text, code = md.split("```text\n", 1)
    assert "<script>" not in text
    assert f"account {HOSTILE} · mode usdm" in code  # literal inside the fenced block
    assert '\\<script\\>alert("x")\\</script\\> \\& \\$a\\$ \\| \\_b\\_ \\`c\\` \\[d\\](e)' in md
    rows = _md_rows(md)
    assert len(rows) == len(timeline.alerts)
    assert all(row.count(" | ") == 7 for row in rows)  # no stray cell separators
    assert "Monitor blind:** 1 span(s), 25 s in all" in md
    assert "Peak risk:** 250.00 % at" in md


def test_recording_without_account_state(tmp_path: Path) -> None:
    timeline = AccountCore(Meta(account="empty"))
    timeline.run([mark(T0, "BTCUSDT", 50_000.0)])
    files = write_report(timeline, tmp_path)
    assert _png_size(files.png) == (1200, 800)
    md = files.md.read_text(encoding="utf-8")
    assert "no account state" in md
    assert "No alerts." in md
    assert "no risk figures in this recording" in md


# ---- the chart: labels that never overlap, the legend with the data, a price panel -------------


def _demo_like_timeline() -> AccountCore:
    """The bundled PM book with the demo's 20-fold compressed policy: dense alerts."""
    from monitor.service.demo import demo_policy

    meta, lines = read_recording(example_path("portfolio_margin"))
    timeline = AccountCore(meta, config=demo_policy(20), with_figures=True)
    timeline.run(lines)
    return timeline


@pytest.mark.parametrize("dense", [False, True])
def test_chart_labels_overlap_nothing_and_the_legend_sits_in_the_axes(
    pm_timeline: AccountCore, dense: bool
) -> None:
    from matplotlib.text import Annotation, Text

    from monitor.service.report_chart import LABEL_PAD_PX, alert_groups, chart_figure

    timeline = _demo_like_timeline() if dense else pm_timeline
    fig = chart_figure(timeline)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    risk_ax, price_ax = fig.axes[:2]
    labels = [a for a in risk_ax.texts if isinstance(a, Annotation)]
    assert labels and len(labels) <= len(timeline.alerts)
    boxes = [Text.get_window_extent(a, renderer).padded(LABEL_PAD_PX - 1) for a in labels]
    frame = risk_ax.get_window_extent(renderer)
    legend = risk_ax.get_legend().get_window_extent(renderer)
    assert frame.contains(legend.x0, legend.y0) and frame.contains(legend.x1, legend.y1)
    for n, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 <= box.y1
        assert not box.overlaps(legend), labels[n].get_text()
        for other in boxes[n + 1 :]:
            assert not box.overlaps(other), labels[n].get_text()
    # one label per group of close alerts; each alert named in its group's label
    span = (risk_ax.get_xlim()[1] - risk_ax.get_xlim()[0]) * 86_400_000
    assert len(labels) == len(alert_groups(timeline.alerts, int(span * 0.035)))
    # the price panel under it shares the time axis and shows the underlyings
    assert price_ax.get_shared_x_axes().joined(risk_ax, price_ax)
    assert price_ax.get_position().y1 <= risk_ax.get_position().y0
    names = [str(line.get_label()) for line in price_ax.get_lines()]
    names = [name for name in names if not name.startswith("_")]
    assert [name.split()[0] for name in names] == ["BTC", "ETH"]
    assert all(name.endswith(" USDT") for name in names)  # the marks say their unit


def test_alert_groups_and_their_labels(pm_timeline: AccountCore) -> None:
    from monitor.service.report_chart import alert_groups, group_label, marker_label

    alerts = pm_timeline.alerts
    assert sum(len(g) for g in alert_groups(alerts, 0)) == len(alerts)
    everything = alert_groups(alerts, 10**12)
    assert len(everything) == 1
    label = group_label(everything[0])
    assert label.startswith(marker_label(alerts[0])) and f"({len(alerts)} alerts)" in label
    pair = group_label(alerts[:2])
    assert pair == f"{marker_label(alerts[0])} · {marker_label(alerts[1])}"


def test_timeline_records_the_underlyings_marks(pm_timeline: AccountCore) -> None:
    from monitor.service.report_chart import price_series

    series = price_series(pm_timeline)
    assert set(series) == {"BTC", "ETH"}
    assert len(pm_timeline.prices) == len(pm_timeline.risks)
    final = build_report(pm_timeline.book)  # type: ignore[arg-type]
    btc_mark = next(p["mark_price"] for p in final["positions"] if p["symbol"] == "BTCUSDT")
    assert series["BTC"][-1][1] == pytest.approx(btc_mark)


def test_units_everywhere_and_the_time_zone_once(
    pm_timeline: AccountCore, tmp_path: Path
) -> None:
    files = write_report(pm_timeline, tmp_path / "out")
    md = files.md.read_text(encoding="utf-8")
    for line in md.splitlines():
        assert line.count("UTC") <= 1, line
    final = next(line for line in md.splitlines() if line.startswith("- **Final:**"))
    assert " USD" in final and "risk " in final and " %" in final
    # the final figures table: every amount with its unit
    table = md.split("```text", 1)[1]
    assert "max withdrawable" in table and table.split("max withdrawable", 1)[1].split()[1] == "USD"
    assert "-16.0000 BTC" in table and "contracts" in table


def test_report_has_the_risk_map(pm_timeline: AccountCore, tmp_path: Path) -> None:
    """The final book under a grid of (BTC move × every other underlying's move), embedded."""
    files = write_report(pm_timeline, tmp_path)
    assert files.riskmap is not None and files.riskmap.name == "riskmap.png"
    assert files.riskmap.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "![risk map: the final book under price moves](riskmap.png)" in files.md.read_text()
    assert '<img src="riskmap.png"' in files.html.read_text()
