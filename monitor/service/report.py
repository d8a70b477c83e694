"""The replay report: a PNG chart of risk over time plus Markdown and HTML summaries of a timeline.

`write_report(timeline, out_dir)` reads a finished `AccountCore` (risk samples, alerts, final
book) and writes `risk.png`, `report.md` and `report.html` into `out_dir`. The chart shows risk
in % on the recording's own clock, the alert levels as dashed lines (with uniMMR in Portfolio
Margin), liquidation at 100 %, every alert as a marker coloured by level, and shaded spans where
the monitor was blind; alerts close in time share one label, placed where it overlaps no other
label nor the legend. Under it, sharing the time axis, a price panel shows how the marks of the
underlyings that drive the risk moved (% since the start; the legend gives first → last price).
The output depends only on the timeline: no wall-clock time, no
matplotlib version stamp, the default matplotlib style whatever the local matplotlibrc says.
The summary is `service/report_summary.py`, the chart `service/report_chart.py`, the pages
`service/report_text.py`; the risk map beside them `service/riskmap.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path

from monitor.core.account_core import AccountCore
from monitor.service.report_chart import write_chart
from monitor.service.report_summary import summarise
from monitor.service.report_text import (
    HTML_NAME,
    MD_NAME,
    PNG_NAME,
    RISKMAP_NAME,
    html_page,
    markdown,
)
from monitor.service.riskmap import write_risk_map


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """The three files of a report."""

    png: Path
    html: Path
    md: Path
    riskmap: Path | None = None  # when the recording left a book to shock


def write_report(
    timeline: AccountCore,
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
    info = summarise(timeline, title, source, tz)
    riskmap = None
    if timeline.book is not None and timeline.book.state.positions:
        riskmap = write_risk_map(timeline, out_dir / RISKMAP_NAME)
    files = ReportFiles(out_dir / PNG_NAME, out_dir / HTML_NAME, out_dir / MD_NAME, riskmap)
    write_chart(timeline, info, tz, files.png)
    files.md.write_text(markdown(info, riskmap is not None), encoding="utf-8")
    files.html.write_text(html_page(info, riskmap is not None), encoding="utf-8")
    return files
