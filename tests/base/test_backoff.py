"""Retry delays (monitor/base/backoff.py): the jittered `Backoff` of reconnects and REST retries,
the per-failure `FailureBackoff` of notifier deliveries, and their shared exponential curve."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.base.backoff import Backoff, FailureBackoff, nominal_delay_s


def test_failure_backoff_doubles_up_to_the_cap() -> None:
    b = FailureBackoff(base_s=0.5, factor=2.0, cap_s=3.0)
    assert [b.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.delay_s(0) == 0.5
    assert b.delay_s(10_000) == 3.0


def test_constant_failure_backoff() -> None:
    assert FailureBackoff(base_s=1.0, factor=1.0, cap_s=1.0).delay_s(500) == 1.0


def test_failure_backoff_defaults() -> None:
    b = FailureBackoff()
    assert (b.base_s, b.factor, b.cap_s) == (1.0, 2.0, 300.0)
    assert [b.delay_s(n) for n in (1, 2, 9, 10)] == [1.0, 2.0, 256.0, 300.0]


@pytest.mark.parametrize("cls", [Backoff, FailureBackoff])
@pytest.mark.parametrize(
    "kwargs", [{"base_s": 0.0}, {"factor": 0.5}, {"base_s": 2.0, "cap_s": 1.0}]
)
def test_backoff_is_validated(
    cls: type[Backoff | FailureBackoff], kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        cls(**kwargs)


@given(st.integers(1, 10_000))
def test_failure_backoff_is_monotonic_and_bounded(n: int) -> None:
    b = FailureBackoff()
    assert b.base_s <= b.delay_s(n) <= b.delay_s(n + 1) <= b.cap_s


def test_backoff_defaults_and_nominal_curve() -> None:
    b = Backoff()
    assert (b.base_s, b.factor, b.cap_s, b.attempts) == (0.5, 2.0, 30.0, 0)
    assert [b.nominal(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert b.nominal(10**9) == 30.0  # no overflow far past the cap


def test_backoff_jitter_is_between_half_and_the_whole_nominal_delay() -> None:
    low = Backoff(base_s=1.0, cap_s=60.0, rng=lambda: 0.0)
    assert [low.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]
    high = Backoff(base_s=1.0, cap_s=60.0, rng=lambda: 0.999)
    assert high.next_delay() == pytest.approx(0.9995)
    assert high.attempts == 1


def test_backoff_reset_starts_over() -> None:
    b = Backoff(base_s=0.5, rng=lambda: 0.0)
    assert [b.next_delay() for _ in range(3)] == [0.25, 0.5, 1.0]
    b.reset()
    assert b.attempts == 0 and b.next_delay() == 0.25


@given(st.integers(0, 10_000), st.floats(0.0, 0.999))
def test_backoff_delay_is_bounded(attempts: int, u: float) -> None:
    b = Backoff(rng=lambda: u, attempts=attempts)
    nominal = b.nominal(attempts)
    assert b.base_s / 2 <= nominal / 2 <= b.next_delay() <= nominal <= b.cap_s


@given(st.floats(0.01, 10.0), st.floats(1.0, 10.0), st.floats(0.0, 1000.0), st.integers(0, 200))
def test_shared_curve_is_monotonic_and_capped(
    base_s: float, factor: float, extra_s: float, n: int
) -> None:
    cap_s = base_s + extra_s
    here, after = (nominal_delay_s(base_s, factor, cap_s, k) for k in (n, n + 1))
    assert base_s <= here <= after <= cap_s
