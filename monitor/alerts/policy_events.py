"""The events the alert policy steps on (`AlertPolicy.step`): observations, exchange signals and
humans answering back (`Ack`, `Snooze`, `Unsnooze`). Frozen values, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Risk:
    """A freshly evaluated snapshot's risk."""

    risk: float


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes (the service ticks at least once a second)."""


@dataclass(frozen=True, slots=True)
class Watch:
    """The sources that must stay fresh: e.g. `mark:BTCUSDT`, `user_stream`, `index:BTC`.

    `limits` gives a source its own staleness limit (ms) where it is not `stale_after_ms`:
    inputs that are polled rather than streamed (a PM asset index price without a streamed
    proxy, the bracket and collateral tables) refresh more slowly than a stream; a limit below
    `stale_after_ms` is raised to it."""

    sources: frozenset[str]
    limits: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Seen:
    """A watched source delivered fresh data (or proved alive) at `now`."""

    source: str


@dataclass(frozen=True, slots=True)
class SourceDown:
    """A watched source is known to be out of date now, before its staleness limit: e.g. the
    user stream while the REST resync that must follow its gap keeps failing. Blind at once,
    with `reason`; the source's next `Seen` clears it."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Drift:
    """A local figure next to the exchange's own value of it."""

    figure: str
    local: float
    exchange: float


@dataclass(frozen=True, slots=True)
class MarginCall:
    """The exchange pushed a margin call."""


@dataclass(frozen=True, slots=True)
class RiskLevelChange:
    """Portfolio Margin `riskLevelChange` with its status (MARGIN_CALL, REDUCE_ONLY, ...)."""

    status: str
    uni_mmr: float | None = None


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """The account status the exchange reports (NORMAL, MARGIN_CALL, REDUCE_ONLY, ...)."""

    status: str


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """What the account's API key may do beyond reading (e.g. "futures trading", "withdrawals")."""

    enabled: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NegativeBalance:
    """An asset balance; below zero means auto-conversion is pending."""

    asset: str
    amount: float


@dataclass(frozen=True, slots=True)
class Ack:
    """A human acknowledged the account's current episode (at the level it stands at)."""

    by: str = ""


@dataclass(frozen=True, slots=True)
class Snooze:
    """A human silenced repeats and levels up to the current one until `until_ms`."""

    until_ms: int
    by: str = ""


@dataclass(frozen=True, slots=True)
class Unsnooze:
    """A human ended the snooze early."""


PolicyEvent = (
    Risk
    | Tick
    | Watch
    | Seen
    | SourceDown
    | Drift
    | MarginCall
    | RiskLevelChange
    | AccountStatus
    | NegativeBalance
    | KeyPermissions
    | Ack
    | Snooze
    | Unsnooze
)
