"""The Markdown and HTML pages of a replay report (`report.md`, `report.html`) from its summary.

Both show the same facts and alerts table (`service/report_summary.py`) and embed the chart
(`risk.png`) and, when there is one, the risk map; the HTML page is self-contained (inline CSS).
"""

from __future__ import annotations

import html

from monitor.calc import format_table
from monitor.service.report_chart import DPI, FIG_INCHES
from monitor.service.report_summary import ReportSummary, alert_columns

PNG_NAME = "risk.png"
#: The risk map: risk over a grid of (BTC move × every other underlying's move).
RISKMAP_NAME = "riskmap.png"
MD_NAME = "report.md"
HTML_NAME = "report.html"


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|$&~"})


def md_escape(text: str) -> str:
    """Text safe inside Markdown (tables included): specials backslash-escaped, one line."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def markdown(info: ReportSummary, riskmap: bool = False) -> str:
    """The Markdown summary."""
    out = [f"# {md_escape(info.title)}", ""]
    out += [f"- **{name}:** {md_escape(text)}" for name, text in info.facts]
    out += ["", f"![risk]({PNG_NAME})"]
    if riskmap:
        out += ["", f"![risk map: the final book under price moves]({RISKMAP_NAME})"]
    out += ["", "## Alerts", ""]
    if info.rows:
        columns = alert_columns(info.pm, info.tz_name)
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


def html_page(info: ReportSummary, riskmap: bool = False) -> str:
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
        columns = alert_columns(info.pm, info.tz_name)
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
