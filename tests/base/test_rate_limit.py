"""The token bucket that spaces sends to a destination (monitor/base/rate_limit.py)."""

from __future__ import annotations

import pytest

from monitor.base.rate_limit import TokenBucket


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
