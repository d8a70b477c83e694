"""Synthetic books of N positions for the benchmarks: a USDⓈ-M cross book and a PM book."""

from __future__ import annotations

from monitor.engine.brackets import Bracket, BracketTable
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState, Contract, ContractKind, Mode, Position


def _brackets(scale: float) -> BracketTable:
    """A realistic 8-tier table with Binance's continuous cum."""
    floors = [0, 50e3, 250e3, 1e6, 5e6, 20e6, 50e6, 100e6]
    mmrs = [0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15]
    out, cum = [], 0.0
    for k, floor in enumerate(floors):
        if k:
            cum += floor * scale * (mmrs[k] - mmrs[k - 1])
        cap = floors[k + 1] * scale if k + 1 < len(floors) else 1e18
        out.append(Bracket(floor * scale, cap, mmrs[k], cum))
    return BracketTable(out)


def usdm_cross_book(n: int) -> AccountState:
    """N one-way USDT-margined positions on N symbols, one shared cross wallet."""
    state = AccountState(Mode.USDM)
    state.asset("USDT").cross_wallet = 1e6
    for i in range(n):
        symbol = f"C{i:04d}USDT"
        state.contracts[symbol] = Contract(
            symbol, ContractKind.LINEAR, "USDT", f"C{i:04d}", _brackets(1.0)
        )
        price = 10.0 + i
        state.marks[symbol] = price
        qty = (1 if i % 2 else -1) * 20_000.0 / price
        state.positions[(symbol, "BOTH")] = Position(symbol, "BOTH", qty, price * 0.99)
    return state


def pm_book(n: int) -> AccountState:
    """N positions in Portfolio Margin: UM perps and, every 4th, a CM inverse leg; multi-asset
    collateral with haircuts and a USDT loan."""
    state = AccountState(Mode.PORTFOLIO_MARGIN)
    usdt = state.asset("USDT")
    usdt.um_wallet, usdt.borrowed, usdt.index_price = 5e5, 1e5, 0.9999
    for coin, price in (("BTC", 60_000.0), ("ETH", 3_000.0)):
        rec = state.asset(coin)
        rec.margin_free, rec.index_price = 1e6 / price, price
        rec.collateral = CollateralTiers.flat(0.95)
    for i in range(n):
        if i % 4 == 3:
            coin = "BTC" if i % 8 == 3 else "ETH"
            symbol = f"{coin}USD_{i:04d}"
            size = 100.0 if coin == "BTC" else 10.0
            price = 60_000.0 if coin == "BTC" else 3_000.0
            state.contracts[symbol] = Contract(
                symbol, ContractKind.INVERSE, coin, coin, _brackets(1e-4), size, "CM"
            )
            state.positions[(symbol, "BOTH")] = Position(symbol, "BOTH", -50.0, price * 1.01)
        else:
            symbol = f"C{i:04d}USDT"
            price = 10.0 + i
            state.contracts[symbol] = Contract(
                symbol, ContractKind.LINEAR, "USDT", f"C{i:04d}", _brackets(1.0)
            )
            qty = (1 if i % 2 else -1) * 20_000.0 / price
            state.positions[(symbol, "BOTH")] = Position(symbol, "BOTH", qty, price * 0.99)
        state.marks[symbol] = price
    return state
