"""The process's egress: the local address every Binance connection is bound to, and the
budgets every account on that address shares (`budget.py`).

`[network] source_address` pins every REST and websocket connection of the daemon to one local
address, so several instances on one host (each with its own address) each get Binance's per-IP
budgets. The daemon sets its `Egress` once with `use` before starting any task; tasks created
afterwards inherit it (a context variable, so a test's daemon never leaks it into another
test). `RestClient` reads it when built, `StreamSupervisor` at each connection attempt. Outside
a daemon (tools, most tests) there is no address and no shared budget: each `RestClient`
throttles on its own, as before.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, replace

from monitor.base.net import check_address
from monitor.binance.budget import AttemptBudget, BudgetBook


@dataclass(frozen=True, slots=True)
class Egress:
    """One egress address and its shared budgets (None: none shared)."""

    source_address: str | None = None
    weights: BudgetBook | None = None
    attempts: AttemptBudget | None = None


_NONE = Egress()
_CURRENT: ContextVar[Egress | None] = ContextVar("marginwatch_egress", default=None)


def use(egress: Egress) -> None:
    """Every connection made from this context on goes through `egress`."""
    address = egress.source_address
    _CURRENT.set(egress if address is None else replace(egress, source_address=check_address(
        address)))


def current() -> Egress:
    """The egress of this context (no address, no shared budgets outside a daemon)."""
    return _CURRENT.get() or _NONE


def use_source_address(address: str | None) -> None:
    """Bind every connection made from this context on (None: the system's choice)."""
    use(replace(current(), source_address=address))


def source_address() -> str | None:
    """The configured local address, if any."""
    return current().source_address


def local_addr(address: str | None = None) -> tuple[str, int] | None:
    """`(address, 0)` for asyncio's `create_connection(local_addr=…)`: any local port."""
    chosen = address if address is not None else current().source_address
    return None if chosen is None else (chosen, 0)
