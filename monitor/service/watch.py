"""`marginwatch watch`: a live terminal view of the daemon's /status document (rich).

`watch(...)` polls the endpoint and redraws each document as `watch_render.py` shows it
(`render_status`); when the daemon is down it says so (`render_unreachable`) and keeps trying.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from rich.console import Console, RenderableType
from rich.live import Live
from rich.rule import Rule
from rich.text import Text
from yarl import URL

from monitor.service.watch_render import render_status, render_unreachable

DEFAULT_URL = "http://127.0.0.1:9108"
#: Exit status of `--once` when no document could be fetched.
EXIT_UNREACHABLE = 2


class StatusUnavailable(Exception):
    """No usable /status document: the daemon is unreachable or answered something else."""

    def __init__(self, reason: str, *, unreachable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


# ---- polling -----------------------------------------------------------------------------------


def status_url(url: str) -> str:
    """The /status address for a base URL (`http://127.0.0.1:9108` or already `.../status`)."""
    return url if url.rstrip("/").endswith("/status") else url.rstrip("/") + "/status"


def shown_url(url: str) -> str:
    """The address as shown on screen and in messages: without any user:password part."""
    try:
        return str(URL(url).with_user(None))
    except ValueError:
        return url


async def fetch_status(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """GET the document; `StatusUnavailable` when unreachable or not a /status document."""
    try:
        async with session.get(url) as response:
            body = await response.read()
            code = response.status
    except TimeoutError:
        raise StatusUnavailable("timed out", unreachable=True) from None
    except aiohttp.ClientError as exc:
        reason = f"{type(exc).__name__}: {exc}".replace(url, shown_url(url))
        raise StatusUnavailable(reason, unreachable=True) from None
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    # an unhealthy daemon may answer 503 with the document: show it all the same
    if not isinstance(doc, dict) or "accounts" not in doc:
        raise StatusUnavailable(f"HTTP {code}: not a /status document", unreachable=False)
    return doc


def _frame(doc: Mapping[str, Any]) -> RenderableType:
    try:
        return render_status(doc)
    except Exception as exc:  # a bad document must not end the view
        return Text(f"could not show the /status document: {type(exc).__name__}: {exc}", "red")


async def watch(
    url: str = DEFAULT_URL,
    interval: float = 1.0,
    once: bool = False,
    console: Console | None = None,
) -> int:
    """Poll `url` every `interval` s and redraw; `once`: one frame, exit 0 (or 2 if unavailable).

    On a terminal the view redraws in place; otherwise each frame is printed after a rule. Runs
    until cancelled (Ctrl-C) when not `once`.
    """
    if not interval > 0:
        raise ValueError(f"interval must be > 0 seconds, not {interval}")
    console = console or Console()
    target, shown = status_url(url), shown_url(status_url(url))
    timeout = aiohttp.ClientTimeout(total=max(2.0, min(interval * 3, 10.0)))
    async with aiohttp.ClientSession(timeout=timeout) as session:
        if once:
            try:
                doc = await fetch_status(session, target)
            except StatusUnavailable as exc:
                console.print(render_unreachable(shown, exc.reason))
                return EXIT_UNREACHABLE
            console.print(_frame(doc))
            return 0
        if console.is_terminal:
            with Live(console=console, auto_refresh=False, redirect_stderr=False) as live:
                await _poll(
                    session, target, shown, interval, lambda f: live.update(f, refresh=True)
                )
        else:
            await _poll(session, target, shown, interval, lambda f: _print(console, f))
    return 0


def _print(console: Console, frame: RenderableType) -> None:
    console.print(Rule(style="dim"))
    console.print(frame)


async def _poll(
    session: aiohttp.ClientSession,
    target: str,
    shown: str,
    interval: float,
    show: Callable[[RenderableType], None],
) -> None:
    loop = asyncio.get_running_loop()
    failures = 0
    while True:
        started = loop.time()
        try:
            doc = await fetch_status(session, target)
        except StatusUnavailable as exc:
            failures += 1
            show(render_unreachable(shown, exc.reason, failures=failures, interval=interval))
        else:
            failures = 0
            show(_frame(doc))
        await asyncio.sleep(max(0.0, interval - (loop.time() - started)))


def run_watch(url: str = DEFAULT_URL, interval: float = 1.0, once: bool = False) -> int:
    """The synchronous entry for the CLI: runs `watch` until done or Ctrl-C (exit 0)."""
    try:
        return asyncio.run(watch(url, interval, once))
    except KeyboardInterrupt:
        return 0
