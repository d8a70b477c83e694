"""Where an account's REST and websocket traffic goes, per environment (wire.md §1.4, §3.2).

Every URL is configuration, not a constant buried in a client: `endpoints_for` builds the
catalogue of an account from its `environment` (`mainnet`, `testnet`, `demo`) or from explicit
`rest` and `ws` base URLs (`custom`, e.g. the local simulator, which serves every product on one
host). USDⓈ-M market data uses the routed `/market` base and user data `/private` (the unrouted
URLs were retired on 2026-04-23 and deliver no mark prices); COIN-M uses `dstream`; Portfolio
Margin user data `/pm/ws/<listenKey>`. Testnet and demo hosts may still speak the legacy
unrouted paths, so their USDⓈ-M market base has a fallback the feed moves to when the routed one
stays silent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal
from urllib.parse import quote

from monitor.engine.model import Mode

Environment = Literal["mainnet", "testnet", "demo", "custom"]

#: User events asked for explicitly on the USDⓈ-M `/private` base (wire.md §3.2).
UM_USER_EVENTS = (
    "ACCOUNT_UPDATE",
    "ORDER_TRADE_UPDATE",
    "MARGIN_CALL",
    "ACCOUNT_CONFIG_UPDATE",
    "TRADE_LITE",
    "listenKeyExpired",
)


class Product(StrEnum):
    """A Binance derivatives product: where its REST paths and streams live."""

    UM = "um"  # USDⓈ-M: /fapi, fstream
    CM = "cm"  # COIN-M: /dapi, dstream
    PM = "pm"  # Portfolio Margin: /papi (+ /sapi), user data on fstream /pm


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs of one account's environment (no trailing slash)."""

    environment: Environment
    rest_um: str
    rest_cm: str
    rest_pm: str
    rest_sapi: str
    #: USDⓈ-M market-data bases, preferred first (routed `/market`, then any legacy fallback).
    ws_um_market: tuple[str, ...]
    ws_um_private: str
    ws_cm: str
    ws_pm: str

    def rest_base(self, path: str) -> str:
        """The REST host serving `path` (`/fapi/...` → USDⓈ-M host, `/sapi/...` → spot host)."""
        if path.startswith("/fapi/"):
            return self.rest_um
        if path.startswith("/dapi/"):
            return self.rest_cm
        if path.startswith("/papi/"):
            return self.rest_pm
        if path.startswith(("/sapi/", "/api/")):
            return self.rest_sapi
        raise ValueError(f"no REST host for {path!r}")

    def rest_url(self, path: str) -> str:
        return self.rest_base(path) + path

    def market_url(self, product: Product, streams: Iterable[str], attempt: int = 0) -> str:
        """Combined-stream URL for `streams` (lowercase names) on `product`'s market host.

        `attempt` picks among the USDⓈ-M fallbacks (round robin); COIN-M has one host.
        """
        names = "/".join(sorted(streams))
        if product is Product.CM:
            base = self.ws_cm
        else:
            base = self.ws_um_market[attempt % len(self.ws_um_market)]
        return f"{base}/stream?streams={names}"

    def user_url(self, product: Product, listen_key: str) -> str:
        """The user-data stream URL of `listen_key` on `product`."""
        key = quote(listen_key, safe="")
        if product is Product.UM:
            events = "/".join(UM_USER_EVENTS)
            return f"{self.ws_um_private}/ws?listenKey={key}&events={events}"
        if product is Product.CM:
            return f"{self.ws_cm}/ws/{key}"
        return f"{self.ws_pm}/ws/{key}"


def user_product(mode: Mode) -> Product:
    """Which product's listenKey and user stream carry the account's events."""
    if mode is Mode.PORTFOLIO_MARGIN:
        return Product.PM
    if mode is Mode.COINM:
        return Product.CM
    return Product.UM


def listen_key_path(product: Product) -> str:
    """REST path that creates, keeps alive and closes a listenKey of `product`."""
    return {
        Product.UM: "/fapi/v1/listenKey",
        Product.CM: "/dapi/v1/listenKey",
        Product.PM: "/papi/v1/listenKey",
    }[product]


def time_path(product: Product) -> str:
    """REST path of the server time used for the timestamp offset (PM signs against fapi time)."""
    return "/dapi/v1/time" if product is Product.CM else "/fapi/v1/time"


_MAINNET = Endpoints(
    environment="mainnet",
    rest_um="https://fapi.binance.com",
    rest_cm="https://dapi.binance.com",
    rest_pm="https://papi.binance.com",
    rest_sapi="https://api.binance.com",
    ws_um_market=("wss://fstream.binance.com/market",),
    ws_um_private="wss://fstream.binance.com/private",
    ws_cm="wss://dstream.binance.com",
    ws_pm="wss://fstream.binance.com/pm",
)

# Binance is replacing the futures testnet with Demo Trading and sources disagree on the hosts
# (wire.md §1.4): both keep the binancefuture websocket hosts; routed paths first, legacy after.
_FUTURE_WS = "wss://fstream.binancefuture.com"


def _sandbox(environment: Environment, rest_um: str, rest_cm: str, rest_spot: str) -> Endpoints:
    return Endpoints(
        environment=environment,
        rest_um=rest_um,
        rest_cm=rest_cm,
        rest_pm=rest_um.replace("fapi", "papi"),
        rest_sapi=rest_spot,
        ws_um_market=(f"{_FUTURE_WS}/market", _FUTURE_WS),
        ws_um_private=f"{_FUTURE_WS}/private",
        ws_cm="wss://dstream.binancefuture.com",
        ws_pm=f"{_FUTURE_WS}/pm",
    )


_TESTNET = _sandbox(
    "testnet",
    "https://testnet.binancefuture.com",
    "https://testnet.binancefuture.com",
    "https://testnet.binance.vision",
)
_DEMO = _sandbox(
    "demo",
    "https://demo-fapi.binance.com",
    "https://demo-dapi.binance.com",
    "https://demo-api.binance.com",
)

_BUILT_IN = {"mainnet": _MAINNET, "testnet": _TESTNET, "demo": _DEMO}


def endpoints_for(
    environment: Environment, rest: str | None = None, ws: str | None = None
) -> Endpoints:
    """The catalogue of `environment`; `custom` serves every product from `rest` and `ws`."""
    if environment != "custom":
        if rest is not None or ws is not None:
            raise ValueError(f"rest/ws URLs are only for environment 'custom', not {environment}")
        return _BUILT_IN[environment]
    if not rest or not ws:
        raise ValueError("environment 'custom' needs both a rest and a ws base URL")
    rest, ws = rest.rstrip("/"), ws.rstrip("/")
    return Endpoints(
        environment="custom",
        rest_um=rest,
        rest_cm=rest,
        rest_pm=rest,
        rest_sapi=rest,
        ws_um_market=(f"{ws}/market",),
        ws_um_private=f"{ws}/private",
        ws_cm=ws,
        ws_pm=f"{ws}/pm",
    )
