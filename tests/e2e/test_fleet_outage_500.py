"""500 USDⓈ-M accounts in one daemon, their user streams sharing connections (several
listenKeys on one, `feed/user_hub.py`), through a venue-wide outage: no 429, no 418, no refused
connection attempt, budgets within their limits (`tests/fleet/test_outage.py`, which says how
time is compressed).

It failed twice in earlier runs (once in CI on a loaded machine: a 429, then 104 418s) and was
skipped. The failure has not been reproduced since (three passes here, two of them with a second
process keeping one of the two cores busy, one of those with the fix below taken out), so its
cause is not proven. The one mechanism found that fits it is closed: a request granted late in a
window and held back by a lagging event loop lands in the fake's next window, where the daemon
had already granted a full cap; `WeightBudget` now counts weight still in flight in the window
that follows too (`test_budget.py`). The client's weight table is also checked, path by path,
against the fake's (`test_rest_client.py`; it undercharged one COIN-M path, not used here). The
window is 4 s and the fake's limit Binance's 2,400, so the start-up and the resync each span
several windows: about two minutes in all.
"""

from __future__ import annotations

from pathlib import Path

from tests.fleet.test_outage import outage_recovers


async def test_500_accounts_recover_from_an_outage_without_429_or_418(tmp_path: Path) -> None:
    await outage_recovers(tmp_path, 500, keys_per_connection=None)
