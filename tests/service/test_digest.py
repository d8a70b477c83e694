"""The daily digest (`[heartbeat] digest_at`): what it says, and that it reaches only the
destinations tagged for it, through the daemon's outbox and a real loopback webhook."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from monitor.alerts.outbox_schema import State
from monitor.config import ConfigError, load_config
from monitor.service.daemon import Daemon
from monitor.service.digest import DAY_MS, AccountLine, RiskPeaks, digest_message
from tests.alerts.sinks import HttpSink
from tests.test_config import KEY_ENV, SECRET_ENV, config_text, dummy, write

T = 1_784_102_400_000  # 2026-07-15 08:00 UTC


def test_risk_peaks_keep_the_last_24_hours_only() -> None:
    peaks = RiskPeaks()
    peaks.observe("a", 0.91, T)
    peaks.observe("a", 0.40, T + 3_600_000)
    assert peaks.peak("a", T + 3_600_000) == 0.91
    assert peaks.peak("a", T + DAY_MS) == 0.40  # the 0.91 hour left the window
    assert peaks.peak("a", T + DAY_MS + 3_600_000) is None
    for hour in range(100):
        peaks.observe("a", 0.1, T + hour * 3_600_000)
    assert len(peaks._peaks["a"]) == 24  # bounded


def test_the_digest_names_every_account_its_peak_and_the_alerts() -> None:
    lines = [
        AccountLine("pm-main", "live", 0.52, 0.87, "warning"),
        AccountLine("um-hedge", "blind", None, None, None),
    ]
    alerts = Counter({("level", "critical"): 2, ("blind", None): 1})
    intent, message = digest_message(T, lines, alerts, "digest")
    assert intent.tags == {"digest"} and intent.account == "" and intent.kind == "digest"
    assert message.subject == (
        "[DIGEST] marginwatch: 2 account(s), 3 alert(s) in 24 h; highest 87.0 %"
    )
    body = message.text.splitlines()
    assert body[0] == (
        "DIGEST marginwatch: 2 account(s) over the last 24 h; highest risk 87.0 % (pm-main)"
    )
    assert body[1] == "pm-main: live, risk now 52.0 %, 24 h peak 87.0 %, alert level warning"
    assert body[2] == "um-hedge: blind, risk now n/a, 24 h peak n/a"
    assert body[3] == "Alerts in the last 24 h: 3 (level/critical 2, blind 1)"


def test_digest_at_is_checked(tmp_path: Path) -> None:
    env = {KEY_ENV: dummy(), SECRET_ENV: dummy()}
    path = write(tmp_path, config_text(rest='[heartbeat]\ndigest_at = "25:00"\n'), 0o600)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env)
    assert any("HH:MM" in message for _, message in caught.value.problems)
    fine = write(tmp_path, config_text(rest='[heartbeat]\ndigest_at = "08:00"\n'), 0o600, "ok.toml")
    config = load_config(fine, env)
    assert config.heartbeat is not None and not config.heartbeat.pings  # a digest, no pings


async def test_the_daemon_sends_the_digest_to_tagged_destinations_only(tmp_path: Path) -> None:
    tagged, other = HttpSink(), HttpSink()
    await tagged.start()
    await other.start()
    notify = (
        f'[[notify]]\nurl = "{tagged.json_url("digest")}"\ntags = ["digest"]\n\n'
        f'[[notify]]\nurl = "{other.json_url("all")}"\n'
    )
    text = config_text(
        account='mode = "usdm"\nenvironment = "custom"\nrest = "http://127.0.0.1:9"\n'
        'ws = "ws://127.0.0.1:9"',
        notify=notify,
        rest=f'[heartbeat]\ndigest_at = "08:00"\n\n[state]\ndir = "{tmp_path / "state"}"\n',
    )
    config = load_config(write(tmp_path, text, 0o600), {KEY_ENV: dummy(), SECRET_ENV: dummy()})
    daemon = Daemon(config)
    await daemon.start()
    try:
        daemon.risk_peaks.observe("main", 0.73, T - 3_600_000)
        daemon.send_digest(T)
        assert daemon.worker is not None and await daemon.worker.drain(10.0)
        [post] = tagged.posts
        assert "main: " in str(post.body["message"]) and "24 h peak 73.0 %" in str(
            post.body["message"]
        )
        assert other.posts == []  # an untagged destination hears alerts, not digests
        assert daemon.outbox is not None and daemon.outbox.counts()[State.DELIVERED] == 1
    finally:
        await daemon.stop()
        await tagged.stop()
        await other.stop()
        await asyncio.sleep(0)


def test_a_heartbeat_url_env_is_no_unknown_override(tmp_path: Path) -> None:
    """`[heartbeat] url_env = "MARGINWATCH_HEARTBEAT_URL"` (the example's) names a secret,
    not a MARGINWATCH_<SECTION>__<KEY> override."""
    env = {
        KEY_ENV: dummy(),
        SECRET_ENV: dummy(),
        "MARGINWATCH_HEARTBEAT_URL": "https://hc-ping.com/5f1c0b0e",
    }
    text = config_text(rest='[heartbeat]\nurl_env = "MARGINWATCH_HEARTBEAT_URL"\n')
    config = load_config(write(tmp_path, text, 0o600), env)
    assert config.heartbeat is not None and config.heartbeat.pings
