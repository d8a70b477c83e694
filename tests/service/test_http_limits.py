"""HTTP hardening (issue 19, item 7): slow, idle, malformed and numerous clients against a real
server on 127.0.0.1, raw sockets for the misbehaving clients, aiohttp for the well-behaved one;
file-descriptor exhaustion in a real child process with a lowered RLIMIT_NOFILE."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.service.health import Health
from monitor.service.http import HttpLimits, HttpServer
from monitor.service.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
FAST = HttpLimits(header_timeout_s=0.5, idle_timeout_s=0.5, body_timeout_s=0.3, max_connections=16)


async def _server(limits: HttpLimits) -> HttpServer:
    server = HttpServer(
        "127.0.0.1",
        0,
        health=lambda: Health(True),
        status=lambda: {"version": 1},
        metrics=Metrics(),
        secrets=lambda: [],
        limits=limits,
    )
    await server.start()
    return server


@pytest.fixture
async def fast() -> AsyncIterator[HttpServer]:
    server = await _server(FAST)
    yield server
    await server.stop()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    """Seconds until the server closes the connection (reading and discarding what it sends)."""
    started = time.monotonic()
    async with asyncio.timeout(seconds):
        while await reader.read(65536):
            pass
    return time.monotonic() - started


async def _healthz(port: int, timeout: float = 2.0) -> int:
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as resp,
    ):
        return resp.status


async def test_a_client_that_never_finishes_its_head_is_cut_off(fast: HttpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fast.bound_port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: the head never ends
    await writer.drain()
    assert await _closed_within(reader, 3.0) < 2.0
    writer.close()


async def test_a_slowloris_trickling_header_bytes_is_cut_off(fast: HttpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fast.bound_port)
    started = time.monotonic()
    closed = asyncio.create_task(_closed_within(reader, 4.0))
    with pytest.raises(ConnectionError):
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)
            if closed.done():
                raise ConnectionResetError
    await closed
    assert time.monotonic() - started < 2.0
    writer.close()


@pytest.mark.e2e  # end to end: real processes or real timeouts
async def test_default_header_timeout_is_seconds_not_an_hour() -> None:
    """aiohttp's own default keeps a silent connection open for 3630 s."""
    server = await _server(HttpLimits())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        assert await _closed_within(reader, 10.0) <= HttpLimits().header_timeout_s + 1.5
        writer.close()
    finally:
        await server.stop()


async def test_healthz_answers_while_many_idle_sockets_are_open(fast: HttpServer) -> None:
    """More idle sockets than the connection cap: the oldest idle ones make room."""
    idle = [await asyncio.open_connection("127.0.0.1", fast.bound_port) for _ in range(100)]
    try:
        started = time.monotonic()
        assert await _healthz(fast.bound_port) == 200
        assert time.monotonic() - started < 1.0
        assert fast.open_connections <= FAST.max_connections
    finally:
        for _, writer in idle:
            writer.close()


async def test_healthz_answers_while_idle_sockets_hold_the_default_cap() -> None:
    server = await _server(HttpLimits())
    cap = HttpLimits().max_connections
    idle = [await asyncio.open_connection("127.0.0.1", server.bound_port) for _ in range(cap * 2)]
    try:
        for _ in range(3):
            assert await _healthz(server.bound_port) == 200
        assert server.open_connections <= cap
    finally:
        for _, writer in idle:
            writer.close()
        await server.stop()


async def test_an_idle_keep_alive_connection_is_closed(fast: HttpServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", fast.bound_port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert await _closed_within(reader, 3.0) < 2.0
    writer.close()


async def test_an_unread_body_is_not_waited_for_long(fast: HttpServer) -> None:
    """aiohttp's default lingers 10 s on a body it does not need; we never read bodies."""
    reader, writer = await asyncio.open_connection("127.0.0.1", fast.bound_port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert await _closed_within(reader, 3.0) < 2.0
    writer.close()


async def test_a_malformed_request_is_one_line_without_a_traceback(
    fast: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for request in (b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n", b"GET / HTTP/9.x\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", fast.bound_port)
        writer.write(request)
        await writer.drain()
        assert (await reader.read(12))[9:12] == b"400"
        writer.close()
    await asyncio.sleep(0.1)
    about = [r for r in caplog.records if r.levelno >= logging.INFO and "request" in r.getMessage()]
    assert about, [r.getMessage() for r in caplog.records]
    for record in caplog.records:
        if record.name.startswith(("aiohttp", "monitor.service.http")):
            assert record.exc_info is None, record.getMessage()
            assert "\n" not in record.getMessage()
    # the second malformed request is counted, not logged, within the interval
    assert len(about) == 1
    assert about[0].getMessage().startswith("HTTP: Error handling request")


async def test_a_flood_of_malformed_requests_logs_once_per_interval(
    fast: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(30):
        reader, writer = await asyncio.open_connection("127.0.0.1", fast.bound_port)
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n")
        await writer.drain()
        await reader.read()
        writer.close()
    lines = [r for r in caplog.records if r.name.startswith(("aiohttp", "monitor.service.http"))]
    assert len(lines) <= 1
    assert sum(len(r.getMessage()) for r in lines) < 400
    assert await _healthz(fast.bound_port) == 200


CHILD = textwrap.dedent(
    """
    import asyncio, logging, os, resource, sys
    from monitor.service.health import Health
    from monitor.service.http import HttpServer
    from monitor.service.metrics import Metrics

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")

    async def main() -> None:
        server = HttpServer("127.0.0.1", 0, health=lambda: Health(True), status=lambda: {},
                            metrics=Metrics(), secrets=lambda: [])
        await server.start()
        open_fds = len(os.listdir("/proc/self/fd"))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_fds + 4, hard))
        print(server.bound_port, flush=True)
        await asyncio.sleep(float(sys.argv[1]))
        await server.stop()

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_out_of_file_descriptors_is_logged_once_and_recovers(tmp_path: Path) -> None:
    """asyncio logged a traceback for every accept() attempt (megabytes per second); the
    server must log the condition once per interval and serve again once descriptors free."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), "8"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
        time.sleep(3.0)  # the server is out of descriptors all this time
        for client in clients:
            client.close()
        deadline = time.monotonic() + 4.0
        status = None
        while status is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    status = r.status
            except OSError:
                time.sleep(0.2)
        assert status == 200  # serving again once the descriptors are back
        _, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert "Traceback" not in err
    out_of = [line for line in err.splitlines() if "cannot accept" in line or "accept" in line]
    assert len(out_of) == 1, err[:2000]
    assert "out of file descriptors" in out_of[0]
    assert len(err) < 2000, err[:2000]
