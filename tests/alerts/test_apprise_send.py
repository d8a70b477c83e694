"""Apprise delivery in a per-destination thread, against real loopback sinks
(monitor/alerts/apprise_send.py)."""

from __future__ import annotations

import asyncio
import time

from monitor.alerts.apprise_send import AppriseSender
from monitor.alerts.redact import url_secrets
from tests.alerts.sinks import SMTP_PASSWORD, HttpSink, SmtpSink, free_port, make_message


def sender(url: str, timeout_s: float = 10.0) -> AppriseSender:
    return AppriseSender(url, url_secrets(url), timeout_s=timeout_s)


async def test_email_reaches_the_smtp_sink(smtp_sink: SmtpSink) -> None:
    s = sender(smtp_sink.url())
    try:
        assert (await s.send(make_message(7))).ok
    finally:
        await s.aclose()
    (mail,) = smtp_sink.messages
    assert mail["Subject"] == "[WARNING] alice: alert 7"
    assert mail["To"] == "trader@example.com"
    assert "alert number 7" in mail.get_payload(decode=True).decode()


async def test_wrong_password_fails_without_leaking_it(smtp_sink: SmtpSink) -> None:
    s = sender(smtp_sink.url(password="wrong-password-123"))
    try:
        result = await s.send(make_message())
    finally:
        await s.aclose()
    assert not result.ok and result.error
    assert "wrong-password-123" not in result.error and SMTP_PASSWORD not in result.error
    assert not smtp_sink.messages


async def test_webhook_gets_title_and_body(http_sink: HttpSink) -> None:
    s = sender(http_sink.json_url("alerts"))
    try:
        assert (await s.send(make_message(3))).ok
    finally:
        await s.aclose()
    (post,) = http_sink.posts
    assert post.path == "/alerts"
    assert post.body["title"] == "[WARNING] alice: alert 3"
    assert post.body["message"] == "alert number 3"


async def test_refused_connection_is_a_failure_with_a_reason() -> None:
    s = sender(f"json://127.0.0.1:{free_port()}/hook")
    try:
        result = await s.send(make_message())
    finally:
        await s.aclose()
    assert not result.ok and not result.permanent and result.error


async def test_slow_smtp_times_out_without_blocking_the_loop() -> None:
    slow = SmtpSink(delay_s=1.5)
    slow.start()
    s = sender(slow.url(), timeout_s=0.3)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    try:
        started = time.monotonic()
        result = await s.send(make_message())
        elapsed = time.monotonic() - started
    finally:
        beat.cancel()
        await s.aclose()
        slow.stop()
    assert not result.ok and "no answer within 0.3 s" in result.error
    assert elapsed < 1.0 and ticks >= 8


async def test_a_url_apprise_cannot_load_fails_cleanly() -> None:
    s = sender("nosuch://user:pw-77-secret@example.com/x")
    try:
        result = await s.send(make_message())
    finally:
        await s.aclose()
    assert not result.ok and result.error == "Apprise could not load this URL"
