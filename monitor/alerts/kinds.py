"""The table of alert kinds: how each `AlertKind` reads, sounds and looks, in one place.

Per kind (`KINDS`): its subject label (`[ALL CLEAR]`; level-bearing kinds show the level
instead), the urgency of that label (how loudly senders deliver it), the summary sentence of its
messages, and its look on the replay report's chart — marker, colour (None: the level's
colour, or the neutral one without a level), legend entry and the short label beside the marker.
Sentences and chart labels are templates over an alert's fields (`fields`): `{kind}`,
`{level}`, `{peak}`, `{signal}` (an exchange signal's name), `{event}` (the topic's last part,
else the kind). Read by `alerts/messages.py` (labels, urgency, summaries) and
`service/report_chart.py` (markers, colours, legend, chart labels); the dashboard colours alerts
by level only.

A new alert kind: its member in `levels.AlertKind`, the decision that raises it in
`policy.AlertPolicy`, its row here, tests (CONTRIBUTING.md, "Add an alert kind").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from monitor.alerts.levels import AlertIntent, AlertKind, Level

#: Report colours of the levels (also the colour of each level's threshold line).
LEVEL_COLOURS: Mapping[Level, str] = MappingProxyType(
    {
        Level.WARNING: "#d9a400",
        Level.CRITICAL: "#e0600b",
        Level.EMERGENCY: "#c8102e",
    }
)
ALL_CLEAR_COLOUR = "#2e8b3a"
#: Alerts without a level (and the rapid-deterioration warning): a neutral grey.
OTHER_COLOUR = "#5f6b7a"
#: Urgencies, loudest first: `emergency` (wake me), `critical`, `warning`, `success` (all
#: clear, sight restored), `info` (quiet).
URGENCIES = ("emergency", "critical", "warning", "success", "info")


@dataclass(frozen=True, slots=True)
class KindStyle:
    """How one alert kind reads, sounds and looks."""

    #: The summary sentence (a template over `fields`).
    summary: str
    #: The report chart's marker (a matplotlib marker).
    marker: str
    #: The subject's bracketed label when the level does not give it.
    label: str = "INFO"
    #: A level-bearing alert of this kind is labelled by its level (`[CRITICAL]`).
    level_label: bool = True
    #: The urgency of `label` (None: the kind has no label of its own).
    urgency: str | None = None
    #: A fixed chart colour (None: the level's colour, `OTHER_COLOUR` without a level).
    colour: str | None = None
    #: Its own legend entry on the chart (None: listed under its level, or "other alert").
    legend: str | None = None
    #: The short label beside its chart marker (a template over `fields`).
    chart_label: str = "{kind}"


KINDS: Mapping[AlertKind, KindStyle] = MappingProxyType(
    {
        AlertKind.LEVEL: KindStyle("risk reached {level}", "^", chart_label="{level}"),
        AlertKind.REPEAT: KindStyle("{level} persists", "^", chart_label="{level} again"),
        AlertKind.DEESCALATION: KindStyle(
            "eased from {peak} to {level}", "v", chart_label="eased to {level}"
        ),
        AlertKind.ALL_CLEAR: KindStyle(
            "all clear (peak was {peak})",
            "o",
            label="ALL CLEAR",
            urgency="success",
            colour=ALL_CLEAR_COLOUR,
            legend="all clear",
            chart_label="all clear",
        ),
        AlertKind.RAPID: KindStyle(
            "rapid deterioration",
            "D",
            label="RAPID",
            level_label=False,
            urgency="critical",
            colour=OTHER_COLOUR,
        ),
        AlertKind.BLIND: KindStyle("monitor blind", "X", label="BLIND", urgency="critical"),
        AlertKind.RESTORED: KindStyle("sight restored", "P", label="RESTORED", urgency="success"),
        AlertKind.DRIFT: KindStyle(
            "local figures disagree with the exchange", "d", label="DRIFT", urgency="warning"
        ),
        AlertKind.EXCHANGE: KindStyle("exchange signal: {signal}", "s", chart_label="{event}"),
        # Rendered by the worker itself (`worker.outbox_alert`, `[OPS]`), never by `messages`.
        AlertKind.OUTBOX: KindStyle("alert outbox", "o"),
        AlertKind.DIGEST: KindStyle("daily digest", ".", label="DIGEST", urgency="info"),
        AlertKind.ESCALATION: KindStyle(
            "emergency not acknowledged",
            "o",
            label="ESCALATION",
            level_label=False,
            urgency="emergency",
        ),
    }
)

#: How loudly each subject label is delivered; unknown labels are `warning`. The levels'
#: labels, the kinds' own labels, and the labels not tied to one kind (`[OPS]` from the worker,
#: `[TEST]` from test-alert).
URGENCY: Mapping[str, str] = MappingProxyType(
    {
        **{str(level).upper(): str(level) for level in Level},
        **{s.label: s.urgency for s in KINDS.values() if s.urgency is not None},
        "OPS": "warning",
        "EXCHANGE": "warning",
        "INFO": "info",
        "TEST": "info",
    }
)


def fields(intent: AlertIntent) -> dict[str, str]:
    """What the templates may name: kind, level, peak, signal, event."""
    return {
        "kind": str(intent.kind),
        "level": str(intent.level),
        "peak": str(intent.peak),
        "signal": intent.topic.split(":")[0],
        "event": intent.topic.rsplit(":", 1)[-1] or str(intent.kind),
    }


def label(intent: AlertIntent) -> str:
    """The bracketed tag of a subject: the level for level-bearing alerts, else the kind's."""
    row = KINDS[intent.kind]
    if intent.level is not None and row.level_label:
        return intent.level.upper()
    return row.label


def summary(intent: AlertIntent) -> str:
    """What happened, in a few words (`risk reached critical`)."""
    return KINDS[intent.kind].summary.format(**fields(intent))


def chart_label(intent: AlertIntent) -> str:
    """The short label drawn beside an alert's marker on the report chart."""
    return KINDS[intent.kind].chart_label.format(**fields(intent))


def colour(intent: AlertIntent) -> str:
    """The alert's colour on the report chart."""
    fixed = KINDS[intent.kind].colour
    if fixed is not None:
        return fixed
    return OTHER_COLOUR if intent.level is None else LEVEL_COLOURS[intent.level]
