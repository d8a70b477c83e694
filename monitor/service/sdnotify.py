"""The systemd notification protocol: one datagram to `$NOTIFY_SOCKET` per state change.

`Type=notify` units learn that the daemon is up (`READY=1`), shutting down (`STOPPING=1`), alive
(`WATCHDOG=1`, within `WatchdogSec=`) and what it is doing (`STATUS=...`) from these datagrams.
Without `$NOTIFY_SOCKET` (not run by systemd) every call is a no-op returning False; a failure to
send is logged and returns False, never raises: notifications must not take the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

NOTIFY_SOCKET = "NOTIFY_SOCKET"
WATCHDOG_USEC = "WATCHDOG_USEC"
WATCHDOG_PID = "WATCHDOG_PID"


def _address(raw: str) -> str | None:
    """The socket address of `$NOTIFY_SOCKET`: a path, or `@name` for the abstract namespace."""
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None  # e.g. vsock:…, which this daemon never runs under


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `state` (newline-separated `KEY=value` assignments) to systemd; True when sent."""
    raw = (os.environ if env is None else env).get(NOTIFY_SOCKET, "")
    if not raw:
        return False
    address = _address(raw)
    if address is None:
        log.warning("unsupported $NOTIFY_SOCKET address %r: systemd notifications are off", raw)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify systemd (%s): %s", state.split("=", 1)[0], exc)
        return False
    return True


def ready(env: Mapping[str, str] | None = None) -> bool:
    """Start-up is complete (`Type=notify` units stay "activating" until this)."""
    return notify("READY=1", env)


def stopping(env: Mapping[str, str] | None = None) -> bool:
    """A graceful shutdown has begun."""
    return notify("STOPPING=1", env)


def watchdog(env: Mapping[str, str] | None = None) -> bool:
    """Keep-alive: the daemon is healthy (send at least every `WatchdogSec=`)."""
    return notify("WATCHDOG=1", env)


def status(text: str, env: Mapping[str, str] | None = None) -> bool:
    """A one-line status shown by `systemctl status` (newlines become spaces)."""
    return notify("STATUS=" + " ".join(text.split()), env)


def watchdog_timeout_s(env: Mapping[str, str] | None = None) -> float | None:
    """systemd's watchdog timeout for this process in seconds, or None when it is off.

    Like `sd_watchdog_enabled()`: `$WATCHDOG_USEC` must be a positive integer, and when
    `$WATCHDOG_PID` is set it must name this process (the variables leak to children otherwise).
    """
    environ = os.environ if env is None else env
    usec, pid = environ.get(WATCHDOG_USEC, ""), environ.get(WATCHDOG_PID, "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """How often to send `WATCHDOG=1`: half the timeout (systemd's advice), or None when off."""
    timeout = watchdog_timeout_s(env)
    return None if timeout is None else timeout / 2
