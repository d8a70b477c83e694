"""Shared helpers for the fake-exchange tests: synthetic recordings, signing, websocket reads."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect

from monitor.feed.recording import Line, Meta, RestLine, WsLine
from monitor.sim.auth import hmac_signature

KEY = "sim-api-key"
SECRET = "sim-api-secret"
META = Meta(account="t", mode="usdm")
T0 = 1_700_000_000_000


def mark(symbol: str, t: int = T0, price: str = "100.0", **extra: Any) -> dict[str, Any]:
    return {
        "e": "markPriceUpdate",
        "E": t,
        "s": symbol,
        "p": price,
        "i": price,
        "P": price,
        "r": "0.0001",
        "T": t + 3_600_000,
        **extra,
    }


def recording(*lines: Line) -> tuple[Meta, list[Line]]:
    return META, list(lines)


def rest(t: int, path: str, data: Any, status: int = 200) -> RestLine:
    return RestLine(t, "GET", path, data, {}, status)


def ws(t: int, conn: str, data: Any) -> WsLine:
    return WsLine(t, conn, data)


def signed_query(params: list[tuple[str, Any]], secret: str = SECRET, ts: int | None = None) -> str:
    """`params` + timestamp, url-encoded in the given order, with the HMAC signature last."""
    items = [*params, ("timestamp", int(time.time() * 1000) if ts is None else ts)]
    query = urlencode(items)
    return f"{query}&signature={hmac_signature(secret, query)}"


def ws_connect(url: str, **kw: Any) -> Any:
    kw.setdefault("open_timeout", 5)
    kw.setdefault("close_timeout", 1)
    kw.setdefault("ping_interval", None)
    return connect(url, **kw)


async def recv_json(conn: ClientConnection, timeout: float = 5.0) -> Any:
    return json.loads(await asyncio.wait_for(conn.recv(), timeout))


async def wait_until(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, step: float = 0.01
) -> None:
    """Poll `check` until true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)
