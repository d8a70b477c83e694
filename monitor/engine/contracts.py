"""Contract arithmetic: notional and unrealized PnL of linear and inverse positions.

USDⓈ-M (linear): notional = |q|·MP, uPnL = q·(MP − EP), both in the quote/margin asset.
COIN-M (inverse): notional = |q|·CS/MP in coin, uPnL = q·CS·(1/EP − 1/MP) in coin.
(margin-math.md §0.2, §0.3). Hedge legs carry signed qty: LONG > 0, SHORT < 0.
"""

from __future__ import annotations

from monitor.engine.model import Contract, ContractKind


def notional(contract: Contract, qty: float, mark: float) -> float:
    """Position notional in the contract's settle asset (always >= 0)."""
    if contract.kind is ContractKind.LINEAR:
        return abs(qty) * mark
    return abs(qty) * contract.contract_size / mark


def unrealized_pnl(contract: Contract, qty: float, entry: float, mark: float) -> float:
    """Unrealized PnL in the contract's settle asset."""
    if qty == 0.0:
        return 0.0
    if contract.kind is ContractKind.LINEAR:
        return qty * (mark - entry)
    return qty * contract.contract_size * (1.0 / entry - 1.0 / mark)


def maint_margin(contract: Contract, qty: float, mark: float) -> float:
    """Maintenance margin in the settle asset, with the bracket re-picked at this mark."""
    if qty == 0.0:
        return 0.0
    return contract.brackets.maint_margin(notional(contract, qty, mark))


def signed_qty(side: str, amount: float) -> float:
    """Binance reports hedge legs' size sometimes unsigned; LONG is +, SHORT is −."""
    if side == "LONG":
        return abs(amount)
    if side == "SHORT":
        return -abs(amount)
    return amount
