"""Live control messages on market websockets (wire.md §1.1): SUBSCRIBE, UNSUBSCRIBE,
LIST_SUBSCRIPTIONS, SET_PROPERTY / GET_PROPERTY `combined`.

Requests look like `{"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1}` and
are answered `{"result": null, "id": 1}` (LIST: the names as subscribed). Bad requests get the
Binance error shape `{"code": 2, "msg": "Invalid request: ...", "id": ...}` (`code` 3 for text
that is not JSON, 0/1 for property errors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from monitor.sim.wspaths import looks_like_key

MAX_STREAMS = 1024
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


@dataclass(slots=True)
class Subscriptions:
    """The streams of one market connection (normalized name → name as subscribed)."""

    streams: dict[str, str]
    combined: bool


def _error(code: int, msg: str, request_id: Any = None, has_id: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "msg": msg}
    if has_id:
        out["id"] = request_id
    return out


def valid_stream(name: Any) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and len(name) <= 200
        and not any(ch.isspace() or ch == "/" for ch in name)
        and not looks_like_key(name)
    )


def handle_request(text: str, subs: Subscriptions) -> dict[str, Any]:
    """Apply one control message to `subs`; returns the reply to send."""
    try:
        request = json.loads(text)
    except json.JSONDecodeError as exc:
        return _error(3, f"Invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if not isinstance(request, dict):
        return _error(2, "Invalid request: expected a JSON object")
    has_id = "id" in request
    request_id = request.get("id")
    if has_id and not (
        request_id is None
        or isinstance(request_id, str)
        or (isinstance(request_id, int) and not isinstance(request_id, bool) and request_id >= 0)
    ):
        return _error(2, "Invalid request: request ID must be an unsigned integer")
    method = request.get("method")
    if method is None:
        return _error(2, "Invalid request: missing field `method`", request_id, has_id)
    if method not in METHODS:
        expected = ", ".join(f"`{name}`" for name in METHODS)
        return _error(
            2,
            f"Invalid request: unknown variant `{method}`, expected one of {expected}",
            request_id,
            has_id,
        )
    params = request.get("params", [])
    if not isinstance(params, list):
        return _error(2, "Invalid request: params must be a list", request_id, has_id)
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": list(subs.streams.values()), "id": request_id}
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        return _property(method, params, subs, request_id, has_id)
    if not params or not all(valid_stream(name) for name in params):
        return _error(2, "Invalid request: invalid stream name in params", request_id, has_id)
    if method == "SUBSCRIBE":
        new = {name.lower(): name for name in params if name.lower() not in subs.streams}
        if len(subs.streams) + len(new) > MAX_STREAMS:
            return _error(
                2, f"Invalid request: too many streams (max {MAX_STREAMS})", request_id, has_id
            )
        subs.streams.update(new)
    else:
        for name in params:
            subs.streams.pop(name.lower(), None)
    return {"result": None, "id": request_id}


def _property(
    method: str, params: list[Any], subs: Subscriptions, request_id: Any, has_id: bool
) -> dict[str, Any]:
    if not params or not isinstance(params[0], str):
        return _error(2, "Invalid request: property name must be a string", request_id, has_id)
    if params[0] != "combined":
        return _error(0, "Unknown property", request_id, has_id)
    if method == "GET_PROPERTY":
        return {"result": subs.combined, "id": request_id}
    if len(params) != 2 or not isinstance(params[1], bool):
        return _error(1, "Invalid value type: expected Boolean", request_id, has_id)
    subs.combined = params[1]
    return {"result": None, "id": request_id}
