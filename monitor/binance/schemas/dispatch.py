"""Decoding by address: a REST body by its path, a user-stream event by its `e`.

`REST_SCHEMAS` maps every REST path the monitor reads (wire.md §4; the paths of a recording,
recording.md §2.2) to its model and body shape; `parse_rest` decodes a body with it (a Binance
error body becomes `ExchangeError`, an unknown path `UnknownPath`), `parse_rest_items` as a list
of one model. `parse_user_event` decodes a user-stream event, bare or in its combined-stream
wrapper, by `user_stream.USER_EVENTS` (wire.md §3.3-§3.5).
"""

from __future__ import annotations

from pydantic import BaseModel

from monitor.binance.schemas.coinm import (
    BinanceCoinmAccount,
    BinanceCoinmExchangeInfo,
    BinanceCoinmLeverageBracket,
    BinanceCoinmPairLeverageBracket,
    BinanceCoinmPositionRisk,
)
from monitor.binance.schemas.common import (
    BinancePositionSideDual,
    BinancePremiumIndex,
    ExchangeError,
    M,
    UnknownEvent,
    UnknownPath,
    WireError,
    WireModel,
    validate,
)
from monitor.binance.schemas.portfolio import (
    BinanceAssetIndexPrice,
    BinanceCollateralRate,
    BinancePmAccount,
    BinancePmBalance,
    BinancePmCmPositionRisk,
    BinancePmUmPositionRisk,
    BinanceTieredCollateralRate,
)
from monitor.binance.schemas.usdm import (
    BinanceAssetIndex,
    BinanceMultiAssetsMargin,
    BinanceUsdmAccountV2,
    BinanceUsdmAccountV3,
    BinanceUsdmExchangeInfo,
    BinanceUsdmLeverageBracket,
    BinanceUsdmPositionRiskV2,
    BinanceUsdmPositionRiskV3,
)
from monitor.binance.schemas.user_stream import USER_EVENTS, UserEvent

#: REST body shapes: a JSON object, a JSON array of objects, or either (endpoints that return an
#: object when called with `symbol=` / `asset=` and an array without it).
OBJECT, ARRAY, EITHER = "object", "array", "either"

REST_SCHEMAS: dict[str, tuple[type[WireModel], str]] = {
    "/fapi/v1/multiAssetsMargin": (BinanceMultiAssetsMargin, OBJECT),
    "/fapi/v1/positionSide/dual": (BinancePositionSideDual, OBJECT),
    "/dapi/v1/positionSide/dual": (BinancePositionSideDual, OBJECT),
    "/fapi/v2/account": (BinanceUsdmAccountV2, OBJECT),
    "/fapi/v3/account": (BinanceUsdmAccountV3, OBJECT),
    "/fapi/v2/positionRisk": (BinanceUsdmPositionRiskV2, ARRAY),
    "/fapi/v3/positionRisk": (BinanceUsdmPositionRiskV3, ARRAY),
    "/fapi/v1/leverageBracket": (BinanceUsdmLeverageBracket, EITHER),
    "/fapi/v1/assetIndex": (BinanceAssetIndex, EITHER),
    "/fapi/v1/premiumIndex": (BinancePremiumIndex, EITHER),
    "/fapi/v1/exchangeInfo": (BinanceUsdmExchangeInfo, OBJECT),
    "/dapi/v1/account": (BinanceCoinmAccount, OBJECT),
    "/dapi/v1/positionRisk": (BinanceCoinmPositionRisk, ARRAY),
    "/dapi/v2/leverageBracket": (BinanceCoinmLeverageBracket, EITHER),
    "/dapi/v1/leverageBracket": (BinanceCoinmPairLeverageBracket, EITHER),
    "/dapi/v1/exchangeInfo": (BinanceCoinmExchangeInfo, OBJECT),
    "/dapi/v1/premiumIndex": (BinancePremiumIndex, EITHER),
    "/papi/v1/account": (BinancePmAccount, OBJECT),
    "/papi/v1/balance": (BinancePmBalance, EITHER),
    "/papi/v1/um/positionRisk": (BinancePmUmPositionRisk, ARRAY),
    "/papi/v1/cm/positionRisk": (BinancePmCmPositionRisk, ARRAY),
    "/papi/v1/um/leverageBracket": (BinanceUsdmLeverageBracket, EITHER),
    "/papi/v1/cm/leverageBracket": (BinanceCoinmLeverageBracket, EITHER),
    "/sapi/v1/portfolio/collateralRate": (BinanceCollateralRate, ARRAY),
    "/sapi/v2/portfolio/collateralRate": (BinanceTieredCollateralRate, ARRAY),
    "/sapi/v1/portfolio/asset-index-price": (BinanceAssetIndexPrice, EITHER),
}


def _check_error_body(path: str, data: object) -> None:
    if isinstance(data, dict) and "code" in data and "msg" in data and len(data) == 2:
        code, msg = data["code"], data["msg"]
        raise ExchangeError(path, code if isinstance(code, int) else -1, str(msg))


def parse_rest(path: str, data: object) -> BaseModel | list[BaseModel]:
    """Decode the JSON body of the REST response for `path` (a query string is ignored).

    Returns one model for object bodies and a list for array bodies. Raises `UnknownPath` for a
    path without a schema, `ExchangeError` for a Binance error body and `WireError` otherwise.
    """
    bare = path.split("?", 1)[0]
    spec = REST_SCHEMAS.get(bare)
    if spec is None:
        raise UnknownPath(bare)
    model, shape = spec
    _check_error_body(bare, data)
    if isinstance(data, list):
        if shape == OBJECT:
            raise WireError(f"{bare}: expected a JSON object, got an array")
        return [validate(model, item, f"{bare}[{n}]") for n, item in enumerate(data)]
    if shape == ARRAY:
        raise WireError(f"{bare}: expected a JSON array, got {type(data).__name__}")
    return validate(model, data, bare)


def parse_rest_items(path: str, data: object, model: type[M]) -> list[M]:
    """`parse_rest` as a list of `model` (an object body becomes a one-item list)."""
    expected = REST_SCHEMAS.get(path.split("?", 1)[0], (None, ""))[0]
    if expected is not model:
        raise TypeError(f"{path} decodes to {expected}, not {model.__name__}")
    parsed = parse_rest(path, data)
    items = parsed if isinstance(parsed, list) else [parsed]
    return [item for item in items if isinstance(item, model)]


def parse_user_event(obj: object) -> UserEvent:
    """Decode one user-stream event (bare, or in the `{"stream", "data"}` wrapper) by its `e`."""
    if isinstance(obj, dict) and "data" in obj and "stream" in obj:
        obj = obj["data"]
    if not isinstance(obj, dict):
        raise WireError(f"user event: expected a JSON object, got {type(obj).__name__}")
    name = obj.get("e")
    if not isinstance(name, str):
        raise WireError(f"user event: missing or non-string event type 'e' ({name!r})")
    model = USER_EVENTS.get(name)
    if model is None:
        raise UnknownEvent(name)
    return validate(model, obj, name)
