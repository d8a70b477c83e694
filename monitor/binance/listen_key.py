"""The listenKey of a user-data stream, kept alive and replaced when it dies (wire.md §3.1).

`ListenKeyManager` creates the key (POST; Binance hands back the same key while it is valid),
keeps it alive with a PUT every `keepalive_s` (30 min: validity is 60 min, and
`listenKeyExpired` may never arrive, wire.md §6 item 5), and replaces it when Binance says it is
gone (`-1125`), when a keep-alive fails for good, or when the owner saw `listenKeyExpired`.
Each replacement awaits `on_new_key(key)` so the owner reconnects the user stream and re-snaps
its state; that happens even when the POST returns the very same key, because the old
connection has gone silent. Creating a key is retried with backoff until it works: the loop
never gives up and never ends except by cancellation. The key itself is never logged.

The manager never DELETEs a key: Binance returns the same key to every client of the account,
so deleting it would cut the user stream of the trader's own bots. `close()` only forgets it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from monitor.base.backoff import Backoff
from monitor.binance.endpoints import Product
from monitor.binance.rest import RestClient
from monitor.binance.rest_errors import RestError

log = logging.getLogger(__name__)

#: Binance's "This listenKey does not exist."
INVALID_LISTEN_KEY = -1125


@dataclass(slots=True)
class ListenKeyStats:
    """Counters of one manager."""

    created: int = 0
    keepalives: int = 0
    failures: int = 0
    renewals: int = 0
    callback_errors: int = 0


class ListenKeyManager:
    """Owns one product's listenKey: create, keep alive, replace, forget (never delete)."""

    def __init__(
        self,
        rest: RestClient,
        product: Product,
        *,
        keepalive_s: float = 1800.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_new_key: Callable[[str], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        if keepalive_s <= 0:
            raise ValueError("keepalive_s must be positive")
        self.rest = rest
        self.product = product
        self.keepalive_s = keepalive_s
        self.key: str | None = None
        self.stats = ListenKeyStats()
        self._sleep = sleep
        self._on_new_key = on_new_key
        self._backoff = backoff if backoff is not None else Backoff(base_s=1.0, cap_s=60.0)
        self._lock = asyncio.Lock()
        self._generation = 0

    @property
    def _name(self) -> str:
        return f"{self.product.value} listenKey"

    async def acquire(self) -> str:
        """Create the key (or get the valid one back) and remember it; raises `RestError`."""
        async with self._lock:
            return await self._post()

    async def keepalive_loop(self) -> None:
        """Every `keepalive_s`, PUT the key; replace it when that fails. Runs until cancelled."""
        while True:
            await self._sleep(self.keepalive_s)
            await self._keepalive_once()

    async def expired(self) -> str:
        """The owner saw `listenKeyExpired`: create a new key, announce it and return it."""
        generation = self._generation
        async with self._lock:
            if self._generation != generation and self.key is not None:
                return self.key  # replaced meanwhile (and announced) by the keep-alive loop
            key = await self._post_until_done("listenKeyExpired")
        await self._announce(key, raise_errors=True)
        return key

    async def check(self) -> None:
        """Validate the key now, as the keep-alive does (a PUT); when Binance no longer knows it,
        create a new one and announce it. For after a user-stream loss: a `listenKeyExpired`
        sent while the stream was down is never seen, and reconnecting with the dead key would
        fail until the next keep-alive, up to `keepalive_s` later."""
        await self._keepalive_once()

    async def close(self) -> None:
        """Forget the key locally; nothing is sent to Binance.

        The key is never DELETEd: Binance hands the same listenKey to every client of the
        account, so a DELETE would also close the user stream of the trader's own bots (wire.md
        §3.1). Stopping just closes our socket; the key lapses 60 min after the last keep-alive
        unless someone else keeps it alive. Kept async (and named `close`) for the callers.
        """
        if self.key is not None:
            self.key = None
            log.info("%s released (not deleted: it is shared with the account's other clients)",
                     self._name)

    # ------------------------------------------------------------------ internals
    async def _keepalive_once(self) -> None:
        async with self._lock:
            if self.key is None:
                key = await self._post_until_done("no key yet")
            else:
                try:
                    data = await self.rest.listen_key("PUT", self.product, self.key)
                except RestError as exc:
                    self.stats.failures += 1
                    why = (
                        "Binance no longer knows it"
                        if exc.code == INVALID_LISTEN_KEY
                        else "the keep-alive failed"
                    )
                    log.warning("%s keep-alive: %s; %s, creating a new one", self._name, exc, why)
                    key = await self._post_until_done(why)
                else:
                    self.stats.keepalives += 1
                    returned = data.get("listenKey")
                    if not isinstance(returned, str) or returned == self.key or not returned:
                        log.debug("%s kept alive", self._name)
                        return
                    log.warning("%s keep-alive returned a different key; switching", self._name)
                    self.key = key = returned
                    self._renewed()
        await self._announce(key, raise_errors=False)

    async def _post(self) -> str:
        """One POST; the client guarantees a non-empty `listenKey` or raises `RestError`."""
        data = await self.rest.listen_key("POST", self.product)
        key = str(data["listenKey"])
        self.key = key
        self.stats.created += 1
        log.info("%s acquired", self._name)
        return key

    async def _post_until_done(self, why: str) -> str:
        """POST until a key comes back (backoff between failures); counts a renewal."""
        old = self.key
        self._backoff.reset()
        while True:
            try:
                key = await self._post()
            except RestError as exc:
                self.stats.failures += 1
                delay = self._backoff.next_delay()
                log.error("creating a new %s failed: %s; retry in %.1f s", self._name, exc, delay)
                await self._sleep(delay)
                continue
            self._renewed()
            same = "the same key, re-validated" if key == old else "a new key"
            log.info("%s renewed (%s): %s", self._name, why, same)
            return key

    def _renewed(self) -> None:
        self.stats.renewals += 1
        self._generation += 1

    async def _announce(self, key: str, *, raise_errors: bool) -> None:
        if self._on_new_key is None:
            return
        try:
            await self._on_new_key(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            if raise_errors:
                raise
            self.stats.callback_errors += 1
            log.exception("the new-%s callback failed", self._name)
