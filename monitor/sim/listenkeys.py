"""listenKeys of the fake exchange: one per product, POST-idempotent, TTL, expiry (wire.md §3.1).

`POST` returns the product's key while it is valid (extending it to now + TTL) or a new random
64-character key; `PUT` extends a valid key; `DELETE` retires it. A key whose TTL lapses (or that
the `expire_listen_key` fault retires) becomes expired: `PUT`/`DELETE` then answer -1125, new
connections with it are refused, and connections using it get one `listenKeyExpired` event in
the product's shape (`expired_event`) and nothing more.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from monitor.sim.wire.streams import listen_key_expired

Product = Literal["um", "cm", "pm"]
PRODUCTS: tuple[Product, ...] = ("um", "cm", "pm")
_PATHS: dict[str, Product] = {
    "/fapi/v1/listenKey": "um",
    "/dapi/v1/listenKey": "cm",
    "/papi/v1/listenKey": "pm",
}
_ALPHABET = string.ascii_letters + string.digits


def product_of(path: str) -> Product | None:
    """The product whose listenKey endpoint `path` is (None if it is not one)."""
    return _PATHS.get(path)


def expired_event(product: Product, key: str, server_ms: int) -> dict[str, Any]:
    """`listenKeyExpired` as `product` sends it (`monitor.sim.wire.streams`)."""
    return listen_key_expired(product, key, server_ms)


@dataclass(slots=True)
class ListenKey:
    key: str
    product: Product
    expires_at: float
    state: Literal["active", "expired", "deleted"] = "active"
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class ListenKeys:
    """The listenKeys issued by one fake exchange, with their TTL timers."""

    def __init__(
        self,
        ttl_s: float,
        on_expire: Callable[[ListenKey], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._on_expire = on_expire
        self._clock = clock
        self._active: dict[Product, ListenKey] = {}
        self._all: dict[str, ListenKey] = {}
        self.counts: Counter[str] = Counter()

    def _arm(self, lk: ListenKey) -> None:
        if lk.timer is not None:
            lk.timer.cancel()
        lk.expires_at = self._clock() + self.ttl_s
        lk.timer = asyncio.get_running_loop().call_later(self.ttl_s, self._lapse, lk)

    def _lapse(self, lk: ListenKey) -> None:
        lk.timer = None
        if lk.state == "active":
            self._retire(lk, "expired")

    def _retire(self, lk: ListenKey, state: Literal["expired", "deleted"]) -> None:
        if lk.timer is not None:
            lk.timer.cancel()
            lk.timer = None
        lk.state = state
        if self._active.get(lk.product) is lk:
            del self._active[lk.product]
        self.counts[f"{lk.product}_{state}"] += 1
        if state == "expired":
            self._on_expire(lk)

    def post(self, product: Product) -> ListenKey:
        """The product's valid key (extended) or a new one."""
        lk = self._active.get(product)
        if lk is None:
            key = "".join(secrets.choice(_ALPHABET) for _ in range(64))
            lk = ListenKey(key, product, 0.0)
            self._active[product] = lk
            self._all[key] = lk
            self.counts[f"{product}_created"] += 1
        else:
            self.counts[f"{product}_reused"] += 1
        self._arm(lk)
        return lk

    def _valid(self, product: Product, key: str | None) -> ListenKey | None:
        lk = self._active.get(product)
        if lk is None or (key is not None and key != lk.key):
            return None
        return lk

    def put(self, product: Product, key: str | None) -> ListenKey | None:
        """Extend the product's key (`key` must match when given); None = -1125."""
        lk = self._valid(product, key)
        if lk is None:
            self.counts[f"{product}_unknown"] += 1
            return None
        self._arm(lk)
        self.counts[f"{product}_extended"] += 1
        return lk

    def delete(self, product: Product, key: str | None) -> ListenKey | None:
        """Retire the product's key; None = -1125."""
        lk = self._valid(product, key)
        if lk is None:
            self.counts[f"{product}_unknown"] += 1
            return None
        self._retire(lk, "deleted")
        return lk

    def expire(self, product: Product | None = None) -> list[ListenKey]:
        """Expire the valid key of `product` (every product when None) now."""
        targets = [lk for p, lk in self._active.items() if product is None or p == product]
        for lk in targets:
            self._retire(lk, "expired")
        return targets

    def issued(self) -> list[str]:
        """Every listenKey issued, in any state (for leak scans; `state()` omits the keys)."""
        return list(self._all)

    def lookup(self, key: str) -> ListenKey | None:
        return self._all.get(key)

    def is_known(self, key: str) -> bool:
        """Issued by this server (in any state)."""
        return key in self._all

    def is_live(self, key: str) -> bool:
        lk = self._all.get(key)
        return lk is not None and lk.state == "active"

    def close(self) -> None:
        for lk in self._all.values():
            if lk.timer is not None:
                lk.timer.cancel()
                lk.timer = None

    def state(self) -> dict[str, Any]:
        """Counters and, per product, whether a key is valid and for how long (never the key)."""
        now = self._clock()
        return {
            "ttl_s": self.ttl_s,
            "counts": dict(self.counts),
            "active": {
                product: round(max(0.0, lk.expires_at - now), 3)
                for product, lk in self._active.items()
            },
        }
