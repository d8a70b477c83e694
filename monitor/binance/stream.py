"""One supervised websocket stream (a market combined stream or a user-data stream) that runs
for months: unbounded reconnects, a data watchdog, and gap-free planned rotation.

Built on `websockets` directly rather than python-binance's sockets, which give up after five
reconnects, only log a silent stream, die on queue overflow and never signal a gap (wire.md
§5.3, §6). The owner (the live feed) decides the URL (`url()` is awaited before every attempt,
so a listenKey can be created or refreshed there) and what to do about lifecycle events, e.g. a
REST resync after `Connected(after_gap=True)`.

Policy:
- Frames: `on_frame(text, recv_wall_ms)` is called synchronously, in order, for every text
  or binary message (binary is decoded as UTF-8; invalid UTF-8 is counted and skipped). Its
  exceptions are logged (rate-limited) and counted; they never end the stream. Frames that
  arrive before the connection's `Connected` event has been handled are buffered, so the
  owner sees `Connected` before any frame of that connection (so `on_lifecycle` should
  return promptly: start a resync, do not wait for it).
- Loss: after any loss (server close, even 1000/1001; abnormal close; ping timeout; watchdog;
  failed attempt: url() raising, refused, HTTP error, open timeout) the supervisor sleeps
  `backoff.next_delay()` and tries again, forever. The backoff is reset once a connection has
  delivered data and stayed up for `healthy_after_s`, or stayed up for `stable_after_s` (time,
  not first message alone: a server that accepts, sends one error and closes must not be
  hammered at the base delay; but a stream that was delivering is healthy, and its next loss
  must not wait out a long delay blind). A `quiet` stream (user data) needs no data for that:
  staying up `healthy_after_s` is enough. `reconnect()` reconnects at once.
- Watchdog: no data message for `idle_timeout_s` → `WatchdogFired`, close, reconnect (a gap).
- Rotation: at `max_age_s` (or on `rotate()`) a new connection is opened while the old keeps
  delivering. Once the new one is open, the old keeps delivering until the new one has
  received its first message (at most `rotation_settle_s`, so frames in flight on the old one
  are not lost); then `Connected(rotation=True)` is delivered, delivery moves to the new
  connection for good (its buffered frames first; old frames are dropped from then on, never
  interleaved), the old connection is closed and `Rotated` is emitted. A new connection that
  is lost or abandoned before that was never announced: no event, only a log line, a count
  and a retry. The overlap may repeat a few messages; owners order by event time anyway
  (wire.md §6 item 4). If the new connection is not open within `rotation_overlap_timeout_s`,
  the old one is kept and rotation is retried with backoff; if the old one dies before the
  new one is open, that is an ordinary gap.
- Secrets: URLs are shown only through `redact_url`; error texts are scrubbed of the URL, and
  so are the `websockets` library's own log lines for the connection.
- Logging: logger `monitor.binance.stream`, one line per lifecycle change, never per frame.

Every connection is bound to the process's `[network] source_address` when one is set, and
every attempt first takes its turn in the process's connection-attempt budget (Binance: 300 per
5 minutes per IP; `egress.py`, `budget.py`), so mass reconnects after an outage are paced.

Subscriptions sent with `send()` are not replayed on a new connection: put streams in the URL,
or re-send them on `Connected`.

Why one file above ~500 lines: it is one state machine over one websocket (open, settle,
rotate without a gap, watchdog, back off, stats), and its invariant — never a gap a caller does
not hear about — is reviewable only with every transition in view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from monitor.base.backoff import Backoff
from monitor.base.clock import wall_ms
from monitor.base.secrets import redact_url, scrub_url
from monitor.binance import egress
from monitor.binance.stream_events import (
    CloseInfo,
    Connected,
    Disconnected,
    Lifecycle,
    Rotated,
    ScrubbingLogger,
    StreamConfig,
    StreamStats,
    WatchdogFired,
    describe_close,
)

__all__ = [
    "Connected",
    "Disconnected",
    "Lifecycle",
    "Rotated",
    "StreamConfig",
    "StreamStats",
    "StreamSupervisor",
    "WatchdogFired",
    "redact_url",
]

log = logging.getLogger("monitor.binance.stream")
#: The `websockets` client's own logger, wrapped per connection to scrub listenKeys.
_WS_LOG = logging.getLogger("websockets.client")

_T = TypeVar("_T")

#: At most one log line per connection and this many seconds for a raising `on_frame`.
_FRAME_ERROR_LOG_INTERVAL_S = 60.0
#: How much longer than `close_timeout_s` `stop()` waits before cancelling `run()`.
_STOP_GRACE_S = 0.5


class _Stopped(Exception):
    """`stop()` was called while the supervisor was waiting."""


class _DialError(Exception):
    """An attempt to open a connection failed (reason is already safe to log)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class _State(Enum):
    PENDING = "pending"  # open, frames buffered until it is announced and switched to
    ACTIVE = "active"  # frames delivered to on_frame
    RETIRED = "retired"  # replaced or lost: frames dropped


@dataclass(eq=False, slots=True)
class _Conn:
    conn_id: int
    ws: ClientConnection
    url_redacted: str
    opened_mono: float
    opened_wall_ms: int
    last_data_mono: float
    state: _State = _State.PENDING
    buffer: deque[tuple[str, int, int]] = field(default_factory=deque)
    got_frame: bool = False
    stable: bool = False
    closing: bool = False
    #: Set by the reader when the connection ended.
    ended: CloseInfo | None = None
    frame_errors: int = 0
    frame_error_logged_mono: float | None = None


@dataclass(eq=False, slots=True)
class _Attempt:
    """A rotation's new connection being opened."""

    conn_id: int
    reason: str
    task: asyncio.Task[None] | None = None
    conn: _Conn | None = None


def _connect_failure(exc: BaseException, url: str, open_timeout_s: float) -> tuple[str, str]:
    """(reason, error kind) of a failed `connect()`, scrubbed of the URL's secrets."""
    if isinstance(exc, TimeoutError):
        return f"open timeout after {open_timeout_s:g} s", "connect_timeout"
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}", "connect_http"
    if isinstance(exc, InvalidURI):
        return "invalid URI", "connect_url"
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
        return scrub_url(f"{type(exc).__name__}: {detail}", url), "connect_network"
    if isinstance(exc, InvalidHandshake):
        return scrub_url(f"handshake: {exc}", url), "connect_handshake"
    return scrub_url(f"{type(exc).__name__}: {exc}", url), "connect_other"


class StreamSupervisor:
    """Keeps one logical websocket stream connected until `stop()` (see the module doc)."""

    def __init__(
        self,
        config: StreamConfig,
        url: Callable[[], Awaitable[str]],
        on_frame: Callable[[str, int], None],
        on_lifecycle: Callable[[Lifecycle], Awaitable[None]],
        *,
        backoff: Backoff | None = None,
        wall_ms: Callable[[], int] = wall_ms,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.stats = StreamStats()
        self._url = url
        self._on_frame = on_frame
        self._on_lifecycle = on_lifecycle
        self._backoff = backoff if backoff is not None else Backoff()
        b = self._backoff
        # Rotation retries have their own count: a failed overlap is not a lost stream.
        self._rotation_backoff = Backoff(base_s=b.base_s, factor=b.factor, cap_s=b.cap_s, rng=b.rng)
        self._wall_ms = wall_ms
        self._mono = monotonic
        self._sleep = sleep

        self._next_id = 0
        self._active: _Conn | None = None
        self._pending: _Conn | None = None
        self._attempt: _Attempt | None = None
        self._rot_due: float | None = None
        self._rot_reason = "max age"
        self._settle_deadline = 0.0
        self._rotate_request: str | None = None
        self._reconnect_request: str | None = None
        self._retry_now = asyncio.Event()  # reconnect() while waiting out a backoff delay

        self._stopping = False
        self._stop_evt = asyncio.Event()
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._run_task: asyncio.Task[Any] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._readers: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------------- public API
    @property
    def connected(self) -> bool:
        """A connection is open and delivering."""
        conn = self._active
        return conn is not None and conn.ended is None and not self._stopping

    async def run(self) -> None:
        """Run until `stop()`. Errors are logged, counted and retried; it never gives up.

        A supervisor runs once: after `stop()`, `run()` returns at once."""
        if self._run_task is not None:
            raise RuntimeError(f"stream {self.config.name}: run() is already running")
        self._run_task = asyncio.current_task()
        self._done.clear()
        try:
            if not self._stopping:
                await self._main()
        finally:
            try:
                await self._shutdown()
            finally:
                self._run_task = None
                self._done.set()

    async def stop(self) -> None:
        """Close the connection(s) cleanly and end `run()`; returns within about
        `close_timeout_s` (if the owner's `on_lifecycle` blocks longer, `run()` is cancelled)."""
        self._stopping = True
        self._stop_evt.set()
        self._wake.set()
        task = self._run_task
        if task is None or task is asyncio.current_task():
            return
        try:
            await asyncio.wait_for(self._done.wait(), self.config.close_timeout_s + _STOP_GRACE_S)
        except TimeoutError:
            log.warning(
                "%s: run() did not end in time after stop(); cancelling it", self.config.name
            )
            task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), _STOP_GRACE_S)

    async def send(self, text: str) -> bool:
        """Send a control message (SUBSCRIBE, ...) on the current connection.

        False if there is none or it closed meanwhile."""
        conn = self._active
        if conn is None or conn.state is not _State.ACTIVE or self._stopping:
            return False
        try:
            await conn.ws.send(text)
        except ConnectionClosed:
            return False
        except Exception as exc:
            self.stats.count_error("send")
            log.warning(
                "%s: send on #%d failed: %s", self.config.name, conn.conn_id, type(exc).__name__
            )
            return False
        return True

    def reconnect(self, reason: str) -> None:
        """Replace the connection now with a fresh one (new URL from `url()`); a gap.

        While no connection is open, a pending backoff delay is cut short: the owner has a reason
        to expect the next attempt to succeed (a new listenKey), and every second of waiting is
        a second blind. The backoff starts over too: the failures so far (a dead listenKey
        refused, again and again) say nothing about the new URL. Without that, a storm of
        refusals left the next ordinary drop waiting out a 15-30 s delay (the hour-long soak)."""
        self._backoff.reset()
        self._reconnect_request = reason
        self._wake.set()
        self._retry_now.set()

    def rotate(self, reason: str = "manual") -> None:
        """Start a planned overlapping rotation now (ignored if one is in progress)."""
        self._rotate_request = reason
        self._wake.set()

    # ------------------------------------------------------------------------- main loop
    async def _main(self) -> None:
        had_connection = False
        while not self._stopping:
            try:
                conn = await self._open()
                if conn is None:
                    await self._pause()
                    continue
                await self._announce(conn, after_gap=had_connection, rotation=False)
                had_connection = True
                self._activate(conn, continuous=False)
                if not await self._supervise():
                    await self._pause()
            except _Stopped:
                return
            except Exception:
                # A bug here must not end the stream: drop everything and start over.
                self.stats.count_error("internal")
                log.exception("%s: supervisor error; reconnecting", self.config.name)
                self._drop_all()
                try:
                    await self._pause()
                except _Stopped:
                    return

    async def _pause(self) -> None:
        """The backoff delay before the next attempt, or less if `reconnect()` is called."""
        if self._retry_now.is_set():  # asked for since the loss: try at once, count nothing
            self._retry_now.clear()
            return
        delay = self._backoff.next_delay()
        log.debug("%s: next attempt in %.2f s", self.config.name, delay)
        sleeper = asyncio.ensure_future(self._sleep(delay))
        retry = asyncio.ensure_future(self._retry_now.wait())
        try:
            await self._until_stopped(
                asyncio.wait((sleeper, retry), return_when=asyncio.FIRST_COMPLETED)
            )
        finally:
            for task in (sleeper, retry):
                if not task.done():
                    task.cancel()
                    self._reap(task)
        self._retry_now.clear()

    async def _supervise(self) -> bool:  # noqa: C901 - the supervisor's state machine (open, settle, rotate, watchdog, back off) reads best in one loop
        """Watch the active connection until it is lost; True = reconnect without delay."""
        cfg = self.config
        while True:
            self._wake.clear()
            active = self._active
            assert active is not None
            now = self._mono()
            if self._stopping:
                raise _Stopped
            if self._reconnect_request is not None:
                reason = f"reconnect requested: {self._reconnect_request}"
                self._reconnect_request = None
                self._cancel_rotation(reason)
                await self._lose(active, CloseInfo(reason, None, None), close=True)
                return True
            if active.ended is not None:
                pending = self._pending
                if pending is not None and pending.ended is None:
                    # The new connection was open before: nothing sent since is missing.
                    log.info(
                        "%s: #%d ended during rotation (%s); switching to #%d now",
                        cfg.name,
                        active.conn_id,
                        active.ended.reason,
                        pending.conn_id,
                    )
                    await self._complete_rotation()
                    continue
                self._cancel_rotation("the connection it was to replace was lost")
                await self._lose(active, active.ended, close=False)
                return False
            pending = self._pending
            if pending is not None and pending.ended is not None:
                self._pending = None
                pending.state = _State.RETIRED
                if pending.ended.error_kind is not None:
                    self.stats.count_error(pending.ended.error_kind)
                self._rotation_failed(now, f"#{pending.conn_id} ended: {pending.ended.reason}")
                continue
            attempt = self._attempt
            if attempt is not None and attempt.task is not None and attempt.task.done():
                self._attempt = None
                if attempt.conn is None:
                    self._rotation_failed(now, self._attempt_failure(attempt))
                    continue
                self._pending = attempt.conn
                self._settle_deadline = now + cfg.rotation_settle_s
                log.debug("%s: #%d open; settling", cfg.name, attempt.conn.conn_id)
                continue
            if pending is not None and (pending.got_frame or now >= self._settle_deadline):
                await self._complete_rotation()
                continue

            deadlines: list[float] = []
            if pending is not None:
                deadlines.append(self._settle_deadline)
            if cfg.idle_timeout_s is not None:
                idle_s = now - active.last_data_mono
                if idle_s >= cfg.idle_timeout_s:
                    await self._watchdog(active, idle_s)
                    return False
                deadlines.append(active.last_data_mono + cfg.idle_timeout_s)
            if not active.stable:
                up_s = now - active.opened_mono
                if up_s >= cfg.stable_after_s or (
                    (active.got_frame or cfg.quiet) and up_s >= cfg.healthy_after_s
                ):
                    active.stable = True
                    self._backoff.reset()
                else:
                    ahead = [t for t in (cfg.healthy_after_s, cfg.stable_after_s) if t > up_s]
                    deadlines.append(active.opened_mono + min(ahead))
            rotating = self._attempt is not None or self._pending is not None
            if self._rotate_request is not None:
                if rotating:
                    log.debug("%s: rotation already in progress", cfg.name)
                else:
                    self._rot_due, self._rot_reason = now, self._rotate_request
                self._rotate_request = None
            if not rotating and self._rot_due is not None:
                if now >= self._rot_due:
                    self._start_rotation()
                    continue
                deadlines.append(self._rot_due)

            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _watchdog(self, active: _Conn, idle_s: float) -> None:
        self.stats.watchdog_fires += 1
        log.warning(
            "%s: watchdog: no data on #%d for %.1f s", self.config.name, active.conn_id, idle_s
        )
        await self._emit(
            WatchdogFired(self.config.name, active.conn_id, round(idle_s, 3), self._wall_ms())
        )
        reason = f"watchdog: no data for {idle_s:.1f} s"
        self._cancel_rotation(reason)
        await self._lose(active, CloseInfo(reason, None, None), close=True)

    # --------------------------------------------------------------------- connections
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _open(self) -> _Conn | None:
        """One attempt at the main connection; on failure `Disconnected` and None."""
        # A fresh attempt fetches a fresh URL and starts a fresh connection anyway.
        self._reconnect_request = None
        self._rotate_request = None
        self._retry_now.clear()
        conn_id = self._new_id()
        try:
            return await self._dial(conn_id)
        except _DialError as err:
            self.stats.count_error(err.kind)
            self.stats.disconnects += 1
            log.warning("%s: attempt #%d failed: %s", self.config.name, conn_id, err.reason)
            await self._emit(
                Disconnected(self.config.name, conn_id, err.reason, None, self._wall_ms())
            )
            return None

    async def _dial(self, conn_id: int) -> _Conn:
        """url() + connect; the connection's reader runs and buffers until it is activated."""
        cfg = self.config
        try:
            url = await self._until_stopped(asyncio.wait_for(self._url(), cfg.url_timeout_s))
        except _Stopped:
            raise
        except TimeoutError:
            raise _DialError(f"url() timed out after {cfg.url_timeout_s:g} s", "url") from None
        except Exception as exc:
            raise _DialError(f"url() failed: {type(exc).__name__}: {exc}"[:300], "url") from None
        if not isinstance(url, str):
            raise _DialError(f"url() returned {type(url).__name__}, not str", "url")

        attempts = egress.current().attempts  # the address's connection-attempt budget
        attempt = None if attempts is None else await self._until_stopped(attempts.acquire())
        if attempt is not None and attempt.waited_s > 0:
            log.info("%s: waited %.1f s for the connection-attempt budget", cfg.name,
                     attempt.waited_s)
        local = egress.local_addr()  # `[network] source_address`, if any
        bind: dict[str, Any] = {} if local is None else {"local_addr": local}

        async def _connect() -> ClientConnection:
            return await connect(
                url,
                open_timeout=cfg.open_timeout_s,
                ping_interval=cfg.ping_interval_s,
                ping_timeout=cfg.ping_timeout_s,
                close_timeout=cfg.close_timeout_s,
                max_size=cfg.max_frame_bytes,
                logger=ScrubbingLogger(_WS_LOG, url),
                **bind,
            )

        try:
            ws = await self._until_stopped(_connect())
        except _Stopped:
            raise
        except Exception as exc:
            reason, kind = _connect_failure(exc, url, cfg.open_timeout_s)
            raise _DialError(f"connect failed: {reason}", kind) from None
        finally:
            if attempt is not None:
                attempt.done()
        now = self._mono()
        conn = _Conn(conn_id, ws, redact_url(url), now, self._wall_ms(), now)
        reader = asyncio.create_task(self._read(conn), name=f"{cfg.name}#{conn_id} reader")
        self._readers.add(reader)
        reader.add_done_callback(self._readers.discard)
        self.stats.connects += 1
        return conn

    async def _read(self, conn: _Conn) -> None:
        """Receive until the connection ends: deliver, buffer or drop by the conn's state."""
        recv = conn.ws.recv
        try:
            while True:
                data = await recv(False)
                t_ms = self._wall_ms()
                conn.last_data_mono = self._mono()
                try:
                    text = data.decode()
                except UnicodeDecodeError:
                    self.stats.count_error("invalid_utf8")
                    continue
                if conn.state is _State.ACTIVE:
                    conn.got_frame = True
                    self._deliver(conn, text, t_ms, len(data))
                elif conn.state is _State.PENDING:
                    conn.buffer.append((text, t_ms, len(data)))
                    if not conn.got_frame:
                        conn.got_frame = True
                        self._wake.set()
        except ConnectionClosed as exc:
            conn.ended = describe_close(exc, self.config.max_frame_bytes)
        except Exception as exc:
            log.exception("%s: reader of #%d failed", self.config.name, conn.conn_id)
            conn.ended = CloseInfo(f"reader failed: {type(exc).__name__}", None, "reader")
            conn.ws.transport.abort()
        self._wake.set()

    def _deliver(self, conn: _Conn, text: str, t_ms: int, size: int) -> None:
        stats = self.stats
        stats.frames += 1
        stats.bytes += size
        stats.last_frame_wall_ms = t_ms
        try:
            self._on_frame(text, t_ms)
        except Exception:
            self._frame_failed(conn)

    def _frame_failed(self, conn: _Conn) -> None:
        self.stats.count_error("on_frame")
        conn.frame_errors += 1
        now = self._mono()
        last = conn.frame_error_logged_mono
        if last is None or now - last >= _FRAME_ERROR_LOG_INTERVAL_S:
            conn.frame_error_logged_mono = now
            log.error(
                "%s: on_frame raised (%d time(s) on #%d); the stream continues",
                self.config.name,
                conn.frame_errors,
                conn.conn_id,
                exc_info=True,
            )

    def _activate(self, conn: _Conn, *, continuous: bool) -> None:
        """Make `conn` the delivering connection and flush what it buffered."""
        conn.state = _State.ACTIVE
        self._active = conn
        conn.last_data_mono = max(conn.last_data_mono, self._mono())
        stats = self.stats
        stats.current_conn_id = conn.conn_id
        stats.url_redacted = conn.url_redacted
        if not continuous or stats.connected_since_wall_ms is None:
            stats.connected_since_wall_ms = conn.opened_wall_ms
        self._rot_due = conn.opened_mono + self.config.max_age_s
        self._rot_reason = "max age"
        buffer = conn.buffer
        while buffer:
            text, t_ms, size = buffer.popleft()
            self._deliver(conn, text, t_ms, size)

    def _close_bg(self, conn: _Conn) -> None:
        """Close `conn` in the background (bounded by close_timeout); its frames are dropped."""
        conn.state = _State.RETIRED
        conn.buffer.clear()
        if conn.closing:
            return
        conn.closing = True
        task = asyncio.create_task(self._close_ws(conn))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_ws(self, conn: _Conn) -> None:
        try:
            await conn.ws.close()
        except Exception as exc:
            log.debug("%s: closing #%d: %s", self.config.name, conn.conn_id, type(exc).__name__)
            conn.ws.transport.abort()

    # ------------------------------------------------------------------------- rotation
    def _start_rotation(self) -> None:
        attempt = _Attempt(self._new_id(), self._rot_reason)
        self._rot_due = None
        attempt.task = asyncio.create_task(
            self._rotation_attempt(attempt), name=f"{self.config.name}#{attempt.conn_id} dial"
        )
        attempt.task.add_done_callback(self._attempt_done)
        self._attempt = attempt
        active = self._active
        log.info(
            "%s: rotating #%s (%s): opening #%d",
            self.config.name,
            active.conn_id if active else "-",
            attempt.reason,
            attempt.conn_id,
        )

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved here; reported by _attempt_failure
        self._wake.set()

    async def _rotation_attempt(self, attempt: _Attempt) -> None:
        async with asyncio.timeout(self.config.rotation_overlap_timeout_s):
            attempt.conn = await self._dial(attempt.conn_id)

    def _attempt_failure(self, attempt: _Attempt) -> str:
        task = attempt.task
        if task is None or task.cancelled():
            return "cancelled"
        exc = task.exception()
        if isinstance(exc, _DialError):
            self.stats.count_error(exc.kind)
            return exc.reason
        if isinstance(exc, TimeoutError):
            return f"not open within {self.config.rotation_overlap_timeout_s:g} s"
        return f"{type(exc).__name__}" if exc is not None else "no connection"

    def _rotation_failed(self, now: float, reason: str) -> None:
        self.stats.count_error("rotation_failed")
        delay = self._rotation_backoff.next_delay()
        self._rot_due = now + delay
        active = self._active
        log.warning(
            "%s: rotation failed (%s); keeping #%s, retry in %.1f s",
            self.config.name,
            reason,
            active.conn_id if active else "-",
            delay,
        )

    async def _complete_rotation(self) -> None:
        old, new = self._active, self._pending
        assert old is not None and new is not None
        # The old connection keeps delivering while the owner handles Connected.
        await self._announce(new, after_gap=False, rotation=True)
        self._pending = None
        old.state = _State.RETIRED
        self._activate(new, continuous=True)
        self._close_bg(old)
        self.stats.rotations += 1
        self._rotation_backoff.reset()
        log.info("%s: rotated #%d → #%d", self.config.name, old.conn_id, new.conn_id)
        await self._emit(Rotated(self.config.name, old.conn_id, new.conn_id, self._wall_ms()))

    def _cancel_rotation(self, reason: str) -> None:
        """Abandon a rotation in progress (its new connection, never announced, is closed)."""
        attempt, self._attempt = self._attempt, None
        if attempt is not None and attempt.task is not None:
            attempt.task.cancel()

            def _discard(_t: asyncio.Task[None], attempt: _Attempt = attempt) -> None:
                if attempt.conn is not None:
                    self._close_bg(attempt.conn)

            attempt.task.add_done_callback(_discard)
        pending, self._pending = self._pending, None
        if pending is not None:
            log.info(
                "%s: rotation abandoned (%s); closing #%d",
                self.config.name,
                reason,
                pending.conn_id,
            )
            self._close_bg(pending)

    # ---------------------------------------------------------------------- lifecycle
    async def _announce(self, conn: _Conn, *, after_gap: bool, rotation: bool) -> None:
        if after_gap:
            self.stats.reconnects += 1
        kind = " (rotation)" if rotation else " (after a gap)" if after_gap else ""
        log.info(
            "%s: connected #%d to %s%s", self.config.name, conn.conn_id, conn.url_redacted, kind
        )
        await self._emit(
            Connected(
                self.config.name,
                conn.conn_id,
                conn.url_redacted,
                after_gap,
                rotation,
                self._wall_ms(),
            )
        )

    async def _lose(self, conn: _Conn, info: CloseInfo, *, close: bool) -> None:
        if close:
            self._close_bg(conn)
        conn.state = _State.RETIRED
        conn.buffer.clear()
        if conn is self._active:
            self._active = None
            self.stats.current_conn_id = None
            self.stats.connected_since_wall_ms = None
        self.stats.disconnects += 1
        if info.error_kind is not None:
            self.stats.count_error(info.error_kind)
        level = logging.INFO if info.error_kind is None else logging.WARNING
        log.log(level, "%s: disconnected #%d: %s", self.config.name, conn.conn_id, info.reason)
        await self._emit(
            Disconnected(self.config.name, conn.conn_id, info.reason, info.code, self._wall_ms())
        )

    async def _emit(self, event: Lifecycle) -> None:
        try:
            await self._on_lifecycle(event)
        except Exception:
            self.stats.count_error("on_lifecycle")
            log.exception("%s: on_lifecycle(%s) raised", self.config.name, type(event).__name__)

    # ------------------------------------------------------------------------- plumbing
    async def _until_stopped(self, aw: Awaitable[_T]) -> _T:
        """Await `aw`, or raise `_Stopped` as soon as `stop()` is called."""
        task = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(self._stop_evt.wait())
        kept = False
        try:
            await asyncio.wait((task, stopper), return_when=asyncio.FIRST_COMPLETED)
            if self._stopping:
                raise _Stopped
            kept = True
            return task.result()
        finally:
            stopper.cancel()
            if not kept:
                task.cancel()
                self._reap(task)

    def _reap(self, task: asyncio.Future[Any]) -> None:
        """Close a connection an abandoned task may still produce; silence its errors."""

        def _done(t: asyncio.Future[Any]) -> None:
            if t.cancelled() or t.exception() is not None:
                return
            result = t.result()
            if isinstance(result, ClientConnection):
                closer = asyncio.ensure_future(result.close())
                self._background.add(closer)
                closer.add_done_callback(self._background.discard)

        task.add_done_callback(_done)

    def _drop_all(self) -> None:
        """Forget every connection after an internal error (no events)."""
        attempt, self._attempt = self._attempt, None
        if attempt is not None and attempt.task is not None:
            attempt.task.cancel()
        for conn in (self._active, self._pending, attempt.conn if attempt else None):
            if conn is not None:
                self._close_bg(conn)
        self._active = self._pending = None
        self.stats.current_conn_id = None
        self.stats.connected_since_wall_ms = None

    async def _shutdown(self) -> None:
        """Close everything left when run() ends; `Disconnected("stopped")` on stop()."""
        active = self._active
        attempt, self._attempt = self._attempt, None
        if attempt is not None and attempt.task is not None:
            attempt.task.cancel()
            await asyncio.wait((attempt.task,), timeout=self.config.close_timeout_s)
        conns = [c for c in (active, self._pending, attempt.conn if attempt else None) if c]
        for conn in conns:
            self._close_bg(conn)
        self._active = self._pending = None
        if self._background:
            await asyncio.wait(
                set(self._background), timeout=self.config.close_timeout_s + _STOP_GRACE_S / 2
            )
        for task in (*self._background, *self._readers):
            task.cancel()
        for conn in conns:
            conn.ws.transport.abort()
        stats = self.stats
        stats.current_conn_id = None
        stats.connected_since_wall_ms = None
        if active is not None and self._stopping:
            stats.disconnects += 1
            log.info("%s: disconnected #%d: stopped", self.config.name, active.conn_id)
            await self._emit(
                Disconnected(self.config.name, active.conn_id, "stopped", None, self._wall_ms())
            )
