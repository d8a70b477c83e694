"""Request weights and the used-weight counters of the fake exchange (wire.md §4).

Weights come from the endpoint table of wire.md §4 (default 1). Each counter sums the weights of
the requests of one pool in the current wall-clock minute, as Binance counts an IP's weight: one
pool for USDⓈ-M and COIN-M together (`/fapi`, `/dapi`: shared since 2026-06), one for Portfolio
Margin (`/papi`), one for spot and wallet (`/api`, `/sapi`). Each reply carries its own pool's
count: `X-SAPI-USED-IP-WEIGHT-1M` for `/sapi`, `X-MBX-USED-WEIGHT-1M` otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

#: Weight of each path (without parameters that change it; see `request_weight`).
WEIGHTS: dict[str, int] = {
    "/fapi/v2/account": 5,
    "/fapi/v3/account": 5,
    "/fapi/v2/balance": 5,
    "/fapi/v3/balance": 5,
    "/fapi/v2/positionRisk": 5,
    "/fapi/v3/positionRisk": 5,
    "/fapi/v1/leverageBracket": 1,
    "/fapi/v1/exchangeInfo": 1,
    "/fapi/v1/premiumIndex": 1,
    "/fapi/v1/multiAssetsMargin": 30,
    "/fapi/v1/positionSide/dual": 30,
    "/dapi/v1/positionSide/dual": 30,
    "/fapi/v1/assetIndex": 10,
    "/dapi/v1/account": 5,
    "/dapi/v1/balance": 1,
    "/dapi/v1/positionRisk": 1,
    "/dapi/v2/leverageBracket": 2,
    "/dapi/v1/leverageBracket": 1,
    "/dapi/v1/exchangeInfo": 1,
    "/dapi/v1/premiumIndex": 10,
    "/papi/v1/account": 20,
    "/papi/v1/balance": 20,
    "/papi/v1/um/positionRisk": 5,
    "/papi/v1/cm/positionRisk": 1,
    "/papi/v1/um/leverageBracket": 1,
    "/papi/v1/cm/leverageBracket": 1,
    "/papi/v1/um/account": 5,
    "/papi/v2/um/account": 5,
    "/papi/v1/cm/account": 5,
    "/sapi/v1/portfolio/collateralRate": 50,
    "/sapi/v2/portfolio/collateralRate": 50,
    "/sapi/v1/portfolio/asset-index-price": 50,
}

#: (path, parameter) whose presence lowers the weight to the given value.
_WITH_PARAM: dict[tuple[str, str], int] = {
    ("/fapi/v1/assetIndex", "symbol"): 1,
    ("/dapi/v2/leverageBracket", "symbol"): 1,
    ("/sapi/v1/portfolio/asset-index-price", "asset"): 1,
}


def request_weight(path: str, params: Mapping[str, str]) -> int:
    """The IP weight of one request to `path` with `params` (1 when the table has no entry)."""
    for (where, name), weight in _WITH_PARAM.items():
        if where == path and params.get(name):
            return weight
    return WEIGHTS.get(path, 1)


#: The pools and Binance's limit of each per minute (futures: the one tests usually lower); the
#: client's own copy (`monitor.binance.budget.DEFAULT_LIMITS`) is checked against it.
POOL_LIMITS: dict[str, int] = {"futures": 2400, "papi": 6000, "spot": 6000}


def pool_of(path: str) -> str:
    """The weight pool `path` counts against. The fake models Binance apart from the client
    (`monitor.binance.rest.weight_pool` is the client's side); tests/binance/test_rest_client.py
    checks that the two agree, path by path."""
    if path.startswith(("/fapi/", "/dapi/")):
        return "futures"
    if path.startswith("/papi/"):
        return "papi"
    return "spot"


def weight_header(path: str) -> str:
    """The reply header that carries the used weight of `path`'s pool."""
    return "X-SAPI-USED-IP-WEIGHT-1M" if path.startswith("/sapi/") else "X-MBX-USED-WEIGHT-1M"


class WeightMeter:
    """Sum of request weights in the current wall-clock minute (or `window_s`)."""

    def __init__(self, clock: Callable[[], float] = time.time, window_s: float = 60.0) -> None:
        self._clock = clock
        self.window_s = window_s
        self._minute = -1
        self._used = 0

    def _roll(self) -> None:
        minute = int(self._clock() // self.window_s)
        if minute != self._minute:
            self._minute = minute
            self._used = 0

    def add(self, weight: int) -> int:
        """Count a request of `weight`; returns the minute's total including it."""
        self._roll()
        self._used += max(0, weight)
        return self._used

    @property
    def used(self) -> int:
        self._roll()
        return self._used
