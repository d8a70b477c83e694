"""`[network] source_address`: every REST request and websocket of the daemon comes from it.

The fake exchange listens on 127.0.0.1 and counts requests by peer address; the daemon is bound
to 127.0.0.2 (also loopback on Linux), so the fake must see only 127.0.0.2.
"""

from __future__ import annotations

from pathlib import Path

from monitor.binance import egress
from monitor.binance.endpoints import endpoints_for
from monitor.binance.rest import RestClient
from tests.e2e.harness import API_KEY, API_SECRET, running, until


async def test_every_connection_comes_from_the_source_address(tmp_path: Path) -> None:
    extra = '\n[network]\nsource_address = "127.0.0.2"\n'
    async with running(tmp_path, "usdm", extra=extra) as s:
        await until(lambda: s.status()["state"] == "live", "the account live")
        await until(lambda: sum(s.fake.stats["ws_connections"]["opened"].values()) >= 2,
                    "the user and market streams", 10)
        stats = s.fake.stats
        peers = stats["peers"]
        assert set(peers) == {"127.0.0.2"}, peers
        opened = stats["ws_connections"]["opened"]
        assert sum(opened.values()) >= 2  # the user stream and a market stream
        assert peers["127.0.0.2"] >= sum(opened.values()) + 3  # + snapshot REST requests
        assert egress.source_address() == "127.0.0.2"
        rest = s.daemon.slots["acct"].rest
        assert rest is not None and rest.source_address == "127.0.0.2"


async def test_without_it_the_system_chooses(tmp_path: Path) -> None:
    async with running(tmp_path, "usdm") as s:
        await until(lambda: s.status()["state"] == "live", "the account live")
        assert set(s.fake.stats["peers"]) == {"127.0.0.1"}
        assert egress.source_address() is None


async def test_a_rest_client_bound_to_an_address(tmp_path: Path) -> None:
    async with running(tmp_path, "usdm") as s:
        endpoints = endpoints_for("custom", s.fake.rest_url, s.fake.ws_url)
        client = RestClient(endpoints, API_KEY, API_SECRET, source_address="127.0.0.3")
        sibling = client.sibling()
        try:
            before = s.fake.stats["peers"].get("127.0.0.3", 0)
            await client.get("/fapi/v1/time")
            await sibling.get("/fapi/v1/premiumIndex", {"symbol": "BTCUSDT"})
            assert s.fake.stats["peers"]["127.0.0.3"] == before + 2
        finally:
            await client.close()
            await sibling.close()
