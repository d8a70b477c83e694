"""`replay --notify` through the outbox and the delivery worker (monitor/alerts/batch.py), against
loopback sinks: each alert delivered once, in order; a destination that refuses permanently ends
the command with one line and exit 2; a dead one with the "not delivered" line and exit 1."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.alerts.batch import BatchDelivery
from monitor.alerts.destinations import SenderSettings, Target
from monitor.cli import main
from monitor.examples import path as example_path
from tests.alerts.sinks import BOT_TOKEN, HttpSink, free_port, make_intent, make_message

RECORDING = str(example_path("portfolio_margin"))
#: The subjects `replay portfolio_margin` sends, in order.
SUBJECTS = (
    "[RAPID] main: rapid deterioration",
    "[WARNING] main: risk reached warning",
    "[CRITICAL] main: exchange signal: riskLevelChange",
    "[CRITICAL] main: risk reached critical",
    "[EMERGENCY] main: exchange signal: riskLevelChange",
    "[EMERGENCY] main: risk reached emergency",
    "[CRITICAL] main: eased from emergency to critical",
    "[ALL CLEAR] main: all clear (peak was emergency)",
)
UNAUTHORIZED = (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})


def _config(tmp_path: Path, telegram_api: str) -> Path:
    path = tmp_path / "marginwatch.toml"
    path.write_text(
        f"""
[[accounts]]
name = "acct"
environment = "custom"
rest = "http://127.0.0.1:9"
ws = "ws://127.0.0.1:9"
api_key = "key-0123456789abcdef"
api_secret = "secret-0123456789abcdef"

[[notify]]  # the daemon's; replay sends to its --notify URLs only
url = "json://127.0.0.1:9/unused"

[alerts]
telegram_api_base = "{telegram_api}"

[state]
dir = "{tmp_path / "state"}"
""",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


@pytest.mark.e2e  # end to end: a whole recording through the outbox to loopback sinks
async def test_replay_notify_delivers_every_alert_once_in_order(
    http_sink: HttpSink, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(main, ["replay", RECORDING, "--notify", http_sink.json_url()])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.err == ""
    assert "8 alert(s); final risk" in out.out
    titles = [p.body["title"] for p in http_sink.posts]
    assert len(titles) == len(SUBJECTS)
    for title, subject in zip(titles, SUBJECTS, strict=True):
        assert title.startswith(subject), (title, subject)
    keys = {p.headers.get("Idempotency-Key") for p in http_sink.posts}
    assert len(keys) == len(SUBJECTS) and None not in keys  # the worker's keyed attempts


@pytest.mark.e2e  # end to end: a whole recording through the outbox to loopback sinks
async def test_a_permanent_refusal_is_one_line_and_exit_2(
    tmp_path: Path, telegram_api: HttpSink, http_sink: HttpSink,
    capsys: pytest.CaptureFixture[str],
) -> None:
    telegram_api.script = [UNAUTHORIZED] * len(SUBJECTS)
    config = _config(tmp_path, telegram_api.base)
    args = [
        "replay", RECORDING, "--config", str(config),
        "--notify", f"tgram://{BOT_TOKEN}/-1001", "--notify", http_sink.json_url(),
    ]
    code = await asyncio.to_thread(main, args)
    out = capsys.readouterr()
    assert code == 2, out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("marginwatch replay: tgram://")
    assert "refused the alerts permanently (8 of 8 not delivered)" in lines[0]
    assert "Telegram HTTP 401: Unauthorized" in lines[0]
    assert BOT_TOKEN not in out.err + out.out and BOT_TOKEN.split(":")[1] not in out.err
    assert len(telegram_api.posts) == len(SUBJECTS)  # one attempt each: nothing to retry
    assert len(http_sink.posts) == len(SUBJECTS)  # the other destination got everything
    assert "8 alert(s); final risk" in out.out  # the timeline was still printed
    assert list((tmp_path / "state").iterdir()) == []  # the outbox went with the command


async def test_batch_reports_a_dead_destination_and_removes_its_outbox(tmp_path: Path) -> None:
    dead = Target(f"json://user:pw-dead-77@127.0.0.1:{free_port()}/down")

    def run() -> tuple[list[str], bool]:
        batch = BatchDelivery([dead], SenderSettings(timeout_s=5.0), state_dir=tmp_path)
        for n in range(2):
            batch.send(make_intent(n), make_message(n))
        outcome = batch.close()
        return outcome.problems, outcome.permanent

    problems, permanent = await asyncio.to_thread(run)
    assert not permanent
    assert len(problems) == 1 and problems[0].startswith("2 of 2 alert(s) not delivered to json://")
    assert "pw-dead-77" not in problems[0]
    assert list(tmp_path.iterdir()) == []


def test_a_bad_url_fails_before_anything_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid Apprise URL") as info:
        BatchDelivery([Target("nosuch://user:hunter2-pw@example.com/x")], state_dir=tmp_path)
    assert "hunter2-pw" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
