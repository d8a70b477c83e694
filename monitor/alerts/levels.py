"""The vocabulary of alerts: levels, kinds, routing tags, and the `AlertIntent` a decision produces.

Pure values shared by the policy (`alerts/policy.py`), the outbox, the worker, messages and the
report. A level's rank orders them (0: none, 3: emergency); level tags are cumulative (a
destination tagged `critical` hears critical and emergency). `Ladder` is the last level-ladder
alert persisted for an account, what `AlertPolicy.resume` continues from after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """Alert levels, lowest first."""

    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"


class AlertKind(StrEnum):
    LEVEL = "level"  # an upward crossing
    REPEAT = "repeat"  # emergency still holds
    DEESCALATION = "deescalation"
    ALL_CLEAR = "all_clear"
    RAPID = "rapid"
    BLIND = "blind"
    RESTORED = "restored"
    DRIFT = "drift"
    EXCHANGE = "exchange"
    OUTBOX = "outbox"  # daemon-wide: the alert outbox cannot be written / works again
    DIGEST = "digest"  # daemon-wide: the daily summary (`[heartbeat] digest_at`)
    ESCALATION = "escalation"  # an emergency nobody acknowledged within `escalate_after_ms`


#: Routing tags besides account names.
TAG_OPS = "ops"
TAG_INFO = "info"
TAG_ESCALATION = "escalation"
CATEGORY_TAGS = frozenset(
    {Level.WARNING, Level.CRITICAL, Level.EMERGENCY, TAG_OPS, TAG_INFO, TAG_ESCALATION}
)

BY_RANK: tuple[Level | None, ...] = (None, Level.WARNING, Level.CRITICAL, Level.EMERGENCY)


def rank(level: Level | None) -> int:
    """0 for no level, 1 warning, 2 critical, 3 emergency."""
    return 0 if level is None else BY_RANK.index(level)


def level_tags(level: Level | None) -> frozenset[str]:
    """Level tags are cumulative: a destination tagged `critical` hears critical and emergency."""
    return frozenset(str(lv) for lv in BY_RANK[1 : rank(level) + 1])


#: Exchange-reported account statuses and the level they deserve (others: warning; NORMAL: none).
_STATUS_LEVEL = {
    "NORMAL": None,
    "MARGIN_CALL": Level.CRITICAL,
    "SUPPLY_MARGIN": Level.CRITICAL,
    "REDUCE_ONLY": Level.EMERGENCY,
    "ACTIVE_LIQUIDATION": Level.EMERGENCY,
    "FORCE_LIQUIDATION": Level.EMERGENCY,
    "BANKRUPTED": Level.EMERGENCY,
}


def status_level(status: str) -> Level | None:
    return _STATUS_LEVEL.get(status.upper(), Level.WARNING)



@dataclass(frozen=True, slots=True)
class AlertIntent:
    """One decision to alert; the heavy figures for its message are attached by the caller."""

    alert_id: str
    account: str
    kind: AlertKind
    level: Level | None
    risk: float | None
    t_ms: int
    tags: frozenset[str]
    topic: str = ""  # what an exchange / drift / blind alert is about
    detail: str = ""  # human-readable specifics
    peak: Level | None = None  # de-escalation: the level left; all-clear: the episode's peak
    incident: str = ""  # the episode (or blind span) this alert belongs to; all-clear resolves
    acked: Level | None = None  # the level a human acknowledged in this episode
    snoozed_until_ms: int | None = None  # a snooze in force when the alert was decided

    @property
    def rank(self) -> int:
        return rank(self.level)

    @property
    def coalesce_key(self) -> str:
        """Queued alerts with the same key supersede each other (newest wins)."""
        return f"{self.account}/{self.kind}/{self.topic}"


@dataclass(frozen=True, slots=True)
class Ladder:
    """The last level-ladder alert persisted for an account (what `AlertPolicy.resume` reads):
    its kind, its level, the highest level raised since the last all-clear, and the account
    status the exchange last reported in an alert (None: never alerted on one)."""

    kind: AlertKind
    level: Level | None
    peak: Level | None
    status: str | None = None
    episode_ms: int | None = None  # when the episode in progress began (its incident key)

