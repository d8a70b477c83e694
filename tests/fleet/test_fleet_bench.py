"""The fleet benchmark: its histogram quantile, its config, and a tiny real run (no timing is
asserted: the figures are reported, machines are noisy)."""

from __future__ import annotations

import io
import json
import math
import subprocess
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from benchmarks import fleet
from benchmarks.__main__ import main
from monitor.config import load_config

#: End to end (a fleet of real daemon processes through the benchmark):
#: outside the fast lane (`pytest -m "not e2e"`).
pytestmark = pytest.mark.e2e


def test_p99_interpolates_within_the_bucket_of_the_delta() -> None:
    before = [(0.001, 10.0), (0.005, 10.0), (math.inf, 10.0)]
    # 100 new observations: 50 under 1 ms, 50 in (1, 5] ms → p99 at 99/100 of the way.
    after = [(0.001, 60.0), (0.005, 110.0), (math.inf, 110.0)]
    p99 = fleet.p99_ms(before, after)
    assert p99 is not None and abs(p99 - (1.0 + 4.0 * (99 - 50) / 50)) < 1e-9
    assert fleet.p99_ms(before, before) is None
    text = ('marginwatch_tick_latency_seconds_bucket{le="0.001"} 3.0\n'
            'marginwatch_tick_latency_seconds_bucket{le="+Inf"} 4.0\n'
            'marginwatch_tick_latency_seconds_count 4.0\n')
    assert fleet.histogram(text) == [(0.001, 3.0), (math.inf, 4.0)]


def test_config_spreads_modes_round_robin_over_the_fakes(tmp_path: Path) -> None:
    fakes = [fleet.Fake(mode, 9000 + i, subprocess.Popen(["true"]))
             for i, (mode, _) in enumerate(fleet.MODES)]
    for fake in fakes:
        fake.proc.wait()
    path = fleet.write_config(tmp_path, 9, fakes, 9999, "json://127.0.0.1:9/")
    config = load_config(path, {"FLEET_API_KEY": fleet.API_KEY,
                                "FLEET_API_SECRET": fleet.API_SECRET})
    modes = [a.mode for a in config.accounts]
    assert modes == [m for m, _ in fleet.MODES] * 2 + ["usdm"]
    assert config.accounts[3].rest == "http://127.0.0.1:9003"


def test_a_tiny_fleet_runs_through_python_m_benchmarks_fleet() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["fleet", "--accounts", "4", "--window", "2", "--json"]) == 0
    doc = json.loads(out.getvalue())["fleet"]
    assert set(doc) >= {"1", "4", "baseline", "met"}
    four = doc["4"]
    for key in ("cpu_fraction", "rss_mb", "live_after_s", "p99_ms", "rest_weight_max_1m",
                "ws_connects"):
        assert four[key] is not None and four[key] >= 0, key
    assert four["live_accounts"] == 4
    assert four["ws_connects"] >= 4 + 4  # a user stream per account, a market stream per venue
    assert four["rest_weight_max_1m"] > doc["1"]["rest_weight_max_1m"]
    assert four["vs_single"]["rss_mb"] is not None and four["rss_mb"] > 30
