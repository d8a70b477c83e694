"""Collateral valuation: Portfolio Margin collateral rates (flat or tiered) and liabilities.

Tiers apply slice by slice ("tax brackets"): for a positive USD value V in tier k,
`collateral = V * rate_k + cum_k` with `cum_k = sum_{j<k} (cap_j - floor_j) * (rate_j - rate_k)`,
i.e. `cum_k = cum_{k-1} + floor_k * (rate_{k-1} - rate_k)` for contiguous tiers.
The API's own `cum` column is not trusted (its documentation sample contradicts slice-wise
tiers, margin-math.md §5.3); it is derived from floors and rates so the value is continuous.
Negative values (liabilities) are valued at 100 %: `min(X*P*CR, X*P)`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CollateralTier:
    """Positive USD value in [floor, cap) is counted at `rate`."""

    floor: float
    cap: float
    rate: float


class CollateralTiers:
    """The collateral-rate schedule of one asset."""

    __slots__ = ("cums", "floors", "rates", "tiers")

    def __init__(self, tiers: list[CollateralTier]) -> None:
        ordered = sorted(tiers, key=lambda t: t.floor)
        if not ordered or ordered[0].floor > 0:
            raise ValueError("collateral tiers must start at 0")
        self.tiers = tuple(ordered)
        self.floors = [t.floor for t in ordered]
        self.rates = [t.rate for t in ordered]
        cums = [0.0]
        for k in range(1, len(ordered)):
            prev = ordered[k - 1]
            cums.append(cums[-1] + ordered[k].floor * (prev.rate - ordered[k].rate))
        self.cums = cums

    @classmethod
    def flat(cls, rate: float) -> CollateralTiers:
        return cls([CollateralTier(0.0, float("inf"), rate)])

    @classmethod
    def full(cls) -> CollateralTiers:
        return cls.flat(1.0)

    @property
    def is_flat(self) -> bool:
        return len(self.floors) == 1

    def index_of(self, usd: float) -> int:
        """The tier holding a positive USD value."""
        k = bisect_right(self.floors, usd) - 1
        return k if k > 0 else 0

    def value(self, usd: float) -> float:
        """Collateral value in USD of a net position worth `usd` at the index price."""
        if usd <= 0.0:
            return usd
        if len(self.floors) == 1:
            return usd * self.rates[0]
        k = bisect_right(self.floors, usd) - 1
        return usd * self.rates[k] + self.cums[k]

    def __repr__(self) -> str:
        return f"CollateralTiers({list(self.tiers)!r})"
