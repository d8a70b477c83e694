"""The daily digest's schedule (monitor/service/digest.py): pure time logic."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from monitor.service.digest import next_digest_ms, parse_at


def ms(text: str, tz: object = UTC) -> int:
    at = datetime.fromisoformat(text)
    return int(at.replace(tzinfo=at.tzinfo or tz).timestamp() * 1000)  # type: ignore[arg-type]


def test_later_today_or_tomorrow_in_utc() -> None:
    assert next_digest_ms(ms("2025-03-01T07:59:59"), time(8, 0)) == ms("2025-03-01T08:00:00")
    assert next_digest_ms(ms("2025-03-01T08:00:00"), time(8, 0)) == ms("2025-03-02T08:00:00")
    assert next_digest_ms(ms("2025-12-31T23:30:00"), time(0, 0)) == ms("2026-01-01T00:00:00")


def test_local_zone_and_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 08:00 in Berlin is 07:00 UTC in winter, 06:00 UTC after the March change
    assert next_digest_ms(ms("2025-03-29T12:00:00"), time(8, 0), berlin) == ms(
        "2025-03-30T06:00:00"
    )
    assert next_digest_ms(ms("2025-03-28T12:00:00"), time(8, 0), berlin) == ms(
        "2025-03-29T07:00:00"
    )
    # 02:30 does not exist on 2025-03-30 in Berlin: it happens at 03:30 local (01:30 UTC)
    assert next_digest_ms(ms("2025-03-30T00:00:00"), time(2, 30), berlin) == ms(
        "2025-03-30T01:30:00"
    )


@pytest.mark.parametrize("bad", ["8", "8:0", "24:00", "12:60", "ab:cd", ""])
def test_parse_rejects_anything_but_hh_mm(bad: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_at(bad)


def test_parse() -> None:
    assert parse_at("08:00") == time(8, 0) and parse_at("23:59") == time(23, 59)
