"""The outbox's sqlite file: its schema and migrations, its file modes, and its row types.

Two tables (`alerts`: one row per alert with its rendered texts; `deliveries`: one row per
(alert, destination) with its `State`), `attention` (acks and snoozes, created on the first one),
the columns added since the first release (`migrate`), the 0600 files and 0700 state directory,
and `Pending`, a queued delivery as the worker reads it (`pending_of` a joined row).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from monitor.alerts.messages import RenderedAlert

#: Mode of the database files (they hold alert texts: account names and figures).
FILE_MODE = 0o600


class State(StrEnum):
    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"


SCHEMA = """
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
ATTENTION_TABLE = """
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
MIGRATIONS = (("alerts", "incident", "TEXT NOT NULL DEFAULT ''"),)


def migrate(db: sqlite3.Connection) -> None:
    """Add the columns an older outbox lacks (`MIGRATIONS`)."""
    for table, column, decl in MIGRATIONS:
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


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


def private_file(path: Path, *, create: bool) -> None:
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


def pending_of(row: tuple[object, ...]) -> Pending:
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
