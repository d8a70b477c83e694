"""Urgency: what notify type, priority and silence each destination receives (loopback
stand-ins for a webhook, ntfy and the Telegram Bot API; Pushover's URL built purely)."""

from __future__ import annotations

import asyncio
import io

import pytest

from monitor.alerts.apprise_send import AppriseSender, with_urgency
from monitor.alerts.delivery import destination
from monitor.alerts.destinations import SenderSettings, Target, sender_for
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.testalert import run_test_alert
from tests.alerts.sinks import BOT_TOKEN, HttpSink


def message(label: str) -> RenderedAlert:
    return RenderedAlert(f"[{label}] main: something, risk 90.0 %", "body", "<b>body</b>", "l")


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("EMERGENCY", "failure"),
        ("CRITICAL", "warning"),
        ("WARNING", "warning"),
        ("ALL CLEAR", "success"),
        ("RESTORED", "success"),
        ("DIGEST", "info"),
        ("INFO", "info"),
    ],
)
async def test_webhook_receives_the_notify_type(
    http_sink: HttpSink, label: str, kind: str
) -> None:
    sender = AppriseSender(http_sink.json_url(), frozenset(), timeout_s=10.0)
    try:
        assert (await sender.send(message(label))).ok
    finally:
        await sender.aclose()
    assert http_sink.posts[-1].body["type"] == kind


async def test_urgency_none_sends_everything_as_info(http_sink: HttpSink) -> None:
    dest = destination(http_sink.json_url(), urgency="none")
    sender = sender_for(dest)
    try:
        assert (await sender.send(message("EMERGENCY"))).ok
    finally:
        await sender.aclose()
    assert http_sink.posts[-1].body["type"] == "info"


async def test_ntfy_priority_follows_the_level(http_sink: HttpSink) -> None:
    url = f"ntfy://127.0.0.1:{http_sink.port}/alerts"
    got = {}
    for label in ("EMERGENCY", "CRITICAL", "DIGEST"):
        sender = AppriseSender(url, frozenset(), timeout_s=10.0)
        try:
            assert (await sender.send(message(label))).ok
        finally:
            await sender.aclose()
        got[label] = http_sink.posts[-1].headers.get("X-Priority")
    assert got == {"EMERGENCY": "max", "CRITICAL": "high", "DIGEST": "min"}


def test_priority_parameters_are_added_unless_the_url_sets_one() -> None:
    assert with_urgency("pover://user@token", "emergency")[0] == (
        "pover://user@token?priority=emergency"
    )
    assert with_urgency("pover://user@token?sound=siren", "info")[0] == (
        "pover://user@token?sound=siren&priority=low"
    )
    assert with_urgency("ntfys://host/topic?priority=low", "emergency")[0] == (
        "ntfys://host/topic?priority=low"
    )
    assert with_urgency("json://host/hook", "emergency")[0] == "json://host/hook"


async def test_telegram_info_is_silent_and_emergency_rings(telegram_api: HttpSink) -> None:
    dest = destination(f"tgram://{BOT_TOKEN}/12345")
    sender = sender_for(dest, SenderSettings(telegram_api_base=telegram_api.base))
    try:
        for label in ("DIGEST", "EMERGENCY"):
            assert (await sender.send(message(label))).ok
    finally:
        await sender.aclose()
    digest, emergency = (p.body for p in telegram_api.posts[-2:])
    assert digest["disable_notification"] is True
    assert "disable_notification" not in emergency


async def test_test_alert_tag_reaches_what_an_alert_would(http_sink: HttpSink) -> None:
    urls = [
        Target(http_sink.json_url("untagged")),
        Target(http_sink.json_url("ops"), ("ops",)),
        Target(http_sink.json_url("critical"), ("critical",)),
        Target(http_sink.json_url("account"), ("pm-main",)),
        Target(http_sink.json_url("digest"), ("digest",)),
    ]
    out = io.StringIO()
    assert await asyncio.to_thread(run_test_alert, urls, "emergency", out=out) == 0
    assert sorted(p.path for p in http_sink.posts) == ["/account", "/critical", "/untagged"]
    assert {p.body["type"] for p in http_sink.posts} == {"failure"}  # an emergency's urgency
    assert "an alert tagged 'emergency' reaches 3 destination(s)" in out.getvalue()
    assert "untagged: hears everything" in out.getvalue()
    http_sink.posts.clear()
    assert await asyncio.to_thread(run_test_alert, urls, "digest", out=out) == 0
    assert sorted(p.path for p in http_sink.posts) == ["/digest", "/untagged"]
