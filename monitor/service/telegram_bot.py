"""Telegram commands: a long-poll `getUpdates` bot (aiohttp) that answers from allowed chats.

Commands: /status (every account: risk, native figure, distance to liquidation, data age —
the figures of the `/status` document), /account NAME, /ack [NAME], /snooze DURATION [NAME],
/unsnooze [NAME], /help. Level alerts sent to Telegram carry inline buttons (Ack, Snooze 15 m,
Status); a press is answered with answerCallbackQuery and its buttons removed with
editMessageReplyMarkup. Only `allowed_chats` and `allowed_users` may command: anything else is
ignored and counted (`ignored`). Without a NAME, /ack and /snooze act on every account with a
level raised (/snooze: every account). The API base URL is configurable (tests use a loopback
stand-in); the bot token never appears in logs or errors.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import aiohttp

from monitor.base.secrets import scrub
from monitor.service.control import Control, ControlError, parse_duration

log = logging.getLogger(__name__)

HELP = (
    "/status — every account: risk, native figure, distance to liquidation, data age\n"
    "/account NAME — positions, liquidation prices, what restores safety\n"
    "/ack [NAME] — stop the repeats and escalation of the current episode\n"
    "/snooze DURATION [NAME] — silence repeats and levels up to the current one (e.g. 15m)\n"
    "/unsnooze [NAME] — end a snooze\n"
    "/help — this text"
)


def _pct(x: Any, signed: bool = False) -> str:
    if not isinstance(x, int | float):
        return "—"
    return f"{x * 100:+.1f} %" if signed else f"{x * 100:.1f} %"


def native(doc: Mapping[str, Any]) -> str:
    """The mode's own figure, from a /status account entry."""
    if doc.get("mode") == "portfolio_margin":
        uni = doc.get("uni_mmr")
        return "uniMMR ∞" if uni is None else f"uniMMR {uni:.3f}"
    ratio = doc.get("margin_ratio")
    return f"margin ratio {_pct(ratio)}" if ratio is not None else "margin ratio —"


def data_age(doc: Mapping[str, Any]) -> float | None:
    """The oldest watched source's age (s), from a /status account entry."""
    ages = [v for v in (doc.get("sources") or {}).values() if isinstance(v, int | float)]
    return max(ages) if ages else None


def status_line(doc: Mapping[str, Any]) -> str:
    """One account of /status as one line (the same figures as the JSON document)."""
    name = doc.get("account", "?")
    dist = doc.get("distance") or {}
    age = data_age(doc)
    parts = (
        [
            f"risk {_pct(doc.get('risk'))}",
            native(doc),
            f"liq at {_pct(dist.get('uniform_down'), True)} / {_pct(dist.get('uniform_up'), True)}",
            f"data {age:.1f} s old" if age is not None else "data age —",
        ]
        if "risk" in doc
        else ["no figures yet"]
    )
    parts.append(f"level {doc.get('level') or 'none'}")
    ack = doc.get("ack")
    if ack:
        parts.append(f"acked at {ack.get('level')}")
    if doc.get("snooze_until"):
        parts.append("snoozed")
    return f"{name} ({doc.get('state', '?')}): " + " · ".join(parts)


def account_text(doc: Mapping[str, Any]) -> str:
    lines = [status_line(doc)]
    for pos in doc.get("positions") or []:
        liq = pos.get("liquidation_price")
        lines.append(
            f"{pos.get('symbol')} {pos.get('side')} {pos.get('qty')} mark {pos.get('mark_price')}"
            f" liq {liq if liq is not None else '—'}"
        )
    restore = doc.get("restore") or {}
    deposit = restore.get("deposit") or {}
    if deposit.get("amount"):
        lines.append(
            f"Restore to {_pct(restore.get('target_risk'))}: deposit {deposit['amount']:.2f}"
            f" {deposit.get('asset')}"
        )
    cut = restore.get("cut")
    if cut:
        lines.append(
            f"or close {_pct(cut.get('fraction'))} of {cut.get('symbol')} {cut.get('side')}"
        )
    return "\n".join(lines)


class TelegramBot:
    """Long-polls one bot's updates and answers commands and button presses."""

    def __init__(
        self,
        token: str,
        control: Control,
        status: Callable[[], Sequence[Mapping[str, Any]]],
        *,
        allowed_chats: Iterable[int] = (),
        allowed_users: Iterable[int] = (),
        api_base: str = "https://api.telegram.org",
        poll_timeout_s: float = 30.0,
    ) -> None:
        self._base = f"{api_base.rstrip('/')}/bot{token}/"
        self._secrets = frozenset({token})
        self._control = control
        self._status = status
        self._chats = frozenset(allowed_chats)
        self._users = frozenset(allowed_users)
        self._poll_s = poll_timeout_s
        self._offset = 0
        #: Updates from chats or users not allowed (ignored, never answered).
        self.ignored = 0
        self.handled = 0
        self._session: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        """Poll forever (cancel to stop); errors back off and are logged without the token."""
        delay = 1.0
        try:
            while True:
                try:
                    updates = await self._call(
                        "getUpdates",
                        {
                            "offset": self._offset,
                            "timeout": int(self._poll_s),
                            "allowed_updates": ["message", "callback_query"],
                        },
                        timeout=self._poll_s + 10,
                    )
                    delay = 1.0
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    log.warning("telegram bot: getUpdates failed: %s", self._scrub(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 60.0)
                    continue
                for update in updates if isinstance(updates, list) else []:
                    self._offset = max(self._offset, int(update.get("update_id", 0)) + 1)
                    try:
                        await self.handle(update)
                    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                        log.warning("telegram bot: answer failed: %s", self._scrub(exc))
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _scrub(self, exc: BaseException) -> str:
        return scrub(f"{type(exc).__name__}: {exc}", self._secrets)

    async def _call(self, method: str, body: Mapping[str, Any], timeout: float = 30.0) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(
            self._base + method, json=body, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            answer = await resp.json(content_type=None)
        if not isinstance(answer, Mapping) or answer.get("ok") is not True:
            desc = answer.get("description") if isinstance(answer, Mapping) else None
            raise ValueError(f"{method}: {desc or 'not ok'}")
        return answer.get("result")

    def allowed(self, chat: Any, user: Any) -> bool:
        return (chat in self._chats) or (user in self._users)

    async def handle(self, update: Mapping[str, Any]) -> None:
        """One update: a command message or a button press."""
        if "callback_query" in update:
            await self._on_button(update["callback_query"])
            return
        message = update.get("message") or {}
        text = str(message.get("text") or "")
        chat = (message.get("chat") or {}).get("id")
        user = (message.get("from") or {}).get("id")
        if not text.startswith("/"):
            return
        if not self.allowed(chat, user):
            self.ignored += 1
            log.info("telegram bot: ignored a command from a chat/user not allowed")
            return
        self.handled += 1
        words = text.split()
        command = words[0][1:].split("@", 1)[0].lower()
        answer = self.answer(command, words[1:], by=f"telegram user {user}")
        await self._call(
            "sendMessage",
            {"chat_id": chat, "text": answer, "link_preview_options": {"is_disabled": True}},
        )

    def answer(self, command: str, args: Sequence[str], by: str = "") -> str:
        """The text answering one command (pure but for the actions it takes)."""
        try:
            match command:
                case "status" | "start":
                    docs = self._status()
                    return "\n".join(status_line(d) for d in docs) or "no accounts"
                case "account":
                    if not args:
                        return "usage: /account NAME"
                    for doc in self._status():
                        if doc.get("account") == args[0]:
                            return account_text(doc)
                    return f"no account named {args[0]!r}"
                case "ack":
                    names = args[:1] or self._raised()
                    if not names:
                        return "nothing to acknowledge: no account has a level raised"
                    return "\n".join(self._control.ack(n, by)["message"] for n in names)
                case "snooze":
                    if not args:
                        return "usage: /snooze DURATION [NAME], e.g. /snooze 15m"
                    seconds = parse_duration(args[0])
                    names = args[1:2] or self._control.names()
                    return "\n".join(self._control.snooze(n, seconds, by)["message"] for n in names)
                case "unsnooze":
                    names = args[:1] or self._control.names()
                    return "\n".join(self._control.unsnooze(n, by)["message"] for n in names)
                case "help":
                    return HELP
        except ControlError as exc:
            return str(exc)
        return f"unknown command /{command}\n{HELP}"

    def _raised(self) -> list[str]:
        return [str(d["account"]) for d in self._status() if d.get("level")]

    async def _on_button(self, query: Mapping[str, Any]) -> None:
        message = query.get("message") or {}
        chat = (message.get("chat") or {}).get("id")
        user = (query.get("from") or {}).get("id")
        if not self.allowed(chat, user):
            self.ignored += 1
            return
        self.handled += 1
        data = str(query.get("data") or "")
        action, _, rest = data.partition(":")
        by = f"telegram user {user}"
        if action == "ack":
            text = self.answer("ack", [rest], by)
        elif action == "snooze":
            duration, _, name = rest.partition(":")
            text = self.answer("snooze", [duration, name], by)
        else:
            text = self.answer("status", [], by)
        await self._call(
            "answerCallbackQuery", {"callback_query_id": query.get("id"), "text": text[:200]}
        )
        if action in ("ack", "snooze") and chat is not None and "message_id" in message:
            await self._call(
                "editMessageReplyMarkup",
                {
                    "chat_id": chat,
                    "message_id": message["message_id"],
                    "reply_markup": {"inline_keyboard": []},
                },
            )
        if action == "status" and chat is not None:
            await self._call("sendMessage", {"chat_id": chat, "text": html.unescape(text)})
