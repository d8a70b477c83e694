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

A write that fails (disk full, I/O error, read-only file system) never loses the alert: the
write is held in memory, `failing` names the reason, and the held writes are persisted in order
as soon as writing works again (`flush`, also tried before every later write). The write-ahead
log is bounded: `journal_size_limit` truncates it after each checkpoint, `checkpoint()` runs a
TRUNCATE checkpoint when it outgrew `wal_limit_bytes`, and a failed write tries one at once.
The database and its WAL/SHM files are created mode 0600 (SQLite gives the WAL and SHM files
the database file's mode).

Error columns only ever hold scrubbed text (senders scrub before they report).

The schema, file modes and row types are `alerts/outbox_schema.py`; one write as one
transaction (and coalescing) `alerts/outbox_writes.py`; what a restart resumes from (ladder,
status, acks and snoozes) `alerts/outbox_resume.py`. This module holds the connection, the
writes held in memory while the file cannot be written, and the queue reads of the worker.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from monitor.alerts.attention import Attention
from monitor.alerts.levels import AlertIntent, Ladder
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox_resume import attention_of, ladder_of, save_attention
from monitor.alerts.outbox_schema import (
    SCHEMA,
    Key,
    Pending,
    State,
    migrate,
    pending_of,
    private_file,
)
from monitor.alerts.outbox_writes import Enqueue, Mark, Write, apply, describe
from monitor.base.clock import wall_ms

log = logging.getLogger(__name__)

#: The WAL is truncated to this size after a checkpoint (and checkpointed TRUNCATE above it).
WAL_LIMIT_BYTES = 1 << 20


class Outbox:
    """The sqlite store of alerts and their deliveries (synchronous; each call is one short
    transaction on a local file)."""

    def __init__(
        self,
        path: str | Path,
        *,
        now_ms: Callable[[], int] = wall_ms,
        wal_limit_bytes: int = WAL_LIMIT_BYTES,
    ) -> None:
        self._now_ms = now_ms
        file = Path(path)
        private_file(file, create=True)
        self._db = sqlite3.connect(str(file), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives a crash or SIGKILL of the daemon (what resuming needs)
        # without waiting for the disk on every alert; only a power cut may lose the last one,
        # and a restarted daemon re-judges the account from scratch anyway.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # No checkpoint inside an alert's commit (it would fsync the database on the alert
        # path): `checkpoint()` runs them from another connection, off the event loop.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        # After a checkpoint, the WAL is cut back to this size (it never stays at its peak).
        self._db.execute(f"PRAGMA journal_size_limit={int(wal_limit_bytes)}")
        self._path = str(file)
        self._wal = file.with_name(file.name + "-wal")
        self._wal_limit = wal_limit_bytes
        self._db.executescript(SCHEMA)
        migrate(self._db)
        private_file(file, create=False)  # chmod only: never open a file SQLite holds
        self._held: deque[Write] = deque()
        self._held_ids: set[str] = set()
        self._failing: str | None = None
        #: Writes that could not be made when asked (each then held in memory).
        self.write_failures = 0

    def close(self) -> None:
        if self._held:
            self.flush()
        if self._held:
            log.error(
                "outbox closing with %d writes still held in memory (%s): they are lost;"
                " queued alerts are re-judged on the next start",
                len(self._held),
                self._failing,
            )
        self._db.close()

    def now_ms(self) -> int:
        """The outbox's clock (what `created_ms` is stamped with)."""
        return self._now_ms()

    # ------------------------------------------------------------------ health
    @property
    def failing(self) -> str | None:
        """Why the outbox cannot be written (None: it can); alerts then live in memory."""
        return self._failing

    @property
    def held(self) -> int:
        """Writes waiting in memory for the outbox to be writable again."""
        return len(self._held)

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database (PASSIVE: never waits for, nor blocks,
        a writer; TRUNCATE when the log outgrew its limit). Safe from another thread: it uses
        its own connection."""
        mode = "TRUNCATE" if self._wal_size() > self._wal_limit else "PASSIVE"
        db = sqlite3.connect(self._path, isolation_level=None, timeout=5.0)
        try:
            db.execute(f"PRAGMA wal_checkpoint({mode})")
        finally:
            db.close()

    def _wal_size(self) -> int:
        try:
            return self._wal.stat().st_size
        except OSError:
            return 0

    # ------------------------------------------------------------------ writes
    def enqueue(self, intent: AlertIntent, message: RenderedAlert, dest_ids: Iterable[str]) -> bool:
        """Persist an alert and its deliveries; False (and no change) if its id is known.

        Never loses it: if the database cannot be written, the write is held in memory (see
        `failing`) and True is returned; only a programming error (IntegrityError) raises."""
        write = Enqueue(intent, message, tuple(dest_ids), self._now_ms())
        if intent.alert_id in self._held_ids:
            return False
        if not self._held:
            try:
                return apply(self._db, write)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as exc:
                if self._known(intent.alert_id):
                    return False
                self._hold(write, exc)
                return True
        if self._known(intent.alert_id):
            return False
        self._hold(write, None)
        self.flush()
        return True

    def _known(self, alert_id: str) -> bool:
        try:
            row = self._db.execute(
                "SELECT 1 FROM alerts WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        except sqlite3.Error:
            return False
        return row is not None

    def _hold(self, write: Write, exc: sqlite3.Error | None) -> None:
        self._held.append(write)
        if isinstance(write, Enqueue):
            self._held_ids.add(write.intent.alert_id)
        self.write_failures += 1
        if exc is not None:
            reason = describe(exc)
            if self._failing is None:
                log.error(
                    "outbox cannot be written (%s): alerts are kept in memory and still"
                    " delivered; they are persisted when writing works again",
                    reason,
                )
            self._failing = reason
            self._relieve()

    def _relieve(self) -> None:
        """After a failed write: try to shrink the write-ahead log (frees its space)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def flush(self) -> bool:
        """Persist the writes held in memory, oldest first; True when none is left."""
        held = self._held
        recovering = self._failing is not None
        if held and recovering:
            self._relieve()  # room first: the log's frames into the database, the log cut
        while held:
            write = held[0]
            try:
                apply(self._db, write)
            except sqlite3.IntegrityError as exc:  # cannot happen twice: drop, but say so
                log.error("outbox: a held write was refused (%s); dropped", exc)
            except sqlite3.Error as exc:
                self._failing = describe(exc)
                self._relieve()
                return False
            if recovering:  # space is short: never let the log grow into what was freed
                self._relieve()
            held.popleft()
            if isinstance(write, Enqueue):
                self._held_ids.discard(write.intent.alert_id)
        if self._failing is not None:
            log.warning("outbox writable again (it failed with: %s)", self._failing)
            self._failing = None
        return True

    def _write(self, write: Write) -> None:
        if self._held:
            self._hold(write, None)
            self.flush()
            return
        try:
            apply(self._db, write)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            self._hold(write, exc)

    def _set(self, key: Key, state: State, error: str, attempted: bool) -> None:
        self._write(Mark(key, state, error, attempted, self._now_ms()))

    def delivered(self, key: Key) -> None:
        self._set(key, State.DELIVERED, "", True)

    def retry(self, key: Key, error: str) -> None:
        """Record a failed (or unanswered) attempt; the delivery stays queued."""
        self._set(key, State.QUEUED, error, True)

    def fail(self, key: Key, error: str) -> None:
        self._set(key, State.FAILED, error, True)

    def expire(self, key: Key, reason: str) -> None:
        self._set(key, State.EXPIRED, reason, False)

    def expire_unknown(self, dest_ids: Iterable[str]) -> int:
        """Expire queued deliveries to destinations no longer configured; return how many."""
        known = list(dest_ids)
        marks = ",".join("?" * len(known))
        try:
            cur = self._db.execute(
                f"UPDATE deliveries SET state = ?, last_error = ?, updated_ms = ?"
                f" WHERE state = ? AND dest_id NOT IN ({marks})",
                (State.EXPIRED, "destination removed", self._now_ms(), State.QUEUED, *known),
            )
        except sqlite3.Error as exc:  # they stay queued: expired on a later start
            log.warning("outbox: could not expire removed destinations' deliveries: %s", exc)
            return 0
        return cur.rowcount

    # ------------------------------------------------------------------ reads
    def ladder(self, account: str) -> Ladder | None:
        """Where `account`'s alert ladder stood at the last level alert persisted, with the last
        account status the exchange reported in an alert (None: neither), so a restarted policy
        resumes instead of announcing the same level or status again."""
        return ladder_of(self._db, account)

    # ------------------------------------------------------------------ attention
    def save_attention(self, account: str, attention: Attention) -> bool:
        """Persist the ack and snooze of `account` (replacing the previous ones); False (and a
        warning) when the database cannot be written: they then hold until a restart."""
        try:
            save_attention(self._db, account, attention, self._now_ms())
        except sqlite3.Error as exc:
            log.warning("outbox: could not persist the ack/snooze of %s: %s", account, exc)
            return False
        return True

    def attention(self, account: str) -> Attention | None:
        """The ack and snooze persisted for `account` (None: never any)."""
        return attention_of(self._db, account)

    def pending(self) -> list[Pending]:
        """Every queued delivery, oldest first (what a starting worker resumes)."""
        rows = self._db.execute(
            "SELECT d.seq, d.alert_id, d.dest_id, d.attempts, a.created_ms, a.subject, a.body,"
            " a.html, a.line, a.account, a.kind, a.rank, a.coalesce_key, a.incident"
            " FROM deliveries d JOIN alerts a USING (alert_id) WHERE d.state = ? ORDER BY d.seq",
            (State.QUEUED,),
        ).fetchall()
        return [pending_of(row) for row in rows]

    def head(self, dest_id: str) -> Pending | None:
        """The oldest queued delivery of a destination."""
        row = self._db.execute(
            "SELECT d.seq, d.alert_id, d.dest_id, d.attempts, a.created_ms, a.subject, a.body,"
            " a.html, a.line, a.account, a.kind, a.rank, a.coalesce_key, a.incident"
            " FROM deliveries d JOIN alerts a USING (alert_id)"
            " WHERE d.dest_id = ? AND d.state = ? ORDER BY d.seq LIMIT 1",
            (dest_id, State.QUEUED),
        ).fetchone()
        return None if row is None else pending_of(row)

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

    def alert_ids(self) -> list[str]:
        """Every persisted alert id, in the order they were persisted."""
        return [str(a) for (a,) in self._db.execute("SELECT alert_id FROM alerts ORDER BY rowid")]

    def kinds_since(self, t_ms: int) -> list[tuple[str, str, str | None]]:
        """(account, kind, level) of every alert decided at or after `t_ms` (the digest)."""
        rows = self._db.execute(
            "SELECT account, kind, level FROM alerts WHERE t_ms >= ? ORDER BY t_ms", (t_ms,)
        )
        return [(str(a), str(k), None if lv is None else str(lv)) for a, k, lv in rows]
