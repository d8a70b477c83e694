"""Portfolio Margin REST answers in Binance's shapes (wire.md §2, §4; margin-math.md §5).

`GET /papi/v1/account` from the account's figures (uniMMR = accountEquity / accountMaintMargin,
§5.5's consistency check), a `GET /papi/v1/balance` row (cross-margin free/locked/borrowed/
interest, UM and CM wallets and uPnL [A9]), rows of `GET /papi/v1/um/positionRisk` and
`/papi/v1/cm/positionRisk` (PM legs are cross only: no margin type, no isolated wallet), a row of
`GET /sapi/v1/portfolio/asset-index-price` and of `GET /sapi/v1/portfolio/collateralRate` [A3].
The figures themselves are the caller's (margin-math.md §5.2).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from monitor.sim.wire.coinm import CmLeg
from monitor.sim.wire.decimals import D, f8, fq
from monitor.sim.wire.usdm import UmLeg

JSON = dict[str, Any]


def pm_account(
    equity: Decimal,
    actual: Decimal,
    initial: Decimal,
    maint: Decimal,
    status: str,
    open_loss: Decimal,
    t: int,
) -> JSON:
    """`GET /papi/v1/account` (USD figures; withdrawable = max(equity − IM, 0))."""
    free = max(equity - initial, D(0))
    return {
        "uniMMR": f8(equity / maint),
        "accountEquity": f8(equity),
        "actualEquity": f8(actual),
        "accountInitialMargin": f8(initial),
        "accountMaintMargin": f8(maint),
        "accountStatus": status,
        "virtualMaxWithdrawAmount": f8(free),
        "totalAvailableBalance": f8(free),
        "totalMarginOpenLoss": f8(open_loss),
        "updateTime": t,
    }


def pm_balance_row(
    asset: str,
    *,
    free: Decimal,
    locked: Decimal,
    borrowed: Decimal,
    interest: Decimal,
    um_wallet: Decimal,
    cm_wallet: Decimal,
    um_upnl: Decimal,
    cm_upnl: Decimal,
    t: int,
) -> JSON:
    """One row of `GET /papi/v1/balance`."""
    return {
        "asset": asset,
        "totalWalletBalance": f8(free + locked + um_wallet + cm_wallet),
        "crossMarginAsset": f8(free + locked),
        "crossMarginBorrowed": f8(borrowed),
        "crossMarginFree": f8(free),
        "crossMarginInterest": f8(interest),
        "crossMarginLocked": f8(locked),
        "umWalletBalance": f8(um_wallet),
        "umUnrealizedPNL": f8(um_upnl),
        "cmWalletBalance": f8(cm_wallet),
        "cmUnrealizedPNL": f8(cm_upnl),
        "updateTime": t,
        "negativeBalance": f8(-um_wallet if um_wallet < 0 else 0),
    }


def pm_um_position_row(leg: UmLeg, mark: Decimal, liq: float, t: int) -> JSON:
    """One row of `GET /papi/v1/um/positionRisk` at `mark`."""
    return {
        "symbol": leg.symbol,
        "positionAmt": fq(leg.qty, 3),
        "entryPrice": fq(leg.entry, 2),
        "markPrice": f8(mark),
        "unRealizedProfit": f8(leg.upnl(mark)),
        "liquidationPrice": f8(D(str(round(liq, 8)))),
        "leverage": str(leg.leverage),
        "maxNotionalValue": "40000000",
        "positionSide": "BOTH",
        "notional": f8(leg.qty * mark),
        "updateTime": t,
    }


def pm_cm_position_row(leg: CmLeg, mark: Decimal, liq: float, t: int) -> JSON:
    """One row of `GET /papi/v1/cm/positionRisk` at `mark`."""
    return {
        "symbol": leg.symbol,
        "positionAmt": str(leg.qty),
        "entryPrice": str(leg.entry),
        "markPrice": f8(mark),
        "unRealizedProfit": f8(leg.upnl(mark)),
        "liquidationPrice": f8(D(str(round(liq, 8)))),
        "leverage": str(leg.leverage),
        "positionSide": "BOTH",
        "updateTime": t,
        "maxQty": "1000",
        "notionalValue": f8(leg.qty * leg.size / mark),
    }


def asset_index_price_row(asset: str, price: str, t: int) -> JSON:
    """One row of `GET /sapi/v1/portfolio/asset-index-price` (`price` as a decimal string)."""
    return {"asset": asset, "assetIndexPrice": price, "time": t}


def collateral_rate_row(asset: str, rate: Decimal) -> JSON:
    """One row of `GET /sapi/v1/portfolio/collateralRate` (flat rates, 4 places)."""
    return {"asset": asset, "collateralRate": f"{rate:.4f}"}
