"""Portfolio Margin collateral priced on every tick: a streamed proxy scaled by a fitted basis.

Binance values PM collateral at `/sapi/v1/portfolio/asset-index-price`, a REST-only figure
(no stream). Polled every few seconds, it lags the perpetuals that move on every mark tick, and
on a hedged book (long BTC collateral, short BTC perpetuals) the lag alone saws the risk by
several points. Each USDⓈ-M perpetual's `markPriceUpdate` carries that underlying's index
price `i` every second, so an asset `X` gets a streamed proxy: the index of `XUSDT`.

The proxy is quoted in USDT and built from a slightly different basket than the asset index
price (USD), so it is scaled by a basis fitted at every REST answer:
``basis = assetIndexPrice / proxy index at the row's time`` (the last proxy index received at or
before the row's `time`; Binance stamps each row). Between polls the asset is priced
``proxy index × basis``. The residual error is the basis' own change between two polls (the
USDT/USD rate and basket differences: typically under 0.01 % over 10 s, see
`docs/collateral-pricing.md`), against a sawtooth of the full move in between before.

Clocks: a basis is fitted on the exchange's clock (the proxy frames' `E` against the REST row's
`time`), so network latency and a skewed local clock do not bias it; `PriceSource.price_t_ms` is
the local receive time, for ages.

Rules (pure: times are the caller's, in ms):
- a basis outside `[1 - MAX_BASIS_GAP, 1 + MAX_BASIS_GAP]` is not a proxy of the same asset; the
  asset stays on REST prices;
- a basis older than `max_basis_age_ms` stops the streamed pricing (REST prices only) until the
  next poll fits a new one;
- `source(asset)` says where the current price came from and when, for `/status`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: A fitted basis further than this from 1 means the proxy does not track the asset.
MAX_BASIS_GAP = 0.05
#: Proxy index prices kept per symbol to fit a basis at a REST row's time (1 s streams).
HISTORY = 120


def proxy_symbol(asset: str) -> str:
    """The USDⓈ-M perpetual whose index price tracks `asset` (BTC → BTCUSDT)."""
    return f"{asset}USDT"


@dataclass(frozen=True, slots=True)
class PriceSource:
    """Where one collateral asset's current price came from."""

    kind: str  # "stream" (proxy × basis) or "rest" (the polled asset index price)
    symbol: str | None  # the proxy symbol when streamed
    price_t_ms: int  # when the price was last set (local receive time)
    basis: float | None  # the fitted basis, when one is in force
    basis_t_ms: int | None  # when the basis was fitted (local receive time of the REST answer)


class _Proxy:
    __slots__ = ("asset", "basis", "basis_recv", "basis_t", "symbol", "times", "values")

    def __init__(self, asset: str, symbol: str) -> None:
        self.asset, self.symbol = asset, symbol
        self.times: deque[int] = deque(maxlen=HISTORY)
        self.values: deque[float] = deque(maxlen=HISTORY)
        self.basis: float | None = None
        self.basis_t = 0  # exchange time the basis was fitted at
        self.basis_recv = 0  # local time the fitting REST answer arrived

    def index_at(self, t_ms: int) -> float | None:
        """The last index received at or before `t_ms` (the oldest kept one if all are later)."""
        if not self.times:
            return None
        k = bisect_right(self.times, t_ms) - 1
        return self.values[k if k >= 0 else 0]


class CollateralPricer:
    """Streamed prices of a PM account's collateral assets (one per account; pure)."""

    def __init__(self, max_basis_age_ms: int = 600_000) -> None:
        self.max_basis_age_ms = max_basis_age_ms
        self._by_symbol: dict[str, _Proxy] = {}
        self._by_asset: dict[str, _Proxy] = {}
        self._sources: dict[str, PriceSource] = {}

    # ------------------------------------------------------------------ what is watched
    def track(self, assets: Iterable[str]) -> None:
        """Price these assets (the account's non-stablecoin PM balances); others are dropped."""
        wanted = set(assets)
        for asset in list(self._by_asset):
            if asset not in wanted:
                proxy = self._by_asset.pop(asset)
                self._by_symbol.pop(proxy.symbol, None)
                self._sources.pop(asset, None)
        for asset in wanted - self._by_asset.keys():
            proxy = _Proxy(asset, proxy_symbol(asset))
            self._by_asset[asset] = proxy
            self._by_symbol[proxy.symbol] = proxy

    @property
    def symbols(self) -> frozenset[str]:
        """The proxy symbols whose index prices are wanted."""
        return frozenset(self._by_symbol)

    def asset_of(self, symbol: str) -> str | None:
        proxy = self._by_symbol.get(symbol)
        return None if proxy is None else proxy.asset

    # ------------------------------------------------------------------ inputs
    def on_index(
        self, symbol: str, index: float, event_ms: int, recv_ms: int
    ) -> tuple[str, float] | None:
        """A proxy's streamed index price (frame time `event_ms`, received at `recv_ms`);
        returns (asset, price) to apply, or None while the asset has no basis in force."""
        proxy = self._by_symbol.get(symbol)
        if proxy is None:
            return None
        if proxy.times and event_ms < proxy.times[-1]:
            return None  # a late frame never rolls the price back
        proxy.times.append(event_ms)
        proxy.values.append(index)
        basis = proxy.basis
        if basis is None or event_ms - proxy.basis_t > self.max_basis_age_ms:
            return None
        price = index * basis
        self._sources[proxy.asset] = PriceSource(
            "stream", symbol, recv_ms, basis, proxy.basis_recv
        )
        return proxy.asset, price

    def on_rest(
        self, prices: Mapping[str, tuple[float, int | None]], recv_ms: int
    ) -> dict[str, float]:
        """A REST answer of asset index prices (asset → (price, row `time` or None)), received
        at `recv_ms`. Fits each tracked asset's basis and returns the price to apply per asset:
        the freshest estimate (the latest proxy index × the new basis) where a proxy streams,
        else the REST price."""
        out: dict[str, float] = {}
        for asset, (price, row_t) in prices.items():
            proxy = self._by_asset.get(asset)
            if proxy is None:
                out[asset] = price
                continue
            if not proxy.values:
                reference = None
            elif row_t is None:
                reference = proxy.values[-1]  # no stamp: the latest index is the best match
            else:
                reference = proxy.index_at(row_t)
            basis = price / reference if reference else None
            if basis is not None and abs(basis - 1.0) <= MAX_BASIS_GAP:
                proxy.basis = basis
                proxy.basis_t = row_t if row_t is not None else proxy.times[-1]
                proxy.basis_recv = recv_ms
                out[asset] = proxy.values[-1] * basis
                self._sources[asset] = PriceSource("stream", proxy.symbol, recv_ms, basis, recv_ms)
            else:
                proxy.basis = None
                out[asset] = price
                self._sources[asset] = PriceSource("rest", None, recv_ms, None, None)
        return out

    # ------------------------------------------------------------------ reading
    def current(self, asset: str) -> float | None:
        """The streamed estimate of `asset` now (latest proxy index × basis), if in force."""
        proxy = self._by_asset.get(asset)
        if proxy is None or proxy.basis is None or not proxy.values:
            return None
        if proxy.times[-1] - proxy.basis_t > self.max_basis_age_ms:
            return None
        return proxy.values[-1] * proxy.basis

    def source(self, asset: str) -> PriceSource | None:
        """Where `asset`'s current price came from (None: never priced by this pricer)."""
        return self._sources.get(asset)

    def sources(self) -> dict[str, PriceSource]:
        return dict(self._sources)
