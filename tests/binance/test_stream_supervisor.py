"""Tests for monitor/binance/stream.py: the supervised websocket against a real local server.

`ScriptServer` is a `websockets` server on 127.0.0.1 whose behaviour per connection is picked
by the request path: `/counter` receives a shared counter 1, 2, 3, … (tagged with the server's
connection number) every few milliseconds, `/close1001`, `/abort`, `/silent`, `/mute` (stops
reading, so no pongs), `/big`, `/binary`, `/echo`, `/quiet`, and `/refuse` is answered with
HTTP 503. Each test hands the supervisor a sequence of such URLs through `url()`. Timings are
compressed (idle 0.3 s, max age 0.4 s, fast backoff); waits poll with generous deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from monitor.base.backoff import Backoff
from monitor.base.secrets import scrub_url as scrub
from monitor.base.secrets import url_secrets
from monitor.binance.stream import (
    Connected,
    Disconnected,
    Lifecycle,
    Rotated,
    StreamConfig,
    StreamSupervisor,
    WatchdogFired,
    redact_url,
)

#: The fake server's logs (it sees the listenKey, like Binance does).
SERVER_LOGGER = "test.fake_binance"
LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"


# --------------------------------------------------------------------------- the server
class ScriptServer:
    """A scriptable websocket server; see the module docstring for the routes."""

    def __init__(self) -> None:
        self.counter = 0
        self.subscribers: dict[ServerConnection, int] = {}
        self.conn_no = 0
        self.paths: list[str] = []
        self.received: list[str] = []
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=None,
            close_timeout=0.2,
            logger=logging.getLogger(SERVER_LOGGER),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def kick(self, no: int) -> None:
        """Close the counter connection number `no` with 1001."""
        for ws, n in list(self.subscribers.items()):
            if n == no:
                await ws.close(1001, "going away")

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/refuse"):
            return conn.respond(503, "busy\n")
        return None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.004)
            self.counter += 1
            for ws, no in list(self.subscribers.items()):
                try:
                    await ws.send(json.dumps({"n": self.counter, "c": no}))
                except ConnectionClosed:
                    self.subscribers.pop(ws, None)

    async def _handler(self, ws: ServerConnection) -> None:
        self.conn_no += 1
        no = self.conn_no
        assert ws.request is not None
        path = ws.request.path
        self.paths.append(path)
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        after = int(query.get("after", "0"))
        route = parts.path
        if route in ("/counter", "/ws/" + LISTEN_KEY):
            # Registered before the first await: no tick is missed after the handshake.
            self.subscribers[ws] = no
            try:
                await ws.wait_closed()
            finally:
                self.subscribers.pop(ws, None)
        elif route == "/close1001":
            for i in range(after):
                await ws.send(json.dumps({"i": i}))
            await asyncio.sleep(float(query.get("hold", "0")))
            await ws.close(1001, "going away")
        elif route == "/abort":
            for i in range(after):
                await ws.send(json.dumps({"i": i}))
            await asyncio.sleep(0.02)
            ws.transport.abort()
        elif route == "/silent":
            await ws.send('{"hello":1}')
            await ws.wait_closed()
        elif route == "/mute":
            ws.transport.pause_reading()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), 2.0)
            ws.transport.abort()
        elif route == "/big":
            await ws.send("x" * int(query.get("size", "2000")))
            await ws.wait_closed()
        elif route == "/binary":
            await ws.send(b'{"b":1}')
            await ws.send(b"\xff\xfe not utf-8")
            await ws.send('{"t":2}')
            await ws.wait_closed()
        elif route == "/echo":
            async for message in ws:
                self.received.append(str(message))
                request_id = json.loads(message)["id"]
                await ws.send(json.dumps({"result": None, "id": request_id}))
        else:  # /quiet and anything else: open, never a message
            await ws.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[ScriptServer]:
    srv = ScriptServer()
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture
async def hanging_port() -> AsyncIterator[int]:
    """A TCP server that accepts and never answers the websocket handshake."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    tcp = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield tcp.sockets[0].getsockname()[1]
    tcp.close()
    await tcp.wait_closed()


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# ----------------------------------------------------------------------------- the owner
class Owner:
    """Records frames and lifecycle events, like the live feed would receive them."""

    def __init__(self, frame_hook: Callable[[str], None] | None = None) -> None:
        self.frames: list[tuple[str, int]] = []
        self.events: list[Lifecycle] = []
        #: How many frames had been delivered when each event arrived.
        self.frames_at_event: list[int] = []
        self._frame_hook = frame_hook

    def on_frame(self, text: str, recv_wall_ms: int) -> None:
        self.frames.append((text, recv_wall_ms))
        if self._frame_hook is not None:
            self._frame_hook(text)

    async def on_lifecycle(self, event: Lifecycle) -> None:
        self.events.append(event)
        self.frames_at_event.append(len(self.frames))

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def counters(self) -> list[tuple[int, int]]:
        """(counter, server connection number) of every counter frame, in delivery order."""
        out = []
        for text, _ in self.frames:
            msg = json.loads(text)
            if "n" in msg:
                out.append((msg["n"], msg["c"]))
        return out


#: An item for `Urls`: that call of url() never returns.
HANG = object()


class Urls:
    """`url()` for the supervisor: the given URLs in turn, then the last one forever.

    An exception item is raised instead, `HANG` blocks."""

    def __init__(self, *urls: str | BaseException | object) -> None:
        self._urls = list(urls)
        self.calls = 0

    async def __call__(self) -> str:
        item = self._urls[min(self.calls, len(self._urls) - 1)]
        self.calls += 1
        if isinstance(item, BaseException):
            raise item
        if item is HANG:
            await asyncio.Event().wait()
        assert isinstance(item, str)
        return item


async def until(predicate: Callable[[], bool], what: str, timeout: float = 4.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.005)


def config(**overrides: Any) -> StreamConfig:
    values: dict[str, Any] = {
        "name": "test/stream",
        "idle_timeout_s": None,
        "ping_interval_s": 1.0,
        "ping_timeout_s": 1.0,
        "open_timeout_s": 1.0,
        "close_timeout_s": 0.3,
        "rotation_overlap_timeout_s": 1.0,
        "rotation_settle_s": 0.2,
        "stable_after_s": 0.25,
    }
    values.update(overrides)
    return StreamConfig(**values)


def client_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every captured log line except the fake server's, formatted with its arguments."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name != SERVER_LOGGER)


def fast_backoff() -> Backoff:
    return Backoff(base_s=0.01, factor=2.0, cap_s=0.05)


@contextlib.asynccontextmanager
async def running(sup: StreamSupervisor) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(sup.run())
    try:
        yield task
    finally:
        await sup.stop()
        await asyncio.wait_for(task, 2.0)


def supervisor(
    urls: Urls, owner: Owner, cfg: StreamConfig | None = None, **kwargs: Any
) -> StreamSupervisor:
    kwargs.setdefault("backoff", fast_backoff())
    return StreamSupervisor(cfg or config(), urls, owner.on_frame, owner.on_lifecycle, **kwargs)


def assert_no_missing_counter(counters: list[tuple[int, int]]) -> None:
    """In delivery order: no number skipped, and connections never interleave."""
    assert counters, "no counter frames"
    top, conn = counters[0]
    for n, c in counters[1:]:
        assert n <= top + 1, f"counter jumped from {top} to {n}"
        assert c >= conn, f"frame of connection {c} delivered after connection {conn}'s"
        top, conn = max(top, n), c


# --------------------------------------------------------------------------------- tests
async def test_frames_are_delivered_in_order_with_receive_time(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/counter"))
    sup = supervisor(urls, owner)
    before = int(time.time() * 1000)
    async with running(sup):
        await until(lambda: len(owner.frames) >= 20, "20 frames")
        assert sup.connected
        stats = sup.stats
        assert stats.connects == 1 and stats.current_conn_id == 1
        assert stats.frames >= 20 and stats.bytes > 20 * 10
        assert stats.url_redacted == server.url("/counter")
        assert stats.connected_since_wall_ms is not None
    after = int(time.time() * 1000)

    first = owner.events[0]
    assert isinstance(first, Connected)
    assert (first.conn_id, first.after_gap, first.rotation) == (1, False, False)
    assert first.stream == "test/stream" and first.url_redacted == server.url("/counter")
    assert owner.frames_at_event[0] == 0, "Connected must come before the first frame"
    numbers = [n for n, _ in owner.counters()]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    times = [t for _, t in owner.frames]
    assert times == sorted(times) and before <= times[0] and times[-1] <= after
    assert sup.stats.last_frame_wall_ms == times[-1]
    # stop() ends with a Disconnected of its own, and the connection is gone.
    last = owner.events[-1]
    assert isinstance(last, Disconnected) and last.reason == "stopped"
    assert not sup.connected and sup.stats.current_conn_id is None


async def test_server_close_1001_reconnects_and_reports_a_gap(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/close1001?after=3"), server.url("/counter"))
    sup = supervisor(urls, owner)
    async with running(sup):
        await until(lambda: len(owner.of(Connected)) == 2, "second connection")
        await until(lambda: len(owner.counters()) >= 3, "frames on the second connection")

    lost = owner.of(Disconnected)[0]
    assert (lost.conn_id, lost.code) == (1, 1001)
    assert lost.reason == "closed by server 1001 going away"
    again = owner.of(Connected)[1]
    assert again.after_gap and not again.rotation and again.conn_id == 2
    assert [json.loads(t) for t, _ in owner.frames[:3]] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert urls.calls == 2
    assert sup.stats.reconnects == 1 and sup.stats.connects == 2
    assert sup.stats.errors == {}, "a clean close by the server is not an error"


async def test_aborted_transport_reconnects(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/abort?after=2"), server.url("/counter"))
    sup = supervisor(urls, owner)
    async with running(sup):
        await until(lambda: len(owner.of(Connected)) == 2, "second connection")
        await until(lambda: len(owner.counters()) >= 1, "frames after the abort")

    lost = owner.of(Disconnected)[0]
    assert lost.reason.startswith("connection lost") and lost.code is None
    assert sup.stats.errors.get("abnormal_close") == 1
    assert owner.of(Connected)[1].after_gap


async def test_silence_fires_the_watchdog_and_reconnects(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/silent"), server.url("/counter"))
    sup = supervisor(urls, owner, config(idle_timeout_s=0.3, ping_interval_s=0.1))
    async with running(sup):
        await until(lambda: len(owner.of(Connected)) == 2, "reconnect after the watchdog")
        await until(lambda: len(owner.counters()) >= 5, "frames after the watchdog")

    fired = owner.of(WatchdogFired)
    assert len(fired) == 1 and fired[0].conn_id == 1 and fired[0].idle_s >= 0.3
    lost = owner.of(Disconnected)[0]
    assert lost.conn_id == 1 and lost.reason.startswith("watchdog: no data for ")
    assert owner.events.index(fired[0]) < owner.events.index(lost)
    assert owner.of(Connected)[1].after_gap
    assert sup.stats.watchdog_fires == 1
    # Pings kept flowing on the silent connection: only the data watchdog ended it.
    assert owner.frames[0][0] == '{"hello":1}'


async def test_without_idle_timeout_silence_is_tolerated(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/quiet"))
    sup = supervisor(urls, owner, config(idle_timeout_s=None, ping_interval_s=0.05))
    async with running(sup):
        await until(lambda: sup.connected, "connected")
        # Long enough for 5 idle timeouts of the previous test and many keepalive pings.
        await asyncio.sleep(0.6)
        assert sup.connected
        assert owner.of(Disconnected) == [] and owner.of(WatchdogFired) == []
    assert urls.calls == 1


async def test_missing_pongs_close_the_connection(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/mute"), server.url("/counter"))
    sup = supervisor(urls, owner, config(ping_interval_s=0.1, ping_timeout_s=0.2))
    async with running(sup):
        await until(lambda: len(owner.of(Connected)) == 2, "reconnect after ping timeout")

    lost = owner.of(Disconnected)[0]
    assert lost.reason == "ping timeout" and lost.code is None
    assert sup.stats.errors.get("ping_timeout") == 1


def recorded_sleeps() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    """The backoff delays a supervisor asks for, recorded; each sleep itself is short."""
    delays: list[float] = []

    async def record_sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0.005)

    return delays, record_sleep


async def test_backoff_grows_while_failing_and_resets_after_a_stable_connection(
    server: ScriptServer,
) -> None:
    owner = Owner()
    delays, record_sleep = recorded_sleeps()
    urls = Urls(
        server.url("/refuse"),
        server.url("/refuse"),
        server.url("/close1001?after=1"),  # up for milliseconds: not stable, no reset
        server.url("/refuse"),
        server.url("/close1001?after=1&hold=0.5"),  # up longer than stable_after_s
        server.url("/counter"),
    )
    sup = supervisor(
        urls,
        owner,
        config(stable_after_s=0.25),
        backoff=Backoff(rng=lambda: 0.0),
        sleep=record_sleep,
    )
    async with running(sup):
        await until(lambda: urls.calls >= 6 and len(owner.counters()) >= 1, "final connection")

    # Backoff(base 0.5, factor 2) with no jitter asks for nominal/2.
    assert delays == [0.25, 0.5, 1.0, 2.0, 0.25]
    reasons = [e.reason for e in owner.of(Disconnected)]
    assert reasons[:2] == ["connect failed: HTTP 503"] * 2
    assert sup.stats.errors.get("connect_http") == 3
    connected = owner.of(Connected)
    assert [c.after_gap for c in connected] == [False, True, True]


async def test_a_connection_that_delivered_data_resets_the_backoff_sooner(
    server: ScriptServer,
) -> None:
    """Data plus `healthy_after_s` of uptime is healthy: the next loss reconnects at the base
    delay, not after a long wait blind (a stream dropped every few seconds stays in sight)."""
    owner = Owner()
    delays, record_sleep = recorded_sleeps()
    urls = Urls(
        server.url("/refuse"),
        server.url("/refuse"),
        server.url("/close1001?hold=0.5"),  # up 0.5 s, no data: not healthy, no reset
        server.url("/refuse"),
        server.url("/close1001?after=1&hold=0.5"),  # data, up 0.5 s > healthy_after_s
        server.url("/counter"),
    )
    sup = supervisor(
        urls,
        owner,
        config(stable_after_s=60.0, healthy_after_s=0.25),
        backoff=Backoff(rng=lambda: 0.0),
        sleep=record_sleep,
    )
    async with running(sup):
        await until(lambda: urls.calls >= 6 and len(owner.counters()) >= 1, "final connection")
    assert delays == [0.25, 0.5, 1.0, 2.0, 0.25]


async def test_a_quiet_stream_connection_resets_the_backoff_without_data(
    server: ScriptServer,
) -> None:
    """A user-data stream is quiet by nature: an accepted connection that stayed up
    `healthy_after_s` is healthy without data (found by the 60-minute soak, where a user stream
    dropped every few seconds waited out 8-17 s delays and the monitor went blind)."""
    owner = Owner()
    delays, record_sleep = recorded_sleeps()
    urls = Urls(
        server.url("/refuse"),
        server.url("/refuse"),
        server.url("/close1001?hold=0.5"),  # up 0.5 s, no data: healthy for a quiet stream
        server.url("/refuse"),
        server.url("/counter"),
    )
    sup = supervisor(
        urls,
        owner,
        config(stable_after_s=60.0, healthy_after_s=0.25, quiet=True),
        backoff=Backoff(rng=lambda: 0.0),
        sleep=record_sleep,
    )
    async with running(sup):
        await until(lambda: urls.calls >= 5 and len(owner.counters()) >= 1, "final connection")
    assert delays == [0.25, 0.5, 0.25, 0.5]


async def test_reconnect_cuts_a_pending_backoff_delay_short(server: ScriptServer) -> None:
    """The owner asks for a fresh connection (a new listenKey) while a long delay is pending:
    the next attempt starts at once."""
    owner = Owner()
    urls = Urls(server.url("/refuse"), server.url("/counter"))
    sup = supervisor(
        urls, owner, config(), backoff=Backoff(base_s=60.0, cap_s=60.0, rng=lambda: 0.0)
    )
    async with running(sup):
        await until(lambda: len(owner.of(Disconnected)) == 1, "the refused attempt")
        started = time.monotonic()
        sup.reconnect("new listenKey")
        await until(lambda: len(owner.counters()) >= 1, "the next connection")
        assert time.monotonic() - started < 5.0  # not the 30 s delay


async def test_reconnect_starts_the_backoff_over(server: ScriptServer) -> None:
    """Refusals (a dead listenKey) climbed the backoff; the owner's reconnect (a new key) starts
    it over, so the next ordinary loss waits the base delay, not 15-30 s (found by the
    hour-long soak: the user stream sat out 27 s twice and the monitor went blind)."""
    owner = Owner()
    delays: list[float] = []
    never = asyncio.Event()

    async def record_sleep(delay: float) -> None:
        delays.append(delay)
        if delay >= 1.0:
            await never.wait()  # the long delay that `reconnect()` cuts short
        await asyncio.sleep(0.005)

    urls = Urls(*[server.url("/refuse")] * 5, server.url("/counter"))
    sup = supervisor(
        urls, owner, config(), backoff=Backoff(rng=lambda: 0.0), sleep=record_sleep
    )
    async with running(sup):
        await until(lambda: len(delays) == 3, "three refusals, the third delay pending")
        sup.reconnect("new listenKey")
        await until(lambda: len(owner.counters()) >= 1, "the connection after the refusals")
    assert delays == [0.25, 0.5, 1.0, 0.25, 0.5]


async def test_every_kind_of_failed_attempt_is_retried(
    server: ScriptServer, hanging_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = Owner()
    urls = Urls(
        RuntimeError("token service down"),
        HANG,
        f"ws://127.0.0.1:{refused_port()}/ws/{LISTEN_KEY}",
        f"ws://127.0.0.1:{hanging_port}/private/ws?listenKey={LISTEN_KEY}&events=ACCOUNT_UPDATE",
        server.url("/refuse"),
        "not a url " + LISTEN_KEY,
        server.url("/counter"),
    )
    sup = supervisor(urls, owner, config(open_timeout_s=0.3, url_timeout_s=0.2))
    async with running(sup):
        await until(lambda: len(owner.counters()) >= 1, "connected after the failures")

    reasons = [e.reason for e in owner.of(Disconnected)][:6]
    assert reasons[0] == "url() failed: RuntimeError: token service down"
    assert reasons[1] == "url() timed out after 0.2 s"
    assert reasons[2].startswith("connect failed: ConnectionRefusedError")
    assert reasons[3] == "connect failed: open timeout after 0.3 s"
    assert reasons[4] == "connect failed: HTTP 503"
    assert reasons[5] == "connect failed: invalid URI"
    assert [e.conn_id for e in owner.of(Disconnected)][:6] == [1, 2, 3, 4, 5, 6]
    errors = sup.stats.errors
    assert errors.get("url") == 2
    for kind in ("connect_network", "connect_timeout", "connect_http", "connect_url"):
        assert errors.get(kind) == 1, (kind, errors)
    first_ok = owner.of(Connected)[0]
    assert not first_ok.after_gap, "nothing was lost before the first connection"
    # The listenKey never shows: not in events, stats or log lines.
    assert LISTEN_KEY not in repr(owner.events) + repr(sup.stats)
    assert LISTEN_KEY not in client_log(caplog)


async def test_rotate_overlaps_without_a_missing_counter(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/counter"))
    sup = supervisor(urls, owner)
    async with running(sup):
        await until(lambda: len(owner.frames) >= 10, "frames before the rotation")
        sup.rotate("test")
        await until(lambda: len(owner.of(Rotated)) == 1, "rotation")
        count = len(owner.frames)
        await until(lambda: len(owner.frames) >= count + 10, "frames after the rotation")
        await until(lambda: len(server.subscribers) == 1, "old connection closed")
        assert sup.stats.current_conn_id == 2

    kinds = [type(e).__name__ for e in owner.events]
    assert kinds == ["Connected", "Connected", "Rotated", "Disconnected"]
    new = owner.events[1]
    assert isinstance(new, Connected) and new.rotation and not new.after_gap
    rotated = owner.events[2]
    assert isinstance(rotated, Rotated) and (rotated.old_conn_id, rotated.new_conn_id) == (1, 2)
    counters = owner.counters()
    assert_no_missing_counter(counters)
    assert {c for _, c in counters} == {1, 2}
    assert urls.calls == 2 and sup.stats.rotations == 1 and sup.stats.reconnects == 0


async def test_max_age_rotates_repeatedly_without_a_gap(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/counter"))
    sup = supervisor(urls, owner, config(max_age_s=0.4, rotation_settle_s=0.1))
    async with running(sup):
        await until(lambda: len(owner.of(Rotated)) >= 3, "three rotations", timeout=6.0)

    assert owner.of(Disconnected)[:-1] == [], "only stop() disconnects"
    assert not any(c.after_gap for c in owner.of(Connected))
    counters = owner.counters()
    assert_no_missing_counter(counters)
    assert len({c for _, c in counters}) >= 4
    assert sup.stats.rotations >= 3


async def test_rotation_keeps_the_old_connection_when_the_new_one_cannot_open(
    server: ScriptServer, hanging_port: int
) -> None:
    owner = Owner()
    urls = Urls(
        server.url("/counter"),
        f"ws://127.0.0.1:{hanging_port}/counter",  # the rotation's first try hangs
        server.url("/counter"),
    )
    sup = supervisor(urls, owner, config(open_timeout_s=5.0, rotation_overlap_timeout_s=0.3))
    async with running(sup):
        await until(lambda: len(owner.frames) >= 5, "first frames")
        sup.rotate()
        await until(lambda: len(owner.of(Rotated)) == 1, "rotation after a retry")

    assert sup.stats.errors.get("rotation_failed") == 1
    assert urls.calls == 3
    assert owner.of(Disconnected)[:-1] == [], "the old connection was kept meanwhile"
    assert_no_missing_counter(owner.counters())
    rotated = owner.of(Rotated)[0]
    assert (rotated.old_conn_id, rotated.new_conn_id) == (1, 3)


async def test_old_connection_lost_once_the_new_one_is_open_completes_the_rotation(
    server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.binance.stream")
    owner = Owner()
    urls = Urls(server.url("/counter"), server.url("/quiet"))  # the new one stays quiet
    sup = supervisor(urls, owner, config(rotation_settle_s=5.0))
    async with running(sup):
        await until(lambda: len(owner.frames) >= 3, "first frames")
        sup.rotate()
        await until(lambda: "#2 open; settling" in caplog.text, "new one open")
        assert sup.stats.current_conn_id == 1, "still settling: the old one delivers"
        assert len(owner.of(Connected)) == 1, "announced only when it takes over"
        await server.kick(1)
        await until(lambda: len(owner.of(Rotated)) == 1, "switch without waiting to settle")
        assert sup.connected and sup.stats.current_conn_id == 2

    kinds = [type(e).__name__ for e in owner.events]
    assert kinds == ["Connected", "Connected", "Rotated", "Disconnected"]
    assert sup.stats.reconnects == 0


async def test_new_connection_lost_before_taking_over_is_retried(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/counter"), server.url("/abort"), server.url("/counter"))
    sup = supervisor(urls, owner, config(rotation_settle_s=5.0))
    async with running(sup):
        await until(lambda: len(owner.frames) >= 3, "first frames")
        sup.rotate()
        await until(lambda: len(owner.of(Rotated)) == 1, "rotation on the second try")

    kinds = [type(e).__name__ for e in owner.events]
    assert kinds == ["Connected", "Connected", "Rotated", "Disconnected"]
    assert owner.of(Connected)[1].conn_id == 3, "the lost standby #2 was never announced"
    assert sup.stats.errors.get("abnormal_close") == 1
    rotated = owner.of(Rotated)[0]
    assert (rotated.old_conn_id, rotated.new_conn_id) == (1, 3)
    assert sup.stats.errors.get("rotation_failed") == 1
    assert not any(c.after_gap for c in owner.of(Connected))
    assert_no_missing_counter(owner.counters())


async def test_reconnect_takes_a_new_url_and_counts_as_a_gap(server: ScriptServer) -> None:
    owner = Owner()
    delays: list[float] = []

    async def record_sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(delay)

    urls = Urls(server.url("/counter?key=1"), server.url("/counter?key=2"))
    sup = supervisor(urls, owner, sleep=record_sleep)
    async with running(sup):
        await until(lambda: len(owner.frames) >= 3, "frames on the first URL")
        sup.reconnect("listenKey changed")
        await until(lambda: len(owner.of(Connected)) == 2, "second connection")

    lost = owner.of(Disconnected)[0]
    assert lost.reason == "reconnect requested: listenKey changed"
    again = owner.of(Connected)[1]
    assert again.after_gap and again.url_redacted.endswith("/counter?key=****")
    assert server.paths == ["/counter?key=1", "/counter?key=2"]
    assert delays == [], "a requested reconnect does not wait"


async def test_send_round_trip(server: ScriptServer) -> None:
    owner = Owner()
    sup = supervisor(Urls(server.url("/echo")), owner)
    assert not await sup.send('{"id":0}'), "not connected yet"
    async with running(sup):
        await until(lambda: sup.connected, "connected")
        request = '{"method":"SUBSCRIBE","params":["btcusdt@markPrice"],"id":7}'
        assert await sup.send(request)
        await until(lambda: len(owner.frames) == 1, "the ack")
    assert json.loads(owner.frames[0][0]) == {"result": None, "id": 7}
    assert server.received == [request]
    assert not await sup.send('{"id":8}'), "stopped"


async def test_stop_is_prompt_mid_backoff(server: ScriptServer) -> None:
    owner = Owner()
    sup = supervisor(Urls(server.url("/refuse")), owner, backoff=Backoff(base_s=30, cap_s=30))
    task = asyncio.create_task(sup.run())
    await until(lambda: len(owner.of(Disconnected)) == 1, "first failed attempt")
    started = time.monotonic()
    await sup.stop()
    assert time.monotonic() - started < 1.0
    await asyncio.wait_for(task, 1.0)
    assert owner.of(Disconnected)[-1].reason == "connect failed: HTTP 503"


async def test_stop_is_prompt_while_connected(server: ScriptServer) -> None:
    owner = Owner()
    sup = supervisor(Urls(server.url("/counter")), owner)
    task = asyncio.create_task(sup.run())
    await until(lambda: len(owner.frames) >= 3, "frames")
    started = time.monotonic()
    await sup.stop()
    assert time.monotonic() - started < 1.0
    assert task.done()
    await until(lambda: not server.subscribers, "server saw the close")
    assert owner.events[-1] == Disconnected(
        "test/stream", 1, "stopped", None, owner.events[-1].t_ms
    )


async def test_owner_callbacks_raising_never_kill_the_stream(server: ScriptServer) -> None:
    seen: list[str] = []

    def hook(text: str) -> None:
        seen.append(text)
        if len(seen) % 3 == 0:
            raise ValueError("bad frame")

    owner = Owner(frame_hook=hook)

    async def on_lifecycle(event: Lifecycle) -> None:
        await owner.on_lifecycle(event)
        raise RuntimeError("owner bug")

    sup = StreamSupervisor(
        config(),
        Urls(server.url("/counter")),
        owner.on_frame,
        on_lifecycle,
        backoff=fast_backoff(),
    )
    async with running(sup):
        await until(lambda: len(seen) >= 15, "frames despite the errors")
        assert sup.connected
        assert owner.of(Disconnected) == []
    errors = sup.stats.errors
    assert errors["on_frame"] >= 5 and errors["on_lifecycle"] == 2  # Connected + stopped
    numbers = [n for n, _ in owner.counters()]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


async def test_oversized_frame_closes_and_reconnects(server: ScriptServer) -> None:
    owner = Owner()
    urls = Urls(server.url("/big?size=2000"), server.url("/counter"))
    sup = supervisor(urls, owner, config(max_frame_bytes=1024))
    async with running(sup):
        await until(lambda: len(owner.counters()) >= 1, "frames after the oversized one")

    lost = owner.of(Disconnected)[0]
    assert lost.reason == "frame too big (limit 1024 bytes)"
    assert sup.stats.errors.get("frame_too_big") == 1
    assert owner.of(Connected)[1].after_gap
    assert all(not text.startswith("xxx") for text, _ in owner.frames)


async def test_binary_frames_are_decoded_and_invalid_ones_skipped(server: ScriptServer) -> None:
    owner = Owner()
    sup = supervisor(Urls(server.url("/binary")), owner)
    async with running(sup):
        await until(lambda: len(owner.frames) == 2, "two decodable frames")
        await until(lambda: sup.stats.errors.get("invalid_utf8") == 1, "one skipped frame")
        assert sup.connected
    assert [text for text, _ in owner.frames] == ['{"b":1}', '{"t":2}']


async def test_listen_key_in_the_path_never_reaches_logs(
    server: ScriptServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = Owner()
    sup = supervisor(Urls(server.url(f"/ws/{LISTEN_KEY}")), owner)
    async with running(sup):
        await until(lambda: len(owner.frames) >= 3, "frames")
        sup.reconnect("key refreshed")
        await until(lambda: len(owner.of(Connected)) == 2, "reconnected")
    assert owner.of(Connected)[0].url_redacted == server.url("/ws/****")
    assert sup.stats.url_redacted is None or LISTEN_KEY not in sup.stats.url_redacted
    assert "monitor.binance.stream" in {r.name for r in caplog.records}
    assert LISTEN_KEY not in client_log(caplog)
    assert LISTEN_KEY not in repr(owner.events)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "wss://fstream.binance.com/private/ws?listenKey=abc123XYZ&events=ACCOUNT_UPDATE",
            "wss://fstream.binance.com/private/ws?listenKey=****&events=ACCOUNT_UPDATE",
        ),
        (f"wss://dstream.binance.com/ws/{LISTEN_KEY}", "wss://dstream.binance.com/ws/****"),
        ("wss://fstream.binance.com/pm/ws/shortKey1", "wss://fstream.binance.com/pm/ws/****"),
        (
            f"wss://fstream-auth.binance.com/ws/{LISTEN_KEY}?listenKey={LISTEN_KEY}",
            "wss://fstream-auth.binance.com/ws/****?listenKey=****",
        ),
        (
            "ws://127.0.0.1:8080/private/ws?events=A&listenkey=lk%2Fsecret",
            "ws://127.0.0.1:8080/private/ws?events=A&listenkey=****",
        ),
        ("wss://user:hunter2@proxy.example/ws/x@y", "wss://user:****@proxy.example/ws/x@y"),
        # Stream names are not secrets and stay readable.
        (
            "wss://fstream.binance.com/market/stream?streams=btcusdt@markPrice@1s/!markPrice@arr",
            "wss://fstream.binance.com/market/stream?streams=btcusdt@markPrice@1s/!markPrice@arr",
        ),
        (
            "wss://fstream.binance.com/market/ws/btcusdt@markPrice/ethusdt@markPrice",
            "wss://fstream.binance.com/market/ws/btcusdt@markPrice/ethusdt@markPrice",
        ),
        (
            "wss://fstream.binance.com/ws/!contractInfo",
            "wss://fstream.binance.com/ws/!contractInfo",
        ),
        ("wss://dstream.binance.com/stream?streams=", "wss://dstream.binance.com/stream?streams="),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_scrub_removes_the_url_and_its_secrets() -> None:
    url = f"wss://dstream.binance.com/ws/{LISTEN_KEY}"
    text = f"failed to reach {url}; key {LISTEN_KEY} rejected"
    expected = "failed to reach wss://dstream.binance.com/ws/****; key **** rejected"
    assert scrub(text, url) == expected
    assert url_secrets("wss://x/private/ws?listenKey=a%2Fb") == ["a%2Fb", "a/b"]
    assert scrub("x" * 400, None).endswith("…") and len(scrub("x" * 400, None)) == 300


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="idle_timeout_s"):
        StreamConfig(name="s", idle_timeout_s=0)
    with pytest.raises(ValueError, match="max_age_s"):
        StreamConfig(name="s", idle_timeout_s=None, max_age_s=-1)


async def test_run_twice_is_refused(server: ScriptServer) -> None:
    owner = Owner()
    sup = supervisor(Urls(server.url("/quiet")), owner)
    async with running(sup):
        await until(lambda: sup.connected, "connected")
        with pytest.raises(RuntimeError, match="already running"):
            await sup.run()
