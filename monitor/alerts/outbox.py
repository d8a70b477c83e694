"""The durable outbox: every alert is persisted (sqlite, WAL) before any delivery is tried.

One row per alert (its texts as rendered) and one delivery row per (alert, destination) with a
state: `queued` → `delivered`, `failed` (permanent error or attempts exhausted) or `expired`
(superseded, too old, or its destination removed). Delivery order per destination is insertion
order (`seq`). The alert id is the primary key, so re-submitting an alert after a restart (the
policy replays the same events and derives the same id) is a no-op: at-least-once delivery,
deduplicated by id.

Coalescing: a new alert expires the still-queued deliveries of the same destination with the same
coalesce key (account, kind, topic) whose level is not higher, so the newest wins and a queued
higher level is never replaced by a lower one.

Error columns only ever hold scrubbed text (senders scrub before they report).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from monitor.alerts.messages import RenderedAlert
from monitor.alerts.policy import AlertIntent, AlertKind, Ladder, Level, rank


class State(StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id     TEXT PRIMARY KEY,
    account      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    level        TEXT,
    rank         INTEGER NOT NULL,
    coalesce_key TEXT NOT NULL,
    t_ms         INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    html         TEXT NOT NULL,
    line         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   TEXT NOT NULL REFERENCES alerts(alert_id),
    dest_id    TEXT NOT NULL,
    state      TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    updated_ms INTEGER NOT NULL,
    UNIQUE (alert_id, dest_id)
);
CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries (dest_id, state, seq);
"""


_LADDER_KINDS = tuple(
    str(k) for k in (AlertKind.LEVEL, AlertKind.REPEAT, AlertKind.DEESCALATION, AlertKind.ALL_CLEAR)
)
_LEVELS = frozenset(str(level) for level in Level)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Pending:
    """The head of one destination's queue."""

    seq: int
    alert_id: str
    dest_id: str
    attempts: int
    created_ms: int
    message: RenderedAlert


class Outbox:
    """The sqlite store of alerts and their deliveries (synchronous; each call is one short
    transaction on a local file)."""

    def __init__(self, path: str | Path, *, now_ms: Callable[[], int] = wall_ms) -> None:
        self._now_ms = now_ms
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives a crash or SIGKILL of the daemon (what resuming needs)
        # without waiting for the disk on every alert; only a power cut may lose the last one,
        # and a restarted daemon re-judges the account from scratch anyway.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # No checkpoint inside an alert's commit (it would fsync the database on the alert
        # path): `checkpoint()` runs them from another connection, off the event loop.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._path = str(path)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database (PASSIVE: never waits for, nor blocks,
        a writer). Safe from another thread: it uses its own connection."""
        db = sqlite3.connect(self._path, isolation_level=None, timeout=5.0)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()

    def enqueue(self, intent: AlertIntent, message: RenderedAlert, dest_ids: Iterable[str]) -> bool:
        """Persist an alert and its deliveries; False (and no change) if its id is known."""
        now = self._now_ms()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT OR IGNORE INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                ),
            )
            if cur.rowcount == 0:
                db.execute("ROLLBACK")
                return False
            for dest_id in dest_ids:
                self._supersede(dest_id, intent, now)
                db.execute(
                    "INSERT INTO deliveries (alert_id, dest_id, state, updated_ms)"
                    " VALUES (?,?,?,?)",
                    (intent.alert_id, dest_id, State.QUEUED, now),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True

    def ladder(self, account: str) -> Ladder | None:
        """Where `account`'s alert ladder stood at the last level alert persisted (None: never
        alerted), so a restarted policy resumes instead of announcing the same level again."""
        db = self._db
        row = db.execute(
            "SELECT kind, level FROM alerts WHERE account = ? AND kind IN (?,?,?,?)"
            " ORDER BY rowid DESC LIMIT 1",
            (account, *_LADDER_KINDS),
        ).fetchone()
        if row is None:
            return None
        peaks = db.execute(
            "SELECT level FROM alerts WHERE account = ? AND kind = ? AND rowid >"
            " (SELECT COALESCE(MAX(rowid), 0) FROM alerts WHERE account = ? AND kind = ?)",
            (account, str(AlertKind.LEVEL), account, str(AlertKind.ALL_CLEAR)),
        ).fetchall()
        levels = [Level(level) for (level,) in peaks if level in _LEVELS]
        peak = max(levels, key=rank) if levels else None
        kind, level = AlertKind(row[0]), Level(row[1]) if row[1] in _LEVELS else None
        return Ladder(kind, level, peak)

    def _supersede(self, dest_id: str, intent: AlertIntent, now: int) -> None:
        self._db.execute(
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

    def head(self, dest_id: str) -> Pending | None:
        """The oldest queued delivery of a destination."""
        row = self._db.execute(
            "SELECT d.seq, d.alert_id, d.attempts, a.created_ms, a.subject, a.body, a.html,"
            " a.line FROM deliveries d JOIN alerts a USING (alert_id)"
            " WHERE d.dest_id = ? AND d.state = ? ORDER BY d.seq LIMIT 1",
            (dest_id, State.QUEUED),
        ).fetchone()
        if row is None:
            return None
        seq, alert_id, attempts, created_ms, subject, body, html, line = row
        return Pending(
            seq, alert_id, dest_id, attempts, created_ms, RenderedAlert(subject, body, html, line)
        )

    def _set(self, seq: int, state: State, error: str, attempted: bool) -> None:
        self._db.execute(
            "UPDATE deliveries SET state = ?, last_error = ?, updated_ms = ?,"
            " attempts = attempts + ? WHERE seq = ?",
            (state, error, self._now_ms(), int(attempted), seq),
        )

    def delivered(self, seq: int) -> None:
        self._set(seq, State.DELIVERED, "", True)

    def retry(self, seq: int, error: str) -> None:
        """Record a failed attempt; the delivery stays queued."""
        self._set(seq, State.QUEUED, error, True)

    def fail(self, seq: int, error: str) -> None:
        self._set(seq, State.FAILED, error, True)

    def expire(self, seq: int, reason: str) -> None:
        self._set(seq, State.EXPIRED, reason, False)

    def expire_unknown(self, dest_ids: Iterable[str]) -> int:
        """Expire queued deliveries to destinations no longer configured; return how many."""
        known = list(dest_ids)
        marks = ",".join("?" * len(known))
        cur = self._db.execute(
            f"UPDATE deliveries SET state = ?, last_error = ?, updated_ms = ?"
            f" WHERE state = ? AND dest_id NOT IN ({marks})",
            (State.EXPIRED, "destination removed", self._now_ms(), State.QUEUED, *known),
        )
        return cur.rowcount

    def queued(self) -> int:
        (n,) = self._db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE state = ?", (State.QUEUED,)
        ).fetchone()
        return int(n)

    def counts(self) -> dict[State, int]:
        """Deliveries per state (for /metrics and /status)."""
        rows = self._db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
        found = {State(s): int(n) for s, n in rows}
        return {s: found.get(s, 0) for s in State}

    def deliveries(self, alert_id: str) -> dict[str, tuple[State, int, str]]:
        """Per destination: state, attempts and last error of one alert."""
        rows = self._db.execute(
            "SELECT dest_id, state, attempts, last_error FROM deliveries WHERE alert_id = ?",
            (alert_id,),
        )
        return {d: (State(s), int(a), str(e)) for d, s, a, e in rows}
