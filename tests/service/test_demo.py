"""`marginwatch demo`: the replay command it suggests reproduces the alerts it reported."""

from __future__ import annotations

import io
import json
import shlex
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.service.demo import demo_policy, run_demo

#: End to end (the whole demo: fake exchange, the daemon, delivery and the report):
#: outside the fast lane (`pytest -m "not e2e"`).
pytestmark = pytest.mark.e2e


async def test_the_suggested_replay_reproduces_the_demos_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    result = await run_demo(tmp_path / "demo", speed=40.0, out=out)
    printed = out.getvalue()
    assert result.alerts == len(result.alert_ids) > 0
    assert f"replay it (same policy timings, same alerts): {result.replay_command}" in printed
    argv = shlex.split(result.replay_command)
    assert argv[:2] == ["marginwatch", "replay"] and "--time-scale" in argv
    capsys.readouterr()
    assert main([*argv[1:], "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    replayed = [line["alert_id"] for line in lines if line.get("kind") != "summary"]
    assert replayed == list(result.alert_ids)
    # without the time scale the default (uncompressed) policy sees a different timeline
    assert main(["replay", str(result.recording), "--json"]) == 0
    plain = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["alert_id"] for x in plain if x.get("kind") != "summary"] != replayed


def test_demo_policy_scales_the_timings_and_keeps_a_sane_blindness_limit() -> None:
    policy = demo_policy(20)
    assert (policy.dwell_ms, policy.repeat_ms, policy.rapid_window_ms) == (250, 3_000, 30_000)
    assert policy.stale_after_ms == 5_000
    assert demo_policy(1).stale_after_ms == 15_000
    with pytest.raises(ValueError):
        demo_policy(0)


def test_replay_rejects_a_non_positive_time_scale(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "usdm", "--time-scale", "0"]) == 2
    assert "time scale must be > 0" in capsys.readouterr().err
