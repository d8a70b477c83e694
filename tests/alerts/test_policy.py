"""Golden timelines and properties of the pure alert policy (monitor/alerts/policy.py)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.levels import (
    AlertIntent,
    AlertKind,
    Ladder,
    Level,
    level_tags,
    rank,
    status_level,
)
from monitor.alerts.policy import AlertPolicy
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import (
    AccountStatus,
    Drift,
    MarginCall,
    NegativeBalance,
    PolicyEvent,
    Risk,
    RiskLevelChange,
    Seen,
    Tick,
    Watch,
)
from tests.budgets import examples

S = 1000  # one second in ms
Timeline = list[tuple[int, str, str | None]]


def run(script: Iterable[tuple[int, PolicyEvent]], policy: AlertPolicy | None = None) -> Timeline:
    """Feed (t_ms, event) pairs; return (t_s, kind, level) of every intent."""
    pol = policy or AlertPolicy("alice")
    out: Timeline = []
    for t, event in script:
        for intent in pol.step(event, t):
            level = None if intent.level is None else str(intent.level)
            out.append((t // S, str(intent.kind), level))
    return out


def risks(*points: tuple[float, float]) -> list[tuple[int, PolicyEvent]]:
    """(t_s, risk) points as Risk events."""
    return [(int(t * S), Risk(r)) for t, r in points]


def ticks(start_s: int, stop_s: int, step_s: int = 1) -> list[tuple[int, PolicyEvent]]:
    return [(t * S, Tick()) for t in range(start_s, stop_s, step_s)]


def merged(*parts: list[tuple[int, PolicyEvent]]) -> list[tuple[int, PolicyEvent]]:
    return sorted((pair for part in parts for pair in part), key=lambda p: p[0])


def test_escalation_on_each_upward_crossing() -> None:
    script = risks((0, 0.50), (1, 0.72), (2, 0.80), (3, 0.86), (4, 0.96))
    assert run(script) == [
        (1, "level", "warning"),
        (3, "level", "critical"),
        (4, "level", "emergency"),
    ]


def test_jump_straight_to_emergency_is_one_alert() -> None:
    assert run(risks((0, 0.2), (1, 0.99))) == [(1, "level", "emergency")]


def test_value_sitting_on_a_line_never_flaps() -> None:
    wobble = [(t, 0.70 + (0.012 if t % 2 else -0.012)) for t in range(1, 120)]
    assert run(risks((0, 0.5), *wobble)) == [(1, "level", "warning")]


def test_short_dip_below_hysteresis_is_absorbed_by_the_dwell() -> None:
    script = merged(risks((0, 0.75), (10, 0.66), (13, 0.75), (20, 0.66)), ticks(10, 30))
    assert run(script) == [(0, "level", "warning"), (25, "all_clear", None)]


def test_one_deescalation_notice_then_all_clear() -> None:
    script = merged(
        risks((0, 0.97), (10, 0.90), (30, 0.78), (50, 0.40)),
        ticks(1, 60),
    )
    assert run(script) == [
        (0, "level", "emergency"),
        (15, "deescalation", "critical"),
        (55, "all_clear", None),
    ]


def test_re_escalation_rearms_the_deescalation_notice() -> None:
    script = merged(
        risks((0, 0.90), (10, 0.75), (20, 0.90), (30, 0.75), (40, 0.1)),
        ticks(1, 50),
    )
    assert run(script) == [
        (0, "level", "critical"),
        (15, "deescalation", "warning"),
        (20, "level", "critical"),
        (35, "deescalation", "warning"),
        (45, "all_clear", None),
    ]


def test_deescalation_lands_on_the_level_current_when_the_dwell_ends() -> None:
    script = merged(risks((0, 0.97), (10, 0.90), (12, 0.75)), ticks(1, 20))
    assert run(script) == [(0, "level", "emergency"), (15, "deescalation", "warning")]


def _resumed(kind: AlertKind, level: Level | None, peak: Level | None) -> AlertPolicy:
    policy = AlertPolicy("alice")
    policy.resume(Ladder(kind, level, peak), 0)
    return policy


def test_a_resumed_ladder_does_not_announce_its_level_again() -> None:
    """After a restart, the level the last run announced stands."""
    policy = _resumed(AlertKind.LEVEL, Level.CRITICAL, Level.CRITICAL)
    assert run(merged(risks((0, 0.86), (5, 0.87)), ticks(1, 30)), policy) == []
    assert policy.level is Level.CRITICAL


def test_a_resumed_ladder_walks_down_and_up_as_if_never_stopped() -> None:
    down = _resumed(AlertKind.LEVEL, Level.CRITICAL, Level.CRITICAL)
    assert run(merged(risks((0, 0.40)), ticks(1, 10)), down) == [(5, "all_clear", None)]
    up = _resumed(AlertKind.DEESCALATION, Level.WARNING, Level.EMERGENCY)
    assert run(merged(risks((0, 0.90), (3, 0.88)), ticks(1, 10)), up) == [
        (0, "level", "critical"),
    ]
    cleared = _resumed(AlertKind.ALL_CLEAR, None, None)
    assert run(risks((0, 0.72)), cleared) == [(0, "level", "warning")]


def test_a_resumed_emergency_repeats_a_minute_after_the_restart() -> None:
    policy = _resumed(AlertKind.REPEAT, Level.EMERGENCY, Level.EMERGENCY)
    assert run(merged(risks((0, 0.97)), ticks(1, 70)), policy) == [(60, "repeat", "emergency")]


def test_emergency_repeats_every_minute_while_it_holds() -> None:
    script = merged(risks((0, 0.97)), ticks(1, 200), risks((130, 0.98)))
    assert run(script) == [
        (0, "level", "emergency"),
        (60, "repeat", "emergency"),
        (120, "repeat", "emergency"),
        (180, "repeat", "emergency"),
    ]


def test_rapid_deterioration_below_the_warning_line_once_per_episode() -> None:
    climb = [(t * 10, 0.20 + t * 0.02) for t in range(12)]  # +0.22 over 110 s
    assert run(risks(*climb)) == [(80, "rapid", None)]


def test_rapid_rearms_once_the_rise_has_aged_out_of_the_window() -> None:
    cfg = PolicyConfig(rapid_window_ms=60 * S)
    pol = AlertPolicy("alice", cfg)
    path = [(0, 0.10), (10, 0.30), (20, 0.35)] + [(t, 0.35) for t in range(30, 200, 10)]
    path += [(200, 0.55)]
    assert run(risks(*path), pol) == [(10, "rapid", None), (200, "rapid", None)]


def test_slow_climb_is_not_rapid() -> None:
    slow = [(t * 60, 0.10 + t * 0.01) for t in range(70)]  # 0.10 per 10 min
    assert [k for _, k, _ in run(risks(*slow))] == ["level"]


def test_rapid_is_folded_into_a_simultaneous_escalation() -> None:
    assert run(risks((0, 0.50), (60, 0.75))) == [(60, "level", "warning")]


def test_startup_waits_for_a_fresh_snapshot() -> None:
    script: list[tuple[int, PolicyEvent]] = [
        (0, Watch(frozenset({"mark:BTCUSDT", "user_stream"}))),
        (1 * S, Risk(0.90)),  # computed before any source was seen: not evaluated
        (2 * S, Tick()),
        (3 * S, Seen("user_stream")),
        (4 * S, Risk(0.90)),  # the mark is still unseen
        (5 * S, Seen("mark:BTCUSDT")),
        (6 * S, Tick()),  # nothing decided from the stale 0.90
        (7 * S, Risk(0.88)),
    ]
    assert run(script) == [(7, "level", "critical")]


def test_sources_that_never_arrive_make_the_monitor_blind() -> None:
    script = [(0, Watch(frozenset({"rest"}))), *ticks(1, 20)]
    assert run(script) == [(16, "blind", None)]


def test_blind_and_restored_freeze_the_levels_in_between() -> None:
    pol = AlertPolicy("alice")
    script: list[tuple[int, PolicyEvent]] = [
        (0, Watch(frozenset({"mark:BTCUSDT", "user_stream"}))),
        (0, Seen("mark:BTCUSDT")),
        (0, Seen("user_stream")),
        (1 * S, Risk(0.75)),
    ]
    for t in range(2, 40):
        script.append((t * S, Seen("user_stream")))
        script.append((t * S, Tick()))
        if t in (20, 25):
            script.append((t * S, Risk(0.20)))  # while blind: must not produce an all-clear
    script += [(40 * S, Seen("mark:BTCUSDT")), (41 * S, Tick()), (42 * S, Risk(0.90))]
    assert run(script, pol) == [
        (1, "level", "warning"),
        (16, "blind", None),
        (40, "restored", None),
        (42, "level", "critical"),
    ]
    assert not pol.blind and pol.evaluating


def test_watching_a_new_symbol_pauses_evaluation_until_its_mark_arrives() -> None:
    script: list[tuple[int, PolicyEvent]] = [
        (0, Watch(frozenset({"rest"}))),
        (0, Seen("rest")),
        (1 * S, Watch(frozenset({"rest", "mark:ETHUSDT"}))),
        (2 * S, Risk(0.8)),
        (3 * S, Seen("mark:ETHUSDT")),
        (3 * S, Seen("nobody-watches-this")),
        (4 * S, Risk(0.8)),
        (5 * S, Watch(frozenset({"mark:ETHUSDT"}))),
    ]
    assert run(script) == [(4, "level", "warning")]


def test_blind_alert_reaches_the_current_level_audience() -> None:
    pol = AlertPolicy("alice")
    pol.step(Watch(frozenset({"rest"})), 0)
    pol.step(Seen("rest"), 0)
    pol.step(Risk(0.9), 1 * S)
    (blind,) = pol.step(Tick(), 20 * S)
    assert blind.kind is AlertKind.BLIND
    assert blind.tags == {"alice", "ops", "warning", "critical"}
    assert "rest" in blind.detail
    (restored,) = pol.step(Seen("rest"), 21 * S)
    assert restored.kind is AlertKind.RESTORED
    assert restored.tags == {"alice", "ops", "info", "warning", "critical"}


def test_blind_detail_lists_at_most_five_sources() -> None:
    pol = AlertPolicy("alice")
    pol.step(Watch(frozenset(f"mark:S{i}" for i in range(8))), 0)
    (blind,) = pol.step(Tick(), 16 * S)
    assert blind.detail.endswith("and 3 more")


def test_drift_alerts_once_per_episode() -> None:
    script: list[tuple[int, PolicyEvent]] = [
        (0, Drift("uniMMR", 1.50, 1.51)),
        (1 * S, Drift("uniMMR", 1.50, 1.70)),
        (2 * S, Drift("uniMMR", 1.50, 1.71)),
        (3 * S, Drift("uniMMR", 1.50, 1.50)),
        (4 * S, Drift("uniMMR", 1.50, 1.20)),
        (5 * S, Drift("equity", 100.0, 200.0)),
    ]
    assert run(script) == [(1, "drift", None), (4, "drift", None), (5, "drift", None)]


def test_exchange_signals_are_passed_on_with_their_level() -> None:
    script: list[tuple[int, PolicyEvent]] = [
        (0, MarginCall()),
        (10 * S, MarginCall()),  # within the dedup window
        (400 * S, MarginCall()),
        (401 * S, RiskLevelChange("REDUCE_ONLY", 1.10)),
        (402 * S, AccountStatus("NORMAL")),  # first status: normal is no news
        (403 * S, AccountStatus("MARGIN_CALL")),
        (404 * S, AccountStatus("MARGIN_CALL")),
        (405 * S, AccountStatus("NORMAL")),
        (406 * S, NegativeBalance("USDT", -12.5)),
        (407 * S, NegativeBalance("USDT", -13.0)),
        (408 * S, NegativeBalance("USDT", 0.0)),
        (409 * S, NegativeBalance("USDT", -1.0)),
    ]
    assert run(script) == [
        (0, "exchange", "critical"),
        (400, "exchange", "critical"),
        (401, "exchange", "emergency"),
        (403, "exchange", "critical"),
        (405, "exchange", None),
        (406, "exchange", "warning"),
        (409, "exchange", "warning"),
    ]


def test_exchange_intents_carry_topics_and_details() -> None:
    pol = AlertPolicy("bob")
    (rlc,) = pol.step(RiskLevelChange("MARGIN_CALL", 1.4), 0)
    assert rlc.topic == "riskLevelChange:MARGIN_CALL"
    assert "uniMMR 1.400" in rlc.detail
    (plain,) = pol.step(RiskLevelChange("FORCE_LIQUIDATION"), 0)
    assert "uniMMR" not in plain.detail
    (normal,) = pol.step(AccountStatus("REDUCE_ONLY"), 0)
    assert normal.detail == "account status unknown → REDUCE_ONLY"
    assert status_level("SOMETHING_NEW") is Level.WARNING


def test_ids_are_stable_across_replays_and_unique_within_one() -> None:
    script = merged(
        [(0, MarginCall()), (0, AccountStatus("REDUCE_ONLY"))],
        risks((0, 0.97), (70, 0.5), (80, 0.97)),
        ticks(1, 100),
    )

    def ids() -> list[str]:
        pol = AlertPolicy("alice")
        return [i.alert_id for t, e in script for i in pol.step(e, t)]

    first = ids()
    assert first == ids()
    assert len(set(first)) == len(first)
    assert first[0] == "alice/exchange/critical/0/MARGIN_CALL"


def test_tags_route_by_level_account_and_category() -> None:
    pol = AlertPolicy("alice")
    (warn,) = pol.step(Risk(0.75), 0)
    assert warn.tags == {"alice", "warning"}
    (emerg,) = pol.step(Risk(0.99), 1)
    assert emerg.tags == {"alice", "warning", "critical", "emergency"}
    assert emerg.rank == 3 and emerg.coalesce_key == "alice/level/"
    assert pol.step(Risk(0.1), 10 * S) == ()
    (clear,) = pol.step(Tick(), 15 * S)
    assert clear.kind is AlertKind.ALL_CLEAR and clear.peak is Level.EMERGENCY
    assert clear.tags == {"alice", "warning", "critical", "emergency", "info"}
    assert level_tags(None) == frozenset()
    assert rank(None) == 0


def test_intents_carry_risk_and_time() -> None:
    pol = AlertPolicy("alice")
    (intent,) = pol.step(Risk(0.72), 1234)
    assert isinstance(intent, AlertIntent)
    assert (intent.risk, intent.t_ms, intent.account) == (0.72, 1234, "alice")
    assert pol.level is Level.WARNING and pol.risk == 0.72


def test_the_fast_path_allocates_nothing_when_quiet() -> None:
    pol = AlertPolicy("alice")
    assert pol.on_risk(0.1, 0) is pol.on_risk(0.2, 1)


def test_configurable_levels_for_portfolio_margin_native_figures() -> None:
    # uniMMR 2.0 / 1.5 / 1.2 expressed as risk = 1.05 / uniMMR
    cfg = PolicyConfig(warning=1.05 / 2.0, critical=1.05 / 1.5, emergency=1.05 / 1.2)
    assert run(risks((0, 1.05 / 1.9)), AlertPolicy("pm", cfg)) == [(0, "level", "warning")]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"warning": 0.9},
        {"emergency": 0.8},
        {"warning": 0.0},
        {"hysteresis": -0.1},
        {"repeat_ms": 0},
        {"rapid_rise": 0.0},
        {"stale_after_ms": 0},
    ],
)
def test_config_is_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PolicyConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_event_is_rejected() -> None:
    with pytest.raises(TypeError):
        AlertPolicy("alice").step("tick", 0)  # type: ignore[arg-type]


# ---- properties ---------------------------------------------------------------------------------

LINES = PolicyConfig().lines
HYST = PolicyConfig().hysteresis


@settings(max_examples=examples(200), deadline=None)
@given(
    line=st.sampled_from(range(3)),
    steps=st.lists(
        st.tuples(st.integers(1, 20_000), st.floats(-HYST / 2, HYST / 2)),
        min_size=1,
        max_size=200,
    ),
)
def test_no_flapping_around_any_line(line: int, steps: list[tuple[int, float]]) -> None:
    """Oscillating within ±hysteresis/2 around a line yields at most one level alert."""
    pol = AlertPolicy("alice")
    now = 0
    pol.step(Risk(LINES[line] - HYST / 2), now)  # settle below the line, results discarded
    seen: list[AlertIntent] = []
    for dt, offset in steps:
        now += dt
        seen += pol.step(Risk(LINES[line] + offset), now)
        seen += pol.step(Tick(), now)
    kinds = [i.kind for i in seen if i.kind is not AlertKind.REPEAT]
    assert kinds.count(AlertKind.LEVEL) <= 1
    assert AlertKind.DEESCALATION not in kinds and AlertKind.ALL_CLEAR not in kinds


@settings(max_examples=examples(150), deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 30_000), st.floats(0.0, 1.2), st.booleans()),
        max_size=150,
    )
)
def test_level_alerts_follow_the_ladder(steps: list[tuple[int, float, bool]]) -> None:
    """Any path: escalations rise until a de-escalation or all-clear; ids never repeat."""
    pol = AlertPolicy("alice")
    now, current, ids = 0, 0, set()
    for dt, risk, tick in steps:
        now += dt
        for intent in pol.step(Tick() if tick else Risk(risk), now):
            assert intent.alert_id not in ids
            ids.add(intent.alert_id)
            if intent.kind is AlertKind.LEVEL:
                assert intent.rank > current
            if intent.kind in (AlertKind.LEVEL, AlertKind.DEESCALATION, AlertKind.ALL_CLEAR):
                current = intent.rank
    assert current >= rank(pol.level)
