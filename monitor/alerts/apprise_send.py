"""Delivery through Apprise: its blocking `notify` runs in this destination's own thread.

Each destination owns a one-thread executor, so a slow SMTP server delays only its own
destination, never the event loop or other destinations; a send that outlives `timeout_s` is
reported as a failure (the thread finishes on its own; the next send queues behind it).
Apprise's verdict is a bool; the warnings it logs during the send (captured through a context
variable, scrubbed of secrets) become the error text.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar

import apprise

from monitor.alerts.messages import RenderedAlert
from monitor.alerts.redact import APPRISE_LOGGER, guard_apprise_logs, scrub
from monitor.alerts.sender import SendResult

#: Where the Apprise warnings of the current send go (Apprise copies the context into the
#: threads it dispatches to, so this follows the send wherever it runs).
_NOTES: ContextVar[list[str] | None] = ContextVar("apprise_send_notes", default=None)


class _NoteCapture(logging.Handler):
    """Appends Apprise warnings to the current send's notes."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        notes = _NOTES.get()
        if notes is not None:
            notes.append(record.getMessage())


_CAPTURE = _NoteCapture()


class AppriseSender:
    """Sends to one Apprise URL as title + plain text."""

    def __init__(self, url: str, secrets: frozenset[str], *, timeout_s: float = 30.0) -> None:
        self._url = url
        self._secrets = secrets
        self._timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apprise-send")
        guard_apprise_logs(secrets)
        log = logging.getLogger(APPRISE_LOGGER)
        if _CAPTURE not in log.handlers:
            log.addHandler(_CAPTURE)

    async def send(self, message: RenderedAlert) -> SendResult:
        loop = asyncio.get_running_loop()
        attempt = loop.run_in_executor(self._executor, self._notify, message)
        try:
            ok, notes = await asyncio.wait_for(attempt, self._timeout_s)
        except TimeoutError:
            return SendResult.failed(f"no answer within {self._timeout_s:g} s")
        if ok:
            return SendResult.delivered()
        return SendResult.failed(
            scrub("; ".join(notes) or "Apprise reported a failure", self._secrets)
        )

    def _notify(self, message: RenderedAlert) -> tuple[bool, list[str]]:
        notes: list[str] = []
        token = _NOTES.set(notes)
        try:
            # service_timeout=0 keeps the send in this thread (not Apprise's shared pool);
            # the timeout is ours.
            asset = apprise.AppriseAsset(async_mode=False, service_timeout=0)
            notifier = apprise.Apprise(asset=asset)
            if not notifier.add(self._url):
                return False, ["Apprise could not load this URL"]
            ok = notifier.notify(
                body=message.text, title=message.subject, body_format=apprise.NotifyFormat.TEXT
            )
            return bool(ok), notes
        except Exception as exc:
            return False, [*notes, f"{type(exc).__name__}: {exc}"]
        finally:
            _NOTES.reset(token)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
