"""What the alert outbox recorded, tallied per destination for `/metrics`.

The outbox is the source of truth for alert deliveries: every (alert, destination) row enters
`queued` and ends `delivered`, `failed` or `expired` (an expiry whose reason is "superseded by
…" is a *coalesced* delivery: a newer alert of the same topic replaced it). Rows are never
deleted, and a finished row never changes again, so counting rows per final state gives
monotonic totals; every row counts once as `queued`. Attempts recorded on a row that did not
end delivered — and all but the last of a delivered one — are failed or unanswered sends.

`DeliveryTally` reads the outbox through its own sqlite connection (WAL: readers never block the
writer) and only when another connection committed since its last read (`PRAGMA data_version`).
What the outbox held when the tally was created is its baseline: a restarted daemon's counters
start at zero instead of re-counting history. Writes the outbox holds in memory (disk full)
are counted once they are persisted.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: (destination id, account, kind, state) — state: queued, delivered, failed, expired, coalesced.
AlertKey = tuple[str, str, str, str]

STATES = ("queued", "delivered", "failed", "expired", "coalesced")

_QUERY = """
SELECT d.dest_id, a.account, a.kind, d.state,
       d.state = 'expired' AND d.last_error LIKE 'superseded by %',
       COUNT(*), COALESCE(SUM(d.attempts), 0)
FROM deliveries d JOIN alerts a USING (alert_id)
GROUP BY 1, 2, 3, 4, 5
"""


@dataclass(slots=True)
class Totals:
    """Deliveries per (destination, account, kind, state); failed attempts per destination."""

    alerts: Counter[AlertKey] = field(default_factory=Counter)
    send_failures: Counter[str] = field(default_factory=Counter)


def tally(db: sqlite3.Connection) -> Totals:
    """The outbox's totals, read in one query."""
    out = Totals()
    for dest, account, kind, state, coalesced, n, attempts in db.execute(_QUERY):
        dest, account, kind, state = str(dest), str(account), str(kind), str(state)
        n, attempts = int(n), int(attempts)
        out.alerts[(dest, account, kind, "queued")] += n
        if state != "queued":
            out.alerts[(dest, account, kind, "coalesced" if coalesced else state)] += n
        out.send_failures[dest] += attempts - (n if state == "delivered" else 0)
    return out


def deltas(new: Totals, old: Totals) -> Totals:
    """What `new` adds to `old` (never negative)."""
    out = Totals()
    for key, n in new.alerts.items():
        if n > old.alerts[key]:
            out.alerts[key] = n - old.alerts[key]
    for dest, n in new.send_failures.items():
        if n > old.send_failures[dest]:
            out.send_failures[dest] = n - old.send_failures[dest]
    return out


class DeliveryTally:
    """Reads the outbox at `path` and returns what is new since the previous read."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._version: int | None = None
        self._seen = Totals()
        if path.is_file():  # history from earlier runs: the baseline, never counted
            self._seen = self._read() or Totals()

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and self._path.is_file():
            self._db = sqlite3.connect(str(self._path), isolation_level=None, timeout=1.0)
        return self._db

    def _read(self) -> Totals | None:
        db = self._connect()
        if db is None:
            return None
        try:
            (version,) = db.execute("PRAGMA data_version").fetchone()
            if version == self._version:
                return None
            totals = tally(db)
        except sqlite3.Error:  # not created yet, or busy: read again on the next call
            return None
        self._version = int(version)
        return totals

    def new(self) -> Totals:
        """What the outbox recorded since the last call (empty when nothing changed)."""
        totals = self._read()
        if totals is None:
            return Totals()
        out = deltas(totals, self._seen)
        self._seen = totals
        return out

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
