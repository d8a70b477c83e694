"""Golden alert timelines: recordings replayed through the real decoders, engine and policy."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from monitor.core.account_core import AccountCore
from monitor.examples import path as example_path
from monitor.feed.recording import Line, Meta, NoteLine, read_recording
from tests.recordings import mark, price_for_risk, snapshot

T0 = 1_763_700_000_000


def _path(steps: Iterable[tuple[float, int]], start_s: int = 1) -> list[Line]:
    """A snapshot at T0, then one BTCUSDT mark per second: (risk, seconds to hold it)."""
    lines: list[Line] = list(snapshot(T0))
    t = start_s
    for risk, seconds in steps:
        for _ in range(seconds):
            lines.append(mark(T0 + t * 1000, "BTCUSDT", price_for_risk(risk)))
            t += 1
    return lines


def _timeline(lines: list[Line]) -> list[tuple[int, str, str | None]]:
    """(seconds after T0, kind, level) of every alert."""
    alerts = AccountCore(Meta(account="golden")).run(lines)
    return [
        ((a.intent.t_ms - T0) // 1000, a.intent.kind.value,
         None if a.intent.level is None else a.intent.level.value)
        for a in alerts
    ]


def test_escalation_repeat_deescalation_all_clear() -> None:
    lines = _path([(0.30, 10), (0.72, 10), (0.87, 10), (0.96, 130), (0.80, 10), (0.50, 10)])
    assert _timeline(lines) == [
        (11, "level", "warning"),  # risk +42 points at once: the rapid alert folds into this
        (21, "level", "critical"),
        (31, "level", "emergency"),
        (91, "repeat", "emergency"),  # every 60 s while the emergency holds
        (151, "repeat", "emergency"),
        (166, "deescalation", "warning"),  # 0.80 < 0.85 − 0.03, held for the 5 s dwell
        (176, "all_clear", None),  # 0.50 < 0.70 − 0.03, after the dwell
    ]


def test_value_sitting_on_a_line_never_flaps() -> None:
    wobble = [(0.69, 1), (0.71, 1)] * 60  # ±1 point around the warning line for 2 minutes
    dips = [(0.66, 1), (0.71, 3)] * 10  # below the hysteresis band, but never for the dwell
    assert _timeline(_path([(0.62, 5), *wobble, *dips])) == [(7, "level", "warning")]


def test_rapid_deterioration_below_the_warning_line() -> None:
    climb = [(0.30 + 0.004 * k, 1) for k in range(60)]  # +24 points in one minute, peak 0.536
    timeline = _timeline(_path([(0.30, 5), *climb, (0.536, 30)]))
    assert [(kind, level) for _, kind, level in timeline] == [("rapid", None)]
    assert 40 <= timeline[0][0] <= 45  # when the rise within the window first reaches 15 points


def test_blind_then_restored_when_marks_stop_and_resume() -> None:
    lines = _path([(0.30, 10)])
    lines.append(NoteLine(T0 + 50_000, "market stream silent for 40 s"))
    lines += _path([(0.30, 5)], start_s=51)[len(snapshot(T0)):]
    assert _timeline(lines) == [(26, "blind", None), (51, "restored", None)]


def test_levels_are_not_decided_while_blind() -> None:
    lines = _path([(0.30, 10)])
    lines.append(NoteLine(T0 + 40_000, "gap"))
    lines += _path([(0.90, 5)], start_s=41)[len(snapshot(T0)):]
    kinds = [kind for _, kind, _ in _timeline(lines)]
    assert kinds[:2] == ["blind", "restored"]
    assert "level" in kinds[2:]  # decided only once sight is restored


def test_nothing_is_decided_before_the_first_snapshot() -> None:
    early = [mark(T0 - 5000 + 1000 * k, "BTCUSDT", price_for_risk(0.99)) for k in range(5)]
    lines = [*early, *_path([(0.30, 3)])]
    assert _timeline(lines) == []


def test_bundled_portfolio_margin_slide_and_recovery() -> None:
    meta, lines = read_recording(example_path("portfolio_margin"))
    alerts = AccountCore(meta).run(lines)
    got = [(a.intent.kind.value, a.intent.level and a.intent.level.value) for a in alerts]
    assert got == [
        ("rapid", None),
        ("level", "warning"),
        ("exchange", "critical"),  # riskLevelChange MARGIN_CALL
        # It hovers around the critical line within the 3-point hysteresis: no notice (the
        # de-escalation this example once showed was the sawtooth of polled collateral).
        ("level", "critical"),
        ("exchange", "emergency"),  # riskLevelChange REDUCE_ONLY
        ("level", "emergency"),
        ("deescalation", "critical"),
        ("all_clear", None),
    ]
    ids = [a.intent.alert_id for a in alerts]
    assert len(set(ids)) == len(ids)
    again = AccountCore(meta).run(read_recording(example_path("portfolio_margin"))[1])
    assert [a.intent.alert_id for a in again] == ids  # stable ids: a replay yields the same


# ------------------------------------------------------------------ the Step API
def test_calls_return_steps_and_nothing_is_read_back() -> None:
    """`feed` says whether data was applied and what it decided; a user event's service
    signals come back with it; `tick` lets time pass and reports blindness as a value."""
    from monitor.binance.decode.user_events import ListenKeyExpired
    from monitor.core.step import NOTHING
    from monitor.feed.recording import WsLine

    core = AccountCore(Meta(account="step"), keep_alerts=False)
    steps = [core.feed(line) for line in snapshot(T0)]
    assert all(step == NOTHING for step in steps)  # REST lines wait for their group's end
    assert core.book is None
    first = core.feed(mark(T0 + 1000, "BTCUSDT", price_for_risk(0.2)))
    assert core.book is not None and first.changed and not first.alerts
    assert core.held_symbols == frozenset({"BTCUSDT"})
    assert core.evaluating and core.level is None
    assert core.risk == pytest.approx(0.2, rel=1e-6)
    warned = core.feed(mark(T0 + 2000, "BTCUSDT", price_for_risk(0.75)))
    assert [a.intent.kind.value for a in warned.alerts] == ["level"]
    assert warned.alerts[0].snapshot is not None and core.level is not None
    expired = core.feed(WsLine(T0 + 2500, "user", None, '{"e":"listenKeyExpired","E":1}'))
    assert [type(s) for s in expired.signals] == [ListenKeyExpired]
    assert core.counters["signal_ListenKeyExpired"] == 1
    blind = core.tick(T0 + 60_000)  # no mark for almost a minute
    assert [a.intent.kind.value for a in blind.alerts] == ["blind"] and core.blind
    assert core.alerts == []  # keep_alerts=False: the caller owns what it was given
