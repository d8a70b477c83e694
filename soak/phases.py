"""The disk-full and slow-notifier phases: the tmpfs under the daemon's state directory (mount,
fill until ENOSPC, free, unmount) and the pure verdicts of both phases.

Disk full: the state directory is a tmpfs of its own. At the fill the soak writes a filler file
until not one more byte fits (ENOSPC) and tops it up every half second; at the free it removes
it. The fill comes before the daemon's first write-ahead-log checkpoint (30 s after its start),
so the log has never been rewound: every write must grow it and fails on the full disk. (Later,
a rewound log's already allocated pages would take a few more alerts, and a correct daemon
would not notice the full disk yet.) The soak never opens the outbox for writing while the
daemon runs: another process's connection closing would take the daemon's write-ahead log
away while its file locks are dropped (see README, "Soak").

Slow notifiers: judged from the sinks' receipts (arrival times of the same alert at every sink)
and the webhook's `Idempotency-Key` headers.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.alerts.sender import idempotency_key
from soak.expected import Key
from soak.matching import SinkResult

OUTBOX_FILE = "outbox.sqlite3"
FILLER = "soak-filler"
#: The kind of the daemon's own "outbox cannot be written / writable again" alerts.
OUTBOX_KIND = "outbox"
_HELD = re.compile(r"\((\d+) alert write")


def in_ci(env: Mapping[str, str] | None = None) -> bool:
    """Whether this run is CI's (`CI=true`, as CI services set it)."""
    value = (os.environ if env is None else env).get("CI", "")
    return value.strip().lower() in ("true", "1", "yes")


# ---------------------------------------------------------------------------- the tmpfs
class Disk:
    """A tmpfs of `size_mb` mounted on the daemon's state directory (root only)."""

    def __init__(self, state_dir: Path, size_mb: int) -> None:
        self.state_dir = state_dir
        self.size_mb = size_mb
        self.mounted = False
        #: Why the phase could not run (None: it can).
        self.skipped: str | None = None
        self.filled_bytes = 0
        self.enospc = False
        #: Between `fill` and `free`; the lock keeps a top-up from re-creating a freed filler.
        self.full = False
        self._lock = threading.Lock()

    def mount(self) -> None:
        """Mount the tmpfs (mode 0700); on failure `skipped` says why."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if shutil.which("mount") is None:
            self.skipped = "skipped: cannot mount (no mount command)"
            return
        options = f"size={self.size_mb}m,mode=0700"
        argv = ["mount", "-t", "tmpfs", "-o", options, "marginwatch-soak", str(self.state_dir)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.skipped = f"skipped: cannot mount ({type(exc).__name__})"
            return
        if done.returncode != 0:
            lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            self.skipped = f"skipped: cannot mount ({lines[0] if lines else done.returncode})"
            return
        self.mounted = True

    def unmount(self, copy_to: Path) -> None:
        """Copy the outbox files out (for --keep), then unmount (lazily if still busy)."""
        if not self.mounted:
            return
        with contextlib.suppress(OSError):
            copy_to.mkdir(mode=0o700, exist_ok=True)
            for file in self.state_dir.glob(OUTBOX_FILE + "*"):
                shutil.copy2(file, copy_to / file.name)
        for argv in (["umount", str(self.state_dir)], ["umount", "-l", str(self.state_dir)]):
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
                if done.returncode == 0:
                    break
        self.mounted = False

    def fill(self) -> int:
        """Fill the disk until not one more byte fits (blocking); the filler's size."""
        with self._lock:
            self.full = True
        return self.top_up()

    def top_up(self) -> int:
        """While full: write to the filler until not one more byte fits; its size."""
        with self._lock:
            if not self.full:
                return 0
            return self._top_up()

    def _top_up(self) -> int:
        path = self.state_dir / FILLER
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            chunk = 1 << 20
            block = b"\0" * chunk
            while chunk:
                try:
                    os.write(fd, block[:chunk])
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    self.enospc = True
                    chunk //= 2
        finally:
            os.close(fd)
        size = path.stat().st_size
        self.filled_bytes = max(self.filled_bytes, size)
        return size

    def free(self) -> None:
        with self._lock:
            self.full = False
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / FILLER).unlink()


def held_writes(problems: Sequence[str]) -> int:
    """The held-writes count a /healthz outbox problem names (0 if none)."""
    for problem in problems:
        match = _HELD.search(problem)
        if match and "outbox" in problem:
            return int(match.group(1))
    return 0


# ---------------------------------------------------------------------------- observations
@dataclass(slots=True)
class HealthSample:
    """One /healthz answer during the disk-full phase (playback seconds)."""

    t_s: float
    status: int
    outbox_problem: bool
    held: int = 0


@dataclass(slots=True)
class DiskObs:
    """What the disk-full phase saw."""

    status: str = "not run"
    ci: bool = False
    tmpfs_mb: int = 0
    fill_s: float | None = None
    free_s: float | None = None
    filler_bytes: int = 0
    enospc: bool = False
    samples: list[HealthSample] = field(default_factory=list)
    write_failures: float | None = None
    #: Every alert id in the outbox after the run, in the order it was persisted.
    outbox_order: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SlowObs:
    """What the slow-notifier phase was set up as, and the daemon's counters after it."""

    start_s: float | None = None
    ends: dict[str, float] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=dict)
    fast_lag_max_s: float = 3.0
    #: /metrics after the phase: unanswered attempts, possible duplicates, failed attempts.
    daemon: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A receipt as the phases judge it: alert id, playback second, idempotency key, delay."""

    alert_id: str | None
    at_s: float
    key: str | None = None
    delay_s: float = 0.0


# ---------------------------------------------------------------------------- verdicts
def _kind(alert_id: str) -> str:
    parts = alert_id.split("/")
    return parts[1] if len(parts) > 1 else ""


def _window_ladder(
    expected: Sequence[tuple[Key, float]],
    start: float,
    end: float,
    sinks: Sequence[SinkResult],
    arrivals: Mapping[str, Sequence[Arrival]],
) -> tuple[list[int], dict[str, dict[str, int]], set[str]]:
    """Expected alerts decided in [start, end): their indices, per-sink counts (delivered,
    coalesced, lost, duplicates) and the daemon's ids for them."""
    indices = [i for i, (_, t) in enumerate(expected) if start <= t < end]
    per_sink: dict[str, dict[str, int]] = {}
    ids: set[str] = set()
    for s in sinks:
        got = Counter(a.alert_id for a in arrivals.get(s.sink, ()) if a.alert_id)
        row = {"delivered": 0, "coalesced": 0, "lost": 0, "duplicates": 0}
        for i in indices:
            alert_id = s.matched.get(i)
            if alert_id is None:
                row["lost"] += 1
                continue
            ids.add(alert_id)
            if got[alert_id]:
                row["delivered"] += 1
                row["duplicates"] += got[alert_id] - 1
            else:
                row["coalesced"] += 1
        per_sink[s.sink] = row
    return indices, per_sink, ids


def judge_disk(
    obs: DiskObs,
    expected: Sequence[tuple[Key, float]],
    sinks: Sequence[SinkResult],
    arrivals: Mapping[str, Sequence[Arrival]],
    healthy_within_s: float,
) -> dict[str, Any]:
    """The disk-full phase's figures and verdict (`pass`)."""
    doc: dict[str, Any] = {"status": obs.status, "tmpfs_mb": obs.tmpfs_mb}
    if obs.status != "ran" or obs.fill_s is None or obs.free_s is None:
        doc["pass"] = obs.status != "ran" and not obs.ci and obs.status.startswith("skipped")
        if obs.ci and obs.status.startswith("skipped"):
            doc["why_failed"] = "the disk-full phase cannot be skipped in CI (CI=true)"
        return doc
    fill, free = obs.fill_s, obs.free_s
    indices, per_sink, ids = _window_ladder(expected, fill, free, sinks, arrivals)
    ops: dict[str, dict[str, int]] = {}
    ops_dupes = 0
    for s in sinks:
        row = {"failing": 0, "recovered": 0}
        got = Counter(
            a.alert_id for a in arrivals.get(s.sink, ())
            if a.alert_id and _kind(a.alert_id) == OUTBOX_KIND and a.at_s >= fill
        )
        for alert_id, n in got.items():
            topic = alert_id.rsplit("/", 1)[-1]
            if topic in row:
                row[topic] += 1
                ops_dupes += n - 1
        ops[s.sink] = row
        per_sink[s.sink]["ops_failing"] = row["failing"]
        per_sink[s.sink]["ops_recovered"] = row["recovered"]
    during = [x for x in obs.samples if fill <= x.t_s <= free]
    bad = [x for x in during if x.status == 503 and x.outbox_problem]
    after = [x for x in obs.samples if x.t_s > free and x.status == 200 and not x.outbox_problem]
    first_503 = round(bad[0].t_s - fill, 2) if bad else None
    healthy_after = round(after[0].t_s - free, 2) if after else None
    order = {alert_id: n for n, alert_id in enumerate(obs.outbox_order)}
    ladder_ids = sorted(ids, key=_t_ms)
    persisted = [order[i] for i in ladder_ids if i in order]
    in_order = persisted == sorted(persisted)
    delivered = sum(r["delivered"] for r in per_sink.values())
    lost = sum(r["lost"] for r in per_sink.values())
    duplicates = sum(r["duplicates"] for r in per_sink.values()) + ops_dupes
    checks = {
        "disk_filled_until_enospc": obs.enospc,
        "alerts_in_window": bool(indices),
        "every_window_alert_at_every_sink_once": lost == 0 and duplicates == 0
        and all(r["delivered"] + r["coalesced"] == len(indices) for r in per_sink.values()),
        "ops_alert_failing_and_recovered_at_every_sink": all(
            r["failing"] >= 1 and r["recovered"] >= 1 for r in ops.values()
        ),
        "healthz_503_during": first_503 is not None,
        "healthz_200_after": healthy_after is not None and healthy_after <= healthy_within_s,
        "held_alerts_persisted_in_order": len(persisted) == len(ladder_ids) and in_order,
    }
    doc.update({
        "window_s": [round(fill, 2), round(free, 2)],
        "filler_bytes": obs.filler_bytes,
        "alerts_in_window": len(indices),
        "window_alerts": [str(expected[i][0]) for i in indices],
        "delivered": delivered,
        "lost": lost,
        "duplicates": duplicates,
        "coalesced": sum(r["coalesced"] for r in per_sink.values()),
        "per_sink": per_sink,
        "healthz_503_after_fill_s": first_503,
        "healthz_503_samples": len(bad),
        "healthz_samples_during": len(during),
        "healthz_200_after_free_s": healthy_after,
        "held_writes_max": max((x.held for x in obs.samples), default=0),
        "outbox_write_failures": obs.write_failures,
        "persisted": f"{len(persisted)}/{len(ladder_ids)}",
        "persisted_in_order": in_order,
        "checks": checks,
        "pass": all(checks.values()),
    })
    return doc


def _at(arrivals: Sequence[Arrival], alert_id: str) -> float:
    return min(a.at_s for a in arrivals if a.alert_id == alert_id)


def _t_ms(alert_id: str) -> int:
    parts = alert_id.split("/")
    return int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0


def judge_slow(
    obs: SlowObs,
    expected: Sequence[tuple[Key, float]],
    sinks: Sequence[SinkResult],
    arrivals: Mapping[str, Sequence[Arrival]],
) -> dict[str, Any]:
    """The slow-notifier phase's figures and verdict (`pass`).

    The phase's alerts are every alert (any kind) that first reached a sink between the
    phase's start and the end of its last slow answer. Each must reach every sink exactly once;
    a sink that was never slow (the fast sink) must get each at most `fast_lag_max_s` after the
    first sink did; a slow sink is *overtaken* when a fast sink got an alert while the slow one
    still held back the answer to an earlier one, and got it only after that answer."""
    if obs.start_s is None:
        return {"status": "not run", "pass": False}
    start = obs.start_s
    names = [s.sink for s in sinks]
    slow = {n: d for n, d in obs.delays.items() if n in names and d > 0}
    fast = [n for n in names if n not in slow]
    stalls: dict[str, list[tuple[float, float]]] = {
        n: [(a.at_s, a.at_s + a.delay_s) for a in arrivals.get(n, ()) if a.delay_s > 0]
        for n in slow
    }
    last = max((b for spans in stalls.values() for _, b in spans), default=start)
    end = max([last, *obs.ends.values()])
    first_at: dict[str, float] = {}
    for name in names:
        for a in arrivals.get(name, ()):
            if a.alert_id and (a.alert_id not in first_at or a.at_s < first_at[a.alert_id]):
                first_at[a.alert_id] = a.at_s
    phase_ids = sorted(
        (i for i, t in first_at.items() if start <= t <= end), key=lambda i: first_at[i]
    )
    counts = {n: Counter(a.alert_id for a in arrivals.get(n, ()) if a.alert_id) for n in names}
    coalesced_ids = {
        alert_id for s in sinks for i, alert_id in s.matched.items()
        if not counts[s.sink][alert_id]
    }
    rows: list[dict[str, Any]] = []
    fast_lag = 0.0
    slow_lag: dict[str, float] = dict.fromkeys(slow, 0.0)
    overtaken: dict[str, int] = dict.fromkeys(slow, 0)
    missing = duplicates = 0
    for alert_id in phase_ids:
        row: dict[str, Any] = {"alert": alert_id, "first_s": round(first_at[alert_id], 2)}
        ats: dict[str, float] = {}
        for name in names:
            n = counts[name][alert_id]
            if n == 0:
                if alert_id not in coalesced_ids:
                    missing += 1
                row[name] = None
                continue
            duplicates += n - 1
            ats[name] = _at(arrivals[name], alert_id)
            row[name] = round(ats[name] - first_at[alert_id], 2)
        for name in fast:
            if name in ats:
                fast_lag = max(fast_lag, ats[name] - first_at[alert_id])
        for name in slow:
            if name not in ats:
                continue
            slow_lag[name] = max(slow_lag[name], ats[name] - first_at[alert_id])
            at_fast = [ats[f] for f in fast if f in ats]
            if at_fast and any(
                a < min(at_fast) < b <= ats[name] for a, b in stalls[name]
            ):
                overtaken[name] += 1
        rows.append(row)
    indices, per_sink, _ = _window_ladder(expected, start, end, sinks, arrivals)
    keys = _key_figures(arrivals.get("webhook", ()))
    slowed = {n: len(stalls[n]) for n in slow}
    checks = {
        "slow_answers_given": all(slowed.values()) and bool(slowed),
        "every_phase_alert_at_every_sink_once": missing == 0 and duplicates == 0
        and all(r["lost"] == 0 and r["duplicates"] == 0 for r in per_sink.values()),
        "fast_sink_not_delayed": bool(fast) and fast_lag <= obs.fast_lag_max_s,
        "slow_sink_overtaken": any(overtaken.values()),
        "idempotency_keys_unique_and_right": keys["missing"] == 0 and keys["repeated"] == 0
        and keys["mismatched"] == 0,
    }
    return {
        "status": "ran",
        "window_s": [round(start, 2), round(end, 2)],
        "slow_until_s": {n: round(t, 2) for n, t in sorted(obs.ends.items())},
        "delays_s": slow,
        "timeouts_s": obs.timeouts,
        "fast_sinks": fast,
        "slowed_requests": slowed,
        "phase_alerts": len(phase_ids),
        "ladder_alerts_in_window": len(indices),
        "per_sink": per_sink,
        "missing": missing,
        "duplicates": duplicates,
        "fast_lag_s_max": round(fast_lag, 2),
        "slow_lag_s_max": {n: round(v, 2) for n, v in slow_lag.items()},
        "overtaken": overtaken,
        "arrivals_s_after_first": rows,
        "webhook_idempotency_keys": keys,
        "daemon": obs.daemon,
        "checks": checks,
        "pass": all(checks.values()),
    }


def _key_figures(arrivals: Sequence[Arrival]) -> dict[str, int]:
    """The webhook's Idempotency-Key headers over the whole run: how many receipts carried
    one, how many lacked it, repeated a key already seen, or did not match the alert's id."""
    seen: Counter[str] = Counter()
    missing = mismatched = 0
    for a in arrivals:
        if a.alert_id is None:
            continue
        if not a.key:
            missing += 1
            continue
        seen[a.key] += 1
        if a.key != idempotency_key(a.alert_id):
            mismatched += 1
    return {
        "receipts": sum(seen.values()) + missing,
        "missing": missing,
        "repeated": sum(n - 1 for n in seen.values()),
        "mismatched": mismatched,
    }
