"""One websocket client of the fake exchange: its subscriptions, send queue and supervision.

Frames are queued (`send`) and written by the connection's own writer task, so a slow client
never stalls playback; a client whose queue overflows is aborted (Binance drops slow
consumers). The supervisor pings every `ping_interval_s`, closes a client that has not answered
a ping within `pong_timeout_s` (close code 1008 "pong timeout"), and closes with 1001 "going
away" at `max_age_s` (the 24 h rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from monitor.sim.subscriptions import Subscriptions

log = logging.getLogger("monitor.sim")

Kind = Literal["market", "user"]
MAX_QUEUE = 20_000
CLOSE_TIMEOUT_S = 0.5
GOING_AWAY = 1001
POLICY_VIOLATION = 1008

_ids = itertools.count(1)


@dataclass(slots=True)
class Binding:
    """One listenKey a user connection listens to."""

    key: str
    product: str
    events: frozenset[str] | None
    live: bool = True

    def accepts(self, event: Any) -> bool:
        if self.events is None or not isinstance(event, dict):
            return True
        name = event.get("e")
        return name == "listenKeyExpired" or name in self.events


class Conn:
    """A live websocket connection (market or user data)."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.BaseRequest,
        kind: Kind,
        *,
        route: str,
        combined: bool,
        streams: tuple[str, ...] = (),
        bindings: tuple[Binding, ...] = (),
    ) -> None:
        self.id = next(_ids)
        self.ws = ws
        self.request = request
        self.kind: Kind = kind
        self.route = route
        #: normalized name → name as subscribed (insertion order = subscription order).
        self.subs = Subscriptions({}, combined)
        for name in streams:
            self.subs.streams.setdefault(name.lower(), name)
        self.bindings = list(bindings)
        self.opened_at = time.monotonic()
        self.sent = 0
        self.overflowed = False
        self._queue: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUE)
        self._last_pong = self.opened_at
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:  # never shows listenKeys
        return f"<Conn #{self.id} {self.kind} {self.route}>"

    @property
    def combined(self) -> bool:
        return self.subs.combined

    @property
    def streams(self) -> dict[str, str]:
        return self.subs.streams

    @property
    def closed(self) -> bool:
        return self.ws.closed

    @property
    def live(self) -> bool:
        """Open, and (user data) still bound to at least one valid listenKey."""
        if self.closed:
            return False
        return self.kind == "market" or any(binding.live for binding in self.bindings)

    def send(self, text: str) -> bool:
        """Queue one text frame; False (and the client is aborted) if the queue is full."""
        if self.closed:
            return False
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            if not self.overflowed:
                self.overflowed = True
                log.warning("sim: %r did not read its frames; dropping it", self)
                self.abort()
            return False
        return True

    def on_pong(self) -> None:
        self._last_pong = time.monotonic()

    def start(self, *, ping_interval_s: float, pong_timeout_s: float, max_age_s: float) -> None:
        self._tasks.append(asyncio.create_task(self._writer(), name=f"sim-writer-{self.id}"))
        self._tasks.append(
            asyncio.create_task(
                self._supervise(ping_interval_s, pong_timeout_s, max_age_s),
                name=f"sim-supervisor-{self.id}",
            )
        )

    async def stop_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _writer(self) -> None:
        try:
            while True:
                text = await self._queue.get()
                if self.ws.closed:
                    return
                await self.ws.send_str(text)
                self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a client gone mid-write is normal
            log.debug("sim: writer of %r stopped: %s", self, type(exc).__name__)

    async def _supervise(
        self, ping_interval_s: float, pong_timeout_s: float, max_age_s: float
    ) -> None:
        try:
            deadline = self.opened_at + max_age_s
            next_ping = self.opened_at + ping_interval_s
            waiting_since: float | None = None
            while not self.ws.closed:
                now = time.monotonic()
                if now >= deadline:
                    await self.close(GOING_AWAY, "going away")
                    return
                if waiting_since is not None and self._last_pong >= waiting_since:
                    waiting_since = None
                if waiting_since is not None and now - waiting_since >= pong_timeout_s:
                    log.info(
                        "sim: %r did not answer a ping in %.1f s; closing", self, pong_timeout_s
                    )
                    await self.close(POLICY_VIOLATION, "pong timeout")
                    return
                if now >= next_ping:
                    await self.ws.ping(b"sim")
                    if waiting_since is None:
                        waiting_since = now
                    next_ping = now + ping_interval_s
                wake = min(deadline, next_ping)
                if waiting_since is not None:
                    wake = min(wake, waiting_since + pong_timeout_s)
                await asyncio.sleep(max(0.0, wake - time.monotonic()) + 0.001)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("sim: supervisor of %r stopped: %s", self, type(exc).__name__)

    async def close(self, code: int, message: str) -> None:
        """Close with a close frame (`code`, `message`); abort if the handshake stalls."""
        if self.ws.closed:
            return
        try:
            await asyncio.wait_for(
                self.ws.close(code=code, message=message.encode()), CLOSE_TIMEOUT_S
            )
        except asyncio.CancelledError:
            self.abort()
            raise
        except Exception:  # TimeoutError included: the client never answered the close
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()
