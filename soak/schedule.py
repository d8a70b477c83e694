"""The fault schedule: what to inject when, deterministic for a (path, minutes, seed).

Times are seconds of playback (the recording's clock, which the simulator plays at speed 1).
Faults avoid the start-up lead, the tail (where deliveries drain), the long `kill` hold (which
holds only the SIGKILL and the restart) and the last seconds of every hold (kept quiet for the
state probe there). Silences go into base holds, one each, so the blindness they cause never
hides a level crossing. Counts scale with the minutes and never fall below the issue's minimums,
except connection losses, which the daemon's reconnect backoff paces (see `Plan`).

Two phases ride on the first cycle of every run (`phase_windows`), far from the notifier outage
and the SIGKILL: the *disk-full* window (the state directory's tmpfs filled while the risk
climbs to critical and emergency, then freed; no other fault from its start until the health
check after it) and the *slow-notifier* window (the webhook and Telegram sinks answer late
while the risk comes back down; the long base hold after it lets the Telegram stall end).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from soak.path import PricePath, Segment

#: The malformed varieties sent in bursts (oversized frames go one at a time: each costs the
#: connection, as a 2 MB frame exceeds the client's 1 MiB limit).
BURST_VARIETIES = ("truncated", "not_json", "wrong_types", "unknown_event", "wrong_shape")
REST_STATUSES = (500, 502, 503, 504, 429, 418)
#: How long before a hold's end the state probe runs, and how much quiet it needs before it.
PROBE_BEFORE_END_S = 1.0
QUIET_S = 2.5
SLOT_S = 0.25
#: Connection losses per burst on one stream, their spacing, and the quiet after a burst.
LOSSES_PER_BURST = 2
LOSS_SPACING_S = 2.5
STABLE_S = 7.0
MAX_BURST_S = 10.0
LOSS_KINDS = ("drop", "rotate")
#: After the disk is freed, this long without other faults (the /healthz 200 check).
DISK_AFTER_S = 8.0


@dataclass(frozen=True, slots=True)
class Action:
    """One step of the soak at playback second `t_s`."""

    t_s: float
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """Scaled fault counts for one run.

    Drops and rotations have no count here: `_loss_bursts` places connection losses as
    densely as the daemon's default reconnect backoff allows without going blind, about 9.5
    drops and 3.7 rotations a minute. The issue's 100 drops therefore need a run of 13 minutes
    or more; the 3-minute CI run has about 19.
    """

    expiries: int
    rest_bursts: int
    skews: int
    malformed: int
    oversized: int
    duplicates: int
    out_of_order: int
    burst_size: int = 50
    #: Upper bound on connection-loss bursts (the daemon's backoff decides how many fit).
    max_bursts: int = 10_000


def plan_for(minutes: float) -> Plan:
    """Counts for a run of `minutes`: the issue's minimums, more for longer runs."""
    m = max(minutes, 0.0)

    def at_least(floor: int, per_minute: float) -> int:
        return max(floor, math.ceil(per_minute * m))

    return Plan(
        expiries=at_least(10, 4),
        rest_bursts=at_least(6, 3),
        skews=at_least(2, 0.5),
        malformed=at_least(1000, 350),
        oversized=at_least(3, 1),
        duplicates=at_least(20, 8),
        out_of_order=at_least(20, 8),
    )


@dataclass(frozen=True, slots=True)
class Timing:
    """Daemon-facing durations (seconds)."""

    stale_after_s: float = 4.0
    silence_offset_s: float = 2.0
    kill_offset_s: float = 3.0
    restart_after_s: float = 1.0
    skew_ms: int = 15_000
    skew_hold_s: float = 6.0

    @property
    def silence_s(self) -> float:
        """A silence outlasts the deadline its blind alert is judged against (2 x stale_after):
        a shorter one would let a compliant daemon miss it when data resumes first."""
        return 2 * self.stale_after_s + 0.5


@dataclass(frozen=True, slots=True)
class Phases:
    """The playback seconds of the two phases, both on the first cycle of the path (a `full`
    one: warning 10 s, critical 17 s, emergency 24 s, de-escalation to critical 32 s, all-clear
    45 s into a 3-minute run).

    Disk full from `disk_fill_s` (just into the ramp to warning) to `disk_free_s` (the end of
    the critical hold): the warning and critical crossings happen while the outbox cannot be
    written. Slow notifiers from `slow_start_s` (just into the ramp to emergency): a request
    reaching a slow sink before its `slow_ends` time is answered late. The Telegram stand-in
    stalls on the emergency alert only (it ends 3 s into the emergency hold) while the
    de-escalation and the all-clear are decided, so both queue behind the stall; the webhook
    stays slow until 2 s into the base hold (emergency, de-escalation, all-clear). `settle_s`,
    the end of the base hold after the cycle, comes after every stall (and its queue) ended."""

    disk_fill_s: float
    disk_free_s: float
    slow_start_s: float
    slow_ends: tuple[tuple[str, float], ...]
    settle_s: float

    @property
    def slow_end_s(self) -> float:
        return max(t for _, t in self.slow_ends)


def phase_windows(path: PricePath) -> Phases:
    """Where the phases go on `path` (raises ValueError if its first cycle cannot hold them)."""
    segs = path.segments

    def first(kind: str, label: str, after: float = 0.0) -> Segment:
        for seg in segs:
            if seg.kind == kind and seg.label == label and seg.start_s >= after:
                return seg
        raise ValueError(f"the path has no {kind} {label!r} for the phases")

    to_warning = first("ramp", "to warning")
    critical = first("hold", "critical", to_warning.end_s)
    to_emergency = first("ramp", "to emergency", critical.end_s)
    emergency = first("hold", "emergency", to_emergency.end_s)
    base = first("hold", "base", emergency.end_s)
    phases = Phases(
        disk_fill_s=to_warning.start_s + 0.5,
        disk_free_s=critical.end_s,
        slow_start_s=to_emergency.start_s + 0.5,
        slow_ends=(("telegram", emergency.start_s + 3.0), ("webhook", base.start_s + 2.0)),
        settle_s=base.end_s,
    )
    if any(s.label in ("kill", "tail") for s in segs if s.start_s < base.end_s):
        raise ValueError("the path's first cycle cannot hold the disk-full and slow phases")
    return phases


def _free(t: float, path: PricePath, blocked: list[tuple[float, float]]) -> bool:
    for seg in path.segments:
        if seg.start_s <= t < seg.end_s:
            if seg.label in ("lead", "kill", "tail"):
                return False
            if seg.hold and t >= seg.end_s - QUIET_S:
                return False
    return not any(a <= t < b for a, b in blocked)


def _spread(n: int, slots: Sequence[float], rng: random.Random) -> list[float]:
    """`n` times spread evenly over `slots` (with seeded jitter within each share)."""
    if n <= 0 or not slots:
        return []
    share = len(slots) / n
    return [slots[min(len(slots) - 1, int(i * share + rng.random() * share))] for i in range(n)]


def outage_window(path: PricePath, kill: Segment) -> tuple[float, float]:
    """The SMTP + Telegram outage: about 30 % of the run (40 s to 600 s) around the kill, after
    the phases (a sink stopped while it holds a slow answer would make a duplicate)."""
    total = path.duration_s
    length = min(600.0, max(40.0, 0.3 * total))
    kill_t = kill.start_s + Timing().kill_offset_s
    start = max(path.segments[0].end_s + 2.0, kill_t - 0.6 * length,
                phase_windows(path).settle_s)
    return start, start + length


def build_schedule(
    path: PricePath,
    minutes: float,
    seed: int,
    user_event_times: Sequence[float],
    timing: Timing | None = None,
) -> list[Action]:
    """Every action of the run, in time order. `user_event_times` are the playback seconds of
    the recording's user events (what duplicate and out-of-order pushes copy)."""
    tm = timing or Timing()
    plan = plan_for(minutes)
    rng = random.Random(seed * 7919 + 1)
    actions: list[Action] = []
    phases = phase_windows(path)
    # No other fault around the free, until the health check after it (a dropped stream would
    # make /healthz 503 for reasons of its own).
    blocked: list[tuple[float, float]] = [
        (phases.disk_free_s - 1.0, phases.disk_free_s + DISK_AFTER_S)
    ]
    actions.append(Action(phases.disk_fill_s, "disk_fill"))
    actions.append(Action(phases.disk_free_s, "disk_free"))
    names = [name for name, _ in phases.slow_ends]
    actions.append(Action(phases.slow_start_s, "slow_start", {"sinks": names}))
    for name, end in phases.slow_ends:
        actions.append(Action(end, "slow_end", {"sinks": [name]}))
    actions.append(Action(phases.settle_s, "slow_settled"))

    for seg in path.holds():
        if seg.label in ("base", "tail"):
            start = seg.start_s + tm.silence_offset_s
            if start + tm.silence_s + 1.5 > seg.end_s - PROBE_BEFORE_END_S:
                raise ValueError(
                    f"a {seg.label} hold of {seg.end_s - seg.start_s:g} s cannot hold a"
                    f" {tm.silence_s:g} s silence (stale_after_s {tm.stale_after_s:g})"
                )
            conn = "all" if len(blocked) % 2 == 1 else "market"
            actions.append(Action(start, "silence", {"conn": conn, "seconds": tm.silence_s}))
            blocked.append((start - 1.0, start + tm.silence_s + 1.5))
        if seg.label != "lead" and seg.end_s - seg.start_s >= 4.0:
            actions.append(Action(seg.end_s - PROBE_BEFORE_END_S, "probe", {"hold": seg.label}))

    kill = path.holds("kill")[0]
    kill_t = kill.start_s + tm.kill_offset_s
    actions.append(Action(kill_t, "kill"))
    actions.append(Action(kill_t + tm.restart_after_s, "restart"))
    down, up = outage_window(path, kill)
    actions.append(Action(down, "sinks_down"))
    actions.append(Action(up, "sinks_up"))

    n_slots = int(path.duration_s / SLOT_S)
    slots = [i * SLOT_S for i in range(n_slots) if _free(i * SLOT_S, path, blocked)]

    actions += _loss_bursts(path, plan, blocked, rng)
    # A listenKey expiry stays 3 s clear of user-stream losses and 1 s of market ones.
    burst_spans = [
        (a.t_s - pad, a.t_s + pad)
        for a in actions
        if a.kind in LOSS_KINDS
        for pad in [3.0 if a.params.get("conn") == "user" else 1.0]
    ]
    quiet = [t for t in slots if not any(a <= t < b for a, b in burst_spans)]
    for t in _spread(plan.expiries, quiet, rng):
        actions.append(Action(t, "expire_listen_key", {"product": "um"}))
    for i, t in enumerate(_spread(plan.rest_bursts, slots, rng)):
        status = REST_STATUSES[i % len(REST_STATUSES)]
        spec: dict[str, Any] = {"status": status, "count": 2}
        if status in (418, 429):
            spec["retry_after_s"] = 1
        actions.append(Action(t, "rest_errors", spec))
    skew_slots = [t for t in slots if _free(t + tm.skew_hold_s, path, blocked)]
    for i, t in enumerate(_spread(plan.skews, skew_slots, rng)):
        ms = tm.skew_ms if i % 2 == 0 else -tm.skew_ms
        actions.append(Action(t, "skew_time", {"ms": ms}))
        actions.append(Action(t + tm.skew_hold_s, "skew_time", {"ms": 0}))
    bursts = math.ceil(plan.malformed / plan.burst_size)
    left = plan.malformed
    for i, t in enumerate(_spread(bursts, slots, rng)):
        count = min(plan.burst_size, left)
        left -= count
        conn = "user" if i % 4 == 3 else "market"
        actions.append(
            Action(
                t,
                "malformed",
                {"count": count, "conn": conn, "seed": rng.randrange(1 << 30),
                 "varieties": list(BURST_VARIETIES)},
            )
        )
    times = sorted(user_event_times)
    pushes = (("push_duplicate", plan.duplicates, 0), ("push_out_of_order", plan.out_of_order, 2))
    for kind, n, back in pushes:
        usable = [t for t in slots if _event_before(times, t, back) is not None]
        for t in _spread(n, usable, rng):
            actions.append(Action(t, kind, {"event": _event_before(times, t, back)}))
    actions.sort(key=lambda a: (a.t_s, a.kind))
    return actions


def _loss_bursts(
    path: PricePath, plan: Plan, blocked: list[tuple[float, float]], rng: random.Random
) -> list[Action]:
    """Connection losses in bursts per stream: `LOSSES_PER_BURST` losses `LOSS_SPACING_S`
    apart, then `STABLE_S` of peace on that stream, so the daemon's reconnect backoff (reset
    once a connection delivered data for 5 s, `healthy_after_s`) stays below the staleness
    limit. Market and user bursts alternate; losses are drops, server rotations (1001) and
    oversized frames (1009)."""
    out: list[Action] = []
    oversized = 0
    next_free = {"market": 0.0, "user": 0.0}
    conn = "market"
    t = path.segments[0].end_s
    n = 0
    while t < path.duration_s and n < plan.max_bursts:
        times = _burst_times(t, path, blocked) if t >= next_free[conn] else None
        if times is None:
            t += SLOT_S
            continue
        for k, at in enumerate(times):
            pick = rng.random()
            if conn == "market" and k == 1 and oversized < plan.oversized:
                oversized += 1
                seed = rng.randrange(1 << 30)
                spec = {"count": 1, "conn": "market", "seed": seed, "varieties": ["oversized"]}
                out.append(Action(at, "malformed", spec))
            elif pick < 0.25:
                out.append(Action(at, "rotate", {"conn": conn}))
            else:
                out.append(Action(at, "drop", {"conn": conn}))
        next_free[conn] = times[-1] + STABLE_S
        n += 1
        conn = "user" if conn == "market" else "market"
        t = times[-1] + LOSS_SPACING_S
    return out


def _burst_times(
    t: float, path: PricePath, blocked: list[tuple[float, float]]
) -> list[float] | None:
    """`LOSSES_PER_BURST` free times from `t`, each at least `LOSS_SPACING_S` after the last,
    all within `MAX_BURST_S`; None when they do not fit there."""
    if not _free(t, path, blocked):
        return None
    times = [t]
    at = t
    while len(times) < LOSSES_PER_BURST:
        at = times[-1] + LOSS_SPACING_S
        while not _free(at, path, blocked):
            at += SLOT_S
            if at - t > MAX_BURST_S:
                return None
        times.append(at)
    return times


def _event_before(times: Sequence[float], t: float, back: int) -> int | None:
    """The index of the user event `back` places before the last one played by `t`."""
    played = [i for i, at in enumerate(times) if at <= t - 0.5]
    if len(played) <= back:
        return None
    return played[-1 - back]


def fault_counts(actions: Sequence[Action]) -> Counter[str]:
    """Planned faults by kind (malformed counted in frames, oversized separately)."""
    counts: Counter[str] = Counter()
    for a in actions:
        if a.kind == "malformed":
            frames = int(a.params["count"])
            counts["malformed"] += frames
            if a.params["varieties"] == ["oversized"]:
                counts["oversized"] += frames
        elif a.kind == "rest_errors":
            counts[f"rest_{a.params['status']}"] += 1
        elif a.kind == "skew_time":
            if a.params["ms"]:
                counts["skew_time"] += 1
        elif a.kind == "disk_fill":
            counts["disk_full"] += 1
        elif a.kind == "slow_start":
            counts["slow_notifier"] += 1
        elif a.kind not in (
            "probe", "restart", "sinks_up", "disk_free", "slow_end", "slow_settled"
        ):
            counts[a.kind] += 1
    return counts
