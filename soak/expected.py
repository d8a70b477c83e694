"""What should fire: the recording through the pure pipeline (`AccountCore`, as `replay` does).

Only the ladder alerts are compared with the sinks: `level` (up), `deescalation` and
`all_clear` (down), keyed by (account, kind, level). Blind, restored, drift, exchange and
repeat alerts depend on injected faults and timing; they are classified, not matched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.alerts.levels import AlertKind
from monitor.alerts.policy_config import PolicyConfig
from monitor.core.account_core import AccountCore
from monitor.feed.recording import Line, Meta

#: The ladder kinds: what the price path alone decides.
LADDER = (AlertKind.LEVEL, AlertKind.DEESCALATION, AlertKind.ALL_CLEAR)
UP = "up"
DOWN = "down"


@dataclass(frozen=True, slots=True)
class Key:
    """An alert as matched: account, kind and level (`-` for none)."""

    account: str
    kind: str
    level: str

    @property
    def direction(self) -> str:
        return UP if self.kind == AlertKind.LEVEL else DOWN

    def __str__(self) -> str:
        return f"{self.kind}/{self.level}"


def key_of_id(alert_id: str) -> Key | None:
    """The key of an alert id `account/kind/level/t_ms[/topic]`; None if it is not one."""
    parts = alert_id.split("/")
    if len(parts) < 4:
        return None
    return Key(parts[0], parts[1], parts[2])


def expected_alerts(meta: Meta, lines: Iterable[Line], config: PolicyConfig) -> list[Key]:
    """The ladder alerts the pure pipeline decides for the recording, in order."""
    return [key for key, _ in expected_timed(meta, lines, config)]


def expected_timed(
    meta: Meta, lines: Iterable[Line], config: PolicyConfig
) -> list[tuple[Key, int]]:
    """`expected_alerts` with each alert's decision time (ms, the recording's clock)."""
    timeline = AccountCore(meta, config)
    out: list[tuple[Key, int]] = []
    for line in lines:
        for timed in timeline.feed(line).alerts:
            intent = timed.intent
            if intent.kind in LADDER:
                level = "-" if intent.level is None else str(intent.level)
                out.append((Key(intent.account, str(intent.kind), level), intent.t_ms))
    return out
