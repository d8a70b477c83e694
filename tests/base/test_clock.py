"""The one wall clock (monitor/base/clock.py)."""

from __future__ import annotations

import time

from monitor.base.clock import wall_ms


def test_wall_ms_is_the_epoch_in_milliseconds() -> None:
    before = int(time.time() * 1000)
    now = wall_ms()
    after = int(time.time() * 1000)
    assert isinstance(now, int) and before - 1 <= now <= after + 1
