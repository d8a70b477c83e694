"""The alert policy: a pure per-account state machine from observations and `now` to alert intents.

No asyncio, no clock, no IO. The service feeds events (`Risk` on every evaluated snapshot, `Tick`
at least once a second, freshness, drift and exchange signals) with `now_ms` (wall-clock epoch
milliseconds, like a recording's `t`); `AlertPolicy.step` returns the alert intents to deliver.

Levels are on risk (1.0 = liquidation in every mode). Escalation is immediate on each upward
crossing; leaving a level needs risk below `line - hysteresis` continuously for `dwell_ms`. An
episode (first escalation to all-clear) sends at most one de-escalation notice per descent, and an
all-clear at its end. Emergency repeats every `repeat_ms` while it holds. Level evaluation waits
until every watched source (marks of held symbols, user stream, REST) has been seen and none is
stale, so nothing is ever decided on stale state.

Alert ids are deterministic (account, kind, level, event time, topic): replaying the same events
yields the same ids, and a restart that sees new events yields new ones.

Humans answer back (`Ack`, `Snooze`, `Unsnooze`, each with the `now` it was given at): an ack
covers the current episode at the level it stands at (emergency repeats stop, and so does the
escalation of an unacknowledged emergency); a snooze silences, until it ends, repeats and every
alert at or below the level it was taken at (warning when taken with nothing raised). Neither
ever hides an alert of a higher level than the one acknowledged or snoozed, a fresh crossing into
emergency, anything decided at risk >= 1.0 (liquidation), or a blind monitor (`hides`). An
emergency not acknowledged within `escalate_after_ms` raises an ESCALATION (tag `escalation`),
repeated every `repeat_ms` until acknowledged or the level drops. Each episode has a stable
incident key (account and the episode's first level alert time): its alerts carry it and its
all-clear resolves it; blind/restored share one key too.
"""

from __future__ import annotations

from monitor.alerts.attention import Attention, hides
from monitor.alerts.exchange_signals import ExchangeSignals
from monitor.alerts.levels import (
    BY_RANK,
    TAG_ESCALATION,
    TAG_INFO,
    TAG_OPS,
    AlertIntent,
    AlertKind,
    Ladder,
    Level,
    level_tags,
    rank,
)
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import (
    AccountStatus,
    Ack,
    Drift,
    KeyPermissions,
    MarginCall,
    NegativeBalance,
    PolicyEvent,
    Risk,
    RiskLevelChange,
    Seen,
    Snooze,
    SourceDown,
    Tick,
    Unsnooze,
    Watch,
)
from monitor.alerts.rise_window import RiseWindow
from monitor.alerts.sight import Sight

_NOTHING: tuple[AlertIntent, ...] = ()
#: Kinds that belong to an episode (they carry its incident key).
_EPISODE_KINDS = frozenset(
    {
        AlertKind.LEVEL,
        AlertKind.REPEAT,
        AlertKind.DEESCALATION,
        AlertKind.ALL_CLEAR,
        AlertKind.ESCALATION,
        AlertKind.RAPID,
    }
)


class AlertPolicy:
    """The alert state machine of one account."""

    def __init__(self, account: str, config: PolicyConfig | None = None) -> None:
        self.account = account
        self.config = cfg = config or PolicyConfig()
        self._lines = cfg.lines
        self._acct_tag = frozenset({account})
        self._risk: float | None = None
        self._fresh = False  # the last risk was evaluated with every source fresh
        self._level = 0
        self._peak = 0
        self._below_since: int | None = None
        self._deesc_sent = False
        self._emergency_sent_ms = 0
        self._rise = RiseWindow(cfg.rapid_window_ms, max(1, cfg.rapid_window_ms // 60))
        self._rapid_armed = True
        self._sight = sight = Sight(cfg.stale_after_ms)
        # The sight's containers, never rebound: the per-tick path reads them without a hop.
        self._seen = sight.seen
        self._unseen = sight.unseen
        self._down = sight.down
        self._blind_since: int | None = None
        self._signals = ExchangeSignals(cfg, self._intent)
        self._episode_ms: int | None = None  # the episode's first level alert (incident key)
        self._attention = Attention()
        self._emergency_since = 0
        self._escalated_ms: int | None = None

    # ---- read-only state ----

    @property
    def level(self) -> Level | None:
        return BY_RANK[self._level]

    @property
    def risk(self) -> float | None:
        return self._risk

    @property
    def blind(self) -> bool:
        return self._blind_since is not None

    @property
    def last_seen(self) -> dict[str, int]:
        """When each watched source last delivered (ms); absent sources were never seen."""
        return dict(self._seen)

    @property
    def incident(self) -> str:
        """The stable key of the episode in progress ("" with nothing raised)."""
        return "" if self._episode_ms is None else f"{self.account}:{self._episode_ms}"

    def attention(self, now_ms: int) -> Attention:
        """The ack of the current episode and the snooze in force at `now_ms` (what is
        persisted and shown); stale ones (another episode, a snooze that ended) are dropped."""
        self._attention = att = self._attention.current(self.incident, now_ms)
        return att

    def restore(self, attention: Attention, now_ms: int) -> None:
        """Take back what humans said before a restart (after `resume`): an ack only if it
        belongs to the episode that resumed, a snooze only if it has not ended."""
        self._attention = attention
        self.attention(now_ms)

    @property
    def evaluating(self) -> bool:
        """True when a fresh risk would be evaluated: every watched source seen and none stale."""
        return self._blind_since is None and not self._unseen

    # ---- entry points ----

    def resume(self, ladder: Ladder, now_ms: int) -> None:
        """Continue from the ladder a previous run left (after a restart or crash): the level it
        announced stands, so the same level is not announced again; a lower risk then walks down
        (de-escalation, all-clear) and a higher one escalates, as if the run had not stopped.
        The exchange's account status resumes too: only a status that changed is announced."""
        if ladder.status is not None:
            self._signals.status = ladder.status
        if ladder.kind is AlertKind.ALL_CLEAR:
            level = 0
        elif ladder.kind is AlertKind.REPEAT:
            level = 3
        else:
            level = rank(ladder.level)
        self._level = level
        self._peak = max(level, rank(ladder.peak)) if level else 0
        self._deesc_sent = ladder.kind is AlertKind.DEESCALATION
        self._below_since = None
        self._episode_ms = (ladder.episode_ms or now_ms) if level else None
        self._escalated_ms = None
        if level == 3:
            self._emergency_sent_ms = now_ms
            self._emergency_since = now_ms

    def step(self, event: PolicyEvent, now_ms: int) -> tuple[AlertIntent, ...]:
        """Apply one event at `now_ms`; return the intents it causes (usually none)."""
        match event:
            case Risk(risk):
                return self.on_risk(risk, now_ms)
            case Tick():
                return self.on_tick(now_ms)
            case Seen(source):
                return self.seen(source, now_ms)
            case SourceDown(source, reason):
                return self._quiet(list(self._on_source_down(source, reason, now_ms)), now_ms)
            case Ack():
                self._ack(now_ms)
                return _NOTHING
            case Snooze(until_ms):
                self._snooze(until_ms, now_ms)
                return _NOTHING
            case Unsnooze():
                self._attention = self.attention(now_ms).without_snooze()
                return _NOTHING
            case Watch(sources, limits):
                return self._quiet(list(self._on_watch(sources, now_ms, limits)), now_ms)
            case Drift():
                return self._signals.drift(event, now_ms)
            case KeyPermissions(enabled):
                return self._signals.key(enabled, now_ms)
            case MarginCall():
                return self._quiet(list(self._signals.margin_call(now_ms)), now_ms)
            case RiskLevelChange(status, uni_mmr):
                out = self._signals.risk_level_change(status, uni_mmr, now_ms)
                return self._quiet(list(out), now_ms)
            case AccountStatus(status):
                return self._quiet(list(self._signals.status_change(status, now_ms)), now_ms)
            case NegativeBalance(asset, amount):
                return self._quiet(list(self._signals.negative(asset, amount, now_ms)), now_ms)
        raise TypeError(f"not a policy event: {event!r}")

    def on_risk(self, risk: float, now_ms: int) -> tuple[AlertIntent, ...]:
        """The per-tick fast path: O(1) amortised, allocates only when it alerts."""
        self._risk = risk
        if self._blind_since is not None or self._unseen:
            return _NOTHING
        self._fresh = True
        out: list[AlertIntent] = []
        # Below the first line with nothing raised, the ladder has nothing to do (the usual tick).
        escalated = (self._level or risk >= self._lines[0]) and self._evaluate(risk, now_ms, out)
        low = self._rise.push(risk, now_ms)
        rise = risk - low
        if rise >= self.config.rapid_rise:
            if self._rapid_armed:
                self._rapid_armed = False
                if not escalated:
                    detail = f"risk rose {rise * 100:.1f} points (from {low * 100:.1f} %)"
                    lv = BY_RANK[max(self._level, 1)]
                    out.append(self._intent(AlertKind.RAPID, None, now_ms, lv, detail=detail))
        elif rise < self.config.rapid_rise / 2:
            self._rapid_armed = True
        return self._quiet(out, now_ms) if out else _NOTHING

    def on_tick(self, now_ms: int) -> tuple[AlertIntent, ...]:
        """The once-a-second clock: staleness, and the dwell/repeat timers of a raised level."""
        quiet = self._blind_since is None and not (self._fresh and self._level)
        if quiet and not self._sight.stale(now_ms):
            return _NOTHING  # the common case: in sight and nothing raised
        out: list[AlertIntent] = []
        self._check_sight(now_ms, out)
        if self._fresh and self._level and self._risk is not None:
            self._evaluate(self._risk, now_ms, out)
        return self._quiet(out, now_ms) if out else _NOTHING

    # ---- humans answering back ----

    def _ack(self, now_ms: int) -> None:
        att = self.attention(now_ms)
        if not self._level:
            return  # nothing raised: nothing to acknowledge
        level = max(self._level, rank(att.ack_level))
        self._attention = att.acked(BY_RANK[level], now_ms, self.incident)

    def _snooze(self, until_ms: int, now_ms: int) -> None:
        att = self.attention(now_ms)
        if until_ms <= now_ms:
            self._attention = att.without_snooze()
            return
        self._attention = att.snoozed(BY_RANK[max(self._level, 1)], until_ms)

    def _quiet(self, out: list[AlertIntent], now_ms: int) -> tuple[AlertIntent, ...]:
        """`out` without what an ack or snooze hides (`hides`)."""
        att = self._attention
        if att.empty or not out:
            return tuple(out)
        att = self.attention(now_ms)
        return tuple(i for i in out if not hides(i, att, now_ms))

    def _escalate(self, now_ms: int, out: list[AlertIntent]) -> None:
        """An emergency unacknowledged for `escalate_after_ms`: page the `escalation` tag, then
        again every `repeat_ms` until acknowledged or the level drops."""
        after = self.config.escalate_after_ms
        if not after:
            return
        att = self._attention
        if rank(att.ack_level) >= 3 and att.ack_incident == self.incident:
            return
        last = self._escalated_ms
        if last is None:
            if now_ms - self._emergency_since < after:
                return
        elif now_ms - last < self.config.repeat_ms:
            return
        self._escalated_ms = now_ms
        waited = (now_ms - self._emergency_since) / 1000
        detail = f"emergency unacknowledged for {waited:.0f} s"
        out.append(
            self._intent(AlertKind.ESCALATION, Level.EMERGENCY, now_ms, detail=detail, page=True)
        )

    # ---- levels ----

    def _target(self, risk: float) -> int:
        lines = self._lines
        up = 3 if risk >= lines[2] else 2 if risk >= lines[1] else 1 if risk >= lines[0] else 0
        if up > self._level:
            return up
        k = self._level
        while k and risk < lines[k - 1] - self.config.hysteresis:
            k -= 1
        return k

    def _evaluate(self, risk: float, now_ms: int, out: list[AlertIntent]) -> bool:
        """Move along the ladder; return True when this update escalated."""
        target = self._target(risk)
        level = self._level
        if target > level:
            if not level:
                self._episode_ms = now_ms
            self._level = target
            self._peak = max(self._peak, target)
            self._deesc_sent = False
            self._below_since = None
            out.append(self._intent(AlertKind.LEVEL, BY_RANK[target], now_ms))
            if target == 3:
                self._emergency_sent_ms = now_ms
                self._emergency_since = now_ms
                self._escalated_ms = None
            return True
        if target == level:
            self._below_since = None
        elif self._below_since is None:
            self._below_since = now_ms
        if self._below_since is not None and now_ms - self._below_since >= self.config.dwell_ms:
            self._descend(target, now_ms, out)
        elif level == 3 and now_ms - self._emergency_sent_ms >= self.config.repeat_ms:
            self._emergency_sent_ms = now_ms
            out.append(self._intent(AlertKind.REPEAT, Level.EMERGENCY, now_ms))
        if self._level == 3:
            self._escalate(now_ms, out)
        return False

    def _descend(self, target: int, now_ms: int, out: list[AlertIntent]) -> None:
        left = BY_RANK[self._level]
        self._level = target
        self._below_since = None
        self._escalated_ms = None
        if target == 0:
            peak = BY_RANK[self._peak]
            self._peak = 0
            out.append(self._intent(AlertKind.ALL_CLEAR, None, now_ms, peak, peak=peak, info=True))
            self._episode_ms = None  # the all-clear carried the incident key; it is resolved
            self._attention = self._attention.without_ack()
        elif not self._deesc_sent:
            self._deesc_sent = True
            out.append(
                self._intent(
                    AlertKind.DEESCALATION, BY_RANK[target], now_ms, left, peak=left, info=True
                )
            )

    # ---- freshness ----

    def _on_source_down(self, source: str, reason: str, now_ms: int) -> tuple[AlertIntent, ...]:
        if source not in self._seen:
            return _NOTHING
        self._down[source] = reason
        out: list[AlertIntent] = []
        self._check_sight(now_ms, out)
        return tuple(out)

    def _on_watch(
        self, sources: frozenset[str], now_ms: int, limits: tuple[tuple[str, int], ...] = ()
    ) -> tuple[AlertIntent, ...]:
        self._sight.watch(sources, now_ms, limits)
        return self._restore_if_sighted(now_ms)

    def seen(self, source: str, now_ms: int) -> tuple[AlertIntent, ...]:
        """`step(Seen(source))` without the event object (called for every fresh tick)."""
        seen = self._seen
        if source not in seen:
            return _NOTHING
        seen[source] = now_ms
        if self._unseen:
            self._unseen.discard(source)
        if self._down:
            self._down.pop(source, None)
        return self._restore_if_sighted(now_ms) if self._blind_since is not None else _NOTHING

    def _check_sight(self, now_ms: int, out: list[AlertIntent]) -> None:
        if self._blind_since is not None:
            out.extend(self._restore_if_sighted(now_ms))
            return
        stale = self._sight.stale(now_ms)
        if stale:
            self._blind_since = now_ms
            self._fresh = False
            self._below_since = None
            down = [f"{s}: {self._down[s]}" for s in stale if s in self._down]
            late = [s for s in stale if s not in self._down]
            shown = ", ".join(late[:5]) + (f" and {len(late) - 5} more" if len(late) > 5 else "")
            limit = self.config.stale_after_ms // 1000
            parts = down + ([f"no fresh data for over {limit} s: {shown}"] if late else [])
            detail = "; ".join(parts)
            out.append(
                self._intent(
                    AlertKind.BLIND, None, now_ms, self.level, ops=True, detail=detail,
                    incident=f"{self.account}:blind:{now_ms}",
                )
            )

    def _restore_if_sighted(self, now_ms: int) -> tuple[AlertIntent, ...]:
        since = self._blind_since
        if since is None or self._unseen or self._sight.any_stale(now_ms):
            return _NOTHING
        self._blind_since = None
        # Data stamped before the blind start (a REST group fetched across it, a wall clock
        # stepped back) restores sight no earlier than the blind start: never a negative span.
        at = max(now_ms, since)
        detail = f"blind for {(at - since) / 1000:.0f} s; levels resume on the next snapshot"
        return (
            self._intent(
                AlertKind.RESTORED, None, at, self.level, ops=True, info=True, detail=detail,
                incident=f"{self.account}:blind:{since}",
            ),
        )

    # ---- construction ----

    def _intent(
        self,
        kind: AlertKind,
        level: Level | None,
        now_ms: int,
        audience: Level | None = None,
        *,
        peak: Level | None = None,
        ops: bool = False,
        info: bool = False,
        topic: str = "",
        detail: str = "",
        page: bool = False,
        incident: str | None = None,
    ) -> AlertIntent:
        """Build an intent; `audience` is the level whose subscribers must hear it; `page`:
        only the `escalation` tag hears it."""
        if page:
            tags = self._acct_tag | {TAG_ESCALATION}
        else:
            tags = level_tags(audience or level) | self._acct_tag
        if incident is None:
            incident = self.incident if kind in _EPISODE_KINDS else ""
        att = self._attention
        acked = att.ack_level if att.ack_incident == incident else None
        snoozed = (
            att.snooze_until_ms
            if att.snooze_level is not None and now_ms < att.snooze_until_ms
            else None
        )
        if ops:
            tags |= {TAG_OPS}
        if info:
            tags |= {TAG_INFO}
        parts = [self.account, str(kind), str(level or "-"), str(now_ms)]
        if topic:
            parts.append(topic)
        return AlertIntent(
            alert_id="/".join(parts),
            account=self.account,
            kind=kind,
            level=level,
            risk=self._risk,
            t_ms=now_ms,
            tags=tags,
            topic=topic,
            detail=detail,
            peak=peak,
            incident=incident,
            acked=acked if incident else None,
            snoozed_until_ms=snoozed,
        )
