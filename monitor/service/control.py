"""Humans answering back: acknowledge, snooze and unsnooze an account, over HTTP or Telegram.

`Control` applies the actions to the accounts' policies (`AccountRuntime.attend`) and has the
daemon persist the result (the outbox's `attention` table), so an ack or snooze survives a
restart. `ControlApi` serves `POST /api/ack/NAME`, `POST /api/snooze/NAME?duration=15m` and
`POST /api/unsnooze/NAME`: with a bearer token configured (`[http] api_token_*`) every request
must carry `Authorization: Bearer TOKEN` (401 without it, 403 with a wrong one); without one,
only loopback clients are served (403 otherwise). Answers are one JSON object; the token is
never echoed or logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from monitor.alerts.attention import Attention
from monitor.alerts.levels import Level
from monitor.alerts.policy_events import Ack, PolicyEvent, Snooze, Unsnooze

log = logging.getLogger(__name__)

ACTIONS = ("ack", "snooze", "unsnooze")
#: The longest snooze (a forgotten snooze must not silence an account for weeks).
MAX_SNOOZE_S = 7 * 86_400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ControlError(Exception):
    """An action that cannot be done; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_duration(text: str) -> float:
    """Seconds from `15m`, `1h30m`, `90s`, `2d` (a bare number is minutes)."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        seconds = float(raw) * 60
    else:
        parts = _DURATION.findall(raw)
        if not parts or "".join(n + u for n, u in parts) != raw:
            raise ControlError(400, f"not a duration: {text!r} (use e.g. 15m, 1h, 1h30m, 90s)")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not 0 < seconds <= MAX_SNOOZE_S:
        raise ControlError(
            400, f"a snooze lasts more than 0 s and at most {MAX_SNOOZE_S // 86400} days"
        )
    return seconds


class Runtime(Protocol):
    """What `Control` needs of an account's pipeline (`AccountRuntime`)."""

    def attend(self, event: PolicyEvent, now_ms: int) -> Attention: ...

    @property
    def level(self) -> Level | None: ...


class Control:
    """The actions, over a name → runtime mapping; `persist(name, attention)` saves them."""

    def __init__(
        self,
        runtimes: Callable[[], dict[str, Runtime]],
        now_ms: Callable[[], int],
        persist: Callable[[str, Attention], object],
    ) -> None:
        self._runtimes = runtimes
        self._now_ms = now_ms
        self._persist = persist

    def names(self) -> list[str]:
        return list(self._runtimes())

    def _runtime(self, name: str) -> Runtime:
        runtime = self._runtimes().get(name)
        if runtime is None:
            known = ", ".join(self._runtimes()) or "none"
            raise ControlError(404, f"no account named {name!r} (accounts: {known})")
        return runtime

    def _apply(self, name: str, event: PolicyEvent) -> Attention:
        now = self._now_ms()
        attention = self._runtime(name).attend(event, now)
        self._persist(name, attention)
        log.info("account %s: %s", name, describe(attention, now))
        return attention

    def ack(self, name: str, by: str = "") -> dict[str, Any]:
        runtime = self._runtime(name)
        if runtime.level is None:
            raise ControlError(
                409, f"account {name}: no alert level raised, nothing to acknowledge"
            )
        att = self._apply(name, Ack(by))
        return self._answer(name, "ack", att)

    def snooze(self, name: str, seconds: float, by: str = "") -> dict[str, Any]:
        self._runtime(name)
        until = self._now_ms() + round(seconds * 1000)
        att = self._apply(name, Snooze(until, by))
        return self._answer(name, "snooze", att)

    def unsnooze(self, name: str, by: str = "") -> dict[str, Any]:
        att = self._apply(name, Unsnooze())
        return self._answer(name, "unsnooze", att)

    def _answer(self, name: str, action: str, att: Attention) -> dict[str, Any]:
        now = self._now_ms()
        return {
            "ok": True,
            "account": name,
            "action": action,
            **status_keys(att),
            "message": f"account {name}: {describe(att, now)}",
        }


def status_keys(att: Attention) -> dict[str, Any]:
    """The `/status` keys of an account's attention: `ack` and `snooze_until` (ms or null)."""
    ack = None
    if att.ack_level is not None:
        ack = {"level": str(att.ack_level), "t_ms": att.ack_ms, "incident": att.ack_incident}
    return {
        "ack": ack,
        "snooze_until": att.snooze_until_ms if att.snooze_level is not None else None,
        "snooze_level": None if att.snooze_level is None else str(att.snooze_level),
    }


def describe(att: Attention, now_ms: int) -> str:
    parts = []
    if att.ack_level is not None:
        parts.append(f"acknowledged at {att.ack_level}")
    if att.snooze_level is not None:
        left = max(0, att.snooze_until_ms - now_ms) / 1000
        parts.append(f"snoozed ({att.snooze_level} and below) for {left / 60:.0f} min more")
    return ", ".join(parts) or "no ack, no snooze"


class ControlApi:
    """The HTTP side of `Control` (`handles` / `respond`, called by `HttpServer`)."""

    def __init__(
        self, control: Control, token: str | None, is_loopback: Callable[[str], bool]
    ) -> None:
        self._control = control
        self._token = token
        self._is_loopback = is_loopback
        #: Refused control requests (401/403), for the operator's curiosity.
        self.refused = 0

    @staticmethod
    def handles(request: web.Request) -> bool:
        parts = request.path.split("/")
        return len(parts) == 4 and parts[1] == "api" and parts[2] in ACTIONS

    def _refusal(self, request: web.Request) -> web.Response | None:
        if self._token is None:
            if self._is_loopback(request.remote or ""):
                return None
            return _json(
                {
                    "ok": False,
                    "error": "the control API answers loopback clients"
                    " only (set [http] api_token_env to allow others)",
                },
                403,
            )
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return _json({"ok": False, "error": "a bearer token is required"}, 401)
        if not hmac.compare_digest(given.strip().encode(), self._token.encode()):
            return _json({"ok": False, "error": "wrong token"}, 403)
        return None

    async def respond(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.Response(
                status=405, text="405: use POST\n", headers={**_HEADERS, "Allow": "POST"}
            )
        refused = self._refusal(request)
        if refused is not None:
            self.refused += 1
            return refused
        _, _, action, name = request.path.split("/")
        by = f"http {request.remote or '?'}"
        try:
            if action == "ack":
                body = self._control.ack(name, by)
            elif action == "snooze":
                duration = request.query.get("duration", "")
                if not duration:
                    raise ControlError(400, "give ?duration= (e.g. 15m)")
                body = self._control.snooze(name, parse_duration(duration), by)
            else:
                body = self._control.unsnooze(name, by)
        except ControlError as exc:
            return _json({"ok": False, "error": str(exc)}, exc.status)
        return _json(body)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", headers=_HEADERS
    )
