"""`marginwatch test-alert`: send a test message to every destination and report each outcome.

Each destination gets one attempt (no outbox, no retries); the report names destinations by
their redacted URL only.
"""

from __future__ import annotations

import asyncio
import html
import socket
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TextIO

from monitor.alerts.delivery import Destination, destinations, sender_for
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.redact import redacted_url
from monitor.alerts.sender import SendResult
from monitor.alerts.telegram import DEFAULT_API_BASE


def probe_message(now: datetime | None = None) -> RenderedAlert:
    at = (now or datetime.now(UTC)).astimezone(UTC)
    host = socket.gethostname()
    text = (
        f"This is a test alert from marginwatch on {host} at {at:%Y-%m-%d %H:%M:%S} UTC.\n"
        "If you can read it, this destination works."
    )
    return RenderedAlert(
        subject=f"[TEST] marginwatch on {host}",
        text=text,
        html=f"<b>marginwatch test alert</b>\n{html.escape(text)}",
        line=f"{at:%Y-%m-%dT%H:%M:%SZ} TEST marginwatch test alert",
    )


async def _send_one(
    dest: Destination, message: RenderedAlert, api_base: str, timeout_s: float
) -> SendResult:
    sender = sender_for(dest, telegram_api_base=api_base, timeout_s=timeout_s)
    try:
        return await sender.send(message)
    finally:
        await sender.aclose()


async def _send_all(
    dests: Sequence[Destination], message: RenderedAlert, api_base: str, timeout_s: float
) -> list[SendResult]:
    return list(await asyncio.gather(*(_send_one(d, message, api_base, timeout_s) for d in dests)))


def run_test_alert(
    urls_with_tags: Iterable[tuple[str, Iterable[str]]],
    tag: str | None = None,
    *,
    telegram_api_base: str = DEFAULT_API_BASE,
    timeout_s: float = 30.0,
    out: TextIO | None = None,
) -> int:
    """Send a test alert to every destination (only those tagged `tag`, if given).

    Prints one line per destination; returns 0 when all succeeded, 1 when any failed or a URL
    is invalid, 2 when no destination matched.
    """
    stream = out or sys.stdout
    dests: list[Destination] = []
    status = 0
    for url, tags in urls_with_tags:
        tag_list = list(tags)
        if tag is not None and tag not in tag_list:
            continue
        try:
            dests.extend(destinations([(url, tag_list)]))
        except ValueError as exc:
            print(f"FAIL  {redacted_url(url)}: {exc}", file=stream)
            status = 1
    if not dests and not status:
        print(f"no destination{f' tagged {tag!r}' if tag else ''} to test", file=stream)
        return 2
    results = asyncio.run(_send_all(dests, probe_message(), telegram_api_base, timeout_s))
    for dest, result in zip(dests, results, strict=True):
        if result.ok:
            print(f"ok    {dest.display}", file=stream)
        else:
            print(f"FAIL  {dest.display}: {result.error}", file=stream)
            status = 1
    return status
