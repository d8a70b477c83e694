"""What a restarted daemon resumes from, read from the outbox: each account's alert ladder
(`ladder_of`: the last level alert, the episode's peak and start, the exchange status last
alerted on) and what humans said about it (`save_attention`, `attention_of`: ack and snooze).
"""

from __future__ import annotations

import sqlite3

from monitor.alerts.attention import Attention
from monitor.alerts.levels import AlertKind, Ladder, Level, rank
from monitor.alerts.outbox_schema import ATTENTION_TABLE

_LADDER_KINDS = tuple(
    str(k) for k in (AlertKind.LEVEL, AlertKind.REPEAT, AlertKind.DEESCALATION, AlertKind.ALL_CLEAR)
)
_LEVELS = frozenset(str(level) for level in Level)
#: Exchange alerts whose topic carries the account status the exchange reported.
STATUS_TOPICS = ("accountStatus:", "riskLevelChange:")


def ladder_of(db: sqlite3.Connection, account: str) -> Ladder | None:
    """Where `account`'s alert ladder stood at the last level alert persisted, with the last
    account status the exchange reported in an alert (None: neither), so a restarted policy
    resumes instead of announcing the same level or status again."""
    status = status_of(db, account)
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


def status_of(db: sqlite3.Connection, account: str) -> str | None:
    """The status of the account's last exchange-status alert (its topic's suffix)."""
    prefixes = [f"{account}/{AlertKind.EXCHANGE}/{topic}" for topic in STATUS_TOPICS]
    row = db.execute(
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


def save_attention(
    db: sqlite3.Connection, account: str, attention: Attention, now_ms: int
) -> None:
    """Persist the ack and snooze of `account`, replacing the previous ones (sqlite3.Error when
    the database cannot be written)."""
    db.execute(ATTENTION_TABLE)
    db.execute(
        "INSERT OR REPLACE INTO attention VALUES (?,?,?,?,?,?,?)",
        (
            account,
            None if attention.ack_level is None else str(attention.ack_level),
            attention.ack_ms,
            attention.ack_incident,
            None if attention.snooze_level is None else str(attention.snooze_level),
            attention.snooze_until_ms,
            now_ms,
        ),
    )


def attention_of(db: sqlite3.Connection, account: str) -> Attention | None:
    """The ack and snooze persisted for `account` (None: never any)."""
    try:
        row = db.execute(
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
