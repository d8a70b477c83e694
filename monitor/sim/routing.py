"""Market-frame routing: which subscribed stream gets which payload, and in what wrapper.

A recorded market frame (possibly the combined wrapper `{"stream": ..., "data": ...}`, possibly
an array) is turned into `{normalized stream name: payload}` (`route_market`):

- `markPriceUpdate` with symbol S → `s@markprice` and `s@markprice@1s` (the object);
  `!markprice@arr[@1s]` → the array (a recorded array as-is, a single object as a one-element
  array); COIN-M elements (`st` 2, or a `BASEUSD_...` symbol) also feed the pair stream
  `<pair>@markprice[@1s]` (an array of that pair's elements, as Binance sends it).
- `assetIndexUpdate` → `!assetindex@arr` (the array) and `<s>@assetindex` (the element).
- `indexPriceUpdate` (COIN-M; `i` is the pair) → `<pair>@indexprice[@1s]`.
- whatever stream name the recording's wrapper carried → its payload as recorded.

Stream names are matched case-insensitively (Binance writes `btcusdt@markPrice@1s`); a
combined-stream connection gets `{"stream": <name as subscribed>, "data": payload}`, a raw one
the bare payload. Control replies recorded on the market socket (`{"result":null,"id":2}`) route
nowhere.
"""

from __future__ import annotations

import copy
from typing import Any

from monitor.sim.errors import dumps

_SPEEDS = ("", "@1s")
#: Quote endings of USDⓈ-M pairs that end in "USD" but are not COIN-M pairs.
_UM_USD_QUOTES = ("BUSD", "TUSD", "FDUSD", "USDUSD")
#: Unknown keys added by the `extra_fields` fault (schema drift, wire.md §6.12).
EXTRA_KEYS: dict[str, Any] = {"xSim": "unknown-field", "xSimObj": {"n": 1, "l": [1, "a", None]}}


def normalize(name: str) -> str:
    """The comparison form of a stream name (Binance stream names are case-insensitive)."""
    return name.strip().lower()


def unwrap(frame: Any) -> tuple[str | None, Any]:
    """(`stream` of a combined-stream wrapper or None, the payload)."""
    if isinstance(frame, dict) and isinstance(frame.get("stream"), str) and "data" in frame:
        return frame["stream"], frame["data"]
    return None, frame


def _cm_pair(element: dict[str, Any]) -> str | None:
    """The COIN-M pair of a mark-price element (`BTCUSD_PERP` → `BTCUSD`), else None."""
    symbol = element.get("s")
    if not isinstance(symbol, str) or "_" not in symbol:
        return None
    pair = symbol.split("_", 1)[0]
    st = element.get("st")
    if st == 2:
        return pair
    if st is None and pair.endswith("USD") and not pair.endswith(_UM_USD_QUOTES):
        return pair
    return None


def is_cm(element: dict[str, Any]) -> bool:
    """A COIN-M market element (`st` 2, or a `BASEUSD_...` symbol)."""
    return element.get("st") == 2 or _cm_pair(element) is not None


def route_market(frame: Any) -> dict[str, Any]:
    """{normalized stream name: payload} for one market frame (empty if it routes nowhere)."""
    stream, payload = unwrap(frame)
    elements = payload if isinstance(payload, list) else [payload]
    routes: dict[str, Any] = {}
    marks: list[dict[str, Any]] = []
    assets: list[dict[str, Any]] = []
    pairs: dict[str, list[dict[str, Any]]] = {}
    for element in elements:
        if not isinstance(element, dict):
            continue
        event = element.get("e")
        if event == "markPriceUpdate" and isinstance(element.get("s"), str):
            marks.append(element)
            symbol = element["s"].lower()
            for speed in _SPEEDS:
                routes[f"{symbol}@markprice{speed}"] = element
            pair = _cm_pair(element)
            if pair is not None:
                pairs.setdefault(pair.lower(), []).append(element)
        elif event == "assetIndexUpdate" and isinstance(element.get("s"), str):
            assets.append(element)
            routes[f"{element['s'].lower()}@assetindex"] = element
        elif event == "indexPriceUpdate" and isinstance(element.get("i"), str):
            for speed in _SPEEDS:
                routes[f"{element['i'].lower()}@indexprice{speed}"] = element
    for pair, items in pairs.items():
        for speed in _SPEEDS:
            routes[f"{pair}@markprice{speed}"] = items
    if marks:
        array = payload if isinstance(payload, list) and len(marks) == len(payload) else marks
        for speed in _SPEEDS:
            routes[f"!markprice@arr{speed}"] = array
    if assets:
        routes["!assetindex@arr"] = (
            payload if isinstance(payload, list) and len(assets) == len(payload) else assets
        )
    if stream is not None:
        routes[normalize(stream)] = payload
    return routes


def with_extra_fields(payload: Any, *, market: bool) -> Any:
    """A copy of `payload` with unknown keys added (and `st` on market events lacking it)."""
    if isinstance(payload, list):
        return [with_extra_fields(item, market=market) for item in payload]
    if not isinstance(payload, dict):
        return payload
    out = copy.deepcopy(payload)
    out.update(copy.deepcopy(EXTRA_KEYS))
    if market and "e" in out and "st" not in out:
        out["st"] = 2 if is_cm(payload) else 1
    if not market:
        for value in out.values():
            if isinstance(value, dict):
                value["xSim"] = EXTRA_KEYS["xSim"]
    return out


def combined_text(stream: str, payload_text: str) -> str:
    """The combined-stream wrapper around an already-serialized payload."""
    return '{"stream":' + dumps(stream) + ',"data":' + payload_text + "}"
