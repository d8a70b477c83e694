"""Delivery for a finite run of alerts (`marginwatch replay --notify`), the daemon's way.

`BatchDelivery` builds its destinations and senders in `destinations` (like the daemon and
`test-alert`), opens a private outbox in a fresh temporary directory (under the configured
state directory when there is one: never the daemon's own outbox, whose alert ids a replay
would collide with) and runs the same `DeliveryWorker`. `send` persists one alert and waits
until every destination has settled it (delivered, or failed: `REPLAY_WORKER` makes one attempt),
so alerts go out once each and in order, at the worker's rate limit, and the command exits only
once delivery has finished. `close` stops the worker, removes the outbox and returns a
`BatchOutcome`: per destination that missed alerts, one line naming it by its redacted URL,
and whether a destination refused permanently (a bad token, an unknown chat: no retry can help).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from monitor.alerts.delivery import Destination
from monitor.alerts.destinations import SenderSettings, Target, build_destinations, sender_for
from monitor.alerts.levels import AlertIntent
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import State, private_dir
from monitor.alerts.sender import Sender, SendResult
from monitor.alerts.worker import DeliveryWorker, WorkerConfig

#: One attempt per alert and destination, as `replay --notify` always made: a replay checks the
#: destinations, it does not keep vigil over them (the rate limit is the daemon's).
REPLAY_WORKER = WorkerConfig(max_attempts=1)
OUTBOX_NAME = "replay-outbox.sqlite3"


class _Witness:
    """A destination's sender, remembering the last result (was a failure permanent?)."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self.last: SendResult | None = None

    async def send(self, message: RenderedAlert, *, key: str | None = None) -> SendResult:
        self.last = await self._sender.send(message, key=key)
        return self.last

    async def aclose(self) -> None:
        await self._sender.aclose()


@dataclass(slots=True)
class _Missed:
    """What one destination did not get."""

    count: int = 0
    error: str = ""
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a batch came to: one line per destination that missed alerts."""

    sent: int
    problems: list[str] = field(default_factory=list)
    #: A destination refused an alert for good (the command exits 2).
    permanent: bool = False


class BatchDelivery:
    """Sends alerts one at a time through a private outbox and the delivery worker (synchronous:
    for a command's loop). A bad URL raises ValueError (redacted) before anything is sent."""

    def __init__(
        self,
        targets: Sequence[Target],
        settings: SenderSettings | None = None,
        *,
        state_dir: Path | None = None,
    ) -> None:
        dests = build_destinations(targets)
        # No Ack / Snooze buttons: no daemon answers them for a replay's alerts.
        self._settings = replace(settings or SenderSettings(), telegram_buttons=False)
        worker_log = logging.getLogger("monitor.alerts.worker")
        if not logging.getLogger().handlers and not worker_log.handlers:
            worker_log.addHandler(logging.NullHandler())  # no logging set up: no stray stderr
        try:
            if state_dir is not None:
                private_dir(state_dir)
            self._dir = tempfile.TemporaryDirectory(prefix="marginwatch-replay-", dir=state_dir)
            self._outbox = Outbox(Path(self._dir.name) / OUTBOX_NAME)
        except (OSError, sqlite3.Error) as exc:
            where = state_dir if state_dir is not None else tempfile.gettempdir()
            raise ValueError(f"cannot make a delivery outbox in {where}: {exc}") from None
        self._loop = asyncio.new_event_loop()
        self._witnesses: dict[str, _Witness] = {}
        self._displays = {d.dest_id: d.display for d in dests}
        self._worker, self._task = self._loop.run_until_complete(self._start(dests))
        self.sent = 0
        self._missed: dict[str, _Missed] = {}

    async def _start(
        self, dests: list[Destination]
    ) -> tuple[DeliveryWorker, asyncio.Task[None]]:
        routes: list[tuple[Destination, Sender]] = []
        for dest in dests:
            witness = _Witness(sender_for(dest, self._settings))
            self._witnesses[dest.dest_id] = witness
            routes.append((dest, witness))
        worker = DeliveryWorker(self._outbox, routes, REPLAY_WORKER)
        return worker, asyncio.create_task(worker.run(), name="replay delivery")

    def send(self, intent: AlertIntent, message: RenderedAlert) -> None:
        """Persist `intent` and wait until every destination has delivered or given it up."""
        self.sent += 1
        if not self._worker.submit(intent, message):
            return  # already sent (a recording repeats an alert id)
        self._loop.run_until_complete(self._settled())
        for dest_id, (state, _, error) in self._outbox.deliveries(intent.alert_id).items():
            if state is not State.FAILED:
                continue
            missed = self._missed.setdefault(dest_id, _Missed())
            missed.count += 1
            missed.error = error
            last = self._witnesses[dest_id].last
            missed.permanent |= last is not None and last.permanent

    async def _settled(self) -> None:
        # The worker has no "idle" event; a 10 ms look at its queue while a CLI command waits.
        while self._worker.pending and not self._task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # the worker failed: say why

    def close(self) -> BatchOutcome:
        """Stop the worker, close the senders, remove the outbox; the outcome."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()
        self._outbox.close()
        self._dir.cleanup()
        problems = []
        for dest_id, missed in self._missed.items():
            display = self._displays[dest_id]
            if missed.permanent:
                problems.append(
                    f"{display} refused the alerts permanently ({missed.count} of {self.sent}"
                    f" not delivered): {missed.error}"
                )
            else:
                problems.append(
                    f"{missed.count} of {self.sent} alert(s) not delivered to {display}:"
                    f" {missed.error}"
                )
        permanent = any(m.permanent for m in self._missed.values())
        return BatchOutcome(self.sent, problems, permanent)
