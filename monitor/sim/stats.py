"""Counters of the fake exchange (what `state()` and `GET /__sim/state` report)."""

from __future__ import annotations

from collections import Counter
from typing import Any

#: Distinct `METHOD /path` keys kept before further ones are counted under "other".
MAX_PATHS = 500


class Stats:
    """Requests by path and status, websocket connections, frames, playback progress."""

    def __init__(self) -> None:
        self.requests: dict[str, Counter[str]] = {}
        self.control_requests = 0
        self.ws_opened: Counter[str] = Counter()
        self.ws_rejected: Counter[str] = Counter()
        self.ws_closed: Counter[str] = Counter()
        self.frames_queued: Counter[str] = Counter()
        self.frames_suppressed: Counter[str] = Counter()
        self.control_messages: Counter[str] = Counter()
        self.lines_played: Counter[str] = Counter()
        self.lines_unrouted = 0
        self.cycles = 0
        self.errors: Counter[str] = Counter()
        #: Requests and websocket upgrades by the client's (peer) IP address.
        self.peers: Counter[str] = Counter()

    def request(self, method: str, path: str, status: int) -> None:
        key = f"{method} {path}"
        if key not in self.requests and len(self.requests) >= MAX_PATHS:
            key = "other"
        self.requests.setdefault(key, Counter())[str(status)] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": {key: dict(counts) for key, counts in sorted(self.requests.items())},
            "control_requests": self.control_requests,
            "ws_connections": {
                "opened": dict(self.ws_opened),
                "rejected": dict(self.ws_rejected),
                "closed": dict(self.ws_closed),
            },
            "frames": {
                "queued": dict(self.frames_queued),
                "suppressed": dict(self.frames_suppressed),
            },
            "control_messages": dict(self.control_messages),
            "lines_played": dict(self.lines_played),
            "lines_unrouted": self.lines_unrouted,
            "cycles": self.cycles,
            "errors": dict(self.errors),
            "peers": dict(self.peers),
        }
