"""Replay a recording through the real decoders and the real engine.

`Replay` consumes recording lines in order. Consecutive `rest` lines form one group, applied
when the group ends: the first group (and any group that carries positions, balances or
contract structure) rebuilds the whole state from the latest response of every path — a resync,
applied atomically with `Resync`; a group that only refreshes prices, rates, brackets, collateral
or the PM account figures becomes targeted engine events, so stream updates since the last
snapshot are kept. `ws` lines go through the same market and user-event decoders the live feed
uses; a user update older (by `E`) than the one that last set its item is dropped and counted
(`ordering.py`). Bad input is counted in `counters` and skipped; it never stops the replay.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.binance.marks import FrameKind, MarkDecoder
from monitor.binance.schemas import REST_SCHEMAS, WireError
from monitor.binance.snapshot import build_state
from monitor.binance.user_events import ServiceSignal, translate_frame
from monitor.engine import events as ev
from monitor.engine.book import Book
from monitor.engine.model import AccountState, EngineError, Mode
from monitor.feed.ordering import EventOrder, rest_stamps
from monitor.feed.recording import Line, Meta, RestLine, WsLine, frame_data

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
    #: Freshness sources the last `feed` delivered data for: `mark:SYMBOL`, `user_stream`, `rest`.
    fresh: list[str] = field(default_factory=list)
    #: Service signals (exchange warnings, resnapshot requests, ...) of the last `feed`.
    last_signals: list[ServiceSignal] = field(default_factory=list)
    _pending: list[RestLine] = field(default_factory=list)
    _decoder: MarkDecoder = field(default_factory=MarkDecoder)
    #: Per-item event times of applied user updates; older updates are dropped.
    order: EventOrder = field(default_factory=EventOrder)
    _mark_keys: dict[str, str] = field(default_factory=dict)  # symbol → "mark:SYMBOL"

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
            if not paths:
                return
            state = build_state(rest, self.mode, margin_leverage=self.margin_leverage)
            resync = self.book is None or not set(paths) <= REFRESH_ONLY
            if resync:
                self._resync(state)
            else:
                self._refresh(state, set(paths))
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

    def _refresh(self, fresh: AccountState, paths: set[str]) -> None:
        book = self.book
        assert book is not None
        events = refresh_events(book.state, fresh, paths)
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
            kind, marks, rates = self._decoder.read(text)
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
        elif kind is FrameKind.ASSET_INDEX:
            for item in rates:
                book.apply(item)
        else:
            self.counters[f"market_{kind.value}_frames"] += 1
            return
        self.counters["market_frames"] += 1

    def _user(self, line: WsLine) -> None:
        book = self.book
        assert book is not None
        try:
            translation = translate_frame(frame_data(line), book.mode)
        except (ValueError, RecursionError):  # WireError, or text that is not JSON
            self.counters["user_decode_errors"] += 1
            return
        self.counters["user_events"] += 1
        self.fresh.append("user_stream")
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
        self._track_holdings()
        for signal in translation.signals:
            self.counters[f"signal_{type(signal).__name__}"] += 1
            self.last_signals.append(signal)


def _merged(previous: Any, line: RestLine) -> Any:
    """The body to keep for `line`'s path: a per-asset answer (`asset=` sent) updates that
    asset's row of the last full list; every other answer replaces the body. `WireError` for a
    per-asset answer that is not one or more rows naming an asset."""
    asset = line.params.get("asset")
    if not asset or not isinstance(previous, list):
        return line.data
    rows = line.data if isinstance(line.data, list) else [line.data]
    if not rows or not all(isinstance(r, dict) and isinstance(r.get("asset"), str) for r in rows):
        raise WireError(f"{line.path} (asset={asset}): expected rows naming an asset")
    fresh = {row["asset"]: row for row in rows}
    kept = [row for row in previous if not (isinstance(row, dict) and row.get("asset") in fresh)]
    return [*kept, *fresh.values()]


def refresh_events(
    current: AccountState, fresh: AccountState, paths: set[str]
) -> list[ev.EngineEvent]:
    """Targeted events that bring `current` up to the refreshed parts of `fresh`."""
    out: list[ev.EngineEvent] = []
    if {"/fapi/v1/premiumIndex", "/dapi/v1/premiumIndex"} & paths:
        out += [ev.MarkPrice(s, p) for s, p in fresh.marks.items() if current.marks.get(s) != p]
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
