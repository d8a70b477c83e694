"""The sender contract: one destination, one message in, a `SendResult` out."""

from __future__ import annotations

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

    @classmethod
    def delivered(cls) -> SendResult:
        return cls(True)

    @classmethod
    def failed(cls, error: str, *, permanent: bool = False) -> SendResult:
        return cls(False, error, permanent=permanent)


class Sender(Protocol):
    """Delivers rendered alerts to one destination."""

    async def send(self, message: RenderedAlert) -> SendResult: ...

    async def aclose(self) -> None: ...
