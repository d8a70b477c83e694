"""`/metrics` tells what happened: two accounts run by `serve` against the fake exchange, then a
scrape is checked family by family against the exchange's own request log, the REST clients'
reply headers, the supervisors' frame counts and the snapshots each account applied.

The two accounts share one market connection: its counters must appear once, under its
connection name, not once per account (a sum over the series must not double-count)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from monitor import examples
from monitor.config import load_config
from monitor.feed.live import LiveSettings
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.service.http import HttpServer
from monitor.service.runner import serve
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import HttpSink, free_port
from tests.e2e.harness import API_KEY, API_SECRET, until

#: No REST traffic after start-up (no reconcile, no keep-alive, no watchdog reconnects) while
#: the scrape is compared, so the exchange's counts and the daemon's are final.
QUIET = LiveSettings(
    reconcile_s=600.0,
    market_idle_s=60.0,
    user_idle_s=600.0,
    keepalive_s=600.0,
    ping_interval_s=1.0,
    ping_timeout_s=5.0,
    user_connect_wait_s=3.0,
)

Samples = dict[str, list[tuple[dict[str, str], float]]]


def _config(tmp: Path, rest: str, ws: str, sink: str) -> Path:
    accounts = "".join(
        f"""
[[accounts]]
name = "{name}"
environment = "custom"
rest = "{rest}"
ws = "{ws}"
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"
"""
        for name in ("a", "b")
    )
    path = tmp / "marginwatch.toml"
    path.write_text(
        accounts
        + f"""
[[notify]]
url = "{sink}"

[http]
listen = "127.0.0.1:{free_port()}"

[state]
dir = "{tmp / 'state'}"
""",
        encoding="utf-8",
    )
    os.chmod(path, 0o600)
    return path


def _parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _one(samples: Samples, name: str, **labels: str) -> float:
    found = [
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    ]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


async def test_metrics_match_what_happened(tmp_path: Path) -> None:
    fake = FakeExchange.from_file(
        examples.path("usdm"), speed=50.0, api_key=API_KEY, api_secret=API_SECRET
    )
    sink = HttpSink()
    await sink.start()
    await fake.start()
    stop = asyncio.Event()
    ready: list[tuple[Daemon, HttpServer]] = []
    config = load_config(_config(tmp_path, fake.rest_url, fake.ws_url, sink.json_url()))
    task = asyncio.create_task(
        serve(config, DaemonOptions(live=QUIET), stop=stop,
              on_ready=lambda d, s: ready.append((d, s)))
    )
    try:
        await until(lambda: bool(ready), "the daemon to start")
        daemon, server = ready[0]
        await until(
            lambda: all(r["state"] == "live" for r in daemon.status()), "both accounts live"
        )
        await until(
            lambda: all(
                sup.stats.frames >= 5
                for slot in daemon.slots.values() if slot.feed is not None
                for name, sup in slot.feed.streams() if name.startswith("market")
            ),
            "market frames",
        )
        fake.faults.silence("all")  # freeze: no more frames, and no REST is due for minutes
        await asyncio.sleep(2.5)  # > 2 ticks of the daemon's clock after the last frame
        async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{server.bound_port}/metrics"
        ) as resp:
            samples = _parse(await resp.text())

        # -- REST: every request the exchange answered, by path and status, summed over accounts
        served: Counter[tuple[str, str]] = Counter()
        for key, statuses in fake.counters.requests.items():
            path = key.split(" ", 1)[1]
            if path.startswith("/__sim"):
                continue
            for status, n in statuses.items():
                served[(path, status)] += n
        counted: Counter[tuple[str, str]] = Counter()
        for labels, v in samples["marginwatch_rest_requests_total"]:
            counted[(labels["path"], labels["status"])] += int(v)
        assert counted == served and served
        for name, slot in daemon.slots.items():
            assert slot.rest is not None
            by_path = {lab["path"] for lab, _ in samples["marginwatch_rest_requests_total"]
                       if lab["account"] == name}
            assert "/fapi/v1/time" in by_path  # every account's own client reports
            used = slot.rest.stats.last_used_weight
            assert used is not None and used > 0
            assert _one(samples, "marginwatch_rest_used_weight", account=name,
                        pool="futures") == used

        # -- resyncs: the start-up snapshot counts, once per account
        for name, slot in daemon.slots.items():
            assert _one(samples, "marginwatch_resyncs_total", account=name,
                        reason="startup") == 1
            total = sum(v for lab, v in samples["marginwatch_resyncs_total"]
                        if lab["account"] == name)
            assert total == sum(slot.runtime.resyncs.values())

        # -- connections: one series per connection, the shared market connection once
        supervisors = {
            sup.config.name: sup
            for slot in daemon.slots.values() if slot.feed is not None
            for _, sup in slot.feed.streams()
        }
        markets = [c for c in supervisors if c.startswith("market-um@")]
        assert len(markets) == 1, supervisors  # shared by both accounts
        # USDⓈ-M accounts also share a user-data connection (several listenKeys on one
        # connection: feed/user_hub.py).
        users = [c for c in supervisors if c.startswith("user-um@")]
        assert len(users) == 1, supervisors
        assert set(supervisors) == {markets[0], users[0]}
        frames = samples["marginwatch_stream_frames_total"]
        assert {lab["connection"] for lab, _ in frames} == set(supervisors)
        for conn, sup in supervisors.items():
            assert _one(samples, "marginwatch_stream_frames_total",
                        connection=conn) == sup.stats.frames
            assert _one(samples, "marginwatch_stream_connected", connection=conn) == 1
            assert _one(samples, "marginwatch_stream_reconnects_total",
                        connection=conn) == sup.stats.reconnects
        assert sum(v for _, v in frames) == sum(s.stats.frames for s in supervisors.values())
        for name in ("a", "b"):
            assert _one(samples, "marginwatch_stream_account_info", account=name,
                        stream="market-um", connection=markets[0]) == 1
            assert _one(samples, "marginwatch_stream_account_info", account=name,
                        stream="user", connection=users[0]) == 1
        assert _one(samples, "marginwatch_up", account="a") == 1
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
        await fake.stop()
        await sink.stop()


def _delivery_config(tmp: Path, rest: str, ws: str, good: str, bad: str) -> Path:
    path = tmp / "marginwatch.toml"
    path.write_text(
        f"""
[[accounts]]
name = "a"
environment = "custom"
rest = "{rest}"
ws = "{ws}"
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"

[[notify]]
url = "{good}"

[[notify]]
url = "{bad}"

[alerts]
levels = [0.0001, 0.0002, 0.0003]
hysteresis = 0.00005
repeat_s = 3600
dwell_s = 0

[http]
listen = "127.0.0.1:{free_port()}"

[state]
dir = "{tmp / 'state'}"
""",
        encoding="utf-8",
    )
    os.chmod(path, 0o600)
    return path


async def test_alert_metrics_per_destination(tmp_path: Path) -> None:
    """An emergency alert goes to a working destination and to one answering 500: the scrape
    counts it queued and delivered on the first, queued and retried (not delivered) on the
    second, each under the destination's outbox id — never its URL."""
    fake = FakeExchange.from_file(
        examples.path("usdm"), speed=50.0, api_key=API_KEY, api_secret=API_SECRET
    )
    good, bad = HttpSink(), HttpSink(script=[(500, "down")] * 1000)
    for sink in (good, bad):
        await sink.start()
    await fake.start()
    stop = asyncio.Event()
    ready: list[tuple[Daemon, HttpServer]] = []
    good_url, bad_url = good.json_url("secret-good-path"), bad.json_url("secret-bad-path")
    config = load_config(
        _delivery_config(tmp_path, fake.rest_url, fake.ws_url, good_url, bad_url)
    )
    task = asyncio.create_task(
        serve(config, DaemonOptions(live=QUIET), stop=stop,
              on_ready=lambda d, s: ready.append((d, s)))
    )
    try:
        await until(lambda: bool(ready), "the daemon to start")
        daemon, server = ready[0]
        await until(lambda: bool(good.posts) and len(bad.posts) >= 2, "deliveries and a retry")
        worker, outbox = daemon.worker, daemon.outbox
        assert worker is not None and outbox is not None
        ids = {d.display: d.dest_id for d in worker.destinations}
        good_id = next(i for d, i in ids.items() if f":{good.port}/" in d)
        bad_id = next(i for d, i in ids.items() if f":{bad.port}/" in d)
        await asyncio.sleep(2.5)  # two ticks of the daemon's clock

        def recorded() -> tuple[Counter[tuple[str, str, str]], Counter[str]]:
            """The outbox's own records: the truth the scrape must repeat."""
            assert outbox is not None
            records: Counter[tuple[str, str, str]] = Counter()
            attempts: Counter[str] = Counter()
            for alert_id in outbox.alert_ids():
                kind = alert_id.split("/")[1]
                for dest_id, (state, tries, _) in outbox.deliveries(alert_id).items():
                    records[(dest_id, kind, "queued")] += 1
                    if state != "queued":
                        records[(dest_id, kind, str(state))] += 1
                    attempts[dest_id] += tries - (1 if state == "delivered" else 0)
            return records, attempts

        records, before = recorded()
        async with aiohttp.ClientSession() as session, session.get(
            f"http://127.0.0.1:{server.bound_port}/metrics"
        ) as resp:
            text = await resp.text()
        _, after = recorded()  # the failing destination keeps retrying meanwhile
        samples = _parse(text)
        assert "secret-good-path" not in text and "secret-bad-path" not in text
        assert f"127.0.0.1:{good.port}" not in text and f"127.0.0.1:{bad.port}" not in text

        family = samples["marginwatch_alerts_total"]
        counted = Counter(
            {(lab["destination"], lab["kind"], lab["state"]): int(v) for lab, v in family}
        )
        assert +counted == +records
        assert {lab["destination"] for lab, _ in family} == {good_id, bad_id}
        assert all(lab["account"] == "a" for lab, _ in family)
        level = {"account": "a", "kind": "level"}
        assert _one(samples, "marginwatch_alerts_total", destination=good_id, state="queued",
                    **level) >= 1
        assert _one(samples, "marginwatch_alerts_total", destination=good_id,
                    state="delivered", **level) == _one(
            samples, "marginwatch_alerts_total", destination=good_id, state="queued", **level)
        assert not [lab for lab, _ in family
                    if lab["destination"] == bad_id and lab["state"] == "delivered"]
        assert _one(samples, "marginwatch_alerts_total", destination=bad_id, state="queued",
                    **level) >= 1
        assert _one(samples, "marginwatch_alert_send_failures_total",
                    destination=good_id) == 0
        bad_failures = _one(samples, "marginwatch_alert_send_failures_total", destination=bad_id)
        assert before[bad_id] - 1 <= bad_failures <= after[bad_id]  # a tick may lag one retry
        assert bad_failures >= 1 and after[bad_id] <= len(bad.posts)
        assert _one(samples, "marginwatch_alert_destination_info", destination=bad_id,
                    scheme="json") == 1
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
        await fake.stop()
        for sink in (good, bad):
            await sink.stop()
