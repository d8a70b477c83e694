"""Backoff and rate-limit policies (monitor/alerts/retry.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts.retry import Backoff, TokenBucket


def test_backoff_doubles_up_to_the_cap() -> None:
    b = Backoff(base_s=0.5, factor=2.0, max_s=3.0)
    assert [b.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.delay_s(0) == 0.5
    assert b.delay_s(10_000) == 3.0


def test_constant_backoff() -> None:
    assert Backoff(base_s=1.0, factor=1.0, max_s=1.0).delay_s(500) == 1.0


@pytest.mark.parametrize(
    "kwargs", [{"base_s": 0.0}, {"factor": 0.5}, {"base_s": 2.0, "max_s": 1.0}]
)
def test_backoff_is_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


@given(st.integers(1, 10_000))
def test_backoff_is_monotonic_and_bounded(n: int) -> None:
    b = Backoff()
    assert b.base_s <= b.delay_s(n) <= b.delay_s(n + 1) <= b.max_s


def test_bucket_allows_a_burst_then_spaces_sends() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=2.0)
    assert bucket.acquire(0.0) == 0.0
    assert bucket.acquire(0.0) == 0.0
    assert bucket.acquire(0.0) == pytest.approx(0.5)
    assert bucket.acquire(0.25) == pytest.approx(0.25)
    assert bucket.acquire(0.5) == 0.0
    assert bucket.acquire(100.0) == 0.0 and bucket.tokens == pytest.approx(1.0)


def test_bucket_tolerates_a_clock_going_backwards() -> None:
    bucket = TokenBucket(rate_per_s=1.0)
    assert bucket.acquire(10.0) == 0.0
    assert bucket.acquire(5.0) == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [{"rate_per_s": 0.0}, {"rate_per_s": 1.0, "burst": 0.5}])
def test_bucket_is_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TokenBucket(**kwargs)
