"""Websocket URL → what the connection is (wire.md §1.1, §1.4, §3.2, §7).

Market data (raw `/ws/<a>/<b>` or combined `/stream?streams=a/b`) on the routed USDⓈ-M base
`/market`, the book-data base `/public`, or the unrouted root (COIN-M `dstream` style). User data:
`/private/ws?listenKey=K&events=A/B`, `/private/ws/K`, `/private/stream?listenKey=K1&events=..&
listenKey=K2&events=..` (multi-key, combined wrapper `{"stream": K, "data": ...}`), `/ws/K`
(COIN-M style, when K is a listenKey this server issued), `/pm/ws/K` and `/pm-classic/ws/K`.
A path segment with no `@` that does not start with `!` is a listenKey, never a stream name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from multidict import MultiMapping

MARKET_BASES = ("/market", "/public", "")
USER_BASES = ("/pm", "/pm-classic")


@dataclass(frozen=True, slots=True)
class MarketTarget:
    combined: bool
    streams: tuple[str, ...]
    #: `market`, `public` or `unrouted` (the legacy root paths).
    route: str


@dataclass(frozen=True, slots=True)
class UserBindingSpec:
    key: str
    #: Event names the connection asked for (`events=`); None = every event.
    events: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class UserTarget:
    combined: bool
    bindings: tuple[UserBindingSpec, ...]
    route: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """An upgrade to accept and then close: 1008 for a bad listenKey."""

    reason: Literal["unknown listenKey", "missing listenKey"]


WsTarget = MarketTarget | UserTarget | Rejected


def looks_like_key(segment: str) -> bool:
    """A path segment that names a listenKey rather than a stream."""
    return bool(segment) and "@" not in segment and not segment.startswith("!")


def _events(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = {name.strip() for chunk in value.split("/") for name in chunk.split(",")}
    names.discard("")
    return frozenset(names) or None


def _segments(rest: str) -> list[str]:
    return [segment for segment in rest.split("/") if segment]


def parse_ws_path(
    path: str, query: MultiMapping[str], is_known_key: Callable[[str], bool]
) -> WsTarget | None:
    """What a websocket upgrade to `path`?`query` is; None for a path this server lacks."""
    events = _events(query.get("events"))
    if path in ("/private/ws", "/private/stream") or path.startswith("/private/ws/"):
        combined = path == "/private/stream"
        keys = list(query.getall("listenKey", []))
        keys += _segments(path.removeprefix("/private/ws").removeprefix("/private/stream"))
        if not keys:
            return Rejected("missing listenKey")
        event_sets = [_events(value) for value in query.getall("events", [])]
        bindings = tuple(
            UserBindingSpec(key, event_sets[i] if i < len(event_sets) else events)
            for i, key in enumerate(keys)
        )
        if not all(is_known_key(binding.key) for binding in bindings):
            return Rejected("unknown listenKey")
        return UserTarget(combined, bindings, "private")
    for base in USER_BASES:
        if path.startswith(f"{base}/ws/") or path == f"{base}/ws":
            keys = _segments(path.removeprefix(f"{base}/ws"))
            if len(keys) != 1:
                return Rejected("missing listenKey")
            if not is_known_key(keys[0]):
                return Rejected("unknown listenKey")
            return UserTarget(False, (UserBindingSpec(keys[0], events),), base.strip("/"))
    for base in MARKET_BASES:
        route = base.strip("/") or "unrouted"
        if path == f"{base}/stream":
            streams = _segments(query.get("streams", ""))
            if any(looks_like_key(name) for name in streams):
                return Rejected("unknown listenKey")
            return MarketTarget(True, tuple(streams), route)
        if path == f"{base}/ws" or path.startswith(f"{base}/ws/"):
            names = _segments(path.removeprefix(f"{base}/ws"))
            keys = [name for name in names if looks_like_key(name)]
            if not keys:
                return MarketTarget(False, tuple(names), route)
            if base == "" and len(names) == 1 and is_known_key(names[0]):
                return UserTarget(False, (UserBindingSpec(names[0], events),), "ws")
            return Rejected("unknown listenKey")
    return None
