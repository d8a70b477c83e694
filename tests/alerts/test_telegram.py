"""Telegram Bot API delivery against a local stand-in server (monitor/alerts/telegram.py)."""

from __future__ import annotations

import pytest

from monitor.alerts.telegram import (
    TelegramSender,
    chat_payload,
    interpret,
    parse_tgram,
)
from tests.alerts.sinks import BOT_TOKEN, HttpSink, free_port, make_message

SECRETS = frozenset({"AAbbCCddEEff-secret"})


def test_parse_apprise_tgram_urls() -> None:
    assert parse_tgram(f"tgram://{BOT_TOKEN}/-100123/@channel") == (
        BOT_TOKEN,
        ["-100123", "@channel"],
    )
    assert parse_tgram("tgram://123%3Aabc/?to=1,2 3&silent=yes") == ("123:abc", ["1", "2", "3"])


@pytest.mark.parametrize("url", ["tgram://notatoken/1", "tgram://123:abc/", "tgram://123:abc"])
def test_parse_rejects_incomplete_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_tgram(url)


def test_payload_is_html_and_can_target_a_topic() -> None:
    plain = chat_payload("-100123", "<b>x</b>")
    assert plain["parse_mode"] == "HTML" and plain["chat_id"] == "-100123"
    assert "message_thread_id" not in plain
    assert chat_payload("-100123:42", "x")["message_thread_id"] == 42


def test_interpret_answers() -> None:
    assert interpret(200, {"ok": True}, SECRETS).ok
    limited = interpret(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
        SECRETS,
    )
    assert (limited.ok, limited.retry_after_s, limited.permanent) == (False, 7.0, False)
    assert interpret(429, {}, SECRETS).retry_after_s is None
    bad = interpret(401, {"description": "Unauthorized AAbbCCddEEff-secret"}, SECRETS)
    assert bad.permanent and "secret" not in bad.error and "401" in bad.error
    assert not interpret(502, {}, SECRETS).permanent


async def test_sends_html_to_the_chat(telegram_api: HttpSink) -> None:
    sender = TelegramSender(BOT_TOKEN, "-100123", SECRETS, api_base=telegram_api.base + "/")
    try:
        assert (await sender.send(make_message(1))).ok
    finally:
        await sender.aclose()
    (post,) = telegram_api.posts
    assert post.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert post.body["text"] == "<b>alert number 1</b>" and post.body["chat_id"] == "-100123"


async def test_reports_retry_after_from_a_429(telegram_api: HttpSink) -> None:
    telegram_api.script.append(
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests",
                "parameters": {"retry_after": 3},
            },
        )
    )
    sender = TelegramSender(BOT_TOKEN, "1", SECRETS, api_base=telegram_api.base)
    try:
        result = await sender.send(make_message())
        assert result.retry_after_s == 3.0 and not result.ok
        assert (await sender.send(make_message())).ok
    finally:
        await sender.aclose()


async def test_unreachable_api_error_hides_the_token() -> None:
    sender = TelegramSender(
        BOT_TOKEN, "1", SECRETS, api_base=f"http://127.0.0.1:{free_port()}", timeout_s=2.0
    )
    try:
        result = await sender.send(make_message())
    finally:
        await sender.aclose()
    assert not result.ok and not result.permanent
    assert "Telegram unreachable" in result.error
    assert BOT_TOKEN not in result.error and "AAbbCCddEEff" not in result.error


async def test_odd_answers_are_retryable_failures(telegram_api: HttpSink) -> None:
    telegram_api.script += [(502, "<html>Bad Gateway</html>"), (200, {"ok": False})]
    sender = TelegramSender(BOT_TOKEN, "1", SECRETS, api_base=telegram_api.base)
    try:
        gateway = await sender.send(make_message())
        not_ok = await sender.send(make_message())
    finally:
        await sender.aclose()
    assert not gateway.ok and not gateway.permanent and "HTTP 502" in gateway.error
    assert not not_ok.ok and not not_ok.permanent and "HTTP 200" in not_ok.error
