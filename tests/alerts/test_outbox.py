"""The durable sqlite outbox: persistence, dedup, coalescing, states (monitor/alerts/outbox.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.alerts.levels import AlertKind, Ladder, Level
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import State, private_dir
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
    # the routing facts (account, kind, incident) come back from the alert's own row
    expected = replace(make_message(1), account="alice", kind="level")
    assert head is not None and head.message == expected
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
    outbox.retry(first.key, "boom")
    outbox.retry(first.key, "boom again")
    again = outbox.head("d")
    assert again is not None and (again.key, again.attempts) == (first.key, 2)
    outbox.delivered(first.key)
    second = outbox.head("d")
    assert second is not None and second.message.line == "alert 2"
    outbox.fail(second.key, "permanent")
    third = outbox.head("d")
    assert third is not None
    outbox.expire(third.key, "too old")
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
    outbox.delivered(head.key)
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
    t = 1_700_000_000_000  # make_intent(n) is decided at t + n: the episode began at n = 0
    assert outbox.ladder("alice") == Ladder(
        AlertKind.DEESCALATION, Level.WARNING, Level.CRITICAL, None, t
    )
    outbox.enqueue(make_intent(10, kind=AlertKind.ALL_CLEAR, level=None), make_message(10), ["d"])
    assert outbox.ladder("alice") == Ladder(AlertKind.ALL_CLEAR, None, None)
    outbox.enqueue(make_intent(11, level=Level.WARNING), make_message(11), ["d"])
    assert outbox.ladder("alice") == Ladder(
        AlertKind.LEVEL, Level.WARNING, Level.WARNING, None, t + 11
    )
    assert outbox.ladder("bob") == Ladder(
        AlertKind.LEVEL, Level.EMERGENCY, Level.EMERGENCY, None, t + 9
    )


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


def test_state_dir_and_files_are_private(tmp_path: Path) -> None:
    """The outbox holds account names and figures: 0700 directory, 0600 files (WAL, SHM too)."""
    state = tmp_path / "var" / "state"
    private_dir(state)
    box = Outbox(state / "outbox.sqlite3")
    box.enqueue(make_intent(1), make_message(1), ["d"])
    names = {p.name: p.stat().st_mode & 0o777 for p in state.iterdir()}
    assert names == {
        "outbox.sqlite3": 0o600,
        "outbox.sqlite3-wal": 0o600,
        "outbox.sqlite3-shm": 0o600,
    }
    assert state.stat().st_mode & 0o777 == 0o700
    box.close()
    loose = tmp_path / "loose.db"
    loose.touch(mode=0o644)
    loose.chmod(0o644)
    Outbox(loose).close()
    assert loose.stat().st_mode & 0o777 == 0o600  # an existing file is tightened


def test_the_write_ahead_log_stays_bounded(tmp_path: Path) -> None:
    limit = 64 * 1024
    box = Outbox(tmp_path / "o.db", wal_limit_bytes=limit)
    wal = tmp_path / "o.db-wal"
    peak = 0
    for n in range(300):
        message = make_message(n)
        big = type(message)(message.subject, message.text + "x" * 2048, message.html, message.line)
        box.enqueue(make_intent(n, kind=AlertKind.EXCHANGE, topic=f"t{n}"), big, ["d"])
        if n % 10 == 9:
            box.checkpoint()  # the daemon's periodic checkpoint
        peak = max(peak, wal.stat().st_size)
    # Ten alerts' worth of frames at most (each commit logs its ~8 touched pages); without the
    # checkpoints and the size limit it would hold all 300 (~9 MiB).
    assert peak < 640 * 1024
    box.checkpoint()
    box.enqueue(make_intent(999), make_message(999), ["d"])
    assert wal.stat().st_size <= limit
    assert box.queued() == 301
    box.close()


def test_ladder_carries_the_last_exchange_status(outbox: Outbox) -> None:
    def status_alert(n: int, topic: str) -> None:
        intent = make_intent(n, kind=AlertKind.EXCHANGE, level=Level.CRITICAL, topic=topic)
        outbox.enqueue(intent, make_message(n), ["d"])

    status_alert(1, "accountStatus:MARGIN_CALL")
    assert outbox.ladder("alice") == Ladder(AlertKind.ALL_CLEAR, None, None, "MARGIN_CALL")
    outbox.enqueue(make_intent(2, level=Level.WARNING), make_message(2), ["d"])
    status_alert(3, "negativeBalance:USDT")  # not a status
    assert outbox.ladder("alice") == Ladder(
        AlertKind.LEVEL, Level.WARNING, Level.WARNING, "MARGIN_CALL", 1_700_000_000_002
    )
    status_alert(4, "riskLevelChange:REDUCE_ONLY")
    ladder = outbox.ladder("alice")
    assert ladder is not None and ladder.status == "REDUCE_ONLY"
    status_alert(5, "accountStatus:NORMAL")
    ladder = outbox.ladder("alice")
    assert ladder is not None and ladder.status == "NORMAL"
    assert outbox.ladder("bob") is None
