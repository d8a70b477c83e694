"""The delivery worker: one independent lane (an asyncio task) per destination.

`submit` routes an alert, persists it in the outbox (before any send) and puts it in the lane of
every destination it concerns. Each lane picks its next delivery — the highest level first,
oldest first within a level — waits for its rate limit, sends, and records the outcome. Lanes
never wait on each other: a slow or dead destination delays only itself. A sent ladder alert
(level, repeat, de-escalation, all-clear) makes the older queued ladder alerts of its account
obsolete, so jumping the queue never ends on a stale level.

Outcomes: delivered; failed (permanent error, or `max_attempts`); unknown — no answer within
the destination's timeout — is retried like a failure, with the same alert id and idempotency
key, and a retry that sends again is counted in `stats.possible_duplicates`. After a failure
the delivery stays first in its lane and the lane backs off (exponentially, or exactly as long
as the destination asked via `retry_after`).

The lanes live in memory and the outbox is their journal: a restart resumes whatever is still
queued there. If the outbox cannot be written (disk full), delivery goes on from memory, an
`ops` alert says so (and another when it works again), and the held writes are persisted as
soon as possible (`Outbox.failing`, `Outbox.held`).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.alerts.delivery import Destination
from monitor.alerts.levels import TAG_INFO, TAG_OPS, AlertIntent, AlertKind
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import Key, Pending
from monitor.alerts.sender import Sender, SendResult
from monitor.base.backoff import FailureBackoff
from monitor.base.clock import wall_ms
from monitor.base.rate_limit import TokenBucket
from monitor.base.secrets import scrub

log = logging.getLogger(__name__)

_LADDER = frozenset(
    str(k) for k in (AlertKind.LEVEL, AlertKind.REPEAT, AlertKind.DEESCALATION, AlertKind.ALL_CLEAR)
)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    backoff: FailureBackoff = field(default_factory=FailureBackoff)
    rate_per_s: float = 1.0  # per destination (Telegram allows about one message/s per chat)
    burst: float = 3.0
    max_attempts: int | None = None  # None: retry until the alert is `max_age_s` old
    max_age_s: float = 6 * 3600.0
    #: How often writes held in memory (the outbox failing) are retried.
    flush_every_s: float = 2.0


@dataclass(slots=True)
class DeliveryStats:
    """Counters for /metrics (monotonic)."""

    #: Attempts that got no answer within the destination's timeout (outcome unknown).
    unknown: int = 0
    #: Alerts sent again after an unanswered attempt: the destination may show them twice.
    possible_duplicates: int = 0


@dataclass(slots=True)
class _Job:
    """One delivery in a lane."""

    alert_id: str
    dest_id: str
    account: str
    kind: str
    rank: int
    coalesce_key: str
    created_ms: int
    message: RenderedAlert
    attempts: int
    order: int
    unknown: int = 0

    @property
    def key(self) -> Key:
        return (self.alert_id, self.dest_id)


class _Lane:
    """One destination's queue (in memory; the outbox is its journal)."""

    def __init__(self, dest: Destination, sender: Sender) -> None:
        self.dest = dest
        self.sender = sender
        self.jobs: list[_Job] = []
        self.busy: _Job | None = None  # being sent: never coalesced away
        self.wake = asyncio.Event()

    def add(self, job: _Job) -> None:
        """Queue `job`; it supersedes queued jobs with its coalesce key and no higher level
        (the outbox records the same in its own transaction)."""
        self.jobs = [
            j
            for j in self.jobs
            if j is self.busy or j.coalesce_key != job.coalesce_key or j.rank > job.rank
        ]
        self.jobs.append(job)
        self.wake.set()

    def next(self) -> _Job | None:
        """The highest level first; the oldest first within a level."""
        if not self.jobs:
            return None
        return max(self.jobs, key=lambda j: (j.rank, -j.order))

    def obsolete(self, job: _Job) -> list[_Job]:
        """Remove and return the queued ladder jobs of `job`'s account older than `job`."""
        if job.kind not in _LADDER:
            return []
        old = [
            j
            for j in self.jobs
            if j is not job
            and j.kind in _LADDER
            and j.account == job.account
            and j.order < job.order
        ]
        if old:
            self.jobs = [j for j in self.jobs if j not in old]
        return old

    def remove(self, job: _Job) -> None:
        self.jobs = [j for j in self.jobs if j is not job]


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
        self._config = config or WorkerConfig()
        self._clock = clock
        self._now_ms = now_ms
        self._lanes = {d.dest_id: _Lane(d, s) for d, s in routes}
        self._order = itertools.count()
        self.stats = DeliveryStats()
        self._outbox_down = outbox.failing is not None
        expired = outbox.expire_unknown(self._lanes)
        if expired:
            log.warning(
                "expired %d queued deliveries to destinations no longer configured", expired
            )
        for item in outbox.pending():
            lane = self._lanes.get(item.dest_id)
            if lane is not None:
                lane.jobs.append(self._job(item))

    def _job(self, item: Pending) -> _Job:
        return _Job(
            item.alert_id,
            item.dest_id,
            item.account,
            item.kind,
            item.rank,
            item.coalesce_key,
            item.created_ms,
            item.message,
            item.attempts,
            next(self._order),
        )

    @property
    def destinations(self) -> list[Destination]:
        return [lane.dest for lane in self._lanes.values()]

    @property
    def pending(self) -> int:
        """Deliveries not finished yet (queued or being sent), held writes included."""
        return sum(len(lane.jobs) for lane in self._lanes.values())

    def submit(self, intent: AlertIntent, message: RenderedAlert) -> bool:
        """Persist `intent` for every destination that accepts it and queue it there; False if
        already known. Never loses it: if the outbox cannot be written, it is queued from
        memory and persisted later."""
        lanes = [lane for lane in self._lanes.values() if lane.dest.accepts(intent)]
        if not self._outbox.enqueue(intent, message, [lane.dest.dest_id for lane in lanes]):
            return False
        created = self._outbox.now_ms()
        for lane in lanes:
            lane.add(
                _Job(
                    intent.alert_id,
                    lane.dest.dest_id,
                    intent.account,
                    str(intent.kind),
                    intent.rank,
                    intent.coalesce_key,
                    created,
                    message,
                    0,
                    next(self._order),
                )
            )
        self._watch_outbox()
        return True

    async def run(self) -> None:
        """Serve every destination until cancelled; then close the senders."""
        try:
            async with asyncio.TaskGroup() as group:
                for lane in self._lanes.values():
                    group.create_task(self._serve(lane), name=f"deliver {lane.dest.display}")
                group.create_task(self._keep_outbox(), name="outbox flush")
        finally:
            for lane in self._lanes.values():
                await lane.sender.aclose()

    async def drain(self, timeout_s: float, poll_s: float = 0.01) -> bool:
        """Wait until nothing is queued (True) or `timeout_s` passes (False)."""
        deadline = self._clock() + timeout_s
        while self.pending:
            if self._clock() >= deadline:
                return False
            await asyncio.sleep(poll_s)
        return True

    # ------------------------------------------------------------------ the outbox's health
    async def _keep_outbox(self) -> None:
        """Retry held writes while the outbox fails (a write also retries them)."""
        while True:
            await asyncio.sleep(self._config.flush_every_s)
            if self._outbox.held:
                self._outbox.flush()
            self._watch_outbox()

    def _watch_outbox(self) -> None:
        """Say so (an `ops` alert) when the outbox starts failing and when it works again."""
        failing = self._outbox.failing
        if (failing is not None) == self._outbox_down:
            return
        self._outbox_down = failing is not None
        self.submit(*outbox_alert(failing, self._now_ms()))

    # ------------------------------------------------------------------ a lane
    async def _serve(self, lane: _Lane) -> None:
        cfg = self._config
        dest = lane.dest
        bucket = TokenBucket(cfg.rate_per_s, cfg.burst)
        failures = 0
        while True:
            job = lane.next()
            if job is None:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            if self._now_ms() - job.created_ms > cfg.max_age_s * 1000:
                lane.remove(job)
                self._outbox.expire(job.key, f"undelivered after {cfg.max_age_s:g} s")
                continue
            wait_s = bucket.acquire(self._clock())
            if wait_s > 0.0:
                await asyncio.sleep(wait_s)
                continue
            for old in lane.obsolete(job):
                self._outbox.expire(old.key, f"superseded by {job.alert_id}")
            lane.busy = job
            try:
                result = await self._attempt(lane, job)
            finally:
                lane.busy = None
            if result.ok:
                failures = 0
                lane.remove(job)
                if job.unknown and not result.late:
                    self.stats.possible_duplicates += 1
                    log.warning(
                        "%s delivered to %s after %d unanswered attempt(s): it may show twice",
                        job.alert_id,
                        dest.display,
                        job.unknown,
                    )
                self._outbox.delivered(job.key)
                self._watch_outbox()
                continue
            job.attempts += 1
            if result.unknown:
                job.unknown += 1
                self.stats.unknown += 1
            if result.permanent or (cfg.max_attempts and job.attempts >= cfg.max_attempts):
                log.error("giving up on %s for %s: %s", job.alert_id, dest.display, result.error)
                lane.remove(job)
                self._outbox.fail(job.key, result.error)
                self._watch_outbox()
                continue
            self._outbox.retry(job.key, result.error)
            self._watch_outbox()
            if result.retry_after_s is not None:
                delay = result.retry_after_s
            else:
                failures += 1
                delay = cfg.backoff.delay_s(failures)
            what = "outcome unknown" if result.unknown else "failed"
            log.warning(
                "delivery of %s to %s %s (%s); retrying in %.3g s",
                job.alert_id,
                dest.display,
                what,
                result.error,
                delay,
            )
            await asyncio.sleep(delay)

    @staticmethod
    async def _attempt(lane: _Lane, job: _Job) -> SendResult:
        try:
            return await lane.sender.send(job.message, key=job.alert_id)
        except Exception as exc:
            return SendResult.failed(scrub(f"{type(exc).__name__}: {exc}", lane.dest.secrets))


def outbox_alert(failing: str | None, now_ms: int) -> tuple[AlertIntent, RenderedAlert]:
    """The daemon-wide `ops` alert: the outbox cannot be written (`failing` names why), or
    (None) it can again. It has no account, so every destination hearing `ops` gets it."""
    topic = "failing" if failing is not None else "recovered"
    if failing is not None:
        summary = "alert outbox cannot be written"
        detail = (
            f"Writing the alert outbox failed: {failing}. Alerts are still delivered (from"
            " memory) and persisted once writing works again; a restart before then re-judges"
            " them. Free space in the state directory."
        )
    else:
        summary = "alert outbox writable again"
        detail = "Every alert held in memory has been persisted."
    tags = frozenset({TAG_OPS} if failing is not None else {TAG_OPS, TAG_INFO})
    intent = AlertIntent(
        alert_id=f"marginwatch/{AlertKind.OUTBOX}/-/{now_ms}/{topic}",
        account="",
        kind=AlertKind.OUTBOX,
        level=None,
        risk=None,
        t_ms=now_ms,
        tags=tags,
        topic=topic,
        detail=detail,
    )
    at = datetime.fromtimestamp(now_ms / 1000, UTC)
    head = f"OPS marginwatch: {summary}"
    footer = f"{at:%Y-%m-%d %H:%M:%S} UTC · alert {intent.alert_id}"
    message = RenderedAlert(
        subject=f"[OPS] marginwatch: {summary}",
        text=f"{head}\n{detail}\n{footer}",
        html=f"<b>{html.escape(head)}</b>\n{html.escape(detail)}\n{html.escape(footer)}",
        line=f"{at:%Y-%m-%dT%H:%M:%SZ} OPS marginwatch {summary}"
        + (f": {failing}" if failing else ""),
    )
    return intent, message
