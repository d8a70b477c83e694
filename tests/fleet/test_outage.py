"""A venue-wide outage with 200 accounts in one daemon: every account resyncs, through the
shared REST weight budget, and the fake exchange — enforcing Binance's weight limit with 429s
and 418 bans — never has to refuse a request.

Time is compressed: the fake's and the budget's "minute" is 1 s and the limit 1,000 (cap 800
at the 80 % headroom), so the start-up (~10 weight per account) and the resync after the outage
each need several windows; websocket connection attempts are limited to N + 60 per 20 s by the
fake (429 beyond), the daemon's attempt budget is N + 50, so the reconnects are paced too.
"""

from __future__ import annotations

import os
from pathlib import Path

from monitor import examples
from monitor.binance.budget import AttemptBudget, BudgetBook
from monitor.config import load_config
from monitor.feed.live import LiveSettings
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import free_port
from tests.e2e.harness import API_KEY, API_SECRET, until

N = 200
#: Slow pollers: only the start-up and the outage's resyncs cost weight here.
SETTINGS = LiveSettings(asset_index_poll_s=600.0, reconcile_s=600.0, market_idle_s=30.0,
                        user_idle_s=600.0, keepalive_s=600.0, ping_interval_s=5.0,
                        ping_timeout_s=10.0, user_connect_wait_s=5.0)


def _config(tmp_path: Path, fake: FakeExchange) -> Path:
    accounts = "".join(
        f'[[accounts]]\nname = "acct-{i:03d}"\nenvironment = "custom"\nmode = "usdm"\n'
        f'rest = "{fake.rest_url}"\nws = "{fake.ws_url}"\napi_key = "{API_KEY}"\n'
        f'api_secret = "{API_SECRET}"\n\n'
        for i in range(N)
    )
    path = tmp_path / "fleet.toml"
    path.write_text(
        accounts + '[[notify]]\nurl = "json://127.0.0.1:9/"\n\n'
        f'[http]\nlisten = "127.0.0.1:{free_port()}"\n\n[state]\ndir = "{tmp_path / "state"}"\n',
        encoding="utf-8",
    )
    os.chmod(path, 0o600)
    return path


async def test_200_accounts_recover_from_an_outage_without_429_or_418(tmp_path: Path) -> None:
    fake = FakeExchange.from_file(examples.path("usdm"), speed=1.0, loop=True, api_key=API_KEY,
                                  api_secret=API_SECRET, weight_limit=1000,
                                  weight_window_s=1.0, ban_s=5.0,
                                  ws_attempt_limit=(N + 60, 20.0))
    await fake.start()
    book = BudgetBook({"futures": 1000}, window_s=1.0)
    # Connection attempts: N + 50 per 20 s here (the fake refuses beyond N + 60), so the
    # reconnects after the outage must wait for the start-up's attempts to leave the window.
    attempts = AttemptBudget(N + 50, 20.0)
    daemon = Daemon(load_config(_config(tmp_path, fake)),
                    DaemonOptions(live=SETTINGS, deliver=False, budgets=book,
                                  attempts=attempts))

    def live() -> int:
        return sum(1 for doc in daemon.status() if doc["state"] == "live")

    def resyncs() -> int:
        return sum(s.feed.counters.resyncs for s in daemon.slots.values()
                   if s.feed is not None)

    await daemon.start()
    try:
        await until(lambda: live() == N, f"all {N} accounts live", 120)
        budget = book.budget(fake.rest_url.removeprefix("http://"), "futures")
        waits_at_start = budget.waits
        assert waits_at_start > 0  # the start-up alone did not fit in one window
        before = resyncs()
        # The outage: every websocket of the venue drops at once.
        assert fake.drop_connections("all") >= N
        await until(lambda: resyncs() >= before + N, "every account resynced", 120)
        await until(lambda: live() == N, "all accounts live again", 120)
        state = fake.stats
        assert state["rate_limit"]["answers"] == {}, state["rate_limit"]  # no 429, no 418
        statuses = {s for counts in state["requests"].values() for s in counts}
        assert not statuses & {"429", "418"}, statuses
        assert budget.peak <= 1000
        assert budget.waits > waits_at_start  # the resyncs were queued and spread too
        assert state["ws_connections"]["rejected"].get("attempt_limit", 0) == 0
        assert attempts.attempts >= 2 * N and attempts.waited_s > 0  # reconnects were paced
    finally:
        await daemon.stop()
        await fake.stop()
