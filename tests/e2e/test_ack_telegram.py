"""Answering back over real loopback servers: the control API, the Telegram bot, PagerDuty."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.alerts.attention import Attention
from monitor.alerts.levels import AlertIntent, AlertKind, Level
from monitor.alerts.messages import render
from monitor.alerts.outbox import Outbox
from monitor.alerts.pagerduty import PagerDutySender
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import Risk, Seen, Tick, Watch
from monitor.core.step import TimedAlert
from monitor.feed.recording import Meta
from monitor.service.account import AccountRuntime
from monitor.service.control import Control, ControlApi
from monitor.service.health import Health
from monitor.service.http import HttpServer, is_loopback
from monitor.service.metrics import Metrics
from monitor.service.telegram_bot import TelegramBot, status_line
from tests.alerts.sinks import BOT_TOKEN, HttpSink

T0 = 1_700_000_000_000
TOKEN = "api-token-0123456789abcdef"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


@pytest.fixture
async def telegram_api() -> AsyncIterator[HttpSink]:
    sink = HttpSink()
    await sink.start()
    yield sink
    await sink.stop()


http_sink = telegram_api


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


def make_runtime(alerts: list[TimedAlert], clock: Clock) -> AccountRuntime:
    runtime = AccountRuntime(
        Meta("alice", None, "testnet", T0),
        PolicyConfig(repeat_ms=60_000, escalate_after_ms=300_000),
        on_alert=alerts.append,
        now_ms=clock,
    )
    policy = runtime.core._policy
    policy.step(Watch(frozenset({"mark:X"})), T0)
    policy.step(Seen("mark:X"), T0)
    return runtime


def hold(runtime: AccountRuntime, risk: float, clock: Clock, seconds: int) -> list[AlertIntent]:
    policy = runtime.core._policy
    out: list[AlertIntent] = []
    for _ in range(seconds):
        clock.t += 1000
        out += policy.step(Seen("mark:X"), clock.t)
        out += policy.step(Risk(risk), clock.t)
        out += policy.step(Tick(), clock.t)
    return out


async def start_server(control: Control, token: str | None) -> HttpServer:
    server = HttpServer(
        "127.0.0.1", 0, health=lambda: Health(True, []), status=lambda: {}, metrics=Metrics(),
        control=ControlApi(control, token, is_loopback),
    )
    await server.start()
    return server


async def test_api_ack_needs_the_token_stops_repeats_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    clock, alerts = Clock(), []
    runtime = make_runtime(alerts, clock)
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    control = Control(lambda: {"alice": runtime}, clock, outbox.save_attention)
    server = await start_server(control, TOKEN)
    first = hold(runtime, 0.97, clock, 70)
    for intent in first:  # persisted like the daemon does (the ladder resumes from these)
        outbox.enqueue(intent, render(intent, None), ["d"])
    assert AlertKind.REPEAT in [i.kind for i in first]
    base = f"http://127.0.0.1:{server.bound_port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/ack/alice") as resp:
                assert resp.status == 401
            bad = {"Authorization": "Bearer wrong"}
            async with http.post(f"{base}/api/ack/alice", headers=bad) as resp:
                assert resp.status == 403
                assert TOKEN not in await resp.text()
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with http.post(f"{base}/api/ack/bob", headers=auth) as resp:
                assert resp.status == 404
            async with http.post(f"{base}/api/ack/alice", headers=auth) as resp:
                assert resp.status == 200
                body = await resp.json()
            assert body["ack"]["level"] == "emergency"
            async with http.post(f"{base}/api/snooze/alice?duration=15m", headers=auth) as resp:
                assert (await resp.json())["snooze_until"] == clock.t + 900_000
            async with http.post(f"{base}/api/snooze/alice?duration=soon", headers=auth) as resp:
                assert resp.status == 400
    finally:
        await server.stop()
    status = runtime.status("testnet")
    assert status["ack"]["level"] == "emergency" and status["snooze_until"] == clock.t + 900_000
    assert [i for i in hold(runtime, 0.97, clock, 400) if i.kind is not AlertKind.RAPID] == []
    outbox.close()

    # A restart: a new outbox connection, a new policy resumed from what was persisted.
    again = Outbox(tmp_path / "outbox.sqlite3")
    ladder, attention = again.ladder("alice"), again.attention("alice")
    assert ladder is not None and attention is not None
    fresh = make_runtime([], clock)
    fresh.core.resume(ladder, clock.t)
    fresh.core.restore(attention, clock.t)
    assert fresh.status("testnet")["ack"]["level"] == "emergency"
    assert AlertKind.REPEAT not in [i.kind for i in hold(fresh, 0.97, clock, 200)]
    again.close()


async def test_api_without_token_serves_loopback_only(tmp_path: Path) -> None:
    clock = Clock()
    runtime = make_runtime([], clock)
    control = Control(lambda: {"alice": runtime}, clock, lambda name, att: None)
    api = ControlApi(control, None, lambda host: False)  # as if the client were remote
    server = HttpServer(
        "127.0.0.1", 0, health=lambda: Health(True, []), status=lambda: {}, metrics=Metrics(),
        control=api,
    )
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.bound_port}/api/unsnooze/alice"
            async with http.post(url) as resp:
                assert resp.status == 403
        assert api.refused == 1
        local = await start_server(control, None)
        try:
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{local.bound_port}/api/unsnooze/alice"
                async with http.post(url) as resp:
                    assert resp.status == 200
        finally:
            await local.stop()
    finally:
        await server.stop()


def _message(chat: int, user: int, text: str) -> dict[str, Any]:
    return {"update_id": 1, "message": {"chat": {"id": chat}, "from": {"id": user}, "text": text}}


async def test_telegram_bot_status_stranger_ack_and_buttons(telegram_api: HttpSink) -> None:
    clock = Clock()
    runtime = make_runtime([], clock)
    hold(runtime, 0.97, clock, 5)
    saved: list[Attention] = []
    control = Control(lambda: {"alice": runtime}, clock, lambda n, att: saved.append(att))
    docs = lambda: [runtime.status("testnet")]  # noqa: E731
    bot = TelegramBot(
        BOT_TOKEN, control, docs, allowed_chats=[42], api_base=telegram_api.base,
        poll_timeout_s=1,
    )
    try:
        await _bot_checks(bot, runtime, telegram_api, clock, saved)
    finally:
        await bot.aclose()


async def _bot_checks(
    bot: TelegramBot, runtime: AccountRuntime, telegram_api: HttpSink, clock: Clock,
    saved: list[Attention],
) -> None:
    await bot.handle(_message(42, 7, "/status"))
    sent = telegram_api.posts[-1]
    assert sent.path.endswith("/sendMessage") and sent.body["chat_id"] == 42
    assert sent.body["text"] == status_line(runtime.status("testnet"))
    assert "level emergency" in sent.body["text"]

    await bot.handle(_message(666, 666, "/ack alice"))
    assert bot.ignored == 1 and len(telegram_api.posts) == 1  # a stranger: ignored, counted
    assert saved == []

    button = {
        "update_id": 2,
        "callback_query": {
            "id": "cb1", "from": {"id": 7}, "data": "ack:alice",
            "message": {"message_id": 9, "chat": {"id": 42}},
        },
    }
    await bot.handle(button)
    paths = [p.path.rsplit("/", 1)[-1] for p in telegram_api.posts]
    assert paths[-2:] == ["answerCallbackQuery", "editMessageReplyMarkup"]
    assert saved[-1].ack_level is Level.EMERGENCY
    assert AlertKind.REPEAT not in [i.kind for i in hold(runtime, 0.97, clock, 200)]
    assert all(BOT_TOKEN not in json.dumps(p.body) for p in telegram_api.posts)


async def test_pagerduty_triggers_then_resolves_the_incident(http_sink: HttpSink) -> None:
    clock = Clock()
    runtime = make_runtime([], clock)
    intents = hold(runtime, 0.97, clock, 3) + hold(runtime, 0.2, clock, 10)
    sender = PagerDutySender(
        ROUTING_KEY, frozenset(), events_url=f"{http_sink.base}/v2/enqueue", timeout_s=5
    )
    try:
        for intent in intents:
            if intent.kind in (AlertKind.LEVEL, AlertKind.ALL_CLEAR):
                assert (await sender.send(render(intent, None), key=intent.alert_id)).ok
    finally:
        await sender.aclose()
    actions = [(p.body["event_action"], p.body["dedup_key"]) for p in http_sink.posts]
    assert actions == [("trigger", f"alice:{T0 + 1000}"), ("resolve", f"alice:{T0 + 1000}")]
    assert http_sink.posts[0].body["payload"]["severity"] == "critical"


class BotApi:
    """A loopback Telegram Bot API that long-polls like the real one: `getUpdates` answers the
    queued updates from `offset` on (or an empty list after a short wait), `sendMessage` is
    recorded."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.offsets: list[int] = []
        self.sent: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{bot}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        method = request.match_info["method"]
        if method == "getUpdates":
            offset = int(body.get("offset", 0))
            self.offsets.append(offset)
            fresh = [u for u in self.updates if u["update_id"] >= offset]
            if not fresh:
                await asyncio.sleep(0.2)
            return web.json_response({"ok": True, "result": fresh})
        self.sent.append({"method": method, **body})
        return web.json_response({"ok": True, "result": {"message_id": len(self.sent)}})


async def test_the_bot_long_polls_answers_and_never_sees_an_update_twice() -> None:
    api = BotApi()
    await api.start()
    clock = Clock()
    runtime = make_runtime([], clock)
    hold(runtime, 0.97, clock, 5)
    control = Control(lambda: {"alice": runtime}, clock, lambda n, att: None)
    bot = TelegramBot(
        BOT_TOKEN, control, lambda: [runtime.status("testnet")], allowed_chats=[42],
        api_base=api.base, poll_timeout_s=1,
    )
    task = asyncio.create_task(bot.run())
    try:
        api.updates.append({**_message(42, 7, "/status"), "update_id": 10})
        api.updates.append({**_message(666, 666, "/ack alice"), "update_id": 11})
        for _ in range(100):
            if api.sent and bot.ignored == 1 and max(api.offsets) == 12:
                break
            await asyncio.sleep(0.05)
        assert [m["method"] for m in api.sent] == ["sendMessage"]  # the stranger got nothing
        assert api.sent[0]["chat_id"] == 42
        assert api.sent[0]["text"] == status_line(runtime.status("testnet"))
        assert bot.ignored == 1 and bot.handled >= 1
        assert max(api.offsets) == 12  # acknowledged: never delivered again
        await asyncio.sleep(0.5)
        assert len(api.sent) == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await api.stop()
