"""Binance-style error answers of the fake exchange (wire.md §4.1 error table).

Every REST error the simulator produces goes through here so the bodies look like the real
ones: `{"code": <negative int>, "msg": "..."}` with the HTTP status Binance uses, plus the
gateway-style non-JSON body of a 502.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

INVALID_KEY = (-2015, "Invalid API-key, IP, or permissions for action")
INVALID_SIGNATURE = (-1022, "Signature for this request is not valid.")
TIMESTAMP_AHEAD = (-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
TIMESTAMP_OUTSIDE = (-1021, "Timestamp for this request is outside of the recvWindow.")
UNKNOWN_LISTEN_KEY = (-1125, "This listenKey does not exist.")
INVALID_SYMBOL = (-1121, "Invalid symbol.")
UNKNOWN_ERROR = (-1000, "An unknown error occured while processing the request.")
TOO_MANY_REQUESTS = (
    -1003,
    "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute."
    " Please use the websocket for live updates to avoid polling the API.",
)
THROTTLED = (
    -1008,
    "Request throttled by system-level protection. Reduce-only/close-position orders are"
    " exempt. Please try again.",
)
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def dumps(obj: Any) -> str:
    """Compact JSON, the way Binance writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def mandatory(name: str) -> tuple[int, str]:
    return -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."


def bad_recv_window(limit_ms: int) -> tuple[int, str]:
    return -1131, f"recvWindow must be less than {limit_ms}"


def invalid_path(method: str, path: str) -> tuple[int, str]:
    return -5000, f"Path {path}, Method {method} is invalid"


def banned_until(until_ms: int) -> tuple[int, str]:
    return (
        -1003,
        f"Way too much request weight used; IP banned until {until_ms}."
        " Please use the websocket for live updates to avoid bans.",
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer before it becomes an aiohttp response (easy to count and test)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    #: A raw text body (e.g. the 502 HTML page) instead of JSON.
    text: str | None = None

    def response(self, extra_headers: dict[str, str]) -> web.Response:
        headers = {**self.headers, **extra_headers}
        if self.text is not None:
            return web.Response(
                status=self.status, text=self.text, content_type="text/html", headers=headers
            )
        return web.Response(
            status=self.status,
            text=dumps(self.body),
            content_type="application/json",
            headers=headers,
        )


def error(status: int, code_msg: tuple[int, str], headers: dict[str, str] | None = None) -> Answer:
    code, msg = code_msg
    return Answer(status, {"code": code, "msg": msg}, dict(headers or {}))


def ok(body: Any, status: int = 200) -> Answer:
    return Answer(status, body)
