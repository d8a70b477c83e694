"""The soak's price path: holds and ramps whose marks cross every alert level, as a recording.

The risk climbs through warning, critical and emergency and falls back in cycles drawn (seeded)
from a few templates, with flat *holds* at each level long enough that a crossing survives a
dropped connection, and short linear ramps between them. Time is seconds from the first frame;
the simulator plays it at speed 1, so recording time and the daemon's wall clock agree. One
mark frame per second (Binance's `@markPrice@1s`), plus state-neutral user events (balance
restatements and far-away orders) for the duplicate / out-of-order pushes to copy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from monitor.engine.brackets import Bracket
from monitor.feed.recording import Line, Meta, RestLine, WsLine
from soak.account import (
    Account,
    account_update,
    brackets_of,
    mark_frame,
    order_update,
    rest_bodies,
    template_bodies,
)

#: Risk of each hold kind (levels 0.70 / 0.85 / 0.95, hysteresis 0.03).
RISK = {
    "base": 0.45,
    "warning": 0.78,
    "critical": 0.90,
    "emergency": 0.975,
    "critical_down": 0.885,
    "warning_down": 0.76,
    # Critical, low enough that the frame halfway down to base (0.665) is below the warning
    # line's hysteresis band: the descent is one all-clear whatever the tick timing.
    "kill": 0.88,
}
TEMPLATES: dict[str, tuple[str, ...]] = {
    "full": ("warning", "critical", "emergency", "critical_down", "warning_down"),
    "zigzag": (
        "warning", "critical", "warning_down", "critical", "emergency", "critical_down",
        "warning_down",
    ),
    "short": ("warning", "critical", "warning_down"),
}
#: The first cycles of every run, before the seeded draw.
OPENING = ("full", "zigzag")
ACCOUNT_NAME = "soak"
#: The risk the `kill` hold sits at (critical); the other holds named here sit at `base`.
KILL_LEVEL = "kill"
BASE_LABELS = ("base", "tail", "lead")
FRAME_MS = 1000


@dataclass(frozen=True, slots=True)
class Timings:
    """Segment lengths in seconds."""

    lead_s: float = 8.0
    hold_s: float = 5.0
    base_s: float = 13.0  # holds an 8.5 s silence (stale_after 4 s) and a probe
    kill_hold_s: float = 14.0
    ramp_s: float = 2.0
    tail_s: float = 25.0
    #: The base hold after the first cycle: long enough for the slow-notifier phase's
    #: Telegram stall (32 s from the emergency crossing at the latest 27 s in, then its queue)
    #: to end before the next crossing.
    phase_base_s: float = 20.0


@dataclass(frozen=True, slots=True)
class Segment:
    """`hold` (flat) or `ramp` from `risk_from` to `risk_to` over [start_s, end_s)."""

    kind: str
    label: str
    start_s: float
    end_s: float
    risk_from: float
    risk_to: float

    @property
    def hold(self) -> bool:
        return self.kind == "hold"


@dataclass(slots=True)
class PricePath:
    """The segments of one soak, plus what the recording needs."""

    segments: list[Segment]
    account: Account = field(default_factory=Account)
    cycles: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.segments[-1].end_s if self.segments else 0.0

    def holds(self, label: str | None = None) -> list[Segment]:
        return [s for s in self.segments if s.hold and (label is None or s.label == label)]

    def risk_at(self, t_s: float) -> float:
        for seg in self.segments:
            if seg.start_s <= t_s < seg.end_s:
                if seg.hold:
                    return seg.risk_from
                frac = (t_s - seg.start_s) / (seg.end_s - seg.start_s)
                return seg.risk_from + (seg.risk_to - seg.risk_from) * frac
        return self.segments[-1].risk_to


def build_path(minutes: float, seed: int, timings: Timings | None = None) -> PricePath:
    """Cycles of seeded templates filling `minutes`; after the cycle that ends about 40 % in
    (never the first: its crossings and the long base hold after it host the disk-full and
    slow-notifier phases, see `schedule.phase_windows`), the long `kill` hold at `KILL_LEVEL`
    (then back to base); the last hold is the `tail`, where deliveries drain. A run too short
    for that ends with a `kill` hold at base (its last base hold, unless that is the first)."""
    tm = timings or Timings()
    rng = random.Random(seed)
    total = minutes * 60.0
    segs: list[Segment] = []
    now = 0.0

    def hold(label: str, length: float) -> None:
        nonlocal now
        risk = RISK[KILL_LEVEL if label == "kill" else "base" if label in BASE_LABELS else label]
        segs.append(Segment("hold", label, now, now + length, risk, risk))
        now += length

    def ramp(to: str) -> None:
        nonlocal now
        start = segs[-1].risk_to
        segs.append(Segment("ramp", f"to {to}", now, now + tm.ramp_s, start, RISK[to]))
        now += tm.ramp_s

    hold("lead", tm.lead_s)
    names = list(TEMPLATES)
    cycles: list[str] = []
    killed = False
    budget = total - tm.tail_s
    def length(name: str) -> float:
        return len(TEMPLATES[name]) * (tm.hold_s + tm.ramp_s) + tm.ramp_s + tm.base_s

    while True:
        # `full` then `zigzag` open every run: between them, a descent from emergency, a descent
        # from critical alone and a re-escalation, so even the 3-minute CI run has each. Then
        # seeded templates; `short` when nothing longer fits.
        name = OPENING[len(cycles)] if len(cycles) < len(OPENING) else (
            names[rng.randrange(len(names))]
        )
        if now + length(name) > budget and cycles:
            name = "short"
            if now + length(name) > budget:
                break
        levels = TEMPLATES[name]
        cycles.append(name)
        for level in levels:
            ramp(level)
            hold(level, tm.hold_s)
        if not killed and len(cycles) > 1 and now + tm.ramp_s >= 0.40 * total:
            # The SIGKILL happens at a raised level, with its alerts queued (the outage): the
            # restarted daemon must deliver them and must not announce the level again.
            killed = True
            ramp(KILL_LEVEL)
            hold("kill", tm.kill_hold_s)
        ramp("base")
        hold("base", tm.phase_base_s if len(cycles) == 1 else tm.base_s)
    if not killed:
        start = segs[-1].start_s if len(cycles) > 1 else now
        if len(cycles) > 1:
            segs.pop()
        segs.append(Segment("hold", "kill", start, start + tm.kill_hold_s, RISK["base"],
                            RISK["base"]))
        now = segs[-1].end_s
    hold("tail", max(tm.tail_s, total - now))
    return PricePath(segs, Account(), cycles)


def recording(path: PricePath, t0_ms: int) -> tuple[Meta, list[Line]]:
    """The recording of `path` starting at `t0_ms`: REST snapshot, marks, user events."""
    acct = path.account
    _, bracket = template_bodies()
    table = brackets_of(bracket)
    marks = {label: acct.mark_for(risk, table) for label, risk in RISK.items()}
    first = marks["base"]
    lines: list[Line] = [
        RestLine(t0_ms - 500, "GET", rest_path, body)
        for rest_path, body in rest_bodies(acct, first, t0_ms - 500).items()
    ]
    frames = int(path.duration_s * 1000 // FRAME_MS)
    order_id = 7_000_000
    for k in range(frames + 1):
        t_s = k * FRAME_MS / 1000
        mark = _mark(path, t_s, marks, acct, table)
        t = t0_ms + k * FRAME_MS
        lines.append(WsLine(t, "market", mark_frame(mark, t - 5)))
        if k % 20 == 10:
            lines.append(WsLine(t + 300, "user", account_update(acct, mark, t + 290)))
        if k % 30 == 15:
            order_id += 1
            status = "NEW" if k % 60 == 15 else "CANCELED"
            lines.append(WsLine(t + 400, "user", order_update(t + 390, order_id, status)))
    meta = Meta(account=ACCOUNT_NAME, mode="usdm", environment="custom", started=t0_ms - 1000)
    return meta, lines


def _mark(
    path: PricePath, t_s: float, marks: dict[str, float], acct: Account, table: list[Bracket]
) -> float:
    """The mark at `t_s`: a hold's exact level mark, or the mark of the ramp's risk."""
    for seg in path.segments:
        if seg.start_s <= t_s < seg.end_s:
            if seg.hold:
                return marks[seg.label if seg.label in RISK else "base"]
            return acct.mark_for(path.risk_at(t_s), table)
    return marks["base"]
