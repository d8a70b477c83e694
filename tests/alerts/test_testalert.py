"""`marginwatch test-alert` against real loopback sinks (monitor/alerts/testalert.py)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

from monitor.alerts.destinations import SenderSettings, Target
from monitor.alerts.testalert import probe_message, run_test_alert
from tests.alerts.sinks import BOT_TOKEN, SMTP_PASSWORD, HttpSink, SmtpSink, free_port


async def test_every_destination_gets_the_test_message(
    smtp_sink: SmtpSink, telegram_api: HttpSink, http_sink: HttpSink
) -> None:
    out = io.StringIO()
    urls = [
        Target(smtp_sink.url(), ("critical",)),
        Target(f"tgram://{BOT_TOKEN}/-1001"),
        Target(http_sink.json_url(), ("ops",)),
    ]
    settings = SenderSettings(telegram_api_base=telegram_api.base)
    code = await asyncio.to_thread(run_test_alert, urls, None, settings=settings, out=out)
    report = out.getvalue()
    assert code == 0, report
    assert report.count("ok    ") == 3
    assert SMTP_PASSWORD not in report and "AAbbCCddEEff" not in report
    assert smtp_sink.messages[0]["Subject"].startswith("[TEST] marginwatch on ")
    assert "test alert" in telegram_api.posts[0].body["text"]
    assert "this destination works" in http_sink.posts[0].body["message"]


async def test_failures_are_reported_per_url(http_sink: HttpSink) -> None:
    out = io.StringIO()
    urls = [
        Target(http_sink.json_url()),
        Target(f"json://user:pw-zz-99@127.0.0.1:{free_port()}/down"),
        Target("nosuch://user:hunter2-pw@example.com/x"),
    ]
    settings = SenderSettings(timeout_s=5.0)
    code = await asyncio.to_thread(run_test_alert, urls, None, settings=settings, out=out)
    report = out.getvalue()
    assert code == 1
    lines = report.splitlines()
    assert lines[0].startswith("FAIL  nosuch://example.com/****: not a valid Apprise URL")
    assert lines[1].startswith("ok    json://127.0.0.1:")
    assert lines[2].startswith("FAIL  json://user:****@127.0.0.1:")
    assert "pw-zz-99" not in report and "hunter2-pw" not in report


async def test_tag_selects_destinations(http_sink: HttpSink) -> None:
    out = io.StringIO()
    urls = [
        Target(http_sink.json_url("a"), ("ops",)),
        Target(http_sink.json_url("b"), ("critical",)),
    ]
    assert await asyncio.to_thread(run_test_alert, urls, "critical", out=out) == 0
    assert [p.path for p in http_sink.posts] == ["/b"]
    assert await asyncio.to_thread(run_test_alert, urls, "nobody", out=out) == 2
    assert "no destination would receive an alert tagged 'nobody'" in out.getvalue()


def test_probe_message_names_time_and_host() -> None:
    msg = probe_message(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert "2025-01-02 03:04:05 UTC" in msg.text
    assert msg.html.startswith("<b>marginwatch test alert</b>")
