"""Restarts resume the exchange's account status with the ladder (issue 19, item 3): a restart
announces a status only if it changed while the daemon was down."""

from __future__ import annotations

from pathlib import Path

from monitor.alerts.levels import AlertKind
from monitor.alerts.messages import render
from monitor.alerts.outbox import Outbox
from monitor.alerts.policy import AlertPolicy
from monitor.alerts.policy_events import AccountStatus, Risk, Watch


def run(outbox: Outbox, events: list[object], t0: int) -> list[str]:
    """A daemon run: resume from the outbox, step the events, persist what they alert."""
    policy = AlertPolicy("alice")
    ladder = outbox.ladder("alice")
    if ladder is not None:
        policy.resume(ladder, t0)
    policy.step(Watch(frozenset()), t0)
    details = []
    for n, event in enumerate(events):
        for intent in policy.step(event, t0 + n):  # type: ignore[arg-type]
            outbox.enqueue(intent, render(intent, None), ["d"])
            details.append(intent.detail if intent.kind is AlertKind.EXCHANGE else intent.kind)
    return details


def test_a_restart_announces_only_a_status_that_changed(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    first = run(outbox, [AccountStatus("MARGIN_CALL"), Risk(0.9)], 1_000_000)
    assert first == ["account status unknown → MARGIN_CALL", AlertKind.LEVEL]
    for restart in range(6):  # the field report: re-announced after 5 of 6 restarts
        t0 = 2_000_000 + restart * 1_000_000
        assert run(outbox, [AccountStatus("MARGIN_CALL"), Risk(0.9)], t0) == []
    changed = run(outbox, [AccountStatus("NORMAL"), Risk(0.9)], 9_000_000)
    assert changed == ["account status MARGIN_CALL → NORMAL"]
    assert run(outbox, [AccountStatus("NORMAL")], 10_000_000) == []
    outbox.close()
