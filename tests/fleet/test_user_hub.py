"""Several USDⓈ-M accounts' listenKeys on one user-data connection (`feed/user_hub.py`): the
multi-key URL Binance documents, frames routed by their `"stream"` listenKey, and a fleet in one
daemon on the fake exchange sharing a few connections through start-up, an outage and the expiry
of its listenKeys."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from monitor import examples
from monitor.binance import stream as st
from monitor.binance.budget import BudgetBook
from monitor.binance.endpoints import UM_USER_EVENTS, endpoints_for
from monitor.config import load_config
from monitor.feed.live import LiveSettings, user_timings
from monitor.feed.user_hub import (
    MAX_URL_CHARS,
    SharedUser,
    UserHub,
    UserLease,
    max_keys_for,
    multi_key_url,
    unwrap,
)
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import free_port
from tests.e2e.harness import API_KEY, API_SECRET, until

MAINNET = endpoints_for("mainnet")
SETTINGS = LiveSettings(asset_index_poll_s=600.0, reconcile_s=600.0, market_idle_s=30.0,
                        user_idle_s=600.0, keepalive_s=600.0, ping_interval_s=5.0,
                        ping_timeout_s=10.0, user_connect_wait_s=5.0)


def test_the_multi_key_url_pairs_each_listen_key_with_its_events() -> None:
    keys = ["a" * 64, "b" * 64]
    url = multi_key_url(MAINNET, keys)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "wss://fstream.binance.com/private/stream"
    query = parse_qsl(parts.query)
    events = "/".join(UM_USER_EVENTS)
    assert query == [("listenKey", keys[0]), ("events", events),
                     ("listenKey", keys[1]), ("events", events)]
    most = max_keys_for(MAINNET)
    assert 20 <= most <= 1024
    assert len(multi_key_url(MAINNET, [f"{i:064d}" for i in range(most)])) <= MAX_URL_CHARS


def test_unwrap_takes_the_listen_key_off_the_frame() -> None:
    key = "k" * 64
    assert unwrap('{"stream":"' + key + '","data":{"e":"ACCOUNT_UPDATE","E":1}}') == (
        key, '{"e":"ACCOUNT_UPDATE","E":1}')
    spaced = '{"stream": "' + key + '", "data": {"e": "MARGIN_CALL"}}'
    assert unwrap(spaced) == (key, '{"e":"MARGIN_CALL"}')
    assert unwrap('{"e":"ACCOUNT_UPDATE"}') == (None, '{"e":"ACCOUNT_UPDATE"}')
    assert unwrap('{"stream":"x","data":') == (None, '{"stream":"x","data":')


async def test_frames_go_to_the_accounts_of_their_listen_key_only() -> None:
    hub = UserHub(user_timings(SETTINGS))
    connection = SharedUser(hub, MAINNET, "user-um@test/1", 10)
    got: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    events: dict[str, list[st.Lifecycle]] = {"a": [], "b": [], "c": []}

    def lease(owner: str, key: str) -> UserLease:
        async def on_lifecycle(event: st.Lifecycle) -> None:
            events[owner].append(event)

        made = UserLease(owner, key, lambda text, _t: got[owner].append(text), on_lifecycle,
                         connection)
        connection.add(made)
        return made

    a, b, c = lease("a", "KA"), lease("b", "KB"), lease("c", "KA")  # c shares a's key
    connection.generation = 1
    connection.dialed = (1, frozenset({"KA", "KB"}))
    await connection._lifecycle(st.Connected("user-um@test/1", 1, "", False, False, 0))
    assert a.carried and b.carried and c.carried
    assert all(len(e) == 1 and isinstance(e[0], st.Connected) for e in events.values())
    connection._frame('{"stream":"KA","data":{"e":"ACCOUNT_UPDATE"}}', 1)
    connection._frame('{"stream":"KB","data":{"e":"MARGIN_CALL"}}', 2)
    connection._frame('{"stream":"KZ","data":{"e":"MARGIN_CALL"}}', 3)  # nobody's
    assert connection.supervisor.stats.unrouted == 1  # counted (a metric), then dropped
    assert got == {"a": ['{"e":"ACCOUNT_UPDATE"}'], "b": ['{"e":"MARGIN_CALL"}'],
                   "c": ['{"e":"ACCOUNT_UPDATE"}']}
    # b's key is renewed: a gap for b alone until a URL carries the new key.
    b.set_key("KB2")
    await asyncio.sleep(0)
    assert isinstance(events["b"][-1], st.Disconnected) and not b.connected
    connection._frame('{"stream":"KB","data":{"e":"MARGIN_CALL"}}', 4)
    assert len(got["b"]) == 1 and connection.supervisor.stats.unrouted == 2
    connection.generation = 2
    connection.dialed = (2, frozenset({"KA", "KB2"}))
    await connection._lifecycle(st.Connected("user-um@test/1", 2, "", False, True, 0))
    assert isinstance(events["a"][-1], st.Connected) and events["a"][-1].rotation  # no gap
    renewed = events["b"][-1]
    assert isinstance(renewed, st.Connected) and renewed.after_gap and not renewed.rotation
    if connection._batch is not None:
        connection._batch.cancel()


def _config(tmp_path: Path, fake: FakeExchange, n: int) -> Path:
    accounts = "".join(
        f'[[accounts]]\nname = "acct-{i:03d}"\nenvironment = "custom"\nmode = "usdm"\n'
        f'rest = "{fake.rest_url}"\nws = "{fake.ws_url}"\napi_key = "{API_KEY}"\n'
        f'api_secret = "{API_SECRET}"\n\n'
        for i in range(n)
    )
    path = tmp_path / "fleet.toml"
    path.write_text(
        accounts + '[[notify]]\nurl = "json://127.0.0.1:9/"\n\n'
        f'[http]\nlisten = "127.0.0.1:{free_port()}"\n\n[state]\ndir = "{tmp_path / "state"}"\n',
        encoding="utf-8",
    )
    os.chmod(path, 0o600)
    return path


async def test_a_fleet_shares_a_few_user_connections_through_an_outage_and_key_expiry(
    tmp_path: Path,
) -> None:
    n, per_connection = 30, 8
    # A 1 s weight window (fake and budget): the resyncs are not paced into wall-clock minutes.
    fake = FakeExchange.from_file(examples.path("usdm"), speed=1.0, loop=True, api_key=API_KEY,
                                  api_secret=API_SECRET, weight_limit=100_000,
                                  weight_window_s=1.0)
    await fake.start()
    book = BudgetBook({"futures": 100_000}, window_s=1.0)
    daemon = Daemon(load_config(_config(tmp_path, fake, n)),
                    DaemonOptions(live=SETTINGS, deliver=False, budgets=book))
    daemon.user_hub = UserHub(user_timings(SETTINGS), max_keys=per_connection)

    def live() -> int:
        return sum(1 for doc in daemon.status() if doc["state"] == "live")

    def resyncs() -> int:
        return sum(s.feed.counters.resyncs for s in daemon.slots.values() if s.feed is not None)

    def user_conns() -> int:
        return sum(1 for c in fake._conns_of("user"))

    await daemon.start()
    try:
        await until(lambda: live() == n, f"all {n} accounts live", 60)
        shared = daemon.user_hub.connections()
        assert len(shared) == -(-n // per_connection)  # 4 connections for 30 accounts
        await until(lambda: user_conns() == len(shared), "one fake connection per shared one", 20)
        names = {sup.config.name for s in daemon.slots.values() if s.feed is not None
                 for role, sup in s.feed.streams() if role == "user"}
        assert names == {c.name for c in shared}
        # The outage: every user connection drops; every account resyncs and is live again.
        start_resyncs = resyncs()
        fake.drop_connections("user")
        await until(lambda: resyncs() >= start_resyncs + n, "every account resynced", 60)
        await until(lambda: live() == n, "all live after the outage", 60)
        # Every listenKey expires: each account renews it and is carried again, after a gap.
        expired_resyncs = resyncs()
        assert fake.expire_listen_keys(None) >= 1
        await until(lambda: resyncs() >= expired_resyncs + n, "resynced after expiry", 60)
        await until(lambda: live() == n, "all live after the expiry", 60)
        await until(lambda: user_conns() == len(daemon.user_hub.connections()),
                    "old connections closed", 20)
    finally:
        await daemon.stop()
        await fake.stop()
