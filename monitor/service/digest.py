"""When the daily digest is due (pure: no clock, no IO).

`[heartbeat] digest_at = "HH:MM"` names a local wall-clock time in the alerts' time zone; the
digest is due at the first such moment after the previous one was sent (or after start-up).
Daylight-saving gaps and folds are resolved by `zoneinfo` (a skipped 02:30 happens at 03:30).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, tzinfo


def parse_at(text: str) -> time:
    """"08:00" → 08:00; raises ValueError for anything but HH:MM (00:00 to 23:59)."""
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"give a time as HH:MM, not {text!r}")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"give a time as HH:MM between 00:00 and 23:59, not {text!r}")
    return time(h, m)


def next_digest_ms(now_ms: int, at: time, tz: tzinfo = UTC) -> int:
    """The first moment strictly after `now_ms` when the local clock in `tz` shows `at`."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz)
    day = now.date()
    for offset in range(3):
        local = datetime.combine(day + timedelta(days=offset), at, tzinfo=tz)
        moment = local.astimezone(UTC).astimezone(tz)  # normalises a skipped local time
        due_ms = int(moment.timestamp() * 1000)
        if due_ms > now_ms:
            return due_ms
    raise AssertionError("unreachable: a local time recurs within two days")
