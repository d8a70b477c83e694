"""Shared market-data polls: PM asset index prices are asked for once per venue, for the union
of what its accounts value, against the real fake exchange over loopback; each account gets the
answers about its assets; a failed call is reported to the accounts that wanted that asset."""

from __future__ import annotations

import asyncio

from monitor import examples
from monitor.binance.endpoints import endpoints_for
from monitor.binance.rest import RestClient
from monitor.feed.market_polls import ALL_ASSETS_WEIGHT, ASSET_INDEX_PRICE, MarketPolls
from monitor.feed.recording import RestLine
from monitor.sim.server import FakeExchange
from tests.e2e.harness import API_KEY, API_SECRET, until

ACCOUNTS = 200


class Account:
    def __init__(self, assets: frozenset[str]) -> None:
        self.assets = assets
        self.groups: list[list[RestLine]] = []
        self.errors: list[str] = []

    def wanted(self) -> frozenset[str]:
        return self.assets

    def deliver(self, lines: list[RestLine]) -> None:
        self.groups.append(lines)

    def failed(self, detail: str) -> None:
        self.errors.append(detail)


def _served(fake: FakeExchange) -> int:
    return sum(sum(c.values()) for key, c in fake.counters.requests.items()
               if key.endswith(ASSET_INDEX_PRICE))


async def test_200_accounts_cost_one_poll_of_the_union() -> None:
    fake = FakeExchange.from_file(examples.path("portfolio_margin"), api_key=API_KEY,
                                  api_secret=API_SECRET)
    await fake.start()
    polls = MarketPolls(interval_s=0.2)
    endpoints = endpoints_for("custom", fake.rest_url, fake.ws_url)
    accounts = [
        Account(frozenset({"BTC"}) if k % 2 else frozenset({"BTC", "ETH"}))
        for k in range(ACCOUNTS)
    ]
    client = RestClient(endpoints, API_KEY, API_SECRET)
    try:
        leases = [
            polls.join(f"acct{k}", endpoints, client.sibling, a.wanted, a.deliver, a.failed)
            for k, a in enumerate(accounts)
        ]
        assert len(polls.pollers()) == 1  # one poller for the venue, whatever the accounts
        await until(lambda: all(len(a.groups) >= 2 for a in accounts), "two polls delivered")
        poller = polls.pollers()[0]
        # Two assets in the union: two weight-1 calls per poll, not 200 or 300.
        assert poller.requests == 2 * poller.polls
        assert _served(fake) == poller.requests
        for account in accounts:
            for group in account.groups:
                assert {line.params["asset"] for line in group} == account.assets
                for line in group:
                    assert line.status == 200
                    assert [row["asset"] for row in line.data] == [line.params["asset"]]
        for lease in leases:
            await lease.leave()
        assert polls.pollers() == []  # the last one out stops the poller
    finally:
        await client.close()
        await fake.stop()


async def test_a_failed_call_reaches_only_the_accounts_that_wanted_it() -> None:
    fake = FakeExchange.from_file(examples.path("portfolio_margin"), api_key=API_KEY,
                                  api_secret=API_SECRET)
    await fake.start()
    polls = MarketPolls(interval_s=0.2)
    endpoints = endpoints_for("custom", fake.rest_url, fake.ws_url)
    btc, both = Account(frozenset({"BTC"})), Account(frozenset({"BTC", "ETH"}))
    client = RestClient(endpoints, API_KEY, API_SECRET, max_attempts=1)
    try:
        fake.set_rest(ASSET_INDEX_PRICE, {"code": -1003, "msg": "Too much request weight"}, 429)
        for k, a in enumerate((btc, both)):
            polls.join(f"a{k}", endpoints, client.sibling, a.wanted, a.deliver, a.failed)
        await until(lambda: btc.errors and both.errors, "errors reported")
        assert btc.groups == [] and both.groups == []
        assert all(ASSET_INDEX_PRICE in e for e in btc.errors + both.errors)
        for poller in polls.pollers():
            await poller.close()
    finally:
        await client.close()
        await fake.stop()


async def test_many_assets_take_the_all_asset_call() -> None:
    fake = FakeExchange.from_file(examples.path("portfolio_margin"), api_key=API_KEY,
                                  api_secret=API_SECRET)
    await fake.start()
    polls = MarketPolls(interval_s=3600)
    endpoints = endpoints_for("custom", fake.rest_url, fake.ws_url)
    many = Account(frozenset(f"A{k}" for k in range(ALL_ASSETS_WEIGHT)))
    client = RestClient(endpoints, API_KEY, API_SECRET)
    try:
        polls.join("wide", endpoints, client.sibling, many.wanted, many.deliver, many.failed)
        poller = polls.pollers()[0]
        await poller.poll_once()
        assert poller.requests == 1 and _served(fake) == 1
        [[line]] = many.groups
        assert line.params == {} and isinstance(line.data, list)  # the whole table
        await poller.close()
    finally:
        await client.close()
        await fake.stop()
        await asyncio.sleep(0)
