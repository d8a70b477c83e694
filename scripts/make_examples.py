"""Generate the bundled example recordings in `monitor/examples/` (deterministic).

Run `.venv/bin/python scripts/make_examples.py` (`--out DIR` to write elsewhere). Every recording
follows docs/recording.md: a `meta` line, a start-up REST snapshot with every path
`rest_paths_for(mode)` needs (bodies in Binance's own shapes from `monitor.sim.wire`, decimal
strings where Binance sends strings, numbers where it sends numbers), then `ws` frames exactly as
the streams deliver them. One module per mode in `scripts/examples/`:

- `usdm.py` → `usdm.jsonl`: USDⓈ-M single-asset, USDT and USDC cross pools, hedge legs, an
  isolated leg, funding and an order fill; mode inferred from the REST lines.
- `multi_assets.py` → `usdm_multi_assets.jsonl` / `usdm_multi_assets_seed_s2.jsonl`: the
  Multi-Assets worked example of seed 001 (scenario 3 / scenario 2) reached by a price path.
- `coinm.py` → `coinm.jsonl`: COIN-M, BTC and ETH cross pools plus an isolated quarterly.
- `portfolio_margin.py` → `portfolio_margin.jsonl`: a hedged Portfolio Margin book that slides
  toward liquidation and recovers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `examples` beside this script

from examples.coinm import make_coinm
from examples.multi_assets import make_multi_assets
from examples.portfolio_margin import make_portfolio_margin
from examples.usdm import make_usdm

OUT = Path(__file__).resolve().parents[1] / "monitor" / "examples"


def main(argv: list[str] | None = None) -> None:
    """Write every example into `monitor/examples/` (or `--out DIR`)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output directory")
    out: Path = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    written = [
        make_usdm(out),
        make_multi_assets(out, "usdm_multi_assets.jsonl", 19000.0, 620.0, 120, 2002),
        make_multi_assets(out, "usdm_multi_assets_seed_s2.jsonl", 20000.0, 600.0, 60, 2012),
        make_coinm(out),
        make_portfolio_margin(out),
    ]
    for path in written:
        print(f"{path}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
