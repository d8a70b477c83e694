"""`marginwatch test-alert`: send a test message to every destination and report each outcome.

Each destination gets one attempt (no outbox, no retries), from the sender the daemon would use
(`destinations`: the same targets, options and settings, with a 30 s timeout); the report names
destinations by their redacted URL only. `--tag T` sends to exactly the destinations an alert
tagged T would reach: those tagged T, those whose category tags accept a T alert (`critical`
hears an `emergency` test) and untagged ones (they hear everything). A level tag sends the test
with that level's urgency (`[TEST EMERGENCY]`), so the phone rings as it will for the real thing.
"""

from __future__ import annotations

import asyncio
import html
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TextIO

from monitor.alerts.delivery import Destination
from monitor.alerts.destinations import SenderSettings, Target, build_destinations, sender_for
from monitor.alerts.levels import CATEGORY_TAGS, AlertIntent, AlertKind, Level, level_tags
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.redact import redacted_url
from monitor.alerts.sender import SendResult

#: How long `test-alert` waits for each destination's answer.
TEST_TIMEOUT_S = 30.0


def probe_message(now: datetime | None = None, tag: str | None = None) -> RenderedAlert:
    at = (now or datetime.now(UTC)).astimezone(UTC)
    host = socket.gethostname()
    levels = {str(level) for level in Level}
    label = f"TEST {tag.upper()}" if tag in levels else "TEST"
    text = (
        f"This is a test alert from marginwatch on {host} at {at:%Y-%m-%d %H:%M:%S} UTC.\n"
        "If you can read it, this destination works."
    )
    return RenderedAlert(
        subject=f"[{label}] marginwatch on {host}",
        text=text,
        html=f"<b>marginwatch test alert</b>\n{html.escape(text)}",
        line=f"{at:%Y-%m-%dT%H:%M:%SZ} TEST marginwatch test alert",
    )


def probe_intent(tag: str) -> AlertIntent:
    """An alert tagged `tag` as routing sees it: a level (with the levels below it), `ops` or
    `info`, else an account name or a custom tag (`digest`)."""
    if tag in {str(level) for level in Level}:
        tags, account = level_tags(Level(tag)), ""
    elif tag in CATEGORY_TAGS:
        tags, account = frozenset({tag}), ""
    else:
        tags, account = frozenset({tag}), tag
    return AlertIntent(
        alert_id=f"test/{tag}",
        account=account,
        kind=AlertKind.OUTBOX,
        level=None,
        risk=None,
        t_ms=0,
        tags=tags,
    )


def receives(dest: Destination, tag: str, digest_tag: str = "digest") -> bool:
    """Whether `dest` would receive an alert tagged `tag` (untagged: everything). A destination
    tagged only with the digest tag (and categories) hears the daily digest, nothing else."""
    if not dest.tags or tag in dest.tags:
        return True
    if tag == digest_tag or dest.tags - CATEGORY_TAGS == {digest_tag}:
        return False
    return dest.accepts(probe_intent(tag))


async def _send_one(
    dest: Destination, message: RenderedAlert, settings: SenderSettings
) -> SendResult:
    sender = sender_for(dest, settings)
    try:
        return await sender.send(message)
    finally:
        await sender.aclose()


async def _send_all(
    dests: Sequence[Destination], message: RenderedAlert, settings: SenderSettings
) -> list[SendResult]:
    return list(await asyncio.gather(*(_send_one(d, message, settings) for d in dests)))


def run_test_alert(
    targets: Iterable[Target],
    tag: str | None = None,
    *,
    settings: SenderSettings | None = None,
    out: TextIO | None = None,
    digest_tag: str = "digest",
) -> int:
    """Send a test alert to every destination (only those an alert tagged `tag` reaches), with
    `settings` (`destinations.settings_of`; a timeout of `TEST_TIMEOUT_S` unless it sets one).

    Prints which destinations are tested and why, then one line per outcome; returns 0 when
    all succeeded, 1 when any failed or a URL is invalid, 2 when no destination matched.
    """
    stream = out or sys.stdout
    settings = settings or SenderSettings()
    if settings.timeout_s is None:
        settings = replace(settings, timeout_s=TEST_TIMEOUT_S)
    dests: list[Destination] = []
    status = 0
    for target in targets:
        try:
            found = build_destinations([target])
        except ValueError as exc:
            print(f"FAIL  {redacted_url(target.url)}: {exc}", file=stream)
            status = 1
            continue
        dests.extend(d for d in found if tag is None or receives(d, tag, digest_tag))
    if not dests and not status:
        what = f" would receive an alert tagged {tag!r}" if tag else " configured"
        print(f"no destination{what}: nothing to test", file=stream)
        return 2
    if tag is not None:
        print(f"an alert tagged {tag!r} reaches {len(dests)} destination(s):", file=stream)
        for dest in dests:
            why = "untagged: hears everything" if not dest.tags else (
                "tags " + ", ".join(sorted(dest.tags))
            )
            print(f"      {dest.display} ({why})", file=stream)
    message = probe_message(tag=tag)
    results = asyncio.run(_send_all(dests, message, settings))
    for dest, result in zip(dests, results, strict=True):
        if result.ok:
            print(f"ok    {dest.display}", file=stream)
        else:
            print(f"FAIL  {dest.display}: {result.error}", file=stream)
            status = 1
    return status
