"""The delivery worker: one asyncio task per destination drains its outbox queue in order.

`submit` routes an alert, persists it (before any send) and wakes the destinations it concerns.
Each destination task takes the head of its queue, waits for its rate limit, sends, and marks
the outcome. On failure the head stays queued and the destination backs off (exponentially, or
exactly as long as the destination asked via `retry_after`); later alerts wait behind it, so the
order per destination is kept. Destinations never wait on each other. A restart resumes whatever
is still queued.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from monitor.alerts.delivery import Destination
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox import Outbox, Pending, wall_ms
from monitor.alerts.policy import AlertIntent
from monitor.alerts.redact import scrub
from monitor.alerts.retry import Backoff, TokenBucket
from monitor.alerts.sender import Sender, SendResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    backoff: Backoff = field(default_factory=Backoff)
    rate_per_s: float = 1.0  # per destination (Telegram allows about one message/s per chat)
    burst: float = 3.0
    max_attempts: int | None = None  # None: retry until the alert is `max_age_s` old
    max_age_s: float = 6 * 3600.0


class DeliveryWorker:
    """Drains the outbox to a fixed set of destinations."""

    def __init__(
        self,
        outbox: Outbox,
        routes: Sequence[tuple[Destination, Sender]],
        config: WorkerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self._outbox = outbox
        self._routes = list(routes)
        self._config = config or WorkerConfig()
        self._clock = clock
        self._now_ms = now_ms
        self._wakes = {d.dest_id: asyncio.Event() for d, _ in self._routes}
        expired = outbox.expire_unknown(self._wakes)
        if expired:
            log.warning(
                "expired %d queued deliveries to destinations no longer configured", expired
            )

    @property
    def destinations(self) -> list[Destination]:
        return [d for d, _ in self._routes]

    def submit(self, intent: AlertIntent, message: RenderedAlert) -> bool:
        """Persist `intent` for every destination that accepts it; False if already known."""
        targets = [d.dest_id for d, _ in self._routes if d.accepts(intent)]
        if not self._outbox.enqueue(intent, message, targets):
            return False
        for dest_id in targets:
            self._wakes[dest_id].set()
        return True

    async def run(self) -> None:
        """Serve every destination until cancelled; then close the senders."""
        try:
            async with asyncio.TaskGroup() as group:
                for dest, sender in self._routes:
                    group.create_task(self._serve(dest, sender), name=f"deliver {dest.display}")
        finally:
            for _, sender in self._routes:
                await sender.aclose()

    async def drain(self, timeout_s: float, poll_s: float = 0.01) -> bool:
        """Wait until nothing is queued (True) or `timeout_s` passes (False)."""
        deadline = self._clock() + timeout_s
        while self._outbox.queued():
            if self._clock() >= deadline:
                return False
            await asyncio.sleep(poll_s)
        return True

    async def _serve(self, dest: Destination, sender: Sender) -> None:
        cfg = self._config
        wake = self._wakes[dest.dest_id]
        bucket = TokenBucket(cfg.rate_per_s, cfg.burst)
        failures = 0
        while True:
            item = self._outbox.head(dest.dest_id)
            if item is None:
                await wake.wait()
                wake.clear()
                continue
            if self._now_ms() - item.created_ms > cfg.max_age_s * 1000:
                self._outbox.expire(item.seq, f"undelivered after {cfg.max_age_s:g} s")
                continue
            wait_s = bucket.acquire(self._clock())
            if wait_s > 0.0:
                await asyncio.sleep(wait_s)
                continue
            result = await self._attempt(dest, sender, item)
            if result.ok:
                failures = 0
                self._outbox.delivered(item.seq)
                continue
            if result.permanent or (cfg.max_attempts and item.attempts + 1 >= cfg.max_attempts):
                log.error("giving up on %s for %s: %s", item.alert_id, dest.display, result.error)
                self._outbox.fail(item.seq, result.error)
                continue
            self._outbox.retry(item.seq, result.error)
            if result.retry_after_s is not None:
                delay = result.retry_after_s
            else:
                failures += 1
                delay = cfg.backoff.delay_s(failures)
            log.warning(
                "delivery to %s failed (%s); retrying in %.3g s", dest.display, result.error, delay
            )
            await asyncio.sleep(delay)

    @staticmethod
    async def _attempt(dest: Destination, sender: Sender, item: Pending) -> SendResult:
        try:
            return await sender.send(item.message)
        except Exception as exc:
            return SendResult.failed(scrub(f"{type(exc).__name__}: {exc}", dest.secrets))
