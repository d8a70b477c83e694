"""Bundled example recordings, one per margin mode (docs/recording.md, plain JSON Lines).

Generated deterministically by `scripts/make_examples.py`; do not edit them by hand.

- `usdm`: USDⓈ-M single-asset — USDT and USDC cross pools, one-way and hedge legs, an isolated
  SOLUSDT leg, funding and an order fill; legs cross bracket boundaries. Mode inferred.
- `usdm_multi_assets`: seed 001 Multi-Assets example, scenario 3 (BTC 19,000 / ETH 620).
- `usdm_multi_assets_seed_s2`: the same account, scenario 2 (marks back at the entries).
- `coinm`: COIN-M — BTC and ETH cross pools and an isolated BTCUSD quarterly. Mode inferred.
- `portfolio_margin`: the flagship demo — a hedged Portfolio Margin book that slides toward
  liquidation (risk 0.46 → 0.96) and recovers, with PM user events and REST polls.

`path("usdm")` (or `path("usdm.jsonl")`) gives the file's location.
"""

from __future__ import annotations

from pathlib import Path

NAMES: tuple[str, ...] = (
    "usdm",
    "usdm_multi_assets",
    "usdm_multi_assets_seed_s2",
    "coinm",
    "portfolio_margin",
)

_HERE = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The path of the bundled example `name` (with or without `.jsonl`); KeyError if unknown."""
    stem = name.removesuffix(".jsonl")
    if stem not in NAMES:
        raise KeyError(f"no bundled example {name!r} (known: {', '.join(NAMES)})")
    return _HERE / f"{stem}.jsonl"
