"""The wall clock in milliseconds since the Unix epoch, the unit of every Binance time.

`wall_ms` is the one place the code reads the wall clock for stamping: REST replies and stream
frames (their receive time `t`, recording.md §2), outbox rows and the daemon's status. Modules
that need a clock take it as an argument defaulting to this function, so tests pass their own.
"""

from __future__ import annotations

import time


def wall_ms() -> int:
    """Milliseconds since the Unix epoch, from the system's wall clock."""
    return time.time_ns() // 1_000_000
