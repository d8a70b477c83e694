"""The daemon's logging: JSON lines or readable text, journald-aware, secrets always redacted.

Which format (`configure_logging(json=None)` chooses):
- the stream is journald's (`$JOURNAL_STREAM` names its device and inode, as systemd sets it for
  `StandardError=journal`): readable text without timestamps (journald adds its own), each line
  prefixed with its syslog priority (`<4>` for a warning) so `journalctl -p warning` works;
- the stream is a terminal: readable text with local timestamps;
- anything else (Docker, a pipe, a file): JSON lines `{"ts", "level", "logger", "msg", ...}`
  with the record's `extra` fields (e.g. `account`, `stream`) as keys and `exc` for a traceback.
`json=True` or `json=False` forces a format; under journald, JSON lines get the priority prefix
too (journald strips it).

Every line is scrubbed of the registered secrets and of their URL-encoded forms, in the message,
the extra fields and exception tracebacks alike. The registry is `monitor.base.secrets`
(re-exported here: `add_secret()`, `add_secrets()`, `registered_secrets()`, `redact()`): API
keys and secrets are registered at start, listenKeys as they are issued, and the HTTP server's
/status and the dashboard are scrubbed of the same set.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

# The registry lives in monitor.base.secrets; the daemon registers its secrets through here.
from monitor.base.secrets import add_secret as add_secret
from monitor.base.secrets import add_secrets as add_secrets
from monitor.base.secrets import redact as redact
from monitor.base.secrets import registered_secrets as registered_secrets

JOURNAL_STREAM = "JOURNAL_STREAM"
#: syslog priorities of the logging levels (journald reads a leading `<N>`).
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
#: Attributes every LogRecord has; the others come from `extra=`.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_CORE = ("ts", "level", "logger", "msg")

_installed: logging.Handler | None = None


# ---- formatters ---------------------------------------------------------------------------------


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ms), level, logger, msg, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in _extras(record).items():
            name = f"extra_{key}" if key in _CORE or key in ("exc", "stack") else key
            doc[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            doc["exc"] = redact(record.exc_text)
        if record.stack_info:
            doc["stack"] = redact(self.formatStack(record.stack_info))
        return redact(jsonlib.dumps(doc, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """`2026-01-02 03:04:05.678 WARNING monitor.x: message key=value` (timestamps optional)."""

    def __init__(self, *, timestamps: bool = True) -> None:
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s"
            if timestamps
            else "%(levelname)s %(name)s: %(message)s",
            datefmt="%Y-%m-%d %H:%M:%S",
        )

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)  # the cache other handlers may reuse
        extras = _extras(record)
        if extras:
            fields = " ".join(f"{k}={v}" for k, v in extras.items())
            head, sep, tail = text.partition("\n")
            text = f"{head} [{fields}]{sep}{tail}"
        return redact(text)


class JournalPrefix(logging.Formatter):
    """Wraps a formatter: every line gets the record's syslog priority `<N>` for journald."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))


def _priority(levelno: int) -> int:
    for threshold in sorted(_PRIORITY, reverse=True):
        if levelno >= threshold:
            return _PRIORITY[threshold]
    return _PRIORITY[logging.DEBUG]


# ---- setup --------------------------------------------------------------------------------------


def is_journal(stream: IO[str]) -> bool:
    """True when `stream` is the journald connection named by `$JOURNAL_STREAM`."""
    expected = os.environ.get(JOURNAL_STREAM, "")
    if not expected:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_formatter(stream: IO[str], json: bool | None = None) -> logging.Formatter:
    """The formatter `configure_logging` uses for `stream` (see the module docstring)."""
    journal = is_journal(stream)
    use_json = json if json is not None else not (journal or _is_tty(stream))
    inner = JsonFormatter() if use_json else TextFormatter(timestamps=not journal)
    return JournalPrefix(inner) if journal else inner


def configure_logging(
    level: str | int = "INFO",
    *,
    json: bool | None = None,
    stream: IO[str] | None = None,
    secrets: Iterable[str] = (),
) -> logging.Handler:
    """Send every log record to `stream` (default stderr) in the chosen format; returns the
    handler. Calling it again replaces the handler it installed before."""
    global _installed
    add_secrets(secrets)
    target = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(target)
    handler.setFormatter(make_formatter(target, json))
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    _installed = handler
    logging.captureWarnings(True)
    return handler
