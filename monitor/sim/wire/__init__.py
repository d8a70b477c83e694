"""Binance wire payloads, built: the one home of every REST answer and stream frame we make up.

The bundled example recordings (`scripts/make_examples.py`), the soak harness (`soak/`), the
benchmarks (`benchmarks/`), the tests and the fake exchange build Binance's JSON shapes here, so a
shape is written once and matches docs/wire.md everywhere. Plain dicts (decimal strings where
Binance sends strings, numbers where it sends numbers), no pydantic, nothing from the engine.

- `decimals`: decimal strings as Binance writes them (`f8`, `fq`), JSON numbers (`num`).
- `brackets`: leverage-bracket tables with Binance's continuous `cum` (wire.md §4,
  margin-math.md §0.2), and the tables the generated accounts use.
- `usdm`: USDⓈ-M REST answers (exchangeInfo, leverageBracket, account v3, positionRisk v3,
  premiumIndex, assetIndex, multiAssetsMargin, positionSide/dual) — wire.md §4.
- `coinm`: COIN-M REST answers (exchangeInfo, account, positionRisk, premiumIndex) — wire.md §4.
- `portfolio`: Portfolio Margin answers (`/papi/v1/account`, `/papi/v1/balance`, UM/CM
  positionRisk, asset index prices, collateral rates) — wire.md §2, §4.
- `streams`: market frames (`markPriceUpdate`, `assetIndexUpdate`, the combined wrapper) and
  user events (`ACCOUNT_UPDATE`, `ORDER_TRADE_UPDATE`, `TRADE_LITE`, PM `outboundAccountPosition`,
  `balanceUpdate`, `liabilityChange`, `openOrderLoss`, `riskLevelChange`) — wire.md §1, §3.
"""
