"""What humans said about an account (`Attention`: an ack, a snooze) and what it quiets (`hides`).

Pure: the policy filters its intents through `hides`; the outbox persists `Attention` and the
service shows it. Never hidden: a level above the acknowledged / snoozed one, a crossing into
emergency, anything decided at risk >= 1.0, a blind monitor, an all-clear.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerts.levels import AlertIntent, AlertKind, Level, rank


@dataclass(frozen=True, slots=True)
class Attention:
    """What humans said about an account (persisted; see `AlertPolicy.attention`): the level
    acknowledged in the episode `ack_incident` (0 ms: none), and a snooze."""

    ack_level: Level | None = None
    ack_ms: int = 0
    ack_incident: str = ""
    snooze_level: Level | None = None
    snooze_until_ms: int = 0

    @property
    def empty(self) -> bool:
        return self.ack_level is None and self.snooze_level is None

    def current(self, incident: str, now_ms: int) -> Attention:
        """Without an ack of another episode than `incident` or a snooze ended by `now_ms`."""
        att = self
        if att.ack_level is not None and att.ack_incident != incident:
            att = att.without_ack()
        if att.snooze_level is not None and now_ms >= att.snooze_until_ms:
            att = att.without_snooze()
        return att

    def without_ack(self) -> Attention:
        return Attention(snooze_level=self.snooze_level, snooze_until_ms=self.snooze_until_ms)

    def without_snooze(self) -> Attention:
        return Attention(self.ack_level, self.ack_ms, self.ack_incident)

    def acked(self, level: Level | None, now_ms: int, incident: str) -> Attention:
        """Acknowledged at `level` in `incident` at `now_ms`, the snooze kept."""
        return Attention(level, now_ms, incident, self.snooze_level, self.snooze_until_ms)

    def snoozed(self, level: Level | None, until_ms: int) -> Attention:
        """Snoozed up to `level` until `until_ms`, the ack kept."""
        return Attention(self.ack_level, self.ack_ms, self.ack_incident, level, until_ms)


_LEVEL_NAMES = frozenset(str(level) for level in Level)
#: Kinds an ack or snooze can quiet; anything else (blind, restored, all-clear, drift...) is sent.
_QUIETABLE = frozenset(
    {
        AlertKind.LEVEL,
        AlertKind.REPEAT,
        AlertKind.RAPID,
        AlertKind.EXCHANGE,
        AlertKind.DEESCALATION,
        AlertKind.ESCALATION,
    }
)


def audience_rank(intent: AlertIntent) -> int:
    """The highest level whose subscribers hear `intent` (its level, or its cumulative level
    tags: a de-escalation is heard at the level it left), at least 1."""
    tagged = max((rank(Level(t)) for t in intent.tags if t in _LEVEL_NAMES), default=0)
    return max(rank(intent.level), tagged, 1)


def hides(intent: AlertIntent, attention: Attention, now_ms: int) -> bool:
    """Whether an ack or snooze in `attention` quiets `intent` (pure; the policy's filter).

    Never: a level above the acknowledged / snoozed one, a crossing into emergency, anything
    decided at risk >= 1.0, a blind monitor, an all-clear. An ack quiets the repeats and the
    escalation of its episode's level; a snooze quiets, while it lasts, whatever is at or below
    its level (de-escalation notices included)."""
    if intent.kind not in _QUIETABLE:
        return False
    if intent.risk is not None and intent.risk >= 1.0:
        return False
    if intent.kind is AlertKind.LEVEL and intent.level is Level.EMERGENCY:
        return False
    if intent.kind is AlertKind.EXCHANGE and intent.level is None:
        return False  # not a level: an account status or key notice is always said
    audience = audience_rank(intent)
    acked = rank(attention.ack_level)
    if (
        acked
        and intent.kind in (AlertKind.REPEAT, AlertKind.ESCALATION)
        and audience <= acked
        and intent.incident == attention.ack_incident
    ):
        return True
    snoozed = rank(attention.snooze_level)
    return bool(snoozed) and now_ms < attention.snooze_until_ms and audience <= snoozed

