"""Fault switches of the fake exchange, driven from tests or over HTTP (`/__sim/fault`).

Connection faults act at once through the server (`FaultTarget`): `drop` (abort the TCP
transport, no close handshake), `rotate` (close 1001 "going away", the 24 h close),
`expire_listen_key`, `malformed` frames. Switches change what happens next: `silence` (sockets
stay open and answer pings, no data), `legacy_silent` (market sockets ack SUBSCRIBE but get no
data, the retired-URL behaviour of wire.md §0), `extra_fields` (unknown keys and `st` in
payloads), `skew_time` (server clock offset) and `rest_errors` (the next N matching REST
requests fail with 429/418/5xx). Every application is counted in `counts`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from monitor.sim import errors
from monitor.sim.errors import BAD_GATEWAY_HTML, Answer
from monitor.sim.listenkeys import PRODUCTS, Product
from monitor.sim.malformed import VARIETIES

ConnKind = Literal["all", "market", "user"]
CONN_KINDS: tuple[str, ...] = ("all", "market", "user")


class FaultTarget(Protocol):
    """What the faults act on (the fake exchange)."""

    def drop_connections(self, kind: ConnKind) -> int: ...

    def rotate_connections(self, kind: ConnKind) -> int: ...

    def expire_listen_keys(self, product: Product | None) -> int: ...

    def inject_malformed(
        self, count: int, kind: Literal["market", "user"], seed: int, varieties: Sequence[str]
    ) -> int: ...

    def server_ms(self) -> int: ...


def check_kind(kind: str) -> ConnKind:
    if kind not in CONN_KINDS:
        raise ValueError(f"connection kind must be one of {', '.join(CONN_KINDS)} (got {kind!r})")
    return cast(ConnKind, kind)


@dataclass(slots=True)
class RestErrorRule:
    """The next `remaining` REST requests under `path_prefix` answer `status`."""

    status: int
    remaining: int
    retry_after_s: float | None = None
    path_prefix: str | None = None
    body: Any = None

    def matches(self, path: str) -> bool:
        return self.remaining > 0 and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )

    def answer(self, server_ms: int) -> Answer:
        headers: dict[str, str] = {}
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(max(0, round(self.retry_after_s)))
        elif self.status in (418, 429):
            headers["Retry-After"] = "1"
        if isinstance(self.body, str):
            return Answer(self.status, None, headers, text=self.body)
        if self.body is not None:
            return Answer(self.status, self.body, headers)
        if self.status == 429:
            return errors.error(429, errors.TOO_MANY_REQUESTS, headers)
        if self.status == 418:
            wait_s = self.retry_after_s if self.retry_after_s is not None else 1.0
            return errors.error(418, errors.banned_until(server_ms + int(wait_s * 1000)), headers)
        if self.status == 502:
            return Answer(502, None, headers, text=BAD_GATEWAY_HTML)
        if self.status == 503:
            return errors.error(503, errors.THROTTLED, headers)
        return errors.error(self.status, errors.UNKNOWN_ERROR, headers)


class Faults:
    """The fault switches and one-shot actions of one fake exchange."""

    def __init__(self, target: FaultTarget, clock: Callable[[], float] = time.monotonic) -> None:
        self._target = target
        self._clock = clock
        self.counts: Counter[str] = Counter()
        self.skew_ms = 0
        self.extra = False
        self.legacy: Literal["off", "all", "unrouted"] = "off"
        self._silent_until: dict[str, float] = {}
        self._rest_rules: list[RestErrorRule] = []

    # ---- one-shot actions -------------------------------------------------------------------

    def drop(self, kind: str = "all") -> int:
        """Abort the matching connections' transports (no close frame); returns how many."""
        self.counts["drop"] += 1
        return self._target.drop_connections(check_kind(kind))

    def rotate(self, kind: str = "all") -> int:
        """Close the matching connections with 1001 "going away" (the 24 h close)."""
        self.counts["rotate"] += 1
        return self._target.rotate_connections(check_kind(kind))

    def expire_listen_key(self, product: str | None = None) -> int:
        """Expire the valid listenKey of `product` (um, cm, pm; None = all) now."""
        if product is not None and product not in PRODUCTS:
            raise ValueError(f"product must be um, cm or pm (got {product!r})")
        self.counts["expire_listen_key"] += 1
        return self._target.expire_listen_keys(product)

    def malformed(
        self,
        count: int = 1,
        kind: str = "market",
        *,
        seed: int = 0,
        varieties: Sequence[str] | None = None,
    ) -> int:
        """Send `count` malformed frames to every live `kind` connection; returns frames sent."""
        if kind not in ("market", "user"):
            raise ValueError(f"malformed frames go to 'market' or 'user' (got {kind!r})")
        if count < 0:
            raise ValueError("count must be >= 0")
        chosen = tuple(varieties) if varieties else VARIETIES
        bad = [name for name in chosen if name not in VARIETIES]
        if bad:
            raise ValueError(f"unknown malformed varieties {bad} (known: {', '.join(VARIETIES)})")
        self.counts["malformed"] += count
        target_kind = cast(Literal["market", "user"], kind)
        return self._target.inject_malformed(count, target_kind, seed, chosen)

    # ---- switches ---------------------------------------------------------------------------

    def silence(self, kind: str = "all", seconds: float | None = None) -> None:
        """No data on `kind` sockets for `seconds` (None = until `unsilence`); pings still work."""
        kinds = ("market", "user") if check_kind(kind) == "all" else (kind,)
        until = float("inf") if seconds is None else self._clock() + max(0.0, seconds)
        for one in kinds:
            self._silent_until[one] = until
        self.counts["silence"] += 1

    def unsilence(self, kind: str = "all") -> None:
        kinds = ("market", "user") if check_kind(kind) == "all" else (kind,)
        for one in kinds:
            self._silent_until.pop(one, None)
        self.counts["unsilence"] += 1

    def is_silent(self, kind: str) -> bool:
        until = self._silent_until.get(kind)
        if until is None:
            return False
        if self._clock() >= until:
            del self._silent_until[kind]
            return False
        return True

    def rest_errors(
        self,
        status: int,
        count: int = 1,
        retry_after_s: float | None = None,
        path_prefix: str | None = None,
        body: Any = None,
    ) -> None:
        """The next `count` REST requests (under `path_prefix`) answer `status` (queued after
        earlier rules). 429/418 carry `Retry-After` and a -1003 body, 5xx Binance-like bodies
        (502 is the gateway's HTML page); `body` overrides (a str is sent as text/html)."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (got {status})")
        if count < 1:
            raise ValueError("count must be >= 1")
        self._rest_rules.append(RestErrorRule(status, count, retry_after_s, path_prefix, body))
        self.counts["rest_errors"] += 1

    def take_rest_error(self, path: str) -> Answer | None:
        """The injected answer for this request, if a rule matches (consumes one)."""
        for rule in self._rest_rules:
            if rule.matches(path):
                rule.remaining -= 1
                self._rest_rules = [r for r in self._rest_rules if r.remaining > 0]
                self.counts[f"rest_error_{rule.status}"] += 1
                return rule.answer(self._target.server_ms())
        return None

    def skew_time(self, ms: int) -> None:
        """Offset the server clock by `ms` (its /time answers and the -1021 window)."""
        self.skew_ms = int(ms)
        self.counts["skew_time"] += 1

    def legacy_silent(self, on: bool = True, scope: str = "all") -> None:
        """Market sockets ack SUBSCRIBE but receive no data; `scope` "unrouted" limits it to the
        legacy root paths (`/ws`, `/stream`)."""
        if scope not in ("all", "unrouted"):
            raise ValueError(f"scope must be 'all' or 'unrouted' (got {scope!r})")
        self.legacy = ("all" if scope == "all" else "unrouted") if on else "off"
        self.counts["legacy_silent"] += 1

    def market_muted(self, route: str) -> bool:
        return self.legacy == "all" or (self.legacy == "unrouted" and route == "unrouted")

    def extra_fields(self, on: bool = True) -> None:
        """Add unknown keys (and `st`) to every pushed payload."""
        self.extra = bool(on)
        self.counts["extra_fields"] += 1

    def clear(self) -> None:
        """Turn every switch off and forget pending REST errors."""
        self.skew_ms = 0
        self.extra = False
        self.legacy = "off"
        self._silent_until.clear()
        self._rest_rules.clear()
        self.counts["clear"] += 1

    def state(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "counts": dict(self.counts),
            "skew_ms": self.skew_ms,
            "extra_fields": self.extra,
            "legacy_silent": self.legacy,
            "silenced": {
                kind: None if until == float("inf") else round(until - now, 3)
                for kind, until in self._silent_until.items()
                if until > now
            },
            "pending_rest_errors": [
                {"status": r.status, "remaining": r.remaining, "path_prefix": r.path_prefix}
                for r in self._rest_rules
            ],
        }
