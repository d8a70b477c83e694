"""Secrets out of sight, in one place: the mask, the process-wide registry, text and URL redaction.

Every secret that could reach a log line, an error text, `/status`, the dashboard or a recording
is replaced by the one `MASK`:
- `scrub(text, secrets)` masks given secrets (longest first); `secret_forms` is a value as it may
  appear in text (raw and URL-encoded).
- The registry: `add_secret`/`add_secrets` register a value (API keys and secrets at start,
  listenKeys as they are issued, notification URLs' secret parts), `registered_secrets()` hands
  out every registered form and `redact(text)` masks them all; the log formatters, the HTTP
  server and the dashboard read it.
- URLs: `redact_url` masks what a Binance or proxy URL holds in secret (a password, a listenKey as
  `/ws/<key>` or a long opaque path segment, the value of a `SECRET_PARAMS` query parameter),
  `url_secrets` lists those parts, and `scrub_url` masks a URL and its secrets in an error text.
- `redact_text` masks anything shaped like a listenKey in free text (a recording's notes).

Pure: no IO, nothing of ours imported. Notification URLs (whose secret parts only Apprise knows)
are handled on top of this in `monitor.alerts.redact`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

#: What replaces a secret, everywhere.
MASK = "****"
#: Values shorter than this are not treated as secrets (they would garble every message).
MIN_SECRET_LEN = 3
#: Query parameters whose value is a secret (compared case-insensitively).
SECRET_PARAMS = frozenset({"listenkey", "signature", "apikey", "api_key", "token", "key"})

_lock = threading.Lock()
_registered: frozenset[str] = frozenset()


# ---- masking given secrets ----------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `MASK`, longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def secret_forms(value: str) -> set[str]:
    """`value` as it may appear in text: raw, URL-encoded (path or form style)."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


# ---- the process-wide registry ------------------------------------------------------------------


def add_secret(value: str) -> None:
    """Never show `value` (nor its URL-encoded forms) again; too short values are ignored."""
    add_secrets([value])


def add_secrets(values: Iterable[str]) -> None:
    """`add_secret` for each of `values` (empty ones are skipped)."""
    global _registered
    forms: set[str] = set()
    for value in values:
        if value:
            forms |= secret_forms(value.strip())
    if forms - _registered:
        with _lock:  # copy on write: readers on other threads see an old or new set, never half
            _registered = _registered | forms


def registered_secrets() -> frozenset[str]:
    """Every registered secret form (for scrubbing other output, such as /status)."""
    return _registered


def redact(text: str) -> str:
    """`text` with every registered secret masked."""
    return scrub(text, _registered) if _registered else text


# ---- URLs ---------------------------------------------------------------------------------------

_QUERY_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#]+)=(?P<value>[^&;#]*)")
_USERINFO = re.compile(r"^(?P<lead>[A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*):(?P<pw>[^/@?#]*)@")
#: A path segment after `ws` that is a listenKey, not a stream name (stream names hold '@'
#: or start with '!').
_KEY_AFTER_WS = re.compile(r"[A-Za-z0-9%_-]+")
#: Anywhere in the path: a long opaque token (listenKeys are 60-64 alphanumerics).
_LONG_TOKEN = re.compile(r"[A-Za-z0-9%_-]{32,}")


def _split(url: str) -> tuple[str, str, str]:
    """(scheme://authority, path, ?query#fragment) without normalising anything."""
    match = re.match(r"^(?P<auth>[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?(?P<path>[^?#]*)", url)
    assert match is not None  # the pattern matches every string
    auth = match.group("auth") or ""
    path = match.group("path")
    return auth, path, url[len(auth) + len(path) :]


def _secret_segment(segments: list[str], i: int) -> bool:
    segment = segments[i]
    after_ws = i > 0 and segments[i - 1] == "ws" and _KEY_AFTER_WS.fullmatch(segment)
    return bool(segment) and bool(after_ws or _LONG_TOKEN.fullmatch(segment))


def _secret_param(match: re.Match[str]) -> bool:
    return unquote(match.group("name")).lower() in SECRET_PARAMS and bool(match.group("value"))


def url_secrets(url: str) -> list[str]:
    """The secret substrings of `url` (listenKeys, passwords, signatures), longest first."""
    found: set[str] = set()
    auth, path, rest = _split(url)
    userinfo = _USERINFO.match(auth)
    if userinfo and userinfo.group("pw"):
        found.add(userinfo.group("pw"))
    segments = path.split("/")
    found.update(segments[i] for i in range(len(segments)) if _secret_segment(segments, i))
    found.update(m.group("value") for m in _QUERY_PARAM.finditer(rest) if _secret_param(m))
    for secret in list(found):
        found.add(unquote(secret))
    return sorted((s for s in found if s), key=len, reverse=True)


def redact_url(url: str) -> str:
    """`url` with listenKeys (path `/ws/<key>` or `listenKey=`), signatures, API keys and
    passwords replaced by `MASK`; stream names, hosts and other parameters are kept."""
    auth, path, rest = _split(url)
    auth = _USERINFO.sub(lambda m: f"{m.group('lead')}:{MASK}@", auth)
    segments = path.split("/")
    for i in range(len(segments)):
        if _secret_segment(segments, i):
            segments[i] = MASK

    def _param(match: re.Match[str]) -> str:
        if _secret_param(match):
            return f"{match.group('lead')}{match.group('name')}={MASK}"
        return match.group(0)

    return auth + "/".join(segments) + _QUERY_PARAM.sub(_param, rest)


def scrub_url(text: str, url: str | None, limit: int = 300) -> str:
    """`text` (e.g. an exception message) with `url` and its secrets masked, shortened."""
    if url:
        text = text.replace(url, redact_url(url))
        for secret in url_secrets(url):
            text = text.replace(secret, MASK)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- free text ----------------------------------------------------------------------------------

#: A listenKey in free text: `listenKey=...`, a `/ws/<key>` path, or a bare 60+ character
#: alphanumeric token (Binance keys are 64 characters long).
_KEY_TEXT = re.compile(r"(?<=listenKey=)[^&\s\"']+|(?<=/ws/)[A-Za-z0-9]{20,}|[A-Za-z0-9]{60,}")


def redact_text(text: str) -> str:
    """`text` (free text, such as a recording's note) with anything shaped like a listenKey
    masked."""
    return _KEY_TEXT.sub(MASK, text)
