"""The table of alert kinds (monitor/alerts/kinds.py): complete, consistent, and what messages
and the report read."""

from __future__ import annotations

import itertools

import pytest
from matplotlib.markers import MarkerStyle

from monitor.alerts import kinds
from monitor.alerts.kinds import KINDS, URGENCIES, URGENCY
from monitor.alerts.levels import AlertIntent, AlertKind, Level
from monitor.alerts.messages import RenderedAlert, label, summary


def _intent(kind: AlertKind, level: Level | None, topic: str = "") -> AlertIntent:
    return AlertIntent(
        alert_id="a", account="acct", kind=kind, level=level, risk=0.5, t_ms=0,
        tags=frozenset(), peak=Level.EMERGENCY, topic=topic,
    )


def test_every_kind_has_a_row() -> None:
    assert set(KINDS) == set(AlertKind), "add the new kind's row to monitor/alerts/kinds.py"


@pytest.mark.parametrize("kind", list(AlertKind))
def test_each_row_renders_for_every_level(kind: AlertKind) -> None:
    row = KINDS[kind]
    MarkerStyle(row.marker)  # a marker matplotlib knows
    assert row.urgency is None or row.urgency in URGENCIES
    for level in (None, *Level):
        intent = _intent(kind, level, "riskLevelChange:MARGIN_CALL")
        assert summary(intent) and "{" not in summary(intent)
        assert kinds.chart_label(intent) and "{" not in kinds.chart_label(intent)
        assert kinds.colour(intent).startswith("#")
        assert label(intent) in URGENCY or label(intent) == "INFO"


def test_own_labels_are_unique_and_carry_their_urgency() -> None:
    own = [row.label for row in KINDS.values() if row.urgency is not None]
    assert len(own) == len(set(own))
    for row in KINDS.values():
        if row.urgency is not None:
            subject = f"[{row.label}] acct: x"
            assert RenderedAlert(subject, "", "", "").urgency == row.urgency
    assert set(URGENCY.values()) <= set(URGENCIES)


def test_texts_the_table_gives() -> None:
    cases = {
        (AlertKind.LEVEL, Level.CRITICAL): ("CRITICAL", "risk reached critical", "critical"),
        (AlertKind.DEESCALATION, Level.WARNING): (
            "WARNING", "eased from emergency to warning", "eased to warning",
        ),
        (AlertKind.ALL_CLEAR, None): ("ALL CLEAR", "all clear (peak was emergency)", "all clear"),
        (AlertKind.RAPID, Level.WARNING): ("RAPID", "rapid deterioration", "rapid"),
        (AlertKind.EXCHANGE, Level.CRITICAL): (
            "CRITICAL", "exchange signal: riskLevelChange", "MARGIN_CALL",
        ),
        (AlertKind.BLIND, None): ("BLIND", "monitor blind", "blind"),
    }
    for (kind, level), (tag, sentence, chart) in cases.items():
        intent = _intent(kind, level, "riskLevelChange:MARGIN_CALL")
        assert (label(intent), summary(intent), kinds.chart_label(intent)) == (tag, sentence, chart)


def test_report_colours_follow_the_level_unless_the_kind_fixes_one() -> None:
    for kind, level in itertools.product(AlertKind, Level):
        fixed = KINDS[kind].colour
        expected = fixed if fixed is not None else kinds.LEVEL_COLOURS[level]
        assert kinds.colour(_intent(kind, level)) == expected
    assert kinds.colour(_intent(AlertKind.BLIND, None)) == kinds.OTHER_COLOUR
    assert kinds.colour(_intent(AlertKind.ALL_CLEAR, None)) == kinds.ALL_CLEAR_COLOUR
