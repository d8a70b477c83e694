"""Hypothesis strategies: random accounts in every margin mode and random event sequences."""

from __future__ import annotations

from hypothesis import strategies as st

from monitor.engine import events as ev
from monitor.engine.brackets import Bracket, BracketTable
from monitor.engine.collateral import CollateralTier, CollateralTiers
from monitor.engine.model import AccountState, Contract, ContractKind, Mode, Position

BASES = ("BTC", "ETH", "SOL")
PRICE = {"BTC": 30000.0, "ETH": 2000.0, "SOL": 100.0}


@st.composite
def bracket_tables(draw: st.DrawFn, scale: float) -> BracketTable:
    """1–4 tiers with increasing MMR and Binance's continuous `cum`."""
    n = draw(st.integers(1, 4))
    upper = draw(st.lists(st.floats(0.05, 20.0), min_size=n - 1, max_size=n - 1, unique=True))
    floors = [0.0, *(f * scale for f in sorted(upper))]
    mmrs = sorted(draw(st.lists(st.floats(0.002, 0.2), min_size=n, max_size=n)))
    brackets, cum = [], 0.0
    for k in range(n):
        if k:
            cum = floors[k] * (mmrs[k] - mmrs[k - 1]) + cum
        cap = floors[k + 1] if k + 1 < n else 1e18
        brackets.append(Bracket(floors[k], cap, mmrs[k], cum))
    return BracketTable(brackets)


@st.composite
def collateral_tiers(draw: st.DrawFn) -> CollateralTiers:
    n = draw(st.integers(1, 3))
    upper = draw(st.lists(st.floats(1e3, 1e6), min_size=n - 1, max_size=n - 1, unique=True))
    floors = [0.0, *sorted(upper)]
    rates = sorted(draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n)), reverse=True)
    tiers = [
        CollateralTier(floors[k], floors[k + 1] if k + 1 < n else float("inf"), rates[k])
        for k in range(n)
    ]
    return CollateralTiers(tiers)


def _linear(base: str, settle: str, brackets: BracketTable) -> Contract:
    return Contract(f"{base}{settle}", ContractKind.LINEAR, settle, base, brackets)


def _inverse(base: str, brackets: BracketTable) -> Contract:
    size = 100.0 if base == "BTC" else 10.0
    return Contract(f"{base}USD_PERP", ContractKind.INVERSE, base, base, brackets, size, "CM")


@st.composite
def accounts(draw: st.DrawFn, mode: Mode) -> AccountState:
    state = AccountState(mode)
    bases = draw(st.lists(st.sampled_from(BASES), min_size=1, max_size=3, unique=True))
    for base in bases:
        if mode in (Mode.USDM, Mode.USDM_MULTI_ASSETS, Mode.PORTFOLIO_MARGIN):
            for settle in draw(st.sampled_from([("USDT",), ("USDC",), ("USDT", "USDC")])):
                c = _linear(base, settle, draw(bracket_tables(scale=1e5)))
                state.contracts[c.symbol] = c
                state.marks[c.symbol] = PRICE[base] * draw(st.floats(0.5, 1.5))
        if mode in (Mode.COINM, Mode.PORTFOLIO_MARGIN):
            c = _inverse(base, draw(bracket_tables(scale=5.0)))
            state.contracts[c.symbol] = c
            state.marks[c.symbol] = PRICE[base] * draw(st.floats(0.5, 1.5))
    for name in ("USDT", "USDC", *bases):
        asset = state.asset(name)
        price = PRICE.get(name, 1.0)
        asset.cross_wallet = draw(st.floats(-1e3, 1e5)) / price
        if mode is Mode.USDM_MULTI_ASSETS:
            asset.bid_rate = price * draw(st.floats(0.8, 1.0))
            asset.ask_rate = price * draw(st.floats(1.0, 1.1))
        if mode is Mode.PORTFOLIO_MARGIN:
            asset.um_wallet = draw(st.floats(-1e3, 1e5)) / price
            asset.cm_wallet = draw(st.floats(0, 1e4)) / price
            asset.margin_free = draw(st.floats(0, 1e5)) / price
            asset.borrowed = draw(st.floats(0, 1e4)) / price
            asset.interest = draw(st.floats(0, 10)) / price
            asset.index_price = price * draw(st.floats(0.9, 1.1))
            asset.collateral = draw(collateral_tiers())
    if mode is Mode.PORTFOLIO_MARGIN:
        state.open_loss_usd = draw(st.floats(0, 1e3))
        state.margin_leverage = draw(st.sampled_from([3, 5, 10]))
    for symbol in state.contracts:
        for pos in draw(positions_for(state, symbol)):
            state.positions[pos.key] = pos
    return state


@st.composite
def positions_for(draw: st.DrawFn, state: AccountState, symbol: str) -> list[Position]:
    contract = state.contracts[symbol]
    mark = state.marks[symbol]
    hedge = draw(st.booleans())
    isolated_ok = state.mode in (Mode.USDM, Mode.COINM)
    out = []
    for side in ("LONG", "SHORT") if hedge else ("BOTH",):
        if not draw(st.booleans()):
            continue
        out.append(draw(position(contract, side, mark, isolated_ok)))
    return out


@st.composite
def position(
    draw: st.DrawFn, contract: Contract, side: str, mark: float, isolated_ok: bool
) -> Position:
    if contract.kind is ContractKind.LINEAR:
        size = draw(st.floats(1e-3, 2e6)) / mark
    else:
        size = float(draw(st.integers(1, 20000)))
    sign = {"LONG": 1.0, "SHORT": -1.0}.get(side) or draw(st.sampled_from([1.0, -1.0]))
    isolated = isolated_ok and draw(st.booleans())
    wallet = draw(st.floats(0, 1e5)) / PRICE.get(contract.settle_asset, 1.0) if isolated else 0.0
    entry = mark * draw(st.floats(0.7, 1.3))
    return Position(contract.symbol, side, sign * size, entry, isolated, wallet)


@st.composite
def event_for(draw: st.DrawFn, state: AccountState) -> ev.EngineEvent:
    """One random event valid for `state` (state is read, not mutated)."""
    symbols = sorted(state.contracts)
    assets = sorted(state.assets)
    kind = draw(
        st.sampled_from(
            ["mark"] * 6
            + ["jump", "wallet", "position", "close", "brackets", "rates", "index", "loss"]
            + ["collateral", "margin", "liability"]
        )
    )
    if kind in ("mark", "jump"):
        symbol = draw(st.sampled_from(symbols))
        step = draw(st.floats(0.999, 1.001)) if kind == "mark" else draw(st.floats(0.3, 3.0))
        return ev.MarkPrice(symbol, state.marks[symbol] * step)
    if kind == "wallet":
        asset = draw(st.sampled_from(assets))
        product = draw(st.sampled_from(["UM", "CM"]))
        return ev.FuturesWallet(asset, draw(st.floats(-1e3, 1e5)) / PRICE.get(asset, 1.0), product)
    if kind in ("position", "close"):
        symbol = draw(st.sampled_from(symbols))
        side = draw(st.sampled_from(["BOTH", "LONG", "SHORT"]))
        if kind == "close":
            return ev.PositionUpdate(symbol, side, 0.0, 0.0)
        pos = draw(
            position(
                state.contracts[symbol],
                side,
                state.marks[symbol],
                state.mode in (Mode.USDM, Mode.COINM),
            )
        )
        return ev.PositionUpdate(
            symbol, side, pos.qty, pos.entry_price, pos.isolated, pos.isolated_wallet
        )
    if kind == "brackets":
        symbol = draw(st.sampled_from(symbols))
        linear = state.contracts[symbol].kind is ContractKind.LINEAR
        return ev.BracketUpdate(symbol, draw(bracket_tables(scale=1e5 if linear else 5.0)))
    asset = draw(st.sampled_from(assets))
    price = PRICE.get(asset, 1.0)
    if kind == "rates":
        return ev.AssetRates(
            asset, price * draw(st.floats(0.8, 1.0)), price * draw(st.floats(1.0, 1.1))
        )
    if kind == "index":
        return ev.AssetIndexPrice(asset, price * draw(st.floats(0.5, 1.5)))
    if kind == "loss":
        return ev.OpenLoss(draw(st.floats(0, 1e4)))
    if kind == "collateral":
        return ev.CollateralUpdate(asset, draw(collateral_tiers()))
    if kind == "margin":
        return ev.MarginBalance(
            asset, draw(st.floats(0, 1e5)) / price, draw(st.floats(0, 1e3)) / price
        )
    return ev.MarginLiability(asset, draw(st.floats(0, 1e4)) / price, draw(st.floats(0, 10)))
