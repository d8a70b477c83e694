"""systemd notifications (monitor/service/sdnotify.py) received on real AF_UNIX datagram sockets."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.service import sdnotify


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound to a path, and the $NOTIFY_SOCKET value naming it."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


@pytest.fixture
def abstract_receiver() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket in the abstract namespace, and its `@name` form."""
    name = f"marginwatch-test-{secrets.token_hex(8)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield sock, "@" + name
    sock.close()


def test_each_helper_sends_one_datagram(receiver: tuple[socket.socket, str]) -> None:
    sock, address = receiver
    env = {"NOTIFY_SOCKET": address}
    assert sdnotify.ready(env)
    assert sdnotify.watchdog(env)
    assert sdnotify.status("2 accounts\nlive", env)
    assert sdnotify.stopping(env)
    assert sdnotify.notify("READY=1\nSTATUS=x", env)
    got = [sock.recv(4096) for _ in range(5)]
    assert got == [
        b"READY=1",
        b"WATCHDOG=1",
        b"STATUS=2 accounts live",
        b"STOPPING=1",
        b"READY=1\nSTATUS=x",
    ]


def test_abstract_socket(abstract_receiver: tuple[socket.socket, str]) -> None:
    sock, address = abstract_receiver
    assert sdnotify.watchdog({"NOTIFY_SOCKET": address})
    assert sock.recv(4096) == b"WATCHDOG=1"


def test_process_environment_is_the_default(
    receiver: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert sdnotify.ready()
    assert sock.recv(4096) == b"READY=1"


def test_without_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sdnotify.ready()
    assert not sdnotify.watchdog({"NOTIFY_SOCKET": ""})


def test_failures_are_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not sdnotify.ready({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")})
    assert not sdnotify.ready({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert "cannot notify systemd (READY)" in caplog.text
    assert "unsupported $NOTIFY_SOCKET" in caplog.text


@pytest.mark.parametrize(
    ("env", "timeout"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(env: dict[str, str], timeout: float | None) -> None:
    assert sdnotify.watchdog_timeout_s(env) == timeout
    assert sdnotify.watchdog_interval_s(env) == (None if timeout is None else timeout / 2)
