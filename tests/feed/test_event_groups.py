"""Atomic event groups: a repayment's `liabilityChange` and its `outboundAccountPosition` are
applied together, so no figure, alert or risk sample sees the loan repaid but the cash unspent."""

from __future__ import annotations

from monitor.core.account_core import AccountCore
from monitor.core.ingest import SETTLE_MS, Replay
from monitor.examples import path as example
from monitor.feed.recording import Line, WsLine, read_recording


def _pm_lines() -> tuple[object, list[Line]]:
    meta, lines = read_recording(example("portfolio_margin"))
    return meta, list(lines)


def _event(line: Line) -> str | None:
    if isinstance(line, WsLine) and line.conn == "user" and isinstance(line.data, dict):
        name = line.data.get("e")
        return name if isinstance(name, str) else None
    return None


def _repay_at(lines: list[Line]) -> int:
    return next(i for i, line in enumerate(lines) if _event(line) == "liabilityChange")


def test_the_pair_is_applied_as_one_change() -> None:
    meta, lines = _pm_lines()
    k = _repay_at(lines)
    assert _event(lines[k + 1]) == "outboundAccountPosition"
    replay = Replay(meta)  # type: ignore[arg-type]
    for line in lines[:k]:
        replay.feed(line)
    assert replay.book is not None
    usdt = replay.book.state.assets["USDT"]
    loan, free, risk = usdt.loan, usdt.margin_free, replay.book.risk
    replay.feed(lines[k])  # liabilityChange: held
    assert replay.settling
    assert (usdt.loan, usdt.margin_free, replay.book.risk) == (loan, free, risk)
    replay.feed(lines[k + 1])  # outboundAccountPosition: the group is complete
    assert not replay.settling
    liability = lines[k].data  # type: ignore[union-attr]
    assert usdt.loan == float(liability["l"])
    assert usdt.margin_free == float(lines[k + 1].data["B"][0]["f"])  # type: ignore[union-attr]
    assert replay.counters["user_groups_held"] == 1


def test_no_risk_sample_sees_the_half_applied_repayment() -> None:
    meta, lines = _pm_lines()
    k = _repay_at(lines)
    timeline = AccountCore(meta)  # type: ignore[arg-type]
    for line in lines[: k + 2]:
        timeline.feed(line)
    t_repay, t_outbound = lines[k].t, lines[k + 1].t
    samples = [(t, r) for t, r in timeline.risks if t_repay <= t <= t_outbound]
    before = [r for t, r in timeline.risks if t < t_repay][-1]
    after = samples[-1]
    assert after[0] == t_outbound  # evaluated once both halves are in
    assert after[1] < before  # the repayment lowers risk (a smaller loan)
    replay = Replay(meta)  # type: ignore[arg-type]
    for line in [*lines[:k], lines[k]]:
        replay.feed(line)
    replay.release()  # what the half-applied state would have been
    assert replay.book is not None
    half = replay.book.risk
    assert half < after[1] - 0.01  # the overstated dip, points below the settled figure
    # every sample in the pair's interval is a settled state: before, or both halves applied
    assert {r for _, r in samples} <= {before, after[1]}


def test_a_lone_half_settles_when_the_window_ends() -> None:
    meta, lines = _pm_lines()
    k = _repay_at(lines)
    without_outbound = lines[: k + 1] + lines[k + 2 :]
    replay = Replay(meta)  # type: ignore[arg-type]
    for line in without_outbound[: k + 1]:
        replay.feed(line)
    assert replay.settling and replay.book is not None
    deadline = lines[k].t + SETTLE_MS
    later = [line for line in without_outbound[k + 1 :] if line.t < deadline]
    for line in later:
        replay.feed(line)
        assert replay.settling  # within the window: still held
    assert not replay.release_due(deadline - 1)
    assert replay.release_due(deadline)
    assert replay.book.state.assets["USDT"].loan == float(lines[k].data["l"])  # type: ignore[union-attr]


def test_the_timeline_clock_settles_a_lone_half_and_evaluates_it() -> None:
    meta, lines = _pm_lines()
    k = _repay_at(lines)
    timeline = AccountCore(meta)  # type: ignore[arg-type]
    for line in lines[: k + 1]:
        timeline.feed(line)
    assert timeline.settling
    n = len(timeline.risks)
    timeline.tick(lines[k].t + SETTLE_MS)
    assert not timeline.settling
    assert len(timeline.risks) == n + 1  # evaluated once, at the window's end
