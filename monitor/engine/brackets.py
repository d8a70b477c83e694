"""Leverage brackets (maintenance-margin tiers) and their lookup by notional.

`MM = notional * mmr_k - cum_k` for the tier k whose floor is at or below the notional.
`cum` makes MM continuous across tiers; it is taken from the API, never recomputed, and
`continuity_gaps()` lets callers check a table (margin-math.md §0.2).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bracket:
    """One tier: notional in [floor, cap) pays `mmr` with maintenance amount `cum`."""

    floor: float
    cap: float
    mmr: float
    cum: float


class BracketTable:
    """Tiers of one symbol, sorted by floor, with parallel lists for a fast bisect lookup."""

    __slots__ = ("brackets", "caps", "cums", "floors", "mmrs")

    def __init__(self, brackets: list[Bracket]) -> None:
        ordered = sorted(brackets, key=lambda b: b.floor)
        self.brackets = tuple(ordered)
        self.floors = [b.floor for b in ordered]
        self.caps = [b.cap for b in ordered]
        self.mmrs = [b.mmr for b in ordered]
        self.cums = [b.cum for b in ordered]

    @classmethod
    def flat(cls, mmr: float) -> BracketTable:
        """A single tier covering every notional (tests, simple vectors)."""
        return cls([Bracket(0.0, float("inf"), mmr, 0.0)])

    def index(self, notional: float) -> int:
        """The tier holding `notional` (the last tier for anything above its floor)."""
        i = bisect_right(self.floors, notional) - 1
        return i if i > 0 else 0

    def maint_margin(self, notional: float) -> float:
        """Maintenance margin of a position of this notional (same unit as the notional)."""
        i = self.index(notional)
        return notional * self.mmrs[i] - self.cums[i]

    def continuity_gaps(self, rel_tol: float = 1e-9) -> list[tuple[int, float]]:
        """Tier boundaries where MM jumps: (tier index, MM difference at its floor)."""
        gaps: list[tuple[int, float]] = []
        for k in range(1, len(self.floors)):
            f = self.floors[k]
            below = f * self.mmrs[k - 1] - self.cums[k - 1]
            above = f * self.mmrs[k] - self.cums[k]
            if abs(above - below) > rel_tol * max(1.0, abs(below)):
                gaps.append((k, above - below))
        return gaps

    def __len__(self) -> int:
        return len(self.floors)

    def __repr__(self) -> str:
        return f"BracketTable({list(self.brackets)!r})"
