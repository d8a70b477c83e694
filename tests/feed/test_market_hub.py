"""Shared market connections (`MarketHub`) against the fake exchange over loopback: one
connection per venue and product, frames routed by stream to the accounts that want them,
in-place re-subscription, isolation of a failing account, and the last one out closes it."""

from __future__ import annotations

import json

from monitor.binance import stream as st
from monitor.binance.endpoints import Product, endpoints_for
from monitor.feed.market_hub import MarketHub, StreamTimings, stream_name
from tests.sim.conftest import MakeSim
from tests.sim.helpers import mark, wait_until

TIMINGS = StreamTimings(idle_timeout_s=30.0, max_age_s=3600.0, ping_interval_s=20.0,
                        ping_timeout_s=20.0)
BTC, ETH = "btcusdt@markPrice@1s", "ethusdt@markPrice@1s"


class Owner:
    """An account's end of a lease: the symbols and lifecycle events it received."""

    def __init__(self, name: str, *, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.symbols: list[str] = []
        self.events: list[st.Lifecycle] = []

    def frame(self, text: str, t_ms: int) -> None:
        if self.fail:
            raise RuntimeError(f"{self.name}'s pipeline is broken")
        data = json.loads(text)
        if "data" in data:
            self.symbols.append(data["data"]["s"])

    async def lifecycle(self, event: st.Lifecycle) -> None:
        self.events.append(event)

    def connected(self) -> bool:
        return any(isinstance(e, st.Connected) for e in self.events)


def test_stream_name_reads_the_combined_stream_wrapper() -> None:
    assert stream_name('{"stream":"btcusdt@markPrice@1s","data":{}}') == BTC
    assert stream_name('{"result":null,"id":1}') is None
    assert stream_name('{"data":{},"stream":"x"}') is None  # not first: delivered to all
    assert stream_name('{"stream":"unterminated') is None


async def test_accounts_on_one_venue_share_one_connection(make_sim: MakeSim) -> None:
    fx = await make_sim()
    endpoints = endpoints_for("custom", fx.rest_url, fx.ws_url)
    hub = MarketHub(TIMINGS)
    a, b = Owner("a"), Owner("b")
    lease_a = hub.join("a", endpoints, Product.UM, frozenset({BTC}), a.frame, a.lifecycle)
    await wait_until(a.connected)
    lease_b = hub.join("b", endpoints, Product.UM, frozenset({BTC, ETH}), b.frame, b.lifecycle)
    await wait_until(b.connected)  # joined an open connection: told it is connected
    assert lease_a.supervisor is lease_b.supervisor
    assert fx.state()["connections_open"].get("market") == 1

    async def delivered(symbol: str, t: int) -> bool:
        return fx.push_market(mark(symbol, t)) == 1

    await wait_until(lambda: delivered("ETHUSDT", 1))  # b's SUBSCRIBE has landed
    fx.push_market(mark("BTCUSDT", 2))
    await wait_until(lambda: "BTCUSDT" in a.symbols and "BTCUSDT" in b.symbols)
    assert "ETHUSDT" not in a.symbols and "ETHUSDT" in b.symbols

    lease_a.want(frozenset({ETH}))  # in place: still one connection, now both want ETH
    await wait_until(lambda: fx.push_market(mark("ETHUSDT", 3)) == 1 and "ETHUSDT" in a.symbols)
    await lease_b.leave()
    await wait_until(lambda: fx.push_market(mark("BTCUSDT", 4)) == 0)  # nobody wants BTC now
    before = len(b.symbols)
    fx.push_market(mark("ETHUSDT", 5))
    await wait_until(lambda: a.symbols.count("ETHUSDT") >= 2)
    assert len(b.symbols) == before  # b left: it gets nothing more
    assert fx.state()["connections_open"].get("market") == 1
    assert len(hub.connections()) == 1

    await lease_a.leave()  # the last one out closes the connection
    assert hub.connections() == []
    await wait_until(lambda: not fx.state()["connections_open"].get("market"))


async def test_a_failing_account_does_not_starve_the_others(make_sim: MakeSim) -> None:
    fx = await make_sim()
    endpoints = endpoints_for("custom", fx.rest_url, fx.ws_url)
    hub = MarketHub(TIMINGS)
    broken, healthy = Owner("broken", fail=True), Owner("healthy")
    lease = hub.join("broken", endpoints, Product.UM, frozenset({BTC}), broken.frame,
                     broken.lifecycle)
    other = hub.join("healthy", endpoints, Product.UM, frozenset({BTC}), healthy.frame,
                     healthy.lifecycle)
    await wait_until(lambda: broken.connected() and healthy.connected())
    for t in range(1, 4):
        fx.push_market(mark("BTCUSDT", t))
    await wait_until(lambda: len(healthy.symbols) == 3)
    assert lease.supervisor.stats.errors.get("on_frame") == 3
    await lease.leave()
    await other.leave()


async def test_each_venue_has_its_own_connection(make_sim: MakeSim) -> None:
    one, two = await make_sim(), await make_sim()
    hub = MarketHub(TIMINGS)
    a, b = Owner("a"), Owner("b")
    lease_a = hub.join("a", endpoints_for("custom", one.rest_url, one.ws_url), Product.UM,
                       frozenset({BTC}), a.frame, a.lifecycle)
    lease_b = hub.join("b", endpoints_for("custom", two.rest_url, two.ws_url), Product.UM,
                       frozenset({BTC}), b.frame, b.lifecycle)
    await wait_until(lambda: a.connected() and b.connected())
    assert lease_a.supervisor is not lease_b.supervisor and len(hub.connections()) == 2
    one.push_market(mark("BTCUSDT", 1))
    await wait_until(lambda: a.symbols == ["BTCUSDT"])
    assert b.symbols == []
    await lease_a.leave()
    await lease_b.leave()
