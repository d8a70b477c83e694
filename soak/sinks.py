"""Real notifier sinks on loopback: an SMTP server (aiosmtpd), a Telegram Bot API stand-in and a
webhook receiver (aiohttp), each recording what arrived and able to go down and come back on
the same port (the notifier outage). The two HTTP sinks can also answer slowly (`slow`): a
request that arrives while a sink is slow is recorded at once and answered `delay_s` later
(the slow-notifier phase); the webhook keeps each request's `Idempotency-Key` header.

Every alert message ends with `alert <id>` (the footer of every rendering), so a receipt is
reduced to that id; the raw bytes are kept for the secret scan.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

ALERT_ID = re.compile(r"alert ([A-Za-z0-9_-]+/[a-z_]+/[a-z-]+/\d+(?:/[^\s<]+)?)")


def free_port() -> int:
    """An ephemeral loopback port that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Receipt:
    """One alert as a sink got it: which sink, the alert id (None: unparseable), when (the
    request's arrival, monotonic), the `Idempotency-Key` header if any, and `delay_s` when the
    sink answered it that much later (the slow-notifier phase)."""

    sink: str
    alert_id: str | None
    at: float
    key: str | None = None
    delay_s: float = 0.0


@dataclass(slots=True)
class Inbox:
    """What every sink received, in arrival order, plus the raw bytes for the secret scan."""

    receipts: list[Receipt] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def add(
        self, sink: str, text: str, raw: bytes, *, key: str | None = None, delay_s: float = 0.0
    ) -> None:
        self.raw.append(raw)
        match = ALERT_ID.search(text)
        alert_id = match.group(1) if match else None
        self.receipts.append(Receipt(sink, alert_id, time.monotonic(), key, delay_s))

    def of(self, sink: str) -> list[Receipt]:
        return [r for r in self.receipts if r.sink == sink]


def _email_text(message: Message) -> str:
    parts: list[str] = [str(message.get("Subject", ""))]
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode("utf-8", "replace"))
    return "\n".join(parts)


class SmtpSink:
    """An SMTP server (own thread) requiring AUTH LOGIN/PLAIN with `user`/`password`."""

    name = "smtp"

    def __init__(self, inbox: Inbox, user: str, password: str) -> None:
        self.inbox = inbox
        self.user = user
        self.password = password
        self.port = free_port()
        self._controller: Controller | None = None

    def url(self) -> str:
        return (
            f"mailto://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}"
            "?mode=insecure&from=marginwatch@example.com&to=trader@example.com"
        )

    def start(self) -> None:
        if self._controller is not None:
            return
        # aiosmtpd logs a deprecation warning ("Session.login_data") on every AUTH it accepts;
        # on a soak with hundreds of deliveries that buries the report.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == (
            self.user.encode(),
            self.password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.inbox.add(self.name, _email_text(message_from_bytes(raw)), raw)
        return "250 OK"


class HttpSink:
    """An aiohttp receiver of JSON POSTs on a fixed port: the webhook or the Telegram stand-in."""

    def __init__(self, inbox: Inbox, name: str, field_name: str) -> None:
        self.inbox = inbox
        self.name = name
        self.port = free_port()
        self._field = field_name
        self._runner: web.AppRunner | None = None
        #: While > 0, every request is answered this many seconds after it arrived.
        self.delay_s = 0.0
        #: Slow answers still being held back (a sink must not stop while it holds one).
        self.holding = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        text = str(body.get(self._field, "")) if isinstance(body, dict) else ""
        delay = self.delay_s
        key = request.headers.get("Idempotency-Key")
        self.inbox.add(self.name, text, raw, key=key, delay_s=delay)
        message_id = len(self.inbox.raw)
        if delay > 0.0:
            self.holding += 1
            try:
                await asyncio.sleep(delay)
            finally:
                self.holding -= 1
        return web.json_response({"ok": True, "result": {"message_id": message_id}})


@dataclass(slots=True)
class Sinks:
    """The three sinks; `outage` takes SMTP and Telegram down, `restore` brings them back."""

    inbox: Inbox
    smtp: SmtpSink
    telegram: HttpSink
    webhook: HttpSink
    bot_token: str
    chat_id: str = "-1001234567"

    @classmethod
    def create(cls, smtp_user: str, smtp_password: str, bot_token: str) -> Sinks:
        inbox = Inbox()
        return cls(
            inbox,
            SmtpSink(inbox, smtp_user, smtp_password),
            HttpSink(inbox, "telegram", "text"),
            HttpSink(inbox, "webhook", "message"),
            bot_token,
        )

    @property
    def names(self) -> tuple[str, ...]:
        return (self.smtp.name, self.telegram.name, self.webhook.name)

    def urls(self) -> list[str]:
        """The Apprise URLs the daemon is configured with."""
        return [
            self.smtp.url(),
            f"tgram://{self.bot_token}/{self.chat_id}",
            f"json://127.0.0.1:{self.webhook.port}/hook",
        ]

    async def start(self) -> None:
        self.smtp.start()
        await self.telegram.start()
        await self.webhook.start()

    async def outage(self) -> None:
        self.smtp.stop()
        await self.telegram.stop()

    async def restore(self) -> None:
        self.smtp.start()
        await self.telegram.start()

    async def stop(self) -> None:
        self.smtp.stop()
        await self.telegram.stop()
        await self.webhook.stop()

    def slow(self, delays: dict[str, float]) -> None:
        """Make the named HTTP sinks answer `delay` seconds late (0: at once again)."""
        for sink in (self.telegram, self.webhook):
            if sink.name in delays:
                sink.delay_s = delays[sink.name]
