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

from collections import deque
from dataclasses import dataclass, field
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

_BY_RANK: tuple[Level | None, ...] = (None, Level.WARNING, Level.CRITICAL, Level.EMERGENCY)


def rank(level: Level | None) -> int:
    """0 for no level, 1 warning, 2 critical, 3 emergency."""
    return 0 if level is None else _BY_RANK.index(level)


def level_tags(level: Level | None) -> frozenset[str]:
    """Level tags are cumulative: a destination tagged `critical` hears critical and emergency."""
    return frozenset(str(lv) for lv in _BY_RANK[1 : rank(level) + 1])


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
class PolicyConfig:
    """Thresholds and timings of one account's policy (fractions of risk, milliseconds)."""

    warning: float = 0.70
    critical: float = 0.85
    emergency: float = 0.95
    hysteresis: float = 0.03
    dwell_ms: int = 5_000
    repeat_ms: int = 60_000
    rapid_rise: float = 0.15
    rapid_window_ms: int = 600_000
    stale_after_ms: int = 15_000
    drift_rel_tol: float = 0.02
    drift_abs_tol: float = 0.005
    exchange_dedup_ms: int = 300_000
    #: An emergency unacknowledged this long escalates (0: never).
    escalate_after_ms: int = 300_000

    def __post_init__(self) -> None:
        if not 0.0 < self.warning < self.critical < self.emergency:
            raise ValueError(
                f"alert levels must rise: warning {self.warning} < critical {self.critical}"
                f" < emergency {self.emergency}, all above 0"
            )
        if self.hysteresis < 0.0 or self.dwell_ms < 0 or self.repeat_ms <= 0:
            raise ValueError("hysteresis and dwell_ms must be >= 0 and repeat_ms > 0")
        if self.rapid_rise <= 0.0 or self.rapid_window_ms <= 0 or self.stale_after_ms <= 0:
            raise ValueError("rapid_rise, rapid_window_ms and stale_after_ms must be > 0")
        if self.escalate_after_ms < 0:
            raise ValueError("escalate_after_ms must be >= 0")

    @property
    def lines(self) -> tuple[float, float, float]:
        return (self.warning, self.critical, self.emergency)


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


# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Risk:
    """A freshly evaluated snapshot's risk."""

    risk: float


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes (the service ticks at least once a second)."""


@dataclass(frozen=True, slots=True)
class Watch:
    """The sources that must stay fresh: e.g. `mark:BTCUSDT`, `user_stream`, `index:BTC`.

    `limits` gives a source its own staleness limit (ms) where it is not `stale_after_ms`:
    inputs that are polled rather than streamed (a PM asset index price without a streamed
    proxy, the bracket and collateral tables) refresh more slowly than a stream; a limit below
    `stale_after_ms` is raised to it."""

    sources: frozenset[str]
    limits: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Seen:
    """A watched source delivered fresh data (or proved alive) at `now`."""

    source: str


@dataclass(frozen=True, slots=True)
class SourceDown:
    """A watched source is known to be out of date now, before its staleness limit: e.g. the
    user stream while the REST resync that must follow its gap keeps failing. Blind at once,
    with `reason`; the source's next `Seen` clears it."""

    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Drift:
    """A local figure next to the exchange's own value of it."""

    figure: str
    local: float
    exchange: float


@dataclass(frozen=True, slots=True)
class MarginCall:
    """The exchange pushed a margin call."""


@dataclass(frozen=True, slots=True)
class RiskLevelChange:
    """Portfolio Margin `riskLevelChange` with its status (MARGIN_CALL, REDUCE_ONLY, ...)."""

    status: str
    uni_mmr: float | None = None


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """The account status the exchange reports (NORMAL, MARGIN_CALL, REDUCE_ONLY, ...)."""

    status: str


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """What the account's API key may do beyond reading (e.g. "futures trading", "withdrawals")."""

    enabled: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NegativeBalance:
    """An asset balance; below zero means auto-conversion is pending."""

    asset: str
    amount: float


@dataclass(frozen=True, slots=True)
class Ack:
    """A human acknowledged the account's current episode (at the level it stands at)."""

    by: str = ""


@dataclass(frozen=True, slots=True)
class Snooze:
    """A human silenced repeats and levels up to the current one until `until_ms`."""

    until_ms: int
    by: str = ""


@dataclass(frozen=True, slots=True)
class Unsnooze:
    """A human ended the snooze early."""


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


PolicyEvent = (
    Risk
    | Tick
    | Watch
    | Seen
    | SourceDown
    | Drift
    | MarginCall
    | RiskLevelChange
    | AccountStatus
    | NegativeBalance
    | KeyPermissions
    | Ack
    | Snooze
    | Unsnooze
)

_NOTHING: tuple[AlertIntent, ...] = ()


@dataclass(slots=True)
class _RiseWindow:
    """Sliding minimum of risk over a window, in buckets: O(1) amortised, bounded memory.

    Values are kept per bucket (1/60 of the window), so the window reaches back up to one bucket
    further than `window_ms`: a slightly more sensitive test, never a missed rise.
    """

    window_ms: int
    bucket_ms: int
    mins: deque[tuple[int, float]] = field(default_factory=deque)

    def push(self, risk: float, now_ms: int) -> float:
        """Record `risk` and return the minimum over the window (including it)."""
        bucket = now_ms - now_ms % self.bucket_ms
        mins = self.mins
        while mins and mins[0][0] + self.bucket_ms + self.window_ms <= now_ms:
            mins.popleft()
        if not (mins and mins[-1][0] == bucket and mins[-1][1] <= risk):
            while mins and mins[-1][1] >= risk:
                mins.pop()
            mins.append((bucket, risk))
        return mins[0][1]


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


_LEVEL_NAMES = frozenset(str(level) for level in Level)
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
        self._rise = _RiseWindow(cfg.rapid_window_ms, max(1, cfg.rapid_window_ms // 60))
        self._rapid_armed = True
        self._seen: dict[str, int] = {}
        self._unseen: set[str] = set()
        self._limits: dict[str, int] = {}  # per-source staleness limits above stale_after_ms
        self._down: dict[str, str] = {}  # sources known out of date now, with the reason
        self._blind_since: int | None = None
        self._drifting: set[str] = set()
        self._exchange_sent: dict[str, int] = {}
        self._status: str | None = None
        self._negative: set[str] = set()
        self._episode_ms: int | None = None  # the episode's first level alert (incident key)
        self._attention = Attention()
        self._emergency_since = 0
        self._escalated_ms: int | None = None

    # ---- read-only state ----

    @property
    def level(self) -> Level | None:
        return _BY_RANK[self._level]

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
        att = self._attention
        if att.ack_level is not None and att.ack_incident != self.incident:
            att = Attention(snooze_level=att.snooze_level, snooze_until_ms=att.snooze_until_ms)
        if att.snooze_level is not None and now_ms >= att.snooze_until_ms:
            att = Attention(att.ack_level, att.ack_ms, att.ack_incident)
        self._attention = att
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
            self._status = ladder.status
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
                att = self.attention(now_ms)
                self._attention = Attention(att.ack_level, att.ack_ms, att.ack_incident)
                return _NOTHING
            case Watch(sources, limits):
                return self._quiet(list(self._on_watch(sources, now_ms, limits)), now_ms)
            case Drift():
                return self._on_drift(event, now_ms)
            case KeyPermissions(enabled):
                return self._on_key(enabled, now_ms)
            case MarginCall():
                out = self._exchange("MARGIN_CALL", Level.CRITICAL, "margin call", now_ms)
                return self._quiet(list(out), now_ms)
            case RiskLevelChange(status, uni_mmr):
                note = f"riskLevelChange {status}" + (
                    f" (uniMMR {uni_mmr:.3f})" if uni_mmr is not None else ""
                )
                topic = f"riskLevelChange:{status}"
                return self._quiet(
                    list(self._exchange(topic, status_level(status), note, now_ms)), now_ms
                )
            case AccountStatus(status):
                return self._quiet(list(self._on_status(status, now_ms)), now_ms)
            case NegativeBalance(asset, amount):
                return self._quiet(list(self._on_negative(asset, amount, now_ms)), now_ms)
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
                    lv = _BY_RANK[max(self._level, 1)]
                    out.append(self._intent(AlertKind.RAPID, None, now_ms, lv, detail=detail))
        elif rise < self.config.rapid_rise / 2:
            self._rapid_armed = True
        return self._quiet(out, now_ms) if out else _NOTHING

    def on_tick(self, now_ms: int) -> tuple[AlertIntent, ...]:
        """The once-a-second clock: staleness, and the dwell/repeat timers of a raised level."""
        quiet = self._blind_since is None and not (self._fresh and self._level)
        if quiet and not self._stale(now_ms):
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
        self._attention = Attention(
            _BY_RANK[level], now_ms, self.incident, att.snooze_level, att.snooze_until_ms
        )

    def _snooze(self, until_ms: int, now_ms: int) -> None:
        att = self.attention(now_ms)
        if until_ms <= now_ms:
            self._attention = Attention(att.ack_level, att.ack_ms, att.ack_incident)
            return
        level = _BY_RANK[max(self._level, 1)]
        self._attention = Attention(att.ack_level, att.ack_ms, att.ack_incident, level, until_ms)

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
            out.append(self._intent(AlertKind.LEVEL, _BY_RANK[target], now_ms))
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
        left = _BY_RANK[self._level]
        self._level = target
        self._below_since = None
        self._escalated_ms = None
        if target == 0:
            peak = _BY_RANK[self._peak]
            self._peak = 0
            out.append(self._intent(AlertKind.ALL_CLEAR, None, now_ms, peak, peak=peak, info=True))
            self._episode_ms = None  # the all-clear carried the incident key; it is resolved
            att = self._attention
            self._attention = Attention(
                snooze_level=att.snooze_level, snooze_until_ms=att.snooze_until_ms
            )
        elif not self._deesc_sent:
            self._deesc_sent = True
            out.append(
                self._intent(
                    AlertKind.DEESCALATION, _BY_RANK[target], now_ms, left, peak=left, info=True
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
        base = self.config.stale_after_ms
        self._limits = {s: ms for s, ms in limits if s in sources and ms > base}
        for gone in self._down.keys() - sources:
            del self._down[gone]
        for gone in self._seen.keys() - sources:
            del self._seen[gone]
            self._unseen.discard(gone)
        for new in sources - self._seen.keys():
            self._seen[new] = now_ms
            self._unseen.add(new)
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

    def _stale(self, now_ms: int) -> list[str]:
        oldest = now_ms - self.config.stale_after_ms
        seen = self._seen
        down = self._down
        if not down and (not seen or min(seen.values()) >= oldest):
            return []  # the common case, checked without building anything
        limits = self._limits
        return sorted(
            s
            for s, t in seen.items()
            if s in down or (t < oldest and (s not in limits or t < now_ms - limits[s]))
        )

    def _check_sight(self, now_ms: int, out: list[AlertIntent]) -> None:
        if self._blind_since is not None:
            out.extend(self._restore_if_sighted(now_ms))
            return
        stale = self._stale(now_ms)
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
        if since is None or self._unseen or self._stale(now_ms):
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

    # ---- drift and exchange signals ----

    def _on_drift(self, event: Drift, now_ms: int) -> tuple[AlertIntent, ...]:
        cfg = self.config
        gap = abs(event.local - event.exchange)
        tol = cfg.drift_abs_tol + cfg.drift_rel_tol * max(abs(event.local), abs(event.exchange))
        if gap <= tol:
            self._drifting.discard(event.figure)
            return _NOTHING
        if event.figure in self._drifting:
            return _NOTHING
        self._drifting.add(event.figure)
        detail = f"{event.figure}: local {event.local:.6g} vs exchange {event.exchange:.6g}"
        return (
            self._intent(
                AlertKind.DRIFT, None, now_ms, None, ops=True, topic=event.figure, detail=detail
            ),
        )

    def _on_key(self, enabled: tuple[str, ...], now_ms: int) -> tuple[AlertIntent, ...]:
        if not enabled:
            return _NOTHING
        detail = (
            f"the API key allows {', '.join(enabled)}; a monitor needs only reading — restrict "
            "the key (Binance API management) or create a read-only one"
        )
        return (
            self._intent(
                AlertKind.EXCHANGE, None, now_ms, None, ops=True, topic="api-key", detail=detail
            ),
        )

    def _exchange(
        self, topic: str, level: Level | None, detail: str, now_ms: int
    ) -> tuple[AlertIntent, ...]:
        last = self._exchange_sent.get(topic)
        if last is not None and now_ms - last < self.config.exchange_dedup_ms:
            return _NOTHING
        self._exchange_sent[topic] = now_ms
        return (
            self._intent(
                AlertKind.EXCHANGE,
                level,
                now_ms,
                level,
                info=level is None,
                topic=topic,
                detail=detail,
            ),
        )

    def _on_status(self, status: str, now_ms: int) -> tuple[AlertIntent, ...]:
        previous, self._status = self._status, status
        if status == previous or (previous is None and status_level(status) is None):
            return _NOTHING
        detail = f"account status {previous or 'unknown'} → {status}"
        return self._exchange(f"accountStatus:{status}", status_level(status), detail, now_ms)

    def _on_negative(self, asset: str, amount: float, now_ms: int) -> tuple[AlertIntent, ...]:
        if amount >= 0.0:
            self._negative.discard(asset)
            return _NOTHING
        if asset in self._negative:
            return _NOTHING
        self._negative.add(asset)
        detail = f"negative {asset} balance {amount:.8g}: auto-conversion pending"
        return (
            self._intent(
                AlertKind.EXCHANGE,
                Level.WARNING,
                now_ms,
                Level.WARNING,
                topic=f"negativeBalance:{asset}",
                detail=detail,
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
