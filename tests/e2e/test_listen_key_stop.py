"""Stopping never DELETEs a listenKey (issue 13 item 6).

Binance hands the same listenKey to every client of the account; a DELETE would close the
user stream of the trader's own bots too. The real daemon runs against the fake exchange over
loopback, connects its user stream, and is stopped: the fake must have seen no DELETE at all,
and the key must still be valid for the account's other clients.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import running, until


@pytest.mark.parametrize("name", ["usdm", "portfolio_margin"])
async def test_a_stop_sends_no_listen_key_delete(tmp_path: Path, name: str) -> None:
    async with running(tmp_path, name, speed=20) as s:
        fake = s.fake
        await until(lambda: s.runtime.core.book is not None, "the start-up snapshot")
        await until(
            lambda: {st["name"]: st for st in s.status()["streams"]}["user"]["connected"],
            "the user stream",
        )
        key = s.feed.listen_key
        assert key is not None and fake.keys.is_live(key)
    # Leaving the block stopped the daemon (then the fake exchange).
    deletes = {k: v for k, v in fake.counters.requests.items() if k.startswith("DELETE ")}
    assert deletes == {}
    assert sum(v for k, v in fake.keys.counts.items() if k.endswith("_created")) >= 1
    assert not [k for k in fake.keys.counts if k.endswith("_deleted")]
    assert fake.keys.is_live(key)  # still valid for the account's other clients
