"""Talking to the processes over loopback HTTP: the simulator's `/__sim` control API, the daemon's
`/metrics` and `/status`, and the state check (engine vs a fresh REST snapshot)."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.binance.decode.snapshot import build_state, rest_paths_for
from monitor.binance.endpoints import endpoints_for
from monitor.binance.rest import RestClient
from monitor.calc import build_report
from monitor.engine.book import Book
from monitor.engine.model import Mode

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")
#: Relative tolerance of the state check (both sides compute in float from the same decimals).
REL_TOL = 1e-6
_TIMEOUT = aiohttp.ClientTimeout(total=10)


class HttpError(Exception):
    """A loopback request failed (the message names the URL path, never a secret)."""


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with session.get(url, timeout=_TIMEOUT) as resp:
            return json.loads(await resp.text())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise HttpError(f"GET {url.split('/', 3)[-1]}: {type(exc).__name__}") from None


async def get_text(session: aiohttp.ClientSession, url: str) -> str:
    try:
        async with session.get(url, timeout=_TIMEOUT) as resp:
            return await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HttpError(f"GET {url.split('/', 3)[-1]}: {type(exc).__name__}") from None


async def get_status(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    """The HTTP status and JSON document of a GET (`/healthz` answers 503 with a body)."""
    try:
        async with session.get(url, timeout=_TIMEOUT) as resp:
            return resp.status, json.loads(await resp.text())
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise HttpError(f"GET {url.split('/', 3)[-1]}: {type(exc).__name__}") from None


async def wait_http(session: aiohttp.ClientSession, url: str, timeout_s: float) -> None:
    """Poll `url` until it answers 200 or `timeout_s` passes (raises HttpError)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            async with session.get(url, timeout=_TIMEOUT) as resp:
                if resp.status == 200:
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    raise HttpError(f"no answer from {url.split('/', 3)[-1]} within {timeout_s:g} s")


@dataclass(slots=True)
class SimControl:
    """The simulator's control API."""

    session: aiohttp.ClientSession
    base: str

    async def state(self) -> dict[str, Any]:
        doc = await get_json(self.session, f"{self.base}/__sim/state")
        if not isinstance(doc, dict):
            raise HttpError("GET __sim/state: not an object")
        return doc

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with self.session.post(
                f"{self.base}{path}", json=body, timeout=_TIMEOUT
            ) as resp:
                doc = json.loads(await resp.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise HttpError(f"POST {path}: {type(exc).__name__}") from None
        if not isinstance(doc, dict) or not doc.get("ok"):
            error = doc.get("error") if isinstance(doc, dict) else doc
            raise HttpError(f"POST {path} {body.get('kind', '')}: {error}")
        return doc

    async def fault(self, spec: dict[str, Any]) -> Any:
        return (await self._post("/__sim/fault", spec)).get("result")

    async def push(self, conn: str, data: dict[str, Any]) -> int:
        return int((await self._post("/__sim/push", {"conn": conn, "data": data})).get("sent", 0))


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {"name{labels}": value} (comments skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line.strip())
        if match is None:
            continue
        try:
            out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
        except ValueError:
            continue
    return out


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        metric, _, rest = key.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total


@dataclass(slots=True)
class DaemonProbe:
    """The daemon's HTTP endpoint."""

    session: aiohttp.ClientSession
    base: str

    async def metrics_text(self) -> str:
        return await get_text(self.session, f"{self.base}/metrics")

    async def status_text(self) -> str:
        return await get_text(self.session, f"{self.base}/status")

    async def healthz(self) -> tuple[int, Any]:
        return await get_status(self.session, f"{self.base}/healthz")


def _close(a: object, b: object) -> bool:
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return a == b
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b
    return abs(a - b) <= REL_TOL * max(1.0, abs(a), abs(b))


def compare_reports(engine: dict[str, Any], exchange: dict[str, Any]) -> list[str]:
    """The figures on which the daemon's `/status` entry and the REST-built report differ."""
    diffs = [
        f"{key}: daemon {engine.get(key)!r} vs REST {exchange.get(key)!r}"
        for key in ("mode", "risk", "equity", "maint_margin")
        if not _close(engine.get(key), exchange.get(key))
    ]
    legs_engine = {(p["symbol"], p["side"]): p for p in engine.get("positions") or []}
    legs_rest = {(p["symbol"], p["side"]): p for p in exchange.get("positions") or []}
    if set(legs_engine) != set(legs_rest):
        diffs.append(f"positions: daemon {sorted(legs_engine)} vs REST {sorted(legs_rest)}")
    for leg, rest in legs_rest.items():
        mine = legs_engine.get(leg)
        if mine is None:
            continue
        for key in ("qty", "entry_price", "mark_price", "maint_margin"):
            if not _close(mine.get(key), rest.get(key)):
                diffs.append(f"{leg[0]} {key}: daemon {mine.get(key)!r} vs REST {rest.get(key)!r}")
    return diffs


async def rest_report(rest_base: str, ws_base: str, key: str, secret: str) -> dict[str, Any]:
    """The calc report of a fresh REST snapshot of the simulator's account (signed, as the
    daemon asks for it)."""
    client = RestClient(endpoints_for("custom", rest_base, ws_base), key, secret, max_attempts=3)
    try:
        results = await client.snapshot(rest_paths_for(Mode.USDM))
    finally:
        await client.close()
    state = build_state({r.path: r.data for r in results}, Mode.USDM)
    return build_report(Book(state))
