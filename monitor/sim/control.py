"""The `/__sim` control API: drive faults and read counters from another (loopback) process.

Only clients on a loopback address are served (others get 403); there is no other protection,
so never expose a simulator on a public interface.

- `GET  /__sim/state` → the `state()` JSON (counters, playback, listenKeys, faults).
- `POST /__sim/fault` with `{"kind": NAME, ...params}` → `{"ok": true, "result": ...}`.
  NAME and params (the connection kind is `conn`, since `kind` names the fault):
  `drop {conn}`, `rotate {conn}`, `expire_listen_key {product}`, `silence {conn, seconds}`,
  `unsilence {conn}`, `rest_errors {status, count, retry_after_s, path_prefix, body}`,
  `malformed {count, conn, seed, varieties}`, `skew_time {ms}`, `legacy_silent {on, scope}`,
  `extra_fields {on}`, `clear {}`. Bad input → 400 `{"ok": false, "error": "..."}`.
- `POST /__sim/push` with `{"conn": "user"|"market", "data": ...}` → `{"ok": true, "sent": n}`.
- `POST /__sim/rest` with `{"path": "/fapi/v3/account", "data": ..., "status": 200}` overrides
  that path's GET answer (verbatim) until the recording's next answer of that path.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from monitor.sim.errors import dumps
from monitor.sim.faults import Faults


class ControlTarget(Protocol):
    faults: Faults

    def state(self) -> dict[str, Any]: ...

    def push_user(self, event: dict[str, Any]) -> int: ...

    def push_market(self, payload: dict[str, Any] | list[Any]) -> int: ...

    def set_rest(self, path: str, data: object, status: int = 200) -> None: ...


def _reply(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(body), content_type="application/json")


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _opt_float(spec: dict[str, Any], name: str) -> float | None:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' must be a number")
    return float(value)


def _int(spec: dict[str, Any], name: str, default: int | None = None) -> int:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an integer")
    return value


def _opt_str(spec: dict[str, Any], name: str) -> str | None:
    value = spec.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"'{name}' must be a string")
    return value


def _names(spec: dict[str, Any], name: str) -> list[str] | None:
    value = spec.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"'{name}' must be a list of strings")
    return value


def _conn(spec: dict[str, Any], default: str = "all") -> str:
    value = spec.get("conn", default)
    if not isinstance(value, str):
        raise ValueError("'conn' must be a string")
    return value


def apply_fault(faults: Faults, spec: dict[str, Any]) -> Any:
    """Apply one fault described as JSON; raises ValueError on a bad description."""
    kind = spec.get("kind")
    actions: dict[str, Callable[[], Any]] = {
        "drop": lambda: faults.drop(_conn(spec)),
        "rotate": lambda: faults.rotate(_conn(spec)),
        "expire_listen_key": lambda: faults.expire_listen_key(_opt_str(spec, "product")),
        "silence": lambda: faults.silence(_conn(spec), _opt_float(spec, "seconds")),
        "unsilence": lambda: faults.unsilence(_conn(spec)),
        "rest_errors": lambda: faults.rest_errors(
            _int(spec, "status"),
            _int(spec, "count", 1),
            _opt_float(spec, "retry_after_s"),
            _opt_str(spec, "path_prefix"),
            spec.get("body"),
        ),
        "malformed": lambda: faults.malformed(
            _int(spec, "count", 1),
            _conn(spec, "market"),
            seed=_int(spec, "seed", 0),
            varieties=_names(spec, "varieties"),
        ),
        "skew_time": lambda: faults.skew_time(_int(spec, "ms")),
        "legacy_silent": lambda: faults.legacy_silent(
            bool(spec.get("on", True)), _opt_str(spec, "scope") or "all"
        ),
        "extra_fields": lambda: faults.extra_fields(bool(spec.get("on", True))),
        "clear": faults.clear,
    }
    if not isinstance(kind, str) or kind not in actions:
        raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(sorted(actions))})")
    return actions[kind]()


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"the body must be a JSON object ({exc})") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


async def handle_control(target: ControlTarget, request: web.Request) -> web.Response:
    """Answer one `/__sim/...` request."""
    if not is_loopback(request.remote):
        return _reply({"ok": False, "error": "the control API is for loopback clients only"}, 403)
    path, method = request.path, request.method.upper()
    try:
        if path == "/__sim/state" and method == "GET":
            return _reply(target.state())
        if method != "POST" or path not in ("/__sim/fault", "/__sim/push", "/__sim/rest"):
            return _reply({"ok": False, "error": f"no control endpoint {method} {path}"}, 404)
        spec = await _json_body(request)
        if path == "/__sim/fault":
            return _reply({"ok": True, "result": apply_fault(target.faults, spec)})
        if path == "/__sim/push":
            data = spec.get("data")
            conn = spec.get("conn", "user")
            if conn == "user" and isinstance(data, dict):
                return _reply({"ok": True, "sent": target.push_user(data)})
            if conn == "market" and isinstance(data, dict | list):
                return _reply({"ok": True, "sent": target.push_market(data)})
            raise ValueError("push needs conn 'user' with an object or 'market' with a frame")
        rest_path = spec.get("path")
        if not isinstance(rest_path, str) or not rest_path.startswith("/") or "data" not in spec:
            raise ValueError("rest needs a 'path' starting with '/' and 'data'")
        target.set_rest(rest_path, spec["data"], _int(spec, "status", 200))
        return _reply({"ok": True})
    except ValueError as exc:
        return _reply({"ok": False, "error": str(exc)}, 400)
