"""Build the engine's `AccountState` from a start-up (or resync) set of REST responses.

`build_state` takes the latest raw JSON body per REST path (as in a recording's `rest` lines),
infers the margin mode when it is not given, and assembles contracts (exchangeInfo + leverage
brackets), positions (positionRisk), marks, wallets, conversion rates, collateral rates, open loss
and status. It invents nothing: a held symbol without contract data or brackets is left out of
`contracts` so that `AccountState.validate()` names it, and a held non-stablecoin asset without a
conversion rate raises `SnapshotError`. `rest_paths_for` lists what a snapshot needs per mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from monitor.binance.decode.plausibility import (
    check_brackets,
    check_flat_collateral,
    check_tiered_collateral,
)
from monitor.binance.schemas.coinm import (
    BinanceCoinmAccount,
    BinanceCoinmBracket,
    BinanceCoinmExchangeInfo,
    BinanceCoinmLeverageBracket,
    BinanceCoinmPairLeverageBracket,
    BinanceCoinmPositionRisk,
)
from monitor.binance.schemas.common import (
    BinancePremiumIndex,
    M,
    WireError,
    checked_price,
    plausible_price,
)
from monitor.binance.schemas.dispatch import parse_rest_items
from monitor.binance.schemas.portfolio import (
    BinanceAssetIndexPrice,
    BinanceCollateralRate,
    BinancePmAccount,
    BinancePmBalance,
    BinancePmCmPositionRisk,
    BinancePmUmPositionRisk,
    BinanceTieredCollateralRate,
)
from monitor.binance.schemas.usdm import (
    BinanceAssetIndex,
    BinanceMultiAssetsMargin,
    BinanceUsdmAccountV2,
    BinanceUsdmAccountV3,
    BinanceUsdmExchangeInfo,
    BinanceUsdmLeverageBracket,
    BinanceUsdmPositionRiskV2,
    BinanceUsdmPositionRiskV3,
)
from monitor.engine.brackets import Bracket, BracketTable
from monitor.engine.collateral import CollateralTier, CollateralTiers
from monitor.engine.contracts import signed_qty
from monitor.engine.model import AccountState, Contract, ContractKind, Mode, Position


class SnapshotError(WireError):
    """The REST responses cannot make a complete state (a required path or rate is missing)."""


UM_EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
CM_EXCHANGE_INFO = "/dapi/v1/exchangeInfo"
UM_PREMIUM_INDEX = "/fapi/v1/premiumIndex"
CM_PREMIUM_INDEX = "/dapi/v1/premiumIndex"
MULTI_ASSETS = "/fapi/v1/multiAssetsMargin"
UM_ACCOUNTS = ("/fapi/v3/account", "/fapi/v2/account")
CM_ACCOUNT = "/dapi/v1/account"
CM_POSITION_RISK = "/dapi/v1/positionRisk"

_PATHS: dict[Mode, tuple[str, ...]] = {
    Mode.USDM: (
        MULTI_ASSETS,
        UM_EXCHANGE_INFO,
        "/fapi/v1/leverageBracket",
        "/fapi/v3/account",
        "/fapi/v3/positionRisk",
        UM_PREMIUM_INDEX,
    ),
    Mode.COINM: (
        CM_EXCHANGE_INFO,
        "/dapi/v2/leverageBracket",
        CM_ACCOUNT,
        CM_POSITION_RISK,
        CM_PREMIUM_INDEX,
    ),
    Mode.PORTFOLIO_MARGIN: (
        "/papi/v1/account",
        "/papi/v1/balance",
        "/papi/v1/um/positionRisk",
        "/papi/v1/cm/positionRisk",
        "/papi/v1/um/leverageBracket",
        "/papi/v1/cm/leverageBracket",
        UM_EXCHANGE_INFO,
        CM_EXCHANGE_INFO,
        UM_PREMIUM_INDEX,
        CM_PREMIUM_INDEX,
        "/sapi/v1/portfolio/asset-index-price",
        "/sapi/v1/portfolio/collateralRate",
    ),
}
_PATHS[Mode.USDM_MULTI_ASSETS] = (*_PATHS[Mode.USDM], "/fapi/v1/assetIndex")


def rest_paths_for(mode: Mode) -> list[str]:
    """The REST paths (GET) a start-up snapshot needs in `mode`, in a sensible fetch order."""
    return list(_PATHS[mode])


def infer_mode(rest: Mapping[str, object]) -> Mode:
    """The margin mode the responses describe (`/papi/` → PM, multi-assets flag, COIN-M, USDⓈ-M)."""
    if any(path.startswith("/papi/") for path in rest):
        return Mode.PORTFOLIO_MARGIN
    if multi_assets_flag(rest):
        return Mode.USDM_MULTI_ASSETS
    has_cm = CM_ACCOUNT in rest or CM_POSITION_RISK in rest
    if has_cm and not any(path in rest for path in UM_ACCOUNTS):
        return Mode.COINM
    return Mode.USDM


def multi_assets_flag(rest: Mapping[str, object]) -> bool:
    """Whether the responses say Multi-Assets mode is on.

    `/fapi/v1/multiAssetsMargin` is the authority when it was fetched; without it, the
    `multiAssetsMargin` flag of `/fapi/v2/account` or `/fapi/v3/account` (v3 first) decides.
    """
    if MULTI_ASSETS in rest:
        rows = parse_rest_items(MULTI_ASSETS, rest[MULTI_ASSETS], BinanceMultiAssetsMargin)
        return bool(rows) and rows[0].multiAssetsMargin
    for path in UM_ACCOUNTS:
        body = rest.get(path)
        flag = body.get("multiAssetsMargin") if isinstance(body, dict) else None
        if flag is not None:
            # Read on its own: a body that fails to decode is reported by the builder.
            return flag is True or flag == "true"
    return False


def isolated_wallet(wallet: float | None, margin: float, unrealized: float) -> float:
    """A leg's isolated wallet: `isolatedWallet` when sent, else `isolatedMargin − uPnL`
    (`isolatedMargin` is wallet + unrealized PnL; older and COIN-M rows send only it)."""
    return margin - unrealized if wallet is None else wallet


def build_state(
    rest: Mapping[str, object], mode: Mode | None = None, *, margin_leverage: int = 3
) -> AccountState:
    """The account state described by `rest` (REST path → raw JSON body of its latest response).

    Raises `WireError` (or its subclasses `SnapshotError`, `ExchangeError`) for bodies that do
    not decode or a snapshot that misses what the mode needs. Paths the mode does not use are
    ignored.
    """
    chosen = Mode(mode) if mode is not None else infer_mode(rest)
    builder = _Builder(rest, AccountState(chosen, margin_leverage=margin_leverage))
    builder.build()
    return builder.state


@dataclass(slots=True)
class _Builder:
    rest: Mapping[str, object]
    state: AccountState

    def items(self, path: str, model: type[M]) -> list[M]:
        """The decoded body of `path` as a list (empty when the path was not fetched)."""
        if path not in self.rest:
            return []
        items = parse_rest_items(path, self.rest[path], model)
        _check_plausible(path, items)
        return items

    def require(self, *paths: str) -> str:
        """The first of `paths` present in the snapshot; `SnapshotError` if none is."""
        for path in paths:
            if path in self.rest:
                return path
        raise SnapshotError(
            f"{self.state.mode.value} snapshot needs {' or '.join(paths)}; it was not fetched"
        )

    def build(self) -> None:
        mode = self.state.mode
        if mode is Mode.PORTFOLIO_MARGIN:
            self.build_portfolio()
        elif mode is Mode.COINM:
            self.build_coinm()
        else:
            self.build_usdm()

    # ------------------------------------------------------------------ per mode
    def build_usdm(self) -> None:
        self.add_um_contracts("/fapi/v1/leverageBracket", "UM")
        risk_path = self.require("/fapi/v3/positionRisk", "/fapi/v2/positionRisk")
        if risk_path == "/fapi/v3/positionRisk":
            self.add_um_positions_v3(self.items(risk_path, BinanceUsdmPositionRiskV3))
        else:
            self.add_um_positions_v2(self.items(risk_path, BinanceUsdmPositionRiskV2))
        self.add_premium_marks(UM_PREMIUM_INDEX)
        account_path = self.require(*UM_ACCOUNTS)
        model = BinanceUsdmAccountV3 if account_path == UM_ACCOUNTS[0] else BinanceUsdmAccountV2
        for account in self.items(account_path, model):
            for asset in account.assets:
                self.state.asset(asset.asset).cross_wallet = asset.crossWalletBalance
        if self.state.mode is Mode.USDM_MULTI_ASSETS:
            self.add_asset_rates()

    def build_coinm(self) -> None:
        self.add_cm_contracts(self.cm_brackets_dapi(), "CM")
        self.require(CM_POSITION_RISK)
        for row in self.items(CM_POSITION_RISK, BinanceCoinmPositionRisk):
            self.add_mark(row.symbol, row.markPrice)
            wallet = isolated_wallet(row.isolatedWallet, row.isolatedMargin, row.unRealizedProfit)
            self.add_position(
                row.symbol,
                row.positionSide,
                row.positionAmt,
                row.entryPrice,
                row.marginType.lower() == "isolated",
                wallet,
            )
        self.add_premium_marks(CM_PREMIUM_INDEX)
        self.require(CM_ACCOUNT)
        for account in self.items(CM_ACCOUNT, BinanceCoinmAccount):
            for asset in account.assets:
                self.state.asset(asset.asset).cross_wallet = asset.crossWalletBalance

    def build_portfolio(self) -> None:
        self.add_um_contracts("/papi/v1/um/leverageBracket", "UM")
        cm_brackets = {
            b.symbol: b.brackets
            for b in self.items("/papi/v1/cm/leverageBracket", BinanceCoinmLeverageBracket)
        }
        self.add_cm_contracts(cm_brackets, "CM")
        self.require("/papi/v1/um/positionRisk")
        for um in self.items("/papi/v1/um/positionRisk", BinancePmUmPositionRisk):
            self.add_mark(um.symbol, um.markPrice)
            self.add_position(um.symbol, um.positionSide, um.positionAmt, um.entryPrice)
        self.require("/papi/v1/cm/positionRisk")
        for cm in self.items("/papi/v1/cm/positionRisk", BinancePmCmPositionRisk):
            self.add_mark(cm.symbol, cm.markPrice)
            self.add_position(cm.symbol, cm.positionSide, cm.positionAmt, cm.entryPrice)
        self.add_premium_marks(UM_PREMIUM_INDEX)
        self.add_premium_marks(CM_PREMIUM_INDEX)
        self.add_pm_balances()
        self.add_pm_account()
        self.add_index_prices()
        self.add_collateral_rates()

    # ------------------------------------------------------------------ contracts
    def add_um_contracts(self, bracket_path: str, product: str) -> None:
        brackets = {
            b.symbol: BracketTable(
                [
                    Bracket(t.notionalFloor, t.notionalCap, t.maintMarginRatio, t.cum)
                    for t in b.brackets
                ]
            )
            for b in self.items(bracket_path, BinanceUsdmLeverageBracket)
        }
        for info in self.items(UM_EXCHANGE_INFO, BinanceUsdmExchangeInfo):
            for sym in info.symbols:
                table = brackets.get(sym.symbol)
                if table is not None and table.floors:
                    self.state.contracts[sym.symbol] = Contract(
                        sym.symbol,
                        ContractKind.LINEAR,
                        sym.marginAsset,
                        sym.baseAsset,
                        table,
                        1.0,
                        product,
                    )

    def cm_brackets_dapi(self) -> dict[str, list[BinanceCoinmBracket]]:
        """COIN-M brackets by symbol: `/dapi/v2` per symbol, else `/dapi/v1` per pair."""
        per_symbol = self.items("/dapi/v2/leverageBracket", BinanceCoinmLeverageBracket)
        if per_symbol:
            return {b.symbol: b.brackets for b in per_symbol}
        per_pair = {
            b.pair: b.brackets
            for b in self.items("/dapi/v1/leverageBracket", BinanceCoinmPairLeverageBracket)
        }
        return {
            sym.symbol: per_pair[sym.pair]
            for info in self.items(CM_EXCHANGE_INFO, BinanceCoinmExchangeInfo)
            for sym in info.symbols
            if sym.pair in per_pair
        }

    def add_cm_contracts(
        self, brackets: Mapping[str, list[BinanceCoinmBracket]], product: str
    ) -> None:
        for info in self.items(CM_EXCHANGE_INFO, BinanceCoinmExchangeInfo):
            for sym in info.symbols:
                tiers = brackets.get(sym.symbol)
                if not tiers:
                    continue
                table = BracketTable(
                    [Bracket(t.qtyFloor, t.qtyCap, t.maintMarginRatio, t.cum) for t in tiers]
                )
                self.state.contracts[sym.symbol] = Contract(
                    sym.symbol,
                    ContractKind.INVERSE,
                    sym.marginAsset,
                    sym.baseAsset,
                    table,
                    sym.contractSize,
                    product,
                )

    # ------------------------------------------------------------------ positions and marks
    def add_position(
        self,
        symbol: str,
        side: str,
        amount: float,
        entry: float,
        isolated: bool = False,
        isolated_wallet: float = 0.0,
    ) -> None:
        """Add one non-zero leg; LONG/SHORT legs get their sign from the side."""
        if amount == 0.0:
            return
        qty = signed_qty(side, amount)
        wallet = isolated_wallet if isolated else 0.0
        self.state.positions[(symbol, side)] = Position(symbol, side, qty, entry, isolated, wallet)

    def add_um_positions_v3(self, rows: Iterable[BinanceUsdmPositionRiskV3]) -> None:
        """v3 has no `marginType`: a leg with an isolated wallet or isolated margin is isolated."""
        for row in rows:
            self.add_mark(row.symbol, row.markPrice)
            wallet = isolated_wallet(row.isolatedWallet, row.isolatedMargin, row.unRealizedProfit)
            isolated = wallet > 0.0 or row.isolatedMargin != 0.0
            self.add_position(
                row.symbol,
                row.positionSide,
                row.positionAmt,
                row.entryPrice,
                isolated,
                wallet,
            )

    def add_um_positions_v2(self, rows: Iterable[BinanceUsdmPositionRiskV2]) -> None:
        for row in rows:
            self.add_mark(row.symbol, row.markPrice)
            self.add_position(
                row.symbol,
                row.positionSide,
                row.positionAmt,
                row.entryPrice,
                row.marginType.lower() == "isolated",
                isolated_wallet(row.isolatedWallet, row.isolatedMargin, row.unRealizedProfit),
            )

    def add_mark(self, symbol: str, mark: float) -> None:
        """Binance sends 0 for "no mark" (a symbol without trading); other values must be
        plausible prices."""
        if mark != 0.0:
            self.state.marks[symbol] = checked_price(mark, f"mark price of {symbol}")

    def add_premium_marks(self, path: str) -> None:
        """Marks from premiumIndex; they replace positionRisk's (same instant, dedicated source)."""
        for row in self.items(path, BinancePremiumIndex):
            self.add_mark(row.symbol, row.markPrice)

    # ------------------------------------------------------------------ balances and rates
    def held_assets(self) -> set[str]:
        """Assets whose value matters: non-zero balances and the settle assets of held legs."""
        held = {
            name
            for name, rec in self.state.assets.items()
            if rec.cross_wallet != 0.0 or rec.pm_base != 0.0 or rec.loan != 0.0
        }
        for pos in self.state.positions.values():
            contract = self.state.contracts.get(pos.symbol)
            if contract is not None:
                held.add(contract.settle_asset)
        return held

    def missing_rates(self, found: set[str], what: str, path: str) -> None:
        """`SnapshotError` when a held non-stablecoin asset has no entry in `path`."""
        missing = sorted(self.held_assets() - found - self.state.stablecoins)
        if missing:
            raise SnapshotError(f"{path} has no {what} for held asset(s) {', '.join(missing)}")

    def add_asset_rates(self) -> None:
        """Multi-Assets bid/ask rates; `XUSD` is asset X. USD-pegged assets default to 1/1."""
        path = "/fapi/v1/assetIndex"
        found: set[str] = set()
        for row in self.items(path, BinanceAssetIndex):
            # A row without usable rates counts as absent: fatal only for a held asset.
            usable = plausible_price(row.bidRate) and plausible_price(row.askRate)
            if row.symbol.endswith("USD") and usable:
                name = row.symbol[:-3]
                rec = self.state.asset(name)
                rec.bid_rate, rec.ask_rate = row.bidRate, row.askRate
                found.add(name)
        self.missing_rates(found, "bid/ask rate", path)

    def add_pm_balances(self) -> None:
        self.require("/papi/v1/balance")
        for row in self.items("/papi/v1/balance", BinancePmBalance):
            rec = self.state.asset(row.asset)
            rec.margin_free, rec.margin_locked = row.crossMarginFree, row.crossMarginLocked
            rec.borrowed, rec.interest = row.crossMarginBorrowed, row.crossMarginInterest
            rec.um_wallet, rec.cm_wallet = row.umWalletBalance, row.cmWalletBalance

    def add_pm_account(self) -> None:
        for account in self.items("/papi/v1/account", BinancePmAccount):
            self.state.open_loss_usd = account.totalMarginOpenLoss
            self.state.status = status_text(account.accountStatus)

    def add_index_prices(self) -> None:
        path = "/sapi/v1/portfolio/asset-index-price"
        found: set[str] = set()
        for row in self.items(path, BinanceAssetIndexPrice):
            if plausible_price(row.assetIndexPrice):
                self.state.asset(row.asset).index_price = row.assetIndexPrice
                found.add(row.asset)
        self.missing_rates(found, "index price", path)

    def add_collateral_rates(self) -> None:
        """Tiered rates (`/sapi/v2`) when fetched, else flat (`/sapi/v1`)."""
        tiered = "/sapi/v2/portfolio/collateralRate"
        found: set[str] = set()
        if tiered in self.rest:
            for row in self.items(tiered, BinanceTieredCollateralRate):
                tiers = [
                    CollateralTier(t.tierFloor, t.tierCap, t.collateralRate)
                    for t in row.collateralInfo
                ]
                self.state.asset(row.asset).collateral = _tiers(tiers, row.asset, tiered)
                found.add(row.asset)
            self.missing_rates(found, "collateral rate", tiered)
            return
        flat = "/sapi/v1/portfolio/collateralRate"
        for one in self.items(flat, BinanceCollateralRate):
            self.state.asset(one.asset).collateral = CollateralTiers.flat(one.collateralRate)
            found.add(one.asset)
        self.missing_rates(found, "collateral rate", flat)


def _check_plausible(path: str, items: Sequence[object]) -> None:
    """Reject brackets and collateral rates no Binance table can have (`plausibility.py`)."""
    for item in items:
        if isinstance(item, BinanceUsdmLeverageBracket | BinanceCoinmLeverageBracket):
            check_brackets(path, item.symbol, item.brackets)
        elif isinstance(item, BinanceCoinmPairLeverageBracket):
            check_brackets(path, item.pair, item.brackets)
    if items and isinstance(items[0], BinanceCollateralRate):
        check_flat_collateral(path, [i for i in items if isinstance(i, BinanceCollateralRate)])
    elif items and isinstance(items[0], BinanceTieredCollateralRate):
        check_tiered_collateral(
            path, [i for i in items if isinstance(i, BinanceTieredCollateralRate)]
        )


def _tiers(tiers: list[CollateralTier], asset: str, path: str) -> CollateralTiers:
    try:
        return CollateralTiers(tiers)
    except ValueError as exc:
        raise WireError(f"{path}: asset {asset}: {exc}") from exc


def status_text(account_status: str) -> str:
    """The engine's status: "ok" for Binance's NORMAL, else Binance's status as given."""
    return "ok" if account_status == "NORMAL" else account_status
