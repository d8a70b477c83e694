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
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from monitor.alerts.messages import RenderedAlert
from monitor.alerts.policy import AlertIntent, AlertKind, Attention, Ladder, Level, rank

log = logging.getLogger(__name__)

#: The WAL is truncated to this size after a checkpoint (and checkpointed TRUNCATE above it).
WAL_LIMIT_BYTES = 1 << 20
#: Mode of the database files (they hold alert texts: account names and figures).
FILE_MODE = 0o600


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
    line         TEXT NOT NULL,
    incident     TEXT NOT NULL DEFAULT ''
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
#: Acks and snoozes (created on the first one: an outbox nobody answered stays as it was).
_ATTENTION = """
CREATE TABLE IF NOT EXISTS attention (
    account         TEXT PRIMARY KEY,
    ack_level       TEXT,
    ack_ms          INTEGER NOT NULL DEFAULT 0,
    ack_incident    TEXT NOT NULL DEFAULT '',
    snooze_level    TEXT,
    snooze_until_ms INTEGER NOT NULL DEFAULT 0,
    updated_ms      INTEGER NOT NULL
);
"""
#: Columns added after the first release (ALTER TABLE on an older outbox).
_MIGRATIONS = (("alerts", "incident", "TEXT NOT NULL DEFAULT ''"),)


_LADDER_KINDS = tuple(
    str(k) for k in (AlertKind.LEVEL, AlertKind.REPEAT, AlertKind.DEESCALATION, AlertKind.ALL_CLEAR)
)
_LEVELS = frozenset(str(level) for level in Level)
#: Exchange alerts whose topic carries the account status the exchange reported.
STATUS_TOPICS = ("accountStatus:", "riskLevelChange:")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


#: One delivery: (alert id, destination id).
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Pending:
    """One queued delivery, as the worker needs it."""

    seq: int
    alert_id: str
    dest_id: str
    attempts: int
    created_ms: int
    message: RenderedAlert
    account: str = ""
    kind: str = ""
    rank: int = 0
    coalesce_key: str = ""

    @property
    def key(self) -> Key:
        return (self.alert_id, self.dest_id)


@dataclass(frozen=True, slots=True)
class _Enqueue:
    intent: AlertIntent
    message: RenderedAlert
    dest_ids: tuple[str, ...]
    at_ms: int


@dataclass(frozen=True, slots=True)
class _Mark:
    key: Key
    state: State
    error: str
    attempted: bool
    at_ms: int


_Write = _Enqueue | _Mark


def _private_file(path: Path, *, create: bool) -> None:
    """Tighten `path` and its WAL/SHM files to mode 0600 (SQLite creates the WAL and SHM files
    with the database file's mode); with `create`, create an empty `path` 0600 first.

    Only before SQLite connects may this open the file: POSIX record locks belong to the
    process and are all released when *any* descriptor of the file is closed, so an open/close
    after `connect` silently drops SQLite's locks, and the next process that opens the outbox
    (a backup, an operator's `sqlite3` shell) deletes the WAL the daemon is still writing."""
    if create:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(file, FILE_MODE)


def private_dir(path: Path) -> None:
    """Create the state directory mode 0700 (an existing one is left as its owner set it)."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask


def _describe(exc: sqlite3.Error) -> str:
    return str(exc) or type(exc).__name__


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
        _private_file(file, create=True)
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
        self._db.executescript(_SCHEMA)
        self._migrate()
        _private_file(file, create=False)  # chmod only: never open a file SQLite holds
        self._held: deque[_Write] = deque()
        self._held_ids: set[str] = set()
        self._failing: str | None = None
        #: Writes that could not be made when asked (each then held in memory).
        self.write_failures = 0

    def _migrate(self) -> None:
        for table, column, decl in _MIGRATIONS:
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")

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
        write = _Enqueue(intent, message, tuple(dest_ids), self._now_ms())
        if intent.alert_id in self._held_ids:
            return False
        if not self._held:
            try:
                return self._apply(write)
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

    def _hold(self, write: _Write, exc: sqlite3.Error | None) -> None:
        self._held.append(write)
        if isinstance(write, _Enqueue):
            self._held_ids.add(write.intent.alert_id)
        self.write_failures += 1
        if exc is not None:
            reason = _describe(exc)
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
                self._apply(write)
            except sqlite3.IntegrityError as exc:  # cannot happen twice: drop, but say so
                log.error("outbox: a held write was refused (%s); dropped", exc)
            except sqlite3.Error as exc:
                self._failing = _describe(exc)
                self._relieve()
                return False
            if recovering:  # space is short: never let the log grow into what was freed
                self._relieve()
            held.popleft()
            if isinstance(write, _Enqueue):
                self._held_ids.discard(write.intent.alert_id)
        if self._failing is not None:
            log.warning("outbox writable again (it failed with: %s)", self._failing)
            self._failing = None
        return True

    def _write(self, write: _Write) -> None:
        if self._held:
            self._hold(write, None)
            self.flush()
            return
        try:
            self._apply(write)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            self._hold(write, exc)

    def _apply(self, write: _Write) -> bool:
        """One write in one transaction (rolled back whole on any error)."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            done = self._insert(write) if isinstance(write, _Enqueue) else self._update(write)
            db.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (e.g. SQLITE_FULL): "no transaction is
            # active" must not replace the real error.
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        return done

    def _insert(self, write: _Enqueue) -> bool:
        intent, message, now = write.intent, write.message, write.at_ms
        db = self._db
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
            self._supersede(dest_id, intent, now)
            db.execute(
                "INSERT INTO deliveries (alert_id, dest_id, state, updated_ms) VALUES (?,?,?,?)",
                (intent.alert_id, dest_id, State.QUEUED, now),
            )
        return True

    def _update(self, write: _Mark) -> bool:
        cur = self._db.execute(
            "UPDATE deliveries SET state = ?, last_error = ?, updated_ms = ?,"
            " attempts = attempts + ? WHERE alert_id = ? AND dest_id = ?",
            (write.state, write.error, write.at_ms, int(write.attempted), *write.key),
        )
        return cur.rowcount > 0

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

    def _set(self, key: Key, state: State, error: str, attempted: bool) -> None:
        self._write(_Mark(key, state, error, attempted, self._now_ms()))

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
        db = self._db
        status = self._status(account)
        row = db.execute(
            "SELECT kind, level FROM alerts WHERE account = ? AND kind IN (?,?,?,?)"
            " ORDER BY rowid DESC LIMIT 1",
            (account, *_LADDER_KINDS),
        ).fetchone()
        if row is None:
            return None if status is None else Ladder(AlertKind.ALL_CLEAR, None, None, status)
        peaks = db.execute(
            "SELECT level FROM alerts WHERE account = ? AND kind = ? AND rowid >"
            " (SELECT COALESCE(MAX(rowid), 0) FROM alerts WHERE account = ? AND kind = ?)",
            (account, str(AlertKind.LEVEL), account, str(AlertKind.ALL_CLEAR)),
        ).fetchall()
        levels = [Level(level) for (level,) in peaks if level in _LEVELS]
        peak = max(levels, key=rank) if levels else None
        kind, level = AlertKind(row[0]), Level(row[1]) if row[1] in _LEVELS else None
        episode = db.execute(
            "SELECT MIN(t_ms) FROM alerts WHERE account = ? AND kind = ? AND rowid >"
            " (SELECT COALESCE(MAX(rowid), 0) FROM alerts WHERE account = ? AND kind = ?)",
            (account, str(AlertKind.LEVEL), account, str(AlertKind.ALL_CLEAR)),
        ).fetchone()
        start = None if episode is None or episode[0] is None else int(episode[0])
        return Ladder(kind, level, peak, status, start)

    # ------------------------------------------------------------------ attention
    def save_attention(self, account: str, attention: Attention) -> bool:
        """Persist the ack and snooze of `account` (replacing the previous ones); False (and a
        warning) when the database cannot be written: they then hold until a restart."""
        try:
            self._db.execute(_ATTENTION)
            self._db.execute(
                "INSERT OR REPLACE INTO attention VALUES (?,?,?,?,?,?,?)",
                (
                    account,
                    None if attention.ack_level is None else str(attention.ack_level),
                    attention.ack_ms,
                    attention.ack_incident,
                    None if attention.snooze_level is None else str(attention.snooze_level),
                    attention.snooze_until_ms,
                    self._now_ms(),
                ),
            )
        except sqlite3.Error as exc:
            log.warning("outbox: could not persist the ack/snooze of %s: %s", account, exc)
            return False
        return True

    def attention(self, account: str) -> Attention | None:
        """The ack and snooze persisted for `account` (None: never any)."""
        try:
            row = self._db.execute(
                "SELECT ack_level, ack_ms, ack_incident, snooze_level, snooze_until_ms"
                " FROM attention WHERE account = ?",
                (account,),
            ).fetchone()
        except sqlite3.OperationalError:  # no such table: nobody ever answered
            return None
        if row is None:
            return None
        ack, ack_ms, incident, snooze, until = row
        return Attention(
            Level(ack) if ack in _LEVELS else None,
            int(ack_ms),
            str(incident),
            Level(snooze) if snooze in _LEVELS else None,
            int(until),
        )

    def _status(self, account: str) -> str | None:
        """The status of the account's last exchange-status alert (its topic's suffix)."""
        prefixes = [f"{account}/{AlertKind.EXCHANGE}/{topic}" for topic in STATUS_TOPICS]
        row = self._db.execute(
            "SELECT coalesce_key FROM alerts WHERE account = ? AND kind = ? AND"
            " (substr(coalesce_key, 1, ?) = ? OR substr(coalesce_key, 1, ?) = ?)"
            " ORDER BY rowid DESC LIMIT 1",
            (
                account,
                str(AlertKind.EXCHANGE),
                len(prefixes[0]),
                prefixes[0],
                len(prefixes[1]),
                prefixes[1],
            ),
        ).fetchone()
        if row is None:
            return None
        status = str(row[0]).rsplit(":", 1)[-1]
        return status or None

    def pending(self) -> list[Pending]:
        """Every queued delivery, oldest first (what a starting worker resumes)."""
        rows = self._db.execute(
            "SELECT d.seq, d.alert_id, d.dest_id, d.attempts, a.created_ms, a.subject, a.body,"
            " a.html, a.line, a.account, a.kind, a.rank, a.coalesce_key, a.incident"
            " FROM deliveries d JOIN alerts a USING (alert_id) WHERE d.state = ? ORDER BY d.seq",
            (State.QUEUED,),
        ).fetchall()
        return [_pending(row) for row in rows]

    def head(self, dest_id: str) -> Pending | None:
        """The oldest queued delivery of a destination."""
        row = self._db.execute(
            "SELECT d.seq, d.alert_id, d.dest_id, d.attempts, a.created_ms, a.subject, a.body,"
            " a.html, a.line, a.account, a.kind, a.rank, a.coalesce_key, a.incident"
            " FROM deliveries d JOIN alerts a USING (alert_id)"
            " WHERE d.dest_id = ? AND d.state = ? ORDER BY d.seq LIMIT 1",
            (dest_id, State.QUEUED),
        ).fetchone()
        return None if row is None else _pending(row)

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


def _pending(row: tuple[object, ...]) -> Pending:
    seq, alert_id, dest_id, attempts, created, subject, body, html, line = row[:9]
    acct, kind, rk, ck, inc = row[9:]
    return Pending(
        int(str(seq)),
        str(alert_id),
        str(dest_id),
        int(str(attempts)),
        int(str(created)),
        RenderedAlert(
            str(subject), str(body), str(html), str(line), str(acct), str(kind), str(inc)
        ),
        str(acct),
        str(kind),
        int(str(rk)),
        str(ck),
    )
