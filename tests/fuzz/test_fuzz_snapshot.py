"""Fuzzing `monitor.binance.decode.snapshot.build_state` with mutated REST bodies: the start-up
snapshot of each bundled recording (one per margin mode) with keys dropped, wrong types, strings
for numbers, negative and zero values, whole paths missing, and Binance error bodies in place of
data.

The contract (as `monitor.core.ingest.Replay.flush` relies on it): `build_state` raises only
`WireError` (including `SnapshotError` and `ExchangeError`); a state it returns either loads into
a `Book` or is refused with `EngineError`, and a loaded book's figures are finite.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor.binance.decode.snapshot import build_state
from monitor.binance.schemas.common import WireError
from monitor.engine.book import Book
from monitor.engine.model import AccountState, EngineError, Mode
from tests.fuzz import REST, fuzz, mutate_json, recording, snapshot_group

RECORDINGS = ("usdm", "usdm_multi_assets", "coinm", "portfolio_margin")
ERROR_BODIES = (
    {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    {"code": -1003, "msg": "Way too many requests; IP banned until 1736996475556."},
    {"code": "x", "msg": None},
)


def rest_of(name: str) -> dict[str, Any]:
    """The recording's snapshot as `build_state` takes it: path → body of the latest response."""
    return {line.path.split("?", 1)[0]: line.data for line in snapshot_group(name)}


BASES = {name: rest_of(name) for name in RECORDINGS}


def check_snapshot(rest: dict[str, Any], mode: Mode | None) -> AccountState | None:
    """`build_state`, then `Book`: None when refused the documented way (WireError, EngineError)."""
    try:
        state = build_state(rest, mode)
    except WireError:
        return None
    assert isinstance(state, AccountState)
    for mark in state.marks.values():
        assert math.isfinite(mark) and mark > 0.0
    try:
        book = Book(state)
    except EngineError:
        return None
    snap = book.snapshot()
    assert math.isfinite(book.risk) and book.risk == snap.risk
    for pool in snap.pools:
        assert math.isfinite(pool.equity) and math.isfinite(pool.maint_margin), pool
    return state


def test_every_bundled_snapshot_builds_in_its_mode() -> None:
    for name, rest in BASES.items():
        state = check_snapshot(rest, None)
        assert state is not None, name
        assert state.mode is Mode(recording(name)[0].mode or state.mode)
        assert state.positions, name


MODES = {name: build_state(rest).mode for name, rest in BASES.items()}


@st.composite
def mutated_rest(draw: st.DrawFn) -> tuple[dict[str, Any], Mode | None]:
    """A recording's snapshot with 1..3 bodies mutated, dropped or replaced by an error body, and
    the mode to build it in (mostly its own or inferred, sometimes another)."""
    data = draw(st.data())
    name = draw(st.sampled_from(RECORDINGS))
    mode = draw(st.sampled_from([None, MODES[name], MODES[name], *Mode]))
    rest = dict(BASES[name])
    for path in draw(st.lists(st.sampled_from(sorted(rest)), min_size=1, max_size=3, unique=True)):
        how = draw(st.sampled_from(["mutate", "mutate", "mutate", "drop", "error"]))
        if how == "drop":
            del rest[path]
        elif how == "error":
            rest[path] = draw(st.sampled_from(ERROR_BODIES))
        else:
            rest[path] = mutate_json(rest[path], data, REST)
    return rest, mode


@fuzz(300)
@given(case=mutated_rest())
def test_mutated_rest_bodies_build_or_raise_wire_error(
    case: tuple[dict[str, Any], Mode | None],
) -> None:
    check_snapshot(*case)


@fuzz(100)
@given(
    name=st.sampled_from(RECORDINGS),
    value=REST.values,
    mode=st.sampled_from([None, *Mode]),
    data=st.data(),
)
def test_any_value_as_a_body_builds_or_raises_wire_error(
    name: str, value: Any, mode: Mode | None, data: st.DataObject
) -> None:
    rest = dict(BASES[name])
    rest[data.draw(st.sampled_from(sorted(rest)))] = value
    check_snapshot(rest, mode)
