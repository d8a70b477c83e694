"""End to end, per margin mode: the real daemon against the fake exchange over loopback.

Start-up snapshot, mark-driven risk to the very figures `calc` computes from the same
recording, the account's streams and pollers, and a recording of the live session that replays
to identical figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import examples
from monitor.calc import calc_file
from tests.e2e.harness import API_KEY, API_SECRET, close, running, until

MODES = {
    "usdm": "usdm",
    "usdm_multi_assets": "usdm_multi_assets",
    "coinm": "coinm",
    "portfolio_margin": "portfolio_margin",
}


@pytest.mark.parametrize("name", list(MODES))
async def test_live_figures_match_calc_and_the_recording_replays(
    tmp_path: Path, name: str
) -> None:
    expected = calc_file(examples.path(name))
    recorded = tmp_path / "session.jsonl.gz"
    async with running(tmp_path, name, speed=60, record=recorded) as s:
        await until(lambda: s.runtime.core.book is not None, "the start-up snapshot")
        start_risk = s.status()["risk"]
        assert s.status()["mode"] == MODES[name]  # detected from REST (mode = "auto")
        await until(s.fake.finished.is_set, "the end of the recording", timeout=60)
        await until(
            lambda: close(s.status()["risk"], expected["risk"]),
            f"risk {expected['risk']} (calc)",
        )
        live = s.status()
        assert live["state"] == "live"
        assert live["risk"] != start_risk  # the marks moved it
        for key in ("equity", "maint_margin", "uni_mmr", "margin_ratio"):
            assert close(live[key], expected[key]), key
        assert [p["symbol"] for p in live["positions"]] == [
            p["symbol"] for p in expected["positions"]
        ]
        streams = {st["name"]: st for st in live["streams"]}
        assert streams["user"]["connected"]
        assert all(st["connected"] for n, st in streams.items() if n.startswith("market"))
        assert live["events"].get("market_decode_errors", 0) == 0
        live_figures = {k: live[k] for k in ("risk", "equity", "maint_margin")}
    replayed = calc_file(recorded)
    for key, value in live_figures.items():
        assert close(replayed[key], value), key


async def test_accounts_on_one_venue_share_one_market_connection(tmp_path: Path) -> None:
    """Two accounts on one exchange: one market connection carries both accounts' marks and
    one user-data connection both listenKeys (USDⓈ-M allows several on one connection,
    feed/user_hub.py); both reach calc's figures. A drop of the shared market connection is
    a reconnect for both."""
    expected = calc_file(examples.path("usdm"))
    second = (
        '\n[[accounts]]\nname = "desk"\nenvironment = "custom"\nmode = "usdm"\n'
        'rest = "{rest}"\nws = "{ws}"\n'
        f'api_key = "{API_KEY}"\napi_secret = "{API_SECRET}"\nlevels = [0.5, 0.6, 0.7]\n'
    )

    async with running(tmp_path, "usdm", speed=30, extra=second) as s:
        desk = s.daemon.slots["desk"]
        await until(lambda: desk.runtime.core.book is not None, "desk's snapshot")
        await until(lambda: s.fake.state()["connections_open"].get("user") == 1,
                    "one user connection carrying both accounts' listenKeys")
        acct_user = dict(s.feed.streams())["user"]
        assert dict(desk.feed.streams())["user"] is acct_user
        assert s.fake.state()["connections_open"].get("market") == 1
        acct_market = dict(s.feed.streams())["market-um"]
        assert dict(desk.feed.streams())["market-um"] is acct_market
        await until(s.fake.finished.is_set, "the end of the recording", timeout=60)
        for name in ("acct", "desk"):
            await until(lambda name=name: close(
                next(x for x in s.daemon.status() if x["account"] == name)["risk"],
                expected["risk"]), f"calc's risk for {name}")
        s.fake.faults.drop("market")
        await until(lambda: all(
            next(x for x in a["streams"] if x["name"] == "market-um")["reconnects"] >= 1
            for a in s.daemon.status()), "a reconnect seen by both accounts")
        assert s.fake.state()["connections_open"].get("market") == 1
