"""Delivery through Apprise: its blocking `notify` runs in this destination's own thread.

Each destination owns a one-thread executor, so a slow SMTP server delays only its own
destination, never the event loop or other destinations. Apprise's own socket timeouts (4 s by
default, below what real webhooks sometimes take) are lifted to the destination's hard limit;
`timeout_s` is ours: an attempt unanswered by then is reported *unknown* and keeps running, and
its late answer settles the retry (see `inflight`). Webhooks (`json://`, `xml://`, `form://`)
carry an `Idempotency-Key` header, the same for every attempt of one alert. Apprise's verdict
is a bool; the warnings it logs during the send (captured through a context variable, scrubbed
of secrets) become the error text.

Urgency (`urgency="auto"`, the default): each alert's urgency (`RenderedAlert.urgency`) picks
Apprise's notify type (emergency → failure, critical and warning → warning, all clear → success,
info → info; services colour or badge by it) and, for ntfy and Pushover, the `priority=` URL
parameter — unless the URL sets its own. `urgency="none"` sends everything as `info`, URL as is.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from urllib.parse import parse_qsl, urlsplit

import apprise

from monitor.alerts.incidents import with_incident
from monitor.alerts.inflight import InFlight
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.redact import APPRISE_LOGGER, guard_apprise_logs
from monitor.alerts.sender import SendResult, idempotency_key
from monitor.base.secrets import scrub

#: Where the Apprise warnings of the current send go (Apprise copies the context into the
#: threads it dispatches to, so this follows the send wherever it runs).
_NOTES: ContextVar[list[str] | None] = ContextVar("apprise_send_notes", default=None)
#: Apprise schemes whose plugin sends extra HTTP headers (the generic webhooks).
WEBHOOK_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
#: Default delivery timeout: above what real services take to answer.
DEFAULT_TIMEOUT_S = 60.0
#: Apprise notify type per urgency.
NOTIFY_TYPES = {
    "emergency": apprise.NotifyType.FAILURE,
    "critical": apprise.NotifyType.WARNING,
    "warning": apprise.NotifyType.WARNING,
    "success": apprise.NotifyType.SUCCESS,
    "info": apprise.NotifyType.INFO,
}
#: `priority=` per urgency for the services that have one (Apprise's own value names).
PRIORITIES = {
    "ntfy": {
        "emergency": "max",
        "critical": "high",
        "warning": "default",
        "success": "low",
        "info": "min",
    },
    "pover": {
        "emergency": "emergency",
        "critical": "high",
        "warning": "normal",
        "success": "moderate",
        "info": "low",
    },
}
PRIORITIES["ntfys"] = PRIORITIES["ntfy"]
URGENCY_MODES = ("auto", "none")


def with_urgency(url: str, urgency: str) -> tuple[str, apprise.NotifyType]:
    """(the URL to notify, the notify type) for one alert of this urgency (pure). A URL that
    sets its own `priority=` keeps it."""
    kind = NOTIFY_TYPES.get(urgency, apprise.NotifyType.WARNING)
    table = PRIORITIES.get(url.split("://", 1)[0].lower())
    if table is None or urgency not in table:
        return url, kind
    if any(k.lower() == "priority" for k, _ in parse_qsl(urlsplit(url).query)):
        return url, kind
    base, sep, fragment = url.partition("#")
    glue = "&" if "?" in base else "?"
    return f"{base}{glue}priority={table[urgency]}{sep}{fragment}", kind


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

    def __init__(
        self,
        url: str,
        secrets: frozenset[str],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        urgency: str = "auto",
    ) -> None:
        self._url = url
        self._urgency = urgency
        self._secrets = secrets
        self._inflight = InFlight(timeout_s)
        self._webhook = url.split("://", 1)[0].lower() in WEBHOOK_SCHEMES
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apprise-send")
        guard_apprise_logs(secrets)
        log = logging.getLogger(APPRISE_LOGGER)
        if _CAPTURE not in log.handlers:
            log.addHandler(_CAPTURE)

    async def send(self, message: RenderedAlert, *, key: str | None = None) -> SendResult:
        loop = asyncio.get_running_loop()

        async def attempt() -> SendResult:
            started = loop.time()
            ok, notes = await loop.run_in_executor(self._executor, self._notify, message, key)
            if ok:
                return SendResult.delivered()
            text = scrub("; ".join(notes) or "Apprise reported a failure", self._secrets)
            if loop.time() - started >= 0.9 * self._inflight.hard_limit_s:
                # Apprise's read timeout ended it (its warning does not say so): unknown.
                return SendResult.no_answer(f"no answer (hard limit): {text}")
            return SendResult.failed(text)

        return await self._inflight.run(key, attempt)

    def _notify(self, message: RenderedAlert, key: str | None) -> tuple[bool, list[str]]:
        notes: list[str] = []
        token = _NOTES.set(notes)
        try:
            # service_timeout=0 keeps the send in this thread (not Apprise's shared pool).
            asset = apprise.AppriseAsset(async_mode=False, service_timeout=0)
            notifier = apprise.Apprise(asset=asset)
            url, notify_type = with_incident(self._url, message.incident), apprise.NotifyType.INFO
            if self._urgency == "auto":
                url, notify_type = with_urgency(url, message.urgency)
            if not notifier.add(url):
                return False, ["Apprise could not load this URL"]
            limit = self._inflight.hard_limit_s
            for server in notifier:
                # Apprise gives up reading after 4 s and reports a failure, so a slow webhook
                # got the alert again on every retry: the attempt may take up to our limit.
                server.socket_read_timeout = limit
                headers = getattr(server, "headers", None)
                if self._webhook and key is not None and isinstance(headers, dict):
                    headers["Idempotency-Key"] = idempotency_key(key)
            ok = notifier.notify(
                body=message.text,
                title=message.subject,
                body_format=apprise.NotifyFormat.TEXT,
                notify_type=notify_type,
            )
            return bool(ok), notes
        except Exception as exc:
            return False, [*notes, f"{type(exc).__name__}: {exc}"]
        finally:
            _NOTES.reset(token)

    async def aclose(self) -> None:
        await self._inflight.aclose()
        self._executor.shutdown(wait=False, cancel_futures=True)
