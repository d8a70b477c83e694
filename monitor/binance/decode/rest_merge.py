"""Merge a single-row REST answer into the last full table of its path (issue 13 item 5).

Several endpoints answer a filtered request (`symbol=`, `pair=`, `asset=`) with one row — often a
bare JSON object instead of a list: `/fapi/v1/assetIndex?symbol=`, `/fapi/v1/premiumIndex?symbol=`,
`/dapi/v1/premiumIndex?symbol=`, `/fapi/v1/leverageBracket?symbol=`, `/papi/v1/balance?asset=`, ...
Such an answer updates its rows of the table; it must not replace the whole table, or every
other symbol's mark, rate or bracket would vanish. `merge_rest_body` is pure: the caller keeps
the bodies (replay, live feed) and decides what a merged body means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from monitor.binance.schemas.common import WireError

#: Paths whose body is a table of rows, and the field that names a row.
ROW_KEYS: dict[str, str] = {
    "/fapi/v1/assetIndex": "symbol",
    "/fapi/v1/premiumIndex": "symbol",
    "/dapi/v1/premiumIndex": "symbol",
    "/fapi/v1/leverageBracket": "symbol",
    "/dapi/v2/leverageBracket": "symbol",
    "/dapi/v1/leverageBracket": "pair",
    "/papi/v1/um/leverageBracket": "symbol",
    "/papi/v1/cm/leverageBracket": "symbol",
    "/papi/v1/balance": "asset",
    "/sapi/v1/portfolio/asset-index-price": "asset",
}
#: Request parameters that narrow an answer to some rows.
FILTER_PARAMS = ("symbol", "pair", "asset")


def _filter(path: str, params: Mapping[str, Any]) -> str | None:
    """`name=value` of the filter the request carried (in `params` or the path's query)."""
    found = {k: v for k, v in params.items() if k in FILTER_PARAMS and v}
    if "?" in path:
        found.update((k, v) for k, v in parse_qsl(path.split("?", 1)[1]) if k in FILTER_PARAMS)
    return ", ".join(f"{k}={v}" for k, v in sorted(found.items())) or None


def _is_error_body(data: object) -> bool:
    return isinstance(data, dict) and "code" in data and "msg" in data and len(data) == 2


def merge_rest_body(
    path: str, previous: Any, data: Any, params: Mapping[str, Any] | None = None
) -> Any:
    """The body to keep for `path` after an answer `data` to a request with `params`.

    A full table (a list answered without a filter) or any body of a path without rows replaces
    `previous`. A single-row answer — a JSON object, or any answer to a filtered request —
    replaces the rows of `previous` with the same key (in place) and adds new ones at the end;
    with no earlier table it is kept as it came. Error bodies pass through unchanged (the
    decoder reports them). `WireError` when a single-row answer has rows without the key.
    """
    bare = path.split("?", 1)[0]
    key = ROW_KEYS.get(bare)
    narrowed = _filter(path, params or {})
    if key is None or _is_error_body(data):
        return data
    if narrowed is None and not isinstance(data, dict):
        return data  # the whole table
    rows = data if isinstance(data, list) else [data]
    if not rows or not all(isinstance(r, dict) and isinstance(r.get(key), str) for r in rows):
        where = f"{bare} ({narrowed})" if narrowed else bare
        raise WireError(f"{where}: expected rows naming a {key}")
    if isinstance(previous, dict) and not _is_error_body(previous):
        previous = [previous]
    if not isinstance(previous, list):
        return data
    fresh = {row[key]: row for row in rows}
    merged = []
    for row in previous:
        name = row.get(key) if isinstance(row, dict) else None
        merged.append(fresh.pop(name) if isinstance(name, str) and name in fresh else row)
    return [*merged, *fresh.values()]
