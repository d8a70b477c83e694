"""The local fake Binance exchange: REST + websockets on loopback, driven by a recording.

`FakeExchange` (server.py) is what tests and benchmarks start; `serve` / `run_simulate`
(run.py) back `marginwatch simulate`. Module map: `playback` (recording → timeline and clock),
`rest` (REST answers), `ledger` (+ `ledger_rows`, `ledger_balances`, `ledger_totals`: the REST
bodies kept current with what was played; the totals computed in Decimal from Binance's
formulas, not by the engine), `wire` (the one home of Binance payload builders, shared with the
example generator, soak, benchmarks and tests), `auth` (API key, HMAC, timestamp window),
`weights` (request weights), `listenkeys`, `wspaths` (websocket URLs), `routing` (stream
matching and frame shaping), `subscriptions` (SUBSCRIBE & co.), `conns` (one client), `faults`
+ `malformed` (fault injection), `control` (the `/__sim` HTTP API), `stats`, `errors`.
"""

from __future__ import annotations

from monitor.sim.faults import Faults
from monitor.sim.run import run_simulate, serve
from monitor.sim.server import FakeExchange

__all__ = ["FakeExchange", "Faults", "run_simulate", "serve"]
