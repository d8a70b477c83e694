"""`Sight.any_stale` (the blind account's per-tick question) agrees with `Sight.stale` (the list
the blind alert names) on any state: sources seen at any time, some down, some with their own
larger limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerts.sight import Sight
from tests.budgets import examples

SOURCES = ("mark:BTCUSDT", "mark:ETHUSDT", "user_stream", "index:BNB", "rest")


@settings(max_examples=examples(300), deadline=None)
@given(
    seen=st.dictionaries(st.sampled_from(SOURCES), st.integers(0, 60_000), min_size=0),
    down=st.sets(st.sampled_from(SOURCES)),
    limits=st.dictionaries(st.sampled_from(SOURCES), st.integers(0, 90_000)),
    stale_after_ms=st.integers(1, 30_000),
    now=st.integers(0, 120_000),
)
def test_any_stale_is_whether_stale_names_a_source(
    seen: dict[str, int], down: set[str], limits: dict[str, int], stale_after_ms: int,
    now: int,
) -> None:
    sight = Sight(stale_after_ms)
    sight.watch(frozenset(seen), 0, tuple(limits.items()))
    sight.seen.update(seen)
    sight.down.update({s: "lost" for s in down if s in seen})
    assert sight.any_stale(now) == bool(sight.stale(now))
