"""Fuzzing the whole ingestion path (`monitor.core.ingest.Replay` inside the
`monitor.core.account_core.AccountCore` the daemon runs): after a valid snapshot of a bundled
recording, random and mutated lines — raw-text market and user frames as the live feed hands
them over, mutated REST bodies, error statuses, unknown paths — interleaved with valid frames,
valid refreshes and full valid resyncs.

Per line, against an oracle built from the public decoders: nothing escapes `feed`/`flush`; a
rejected line bumps exactly its counter and leaves the book's figures and state unchanged (the
same for frames that are ignored: acks, unknown events); a valid line is applied (marks, rates,
wallets, legs, a resync equal to a fresh book of the same REST bodies). The pipeline runs with
heavy figures on (as live), and after every line the figures of an alert (`heavy_figures`) and
of `/status` (`calc.build_report`) still compute.

The bugs this suite found are fixed; each has a regression test at the end of the module.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.binance.decode.marks import FrameKind, MarkDecoder, classify
from monitor.binance.decode.snapshot import build_state
from monitor.binance.decode.user_events import Translation, translate_frame
from monitor.binance.schemas.common import WireError
from monitor.binance.schemas.dispatch import REST_SCHEMAS
from monitor.calc import build_report
from monitor.core.account_core import AccountCore
from monitor.core.figures import heavy_figures
from monitor.core.ingest import REFRESH_ONLY, Replay
from monitor.core.step import TimedAlert
from monitor.engine import events as ev
from monitor.engine.book import Book
from monitor.engine.model import ContractKind, EngineError, Mode
from monitor.feed.recording import Line, Meta, RestLine, WsLine
from tests.fuzz import (
    REST,
    compact,
    frames_from,
    fuzz,
    mutate_json,
    recording,
    sample,
    sample_names,
    snapshot_group,
    ws_texts,
)

RECORDINGS = ("usdm", "usdm_multi_assets", "coinm", "portfolio_margin")
#: Counters of lines the replay refused.
REJECTIONS = (
    "market_decode_errors",
    "user_decode_errors",
    "snapshot_errors",
    "rest_error_status",
    "rest_unknown_path",
    "engine_errors",
)
USER_SAMPLES = sample_names(
    "account_update",
    "order_trade_update",
    "trade_lite",
    "margin_call",
    "account_config_update",
    "listen_key_expired",
    "pm_",
)
USER_TEXTS = [compact(sample(name)) for name in USER_SAMPLES]
MARKET_SAMPLES = sample_names(
    "markPrice", "combined_stream_markPrice", "assetIndex_arr", "indexPrice"
)


@dataclass(frozen=True)
class Source:
    """What one recording offers the fuzzer."""

    meta: Meta
    group: tuple[RestLine, ...]  # the start-up snapshot
    refreshes: tuple[RestLine, ...]  # REST lines after it (PM polls), valid as they are
    market: tuple[str, ...]  # valid market frames (raw text)
    user: tuple[str, ...]  # valid user frames of the recording


@cache
def source(name: str) -> Source:
    meta, lines = recording(name)
    group = tuple(snapshot_group(name))
    later = [line for line in lines[len(group) :] if isinstance(line, RestLine)]
    return Source(
        meta,
        group,
        tuple(later[:20]),
        tuple(ws_texts(name, "market")[:60]),
        tuple(ws_texts(name, "user")),
    )


@cache
def frame_strategies(name: str) -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
    """Mutated market and user frames built from the recording's and the samples' frames."""
    src = source(name)
    market = [*src.market, *(compact(sample(n)) for n in MARKET_SAMPLES)]
    return frames_from(market), frames_from([*src.user, *USER_TEXTS])


# ------------------------------------------------------------------ steps
Step = tuple[Any, ...]
ERROR_BODY = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}


@st.composite
def steps(draw: st.DrawFn, name: str) -> Step:
    src = source(name)
    market, user = frame_strategies(name)
    kind = draw(
        st.sampled_from(
            [
                "market",
                "market",
                "user",
                "user",
                "rest",
                "rest",
                "valid_market",
                "valid_user",
                "refresh",
                "resync",
                "asset_row",
            ]
        )
    )
    if kind == "asset_row" and any(line.path == ASSET_INDEX_PRICE for line in src.group):
        return ("rest", draw(asset_rows(src)))
    if kind == "market":
        return ("ws", "market", draw(market))
    if kind == "user":
        return ("ws", "user", draw(user))
    if kind == "valid_market":
        return ("ws", "market", draw(st.sampled_from(src.market)))
    if kind == "valid_user":  # the recording's own, or a sample (some name unknown symbols)
        return ("ws", "user", draw(st.sampled_from([*src.user, *USER_TEXTS])))
    if kind == "refresh":
        return ("rest", draw(st.sampled_from(src.refreshes or src.group)))
    if kind == "resync":
        return ("resync",)
    base = draw(st.sampled_from(src.group))  # "rest", and "asset_row" without such a path
    how = draw(
        st.sampled_from(
            ["mutate", "mutate", "mutate", "error_body", "status", "unknown_path", "query"]
        )
    )
    path, body, status = base.path, base.data, 200
    if how in ("mutate", "query"):
        body = mutate_json(base.data, draw(st.data()), REST)
    if how == "query":
        path += "?symbol=BTCUSDT"
    elif how == "error_body":
        body = ERROR_BODY
    elif how == "status":
        status = draw(st.sampled_from([400, 401, 418, 429, 500, 503]))
        body = draw(st.sampled_from([ERROR_BODY, base.data, "<html>502</html>"]))
    elif how == "unknown_path":
        path = draw(st.sampled_from(["/fapi/v9/account", "/x", "/sapi/v1/capital/config"]))
    return ("rest", RestLine(0, "GET", path, body, {}, status))


ASSET_INDEX_PRICE = "/sapi/v1/portfolio/asset-index-price"


@st.composite
def asset_rows(draw: st.DrawFn, src: Source) -> RestLine:
    """A per-asset Portfolio Margin index price answer (`asset=` sent): one row, as an object or
    a one-row list, valid or mutated."""
    full = next(line for line in src.group if line.path == ASSET_INDEX_PRICE)
    row = dict(draw(st.sampled_from(full.data)))
    row["assetIndexPrice"] = draw(st.sampled_from(["1.5", "0.99980000", "101234.5"]))
    body: Any = row if draw(st.booleans()) else [row]
    if draw(st.booleans()):
        body = mutate_json(body, draw(st.data()), REST)
    return RestLine(0, "GET", ASSET_INDEX_PRICE, body, {"asset": row["asset"]})


# ------------------------------------------------------------------ oracle helpers
def fingerprint(book: Book) -> str:
    """Every figure and the whole state (NaN compares equal to NaN as text)."""
    return repr((book.risk, book.snapshot(), book.state))


def decoder_for(replay: Replay) -> MarkDecoder:
    """The decoder the replay should be using: held symbols, and the book's assets in
    Multi-Assets mode."""
    book = replay.book
    assert book is not None
    assets = set(book.state.assets) if book.mode is Mode.USDM_MULTI_ASSETS else set()
    return MarkDecoder(replay.held_symbols, assets, replay.pricer.symbols)


def unusable(book: Book, symbol: str, entry: float) -> bool:
    """A leg on `symbol` cannot be valued: no contract, no brackets, or an inverse contract
    without a contract size or a positive entry price (uPnL = qty × size × (1/entry − 1/mark))."""
    contract = book.state.contracts.get(symbol)
    if contract is None or not contract.brackets.floors:
        return True
    inverse = contract.kind is ContractKind.INVERSE
    return inverse and not (contract.contract_size > 0 and entry > 0)


def opens_unusable_leg(book: Book, translation: Translation) -> bool:
    """The message opens a leg the engine cannot value: it must be rejected whole."""
    return any(
        isinstance(e, ev.PositionUpdate)
        and e.qty != 0.0
        and unusable(book, e.symbol, e.entry_price)
        for e in translation.events
    )


def feed(timeline: AccountCore, line: Line) -> None:
    timeline.feed(line)


def flush(timeline: AccountCore, t: int) -> None:
    timeline.flush(t)


REJECTED = object()


def kept_body(previous: Any, line: RestLine) -> Any:
    """The body the replay keeps for `line`'s path: a per-asset answer (`asset=` sent) updates
    that asset's row of the last full list; every other answer replaces the body. `REJECTED`
    for a per-asset answer that is not rows naming an asset."""
    if not line.params.get("asset") or not isinstance(previous, list):
        return copy.deepcopy(line.data)
    rows = line.data if isinstance(line.data, list) else [line.data]
    if not rows or not all(isinstance(r, dict) and isinstance(r.get("asset"), str) for r in rows):
        return REJECTED
    fresh = {row["asset"]: row for row in rows}
    kept = [row for row in previous if not (isinstance(row, dict) and row.get("asset") in fresh)]
    return copy.deepcopy([*kept, *fresh.values()])


def delta(after: Mapping[str, int], before: Counter[str]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


# ------------------------------------------------------------------ per-line checks
def check_market(timeline: AccountCore, text: str, t: int) -> None:
    replay = timeline._ingest
    book = replay.book
    assert book is not None
    decoder = decoder_for(replay)
    decoded: list[Any] = []
    indexes: list[tuple[str, float, int]] = []
    try:
        kind = classify(text)
        if kind is FrameKind.MARK:
            _, marks, _, found = decoder.read(text)  # a bad proxy index rejects the frame too
            decoded, indexes = list(marks), list(found)
        elif kind is FrameKind.ASSET_INDEX:
            decoded = decoder.decode_asset_index(text)
    except WireError:
        kind = None
    before, counts = fingerprint(book), Counter(replay.counters)
    feed(timeline, WsLine(t, "market", None, text))
    changed = delta(replay.counters, counts)
    if kind is None:
        assert changed == {"market_decode_errors": 1}
        assert fingerprint(book) == before, "a rejected market frame changed the book"
    elif kind not in (FrameKind.MARK, FrameKind.ASSET_INDEX):
        assert changed == {f"market_{kind.value}_frames": 1}
        assert fingerprint(book) == before, "an ignored market frame changed the book"
    else:
        assert changed == {"market_frames": 1}
        for item in decoded:
            if isinstance(item, ev.AssetRates):
                rec = book.state.assets[item.asset]
                latest = [r for r in decoded if r.asset == item.asset][-1]
                assert (rec.bid_rate, rec.ask_rate) == (latest.bid_rate, latest.ask_rate)
            else:
                symbol = item[0]
                assert book.state.marks[symbol] == dict(decoded)[symbol]
        # PM collateral follows a streamed proxy's index (× basis) wherever one is in force.
        for symbol, _, _ in indexes:
            asset = replay.pricer.asset_of(symbol)
            streamed = replay.pricer.current(asset) if asset else None
            if asset and streamed is not None:
                assert book.state.assets[asset].index_price == streamed, asset


def check_user(timeline: AccountCore, text: str, t: int) -> None:
    replay = timeline._ingest
    book = replay.book
    assert book is not None
    translation: Translation | None
    try:
        translation = translate_frame(json.loads(text), book.mode)
    except (WireError, ValueError):
        translation = None
    before, counts = fingerprint(book), Counter(replay.counters)
    order_before = copy.deepcopy(replay.order)
    feed(timeline, WsLine(t, "user", None, text))
    if replay.settling:  # the first half of a PM event group is held until its partner
        assert fingerprint(book) == before, "a held event group changed the book"
        replay.release()
        counts["user_groups_held"] = replay.counters["user_groups_held"]
    changed = delta(replay.counters, counts)
    if translation is None:
        assert changed == {"user_decode_errors": 1}
        assert fingerprint(book) == before, "a rejected user frame changed the book"
        return
    signals = Counter(f"signal_{type(s).__name__}" for s in translation.signals)
    # Item updates older (by E) than what set the item last are dropped and counted.
    kept, dropped = order_before.fresh(translation.events, translation.event_time)
    applied = dataclasses.replace(translation, events=tuple(kept))
    if dropped:
        signals["user_stale_updates"] = dropped
    if opens_unusable_leg(book, applied):
        assert changed == {"user_events": 1, "engine_errors": 1, **signals}
        assert fingerprint(book) == before, "a rejected user message was partly applied"
        return
    assert changed == {"user_events": 1, **signals}
    if not kept:
        assert fingerprint(book) == before, "a user event without engine events changed the book"
    check_applied(book, applied.events)


def check_applied(book: Book, events: tuple[ev.EngineEvent, ...]) -> None:
    """The state holds what the last event of each kind and key said."""
    pm = book.mode is Mode.PORTFOLIO_MARGIN
    latest: dict[tuple[Any, ...], ev.EngineEvent] = {}
    for event in events:
        key: tuple[Any, ...] = (type(event).__name__,)
        if isinstance(event, ev.PositionUpdate):
            key += (event.symbol, event.side)
        elif isinstance(event, ev.FuturesWallet):
            key += (event.asset, event.product if pm else "")
        elif not isinstance(event, ev.AccountStatus):
            key += (getattr(event, "asset", ""),)
        latest[key] = event
    state = book.state
    for event in latest.values():
        if isinstance(event, ev.PositionUpdate):
            pos = state.positions.get((event.symbol, event.side))
            if event.qty == 0.0:
                assert pos is None
            else:
                assert pos is not None and (pos.qty, pos.entry_price) == (
                    event.qty,
                    event.entry_price,
                )
        elif isinstance(event, ev.FuturesWallet):
            rec = state.assets[event.asset]
            field = (
                ("cm_wallet" if event.product == "CM" else "um_wallet") if pm else ("cross_wallet")
            )
            assert getattr(rec, field) == event.cross_wallet
        elif isinstance(event, ev.MarginBalance):
            rec = state.assets[event.asset]
            assert (rec.margin_free, rec.margin_locked) == (event.free, event.locked)
        elif isinstance(event, ev.MarginLiability):
            rec = state.assets[event.asset]
            assert rec.borrowed + rec.interest == pytest.approx(event.total)  # Binance's `l`
        elif isinstance(event, ev.AccountStatus):
            assert state.status == event.status


def check_rest(timeline: AccountCore, line: RestLine, t: int) -> None:
    replay = timeline._ingest
    book = replay.book
    assert book is not None
    bare = line.path.split("?", 1)[0]
    expected: dict[str, int]
    fresh: str | None = None
    resynced = None
    kept = kept_body(replay.rest.get(bare), line)
    if line.status != 200:
        expected = {"rest_error_status": 1}
    elif bare not in REST_SCHEMAS:
        expected = {"rest_unknown_path": 1}
    elif kept is REJECTED:
        expected = {"snapshot_errors": 1}
    else:
        merged = {**replay.rest, bare: kept}
        try:
            state = build_state(merged, replay.mode, margin_leverage=replay.margin_leverage)
            if bare in REFRESH_ONLY:
                expected = {}
            else:
                resynced = state
                expected = {"resyncs": 1}
        except (WireError, EngineError):
            expected = {"snapshot_errors": 1}
    before, counts = fingerprint(book), Counter(replay.counters)
    feed(timeline, RestLine(t, line.method, line.path, line.data, line.params, line.status))
    flush(timeline, t)
    assert replay.book is book
    if resynced is not None:
        # PM collateral keeps its streamed price (proxy index × basis, as the pricer holds it
        # after this line) over a resync built from an older asset-index answer.
        _with_streamed_prices(replay, resynced)
        fresh = fingerprint(Book(resynced))
    assert delta(replay.counters, counts) == expected
    if any(expected.get(name) for name in REJECTIONS):
        assert fingerprint(book) == before, "a rejected REST response changed the book"
    if fresh is not None:
        assert fingerprint(book) == fresh, "a resync differs from a fresh book of the same REST"


def check_resync(timeline: AccountCore, src: Source, baseline: str, t: int) -> None:
    """The whole valid snapshot again heals everything: the book is as it was at start-up."""
    replay = timeline._ingest
    counts = Counter(replay.counters)
    for line in src.group:
        feed(timeline, RestLine(t, line.method, line.path, line.data, line.params, line.status))
    flush(timeline, t)
    assert delta(replay.counters, counts) == {"resyncs": 1}
    assert replay.book is not None
    if replay.book.mode is Mode.PORTFOLIO_MARGIN:
        # PM collateral keeps its freshest price, the streamed proxy index × the basis fitted to
        # this snapshot's asset-index answer: the start-up book with those prices.
        state = build_state(
            {line.path.split("?", 1)[0]: line.data for line in src.group},
            replay.mode,
            margin_leverage=replay.margin_leverage,
        )
        _with_streamed_prices(replay, state)
        assert fingerprint(replay.book) == fingerprint(Book(state))
    else:
        assert fingerprint(replay.book) == baseline


def _with_streamed_prices(replay: Replay, state: Any) -> None:
    """`state`'s PM collateral at the prices the replay's pricer holds (where streamed)."""
    for asset in list(state.assets):
        streamed, source_of = replay.pricer.current(asset), replay.pricer.source(asset)
        if streamed is not None and source_of is not None and source_of.kind == "stream":
            state.assets[asset].index_price = streamed


def started(name: str) -> AccountCore:
    """The daemon's pipeline for one account (as `AccountRuntime` builds it) after the
    recording's start-up snapshot."""
    src = source(name)
    timeline = AccountCore(
        src.meta, with_figures=True, extra_watch=frozenset({"user_stream"}), record_risks=False
    )
    t = src.group[0].t
    for line in src.group:
        timeline.feed(line)
    timeline.flush(t)
    assert timeline.book is not None
    return timeline


# ------------------------------------------------------------------ the fuzz test
@pytest.mark.parametrize("name", RECORDINGS)
@fuzz(60)
@given(data=st.data())
def test_rejected_lines_change_nothing_and_valid_lines_apply(
    name: str, data: st.DataObject
) -> None:
    timeline = started(name)
    book = timeline.book
    assert book is not None
    baseline = fingerprint(book)
    t = source(name).group[-1].t
    for step in data.draw(st.lists(steps(name), min_size=1, max_size=8), label="steps"):
        t += data.draw(st.integers(0, 2500), label="ms")
        if step[0] == "ws" and step[1] == "market":
            check_market(timeline, step[2], t)
        elif step[0] == "ws":
            check_user(timeline, step[2], t)
        elif step[0] == "rest":
            check_rest(timeline, step[1], t)
        else:
            check_resync(timeline, source(name), baseline, t)
        for alert in timeline.alerts:
            assert isinstance(alert, TimedAlert) and alert.snapshot is not None
        timeline.alerts.clear()
        # What an alert (heavy figures) and /status (the calc report) compute, after every line.
        heavy_figures(book.state)
        assert build_report(book)["mode"] == book.mode.value


# ------------------------------------------------------- regressions: bugs fuzzing found (fixed)
def _user_line(t: int, frame: dict[str, Any]) -> WsLine:
    return WsLine(t, "user", None, compact(frame))


@pytest.mark.parametrize("body", ["garbage", None, 5, ["x"]], ids=repr)
def test_a_per_asset_answer_without_a_row_is_counted(body: Any) -> None:
    timeline = started("portfolio_margin")
    replay = timeline._ingest
    counts = Counter(replay.counters)
    t = source("portfolio_margin").group[-1].t + 1
    timeline.feed(RestLine(t, "GET", ASSET_INDEX_PRICE, body, {"asset": "BTC"}))
    timeline.flush(t)
    assert delta(replay.counters, counts), "the malformed answer was not counted"


@pytest.mark.parametrize("via", ["rest", "user"])
def test_an_isolated_leg_in_multi_assets_mode_is_reported(via: str) -> None:
    src = source("usdm_multi_assets")
    timeline = started("usdm_multi_assets")
    book = timeline.book
    assert book is not None
    t = src.group[-1].t + 1
    if via == "rest":
        risk = next(line for line in src.group if line.path == "/fapi/v3/positionRisk")
        rows = copy.deepcopy(risk.data)
        rows[0]["isolatedWallet"] = "100"
        timeline.feed(RestLine(t, "GET", risk.path, rows))
        timeline.flush(t)
    else:
        leg = {
            "s": "BTCUSDT",
            "pa": "0.5",
            "ep": "19000",
            "ps": "BOTH",
            "mt": "isolated",
            "iw": "100",
        }
        frame = {"e": "ACCOUNT_UPDATE", "E": t, "a": {"m": "ORDER", "B": [], "P": [leg]}}
        timeline.feed(_user_line(t, frame))
    # Binance has no isolated margin in Multi-Assets mode: the leg is read as cross, by the
    # book and by the report alike.
    assert book.state.positions[("BTCUSDT", "BOTH")].qty == 0.5 if via == "user" else True
    assert not any(p.isolated for p in book.state.positions.values())
    report = build_report(book)
    assert all(p["margin"] == "cross" for p in report["positions"])


def test_a_leg_without_contract_data_is_rejected_atomically() -> None:
    timeline = started("usdm")
    book = timeline.book
    assert book is not None
    before = fingerprint(book)
    frame = {
        "e": "ACCOUNT_UPDATE",
        "E": 5,
        "T": 5,
        "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": "1", "cw": "1", "bc": "0"}],
            "P": [{"s": "NEWUSDT", "pa": "1", "ep": "10", "ps": "BOTH", "mt": "cross"}],
        },
    }
    timeline.feed(_user_line(source("usdm").group[-1].t + 1, frame))
    assert timeline.counters["engine_errors"] == 1
    assert fingerprint(book) == before
    heavy_figures(book.state)
    build_report(book)


def test_an_inverse_leg_without_mark_at_entry_zero_is_rejected() -> None:
    src = source("coinm")
    timeline = started("coinm")
    replay = timeline._ingest
    assert replay.book is not None
    symbol = sorted(set(replay.book.state.contracts) - replay.held_symbols)[0]
    t = src.group[-1].t + 1
    for line in src.group:  # a resync whose REST bodies carry no mark for the unheld symbol
        data = line.data
        if line.path in ("/dapi/v1/positionRisk", "/dapi/v1/premiumIndex"):
            data = [row for row in data if row["symbol"] != symbol]
        timeline.feed(RestLine(t, "GET", line.path, data))
    timeline.flush(t)
    assert symbol not in replay.book.state.marks
    frame = {
        "e": "ACCOUNT_UPDATE",
        "E": t,
        "a": {"m": "ORDER", "B": [], "P": [{"s": symbol, "pa": "5", "ep": "0", "ps": "BOTH"}]},
    }
    timeline.feed(_user_line(t + 1, frame))
    assert replay.counters["engine_errors"] + replay.counters["user_decode_errors"] == 1


def test_a_rejected_rest_body_does_not_block_later_refreshes() -> None:
    timeline = started("usdm")
    replay = timeline._ingest
    assert replay.book is not None
    src = source("usdm")
    t = src.group[-1].t + 1
    timeline.feed(RestLine(t, "GET", "/fapi/v3/positionRisk", {"not": "a list"}))
    timeline.flush(t)
    assert replay.counters["snapshot_errors"] == 1
    premium = next(line for line in src.group if line.path == "/fapi/v1/premiumIndex")
    moved = [{**row, "markPrice": str(float(row["markPrice"]) * 1.01)} for row in premium.data]
    timeline.feed(RestLine(t + 1, "GET", premium.path, moved))
    timeline.flush(t + 1)
    assert replay.counters["snapshot_errors"] == 1, "a valid refresh was rejected"
    symbol = moved[0]["symbol"]
    assert replay.book.state.marks[symbol] == float(moved[0]["markPrice"])


def test_a_resync_with_huge_finite_balances_is_rejected_or_applied() -> None:
    timeline = started("usdm_multi_assets")
    replay = timeline._ingest
    src = source("usdm_multi_assets")
    account = next(line for line in src.group if line.path == "/fapi/v3/account")
    data = copy.deepcopy(account.data)
    for asset in data["assets"]:
        asset["crossWalletBalance"] = "1e308"
    t = src.group[-1].t + 1
    timeline.feed(RestLine(t, "GET", account.path, data))
    timeline.flush(t)
    assert replay.book is not None and not math.isnan(replay.book.snapshot().equity)


def test_an_absurd_mark_does_not_poison_later_figures() -> None:
    timeline, reference = started("usdm"), started("usdm")
    t = source("usdm").group[-1].t + 1
    for price in ("1e308", "3000"):
        frame = {
            "e": "markPriceUpdate",
            "E": t,
            "s": "ETHUSDT",
            "p": price,
            "i": price,
            "P": price,
            "r": "0",
            "T": t,
        }
        timeline.feed(WsLine(t, "market", None, compact(frame)))
    reference.feed(WsLine(t, "market", None, compact({**frame, "p": "3000"})))
    book, ref = timeline.book, reference.book
    assert book is not None and ref is not None
    assert book.risk == pytest.approx(ref.risk)
    for pool, expected in zip(book.snapshot().pools, ref.snapshot().pools, strict=True):
        assert pool.equity == pytest.approx(expected.equity), pool.key


@pytest.mark.parametrize(
    ("conn", "text"),
    [
        ("market", "[" * 5000 + "]" * 5000),
        ("user", "[" * 5000 + "]" * 5000),
        ("market", '{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":1' + "0" * 400 + "}"),
    ],
    ids=["market-deep", "user-deep", "market-huge-int"],
)
def test_feed_counts_every_undecodable_frame(conn: str, text: str) -> None:
    timeline = started("usdm")
    replay = timeline._ingest
    counts = Counter(replay.counters)
    timeline.feed(WsLine(source("usdm").group[-1].t + 1, conn, None, text))
    assert delta(replay.counters, counts) == {f"{conn}_decode_errors": 1}


def test_an_inverse_leg_at_entry_zero_keeps_alerts_and_status_working() -> None:
    timeline = started("coinm")
    book = timeline.book
    assert book is not None
    t = source("coinm").group[-1].t + 1
    leg = {"s": "BTCUSD_PERP", "pa": "2000", "ep": "0", "ps": "BOTH", "mt": "cross", "iw": "0"}
    frame = {"e": "ACCOUNT_UPDATE", "E": t, "a": {"m": "ORDER", "B": [], "P": [leg]}}
    before = fingerprint(book)
    timeline.feed(_user_line(t, frame))
    assert timeline.counters["engine_errors"] == 1
    assert fingerprint(book) == before, "the unvaluable leg was applied"
    # 20 s without data: the policy goes blind and the alert carries heavy figures.
    alerts = timeline.feed(_user_line(t + 20_000, {"e": "SOMETHING_NEW", "E": t})).alerts
    assert alerts and alerts[0].figures is not None
    build_report(book)


@pytest.mark.parametrize("pair", ["USDTUSD", "BTCUSD"])
def test_a_zero_multi_assets_rate_is_not_applied(pair: str) -> None:
    """A rate of 0 is no rate: it is never applied (a stablecoin falls back to its 1/1 default,
    an asset without balance keeps its last rate; a held non-stablecoin without a usable rate
    rejects the snapshot, see tests/binance/test_snapshot.py). Alerts and /status keep working."""
    src = source("usdm_multi_assets")
    timeline = started("usdm_multi_assets")
    book = timeline.book
    assert book is not None
    index = next(line for line in src.group if line.path == "/fapi/v1/assetIndex")
    rows = [{**row, "bidRate": "0"} if row["symbol"] == pair else row for row in index.data]
    t = src.group[-1].t + 1
    btc = book.state.assets["BTC"].bid_rate
    timeline.feed(RestLine(t, "GET", index.path, rows))
    timeline.flush(t)
    assert timeline.counters["snapshot_errors"] == 0
    assert book.state.assets["BTC"].bid_rate == btc
    assert all(a.bid_rate > 0 and a.ask_rate > 0 for a in book.state.assets.values())
    heavy_figures(book.state)
    build_report(book)


@pytest.mark.parametrize("asset", [["BTC"], {"a": "BTC"}], ids=["list", "object"])
def test_a_per_asset_row_with_an_odd_asset_is_counted(asset: Any) -> None:
    timeline = started("portfolio_margin")
    replay = timeline._ingest
    counts = Counter(replay.counters)
    t = source("portfolio_margin").group[-1].t + 1
    row = {"asset": asset, "assetIndexPrice": "1.5", "time": t}
    timeline.feed(RestLine(t, "GET", ASSET_INDEX_PRICE, row, {"asset": "BTC"}))
    timeline.flush(t)
    assert delta(replay.counters, counts) == {"snapshot_errors": 1}


def test_a_denormal_mark_keeps_alerts_and_status_working() -> None:
    timeline = started("usdm")
    book = timeline.book
    assert book is not None
    t = source("usdm").group[-1].t + 1
    frame = {"e": "markPriceUpdate", "E": t, "s": "BTCUSDC", "p": 5e-324, "T": t}
    before, counts = fingerprint(book), Counter(timeline.counters)
    timeline.feed(WsLine(t, "market", None, compact(frame)))
    assert delta(timeline.counters, counts) == {"market_decode_errors": 1}
    assert fingerprint(book) == before
    heavy_figures(book.state)
    build_report(book)
