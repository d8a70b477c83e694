"""Notification URLs out of sight: their display form, their secret parts, Apprise's log records.

A destination's display form is Apprise's own privacy rendering of the URL (each plugin knows
which parts are secret), without the query string. Its secrets are the URL fragments that the
privacy rendering hides, plus any password; `monitor.base.secrets.scrub` replaces them in any
text (errors from aiohttp, smtplib or Apprise may quote a URL or a credential). The mask, the
registry and the masking itself are `monitor.base.secrets`; this module adds what only Apprise
knows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import apprise

from monitor.base.secrets import MASK, MIN_SECRET_LEN, scrub

_FRAGMENT_SPLIT = re.compile(r"[/:@?&=,#;]+")


def privacy_url(url: str) -> str | None:
    """Apprise's privacy rendering of `url`, or None when Apprise cannot load it."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return None
    return str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]  # Apprise: untyped


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "url"


def redacted_url(url: str) -> str:
    """A form of `url` safe to log: secrets masked, query dropped."""
    private = privacy_url(url)
    if private is not None:
        return private.split("?", 1)[0]
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        host, port = "", ""
    return f"{_scheme(url)}://{host}{port}/{MASK}"


def url_secrets(url: str) -> frozenset[str]:
    """The parts of notification URL `url` a log or error must never show (query keys are not
    secrets)."""
    rest = url.split("://", 1)[-1]
    base, _, query = rest.partition("?")
    private = privacy_url(url)
    shown = unquote(private.split("://", 1)[-1]) if private is not None else ""
    raws = _FRAGMENT_SPLIT.split(base) + [v for _, v in parse_qsl(query, keep_blank_values=True)]
    found: set[str] = set()
    for raw in raws:
        frag = unquote(raw)
        if len(frag) >= MIN_SECRET_LEN and frag not in shown:
            found.update({frag, raw, quote(frag, safe="")})
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found.update({password, unquote(password)})
    return frozenset(s for s in found if len(s) >= MIN_SECRET_LEN)


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from every record it sees."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def register(self, secrets: Iterable[str]) -> None:
        self._secrets.update(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            clean = scrub(message, self._secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


#: The name of Apprise's logger.
APPRISE_LOGGER = "apprise"
_APPRISE_SCRUBBER = ScrubFilter()


def guard_apprise_logs(secrets: Iterable[str]) -> None:
    """Scrub `secrets` from Apprise's log records (and from our captures of them)."""
    _APPRISE_SCRUBBER.register(secrets)
    log = logging.getLogger(APPRISE_LOGGER)
    if _APPRISE_SCRUBBER not in log.filters:
        log.addFilter(_APPRISE_SCRUBBER)
