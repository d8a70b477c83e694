"""The fake exchange's ledger: the current body of every REST path, kept up with playback.

A recording holds a start-up snapshot and then websocket frames; a real exchange's REST answers
follow what those frames report. `Ledger` is fed in playback order (`feed`): every recorded GET
answer when it becomes current (it replaces that path's body: a later recorded snapshot wins),
every market and user frame as it is pushed, scripted pushes alike. The REST handler answers
from it (`answer`). What moves (field names as in wire.md §3–§4):

- `markPriceUpdate` (raw, combined or array): premiumIndex rows (`markPrice`, `indexPrice`, ...;
  a symbol the body lacks gets a row) and every position row of the symbol (`markPrice`,
  uPnL, notional, isolated margin; rules in `ledger_rows.py`). O(rows of that symbol): rows are
  indexed by symbol.
- `assetIndexUpdate`: `/fapi/v1/assetIndex` rows.
- Portfolio Margin asset index prices (`/sapi/v1/portfolio/asset-index-price`) are continuous at
  the exchange, but a recording samples them (every poll). Between samples, asset `X`'s price
  follows the index `i` of `XUSDT`'s mark frames from the last sample:
  `price = sampled price × i / i at the sample` (the bundled examples generate both from one
  price path, so this is their exact continuous price). Assets without such frames keep their
  sampled price.
- `ACCOUNT_UPDATE`: `B[]` → wallets, `P[]` → position legs (keyed by symbol and positionSide;
  a new leg gets a new row, a flat one leaves the v3 lists) in every body of the product:
  `fs` picks UM/CM in Portfolio Margin, else the mode does (COIN-M or USDⓈ-M).
- PM margin events (`outboundAccountPosition`, `balanceUpdate`, `liabilityChange`) →
  `/papi/v1/balance` (`ledger_balances.py`); `riskLevelChange` → `/papi/v1/account`
  `accountStatus`; `openOrderLoss` → `totalMarginOpenLoss` = Σ|o| in USD (stablecoins at 1, other
  assets at their PM index price; left alone when one has none).
- `ACCOUNT_CONFIG_UPDATE` `ac` → `leverage` of the symbol's rows.
- Account totals (`uniMMR`, maintenance margin, margin balance, ...) are recomputed in Decimal
  from Binance's published formulas, independently of the monitor's engine (`ledger_totals.py`),
  lazily: when an account path is answered after a change. If the bodies do not make the
  figures, the totals stay as they were (counted as `totals_unavailable`).

`override` (the fake's `set_rest`) answers a path verbatim, whatever the ledger holds, until the
next recorded answer of that path. Bad input is counted in `counters` and skipped, never raised.
Recorded bodies are copied before they are changed: the recording itself is never modified.
`RestSchedule` (`rest_schedule.py`) hands out the recorded answers in time order (the first
answer of each path is current from the start, as before playback). What user events do to the
bodies is `ledger_user.py` (`LedgerUserEvents`, which `Ledger` inherits); this module holds the
bodies, the symbol index, the market side (marks, index prices) and the totals' refresh.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from monitor.binance.decode.snapshot import infer_mode
from monitor.feed.recording import MODES, Line, Meta, RestLine, WsLine, frame_data
from monitor.sim import ledger_balances as bal
from monitor.sim.ledger_rows import (
    ASSET_INDEX_PATH,
    POSITION_SPECS,
    PREMIUM_PATHS,
    SPEC_BY_PATH,
    Leg,
    Mark,
    PositionSpec,
    apply_asset_index,
    apply_premium,
    dec,
    fmt_dec,
    leg_from_row,
    new_asset_index_row,
    new_premium_row,
    positive,
    reprice,
    side_of,
)
from monitor.sim.ledger_totals import (
    TOTALS_PATHS,
    USDM,
    patch_totals,
)
from monitor.sim.ledger_user import BadEvent, LedgerUserEvents
from monitor.sim.routing import is_cm, unwrap

log = logging.getLogger("monitor.sim")

UM_EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
CM_EXCHANGE_INFO = "/dapi/v1/exchangeInfo"

#: Paths whose bodies the ledger changes (copied when they become current).
MUTABLE_PATHS = frozenset(
    {
        *SPEC_BY_PATH,
        *PREMIUM_PATHS,
        ASSET_INDEX_PATH,
        *TOTALS_PATHS,
        *bal.UM_BALANCES,
        *bal.CM_BALANCES,
        bal.PM_BALANCE,
        bal.PM_INDEX_PRICES,
    }
)

#: Paths whose rows the symbol index points into.
_INDEXED_PATHS = frozenset({*SPEC_BY_PATH, *PREMIUM_PATHS, ASSET_INDEX_PATH})

#: An indexed row: (its position spec or None for a premiumIndex row, the row, positionSide).
_Ref = tuple[PositionSpec | None, dict[str, Any], str]


@dataclass(slots=True)
class _Answer:
    data: Any
    status: int


class Ledger(LedgerUserEvents):
    """The current REST bodies of one fake exchange; see the module docstring."""

    def __init__(self, meta: Meta, *, margin_leverage: int = 3) -> None:
        self.meta = meta
        self.margin_leverage = margin_leverage
        self.counters: Counter[str] = Counter()
        self._answers: dict[str, _Answer] = {}
        self._overrides: dict[str, _Answer] = {}
        self._legs: dict[str, dict[tuple[str, str], Leg]] = {"UM": {}, "CM": {}}
        self._marks: dict[str, Mark] = {}
        self._sizes: dict[str, float] = {}
        self._margin_assets: dict[str, str] = {}
        self._index: dict[str, list[_Ref]] | None = None
        self._pos_rows: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._asset_rows: dict[str, dict[str, Any]] = {}
        self._mode: str | None = None
        self._totals_fresh = False
        #: PM asset index prices between samples: asset → (sampled price, proxy `i` then).
        self._index_anchor: dict[str, tuple[Decimal, Decimal | None]] = {}
        self._proxy_index: dict[str, Decimal] = {}  # symbol → its last mark frame's `i`
        #: Per item, the `E` of the user event that last set it: the exchange's state never
        #: goes back when a delayed or repeated frame is pushed (an older item update is
        #: skipped, as the monitor skips it).
        self._stamps: dict[tuple[str, ...], int] = {}
        self._user_handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "ACCOUNT_UPDATE": self._account_update,
            "outboundAccountPosition": self._outbound_position,
            "balanceUpdate": self._balance_update,
            "liabilityChange": self._liability_change,
            "openOrderLoss": self._open_order_loss,
            "riskLevelChange": self._risk_level_change,
            "ACCOUNT_CONFIG_UPDATE": self._config_update,
        }

    # ------------------------------------------------------------------ feeding
    def feed(self, line: Line) -> None:
        """Apply one recording line in playback order (non-GET REST lines and notes: nothing)."""
        if isinstance(line, RestLine):
            if line.method.upper() == "GET":
                self.apply_rest(line.path, line.data, line.status)
        elif isinstance(line, WsLine):
            try:
                data = frame_data(line)
            except ValueError:
                self.counters[f"bad_{line.conn}_frames"] += 1
                return
            if line.conn == "market":
                self.apply_market(data)
            else:
                self.apply_user(data)

    def apply_rest(self, path: str, data: Any, status: int = 200) -> None:
        """A recorded answer became current: it replaces the body (and ends an override)."""
        path = path.split("?", 1)[0]
        if path in MUTABLE_PATHS and status == 200:
            data = copy.deepcopy(data)
        self._answers[path] = _Answer(data, status)
        self._overrides.pop(path, None)
        self.counters["rest_answers"] += 1
        self._changed(rows=path in _INDEXED_PATHS)
        self._mode = None
        if status == 200:
            try:
                self._absorb(path, data)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                self.counters["bad_rest_bodies"] += 1
                log.warning("sim ledger: cannot read the recorded %s body: %s", path, exc)

    def override(self, path: str, data: Any, status: int = 200) -> None:
        """Answer `path` with `data` verbatim until its next recorded answer."""
        self._overrides[path] = _Answer(data, status)

    def apply_market(self, frame: Any) -> None:
        """A market frame was pushed (recorded or scripted)."""
        try:
            _, payload = unwrap(frame)
            for element in payload if isinstance(payload, list) else [payload]:
                if not isinstance(element, dict):
                    continue
                event = element.get("e")
                if event == "markPriceUpdate":
                    self._on_mark(element)
                elif event == "assetIndexUpdate":
                    self._on_asset_index(element)
        except Exception:
            self.counters["errors"] += 1
            log.exception("sim ledger: could not apply a market frame")

    def apply_user(self, event: Any) -> None:
        """A user-stream event was pushed (recorded or scripted)."""
        _, payload = unwrap(event)
        if not isinstance(payload, dict):
            self.counters["bad_user_events"] += 1
            return
        handler = self._user_handlers.get(str(payload.get("e")))
        if handler is None:
            return
        self._changed()  # before: a malformed entry may follow entries already applied
        try:
            handler(payload)
        except (BadEvent, TypeError, ValueError, KeyError, AttributeError) as exc:
            self.counters["bad_user_events"] += 1
            log.warning("sim ledger: skipped a malformed %s event: %s", payload.get("e"), exc)
            return
        except Exception:
            self.counters["errors"] += 1
            log.exception("sim ledger: could not apply a %s event", payload.get("e"))
            return
        self.counters["user_events"] += 1

    # ------------------------------------------------------------------ reading
    def answer(self, path: str) -> tuple[Any, int] | None:
        """(body, status) for GET `path` now; None when nothing was recorded or set for it."""
        found = self._overrides.get(path)
        if found is None:
            found = self._answers.get(path)
            if found is None:
                return None
            if path in TOTALS_PATHS and found.status == 200:
                self._refresh_totals()
        return found.data, found.status

    def bodies(self) -> dict[str, Any]:
        """Every current 200 body by path, totals up to date (overrides not included)."""
        self._refresh_totals()
        return {path: a.data for path, a in self._answers.items() if a.status == 200}

    @property
    def mode(self) -> str:
        """The account's mode (a recording's mode name): the recording's, else inferred from the
        bodies as the monitor infers it (`infer_mode`), else USDⓈ-M."""
        if self._mode is None:
            try:
                mode = self.meta.mode or str(infer_mode(self._bodies_raw()))
                if mode not in MODES:
                    raise ValueError(f"unknown mode {mode!r}")
            except ValueError:
                self.counters["mode_unknown"] += 1
                mode = USDM
            self._mode = mode
        return self._mode

    def state(self) -> dict[str, Any]:
        return {"counters": dict(self.counters), "overrides": sorted(self._overrides)}

    # ------------------------------------------------------------------ internals
    def _bodies_raw(self) -> dict[str, Any]:
        return {path: a.data for path, a in self._answers.items() if a.status == 200}

    def _body(self, path: str) -> Any:
        found = self._answers.get(path)
        return found.data if found is not None and found.status == 200 else None

    def _changed(self, rows: bool = False) -> None:
        self._totals_fresh = False
        if rows:
            self._index = None

    def _refresh_totals(self) -> None:
        if self._totals_fresh:
            return
        self._totals_fresh = True
        try:
            patch_totals(self._bodies_raw(), self.mode, self.margin_leverage)
        except Exception as exc:
            self.counters["totals_unavailable"] += 1
            log.debug("sim ledger: totals left as they were: %s", exc)
            return
        self.counters["totals_computed"] += 1

    def _absorb(self, path: str, data: Any) -> None:  # noqa: C901 - one branch per Binance event type the fake absorbs
        """Read what the ledger needs from a body that became current."""
        if path in PREMIUM_PATHS and isinstance(data, list):
            for row in data:
                if isinstance(row, dict) and isinstance(row.get("symbol"), str):
                    mark = _mark_of(row.get("markPrice"))
                    if mark is not None:
                        self._marks[row["symbol"]] = mark
        elif path in SPEC_BY_PATH:
            spec = SPEC_BY_PATH[path]
            legs = self._legs[spec.product]
            for row in spec.rows(data) or []:
                if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
                    continue
                symbol = row["symbol"]
                key = (symbol, side_of(row))
                leg = leg_from_row(row, spec)
                if leg is not None and leg.qty != 0.0:
                    legs[key] = leg
                elif leg is not None:
                    legs.pop(key, None)
                mark = _mark_of(row.get("markPrice"))
                if mark is not None and symbol not in self._marks:
                    self._marks[symbol] = mark
        elif path == CM_EXCHANGE_INFO and isinstance(data, dict):
            for sym in data.get("symbols") or []:
                size = positive(sym.get("contractSize")) if isinstance(sym, dict) else None
                if size is not None:
                    self._sizes[str(sym["symbol"])] = size
        elif path == bal.PM_INDEX_PRICES and isinstance(data, list):
            self._index_anchor = {}
            for row in data:
                if isinstance(row, dict) and isinstance(row.get("asset"), str):
                    price = dec(row.get("assetIndexPrice"))
                    if price is not None and price > 0:
                        symbol = f"{row['asset']}USDT"
                        at = self._proxy_index.get(symbol) or self._premium_index(symbol)
                        self._index_anchor[row["asset"]] = (price, at)
        elif path == UM_EXCHANGE_INFO and isinstance(data, dict):
            for sym in data.get("symbols") or []:
                if isinstance(sym, dict) and isinstance(sym.get("marginAsset"), str):
                    self._margin_assets[str(sym.get("symbol"))] = sym["marginAsset"]

    def _ensure_index(self) -> dict[str, list[_Ref]]:
        """symbol → rows that show it (premiumIndex and position rows), rebuilt after changes."""
        if self._index is not None:
            return self._index
        index: dict[str, list[_Ref]] = {}
        self._pos_rows = {}
        self._asset_rows = {}
        for path in PREMIUM_PATHS:
            body = self._body(path)
            for row in body if isinstance(body, list) else []:
                if isinstance(row, dict) and isinstance(row.get("symbol"), str):
                    index.setdefault(row["symbol"], []).append((None, row, ""))
        for spec in POSITION_SPECS:
            rows = spec.rows(self._body(spec.path))
            if rows is None:
                continue
            by_key = self._pos_rows[spec.path] = {}
            for row in rows:
                if isinstance(row, dict) and isinstance(row.get("symbol"), str):
                    side = side_of(row)
                    by_key[(row["symbol"], side)] = row
                    index.setdefault(row["symbol"], []).append((spec, row, side))
        body = self._body(ASSET_INDEX_PATH)
        for row in body if isinstance(body, list) else []:
            if isinstance(row, dict) and isinstance(row.get("symbol"), str):
                self._asset_rows[row["symbol"]] = row
        self._index = index
        return index

    # ------------------------------------------------------------------ market
    def _on_mark(self, element: dict[str, Any]) -> None:
        symbol, raw = element.get("s"), element.get("p")
        price = positive(raw)
        if not isinstance(symbol, str) or price is None:
            self.counters["bad_marks"] += 1
            return
        mark: Mark = (raw if isinstance(raw, str) else str(raw), price)
        self._marks[symbol] = mark
        index = self._ensure_index()
        refs = index.get(symbol) or []
        if not any(spec is None for spec, _row, _side in refs):
            refs = self._new_premium_row(index, symbol, element)
        for spec, row, side in refs:
            if spec is None:
                apply_premium(row, element, mark)
            else:
                leg = self._legs[spec.product].get((symbol, side))
                reprice(row, spec, leg, mark, self._sizes.get(symbol))
        self.counters["marks"] += 1
        self._totals_fresh = False
        if symbol.endswith("USDT") and self._index_anchor:
            stamp = element.get("E")
            self._follow_index(symbol, element.get("i"), stamp if isinstance(stamp, int) else None)

    def _premium_index(self, symbol: str) -> Decimal | None:
        """`symbol`'s `indexPrice` in the current premiumIndex body (before any frame)."""
        body = self._body(PREMIUM_PATHS[0])
        for row in body if isinstance(body, list) else ():
            if isinstance(row, dict) and row.get("symbol") == symbol:
                index = dec(row.get("indexPrice"))
                return index if index is not None and index > 0 else None
        return None

    def _follow_index(self, symbol: str, raw: object, t: int | None) -> None:
        """Move the PM asset index price of `symbol`'s base asset with its streamed index."""
        index = dec(raw)
        if index is None or index <= 0:
            return
        self._proxy_index[symbol] = index
        asset = symbol[:-4]
        anchor = self._index_anchor.get(asset)
        if anchor is None:
            return
        price, at = anchor
        if at is None:
            self._index_anchor[asset] = (price, index)
            return
        body = self._body(bal.PM_INDEX_PRICES)
        for row in body if isinstance(body, list) else ():
            if isinstance(row, dict) and row.get("asset") == asset:
                row["assetIndexPrice"] = fmt_dec(price * index / at)
                if t is not None:
                    row["time"] = t  # the price is as of this index

    def _new_premium_row(
        self, index: dict[str, list[_Ref]], symbol: str, element: dict[str, Any]
    ) -> list[_Ref]:
        """Add the symbol to its premiumIndex body (when there is one); its refs now."""
        coinm = is_cm(element)
        body = self._body(PREMIUM_PATHS[1] if coinm else PREMIUM_PATHS[0])
        refs = index.setdefault(symbol, [])
        if isinstance(body, list):
            row = new_premium_row(body, symbol, coinm)
            body.append(row)
            refs.append((None, row, ""))
        return refs

    def _on_asset_index(self, element: dict[str, Any]) -> None:
        symbol = element.get("s")
        if (
            not isinstance(symbol, str)
            or positive(element.get("B")) is None
            or positive(element.get("A")) is None
        ):
            self.counters["bad_asset_index"] += 1
            return
        self._ensure_index()
        row = self._asset_rows.get(symbol)
        if row is None:
            body = self._body(ASSET_INDEX_PATH)
            if not isinstance(body, list):
                return
            row = self._asset_rows[symbol] = new_asset_index_row(body, symbol)
            body.append(row)
        apply_asset_index(row, element)
        self._totals_fresh = False


def _mark_of(raw: object) -> Mark | None:
    price = positive(raw)
    return None if price is None else (raw if isinstance(raw, str) else str(raw), price)
