"""Read the daemon's outbox (sqlite, read-only) after a run: which alerts it superseded for
which sink ("newest wins" coalescing), so the matching can tell coalesced from lost, and the
order the alerts were persisted in (the disk-full phase's held alerts)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

SUPERSEDED = "superseded by "


def coalesced_by_sink(
    db: Path, received: Mapping[str, Sequence[str | None]]
) -> dict[str, set[str]]:
    """Per sink: ids expired as superseded (directly or in a chain) by an alert it received.

    Destinations are matched to sinks by the overlap of delivered ids and received ids."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        query = "SELECT alert_id, dest_id, state, last_error FROM deliveries"
        rows = conn.execute(query).fetchall()
    finally:
        conn.close()
    delivered: dict[str, set[str]] = {}
    superseded: dict[str, list[tuple[str, str]]] = {}
    for alert_id, dest_id, state, error in rows:
        if state == "delivered":
            delivered.setdefault(dest_id, set()).add(alert_id)
        elif state == "expired" and isinstance(error, str) and error.startswith(SUPERSEDED):
            superseded.setdefault(dest_id, []).append((alert_id, error[len(SUPERSEDED):]))
    out: dict[str, set[str]] = {}
    for sink, ids in received.items():
        got = {i for i in ids if i}
        best = max(delivered, key=lambda d: len(delivered[d] & got), default=None)
        if best is None or not delivered[best] & got:
            continue
        chain = dict(superseded.get(best, []))
        out[sink] = {old for old in chain if _final(old, chain) in got}
    return out


def alert_order(db: Path) -> list[str]:
    """Every alert id in the outbox, in the order the alerts were persisted (rowid)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [str(a) for (a,) in conn.execute("SELECT alert_id FROM alerts ORDER BY rowid")]
    finally:
        conn.close()


def _final(alert_id: str, chain: Mapping[str, str]) -> str:
    """Follow "superseded by" links to the alert that finally stood (chains end; no cycles)."""
    seen = {alert_id}
    while alert_id in chain and chain[alert_id] not in seen:
        alert_id = chain[alert_id]
        seen.add(alert_id)
    return alert_id
