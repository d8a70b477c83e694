"""The daily digest: when it is due and what it says (pure: no clock, no IO).

`[heartbeat] digest_at = "HH:MM"` names a local wall-clock time in the alerts' time zone; the
digest is due at the first such moment after the previous one was sent (or after start-up).
Daylight-saving gaps and folds are resolved by `zoneinfo` (a skipped 02:30 happens at 03:30).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from monitor.alerts.levels import AlertIntent, AlertKind
from monitor.alerts.messages import RenderedAlert, pct, telegram_html, when


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


# ---------------------------------------------------------------------------------------------
# What the digest says (pure: the daemon gathers the inputs)

DAY_MS = 86_400_000


class RiskPeaks:
    """Each account's highest risk over the last 24 h, in hourly buckets (bounded: 24 per
    account), fed once a second by the daemon's clock."""

    def __init__(self, window_ms: int = DAY_MS, buckets: int = 24) -> None:
        self.bucket_ms = window_ms // buckets
        self.buckets = buckets
        self._peaks: dict[str, dict[int, float]] = {}

    def observe(self, account: str, risk: float, now_ms: int) -> None:
        hour = now_ms // self.bucket_ms
        peaks = self._peaks.setdefault(account, {})
        if risk > peaks.get(hour, float("-inf")):
            peaks[hour] = risk
        if len(peaks) > self.buckets:
            for old in sorted(peaks)[: len(peaks) - self.buckets]:
                del peaks[old]

    def peak(self, account: str, now_ms: int) -> float | None:
        """The highest risk seen in the window ending at `now_ms` (None: nothing seen)."""
        first = now_ms // self.bucket_ms - self.buckets + 1
        values = [r for hour, r in self._peaks.get(account, {}).items() if hour >= first]
        return max(values) if values else None


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One account in the digest."""

    name: str
    state: str  # live | blind | starting | error
    risk: float | None  # now
    peak: float | None  # highest over the last 24 h
    level: str | None  # the alert level now


def digest_message(
    now_ms: int,
    accounts: list[AccountLine],
    alerts: Counter[tuple[str, str | None]],
    tag: str,
    tz: tzinfo = UTC,
) -> tuple[AlertIntent, RenderedAlert]:
    """The digest alert: every account (state, risk now, 24 h peak, level) and the alerts of the
    last 24 h by kind and level; routed to destinations tagged `tag` only."""
    intent = AlertIntent(
        alert_id=f"-/digest/-/{now_ms}",
        account="",
        kind=AlertKind.DIGEST,
        level=None,
        risk=max((a.peak for a in accounts if a.peak is not None), default=None),
        t_ms=now_ms,
        tags=frozenset({tag}),
    )
    worst = max(accounts, key=lambda a: -1.0 if a.peak is None else a.peak, default=None)
    head = f"DIGEST marginwatch: {len(accounts)} account(s) over the last 24 h"
    if worst is not None and worst.peak is not None:
        head += f"; highest risk {pct(worst.peak)} ({worst.name})"
    lines = [head]
    for a in sorted(accounts, key=lambda a: (-(a.peak or 0.0), a.name)):
        level = f", alert level {a.level}" if a.level else ""
        lines.append(
            f"{a.name}: {a.state}, risk now {pct(a.risk)}, 24 h peak {pct(a.peak)}{level}"
        )
    total = sum(alerts.values())
    if total:
        parts = [
            f"{kind}{'/' + level if level else ''} {n}"
            for (kind, level), n in sorted(alerts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        ]
        lines.append(f"Alerts in the last 24 h: {total} ({', '.join(parts)})")
    else:
        lines.append("Alerts in the last 24 h: none")
    footer = f"{when(now_ms, tz)} · alert {intent.alert_id}"
    at = datetime.fromtimestamp(now_ms / 1000, UTC)
    peak = f"; highest {pct(intent.risk)}" if intent.risk is not None else ""
    message = RenderedAlert(
        subject=f"[DIGEST] marginwatch: {len(accounts)} account(s), {total} alert(s) in 24 h"
        f"{peak}",
        text="\n".join([*lines, footer]),
        html=telegram_html(lines, footer),
        line=f"{at:%Y-%m-%dT%H:%M:%SZ} DIGEST {len(accounts)} account(s), {total} alert(s)"
        f" in 24 h{peak}",
    )
    return intent, message
