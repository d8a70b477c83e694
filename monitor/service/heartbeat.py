"""The dead-man's switch: ping an outside check while the daemon is healthy.

With `[heartbeat] url = …`, `Heartbeat.run` sends a GET of the URL every `interval_s` while the
daemon is healthy and a GET of the URL with `/fail` appended to its path while it is not (an
account blind, stale or failed, the event loop lagging) — the convention of healthchecks.io,
Cronitor and Uptime Kuma-style push monitors. The outside service alerts when the pings stop
(the host died, the process was killed, the network is gone) or when a `/fail` arrives: the
failures the daemon cannot report itself.

During the start-up grace nothing is sent until the daemon has been healthy once (connecting is
not a failure); from then on every interval sends either a ping or a `/fail`. A ping that fails
is logged (throttled) and retried at the next interval, never faster. The URL is a secret (it
carries the check's token): logs name it only by `redacted_url`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from monitor.alerts.redact import redacted_url

log = logging.getLogger(__name__)

#: At most one log line per this many seconds about pings that keep failing.
FAILURE_LOG_EVERY_S = 300.0


def fail_url(url: str) -> str:
    """`url` with `/fail` appended to its path (query and fragment kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/fail"))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the heartbeat should report: healthy or not, and whether start-up is still on."""

    healthy: bool
    starting: bool = False


@dataclass(slots=True)
class HeartbeatStats:
    """Counters of the pings sent (for tests and the status view)."""

    pings: int = 0
    fails: int = 0
    errors: int = 0
    last_status: int | None = None


class Heartbeat:
    """Pings `url` (or `url` + `/fail`) every `interval_s` from the verdict of `verdict()`."""

    def __init__(
        self,
        url: str,
        verdict: Callable[[], Verdict],
        *,
        interval_s: float = 60.0,
        timeout_s: float = 10.0,
        user_agent: str = "marginwatch",
    ) -> None:
        if interval_s <= 0 or timeout_s <= 0:
            raise ValueError("interval_s and timeout_s must be > 0")
        self._url = url
        self._fail_url = fail_url(url)
        self.display = redacted_url(url)
        self._verdict = verdict
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._headers = {"User-Agent": user_agent}
        self.stats = HeartbeatStats()
        self._seen_healthy = False
        self._last_ok: bool | None = None
        self._failure_logged = -float("inf")

    async def run(self) -> None:
        """Ping until cancelled."""
        timeout = aiohttp.ClientTimeout(total=min(self.timeout_s, self.interval_s))
        async with aiohttp.ClientSession(timeout=timeout, headers=self._headers) as session:
            log.info("heartbeat to %s every %g s", self.display, self.interval_s)
            while True:
                started = time.monotonic()
                await self.step(session)
                await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def step(self, session: aiohttp.ClientSession) -> bool | None:
        """One interval: the ping (True), the `/fail` (False), or nothing yet (None)."""
        verdict = self._verdict()
        if verdict.healthy:
            self._seen_healthy = True
        elif verdict.starting and not self._seen_healthy:
            return None
        await self._send(session, verdict.healthy)
        return verdict.healthy

    async def _send(self, session: aiohttp.ClientSession, healthy: bool) -> None:
        url = self._url if healthy else self._fail_url
        if healthy:
            self.stats.pings += 1
        else:
            self.stats.fails += 1
        if healthy != self._last_ok:
            self._last_ok = healthy
            if healthy:
                log.info("heartbeat: healthy, pinging %s", self.display)
            else:
                log.warning("heartbeat: unhealthy, sending /fail to %s", self.display)
        try:
            async with session.get(url, allow_redirects=True) as resp:
                await resp.read()
                self.stats.last_status = resp.status
                if resp.status >= 400:
                    self._failed(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.last_status = None
            self._failed("timed out" if isinstance(exc, TimeoutError) else type(exc).__name__)

    def _failed(self, reason: str) -> None:
        """A ping that did not land; logged at most every `FAILURE_LOG_EVERY_S` (no URL)."""
        self.stats.errors += 1
        now = time.monotonic()
        if now - self._failure_logged >= FAILURE_LOG_EVERY_S:
            self._failure_logged = now
            log.warning(
                "heartbeat to %s failed (%s); %d failure(s) so far, retrying every %g s",
                self.display, reason, self.stats.errors, self.interval_s,
            )
