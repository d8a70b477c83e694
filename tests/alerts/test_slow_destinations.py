"""Slow notifiers (issue 19, item 2): a destination slower than the old timeouts gets every
alert exactly once, never delays another destination, and sends higher levels first; a timeout
is "unknown" (retried with the same alert id and idempotency key, counted when it may have
caused a duplicate). Real loopback servers: an aiohttp webhook and a Telegram Bot API stand-in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest

from monitor.alerts.delivery import Destination, destination
from monitor.alerts.destinations import SenderSettings, sender_for
from monitor.alerts.levels import AlertIntent, AlertKind, Level
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import State
from monitor.alerts.sender import idempotency_key
from monitor.alerts.worker import DeliveryWorker, WorkerConfig
from monitor.base.backoff import FailureBackoff
from tests.alerts.sinks import BOT_TOKEN, HttpSink, make_intent

#: End to end (real notifier stand-ins answering after 6 s and 35 s, at the real default timeouts):
#: outside the fast lane (`pytest -m "not e2e"`).
pytestmark = pytest.mark.e2e

FAST = WorkerConfig(backoff=FailureBackoff(0.05, 2.0, 0.2), rate_per_s=100.0, burst=10)


@asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[DeliveryWorker]:
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def wire(outbox: Outbox, dests: list[Destination], api_base: str) -> DeliveryWorker:
    pairs = [(d, sender_for(d, SenderSettings(telegram_api_base=api_base))) for d in dests]
    return DeliveryWorker(outbox, pairs, FAST)


def alert(n: int, level: Level | None) -> tuple[AlertIntent, RenderedAlert]:
    """An exchange alert of `level` (distinct topics: nothing coalesces)."""
    intent = make_intent(n, kind=AlertKind.EXCHANGE, level=level, topic=f"topic{n}")
    text = f"alert {n} {level or 'info'}"
    return intent, RenderedAlert(f"[{level}] {n}", text, f"<b>{text}</b>", text)


def texts(sink: HttpSink, field: str) -> list[str]:
    return [str(p.body.get(field, "")) for p in sink.posts]


async def submit_while_first_is_in_flight(
    worker: DeliveryWorker, slow: list[HttpSink], alerts: list[tuple[AlertIntent, RenderedAlert]]
) -> None:
    worker.submit(*alerts[0])
    while not all(sink.posts for sink in slow):  # the first alert is being sent everywhere
        await asyncio.sleep(0.01)
    for intent, message in alerts[1:]:
        worker.submit(intent, message)


async def test_slow_webhook_and_telegram_get_every_alert_once_highest_level_first(
    tmp_path: Path, http_sink: HttpSink, telegram_api: HttpSink
) -> None:
    """The field report at a tenth of its time scale: a webhook answering in 0.6 s (Apprise's
    own read timeout would be 0.4 s) and a Bot API answering in 3.5 s (the old 3 s), with
    timeouts at a tenth of the 60 s default."""
    http_sink.delay_s = 0.6
    telegram_api.delay_s = 3.5
    fast = HttpSink()
    await fast.start()
    try:
        hook = destination(http_sink.json_url(), timeout_s=6.0)
        tg = destination(f"tgram://{BOT_TOKEN}/-1001", timeout_s=6.0)
        quick = destination(fast.json_url("quick"))
        outbox = Outbox(tmp_path / "o.db")
        worker = wire(outbox, [hook, tg, quick], telegram_api.base)
        alerts = [alert(1, Level.WARNING), alert(2, Level.CRITICAL), alert(3, Level.EMERGENCY)]
        started = time.monotonic()
        async with running(worker):
            await submit_while_first_is_in_flight(worker, [http_sink, telegram_api], alerts)
            while len(fast.posts) < 3:
                await asyncio.sleep(0.01)
            quick_done = time.monotonic() - started
            assert await worker.drain(30.0)
        order = ["alert 1 warning", "alert 3 emergency", "alert 2 critical"]
        assert texts(http_sink, "message") == order
        assert texts(telegram_api, "text") == [f"<b>{t}</b>" for t in order]
        assert quick_done < 1.5  # the slow destinations delayed nobody else
        assert sorted(texts(fast, "message")) == sorted(order)
        assert worker.stats.unknown == 0 and worker.stats.possible_duplicates == 0
        assert outbox.counts()[State.DELIVERED] == 9
        outbox.close()
    finally:
        await fast.stop()


async def test_a_6_s_webhook_at_the_real_default_timeout_gets_each_alert_once(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    """The field figure itself: 6 s answers (Apprise's read timeout is 4 s: it sent 5 times)."""
    http_sink.delay_s = 6.0
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [destination(http_sink.json_url())], "http://127.0.0.1:9")
    first, second = alert(1, Level.WARNING), alert(2, Level.EMERGENCY)
    async with running(worker):
        worker.submit(*first)
        worker.submit(*second)
        assert await worker.drain(20.0)
    assert texts(http_sink, "message") == ["alert 2 emergency", "alert 1 warning"]
    keys = [p.headers.get("Idempotency-Key") for p in http_sink.posts]
    assert keys == [idempotency_key(second[0].alert_id), idempotency_key(first[0].alert_id)]
    assert worker.stats.unknown == 0
    outbox.close()


async def test_a_35_s_telegram_at_the_real_default_timeout_gets_the_alert_once(
    tmp_path: Path, telegram_api: HttpSink
) -> None:
    """The field figure itself: a Bot API answering in 35 s (our old 30 s timeout sent the first
    alert 6 times, and everything queued behind it waited)."""
    telegram_api.delay_s = 35.0
    outbox = Outbox(tmp_path / "o.db")
    tg = destination(f"tgram://{BOT_TOKEN}/-1001")  # the default timeout
    worker = wire(outbox, [tg], telegram_api.base)
    intent, message = alert(1, Level.EMERGENCY)
    async with running(worker):
        worker.submit(intent, message)
        assert await worker.drain(50.0)
    assert texts(telegram_api, "text") == ["<b>alert 1 emergency</b>"]
    assert worker.stats.unknown == 0 and worker.stats.possible_duplicates == 0
    assert outbox.counts()[State.DELIVERED] == 1
    outbox.close()


async def test_a_timeout_is_unknown_and_the_late_answer_settles_it(
    tmp_path: Path, http_sink: HttpSink, telegram_api: HttpSink
) -> None:
    """Answers slower than the timeout (but within the hard limit) are not sent twice."""
    http_sink.delays = [0.5]
    telegram_api.delays = [0.5]
    hook = destination(http_sink.json_url(), timeout_s=0.2)
    tg = destination(f"tgram://{BOT_TOKEN}/-1001", timeout_s=0.2)
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [hook, tg], telegram_api.base)
    intent, message = alert(1, Level.CRITICAL)
    async with running(worker):
        worker.submit(intent, message)
        assert await worker.drain(10.0)
    assert texts(http_sink, "message") == ["alert 1 critical"]
    assert texts(telegram_api, "text") == ["<b>alert 1 critical</b>"]
    assert worker.stats.unknown >= 2 and worker.stats.possible_duplicates == 0
    states = outbox.deliveries(intent.alert_id)
    assert {s for s, _, _ in states.values()} == {State.DELIVERED}
    assert all(attempts >= 2 for _, attempts, _ in states.values())
    outbox.close()


async def test_an_unanswered_attempt_is_resent_with_the_same_key_and_counted(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    """No answer even within the hard limit (3 × timeout): sent again, same idempotency key,
    counted as a possible duplicate."""
    http_sink.delays = [1.2]  # hard limit 0.6 s
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [destination(http_sink.json_url(), timeout_s=0.2)], "http://127.0.0.1:9")
    intent, message = alert(1, Level.EMERGENCY)
    async with running(worker):
        worker.submit(intent, message)
        assert await worker.drain(10.0)
        await asyncio.sleep(0.7)  # let the abandoned request's handler finish
    assert texts(http_sink, "message") == ["alert 1 emergency"] * 2
    keys = {p.headers.get("Idempotency-Key") for p in http_sink.posts}
    assert keys == {idempotency_key(intent.alert_id)}
    assert worker.stats.possible_duplicates == 1 and worker.stats.unknown >= 1
    ((state, _, _),) = outbox.deliveries(intent.alert_id).values()
    assert state is State.DELIVERED
    outbox.close()


async def test_a_sent_level_makes_older_queued_ladder_alerts_obsolete(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    """Jumping the queue never ends on a stale level: an all-clear queued before a new warning
    is not sent after it."""
    http_sink.delay_s = 0.3
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [destination(http_sink.json_url())], "http://127.0.0.1:9")
    first = alert(1, Level.EMERGENCY)
    clear = make_intent(2, kind=AlertKind.ALL_CLEAR, level=None)
    warning = make_intent(3, kind=AlertKind.LEVEL, level=Level.WARNING)
    async with running(worker):
        await submit_while_first_is_in_flight(worker, [http_sink], [first])
        worker.submit(clear, RenderedAlert("clear", "all clear", "all clear", "all clear"))
        worker.submit(warning, RenderedAlert("warn", "warning again", "w", "w"))
        assert await worker.drain(10.0)
    assert texts(http_sink, "message") == ["alert 1 emergency", "warning again"]
    ((state, _, reason),) = outbox.deliveries(clear.alert_id).values()
    assert state is State.EXPIRED and reason == f"superseded by {warning.alert_id}"
    outbox.close()
