"""Smoke tests of the benchmark harness: every benchmark runs at a tiny size and reports the
figures, baseline, target and verdict it promises (no timing is asserted: machines are noisy)."""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from typing import Any

import pytest

from benchmarks import idle_cpu, latency, memory, replay
from benchmarks.__main__ import main
from benchmarks.quantiles import quantile, summary_ms

#: End to end (runs every benchmark through real daemon processes):
#: outside the fast lane (`pytest -m "not e2e"`).
pytestmark = pytest.mark.e2e


def _finite(*values: Any) -> bool:
    return all(isinstance(v, float) and math.isfinite(v) and v >= 0.0 for v in values)


def test_quantiles_interpolate() -> None:
    assert quantile([1.0, 2.0, 3.0], 0.5) == 2.0
    assert quantile([0.0, 10.0], 0.99) == 9.9
    assert summary_ms([0.001, 0.003, 0.002]) == {"p50_ms": 2.0, "p99_ms": 2.98, "max_ms": 3.0}


def test_poll_baseline_convolves_uniform_phase_with_rest_samples() -> None:
    waits = latency.poll_baseline([0.5, 1.0], period_s=4.0, phases=2)
    assert waits == [1.5, 2.0, 3.5, 4.0]


def test_latency_times_every_crossing_through_the_real_daemon() -> None:
    result = latency.measure(crossings=3, warmup=1, rest_samples=3)
    assert result["crossings"] == 3
    for key in ("persisted", "dispatch_start", "received"):
        assert _finite(*result[key].values()), key
    assert set(result["breakdown"]) == {
        "frame_in", "before_outbox", "outbox_write", "persisted_to_dispatch", "processing"
    }
    # causality, not speed: an alert is dispatched after it was persisted
    assert result["persisted"]["max_ms"] <= result["dispatch_start"]["max_ms"]
    assert result["baseline_rest_poll_5s"]["rest_samples"] == 3
    assert isinstance(result["met"], bool) and result["target_p99_dispatch_ms"] == 2.0
    assert result["high_price"] < result["safe_price"]


def test_replay_reports_events_per_second_against_json_loads() -> None:
    result = replay.measure(2_000, 1)
    assert result["frames"] == 2_000 and result["alerts_in_first_1000"] == 0
    assert _finite(result["events_per_s"], result["baseline_json_loads_per_s"], result["ratio"])
    assert isinstance(result["met"], bool)


def test_memory_runs_the_replay_in_a_child_process() -> None:
    result = memory.measure(50)
    assert result["market_frames"] == 50 and result["held"] == 10 and result["symbols"] == 900
    assert result["alerts"] == 0
    bare = result["baseline_bare_python_rss_mb"]
    assert _finite(result["rss_start_mb"], result["rss_end_mb"], bare)
    assert isinstance(result["met"], bool)


def test_idle_cpu_measures_a_live_daemon_process() -> None:
    result = idle_cpu.measure(window_s=1.0, warmup_s=0.2)
    assert result["state"] == "live"
    assert result["frames_per_s"] > 0  # the daemon really follows the stream
    assert result["daemon_log_warnings"] == 0 and result["alerts_in_window"] == 0
    assert _finite(result["cpu_fraction"], result["baseline_idle_python_cpu_fraction"])
    assert isinstance(result["met"], bool)


def test_main_prints_one_json_object_keyed_by_benchmark() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--quick", "--json", "--only", "decode"]) == 0
    doc = json.loads(out.getvalue())
    assert set(doc) == {"decode", "machine"}
    assert doc["machine"]["cpus"] >= 1 and "ratio" in doc["decode"]
