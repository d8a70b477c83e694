"""The ingest stage of the account core: recording lines through the decoders into the engine.

`Replay` consumes recording lines in order. Consecutive `rest` lines form one group, applied
when the group ends: the first group (and any group that carries positions, balances or
contract structure) rebuilds the whole state from the latest response of every path — a resync,
applied atomically with `Resync`; a group that only refreshes prices, rates, brackets, collateral
or the PM account figures becomes targeted engine events, so stream updates since the last
snapshot are kept. `ws` lines go through the same market and user-event decoders the live feed
uses; a user update older (by `E`) than the one that last set its item is dropped and counted
(`ordering.py`). Bad input is counted in `counters` and skipped; it never stops the replay.
Pure (no IO, no clock): `AccountCore` (`account_core.py`) drives it and reads its results; a
recording's `calc` and the what-if model use it alone.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.binance.decode.marks import FrameKind, IndexPrice, MarkDecoder
from monitor.binance.decode.snapshot import build_state
from monitor.binance.decode.user_events import ServiceSignal, Translation, translate_frame
from monitor.binance.schemas.common import WireError
from monitor.binance.schemas.dispatch import REST_SCHEMAS
from monitor.engine import events as ev
from monitor.engine.book import Book
from monitor.engine.model import AccountState, EngineError, Mode
from monitor.feed.collateral_prices import CollateralPricer
from monitor.feed.ordering import EventOrder, rest_stamps
from monitor.feed.recording import Line, Meta, RestLine, WsLine, frame_data

ASSET_INDEX_PRICE = "/sapi/v1/portfolio/asset-index-price"
#: Staleness limit of a PM asset index price that only REST polls refresh (no streamed proxy).
REST_PRICE_LIMIT_MS = 60_000
#: Staleness limit of the bracket and collateral tables (refreshed by the 6-hourly resync).
STRUCTURE_LIMIT_MS = 13 * 3600_000

#: PM events that are the first half of one account change: Binance follows a repayment's
#: `liabilityChange` and a transfer's `balanceUpdate` with the `outboundAccountPosition` that
#: carries the new balances. Until it arrives (or the settle window ends) they are held back,
#: so nothing evaluates the account with the loan repaid but the balance not yet spent.
GROUP_OPENERS = frozenset({"liabilityChange", "balanceUpdate"})
#: The event that completes a group.
GROUP_CLOSER = "outboundAccountPosition"
#: Default settle window of a held group (ms of the line clock).
SETTLE_MS = 250

#: Paths whose refresh only moves prices, rates or account-level figures (targeted events).
REFRESH_ONLY = frozenset(
    {
        "/papi/v1/account",
        "/sapi/v1/portfolio/asset-index-price",
        "/fapi/v1/assetIndex",
        "/fapi/v1/premiumIndex",
        "/dapi/v1/premiumIndex",
        "/fapi/v1/leverageBracket",
        "/dapi/v2/leverageBracket",
        "/dapi/v1/leverageBracket",
        "/papi/v1/um/leverageBracket",
        "/papi/v1/cm/leverageBracket",
        "/sapi/v1/portfolio/collateralRate",
        "/sapi/v2/portfolio/collateralRate",
    }
)


@dataclass(slots=True)
class Replay:
    """Drives one account's book from recording lines; `book` exists after the first snapshot."""

    meta: Meta
    margin_leverage: int = 3
    book: Book | None = None
    rest: dict[str, Any] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    last_t: int = 0
    #: Symbols with an open position; a new object only when the set changes.
    held_symbols: frozenset[str] = frozenset()
    #: Freshness sources the figure depends on and their own limits (ms) where they are slower
    #: than a stream; a new `watch` object only when it changes.
    watch: tuple[frozenset[str], tuple[tuple[str, int], ...]] = (frozenset(), ())
    #: Portfolio Margin collateral priced on every tick from streamed proxies.
    pricer: CollateralPricer = field(default_factory=CollateralPricer)
    #: Freshness sources the last `feed` delivered data for: `mark:SYMBOL`, `user_stream`, `rest`.
    fresh: list[str] = field(default_factory=list)
    #: Service signals (exchange warnings, resnapshot requests, ...) of the last `feed`.
    last_signals: list[ServiceSignal] = field(default_factory=list)
    _pending: list[RestLine] = field(default_factory=list)
    _decoder: MarkDecoder = field(default_factory=MarkDecoder)
    #: Per-item event times of applied user updates; older updates are dropped.
    order: EventOrder = field(default_factory=EventOrder)
    _mark_keys: dict[str, str] = field(default_factory=dict)  # symbol → "mark:SYMBOL"
    #: How long an opened event group waits for its closing event (ms).
    settle_ms: int = SETTLE_MS
    #: The held events of an open group (translations in arrival order) and its deadline.
    _group: list[Translation] = field(default_factory=list)
    _group_until: int | None = None

    @property
    def mode(self) -> Mode | None:
        if self.book is not None:
            return self.book.mode
        return Mode(self.meta.mode) if self.meta.mode else None

    def feed(self, line: Line) -> None:
        """Apply one recording line."""
        self.fresh.clear()
        if self.last_signals:
            self.last_signals.clear()
        if line.t > self.last_t:
            self.last_t = line.t
        if self._group_until is not None and line.t >= self._group_until:
            self.release()
        if line.__class__ is not WsLine:
            if isinstance(line, RestLine):
                self._pending.append(line)
            return  # notes never split a group of REST lines
        assert isinstance(line, WsLine)
        if self._pending:
            self.flush()
        if self.book is None:
            self.counters["ws_before_snapshot"] += 1
            return
        if line.conn == "market":
            self._market(line)
        else:
            self._user(line)

    def run(self, lines: Iterable[Line]) -> Book:
        """Feed every line; return the final book. Raises WireError if no snapshot was usable."""
        for line in lines:
            self.feed(line)
        self.release()
        self.flush()
        if self.book is None:
            raise WireError("the recording has no usable REST snapshot (no account state)")
        return self.book

    # ------------------------------------------------------------------ REST
    def flush(self) -> None:
        """Apply the pending group of REST lines."""
        if not self._pending:
            return
        group, self._pending = self._pending, []
        # The group is applied whole or not at all: bodies go into a candidate copy that
        # replaces `rest` only once the state built from it was accepted.
        rest = dict(self.rest)
        paths = []
        marked: frozenset[str] | None = frozenset()  # symbols a premiumIndex answer priced
        try:
            for line in group:
                if line.status != 200:
                    self.counters["rest_error_status"] += 1
                    continue
                path = line.path.split("?", 1)[0]
                if path not in REST_SCHEMAS:
                    self.counters["rest_unknown_path"] += 1
                    self.warnings.append(f"ignored unknown REST path {line.path}")
                    continue
                rest[path] = _merged(rest.get(path), line)
                paths.append(path)
                if path in PREMIUM_PATHS:
                    marked = _answered(marked, line.data)
            if not paths:
                return
            state = build_state(rest, self.mode, margin_leverage=self.margin_leverage)
            resync = self.book is None or not set(paths) <= REFRESH_ONLY
            if resync:
                self._resync(state)
            else:
                self._refresh(state, set(paths), marked)
            self._price_collateral(rest, set(paths), max(line.t for line in group), resync)
        except (WireError, EngineError) as exc:
            self.counters["snapshot_errors"] += 1
            self.warnings.append(str(exc))
            if self.book is None:
                raise
            return
        self.rest = rest
        if resync:  # the snapshot is as new as its rows' last changes: older updates are not
            self.order.floor(rest_stamps(rest))
        self.fresh.append("rest")  # accepted data, not merely an answer
        if resync or any("leverageBracket" in p or "collateralRate" in p for p in paths):
            self.fresh.append("structure")

    def _resync(self, state: AccountState) -> None:
        if self.book is None:
            self.book = Book(state)
        else:
            self.book.apply(ev.Resync(state))
            self.counters["resyncs"] += 1
        self._track_holdings()

    def _track_holdings(self) -> None:
        """Point the market decoder at what the account holds now (recompiled only on change)."""
        book = self.book
        assert book is not None
        held = frozenset(p.symbol for p in book.state.positions.values() if p.qty)
        if held != self.held_symbols:
            self.held_symbols = held
            self._decoder.symbols = held
        if book.mode is Mode.USDM_MULTI_ASSETS and set(book.state.assets) != self._decoder.assets:
            self._decoder.assets = set(book.state.assets)
        if book.mode is Mode.PORTFOLIO_MARGIN:
            pricer = self.pricer
            pricer.track(self.priced_assets())
            if pricer.symbols != self._decoder.indexed:
                self._decoder.indexed = pricer.symbols
        self._update_watch()

    def priced_assets(self) -> frozenset[str]:
        """Portfolio Margin: the non-stablecoin assets whose USD index price values the account."""
        book = self.book
        if book is None or book.mode is not Mode.PORTFOLIO_MARGIN:
            return frozenset()
        state = book.state
        return frozenset(
            name
            for name, rec in state.assets.items()
            if name not in state.stablecoins and rec.holds(book.mode)
        )

    def _update_watch(self) -> None:
        """The freshness sources of the figure: held marks; in PM each priced asset's price
        (`index:ASSET`, REST-slow unless streamed) and a streaming proxy's marks; the tables."""
        sources = {f"mark:{symbol}" for symbol in self.held_symbols}
        limits: list[tuple[str, int]] = []
        if self.book is not None and self.book.mode is Mode.PORTFOLIO_MARGIN:
            for asset in self.priced_assets():
                sources.add(f"index:{asset}")
                limits.append((f"index:{asset}", REST_PRICE_LIMIT_MS))
                source = self.pricer.source(asset)
                if source is not None and source.kind == "stream" and source.symbol:
                    sources.add(f"mark:{source.symbol}")
        if self.book is not None:
            sources.add("structure")
            limits.append(("structure", STRUCTURE_LIMIT_MS))
        watch = (frozenset(sources), tuple(sorted(limits)))
        if watch != self.watch:
            self.watch = watch

    # Complexity: the price-source decision per asset (stream, basis age and deviation,
    # REST) reads as one table.
    def _price_collateral(  # noqa: C901
        self, rest: dict[str, Any], paths: set[str], t: int, resync: bool = False
    ) -> None:
        """PM: fit the streamed proxies' basis to a fresh asset-index answer and apply the
        freshest estimate of every priced asset (also after a resync that rebuilt the state
        from an older answer)."""
        book = self.book
        if book is None or book.mode is not Mode.PORTFOLIO_MARGIN:
            return
        pricer = self.pricer
        priced = self.priced_assets()
        if "/fapi/v1/premiumIndex" in paths:  # each proxy's index at the snapshot: fits at once
            for row in rest.get("/fapi/v1/premiumIndex") or ():
                symbol = row.get("symbol") if isinstance(row, dict) else None
                stamp = _row_time(row) if isinstance(row, dict) else None
                if isinstance(symbol, str) and pricer.asset_of(symbol) and stamp is not None:
                    try:
                        index = float(row.get("indexPrice"))
                    except (TypeError, ValueError):
                        continue
                    if index > 0.0:
                        pricer.on_index(symbol, index, stamp, t)
        if ASSET_INDEX_PRICE in paths:
            rows: dict[str, tuple[float, int | None]] = {}
            for row in rest.get(ASSET_INDEX_PRICE) or ():
                asset = row.get("asset") if isinstance(row, dict) else None
                if asset in priced and asset in book.state.assets:
                    rows[asset] = (book.state.assets[asset].index_price, _row_time(row))
            prices = pricer.on_rest(rows, t)
            for asset in rows:
                self.fresh.append(f"index:{asset}")
        else:
            prices = {}
            for asset in priced:
                source = pricer.source(asset)
                if source is not None and source.kind == "stream":
                    current = pricer.current(asset)
                    if current is not None:
                        prices[asset] = current
        changed = False
        for asset, price in prices.items():
            if book.state.assets[asset].index_price != price:
                book.apply(ev.AssetIndexPrice(asset, price))
                changed = True
        if resync and changed:
            book.resum()  # a resync leaves the sums exact, streamed prices included
        self._update_watch()

    def _refresh(
        self, fresh: AccountState, paths: set[str], marked: frozenset[str] | None = None
    ) -> None:
        book = self.book
        assert book is not None
        events = refresh_events(book.state, fresh, paths, marked)
        for event in events:
            book.admit(event)
        for event in events:
            book.apply(event)

    # ------------------------------------------------------------------ streams
    def _market(self, line: WsLine) -> None:
        """Decode the frame's text with the live decoders (a file's frame is re-serialized)."""
        book = self.book
        assert book is not None
        text = line.text if line.text is not None else json.dumps(line.data, separators=(",", ":"))
        try:
            kind, marks, rates, indexes = self._decoder.read(text)
        except WireError:
            self.counters["market_decode_errors"] += 1
            return
        if kind is FrameKind.MARK:
            keys = self._mark_keys
            for symbol, price in marks:
                book.on_mark(symbol, price)
                key = keys.get(symbol)
                if key is None:
                    key = keys[symbol] = f"mark:{symbol}"
                self.fresh.append(key)
            if indexes:
                self._on_indexes(indexes, line.t)
        elif kind is FrameKind.ASSET_INDEX:
            for item in rates:
                book.apply(item)
        else:
            self.counters[f"market_{kind.value}_frames"] += 1
            return
        self.counters["market_frames"] += 1

    def _on_indexes(self, indexes: Iterable[IndexPrice], t: int) -> None:
        """Streamed proxy index prices → PM collateral prices (proxy × fitted basis)."""
        book = self.book
        assert book is not None
        pricer = self.pricer
        for symbol, index, event_ms in indexes:
            was = pricer.source(pricer.asset_of(symbol) or "")
            priced = pricer.on_index(symbol, index, event_ms, t)
            if priced is None:
                continue
            asset, price = priced
            book.apply(ev.AssetIndexPrice(asset, price))
            self.fresh.append(f"index:{asset}")
            if was is None or was.kind != "stream":
                self._update_watch()

    def _user(self, line: WsLine) -> None:
        book = self.book
        assert book is not None
        try:
            obj = frame_data(line)
            translation = translate_frame(obj, book.mode)
        except (ValueError, RecursionError):  # WireError, or text that is not JSON
            self.counters["user_decode_errors"] += 1
            return
        self.counters["user_events"] += 1
        self.fresh.append("user_stream")
        name = _event_name(obj)
        if translation.events:
            if name in GROUP_OPENERS and book.mode is Mode.PORTFOLIO_MARGIN:
                self._group.append(translation)
                if self._group_until is None:
                    self._group_until = line.t + self.settle_ms
                self.counters["user_groups_held"] += 1 if len(self._group) == 1 else 0
            else:
                self.release()  # an earlier half goes first: updates stay in order
                self._apply(translation)
        elif name == GROUP_CLOSER:
            self.release()
        self._track_holdings()
        for signal in translation.signals:
            self.counters[f"signal_{type(signal).__name__}"] += 1
            self.last_signals.append(signal)

    @property
    def settling(self) -> bool:
        """An event group is held, waiting for its closing event or its deadline."""
        return self._group_until is not None

    def release_due(self, t: int) -> bool:
        """Apply a held group whose settle window has ended by `t`; True when one was."""
        if self._group_until is None or t < self._group_until:
            return False
        self.release()
        return True

    def release(self) -> None:
        """Apply the held event group now (its closing event arrived, or its window ended)."""
        group = self._group
        if not group:
            self._group_until = None
            return
        self._group, self._group_until = [], None
        for translation in group:
            self._apply(translation)
        self._track_holdings()

    def _apply(self, translation: Translation) -> None:
        """Apply one exchange message's engine events: whole or not at all, newest only."""
        book = self.book
        assert book is not None
        events, dropped = self.order.fresh(translation.events, translation.event_time)
        if dropped:
            self.counters["user_stale_updates"] += dropped
        try:  # one exchange message is applied whole or not at all
            for item in events:
                book.admit(item)
        except EngineError as exc:
            self.counters["engine_errors"] += 1
            self.warnings.append(str(exc))
        else:
            for item in events:
                book.apply(item)
            self.order.commit(events, translation.event_time, dropped)


def _event_name(obj: object) -> str | None:
    """The `e` of a user frame (raw or in a combined-stream wrapper)."""
    if isinstance(obj, dict) and "data" in obj and "stream" in obj:
        obj = obj["data"]
    name = obj.get("e") if isinstance(obj, dict) else None
    return name if isinstance(name, str) else None


PREMIUM_PATHS = frozenset({"/fapi/v1/premiumIndex", "/dapi/v1/premiumIndex"})


def _answered(marked: frozenset[str] | None, data: Any) -> frozenset[str] | None:
    """`marked` plus the symbols of one premiumIndex answer (None once an answer is a table)."""
    if marked is None or isinstance(data, list):
        return None
    symbol = data.get("symbol") if isinstance(data, dict) else None
    return marked | {symbol} if isinstance(symbol, str) else marked


def _row_time(row: dict[str, Any]) -> int | None:
    """A REST row's `time` stamp in ms (int or digit string), None when absent or odd."""
    stamp = row.get("time")
    if isinstance(stamp, bool):
        return None
    if isinstance(stamp, int):
        return stamp
    if isinstance(stamp, str) and stamp.isascii() and stamp.isdigit() and len(stamp) <= 19:
        return int(stamp)
    return None


def _merged(previous: Any, line: RestLine) -> Any:
    """The body to keep for `line`'s path: a single-row answer (an object, or `symbol=`/
    `pair=`/`asset=` sent) updates its rows of the last full table; a full table replaces it
    (`rest_merge.merge_rest_body`). `WireError` for single-row answers without row keys."""
    from monitor.binance.decode.rest_merge import merge_rest_body

    return merge_rest_body(line.path, previous, line.data, line.params)


def refresh_events(
    current: AccountState,
    fresh: AccountState,
    paths: set[str],
    marked: frozenset[str] | None = None,
) -> list[ev.EngineEvent]:
    """Targeted events that bring `current` up to the refreshed parts of `fresh`. `marked`: the
    symbols a premiumIndex answer of this group priced (None: a whole table); the other rows of
    a merged table are older than the streamed marks and are not re-applied."""
    out: list[ev.EngineEvent] = []
    if PREMIUM_PATHS & paths:
        out += [
            ev.MarkPrice(s, p)
            for s, p in fresh.marks.items()
            if current.marks.get(s) != p and (marked is None or s in marked)
        ]
    for name, rec in fresh.assets.items():
        old = current.assets.get(name)
        if "/fapi/v1/assetIndex" in paths and (
            old is None or (old.bid_rate, old.ask_rate) != (rec.bid_rate, rec.ask_rate)
        ):
            out.append(ev.AssetRates(name, rec.bid_rate, rec.ask_rate))
        if "/sapi/v1/portfolio/asset-index-price" in paths and (
            old is None or old.index_price != rec.index_price
        ):
            out.append(ev.AssetIndexPrice(name, rec.index_price))
        if any("collateralRate" in p for p in paths):
            out.append(ev.CollateralUpdate(name, rec.collateral))
    if any("leverageBracket" in p for p in paths):
        out += [ev.BracketUpdate(s, c.brackets) for s, c in fresh.contracts.items()]
    if "/papi/v1/account" in paths:
        out.append(ev.OpenLoss(fresh.open_loss_usd))
        out.append(ev.AccountStatus(fresh.status))
    return out
