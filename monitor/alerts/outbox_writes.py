"""One outbox write as one sqlite transaction: an alert with its deliveries (`Enqueue`, which
also coalesces: it expires the same destination's queued deliveries of the same coalesce key whose
level is not higher), or a delivery's new state (`Mark`). The outbox applies a write at once or
holds it in memory while the file cannot be written (`alerts/outbox.py`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass

from monitor.alerts.levels import AlertIntent
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox_schema import Key, State


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Persist an alert and its deliveries (a no-op for a known alert id)."""

    intent: AlertIntent
    message: RenderedAlert
    dest_ids: tuple[str, ...]
    at_ms: int


@dataclass(frozen=True, slots=True)
class Mark:
    """Set one delivery's state."""

    key: Key
    state: State
    error: str
    attempted: bool
    at_ms: int


#: A write the outbox makes (or holds in memory until it can).
Write = Enqueue | Mark


def apply(db: sqlite3.Connection, write: Write) -> bool:
    """One write in one transaction (rolled back whole on any error)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        done = _insert(db, write) if isinstance(write, Enqueue) else _update(db, write)
        db.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (e.g. SQLITE_FULL): "no transaction is
        # active" must not replace the real error.
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
    return done

def _insert(db: sqlite3.Connection, write: Enqueue) -> bool:
    intent, message, now = write.intent, write.message, write.at_ms
    cur = db.execute(
        "INSERT OR IGNORE INTO alerts (alert_id, account, kind, level, rank, coalesce_key,"
        " t_ms, created_ms, subject, body, html, line, incident)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            intent.alert_id,
            intent.account,
            str(intent.kind),
            None if intent.level is None else str(intent.level),
            intent.rank,
            intent.coalesce_key,
            intent.t_ms,
            now,
            message.subject,
            message.text,
            message.html,
            message.line,
            intent.incident,
        ),
    )
    if cur.rowcount == 0:
        return False
    for dest_id in write.dest_ids:
        _supersede(db, dest_id, intent, now)
        db.execute(
            "INSERT INTO deliveries (alert_id, dest_id, state, updated_ms) VALUES (?,?,?,?)",
            (intent.alert_id, dest_id, State.QUEUED, now),
        )
    return True

def _update(db: sqlite3.Connection, write: Mark) -> bool:
    cur = db.execute(
        "UPDATE deliveries SET state = ?, last_error = ?, updated_ms = ?,"
        " attempts = attempts + ? WHERE alert_id = ? AND dest_id = ?",
        (write.state, write.error, write.at_ms, int(write.attempted), *write.key),
    )
    return cur.rowcount > 0

def _supersede(db: sqlite3.Connection, dest_id: str, intent: AlertIntent, now: int) -> None:
    db.execute(
        "UPDATE deliveries SET state = ?, last_error = ?, updated_ms = ?"
        " WHERE dest_id = ? AND state = ? AND alert_id IN"
        " (SELECT alert_id FROM alerts WHERE coalesce_key = ? AND rank <= ?)",
        (
            State.EXPIRED,
            f"superseded by {intent.alert_id}",
            now,
            dest_id,
            State.QUEUED,
            intent.coalesce_key,
            intent.rank,
        ),
    )


def describe(exc: sqlite3.Error) -> str:
    """A sqlite error as the reason a write failed."""
    return str(exc) or type(exc).__name__
