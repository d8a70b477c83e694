"""Account totals of the fake exchange, computed in `Decimal` from Binance's published formulas.

The fake exchange must not grade the monitor with the monitor's own arithmetic, so nothing here
comes from `monitor.engine` (an import contract in `.importlinter` checks it). `patch_totals`
reads the current REST bodies (positions, marks, brackets, wallets, rates — all from the
recording's own rows) and writes the figures a client reconciles against
(`monitor.feed.reconcile.figures`), each straight from docs/margin-math.md:

- `/fapi/v3/account` and `/fapi/v2/account` (margin-math.md §1–§3), per asset: `unrealizedProfit`
  (Σ uPnL of the asset's legs), `crossUnPnl` (its cross legs), `maintMargin` and
  `marginBalance`; per position `maintMargin` = |q|·MP·mmr − cum (§0.2).
  Single-asset mode: `marginBalance_A = crossWalletBalance_A + Σ cross uPnL + Σ_isolated (iw +
  uPnL)` and `maintMargin_A` = Σ MM of its legs; the totals are the USDT asset's figures (as
  Binance does: "only for USDT asset"; the first asset when there is no USDT).
  Multi-Assets (§3.2): per asset in asset units (`marginBalance` = wallet + uPnL,
  `maintMargin` = Σ MM); totals in USD: `totalMarginBalance` = Σ min(e·bid, e·ask),
  `totalMaintMargin` = Σ MM·ask, `totalUnrealizedProfit`/`totalCrossUnPnl` = Σ min(u·bid, u·ask),
  with the `/fapi/v1/assetIndex` rates of `XUSD` (1/1 for an asset without a row).
- `/dapi/v1/account` (§4.1), per coin: the same per-asset figures with inverse contracts:
  uPnL = q·CS·(1/EP − 1/MP), MM = (|q|·CS/MP)·mmr − cum; per position `maintMargin`.
- `/papi/v1/account` (§5.2): `accountEquity` = Σ_a min(X_a·P_a·CR_a, X_a·P_a) − open loss,
  with X_a = crossMarginFree + crossMarginLocked − crossMarginBorrowed − crossMarginInterest +
  umWalletBalance + cmWalletBalance + futures uPnL; tiered collateral rates slice by slice
  (§5.3); `accountMaintMargin` = Σ futuresMM_a·P_a + Σ loan_a·MMR_loan·P_a (MMR by margin
  leverage: 3x 10 %, 5x 8 %, 10x 5 %); `uniMMR` = accountEquity / accountMaintMargin.

Marks: a symbol's premiumIndex `markPrice`, else its positionRisk row's. A bracket is the tier
whose floor is the largest not above the notional. Figures are written with 8 decimals
(rounded half-even). Raises `TotalsError` when the bodies do not make the figures (a held
symbol without brackets or a mark; a PM asset without an index price, stablecoins aside: they
count at 1); the caller then leaves the recorded totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.sim.ledger_balances import (
    CM_ACCOUNTS,
    PM_ACCOUNT,
    PM_BALANCE,
    PM_INDEX_PRICES,
    STABLECOINS,
    UM_ACCOUNTS,
)
from monitor.sim.ledger_rows import dec, fmt_dec, side_of

#: Paths whose answers carry totals this module computes.
TOTALS_PATHS = frozenset({PM_ACCOUNT, *UM_ACCOUNTS, *CM_ACCOUNTS})

USDM, MULTI_ASSETS, COINM, PORTFOLIO_MARGIN = (
    "usdm",
    "usdm_multi_assets",
    "coinm",
    "portfolio_margin",
)

#: Margin-loan maintenance margin rate by margin leverage (margin-math.md §5.2, [B10]).
LOAN_MMR = {3: Decimal("0.10"), 5: Decimal("0.08"), 10: Decimal("0.05")}

ZERO = Decimal(0)
ONE = Decimal(1)

_UM_POSITION_RISK = ("/fapi/v3/positionRisk", "/fapi/v2/positionRisk")
_CM_POSITION_RISK = "/dapi/v1/positionRisk"
_UM_INFO, _CM_INFO = "/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo"
_UM_PREMIUM, _CM_PREMIUM = "/fapi/v1/premiumIndex", "/dapi/v1/premiumIndex"


class TotalsError(ValueError):
    """The bodies do not make the figures (what is missing is in the message)."""


def totals_paths(mode: str) -> tuple[str, ...]:
    if mode == PORTFOLIO_MARGIN:
        return (PM_ACCOUNT,)
    if mode == COINM:
        return CM_ACCOUNTS
    return UM_ACCOUNTS


@dataclass(frozen=True, slots=True)
class Tier:
    """One bracket: notional (USDⓈ-M: quote asset; COIN-M: coin) from `floor`, rate, cum."""

    floor: Decimal
    mmr: Decimal
    cum: Decimal


@dataclass(frozen=True, slots=True)
class LegFigures:
    """One position leg's figures, in its margin asset."""

    symbol: str
    side: str
    asset: str
    isolated: bool
    wallet: Decimal  # isolated wallet (0 for cross)
    upnl: Decimal
    maint: Decimal


def patch_totals(bodies: Mapping[str, Any], mode: str, margin_leverage: int) -> int:
    """Write the figures into the mode's account bodies; returns the bodies patched."""
    targets = [body for path in totals_paths(mode) if isinstance(body := bodies.get(path), dict)]
    if not targets:
        return 0
    if mode == PORTFOLIO_MARGIN:
        equity, maint = pm_figures(bodies, margin_leverage)
        for body in targets:
            if maint != ZERO:
                body["uniMMR"] = fmt_dec(equity / maint)
            body["accountEquity"] = fmt_dec(equity)
            body["accountMaintMargin"] = fmt_dec(maint)
        return len(targets)
    legs = coinm_legs(bodies) if mode == COINM else usdm_legs(bodies)
    rates = asset_rates(bodies) if mode == MULTI_ASSETS else {}
    for body in targets:
        _patch_futures(body, legs, rates if mode == MULTI_ASSETS else None)
    return len(targets)


# ---------------------------------------------------------------------------------- inputs
def _rows(body: Any) -> list[dict[str, Any]]:
    return [r for r in body if isinstance(r, dict)] if isinstance(body, list) else []


def _d(value: object) -> Decimal:
    out = dec(value)
    return ZERO if out is None else out


def _signed(side: str, amount: Decimal) -> Decimal:
    """Hedge legs' size may come unsigned: LONG is +, SHORT is − (margin-math.md notation)."""
    if side == "LONG":
        return abs(amount)
    if side == "SHORT":
        return -abs(amount)
    return amount


def _symbols(body: Any) -> dict[str, dict[str, Any]]:
    found = body.get("symbols") if isinstance(body, dict) else None
    return {str(s.get("symbol")): s for s in _rows(found)}


def _tiers(rows: Any, floor_keys: tuple[str, ...]) -> list[Tier]:
    tiers = []
    for row in _rows(rows):
        floor = next((dec(row[k]) for k in floor_keys if k in row), None)
        mmr, cum = dec(row.get("maintMarginRatio")), dec(row.get("cum"))
        if floor is None or mmr is None or cum is None:
            raise TotalsError(f"bracket row {row!r} lacks floor, maintMarginRatio or cum")
        tiers.append(Tier(floor, mmr, cum))
    return sorted(tiers, key=lambda t: t.floor)


def brackets(body: Any, floor_keys: tuple[str, ...], key: str = "symbol") -> dict[str, list[Tier]]:
    """Bracket tables by symbol (or by pair) from a leverageBracket body."""
    return {str(row.get(key)): _tiers(row.get("brackets"), floor_keys) for row in _rows(body)}


def maint_margin(tiers: list[Tier], notional: Decimal) -> Decimal:
    """notional·mmr − cum of the tier holding `notional` (margin-math.md §0.2)."""
    chosen = tiers[0]
    for tier in tiers:
        if tier.floor <= notional:
            chosen = tier
    return notional * chosen.mmr - chosen.cum


def marks(
    bodies: Mapping[str, Any], position_paths: tuple[str, ...], premium: str
) -> dict[str, Decimal]:
    """Mark price by symbol: premiumIndex first, else the positionRisk rows'."""
    out: dict[str, Decimal] = {}
    for path in position_paths:
        for row in _rows(bodies.get(path)):
            price = dec(row.get("markPrice"))
            if price is not None and price > ZERO:
                out.setdefault(str(row.get("symbol")), price)
    for row in _rows(bodies.get(premium)):
        price = dec(row.get("markPrice"))
        if price is not None and price > ZERO:
            out[str(row.get("symbol"))] = price
    return out


def _mark(prices: Mapping[str, Decimal], symbol: str) -> Decimal:
    price = prices.get(symbol)
    if price is None:
        raise TotalsError(f"no mark price for {symbol}")
    return price


def _table(tables: Mapping[str, list[Tier]], symbol: str) -> list[Tier]:
    found = tables.get(symbol)
    if not found:
        raise TotalsError(f"no brackets for {symbol}")
    return found


def _isolation(row: dict[str, Any], upnl_key: str) -> tuple[bool, Decimal]:
    """(isolated, isolated wallet) of a positionRisk row (v2/COIN-M `marginType`, v3 wallets)."""
    wallet = dec(row.get("isolatedWallet"))
    if wallet is None:
        wallet = _d(row.get("isolatedMargin")) - _d(row.get(upnl_key))
    if "marginType" in row:
        isolated = str(row["marginType"]).lower() == "isolated"
    else:
        isolated = wallet > ZERO or _d(row.get("isolatedMargin")) != ZERO
    return isolated, wallet if isolated else ZERO


def _linear(
    row: dict[str, Any],
    info: Mapping[str, dict[str, Any]],
    tables: Mapping[str, list[Tier]],
    prices: Mapping[str, Decimal],
    isolation: bool,
) -> LegFigures | None:
    symbol, side = str(row.get("symbol")), side_of(row)
    qty = _signed(side, _d(row.get("positionAmt")))
    if qty == ZERO:
        return None
    mark, entry = _mark(prices, symbol), _d(row.get("entryPrice"))
    asset = row.get("marginAsset") or info.get(symbol, {}).get("marginAsset")
    if not isinstance(asset, str):
        raise TotalsError(f"no margin asset for {symbol}")
    isolated, wallet = _isolation(row, "unRealizedProfit") if isolation else (False, ZERO)
    upnl = qty * (mark - entry)
    maint = maint_margin(_table(tables, symbol), abs(qty) * mark)
    return LegFigures(symbol, side, asset, isolated, wallet, upnl, maint)


def _inverse(
    row: dict[str, Any],
    info: Mapping[str, dict[str, Any]],
    tables: Mapping[str, list[Tier]],
    prices: Mapping[str, Decimal],
    isolation: bool,
) -> LegFigures | None:
    symbol, side = str(row.get("symbol")), side_of(row)
    qty = _signed(side, _d(row.get("positionAmt")))
    if qty == ZERO:
        return None
    spec = info.get(symbol)
    size = dec(spec.get("contractSize")) if spec else None
    if spec is None or size is None:
        raise TotalsError(f"no contract size for {symbol}")
    mark, entry = _mark(prices, symbol), _d(row.get("entryPrice"))
    asset = str(spec.get("marginAsset") or spec.get("baseAsset"))
    isolated, wallet = _isolation(row, "unRealizedProfit") if isolation else (False, ZERO)
    upnl = qty * size * (ONE / entry - ONE / mark) if entry != ZERO else ZERO
    maint = maint_margin(_table(tables, symbol), abs(qty) * size / mark)
    return LegFigures(symbol, side, asset, isolated, wallet, upnl, maint)


def usdm_legs(bodies: Mapping[str, Any]) -> list[LegFigures]:
    """USDⓈ-M legs of the v3 (else v2) positionRisk body."""
    path = next((p for p in _UM_POSITION_RISK if p in bodies), None)
    if path is None:
        raise TotalsError("no /fapi positionRisk body")
    info = _symbols(bodies.get(_UM_INFO))
    tables = brackets(bodies.get("/fapi/v1/leverageBracket"), ("notionalFloor",))
    prices = marks(bodies, (path,), _UM_PREMIUM)
    legs = (_linear(row, info, tables, prices, True) for row in _rows(bodies[path]))
    return [leg for leg in legs if leg is not None]


def _cm_tables(
    bodies: Mapping[str, Any], info: Mapping[str, dict[str, Any]]
) -> dict[str, list[Tier]]:
    keys = ("qtyFloor", "qtylFloor")
    if "/dapi/v2/leverageBracket" in bodies:
        return brackets(bodies["/dapi/v2/leverageBracket"], keys)
    per_pair = brackets(bodies.get("/dapi/v1/leverageBracket"), keys, key="pair")
    return {
        s: per_pair[str(spec.get("pair"))]
        for s, spec in info.items()
        if spec.get("pair") in per_pair
    }


def coinm_legs(bodies: Mapping[str, Any]) -> list[LegFigures]:
    """COIN-M legs of `/dapi/v1/positionRisk`."""
    if _CM_POSITION_RISK not in bodies:
        raise TotalsError(f"no {_CM_POSITION_RISK} body")
    info = _symbols(bodies.get(_CM_INFO))
    tables = _cm_tables(bodies, info)
    prices = marks(bodies, (_CM_POSITION_RISK,), _CM_PREMIUM)
    legs = (_inverse(row, info, tables, prices, True) for row in _rows(bodies[_CM_POSITION_RISK]))
    return [leg for leg in legs if leg is not None]


def asset_rates(bodies: Mapping[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    """Multi-Assets (bidRate, askRate) by asset from the `XUSD` rows of `/fapi/v1/assetIndex`."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for row in _rows(bodies.get("/fapi/v1/assetIndex")):
        symbol = str(row.get("symbol"))
        bid, ask = dec(row.get("bidRate")), dec(row.get("askRate"))
        if symbol.endswith("USD") and bid and ask and bid > ZERO and ask > ZERO:
            out[symbol[:-3]] = (bid, ask)
    return out


# ---------------------------------------------------------------------------------- futures
def _put(row: dict[str, Any], key: str, value: Decimal) -> None:
    if key in row:
        row[key] = fmt_dec(value)


def _usd(value: Decimal, rate: tuple[Decimal, Decimal]) -> Decimal:
    """A balance in USD: a gain at the bid rate, a loss at the ask (margin-math.md §3.2)."""
    return min(value * rate[0], value * rate[1])


def _patch_futures(
    body: dict[str, Any],
    legs: list[LegFigures],
    rates: Mapping[str, tuple[Decimal, Decimal]] | None,
) -> None:
    """Per-asset and per-position figures; totals in USD when `rates` (Multi-Assets) is given."""
    upnl: dict[str, Decimal] = defaultdict(Decimal)
    cross_upnl: dict[str, Decimal] = defaultdict(Decimal)
    maint: dict[str, Decimal] = defaultdict(Decimal)
    isolated_equity: dict[str, Decimal] = defaultdict(Decimal)
    for leg in legs:
        upnl[leg.asset] += leg.upnl
        maint[leg.asset] += leg.maint
        if leg.isolated:
            isolated_equity[leg.asset] += leg.wallet + leg.upnl
        else:
            cross_upnl[leg.asset] += leg.upnl
    rows = [r for r in _rows(body.get("assets")) if "asset" in r]
    equity: dict[str, Decimal] = {}
    for row in rows:
        asset = row["asset"]
        cross = dec(row.get("crossWalletBalance"))
        wallet = cross if cross is not None else _d(row.get("walletBalance"))
        equity[asset] = wallet + cross_upnl[asset] + isolated_equity[asset]
        _put(row, "unrealizedProfit", upnl[asset])
        _put(row, "crossUnPnl", cross_upnl[asset])
        _put(row, "maintMargin", maint[asset])
        _put(row, "marginBalance", equity[asset])
    by_leg = {(leg.symbol, leg.side): leg.maint for leg in legs}
    for row in _rows(body.get("positions")):
        if "maintMargin" in row:
            row["maintMargin"] = fmt_dec(by_leg.get((str(row.get("symbol")), side_of(row)), ZERO))
    if "totalMaintMargin" not in body:
        return  # COIN-M: no totals
    if rates is not None:
        par = (ONE, ONE)
        body["totalMaintMargin"] = fmt_dec(
            sum((m * rates.get(a, par)[1] for a, m in maint.items()), ZERO)
        )
        body["totalMarginBalance"] = fmt_dec(
            sum((_usd(e, rates.get(a, par)) for a, e in equity.items()), ZERO)
        )
        usd_upnl = sum((_usd(u, rates.get(a, par)) for a, u in upnl.items()), ZERO)
        _put(body, "totalUnrealizedProfit", usd_upnl)
        _put(body, "totalCrossUnPnl", usd_upnl)
        return
    main = next((r for r in rows if r["asset"] == "USDT"), rows[0] if rows else None)
    if main is None:
        return
    for total, key in (
        ("totalMaintMargin", "maintMargin"),
        ("totalMarginBalance", "marginBalance"),
        ("totalUnrealizedProfit", "unrealizedProfit"),
        ("totalCrossUnPnl", "crossUnPnl"),
        ("totalWalletBalance", "walletBalance"),
        ("totalCrossWalletBalance", "crossWalletBalance"),
    ):
        if total in body and key in main:
            body[total] = main[key]


# ---------------------------------------------------------------------------------- PM
def _collateral(bodies: Mapping[str, Any]) -> dict[str, list[tuple[Decimal, Decimal]]]:
    """(floor in USD, rate) tiers by asset: `/sapi/v2` tiered when present, else flat `/sapi/v1`."""
    tiered = "/sapi/v2/portfolio/collateralRate"
    out: dict[str, list[tuple[Decimal, Decimal]]] = {}
    if tiered in bodies:
        for row in _rows(bodies[tiered]):
            tiers = [
                (_d(t.get("tierFloor")), _d(t.get("collateralRate")))
                for t in _rows(row.get("collateralInfo"))
            ]
            out[str(row.get("asset"))] = sorted(tiers)
        return out
    for row in _rows(bodies.get("/sapi/v1/portfolio/collateralRate")):
        out[str(row.get("asset"))] = [(ZERO, _d(row.get("collateralRate")))]
    return out


def collateral_value(usd: Decimal, tiers: list[tuple[Decimal, Decimal]]) -> Decimal:
    """min(V·CR, V): a liability at 100 %, a positive value slice by slice (§5.2, §5.3)."""
    if usd <= ZERO or not tiers:
        return usd
    value = ZERO
    for k, (floor, rate) in enumerate(tiers):
        cap = tiers[k + 1][0] if k + 1 < len(tiers) else usd
        if usd <= floor:
            break
        value += (min(usd, cap) - floor) * rate
    return value


def pm_figures(bodies: Mapping[str, Any], margin_leverage: int) -> tuple[Decimal, Decimal]:
    """(adjusted equity, maintenance margin) in USD of a Portfolio Margin account (§5.2)."""
    if PM_BALANCE not in bodies:
        raise TotalsError(f"no {PM_BALANCE} body")
    um_info, cm_info = _symbols(bodies.get(_UM_INFO)), _symbols(bodies.get(_CM_INFO))
    um_tables = brackets(bodies.get("/papi/v1/um/leverageBracket"), ("notionalFloor",))
    cm_tables = brackets(bodies.get("/papi/v1/cm/leverageBracket"), ("qtyFloor", "qtylFloor"))
    um_path, cm_path = "/papi/v1/um/positionRisk", "/papi/v1/cm/positionRisk"
    legs = [
        *(
            _linear(r, um_info, um_tables, marks(bodies, (um_path,), _UM_PREMIUM), False)
            for r in _rows(bodies.get(um_path))
        ),
        *(
            _inverse(r, cm_info, cm_tables, marks(bodies, (cm_path,), _CM_PREMIUM), False)
            for r in _rows(bodies.get(cm_path))
        ),
    ]
    x: dict[str, Decimal] = defaultdict(Decimal)
    futures_mm: dict[str, Decimal] = defaultdict(Decimal)
    loan: dict[str, Decimal] = defaultdict(Decimal)
    for row in _rows(bodies[PM_BALANCE]):
        asset = str(row.get("asset"))
        debt = _d(row.get("crossMarginBorrowed")) + _d(row.get("crossMarginInterest"))
        loan[asset] += debt
        x[asset] += (
            _d(row.get("crossMarginFree"))
            + _d(row.get("crossMarginLocked"))
            - debt
            + _d(row.get("umWalletBalance"))
            + _d(row.get("cmWalletBalance"))
        )
    for leg in legs:
        if leg is not None:
            x[leg.asset] += leg.upnl
            futures_mm[leg.asset] += leg.maint
    prices = {
        str(r.get("asset")): _d(r.get("assetIndexPrice"))
        for r in _rows(bodies.get(PM_INDEX_PRICES))
    }
    rates = _collateral(bodies)
    loan_mmr = LOAN_MMR.get(margin_leverage, LOAN_MMR[3])
    equity = maint = ZERO
    for asset in sorted(set(x) | set(futures_mm)):
        if x[asset] == ZERO and futures_mm[asset] == ZERO and loan[asset] == ZERO:
            continue
        price = prices.get(asset, ONE if asset in STABLECOINS else None)
        if price is None or price <= ZERO:
            raise TotalsError(f"{PM_INDEX_PRICES} has no price for {asset}")
        equity += collateral_value(x[asset] * price, rates.get(asset, [(ZERO, ONE)]))
        maint += (futures_mm[asset] + loan[asset] * loan_mmr) * price
    account = bodies.get(PM_ACCOUNT)
    open_loss = _d(account.get("totalMarginOpenLoss")) if isinstance(account, dict) else ZERO
    return equity - open_loss, maint
