"""Telegram delivery through the Bot API with aiohttp, honouring `retry_after` on HTTP 429.

Apprise's Telegram plugin posts to a fixed `api.telegram.org` and discards the 429 body, so
`tgram://` destinations are sent here instead: the same Apprise URL syntax
(`tgram://BOT_TOKEN/CHAT_ID[/CHAT_ID...]`, or `?to=`), a configurable API base URL, and a
`SendResult` that carries Telegram's `retry_after` for the worker to honour.

The Bot API has no idempotency key: an attempt unanswered within `timeout_s` is reported
*unknown* and keeps running until the hard limit, so a slow Bot API's late answer settles the
retry instead of a second message (see `inflight`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

import aiohttp

from monitor.alerts.inflight import InFlight
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.sender import SendResult
from monitor.base.secrets import scrub

DEFAULT_API_BASE = "https://api.telegram.org"
SCHEMES = ("tgram", "telegram")
#: Telegram statuses that no retry can fix (bad request, bad token, blocked, unknown chat).
PERMANENT_STATUSES = frozenset({400, 401, 403, 404})


def parse_tgram(url: str) -> tuple[str, list[str]]:
    """The bot token and chat ids of an Apprise `tgram://` URL."""
    rest = url.split("://", 1)[-1]
    base, _, query = rest.partition("?")
    token_raw, _, path = base.partition("/")
    token = unquote(token_raw)
    if ":" not in token:
        raise ValueError("a Telegram URL needs the bot token first: tgram://123456:ABC.../CHAT_ID")
    chats = [unquote(p) for p in path.split("/") if p]
    for key, value in parse_qsl(query):
        if key == "to":
            chats.extend(c for c in re.split(r"[,\s]+", value) if c)
    if not chats:
        raise ValueError("a Telegram URL needs at least one chat id: tgram://TOKEN/CHAT_ID")
    return token, chats


def chat_payload(chat: str, html: str, *, silent: bool = False) -> dict[str, Any]:
    """The sendMessage body; `chat` may be `id:thread` to post into a forum topic; `silent`
    delivers without a notification sound (info-level alerts such as the daily digest)."""
    chat_id, _, thread = chat.partition(":")
    payload: dict[str, Any] = {
        "chat_id": chat_id,
        "text": html,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    if thread.isdigit():
        payload["message_thread_id"] = int(thread)
    if silent:
        payload["disable_notification"] = True
    return payload


#: Alert kinds whose Telegram message carries the Ack / Snooze / Status buttons.
BUTTON_KINDS = frozenset({"level", "repeat", "escalation", "rapid"})
SNOOZE_BUTTON = "15m"


def buttons(account: str) -> dict[str, Any]:
    """The inline keyboard of a level alert (callback data: `ack:NAME`, `snooze:15m:NAME`,
    `status`; at most 64 bytes, so a very long account name gets no Ack/Snooze)."""
    row: list[dict[str, str]] = []
    if len(account.encode()) <= 50:
        row += [
            {"text": "Ack", "callback_data": f"ack:{account}"},
            {"text": "Snooze 15 m", "callback_data": f"snooze:{SNOOZE_BUTTON}:{account}"},
        ]
    row.append({"text": "Status", "callback_data": "status"})
    return {"inline_keyboard": [row]}


def interpret(status: int, body: Mapping[str, Any], secrets: frozenset[str]) -> SendResult:
    """Turn a Bot API answer into a `SendResult` (pure)."""
    if status == 200 and body.get("ok") is True:
        return SendResult.delivered()
    description = scrub(str(body.get("description") or "no description"), secrets)
    params = body.get("parameters")
    if status == 429 or body.get("error_code") == 429:
        wait = params.get("retry_after") if isinstance(params, Mapping) else None
        retry_after = float(wait) if isinstance(wait, int | float) and wait >= 0 else None
        return SendResult(False, f"Telegram HTTP 429: {description}", retry_after_s=retry_after)
    return SendResult.failed(
        f"Telegram HTTP {status}: {description}", permanent=status in PERMANENT_STATUSES
    )


class TelegramSender:
    """Sends to one chat of one bot."""

    def __init__(
        self,
        token: str,
        chat: str,
        secrets: frozenset[str],
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout_s: float = 60.0,
        urgency: str = "auto",
        buttons: bool = False,
    ) -> None:
        self._url = f"{api_base.rstrip('/')}/bot{token}/sendMessage"
        self._buttons = buttons  # the bot answers commands: level alerts get inline buttons
        self._urgency = urgency  # "auto": info-level alerts are silent; "none": never
        self._chat = chat
        self._secrets = secrets | {token}
        self._inflight = InFlight(timeout_s)
        self._timeout = aiohttp.ClientTimeout(total=self._inflight.hard_limit_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: RenderedAlert, *, key: str | None = None) -> SendResult:
        return await self._inflight.run(key, lambda: self._post(message))

    async def _post(self, message: RenderedAlert) -> SendResult:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            payload = chat_payload(self._chat, message.html, silent=self._silent(message))
            if self._buttons and message.account and message.kind in BUTTON_KINDS:
                payload["reply_markup"] = buttons(message.account)
            async with self._session.post(self._url, json=payload) as resp:
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        except TimeoutError:  # the request may have reached Telegram: unknown, not failed
            return SendResult.no_answer(f"no answer within {self._inflight.hard_limit_s:g} s")
        except aiohttp.ClientError as exc:
            error = f"Telegram unreachable: {type(exc).__name__}: {exc}"
            return SendResult.failed(scrub(error, self._secrets))
        return interpret(status, body if isinstance(body, Mapping) else {}, self._secrets)

    def _silent(self, message: RenderedAlert) -> bool:
        return self._urgency == "auto" and message.urgency == "info"

    async def aclose(self) -> None:
        await self._inflight.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None
