"""One destination's attempt in the air, and the late answer of an attempt that timed out.

A send that outlives the destination's timeout is reported as *unknown* but not abandoned: it
keeps running (until the sender's hard limit, `LATE_FACTOR` times the timeout) and the next
send waits for it first. If it ends delivered, the retry of the same alert is answered from it
(`SendResult.late`) and nothing is sent twice; a later send of another alert keeps its answer
for that alert's retry. Only an attempt that never answers leads to a second send (a possible
duplicate, which the worker counts). Attempts of one destination never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from monitor.alerts.sender import SendResult

#: An attempt is abandoned (its connection closed) after this many times the timeout.
LATE_FACTOR = 3.0
#: Late answers kept for alerts not retried yet (oldest dropped first).
MAX_LATE = 64


class InFlight:
    """Runs a destination's attempts one at a time under `timeout_s`."""

    def __init__(self, timeout_s: float) -> None:
        if timeout_s <= 0.0:
            raise ValueError("a delivery timeout must be > 0")
        self.timeout_s = timeout_s
        self._pending: tuple[str | None, asyncio.Future[SendResult]] | None = None
        self._late: dict[str, SendResult] = {}

    @property
    def hard_limit_s(self) -> float:
        """When an unanswered attempt is given up for good."""
        return self.timeout_s * LATE_FACTOR

    async def run(self, key: str | None, start: Callable[[], Awaitable[SendResult]]) -> SendResult:
        """Send via `start()` unless an earlier attempt of `key` turned out delivered."""
        if key is not None:
            late = self._late.pop(key, None)
            if late is not None and late.ok:
                return SendResult.delivered(late=True)
        if self._pending is not None:
            pending_key, attempt = self._pending
            done, _ = await asyncio.wait({attempt}, timeout=self.timeout_s)
            if not done:
                return SendResult.no_answer(
                    f"an earlier attempt is still unanswered after {self.timeout_s:g} s more"
                )
            self._pending = None
            outcome = _outcome(attempt)
            if key is not None and pending_key == key:
                if outcome.ok:
                    return SendResult.delivered(late=True)
            elif pending_key is not None and outcome.ok:
                self._keep(pending_key, outcome)
        attempt = asyncio.ensure_future(start())
        done, _ = await asyncio.wait({attempt}, timeout=self.timeout_s)
        if not done:
            self._pending = (key, attempt)
            return SendResult.no_answer(f"no answer within {self.timeout_s:g} s")
        return _outcome(attempt)

    def _keep(self, key: str, outcome: SendResult) -> None:
        self._late[key] = outcome
        while len(self._late) > MAX_LATE:
            del self._late[next(iter(self._late))]

    async def aclose(self) -> None:
        if self._pending is not None:
            _, attempt = self._pending
            self._pending = None
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt


def _outcome(attempt: asyncio.Future[SendResult]) -> SendResult:
    if attempt.cancelled():
        return SendResult.no_answer("the attempt was cancelled")
    exc = attempt.exception()
    if exc is not None:  # senders report their own errors; the class name is safe to show
        return SendResult.failed(f"{type(exc).__name__} while sending")
    return attempt.result()
