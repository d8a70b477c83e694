"""The daemon → Prometheus bridge (`runner.MetricsBridge`): input the pipeline did not apply
(engine rejections, rejected REST snapshots, user updates older than the state) is counted as
`marginwatch_bad_input_total`."""

from __future__ import annotations

import json
from pathlib import Path

from monitor import examples
from monitor.config import load_config
from monitor.feed.recording import RestLine, WsLine, read_recording
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.service.metrics import Metrics
from monitor.service.runner import MetricsBridge
from tests.service.test_metrics import value

CONFIG = """
[[accounts]]
name = "acct"
environment = "custom"
mode = "usdm"
rest = "http://127.0.0.1:9"
ws = "ws://127.0.0.1:9"
api_key_env = "BRIDGE_KEY"
api_secret_env = "BRIDGE_SECRET"

[[notify]]
url = "json://127.0.0.1:9/hook"

[state]
dir = "{state}"
"""


def test_rejected_messages_and_snapshots_are_counted_as_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "marginwatch.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state"))
    config = load_config(path, env={"BRIDGE_KEY": "k" * 16, "BRIDGE_SECRET": "s" * 16})
    daemon = Daemon(config, DaemonOptions(deliver=False))
    metrics = Metrics()
    bridge = MetricsBridge(daemon, metrics)
    timeline = daemon.slots["acct"].runtime.core
    _, lines = read_recording(examples.path("usdm"))
    snapshot = []
    for line in lines:
        if isinstance(line, WsLine):
            break
        if isinstance(line, RestLine):
            snapshot.append(line)
            timeline.feed(line)
    t = snapshot[-1].t
    timeline.flush(t)
    leg = {"s": "NEWUSDT", "pa": "1", "ep": "10", "ps": "BOTH", "mt": "cross"}
    frame = json.dumps({"e": "ACCOUNT_UPDATE", "E": t, "T": t, "a": {"m": "ORDER", "P": [leg]}})
    timeline.feed(WsLine(t + 1, "user", None, frame))
    wallet = {"a": "USDC", "wb": "1", "cw": "1", "bc": "0"}
    for e in (t + 50, t + 40):  # the second arrives late: older than the wallet it would set
        late = {"e": "ACCOUNT_UPDATE", "E": e, "T": e, "a": {"m": "DEPOSIT", "B": [wallet]}}
        timeline.feed(WsLine(t + 1, "user", None, json.dumps(late)))
    timeline.feed(RestLine(t + 2, "GET", "/fapi/v3/positionRisk", {"not": "a list"}))
    timeline.flush(t + 2)
    bridge.refresh()  # what a scrape does first
    assert value(metrics, "marginwatch_bad_input_total", account="acct", kind="engine_errors") == 1
    assert value(metrics, "marginwatch_bad_input_total", account="acct",
                 kind="snapshot_errors") == 1
    assert value(metrics, "marginwatch_bad_input_total", account="acct",
                 kind="user_stale_updates") == 1
    bridge.refresh()  # counted once, not again at the next scrape
    assert value(metrics, "marginwatch_bad_input_total", account="acct", kind="engine_errors") == 1
