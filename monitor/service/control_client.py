"""`marginwatch ack|snooze|unsnooze NAME`: ask the running daemon through its control API.

POSTs `/api/ACTION/NAME` (snooze: `?duration=`) to the daemon's `[http] listen` address (a
wildcard address is asked on loopback), with the `[http] api_token_*` bearer token when one is
configured. Prints the daemon's one-line answer; exit 0 on success, 2 with one line on stderr
otherwise (daemon not running, refused, unknown account). The token is never printed.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from urllib.parse import quote

from monitor.config import Config

TIMEOUT_S = 10.0


def control_url(config: Config, action: str, name: str, duration: str | None = None) -> str:
    host = config.http.host
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{config.http.port}/api/{action}/{quote(name, safe='')}"
    return url + (f"?duration={quote(duration, safe='')}" if duration is not None else "")


def run_control(config: Config, action: str, name: str, duration: str | None = None) -> int:
    """Ask the daemon; print its answer. 0 when done, 2 otherwise."""
    request = urllib.request.Request(
        control_url(config, action, name, duration), data=b"", method="POST"
    )
    token = config.http.api_token()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            body = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read() or b"{}").get("error") or exc.reason
        except ValueError:
            error = exc.reason
        print(f"marginwatch {action}: refused (HTTP {exc.code}): {error}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(
            f"marginwatch {action}: cannot reach the daemon at {config.http.listen} ({reason});"
            " is `marginwatch run` running with this config?",
            file=sys.stderr,
        )
        return 2
    print(str(body.get("message") or body))
    return 0
