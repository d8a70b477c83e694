"""Acknowledge, snooze and escalation in the pure policy (policy clock, no IO)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.levels import AlertIntent, AlertKind, Ladder, Level, rank
from monitor.alerts.policy import AlertPolicy
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import Ack, PolicyEvent, Risk, Seen, Snooze, Tick, Unsnooze, Watch
from tests.budgets import examples

T0 = 1_700_000_000_000
CFG = PolicyConfig(dwell_ms=5_000, repeat_ms=60_000, escalate_after_ms=300_000)


def fresh_policy(cfg: PolicyConfig = CFG) -> AlertPolicy:
    p = AlertPolicy("alice", cfg)
    p.step(Watch(frozenset({"mark:BTCUSDT"})), T0)
    p.step(Seen("mark:BTCUSDT"), T0)
    return p


def run(p: AlertPolicy, risk: float, start: int, seconds: int) -> list[AlertIntent]:
    """Hold `risk` for `seconds`, a fresh mark and risk every second, ticking."""
    out: list[AlertIntent] = []
    for s in range(seconds):
        now = start + s * 1000
        out += p.step(Seen("mark:BTCUSDT"), now)
        out += p.step(Risk(risk), now)
        out += p.step(Tick(), now)
    return out


def kinds(intents: list[AlertIntent]) -> list[AlertKind]:
    return [i.kind for i in intents]


def test_emergency_repeats_until_acknowledged_then_stop() -> None:
    p = fresh_policy()
    first = run(p, 0.97, T0, 130)
    assert kinds(first).count(AlertKind.REPEAT) == 2
    p.step(Ack("test"), T0 + 130_000)
    later = run(p, 0.97, T0 + 130_000, 600)
    assert AlertKind.REPEAT not in kinds(later)
    assert AlertKind.ESCALATION not in kinds(later)
    assert p.attention(T0 + 730_000).ack_level is Level.EMERGENCY


def test_escalation_fires_on_time_and_repeats_until_ack() -> None:
    p = fresh_policy()
    out = run(p, 0.97, T0, 301)
    esc = [i for i in out if i.kind is AlertKind.ESCALATION]
    assert [i.t_ms - T0 for i in esc] == [300_000]
    assert esc[0].tags == {"alice", "escalation"}
    assert esc[0].incident == p.incident != ""
    more = run(p, 0.97, T0 + 301_000, 120)
    assert [i.t_ms - T0 for i in more if i.kind is AlertKind.ESCALATION] == [360_000, 420_000]
    p.step(Ack(), T0 + 421_000)
    assert AlertKind.ESCALATION not in kinds(run(p, 0.97, T0 + 421_000, 300))


def test_ack_never_hides_a_higher_level_and_its_repeats() -> None:
    p = fresh_policy()
    run(p, 0.87, T0, 10)  # critical
    p.step(Ack(), T0 + 10_000)
    out = run(p, 0.97, T0 + 10_000, 70)
    assert (AlertKind.LEVEL, Level.EMERGENCY) in [(i.kind, i.level) for i in out]
    assert AlertKind.REPEAT in kinds(out)  # the ack was of critical: emergency repeats


def test_snooze_hides_lower_levels_and_repeats_but_not_higher_or_blind() -> None:
    p = fresh_policy()
    run(p, 0.75, T0, 10)  # warning
    p.step(Snooze(T0 + 3_600_000), T0 + 10_000)
    out = run(p, 0.62, T0 + 10_000, 20) + run(p, 0.75, T0 + 30_000, 5)
    # warning cleared (the all-clear is still said: it resolves the incident) and raised
    # again: that warning is snoozed
    assert kinds(out) == [AlertKind.ALL_CLEAR]
    up = run(p, 0.88, T0 + 35_000, 3)
    assert [(i.kind, i.level) for i in up] == [(AlertKind.LEVEL, Level.CRITICAL)]
    assert up[0].snoozed_until_ms == T0 + 3_600_000
    blind = list(p.step(Tick(), T0 + 60_000))
    assert kinds(blind) == [AlertKind.BLIND]


def test_liquidation_is_never_snoozed() -> None:
    p = fresh_policy()
    run(p, 0.97, T0, 5)
    p.step(Snooze(T0 + 3_600_000), T0 + 5_000)
    p.step(Ack(), T0 + 5_000)
    assert AlertKind.REPEAT not in kinds(run(p, 0.97, T0 + 5_000, 130))
    at_liq = run(p, 1.02, T0 + 135_000, 130)
    assert AlertKind.REPEAT in kinds(at_liq)


def test_snooze_ends_and_unsnooze() -> None:
    p = fresh_policy()
    p.step(Snooze(T0 + 60_000), T0)
    assert p.attention(T0 + 59_000).snooze_level is Level.WARNING
    assert p.attention(T0 + 60_000).snooze_level is None
    p.step(Snooze(T0 + 60_000), T0)
    p.step(Unsnooze(), T0 + 1_000)
    assert run(p, 0.75, T0 + 2_000, 2)[0].kind is AlertKind.LEVEL


def test_all_clear_resolves_the_incident_and_drops_the_ack() -> None:
    p = fresh_policy()
    first = run(p, 0.9, T0, 3)
    key = first[0].incident
    assert key == f"alice:{T0}"
    p.step(Ack(), T0 + 3_000)
    out = run(p, 0.3, T0 + 3_000, 10)
    clear = [i for i in out if i.kind is AlertKind.ALL_CLEAR]
    assert clear and clear[0].incident == key
    assert p.attention(T0 + 13_000).ack_level is None
    again = run(p, 0.9, T0 + 20_000, 2)
    assert again[0].incident != key  # a new episode, a new incident


def test_resume_and_restore_keep_the_ack_of_the_same_episode() -> None:
    p = fresh_policy()
    run(p, 0.97, T0, 3)
    p.step(Ack(), T0 + 3_000)
    saved = p.attention(T0 + 3_000)
    q = fresh_policy()
    q.resume(Ladder(AlertKind.LEVEL, Level.EMERGENCY, Level.EMERGENCY, None, T0), T0 + 10_000)
    q.restore(saved, T0 + 10_000)
    assert q.attention(T0 + 10_000).ack_level is Level.EMERGENCY
    assert AlertKind.REPEAT not in kinds(run(q, 0.97, T0 + 10_000, 400))
    other = fresh_policy()
    other.resume(Ladder(AlertKind.LEVEL, Level.EMERGENCY, Level.EMERGENCY, None, T0 + 1), T0)
    other.restore(saved, T0 + 10_000)
    assert other.attention(T0 + 10_000).ack_level is None  # another episode: not acked


_EVENTS = st.one_of(
    st.tuples(st.just("risk"), st.floats(0.0, 1.2)),
    st.tuples(st.just("ack"), st.just(0.0)),
    st.tuples(st.just("snooze"), st.integers(1, 900).map(float)),
    st.tuples(st.just("unsnooze"), st.just(0.0)),
    st.tuples(st.just("gap"), st.integers(1, 40).map(float)),
)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(st.tuples(_EVENTS, st.integers(1, 30)), min_size=1, max_size=40))
def test_ack_and_snooze_never_hide_a_higher_level_nor_blind(
    script: list[tuple[tuple[str, float], int]],
) -> None:
    """Two policies see the same events; one also gets the human actions. Every alert the
    plain one raises above the level acked/snoozed at that moment (and every BLIND, every
    crossing into emergency, everything at risk >= 1) is raised by the other too."""
    plain, human = fresh_policy(), fresh_policy()
    now = T0
    for (what, value), step_s in script:
        now += step_s * 1000
        if what in ("ack", "snooze", "unsnooze"):
            event: PolicyEvent = (
                Ack() if what == "ack"
                else Snooze(now + int(value) * 1000) if what == "snooze"
                else Unsnooze()
            )
            assert human.step(event, now) == ()
            continue
        att = human.attention(now)
        if what == "gap":  # no data for a while: the monitor goes blind
            now += int(value) * 1000
            events: list[PolicyEvent] = [Tick()]
        else:
            events = [Seen("mark:BTCUSDT"), Risk(value), Tick()]
        for event in events:
            a = plain.step(event, now)
            b = {i.alert_id for i in human.step(event, now)}
            quiet = max(rank(att.ack_level), rank(att.snooze_level))
            for intent in a:
                must = (
                    intent.kind is AlertKind.BLIND
                    or (intent.kind is AlertKind.LEVEL and intent.rank > quiet)
                    or (intent.kind is AlertKind.LEVEL and intent.level is Level.EMERGENCY)
                    or (intent.risk is not None and intent.risk >= 1.0
                        and intent.kind is not AlertKind.ESCALATION)
                )
                if must:
                    assert intent.alert_id in b, (intent, att)
