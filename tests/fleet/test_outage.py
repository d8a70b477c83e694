"""A venue-wide outage with a fleet in one daemon: every account resyncs, through the shared
REST weight budget, and the fake exchange — enforcing Binance's weight limit with 429s and 418
bans — never has to refuse a request, nor a connection attempt.

Time is compressed: the fake's and the budget's "minute" is 1 s and the fake's limit 1,000
(beyond 200 accounts: 4 s and Binance's 2,400) for the futures pool, which the daemon's futures
budget knows (cap 80 % of it), so the start-up (~12 weight per account) and the resync after the
outage each need several windows. `outage_recovers(n, keys_per_connection)` runs it: here 200
accounts each on a user connection of its own (as COIN-M and Portfolio Margin accounts are: Binance
documents one listenKey per connection there), connection attempts limited to N + 60 per 20 s
by the fake (429 beyond) and N + 50 by the daemon's budget, so the reconnects are paced too;
tests/e2e/test_fleet_outage_500.py runs 500 USDⓈ-M accounts sharing user connections
(`user_hub.py`), too long for the fast lane.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor import examples
from monitor.binance.budget import AttemptBudget, BudgetBook
from monitor.config import load_config
from monitor.feed.live import LiveSettings, user_timings
from monitor.feed.user_hub import UserHub
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import free_port
from tests.e2e.harness import API_KEY, API_SECRET, until

#: End to end (200 accounts through an outage on the fake exchange):
#: outside the fast lane (`pytest -m "not e2e"`).
pytestmark = pytest.mark.e2e

N = 200
#: Slow pollers: only the start-up and the outage's resyncs cost weight here.
SETTINGS = LiveSettings(asset_index_poll_s=600.0, reconcile_s=600.0, market_idle_s=30.0,
                        user_idle_s=600.0, keepalive_s=600.0, ping_interval_s=5.0,
                        ping_timeout_s=10.0, user_connect_wait_s=5.0)


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


async def outage_recovers(tmp_path: Path, n: int, keys_per_connection: int | None) -> None:
    """`n` USDⓈ-M accounts start, the venue drops every connection, all recover: no 429, no
    418, no refused attempt, the budget's peak within its limit, the resyncs queued."""
    # A bigger fleet gets a longer "minute": the compressed window stays long against the event
    # loop's lag between a grant and its request reaching the fake (Binance's is 60 s); what
    # lands in the next window anyway is counted there too (`WeightBudget`'s in-flight weight).
    window_s = 1.0 if n <= 200 else 4.0
    # Beyond 200 accounts, Binance's own limit (2,400) in the 4 s window: the start-up and the
    # resync still need several windows each (~12 weight an account), in a third of the time.
    limit = 1000 if n <= 200 else 2400
    fake = FakeExchange.from_file(examples.path("usdm"), speed=1.0, loop=True, api_key=API_KEY,
                                  api_secret=API_SECRET, weight_limit=limit,
                                  weight_window_s=window_s, ban_s=5.0,
                                  ws_attempt_limit=(n + 60, 20.0))
    await fake.start()
    # The fake counts each pool apart, as Binance does: the futures budget is the fake's futures
    # limit (the /sapi API key check, 1 weight an account, counts against spot's 6,000).
    book = BudgetBook({"futures": limit}, window_s=window_s)
    # Connection attempts: n + 50 per 20 s here (the fake refuses beyond n + 60), so with a
    # connection per account the reconnects after the outage must wait for the start-up's
    # attempts to leave the window.
    attempts = AttemptBudget(n + 50, 20.0)
    daemon = Daemon(load_config(_config(tmp_path, fake, n)),
                    DaemonOptions(live=SETTINGS, deliver=False, budgets=book,
                                  attempts=attempts))
    daemon.user_hub = UserHub(user_timings(SETTINGS), max_keys=keys_per_connection)

    def live() -> int:
        return sum(1 for doc in daemon.status() if doc["state"] == "live")

    def resyncs() -> int:
        return sum(s.feed.counters.resyncs for s in daemon.slots.values()
                   if s.feed is not None)

    await daemon.start()
    try:
        await until(lambda: live() == n, f"all {n} accounts live", 60 + n * window_s * 0.6)
        budget = book.budget(fake.rest_url.removeprefix("http://"), "futures")
        waits_at_start = budget.waits
        assert waits_at_start > 0  # the start-up alone did not fit in one window
        user_connections = len(daemon.user_hub.connections())
        if keys_per_connection is not None:
            assert user_connections == -(-n // keys_per_connection)
        before = resyncs()
        # The outage: every websocket of the venue drops at once.
        assert fake.drop_connections("all") >= user_connections
        await until(lambda: resyncs() >= before + n, "every account resynced",
                    60 + n * window_s * 0.6)
        await until(lambda: live() == n, "all accounts live again", 60 + n * window_s * 0.6)
        state = fake.stats
        assert state["rate_limit"]["answers"] == {}, state["rate_limit"]  # no 429, no 418
        statuses = {s for counts in state["requests"].values() for s in counts}
        assert not statuses & {"429", "418"}, statuses
        assert budget.peak <= limit  # the futures pool's header: the fake's limit
        assert budget.waits > waits_at_start  # the resyncs were queued and spread too
        assert state["ws_connections"]["rejected"].get("attempt_limit", 0) == 0
        assert attempts.peak <= attempts.limit
        if keys_per_connection == 1:
            assert attempts.attempts >= 2 * n and attempts.waited_s > 0  # reconnects paced
        else:
            assert attempts.attempts < n  # shared user connections: far fewer attempts
    finally:
        await daemon.stop()
        await fake.stop()


async def test_200_accounts_recover_from_an_outage_without_429_or_418(tmp_path: Path) -> None:
    await outage_recovers(tmp_path, N, keys_per_connection=1)
