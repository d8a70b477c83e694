"""Typed schemas of every Binance REST response and stream message the monitor reads.

One frozen pydantic model per Binance message, named after it (`BinanceFuturesAccountUpdateMsg`,
`BinanceUsdmPositionRiskV3`, ...), one module per product or domain; importers name the module:

- `common`: the errors (`WireError`, ...), the field types (`WireFloat`, `WireInt`, `WireBool`),
  the price bounds, `WireModel` and the row bases the products share (position rows, bracket
  tiers, stream events), and the models USDⓈ-M and COIN-M share (`BinanceFuturesAsset`, ...).
- `usdm`: USDⓈ-M Futures REST (`/fapi`), wire.md §4.
- `coinm`: COIN-M Futures REST (`/dapi`), wire.md §4.
- `portfolio`: Portfolio Margin REST (`/papi`, `/sapi/.../portfolio`), wire.md §2 and §4.
- `market_stream`: market-stream messages (mark and index prices), wire.md §1.
- `user_stream`: user-stream events of every product, wire.md §3.3-§3.5.
- `dispatch`: `parse_rest` (a REST body by its path) and `parse_user_event` (an event by `e`).

Field names are Binance's own, so a model reads like the wire spec (docs/wire.md). Unknown
fields are ignored (Binance adds `st`, `ps`, `er`, ... over time).
"""
