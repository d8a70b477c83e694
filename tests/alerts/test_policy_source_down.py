"""`SourceDown`: a source known out of date (a failed resync) blinds the policy at once, naming
the reason; its next sighting restores sight; an unwatched source changes nothing."""

from __future__ import annotations

from monitor.alerts.levels import AlertKind
from monitor.alerts.policy import AlertPolicy
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import SourceDown, Watch

T = 1_000_000


def _watching() -> AlertPolicy:
    policy = AlertPolicy("acct", PolicyConfig())
    policy.step(Watch(frozenset({"user_stream", "mark:BTCUSDT"})), T)
    policy.seen("user_stream", T)
    policy.seen("mark:BTCUSDT", T)
    assert not policy.blind
    return policy


def test_blind_at_once_with_the_reason_then_restored_by_a_sighting() -> None:
    policy = _watching()
    out = policy.step(SourceDown("user_stream", "resync failed: HTTP 503"), T + 1)
    assert [i.kind for i in out] == [AlertKind.BLIND]
    assert out[0].detail == "user_stream: resync failed: HTTP 503"
    assert policy.blind
    assert policy.on_tick(T + 2_000) == ()  # blind stays, no repeat
    assert policy.seen("mark:BTCUSDT", T + 3_000) == ()  # another source: still down
    restored = policy.seen("user_stream", T + 4_000)
    assert [i.kind for i in restored] == [AlertKind.RESTORED]
    assert not policy.blind


def test_an_unwatched_source_changes_nothing() -> None:
    policy = _watching()
    assert policy.step(SourceDown("mark:ETHUSDT", "whatever"), T + 1) == ()
    assert not policy.blind
