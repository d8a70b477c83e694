"""Blind/restored spans of the alert policy are never negative (issue 19, item 6)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.levels import AlertKind
from monitor.alerts.policy import AlertPolicy
from monitor.alerts.policy_events import Seen, Tick, Watch
from tests.budgets import examples

S = 1000


def _span_s(detail: str) -> int:
    match = re.match(r"blind for (-?\d+) s;", detail)
    assert match, detail
    return int(match.group(1))


def test_data_stamped_before_the_blind_start_restores_with_a_zero_span() -> None:
    """A REST group fetched across the blind start (or a wall clock stepped back) carries an
    older time than the tick that declared the monitor blind: it said "blind for -47 s"."""
    pol = AlertPolicy("alice")
    pol.step(Watch(frozenset({"rest"})), 0)
    pol.step(Seen("rest"), 0)
    (blind,) = pol.step(Tick(), 100 * S)
    assert blind.kind is AlertKind.BLIND
    (restored,) = pol.step(Seen("rest"), 53 * S)
    assert restored.kind is AlertKind.RESTORED
    assert _span_s(restored.detail) == 0
    assert restored.t_ms == blind.t_ms  # not dated before the blind alert it ends


def test_span_counts_from_the_blind_start() -> None:
    pol = AlertPolicy("alice")
    pol.step(Watch(frozenset({"rest"})), 0)
    pol.step(Seen("rest"), 0)
    (blind,) = pol.step(Tick(), 16 * S)
    (restored,) = pol.step(Seen("rest"), 58 * S)
    assert _span_s(restored.detail) == 42
    assert (blind.t_ms, restored.t_ms) == (16 * S, 58 * S)


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 200)), min_size=1, max_size=60))
def test_restored_never_precedes_its_blind(steps: list[tuple[bool, int]]) -> None:
    """Any interleaving of ticks and sightings, with times that may go backwards."""
    pol = AlertPolicy("alice")
    pol.step(Watch(frozenset({"rest"})), 0)
    blind_at: int | None = None
    for is_tick, t_s in steps:
        event = Tick() if is_tick else Seen("rest")
        for intent in pol.step(event, t_s * S):
            if intent.kind is AlertKind.BLIND:
                blind_at = intent.t_ms
            elif intent.kind is AlertKind.RESTORED:
                assert blind_at is not None
                assert intent.t_ms >= blind_at
                assert _span_s(intent.detail) >= 0
                assert _span_s(intent.detail) == round((intent.t_ms - blind_at) / S)
