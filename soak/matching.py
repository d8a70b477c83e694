"""Expected vs delivered, per sink: duplicates, lost, unexpected and extra alerts (pure).

A sink's receipts are reduced to unique alert ids (a second receipt of an id is a duplicate),
its ladder alerts ordered by their decision time (in the id) and aligned with the expected
sequence by longest common subsequence on (account, kind, level): what aligns was delivered,
expected keys left over are lost, delivered ladder alerts left over are unexpected. Alerts of
other kinds (blind, restored, drift, exchange, repeat, rapid) are fault-driven extras, counted
by kind. Time compression cannot defeat this: only order and identity matter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from soak.expected import LADDER, Key, key_of_id

_LADDER_KINDS = frozenset(str(k) for k in LADDER)


@dataclass(slots=True)
class SinkResult:
    """The comparison for one sink."""

    sink: str
    expected: int
    delivered: int
    lost: int
    coalesced: int
    duplicates: int
    unexpected: int
    unparsed: int
    extras: Counter[str] = field(default_factory=Counter)
    lost_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    #: Index of an expected alert -> the id it was matched with (delivered or coalesced).
    matched: dict[int, str] = field(default_factory=dict)


def lcs_pairs(a: Sequence[Key], b: Sequence[Key]) -> list[tuple[int, int]]:
    """Index pairs of one longest common subsequence of `a` and `b`."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if a[i] == b[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i += 1
            j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _t_ms(alert_id: str) -> int:
    parts = alert_id.split("/")
    return int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0


def match_sink(
    sink: str,
    expected: Sequence[Key],
    ids: Sequence[str | None],
    coalesced: Collection[str] = (),
) -> SinkResult:
    """Compare what `sink` received (alert ids in arrival order; None = unparseable).

    `coalesced` are ids the daemon's outbox superseded for this sink by a newer alert of the
    same coalesce key that was delivered (its documented "newest wins" rule during an outage):
    an expected alert matched by one of them is counted as coalesced, neither delivered nor
    lost."""
    seen: set[str] = set()
    unique: list[str] = []
    duplicates = unparsed = 0
    for alert_id in ids:
        if alert_id is None:
            unparsed += 1
        elif alert_id in seen:
            duplicates += 1
        else:
            seen.add(alert_id)
            unique.append(alert_id)
    extras: Counter[str] = Counter()
    ladder: list[tuple[int, Key, bool, str]] = []
    merged = unique + [c for c in coalesced if c not in seen]
    for alert_id in merged:
        key = key_of_id(alert_id)
        if key is None:
            unparsed += 1
        elif key.kind in _LADDER_KINDS:
            ladder.append((_t_ms(alert_id), key, alert_id not in seen, alert_id))
        elif alert_id in seen:
            extras[key.kind] += 1
    ladder.sort(key=lambda item: item[0])
    got = [key for _, key, _, _ in ladder]
    was_coalesced = [flag for _, _, flag, _ in ladder]
    pairs = lcs_pairs(expected, got)
    n_coalesced = sum(1 for _, j in pairs if was_coalesced[j])
    matched_e = {i for i, _ in pairs}
    matched_g = {j for _, j in pairs}
    return SinkResult(
        sink=sink,
        expected=len(expected),
        delivered=len(pairs) - n_coalesced,
        lost=len(expected) - len(pairs),
        coalesced=n_coalesced,
        duplicates=duplicates,
        unexpected=sum(
            1 for j in range(len(got)) if j not in matched_g and not was_coalesced[j]
        ),
        unparsed=unparsed,
        extras=extras,
        lost_keys=[str(k) for i, k in enumerate(expected) if i not in matched_e],
        unexpected_keys=[
            str(k) for j, k in enumerate(got) if j not in matched_g and not was_coalesced[j]
        ],
        matched={i: ladder[j][3] for i, j in pairs},
    )
