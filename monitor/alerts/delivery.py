"""Destinations: Apprise URLs (or an Apprise YAML/text config file) with routing tags.

What a destination is and which alerts it hears; the senders that serve destinations are
built in `destinations` (the one place for the daemon, `test-alert` and `replay --notify`).

Routing: a destination's tags split into category tags (`warning`, `critical`, `emergency`,
`ops`, `info`) and account tags (any other tag). It receives an alert when it has no category
tag or shares one with the alert, and has no account tag or names the alert's account. Level
tags are cumulative on the alert side, so `critical` hears critical and emergency alerts.

A `tgram://` URL with several chats becomes one destination per chat (Telegram rate-limits per
chat); `tgram://` is sent by `telegram.TelegramSender`, every other scheme by Apprise. Each
destination has its own delivery timeout (`timeout_s`, default 60 s: above what real services
take); an attempt unanswered by then has an unknown outcome (see `inflight`).

The daily digest goes only to destinations carrying its tag (`[heartbeat] digest_tag`). Each
destination's `urgency` ("auto" or "none") says whether senders map the alert's urgency to the
service's notify type and priority (see `apprise_send`, `telegram`).

Escalations (an emergency nobody acknowledged) go only to destinations tagged `escalation`
(account tags still apply). `pagerduty://ROUTING_KEY` destinations are sent by our own Events v2
sender (`pagerduty`: incidents keyed per episode, resolved on the all-clear).

Daemon-wide alerts (the outbox failing) have no account (`account == ""`): every destination
whose category tags accept them hears them, whatever its account tags.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import apprise

from monitor.alerts.apprise_send import DEFAULT_TIMEOUT_S, URGENCY_MODES
from monitor.alerts.levels import CATEGORY_TAGS, TAG_ESCALATION, AlertIntent, AlertKind
from monitor.alerts.pagerduty import is_events_url, routing_key
from monitor.alerts.redact import privacy_url, redacted_url, url_secrets
from monitor.alerts.telegram import SCHEMES, parse_tgram


@dataclass(frozen=True, slots=True)
class Destination:
    """One place alerts go. `url` and `secrets` never appear in its repr."""

    url: str = field(repr=False)
    tags: frozenset[str]
    dest_id: str  # stable across restarts: the outbox keys deliveries by it
    display: str  # the redacted URL, safe to log
    secrets: frozenset[str] = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S  # an attempt unanswered by then is "unknown"
    urgency: str = "auto"  # "auto": notify type and priority follow the alert; "none": plain

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def is_telegram(self) -> bool:
        return self.scheme in SCHEMES

    def accepts(self, intent: AlertIntent) -> bool:
        if intent.kind is AlertKind.DIGEST:  # only where its tag asks for it
            return bool(self.tags & intent.tags)
        if intent.kind is AlertKind.ESCALATION and TAG_ESCALATION not in self.tags:
            return False
        categories = self.tags & CATEGORY_TAGS
        accounts = self.tags - CATEGORY_TAGS
        if categories and not categories & intent.tags:
            return False
        return not accounts or not intent.account or intent.account in accounts


def destination(
    url: str,
    tags: Iterable[str] = (),
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    urgency: str = "auto",
) -> Destination:
    """Validate one URL (Apprise must be able to load it) and describe it."""
    url = url.strip()
    if not timeout_s > 0.0:
        raise ValueError("a delivery timeout must be > 0")
    if urgency not in URGENCY_MODES:
        raise ValueError(f"urgency must be one of {', '.join(URGENCY_MODES)}")
    if is_events_url(url):
        key = routing_key(url)
        return Destination(
            url=url,
            tags=frozenset(str(t).strip() for t in tags if str(t).strip()),
            dest_id=hashlib.sha256(url.encode()).hexdigest()[:16],
            display="pagerduty://***",
            secrets=url_secrets(url) | {key},
            timeout_s=timeout_s,
            urgency=urgency,
        )
    if privacy_url(url) is None:
        raise ValueError(f"not a valid Apprise URL: {redacted_url(url)}")
    return Destination(
        url=url,
        tags=frozenset(str(t).strip() for t in tags if str(t).strip()),
        dest_id=hashlib.sha256(url.encode()).hexdigest()[:16],
        display=redacted_url(url),
        secrets=url_secrets(url),
        timeout_s=timeout_s,
        urgency=urgency,
    )


def _expand(url: str) -> list[str]:
    """One URL per Telegram chat; other URLs unchanged."""
    if url.split("://", 1)[0].lower() not in SCHEMES:
        return [url]
    token, chats = parse_tgram(url)
    return [f"tgram://{token}/{chat}" for chat in chats]


@contextmanager
def _apprise_silenced() -> Iterator[None]:
    """Apprise logs what it drops while parsing a URL ("Dropped invalid To email (pw@host)"),
    pieces of the secret included, and config loading runs before our redacting log handler
    exists; a bad URL is reported by our own (redacted) ValueError instead."""
    logger = logging.getLogger("apprise")
    previous, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = previous


def destinations(
    urls_with_tags: Iterable[tuple[str, Iterable[str]]],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    urgency: str = "auto",
) -> list[Destination]:
    """Destinations from (URL, tags) pairs; raises ValueError (redacted) on a bad URL."""
    out: list[Destination] = []
    with _apprise_silenced():
        for url, tags in urls_with_tags:
            tag_set = frozenset(tags)
            out.extend(
                destination(u, tag_set, timeout_s=timeout_s, urgency=urgency)
                for u in _expand(url)
            )
    return out


def destinations_from_config(path: str | Path) -> list[Destination]:
    """Destinations from an Apprise configuration file (YAML or text), tags included."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"Apprise configuration {file} not found")
    config = apprise.AppriseConfig()
    config.add(str(file))
    services = config.services()
    if not services:
        raise ValueError(f"Apprise configuration {path} defines no valid URL")
    pairs = [
        (str(s.url()), [str(t) for t in s.tags])  # type: ignore[no-untyped-call]  # untyped
        for s in services
    ]
    return destinations(pairs)


def routes(dests: Sequence[Destination], intent: AlertIntent) -> list[Destination]:
    """The destinations that should receive `intent`."""
    return [d for d in dests if d.accepts(intent)]

