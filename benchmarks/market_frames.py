"""All-market `!markPrice@arr@1s` frames whose held symbols' prices move every frame.

`FrameSource` generates one frame with `benchmarks.decode.all_market_frame` (~900 symbols in
Binance's layout), then rewrites only the held symbols' `"p"` values per frame (a ±0.05 %/s
random walk kept within ±10 % of the start), so every frame is new text at the cost of a join.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

from benchmarks.decode import HELD, all_market_frame
from benchmarks.usdm_snapshot import Holding
from monitor.feed.recording import WsLine

#: The cross wallet of the account that holds the 10 symbols (risk ≈ 1.6 %).
WALLET = 50_000.0


class FrameSource:
    """All-market frames of `symbols` (~900) whose `held` (10) prices change every frame."""

    def __init__(self, seed: int = 5) -> None:
        self.rng = random.Random(seed)
        self.held = [f"H{i:03d}USDT" for i in range(HELD)]
        base = all_market_frame(self.rng, self.held)
        items = json.loads(base)
        self.symbols: list[str] = [item["s"] for item in items]
        self.marks: dict[str, float] = {item["s"]: float(item["p"]) for item in items}
        # Cut the frame around every held symbol's "p" value.
        self._pieces: list[str] = []
        cursor = 0
        spots = []
        for symbol in self.held:
            key = f'"s":"{symbol}","p":"'
            start = base.index(key) + len(key)
            spots.append((start, base.index('"', start), symbol))
        spots.sort()
        self._order = [symbol for _, _, symbol in spots]
        for start, end, _ in spots:
            self._pieces.append(base[cursor:start])
            cursor = end
        self._pieces.append(base[cursor:])
        self._prices = dict(self.marks)

    def holdings(self) -> dict[str, Holding]:
        """20,000 USDT of notional on every held symbol, alternately short and long."""
        return {
            s: Holding((1 if i % 2 else -1) * 20_000.0 / self.marks[s], self.marks[s] * 0.99)
            for i, s in enumerate(self.held)
        }

    def frames(self, n: int, t0: int) -> Iterator[WsLine]:
        """N frames as live lines (raw text), one second apart from `t0`."""
        rng, prices, pieces, order = self.rng, self._prices, self._pieces, self._order
        for k in range(n):
            parts = [pieces[0]]
            for i, symbol in enumerate(order):
                base = self.marks[symbol]
                price = min(max(prices[symbol] * (1.0 + rng.gauss(0.0, 5e-4)), base * 0.9),
                            base * 1.1)
                prices[symbol] = price
                parts.append(f"{price:.8f}")
                parts.append(pieces[i + 1])
            yield WsLine(t0 + 1000 * k, "market", None, "".join(parts))
