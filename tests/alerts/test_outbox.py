"""The durable sqlite outbox: persistence, dedup, coalescing, states (monitor/alerts/outbox.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.alerts.outbox import Outbox, State
from monitor.alerts.policy import AlertKind, Ladder, Level
from tests.alerts.sinks import make_intent, make_message


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    clock = iter(range(1000, 10**9, 10))
    box = Outbox(tmp_path / "outbox.db", now_ms=lambda: next(clock))
    yield box
    box.close()


def test_enqueue_persists_before_anything_is_sent(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    assert box.enqueue(make_intent(1), make_message(1), ["d1", "d2"])
    box.close()
    again = Outbox(tmp_path / "o.db")
    head = again.head("d1")
    assert head is not None and head.message == make_message(1)
    assert head.alert_id == make_intent(1).alert_id and head.attempts == 0
    assert again.queued() == 2
    again.close()


def test_wal_mode(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.db").close()
    db = sqlite3.connect(tmp_path / "o.db")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_same_alert_id_is_deduplicated(outbox: Outbox) -> None:
    assert outbox.enqueue(make_intent(1), make_message(1), ["d"])
    assert not outbox.enqueue(make_intent(1), make_message(2), ["d", "e"])
    assert outbox.queued() == 1


def test_order_and_state_transitions(outbox: Outbox) -> None:
    intents = [make_intent(n, kind=AlertKind.EXCHANGE, topic=f"t{n}") for n in (1, 2, 3)]
    for n, intent in enumerate(intents, 1):
        outbox.enqueue(intent, make_message(n), ["d"])
    first = outbox.head("d")
    assert first is not None and first.message.line == "alert 1"
    outbox.retry(first.seq, "boom")
    outbox.retry(first.seq, "boom again")
    again = outbox.head("d")
    assert again is not None and (again.seq, again.attempts) == (first.seq, 2)
    outbox.delivered(first.seq)
    second = outbox.head("d")
    assert second is not None and second.message.line == "alert 2"
    outbox.fail(second.seq, "permanent")
    third = outbox.head("d")
    assert third is not None
    outbox.expire(third.seq, "too old")
    assert outbox.head("d") is None
    assert outbox.counts() == {
        State.QUEUED: 0,
        State.DELIVERED: 1,
        State.FAILED: 1,
        State.EXPIRED: 1,
    }
    assert outbox.deliveries(intents[0].alert_id) == {"d": (State.DELIVERED, 3, "")}
    assert outbox.deliveries(intents[1].alert_id)["d"] == (State.FAILED, 1, "permanent")


def test_newest_of_the_same_kind_supersedes_queued_ones(outbox: Outbox) -> None:
    repeat = AlertKind.REPEAT
    outbox.enqueue(make_intent(1, kind=repeat, level=Level.EMERGENCY), make_message(1), ["d", "e"])
    outbox.enqueue(make_intent(2, kind=repeat, level=Level.EMERGENCY), make_message(2), ["d"])
    assert outbox.deliveries(make_intent(1, kind=repeat, level=Level.EMERGENCY).alert_id) == {
        "d": (
            State.EXPIRED,
            0,
            f"superseded by {make_intent(2, kind=repeat, level=Level.EMERGENCY).alert_id}",
        ),
        "e": (State.QUEUED, 0, ""),
    }
    head = outbox.head("d")
    assert head is not None and head.message.line == "alert 2"


def test_a_lower_level_never_supersedes_a_queued_higher_one(outbox: Outbox) -> None:
    outbox.enqueue(make_intent(1, level=Level.EMERGENCY), make_message(1), ["d"])
    outbox.enqueue(make_intent(2, level=Level.WARNING), make_message(2), ["d"])
    outbox.enqueue(make_intent(3, level=Level.CRITICAL), make_message(3), ["d"])
    states = [
        outbox.deliveries(make_intent(n, level=lv).alert_id)["d"][0]
        for n, lv in ((1, Level.EMERGENCY), (2, Level.WARNING), (3, Level.CRITICAL))
    ]
    assert states == [State.QUEUED, State.EXPIRED, State.QUEUED]


def test_other_accounts_kinds_and_topics_do_not_coalesce(outbox: Outbox) -> None:
    outbox.enqueue(make_intent(1), make_message(1), ["d"])
    outbox.enqueue(make_intent(2, account="bob"), make_message(2), ["d"])
    outbox.enqueue(make_intent(3, kind=AlertKind.RAPID), make_message(3), ["d"])
    outbox.enqueue(
        make_intent(4, kind=AlertKind.EXCHANGE, topic="MARGIN_CALL"), make_message(4), ["d"]
    )
    outbox.enqueue(
        make_intent(5, kind=AlertKind.EXCHANGE, topic="negativeBalance:USDT"),
        make_message(5),
        ["d"],
    )
    assert outbox.counts()[State.QUEUED] == 5


def test_delivered_alerts_are_not_touched_by_coalescing(outbox: Outbox) -> None:
    outbox.enqueue(make_intent(1), make_message(1), ["d"])
    head = outbox.head("d")
    assert head is not None
    outbox.delivered(head.seq)
    outbox.enqueue(make_intent(2), make_message(2), ["d"])
    assert outbox.counts()[State.DELIVERED] == 1 and outbox.queued() == 1


def test_removed_destinations_expire(outbox: Outbox) -> None:
    outbox.enqueue(make_intent(1), make_message(1), ["kept", "gone"])
    assert outbox.expire_unknown(["kept"]) == 1
    assert outbox.deliveries(make_intent(1).alert_id)["gone"] == (
        State.EXPIRED,
        0,
        "destination removed",
    )
    assert outbox.expire_unknown([]) == 1


def test_a_failed_transaction_leaves_nothing_behind(outbox: Outbox) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        outbox.enqueue(make_intent(1), make_message(1), ["d", "d"])
    assert outbox.queued() == 0
    assert outbox.enqueue(make_intent(1), make_message(1), ["d"])


def test_ladder_is_the_last_level_alert_with_its_peak(outbox: Outbox) -> None:
    assert outbox.ladder("alice") is None
    sequence = [
        (AlertKind.LEVEL, Level.WARNING),
        (AlertKind.LEVEL, Level.CRITICAL),
        (AlertKind.RAPID, Level.CRITICAL),  # not part of the ladder
        (AlertKind.DEESCALATION, Level.WARNING),
    ]
    for n, (kind, level) in enumerate(sequence):
        outbox.enqueue(make_intent(n, kind=kind, level=level), make_message(n), ["d"])
    outbox.enqueue(make_intent(9, level=Level.EMERGENCY, account="bob"), make_message(9), ["d"])
    assert outbox.ladder("alice") == Ladder(AlertKind.DEESCALATION, Level.WARNING, Level.CRITICAL)
    outbox.enqueue(make_intent(10, kind=AlertKind.ALL_CLEAR, level=None), make_message(10), ["d"])
    assert outbox.ladder("alice") == Ladder(AlertKind.ALL_CLEAR, None, None)
    outbox.enqueue(make_intent(11, level=Level.WARNING), make_message(11), ["d"])
    assert outbox.ladder("alice") == Ladder(AlertKind.LEVEL, Level.WARNING, Level.WARNING)
    assert outbox.ladder("bob") == Ladder(AlertKind.LEVEL, Level.EMERGENCY, Level.EMERGENCY)


def test_checkpoints_run_outside_the_alert_commit(tmp_path: Path) -> None:
    """Commits never checkpoint (no fsync of the database on the alert path); `checkpoint()`
    copies the log in, from its own connection."""
    box = Outbox(tmp_path / "o.db")
    for n in range(50):
        box.enqueue(make_intent(n, kind=AlertKind.EXCHANGE, topic=f"t{n}"), make_message(n), ["d"])
    db = sqlite3.connect(tmp_path / "o.db")
    assert db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] > 0  # frames were pending
    for n in range(50, 60):
        box.enqueue(make_intent(n, kind=AlertKind.EXCHANGE, topic=f"t{n}"), make_message(n), ["d"])
    box.checkpoint()
    busy, logged, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and copied == logged
    db.close()
    assert box.queued() == 60
    box.close()
