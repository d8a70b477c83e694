"""What every Binance schema shares: errors, field types, the base model and the row bases.

- Errors: `WireError` (a payload that cannot be decoded) and its kinds `UnknownPath`,
  `UnknownEvent`, `ExchangeError`; `validate` raises a `WireError` naming the field path.
- Field types: decimal strings become floats through `WireFloat`, which also takes JSON numbers
  and reads the empty string Binance sends for "no value" as 0.0; times and ids go through
  `WireInt` (an int or a numeric string: `updateTime: "0"`, `E: "1736996475556"`, wire.md §6.6,
  §6.15); `WireBool` takes `"true"`/`"false"` too. Figures are bounded (`WIRE_MAX`) and prices
  checked for plausibility (`PRICE_MIN`..`PRICE_MAX`), so a damaged frame cannot turn the
  engine's sums into inf or NaN.
- `WireModel`: frozen, unknown fields ignored (wire.md §6.12, schema drift).
- Row bases, for fields the products really share: `PositionRow` (every position row of every
  product), `AccountPositionRow` (`positions[]` of `/fapi/v2/account` and `/dapi/v1/account`),
  `PositionRiskRow` (every `positionRisk` row, PM's too), `FuturesPositionRiskRow` (the
  `/fapi` and `/dapi` ones), `MarginTypeRiskRow` (those that still carry leverage and margin
  type), `BracketTier` (a leverage-bracket tier) and `EventMsg` (every stream event).
- Models USDⓈ-M and COIN-M share (wire.md §4): `BinancePositionSideDual`, `BinanceFuturesAsset`,
  `BinancePremiumIndex`.
"""

from __future__ import annotations

import math
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError


class WireError(ValueError):
    """A Binance payload that cannot be decoded: bad JSON, wrong type, missing field."""


class UnknownPath(WireError):
    """A REST path this module has no schema for."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no schema for REST path {path!r} (see recording.md for the known paths)")
        self.path = path


class UnknownEvent(WireError):
    """A user-stream event whose `e` this module has no schema for."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown user-stream event {name!r}")
        self.name = name


class ExchangeError(WireError):
    """A REST body that is a Binance error (`{"code": -2015, "msg": "..."}`) instead of data."""

    def __init__(self, path: str, code: int, msg: str) -> None:
        super().__init__(f"{path}: Binance error {code}: {msg}")
        self.path, self.code, self.msg = path, code, msg


# ---------------------------------------------------------------------------------- field types
#: No Binance amount, balance or quantity comes near this; the bound keeps every sum and product
#: the engine forms finite (1e20 × a price of at most 1e12 is far below the float range).
WIRE_MAX = 1e20
#: Prices and rates outside this range are not prices of anything Binance lists (the smallest
#: quoted assets trade near 1e-8, the largest contracts near 1e6): a frame carrying one is
#: damaged, and a denormal or a 1e308 "price" would turn the figures into 0/0 or inf − inf.
PRICE_MIN, PRICE_MAX = 1e-12, 1e12


def plausible_price(value: float) -> bool:
    """Whether `value` can be a price or conversion rate (positive, in [PRICE_MIN, PRICE_MAX])."""
    return PRICE_MIN <= value <= PRICE_MAX


def checked_price(value: float, what: str) -> float:
    """`value` if it is a plausible price, else `WireError` naming `what`."""
    if not plausible_price(value):
        raise WireError(f"{what}: {value!r} is not a plausible price")
    return value


def _to_float(value: object) -> float:
    """A decimal string or JSON number as a finite float; Binance's empty string reads 0.0."""
    if isinstance(value, str):
        if value == "":
            return 0.0
        result = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError as exc:
            raise ValueError("number too large for a float") from exc
    else:
        raise ValueError(f"expected a decimal string or a number, got {type(value).__name__}")
    if not math.isfinite(result):
        raise ValueError(f"expected a finite number, got {value!r}")
    if abs(result) > WIRE_MAX:
        raise ValueError(f"{value!r} is beyond any plausible Binance figure (|x| > {WIRE_MAX:g})")
    return result


def _to_int(value: object) -> int:
    """An int, or a string of digits (Binance sends `E` and `updateTime` both ways)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if not value.isascii():
            raise ValueError(f"expected ASCII digits, got {value!r}")
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer or a numeric string, got {value!r}")


def _to_bool(value: object) -> bool:
    """A JSON boolean, or the strings "true"/"false" (`isAutoAddMargin`)."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f'expected a boolean or "true"/"false", got {value!r}')


WireFloat = Annotated[float, BeforeValidator(_to_float)]
WireInt = Annotated[int, BeforeValidator(_to_int)]
WireBool = Annotated[bool, BeforeValidator(_to_bool)]


class WireModel(BaseModel):
    """Base of every schema: frozen, unknown fields ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------------------------- row bases
class PositionRow(WireModel):
    """What every position row of every product carries: symbol, side, amount, update time."""

    symbol: str
    positionSide: str = "BOTH"
    positionAmt: WireFloat
    updateTime: WireInt = 0


class AccountPositionRow(PositionRow):
    """Fields common to `positions[]` of `/fapi/v2/account` and `/dapi/v1/account`."""

    entryPrice: WireFloat = 0.0
    unrealizedProfit: WireFloat = 0.0
    maintMargin: WireFloat = 0.0
    initialMargin: WireFloat = 0.0
    leverage: WireFloat = 0.0
    isolated: WireBool = False


class PositionRiskRow(PositionRow):
    """Fields common to every `positionRisk` row (`/fapi`, `/dapi`, `/papi`)."""

    entryPrice: WireFloat
    markPrice: WireFloat = 0.0
    unRealizedProfit: WireFloat = 0.0
    liquidationPrice: WireFloat = 0.0


class FuturesPositionRiskRow(PositionRiskRow):
    """Fields common to the `/fapi` and `/dapi` positionRisk rows (PM's have none of them)."""

    breakEvenPrice: WireFloat = 0.0
    isolatedMargin: WireFloat = 0.0
    #: Absent from older rows (the 2020-21 docs example): derive it with
    #: `snapshot.isolated_wallet` (isolatedMargin − unRealizedProfit), never read it as 0.
    isolatedWallet: WireFloat | None = None


class MarginTypeRiskRow(FuturesPositionRiskRow):
    """The positionRisk rows that still carry leverage and margin type (/fapi/v2, /dapi/v1)."""

    leverage: WireFloat = 0.0
    marginType: str = "cross"
    isAutoAddMargin: WireBool = False


class BracketTier(WireModel):
    """Fields common to a tier of a USDⓈ-M or COIN-M leverage bracket."""

    bracket: WireInt
    initialLeverage: WireFloat = 0.0
    maintMarginRatio: WireFloat
    cum: WireFloat


class EventMsg(WireModel):
    """Fields common to every stream event: its event time `E` (ms); each kind adds its `e`."""

    E: WireInt


# --------------------------------------------------------------- shared by USDⓈ-M and COIN-M
class BinancePositionSideDual(WireModel):
    """`GET /fapi/v1/positionSide/dual` and `/dapi/v1/positionSide/dual` (hedge mode on/off)."""

    dualSidePosition: WireBool


class BinanceFuturesAsset(WireModel):
    """One `assets[]` entry of `/fapi/v2|v3/account` and `/dapi/v1/account`."""

    asset: str
    walletBalance: WireFloat = 0.0
    unrealizedProfit: WireFloat = 0.0
    marginBalance: WireFloat = 0.0
    maintMargin: WireFloat = 0.0
    initialMargin: WireFloat = 0.0
    crossWalletBalance: WireFloat
    crossUnPnl: WireFloat = 0.0
    availableBalance: WireFloat = 0.0
    maxWithdrawAmount: WireFloat = 0.0
    marginAvailable: WireBool | None = None
    updateTime: WireInt = 0


class BinancePremiumIndex(WireModel):
    """`GET /fapi/v1/premiumIndex` and `/dapi/v1/premiumIndex`, one symbol (mark and index)."""

    symbol: str
    pair: str | None = None
    markPrice: WireFloat
    indexPrice: WireFloat = 0.0
    estimatedSettlePrice: WireFloat = 0.0
    lastFundingRate: WireFloat = 0.0
    interestRate: WireFloat = 0.0
    nextFundingTime: WireInt = 0
    time: WireInt = 0


# ---------------------------------------------------------------------------------- validation
M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError, limit: int = 3) -> str:
    """Pydantic's errors as `field.path[0].name: message; ...` (the first `limit` of them)."""
    parts = []
    for err in exc.errors()[:limit]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        parts.append(f"{where.lstrip('.') or '<root>'}: {err['msg']}")
    extra = exc.error_count() - limit
    if extra > 0:
        parts.append(f"and {extra} more")
    return "; ".join(parts)


def validate(model: type[M], data: object, where: str) -> M:
    """`model.model_validate(data)`, raising `WireError` naming `where` and the field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WireError(f"{where}: {describe(exc)}") from exc
