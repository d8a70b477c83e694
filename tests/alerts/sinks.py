"""Real loopback sinks for delivery tests (aiosmtpd SMTP, scripted HTTP) and sample alerts."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.alerts.levels import AlertIntent, AlertKind, Level, level_tags
from monitor.alerts.messages import RenderedAlert

SMTP_USER = "user"
SMTP_PASSWORD = "s3cret-pw"
BOT_TOKEN = "123456:AAbbCCddEEff-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """An SMTP server on loopback (own thread) that requires AUTH and records messages."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.port = free_port()
        self.messages: list[Message] = []
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    def url(self, password: str = SMTP_PASSWORD) -> str:
        return (
            f"mailto://{SMTP_USER}:{password}@127.0.0.1:{self.port}"
            "?mode=insecure&from=marginwatch@example.com&to=trader@example.com"
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @staticmethod
    def _authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(message_from_bytes(content))
        return "250 OK"


@dataclass
class Post:
    path: str
    body: dict[str, Any]
    at: float
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpSink:
    """A loopback HTTP server recording JSON POSTs (when they arrive); answers come from
    `script`, then 200, each after `delays` (one per request) or else `delay_s` (a slow
    service)."""

    script: list[tuple[int, dict[str, Any] | str]] = field(default_factory=list)
    ok_body: dict[str, Any] = field(default_factory=lambda: {"ok": True, "result": {}})
    posts: list[Post] = field(default_factory=list)
    port: int = 0
    delay_s: float = 0.0
    delays: list[float] = field(default_factory=list)  # per request, before `delay_s`
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def json_url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port or free_port())
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read() or b"{}")
        self.posts.append(Post(request.path, body, time.monotonic(), dict(request.headers)))
        delay = self.delays.pop(0) if self.delays else self.delay_s
        if delay:
            await asyncio.sleep(delay)
        status, answer = self.script.pop(0) if self.script else (200, self.ok_body)
        if isinstance(answer, str):
            return web.Response(text=answer, status=status)
        return web.json_response(answer, status=status)


def make_intent(
    n: int = 0,
    *,
    kind: AlertKind = AlertKind.LEVEL,
    level: Level | None = Level.WARNING,
    account: str = "alice",
    topic: str = "",
) -> AlertIntent:
    """An intent numbered `n` (its time and id derive from it)."""
    t_ms = 1_700_000_000_000 + n
    return AlertIntent(
        alert_id=f"{account}/{kind}/{level or '-'}/{t_ms}",
        account=account,
        kind=kind,
        level=level,
        risk=0.75,
        t_ms=t_ms,
        tags=level_tags(level) | {account},
        topic=topic,
    )


def make_message(n: int = 0) -> RenderedAlert:
    return RenderedAlert(
        subject=f"[WARNING] alice: alert {n}",
        text=f"alert number {n}",
        html=f"<b>alert number {n}</b>",
        line=f"alert {n}",
    )
