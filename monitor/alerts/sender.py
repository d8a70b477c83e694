"""The sender contract: one destination, one message in, a `SendResult` out.

An attempt ends delivered, failed (`permanent` when no retry can help) or *unknown*: the
destination did not answer within its timeout, so it may or may not show the alert. An unknown
attempt is retried with the same alert id and idempotency key; a sender that still hears the
late answer of that attempt reports it (`late`) instead of sending the alert again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from monitor.alerts.messages import RenderedAlert


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a send attempt came to. `error` is already scrubbed of secrets."""

    ok: bool
    error: str = ""
    retry_after_s: float | None = None  # the destination asked us to wait this long
    permanent: bool = False  # retrying cannot help (bad token, unknown chat)
    unknown: bool = False  # no answer in time: the destination may have the alert already
    late: bool = False  # delivered: the late answer of an earlier, unanswered attempt

    @classmethod
    def delivered(cls, *, late: bool = False) -> SendResult:
        return cls(True, late=late)

    @classmethod
    def failed(cls, error: str, *, permanent: bool = False) -> SendResult:
        return cls(False, error, permanent=permanent)

    @classmethod
    def no_answer(cls, error: str) -> SendResult:
        """The outcome is unknown (a timeout): retry, but expect a possible duplicate."""
        return cls(False, error, unknown=True)


def idempotency_key(alert_id: str) -> str:
    """The `Idempotency-Key` a destination sees for every attempt of one alert."""
    return "mw-" + hashlib.sha256(alert_id.encode()).hexdigest()[:32]


class Sender(Protocol):
    """Delivers rendered alerts to one destination; `key` (the alert id) is the same for every
    attempt of one alert."""

    async def send(self, message: RenderedAlert, *, key: str | None = None) -> SendResult: ...

    async def aclose(self) -> None: ...
