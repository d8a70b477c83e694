"""Vocabulary of the websocket supervisor: its configuration, lifecycle events, counters, and
the helpers that turn URLs and close frames into text that is safe to log.

`StreamSupervisor` (in `stream`) owns one logical stream; what it tells its owner is defined
here: `Connected`, `Disconnected`, `WatchdogFired` and `Rotated` (frozen dataclasses, the
`Lifecycle` union), and the mutable `StreamStats` it keeps up to date. URLs of user-data
streams carry a listenKey (`/ws/<key>`, `?listenKey=<key>`, wire.md §3.2), so every URL that
reaches a log line, an event or the stats goes through `redact_url` first, error texts that
might quote a URL go through `scrub_url` (both in `monitor.base.secrets`), and `websockets`' own
logging goes through `ScrubbingLogger`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from monitor.base.secrets import scrub, url_secrets


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Timings and limits of one supervised stream (seconds unless named otherwise)."""

    #: Name used in logs, events and stats, e.g. "pm-main/market-um".
    name: str
    #: No data message for this long → `WatchdogFired` and a reconnect; None = never.
    #: Pings and pongs do not count as data.
    idle_timeout_s: float | None
    #: Proactive overlapping rotation before Binance's 24 h close (wire.md §6 item 7).
    max_age_s: float = 23 * 3600
    #: websockets keepalive: a ping every interval; no pong within the timeout closes.
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    #: The owner's `url()` (it may create a listenKey over REST); a hang is a failed attempt.
    url_timeout_s: float = 30.0
    #: TCP connect + opening handshake.
    open_timeout_s: float = 10.0
    #: Closing handshake before the TCP connection is aborted.
    close_timeout_s: float = 2.0
    #: Largest accepted message (websockets `max_size`); a bigger one closes the connection.
    #: Binance's largest stream frames (all-market arrays) are ~150 KB.
    max_frame_bytes: int = 2**20
    #: url() + opening of the new connection of a rotation, before giving up on this overlap.
    rotation_overlap_timeout_s: float = 10.0
    #: Once the new connection of a rotation is open, the old one keeps delivering until the
    #: new one has received its first message, or for at most this long (frames still in
    #: flight on the old connection are not lost).
    rotation_settle_s: float = 1.0
    #: A connection that stayed up this long resets the reconnect backoff ...
    stable_after_s: float = 30.0
    #: ... as does one that delivered data and stayed up this long.
    healthy_after_s: float = 5.0
    #: A stream that is quiet by nature (user data: nothing arrives until something happens).
    #: Its connection is healthy once accepted and up `healthy_after_s`, data or not: a server
    #: that refuses the listenKey closes at once, and waiting for data that may never come
    #: would let the backoff grow across every drop until the monitor goes blind for long.
    quiet: bool = False

    def __post_init__(self) -> None:
        positive = {
            "max_age_s": self.max_age_s,
            "ping_interval_s": self.ping_interval_s,
            "ping_timeout_s": self.ping_timeout_s,
            "url_timeout_s": self.url_timeout_s,
            "open_timeout_s": self.open_timeout_s,
            "close_timeout_s": self.close_timeout_s,
            "max_frame_bytes": self.max_frame_bytes,
            "rotation_overlap_timeout_s": self.rotation_overlap_timeout_s,
        }
        if self.idle_timeout_s is not None:
            positive["idle_timeout_s"] = self.idle_timeout_s
        bad = [name for name, value in positive.items() if not value > 0]
        if self.rotation_settle_s < 0 or self.stable_after_s < 0 or self.healthy_after_s < 0:
            bad.append("rotation_settle_s/stable_after_s/healthy_after_s")
        if bad:
            raise ValueError(f"stream {self.name!r}: must be positive: {', '.join(bad)}")


@dataclass(frozen=True, slots=True)
class Connected:
    """A connection is open; delivered before any of its frames.

    `after_gap`: an earlier connection of this stream was lost (not rotated), so messages may
    be missing and the owner should resync. `rotation`: this is the new connection of a
    planned overlapping rotation (never a gap)."""

    stream: str
    conn_id: int
    url_redacted: str
    after_gap: bool
    rotation: bool
    t_ms: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A connection ended, or an attempt to open one failed.

    `code` is the close code the server sent, None when it sent none (abnormal loss, ping
    timeout, a close this side initiated, a failed attempt)."""

    stream: str
    conn_id: int
    reason: str
    code: int | None
    t_ms: int


@dataclass(frozen=True, slots=True)
class WatchdogFired:
    """No data message for `idle_s` on the connection: it is closed and replaced (a gap)."""

    stream: str
    conn_id: int
    idle_s: float
    t_ms: int


@dataclass(frozen=True, slots=True)
class Rotated:
    """Delivery moved from `old_conn_id` to `new_conn_id` without a gap; the old is closing."""

    stream: str
    old_conn_id: int
    new_conn_id: int
    t_ms: int


Lifecycle: TypeAlias = Connected | Disconnected | WatchdogFired | Rotated


@dataclass(slots=True)
class StreamStats:
    """Counters of one supervised stream (read them; the supervisor writes them)."""

    #: Connections opened (first, reconnects and rotations alike).
    connects: int = 0
    #: Connections opened after a loss (`Connected.after_gap`).
    reconnects: int = 0
    rotations: int = 0
    watchdog_fires: int = 0
    #: Connections lost or attempts failed (each `Disconnected`).
    disconnects: int = 0
    #: Frames delivered to `on_frame`, and their size in bytes as received.
    frames: int = 0
    bytes: int = 0
    #: Frames of a shared connection that no account took (a stream or listenKey nobody on it
    #: holds any more, a frame naming none, an account between its key change and the
    #: reconnect that carries the new key): counted, then dropped (`feed/*_hub.py`).
    unrouted: int = 0
    #: Error counts by kind ("connect_network", "on_frame", "frame_too_big", ...).
    errors: dict[str, int] = field(default_factory=dict)
    last_frame_wall_ms: int | None = None
    #: When the stream last became connected after a loss (rotations keep it); None while down.
    connected_since_wall_ms: int | None = None
    #: The delivering connection; None while down.
    current_conn_id: int | None = None
    #: URL of the latest delivering connection, redacted.
    url_redacted: str | None = None

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


# ------------------------------------------------------------------------------ redaction
# URL redaction (`redact_url`, `url_secrets`, `scrub_url`) is monitor.base.secrets.


class ScrubbingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger for one connection's `websockets` internals whose lines never carry the
    URL's secrets (its DEBUG output quotes the request line, `GET /ws/<listenKey>`)."""

    def __init__(self, logger: logging.Logger, url: str) -> None:
        super().__init__(logger, {})
        self._secrets = url_secrets(url)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args}"
        text = scrub(text, self._secrets)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", text, **kwargs)


# --------------------------------------------------------------------------- close frames
@dataclass(frozen=True, slots=True)
class CloseInfo:
    """Why a connection ended, as the supervisor reports it."""

    reason: str
    #: Close code the server sent, if any.
    code: int | None
    #: Error kind for `StreamStats.errors`, None for a normal close by the server.
    error_kind: str | None


def close_code_name(code: int) -> str:
    """`1001` → "going away"; unknown codes → ""."""
    try:
        return CloseCode(code).name.lower().replace("_", " ")
    except ValueError:
        return ""


def describe_close(exc: ConnectionClosed, max_frame_bytes: int) -> CloseInfo:
    """Reason, server code and error kind of a connection that ended with `exc`."""
    rcvd, sent = exc.rcvd, exc.sent
    if rcvd is not None and (sent is None or exc.rcvd_then_sent):
        text = rcvd.reason or close_code_name(rcvd.code)
        reason = f"closed by server {rcvd.code} {text}".rstrip()
        clean = rcvd.code in (CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY)
        return CloseInfo(reason[:200], rcvd.code, None if clean else "server_close_error")
    if sent is not None:
        if sent.code == CloseCode.INTERNAL_ERROR and "ping timeout" in sent.reason:
            return CloseInfo("ping timeout", None, "ping_timeout")
        if sent.code == CloseCode.MESSAGE_TOO_BIG:
            return CloseInfo(
                f"frame too big (limit {max_frame_bytes} bytes)", None, "frame_too_big"
            )
        if sent.code == CloseCode.PROTOCOL_ERROR:
            return CloseInfo(f"protocol error: {sent.reason}"[:200], None, "protocol_error")
        text = sent.reason or close_code_name(sent.code)
        reason = f"closed by client {sent.code} {text}".rstrip()
        return CloseInfo(reason[:200], None, "client_close")
    cause = exc.__cause__
    detail = f": {type(cause).__name__}" if cause is not None else ""
    return CloseInfo(f"connection lost (no close frame){detail}", None, "abnormal_close")
