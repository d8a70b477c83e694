"""The delivery worker end to end against real loopback sinks (monitor/alerts/worker.py):
email over SMTP, a Telegram Bot API stand-in, a JSON webhook; outages, crashes and restarts."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest

from monitor.alerts.delivery import Destination, destination
from monitor.alerts.destinations import SenderSettings, build_routes
from monitor.alerts.levels import AlertIntent, AlertKind, Level
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import State
from monitor.alerts.sender import Sender, SendResult
from monitor.alerts.worker import DeliveryWorker, WorkerConfig
from monitor.base.backoff import FailureBackoff
from monitor.base.clock import wall_ms
from tests.alerts.sinks import (
    BOT_TOKEN,
    SMTP_PASSWORD,
    HttpSink,
    SmtpSink,
    make_intent,
    make_message,
)

FAST = WorkerConfig(backoff=FailureBackoff(0.05, 2.0, 0.2), rate_per_s=100.0, burst=10)
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[DeliveryWorker]:
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def wire(
    outbox: Outbox,
    dests: list[Destination],
    api_base: str = "http://127.0.0.1:9",
    config: WorkerConfig = FAST,
    now_ms: Callable[[], int] = wall_ms,
) -> DeliveryWorker:
    pairs = build_routes(dests, SenderSettings(telegram_api_base=api_base, timeout_s=5.0))
    return DeliveryWorker(outbox, pairs, config, now_ms=now_ms)


def exchange(n: int) -> tuple[AlertIntent, RenderedAlert]:
    """Alert n of a kind that never coalesces with another (distinct topics)."""
    return make_intent(n, kind=AlertKind.EXCHANGE, topic=f"topic{n}"), make_message(n)


async def test_email_telegram_and_webhook_with_a_429(
    tmp_path: Path,
    smtp_sink: SmtpSink,
    telegram_api: HttpSink,
    http_sink: HttpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    telegram_api.script.append(
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
        )
    )
    mail = destination(smtp_sink.url(), ["critical"])
    tg = destination(f"tgram://{BOT_TOKEN}/-1001")
    hook = destination(http_sink.json_url(), ["alice"])
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [mail, tg, hook], telegram_api.base)
    intent = make_intent(1, level=Level.CRITICAL)
    with caplog.at_level(logging.DEBUG):
        async with running(worker):
            assert worker.submit(intent, make_message(1))
            assert await worker.drain(10.0)
    (email,) = smtp_sink.messages
    assert email["Subject"] == "[WARNING] alice: alert 1"
    first, second = telegram_api.posts
    assert second.at - first.at >= 1.0  # retry_after honoured
    assert second.body["text"] == "<b>alert number 1</b>"
    (post,) = http_sink.posts
    assert post.body["message"] == "alert number 1"
    states = outbox.deliveries(intent.alert_id)
    assert {s for s, _, _ in states.values()} == {State.DELIVERED}
    assert states[tg.dest_id][1] == 2
    assert "AAbbCCddEEff" not in caplog.text and SMTP_PASSWORD not in caplog.text
    assert "429" in caplog.text
    outbox.close()


async def test_routing_skips_destinations_that_do_not_accept(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    only_bob = destination(http_sink.json_url("bob"), ["bob"])
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [only_bob])
    assert worker.destinations == [only_bob]
    async with running(worker):
        worker.submit(*exchange(1))
        assert await worker.drain(2.0)
    assert http_sink.posts == []
    outbox.close()


async def test_outage_then_recovery_loses_nothing_and_keeps_order(
    tmp_path: Path, http_sink: HttpSink, telegram_api: HttpSink
) -> None:
    await http_sink.stop()  # connection refused from now on
    telegram_api.script += [(502, {"ok": False, "description": "Bad Gateway"})] * 6
    hook = destination(http_sink.json_url())
    tg = destination(f"tgram://{BOT_TOKEN}/-1001")
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [hook, tg], telegram_api.base)
    async with running(worker):
        for n in range(1, 6):
            worker.submit(*exchange(n))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert outbox.counts()[State.DELIVERED] == 0
        await http_sink.start()  # the sink returns on the same port
        assert await worker.drain(10.0)
    assert [p.body["message"] for p in http_sink.posts] == [
        f"alert number {n}" for n in range(1, 6)
    ]
    delivered = [p.body["text"] for p in telegram_api.posts if "text" in p.body]
    assert delivered[-5:] == [f"<b>alert number {n}</b>" for n in range(1, 6)]
    assert outbox.counts() == {
        State.QUEUED: 0,
        State.DELIVERED: 10,
        State.FAILED: 0,
        State.EXPIRED: 0,
    }
    outbox.close()


async def test_superseded_repeats_are_coalesced_while_a_sink_is_down(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    await http_sink.stop()
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [destination(http_sink.json_url())])
    async with running(worker):
        worker.submit(make_intent(1, level=Level.EMERGENCY), make_message(1))
        for n in (2, 3, 4):
            worker.submit(
                make_intent(n, kind=AlertKind.REPEAT, level=Level.EMERGENCY), make_message(n)
            )
        await asyncio.sleep(0.1)
        await http_sink.start()
        assert await worker.drain(10.0)
    assert [p.body["message"] for p in http_sink.posts] == ["alert number 1", "alert number 4"]
    assert outbox.counts()[State.EXPIRED] == 2
    outbox.close()


CRASHING_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from monitor.alerts.outbox import Outbox
    from tests.alerts.sinks import make_intent, make_message
    box = Outbox(sys.argv[1])
    box.enqueue(make_intent(1), make_message(1), [sys.argv[2]])
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


async def test_crash_after_persisting_delivers_exactly_once_after_restart(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    hook = destination(http_sink.json_url())
    db = tmp_path / "o.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(db), hook.dest_id],
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL
    assert http_sink.posts == []
    outbox = Outbox(db)
    worker = wire(outbox, [hook])
    assert not worker.submit(make_intent(1), make_message(1))  # the replay is deduplicated
    async with running(worker):
        assert await worker.drain(10.0)
        await asyncio.sleep(0.2)
    assert [p.body["message"] for p in http_sink.posts] == ["alert number 1"]
    outbox.close()


async def test_slow_smtp_does_not_hold_back_other_destinations(
    tmp_path: Path, http_sink: HttpSink
) -> None:
    slow = SmtpSink(delay_s=1.0)
    slow.start()
    try:
        outbox = Outbox(tmp_path / "o.db")
        worker = wire(outbox, [destination(slow.url()), destination(http_sink.json_url())])
        started = time.monotonic()
        async with running(worker):
            worker.submit(make_intent(1), make_message(1))
            while not http_sink.posts:
                await asyncio.sleep(0.01)
            webhook_after = time.monotonic() - started
            assert not slow.messages
            assert await worker.drain(10.0)
        assert webhook_after < 0.8
        assert len(slow.messages) == 1
        outbox.close()
    finally:
        slow.stop()


async def test_permanent_errors_fail_and_the_queue_moves_on(
    tmp_path: Path, telegram_api: HttpSink
) -> None:
    telegram_api.script.append((400, {"ok": False, "description": "Bad Request: chat not found"}))
    outbox = Outbox(tmp_path / "o.db")
    worker = wire(outbox, [destination(f"tgram://{BOT_TOKEN}/-1001")], telegram_api.base)
    first, second = exchange(1), exchange(2)
    async with running(worker):
        worker.submit(*first)
        worker.submit(*second)
        assert await worker.drain(5.0)
    (failed,) = outbox.deliveries(first[0].alert_id).values()
    assert failed == (State.FAILED, 1, "Telegram HTTP 400: Bad Request: chat not found")
    assert outbox.counts()[State.DELIVERED] == 1
    outbox.close()


async def test_attempts_and_age_limits(tmp_path: Path, http_sink: HttpSink) -> None:
    await http_sink.stop()
    outbox = Outbox(tmp_path / "o.db")
    config = WorkerConfig(
        backoff=FailureBackoff(0.01, 1.0, 0.01), rate_per_s=1000, burst=10, max_attempts=3
    )
    worker = wire(outbox, [destination(http_sink.json_url())], config=config)
    async with running(worker):
        worker.submit(*exchange(1))
        assert await worker.drain(5.0)
    assert outbox.counts()[State.FAILED] == 1
    aged = wire(outbox, [destination(http_sink.json_url())], now_ms=lambda: 10**15)
    async with running(aged):
        aged.submit(*exchange(2))
        assert await aged.drain(5.0)
    assert outbox.counts()[State.EXPIRED] == 1
    outbox.close()


async def test_rate_limit_spaces_sends(tmp_path: Path, http_sink: HttpSink) -> None:
    outbox = Outbox(tmp_path / "o.db")
    config = WorkerConfig(rate_per_s=10.0, burst=1.0)
    worker = wire(outbox, [destination(http_sink.json_url())], config=config)
    async with running(worker):
        for n in range(3):
            worker.submit(*exchange(n))
        assert await worker.drain(5.0)
    gaps = [b.at - a.at for a, b in zip(http_sink.posts, http_sink.posts[1:], strict=False)]
    assert len(gaps) == 2 and min(gaps) >= 0.08
    outbox.close()


class ExplodingSender:
    """A destination whose client library raises (with a secret in the message) once."""

    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: RenderedAlert, *, key: str | None = None) -> SendResult:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("token sk-live-0123456789 rejected")
        return SendResult.delivered()

    async def aclose(self) -> None:
        return None


async def test_a_raising_sender_is_retried_and_its_error_scrubbed(tmp_path: Path) -> None:
    dest = destination("json://127.0.0.1:9/hook?token=sk-live-0123456789")
    outbox = Outbox(tmp_path / "o.db")
    sender: Sender = ExplodingSender()
    worker = DeliveryWorker(outbox, [(dest, sender)], FAST)
    intent, message = exchange(1)
    async with running(worker):
        worker.submit(intent, message)
        assert await worker.drain(5.0)
    ((state, attempts, error),) = outbox.deliveries(intent.alert_id).values()
    assert (state, attempts) == (State.DELIVERED, 2) and error == ""
    outbox.close()


async def test_drain_times_out_and_unknown_destinations_expire(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path / "o.db")
    outbox.enqueue(*exchange(1), ["no-longer-configured"])
    stuck = destination("json://127.0.0.1:9/hook")
    outbox.enqueue(*exchange(2), [stuck.dest_id])
    with caplog.at_level(logging.WARNING):
        worker = wire(outbox, [stuck])
    assert "no longer configured" in caplog.text
    assert not await worker.drain(0.05)
    assert outbox.counts()[State.EXPIRED] == 1
    outbox.close()
