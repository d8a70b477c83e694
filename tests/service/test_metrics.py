"""The Prometheus metrics (monitor/service/metrics.py): names, labels, bounds and exposition."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.service.metrics import OTHER, TICK_LATENCY_BUCKETS, Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the text exposition, keyed by (name, sorted labels)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


def test_figures_per_account() -> None:
    m = Metrics()
    m.observe_figures("um", "usdm", 0.42, 0.42, None, 1000.5, 420.0, unit="USDT", updated_s=1e9)
    m.observe_figures("pm", "portfolio_margin", 0.7, None, 1.5, 2e6, 1.4e6)
    assert value(m, "marginwatch_risk_ratio", account="um") == 0.42
    assert value(m, "marginwatch_margin_ratio", account="um") == 0.42
    assert value(m, "marginwatch_equity", account="um") == 1000.5
    assert value(m, "marginwatch_maint_margin", account="um") == 420.0
    assert value(m, "marginwatch_figures_updated_timestamp_seconds", account="um") == 1e9
    assert value(m, "marginwatch_uni_mmr", account="pm") == 1.5
    assert value(m, "marginwatch_margin_ratio", account="pm") is None
    assert value(m, "marginwatch_uni_mmr", account="um") is None
    info = value(m, "marginwatch_account_info", account="um", mode="usdm", unit="USDT")
    assert info == 1.0
    assert value(m, "marginwatch_account_info", account="pm", mode="portfolio_margin", unit="USD")


def test_missing_or_non_finite_figures_remove_the_series() -> None:
    m = Metrics()
    m.observe_figures("a", "usdm", 0.5, 0.5, None, 10.0, 5.0)
    m.observe_figures("a", "usdm", math.inf, None, None, math.nan, 5.0)
    assert value(m, "marginwatch_risk_ratio", account="a") is None
    assert value(m, "marginwatch_margin_ratio", account="a") is None
    assert value(m, "marginwatch_equity", account="a") is None
    assert value(m, "marginwatch_maint_margin", account="a") == 5.0


def test_a_mode_change_replaces_the_info_series() -> None:
    m = Metrics()
    m.observe_figures("a", "usdm", 0.1, 0.1, None, 1.0, 0.1)
    m.observe_figures("a", "usdm_multi_assets", 0.1, 0.1, None, 1.0, 0.1)
    infos = [k for k in samples(m) if k[0] == "marginwatch_account_info"]
    assert infos == [
        (
            "marginwatch_account_info",
            (("account", "a"), ("mode", "usdm_multi_assets"), ("unit", "USD")),
        )
    ]


def test_counters_and_gauges() -> None:
    m = Metrics()
    m.frames("market-um@fstream.binance.com", 10)
    m.frames("market-um@fstream.binance.com")
    m.reconnect("market-um@fstream.binance.com")
    m.watchdog_fire("a/user")
    m.rotation("a/user")
    m.unrouted_frames("user-um@fstream.binance.com/1", 2)
    m.set_connected("a/user", True)
    m.set_stream_connection("a", "market-um", "market-um@fstream.binance.com")
    m.set_rest_weight("a", "futures", 37)
    m.decode_error("a", "market-um", "WireError")
    m.bad_input("a", "ValidationError")
    m.resync("a", "gap")
    m.rest_request("a", "/fapi/v2/account?timestamp=1&signature=abc", 200)
    m.rest_request("a", "/fapi/v2/account", None)
    m.alert("0123abcd", "a", "level", "queued")
    m.alert("0123abcd", "a", "level", "delivered")
    m.send_failures("0123abcd", 2)
    m.set_outbox_depth(3)
    m.set_data_age("a", "mark:BTCUSDT", 0.25)
    m.set_up("a", True)
    m.set_level("a", "critical")
    m.set_loop_lag(0.002)
    m.set_healthy(False)
    market = {"connection": "market-um@fstream.binance.com"}
    stream = {"account": "a", "stream": "market-um"}
    assert value(m, "marginwatch_stream_frames_total", **market) == 11
    assert value(m, "marginwatch_stream_reconnects_total", **market) == 1
    assert value(m, "marginwatch_stream_watchdog_fires_total", connection="a/user") == 1
    assert value(m, "marginwatch_stream_rotations_total", connection="a/user") == 1
    unrouted = {"connection": "user-um@fstream.binance.com/1"}
    assert value(m, "marginwatch_stream_unrouted_frames_total", **unrouted) == 2
    assert value(m, "marginwatch_stream_connected", connection="a/user") == 1
    assert value(m, "marginwatch_stream_account_info", **stream, **market) == 1
    assert value(m, "marginwatch_rest_used_weight", account="a", pool="futures") == 37
    assert value(m, "marginwatch_decode_errors_total", **stream, kind="WireError") == 1
    assert value(m, "marginwatch_bad_input_total", account="a", kind="ValidationError") == 1
    assert value(m, "marginwatch_resyncs_total", account="a", reason="gap") == 1
    path = {"account": "a", "path": "/fapi/v2/account"}
    assert value(m, "marginwatch_rest_requests_total", **path, status="200") == 1
    assert value(m, "marginwatch_rest_requests_total", **path, status="error") == 1
    for state in ("queued", "delivered"):
        labels = {"destination": "0123abcd", "account": "a", "kind": "level", "state": state}
        assert value(m, "marginwatch_alerts_total", **labels) == 1
    assert value(m, "marginwatch_alert_send_failures_total", destination="0123abcd") == 2
    assert value(m, "marginwatch_outbox_depth") == 3
    assert value(m, "marginwatch_data_age_seconds", account="a", source="mark:BTCUSDT") == 0.25
    assert value(m, "marginwatch_up", account="a") == 1
    assert value(m, "marginwatch_alert_level", account="a") == 2
    assert value(m, "marginwatch_event_loop_lag_seconds") == 0.002
    assert value(m, "marginwatch_healthy") == 0
    assert value(m, "marginwatch_build_info", version=__version__) == 1
    m.set_level("a", None)
    m.set_up("a", False)
    assert value(m, "marginwatch_alert_level", account="a") == 0
    assert value(m, "marginwatch_up", account="a") == 0


def test_tick_latency_histogram_spans_microseconds_to_100_ms() -> None:
    m = Metrics()
    for seconds in (2e-6, 3e-5, 0.2):
        m.tick_latency(seconds)
    assert TICK_LATENCY_BUCKETS[0] == 1e-6 and TICK_LATENCY_BUCKETS[-1] == 0.1
    name = "marginwatch_tick_latency_seconds_bucket"
    assert value(m, name, le="2.5e-06") == 1
    assert value(m, name, le="5e-05") == 2
    assert value(m, name, le="0.1") == 2
    assert value(m, name, le="+Inf") == 3
    assert value(m, "marginwatch_tick_latency_seconds_count") == 3


def test_label_values_are_sanitised_and_bounded(caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics(max_values=3)
    for i in range(5):
        m.bad_input("a", f"Kind{i}")
    kinds = {dict(k[1])["kind"] for k in samples(m) if k[0] == "marginwatch_bad_input_total"}
    assert kinds == {"Kind0", "Kind1", "Kind2", OTHER}
    assert value(m, "marginwatch_bad_input_total", account="a", kind=OTHER) == 2
    assert "further ones are counted as 'other'" in caplog.text
    m.decode_error("a", 'we"ird\nstream ' + "x" * 100, "E")
    (weird,) = {dict(k[1])["stream"] for k in samples(m) if "stream" in dict(k[1])}
    assert '"' not in weird and "\n" not in weird and len(weird) <= 64


def test_sources_have_their_own_larger_bound() -> None:
    m = Metrics(max_values=2, max_sources=10)
    for i in range(10):
        m.set_data_age("a", f"mark:SYM{i}USDT", float(i))
    ages = [k for k in samples(m) if k[0] == "marginwatch_data_age_seconds"]
    assert len(ages) == 10


def test_registries_are_private() -> None:
    a, b = Metrics(), Metrics()
    a.set_outbox_depth(5)
    assert value(b, "marginwatch_outbox_depth") == 0


def test_exposition_negotiates_openmetrics() -> None:
    m = Metrics()
    m.set_outbox_depth(1)
    body, content_type = m.exposition(None)
    assert content_type.startswith("text/plain") and body == m.render()
    body, content_type = m.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_a_stream_moving_to_another_connection_replaces_its_info_series() -> None:
    m = Metrics()
    m.set_stream_connection("a", "market-um", "market-um@host1")
    m.set_stream_connection("b", "market-um", "market-um@host1")
    m.set_stream_connection("a", "market-um", "market-um@host2")
    infos = sorted(k[1] for k in samples(m) if k[0] == "marginwatch_stream_account_info")
    assert infos == [
        (("account", "a"), ("connection", "market-um@host2"), ("stream", "market-um")),
        (("account", "b"), ("connection", "market-um@host1"), ("stream", "market-um")),
    ]
    m.set_stream_connection("b", "market-um", None)
    infos = [k for k in samples(m) if k[0] == "marginwatch_stream_account_info"]
    assert len(infos) == 1


def test_refused_commands_are_counted_by_source() -> None:
    metrics = Metrics()
    text = metrics.render().decode()
    assert 'marginwatch_commands_refused_total{source="telegram"} 0.0' in text
    metrics.observe_refused("telegram", 2)
    metrics.observe_refused("telegram", 2)  # a running total: nothing new
    metrics.observe_refused("api", 1)
    text = metrics.render().decode()
    assert 'marginwatch_commands_refused_total{source="telegram"} 2.0' in text
    assert 'marginwatch_commands_refused_total{source="api"} 1.0' in text
