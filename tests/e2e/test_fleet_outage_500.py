"""500 USDⓈ-M accounts in one daemon, their user streams sharing connections (several
listenKeys on one, `feed/user_hub.py`), through a venue-wide outage: no 429, no 418, no refused
connection attempt, budgets within their limits (`tests/fleet/test_outage.py`; minutes on two
cores, so here in the e2e lane)."""

from __future__ import annotations

from pathlib import Path

from tests.fleet.test_outage import outage_recovers


async def test_500_accounts_recover_from_an_outage_without_429_or_418(tmp_path: Path) -> None:
    await outage_recovers(tmp_path, 500, keys_per_connection=None)
