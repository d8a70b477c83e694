"""PagerDuty Events API v2: incidents that open on an episode and resolve on its all-clear.

A `pagerduty://ROUTING_KEY` destination (an integration's routing key; no `@`: Apprise's own
`pagerduty://INTEGRATION@APIKEY` form still goes to Apprise, which cannot resolve per episode) is
sent here. Every alert of an episode is a `trigger` with `dedup_key` = the episode's incident key
(PagerDuty folds them into one incident); the all-clear is a `resolve` of that key, and sight
restored resolves the blind alert's incident. Alerts without an incident are triggered with
their alert id as key, except quiet ones (all clear / info without an incident: nothing to page).
The events URL is configurable (`[alerts] pagerduty_events_url`; tests use a loopback server).
Errors are scrubbed of the routing key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import aiohttp

from monitor.alerts.inflight import InFlight
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.sender import SendResult
from monitor.base.secrets import scrub

SCHEME = "pagerduty"
DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: Kinds whose message resolves the incident it carries.
RESOLVING_KINDS = frozenset({"all_clear", "restored"})
#: PagerDuty severity per alert urgency.
SEVERITY = {
    "emergency": "critical",
    "critical": "error",
    "warning": "warning",
    "success": "info",
    "info": "info",
}
_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def is_events_url(url: str) -> bool:
    """True for our `pagerduty://ROUTING_KEY` form (not Apprise's `…@APIKEY` one)."""
    scheme, sep, rest = url.partition("://")
    return bool(sep) and scheme.lower() == SCHEME and "@" not in rest


def routing_key(url: str) -> str:
    """The routing key of a `pagerduty://ROUTING_KEY` URL; ValueError when malformed."""
    key = unquote(url.partition("://")[2].partition("?")[0].strip("/"))
    if not _KEY.match(key):
        raise ValueError(
            "a PagerDuty Events URL is pagerduty://ROUTING_KEY (the integration's 32-character"
            " routing key)"
        )
    return key


def event(message: RenderedAlert, key: str, alert_id: str) -> dict[str, Any] | None:
    """The Events v2 body for one alert (pure); None when there is nothing to send."""
    resolve = message.kind in RESOLVING_KINDS
    dedup = message.incident or alert_id
    if resolve and not message.incident:
        return None
    if not message.incident and message.urgency in ("success", "info"):
        return None
    if resolve:
        return {"routing_key": key, "event_action": "resolve", "dedup_key": dedup}
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": message.subject[:1024],
            "source": f"marginwatch {message.account}".strip(),
            "severity": SEVERITY.get(message.urgency, "warning"),
            "component": message.account or "marginwatch",
            "class": message.kind or "alert",
            "custom_details": {"text": message.text[:8000]},
        },
    }


def interpret(status: int, body: Mapping[str, Any], secrets: frozenset[str]) -> SendResult:
    """A PagerDuty answer as a `SendResult` (pure): 202 accepted; 400 is permanent; 429 and
    5xx are retried."""
    if status in (200, 202):
        return SendResult.delivered()
    text = scrub(str(body.get("message") or body.get("errors") or "no description"), secrets)
    if status == 429:
        return SendResult(False, f"PagerDuty HTTP 429: {text}")
    return SendResult.failed(f"PagerDuty HTTP {status}: {text}", permanent=status in (400, 404))


class PagerDutySender:
    """Sends Events v2 to one routing key."""

    def __init__(
        self,
        key: str,
        secrets: frozenset[str],
        *,
        events_url: str = DEFAULT_EVENTS_URL,
        timeout_s: float = 60.0,
    ) -> None:
        self._key = key
        self._url = events_url
        self._secrets = secrets | {key}
        self._inflight = InFlight(timeout_s)
        self._timeout = aiohttp.ClientTimeout(total=self._inflight.hard_limit_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: RenderedAlert, *, key: str | None = None) -> SendResult:
        body = event(message, self._key, key or message.subject)
        if body is None:
            return SendResult.delivered()
        return await self._inflight.run(key, lambda: self._post(body))

    async def _post(self, body: dict[str, Any]) -> SendResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self._url, json=body) as resp:
                status = resp.status
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = None
        except TimeoutError:
            return SendResult.no_answer(f"no answer within {self._inflight.hard_limit_s:g} s")
        except aiohttp.ClientError as exc:
            error = f"PagerDuty unreachable: {type(exc).__name__}: {exc}"
            return SendResult.failed(scrub(error, self._secrets))
        return interpret(status, answer if isinstance(answer, Mapping) else {}, self._secrets)

    async def aclose(self) -> None:
        await self._inflight.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
