"""One soak run: start the sinks, the simulator and the daemon (its state directory on a tmpfs of
its own, for the disk-full phase), play the schedule against them, then collect what everything
observed (`Observed`); `report.py` judges it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from monitor.feed.recording import WsLine, write_recording
from soak import procs
from soak.config import KEY_ENV, SECRET_ENV, AlertSettings, PhaseSettings, write_config
from soak.expected import Key, expected_timed
from soak.outbox_view import alert_order, coalesced_by_sink
from soak.path import ACCOUNT_NAME, build_path, recording
from soak.phases import Arrival, Disk, DiskObs, HealthSample, SlowObs, held_writes, in_ci
from soak.probe import (
    DaemonProbe,
    HttpError,
    SimControl,
    compare_reports,
    get_json,
    metric_sum,
    parse_metrics,
    rest_report,
    wait_http,
)
from soak.schedule import PROBE_BEFORE_END_S, Action, Timing, build_schedule, fault_counts
from soak.sinks import Sinks, free_port

log = logging.getLogger("soak")

SIM_FAULTS = ("drop", "rotate", "expire_listen_key", "silence", "rest_errors", "malformed",
              "skew_time")


class HarnessError(Exception):
    """The soak itself could not run (a process did not start, the simulator vanished)."""


@dataclass(frozen=True, slots=True)
class Secrets:
    """Distinctive secrets, so any leak is unmistakable."""

    api_key: str
    api_secret: str
    smtp_user: str
    smtp_password: str
    bot_token: str

    @classmethod
    def for_seed(cls, seed: int) -> Secrets:
        tag = f"{seed:x}Q7z"
        return cls(
            api_key=f"soakKEY-{tag}-Xv93LmQp2Wd8",
            api_secret=f"soakSECRET-{tag}-Jr5Tn0Bv6Kc4Hs1",
            smtp_user="soakuser",
            smtp_password=f"soakPW+{tag}/Zq8&r",
            bot_token=f"7{seed % 100000:05d}:soakBOT-{tag}-Ng4Pw7Yt",
        )

    def values(self) -> list[str]:
        return [self.api_key, self.api_secret, self.smtp_password, self.bot_token]


@dataclass(slots=True)
class Probe:
    """One state check: `skipped` with a reason, or the differences found (empty: equal)."""

    t_s: float
    hold: str
    skipped: str | None = None
    diffs: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Observed:
    """Everything a run observed, for the report."""

    minutes: float
    seed: int
    stale_after_s: float
    expected: list[Key] = field(default_factory=list)
    #: The expected alerts with their decision time (playback seconds).
    expected_t: list[tuple[Key, float]] = field(default_factory=list)
    sink_names: tuple[str, ...] = ()
    receipts: dict[str, list[str | None]] = field(default_factory=dict)
    arrivals: dict[str, list[Arrival]] = field(default_factory=dict)
    coalesced: dict[str, set[str]] = field(default_factory=dict)
    planned: Counter[str] = field(default_factory=Counter)
    applied: Counter[str] = field(default_factory=Counter)
    connections_dropped: int = 0
    sim_counts: dict[str, int] = field(default_factory=dict)
    sim_errors: dict[str, int] = field(default_factory=dict)
    blind_latencies: list[float | None] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    resyncs: Counter[str] = field(default_factory=Counter)
    feed_restarts: int = 0
    unexpected_exits: list[int] = field(default_factory=list)
    stop_exit_code: int | None = None
    tracebacks: int = 0
    rss_mb_max: float = 0.0
    outbox_at_kill: float | None = None
    harness_problems: list[str] = field(default_factory=list)
    texts_for_scan: list[bytes] = field(default_factory=list)
    wall_s: float = 0.0
    drain_s: float = 0.0
    phase_settings: PhaseSettings = field(default_factory=PhaseSettings)
    disk: DiskObs = field(default_factory=DiskObs)
    slow: SlowObs = field(default_factory=SlowObs)


class Soak:
    """Runs the soak in `work` (a temporary directory the caller owns)."""

    def __init__(self, work: Path, minutes: float, seed: int) -> None:
        self.work = work
        self.minutes = minutes
        self.seed = seed
        self.alerts = AlertSettings()
        self.timing = Timing(stale_after_s=self.alerts.stale_after_s)
        self.secrets = Secrets.for_seed(seed)
        self.phases = PhaseSettings()
        self.obs = Observed(minutes, seed, self.alerts.stale_after_s, phase_settings=self.phases)
        self.disk = Disk(work / "state", self.phases.tmpfs_mb)
        self._disk_full = False  # between the fill and the free
        self._disk_task: asyncio.Task[None] | None = None
        self.sinks = Sinks.create(
            self.secrets.smtp_user, self.secrets.smtp_password, self.secrets.bot_token
        )
        self.sim: procs.Proc | None = None
        self.daemon: procs.Proc | None = None
        self._daemon_down = False  # between the injected SIGKILL and the restart
        self._metrics_last = ""
        self._status_last: dict[str, Any] = {}
        self._play0 = 0.0  # monotonic time of playback second 0

    # ------------------------------------------------------------------ set-up
    async def run(self) -> Observed:
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession() as session:
                await self._run(session)
        finally:
            await self._shutdown()
            self.obs.wall_s = round(time.monotonic() - started, 1)
        return self.obs

    async def _run(self, session: aiohttp.ClientSession) -> None:
        path = build_path(self.minutes, self.seed)
        t0 = (int(time.time()) + 5) * 1000
        meta, lines = recording(path, t0)
        lines.sort(key=lambda line: line.t)
        rec = self.work / "soak.jsonl"
        write_recording(rec, meta, lines)
        timed = expected_timed(meta, lines, self.alerts.policy())
        self.obs.expected = [key for key, _ in timed]
        self.obs.expected_t = [(key, (t - t0) / 1000) for key, t in timed]
        user_lines = [ln for ln in lines if isinstance(ln, WsLine) and ln.conn == "user"]
        user_times = [(ln.t - t0) / 1000 for ln in user_lines]
        actions = build_schedule(path, self.minutes, self.seed, user_times, self.timing)
        self.obs.planned = fault_counts(actions)
        self.obs.sink_names = self.sinks.names

        self.disk.mount()
        disk = self.obs.disk
        disk.ci = in_ci()
        disk.tmpfs_mb = self.phases.tmpfs_mb
        disk.status = self.disk.skipped or "mounted"
        slow = self.obs.slow
        slow.delays = self.phases.delays()
        slow.timeouts = self.phases.timeouts()
        slow.fast_lag_max_s = self.phases.fast_lag_max_s
        await self.sinks.start()
        sim_port, http_port = free_port(), free_port()
        sim_base = f"http://127.0.0.1:{sim_port}"
        env = procs.child_env({KEY_ENV: self.secrets.api_key, SECRET_ENV: self.secrets.api_secret})
        self.sim = procs.simulator(
            rec, sim_port, self.secrets.api_key, self.secrets.api_secret,
            self.work / "simulator.log", env,
        )
        self.sim.start()
        try:
            await wait_http(session, f"{sim_base}/fapi/v1/time", 30)
        except HttpError as exc:
            raise HarnessError(f"the simulator did not start: {exc}") from None
        config = write_config(
            self.work / "marginwatch.toml",
            account=ACCOUNT_NAME,
            sim_base=sim_base,
            http_port=http_port,
            notify_urls=[
                (url, self.phases.timeouts().get(name))
                for name, url in zip(self.sinks.names, self.sinks.urls(), strict=True)
            ],
            telegram_api_base=self.sinks.telegram.base,
            state_dir=self.work / "state",
            alerts=self.alerts,
        )
        self.daemon = procs.daemon(config, self.work / "daemon.log", env)
        self.daemon.start()
        sim = SimControl(session, sim_base)
        probe = DaemonProbe(session, f"http://127.0.0.1:{http_port}")
        await self._calibrate(sim, t0)
        watcher = asyncio.create_task(self._watch(probe))
        try:
            await self._play(actions, sim, probe, user_lines, sim_base)
            await self._drain(probe)
        finally:
            for task in (watcher, self._disk_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        await self._collect(sim, probe)

    async def _calibrate(self, sim: SimControl, t0: int) -> None:
        """Wait for playback (it starts when the daemon connects) and map its clock to ours."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = await sim.state()
            playback = state.get("playback", {})
            if playback.get("started") and playback.get("t") is not None:
                now = time.monotonic()
                self._play0 = now - (int(playback["t"]) - t0) / 1000.0
                return
            if self.daemon is not None and self.daemon.exited() is not None:
                raise HarnessError("the daemon exited during start-up (see daemon.log)")
            await asyncio.sleep(0.1)
        raise HarnessError("playback did not start within 60 s (the daemon never connected)")

    # ------------------------------------------------------------------ the schedule
    # Complexity: one branch per fault kind of the schedule.
    async def _play(  # noqa: C901
        self,
        actions: Sequence[Action],
        sim: SimControl,
        probe: DaemonProbe,
        user_lines: Sequence[WsLine],
        sim_base: str,
    ) -> None:
        silences: list[float] = []
        for action in actions:
            delay = self._play0 + action.t_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            kind = action.kind
            try:
                if kind in SIM_FAULTS:
                    result = await sim.fault({"kind": kind, **action.params})
                    self.obs.applied[kind] += 1
                    if kind == "drop" and isinstance(result, int):
                        self.obs.connections_dropped += result
                    if kind == "silence":
                        silences.append(time.monotonic())
                elif kind in ("push_duplicate", "push_out_of_order"):
                    data = user_lines[int(action.params["event"])].data
                    await sim.push("user", data)
                    self.obs.applied[kind] += 1
                elif kind == "sinks_down":
                    await self.sinks.outage()
                    self.obs.applied["notifier_outage"] += 1
                elif kind == "sinks_up":
                    await self.sinks.restore()
                elif kind == "kill":
                    await self._kill(probe)
                elif kind == "restart":
                    assert self.daemon is not None
                    self.daemon.start()
                    self._daemon_down = False
                elif kind == "probe":
                    await self._probe(action, sim, probe, sim_base)
                elif kind in ("disk_fill", "disk_free"):
                    await self._disk(kind, probe)
                elif kind in ("slow_start", "slow_end"):
                    names = [str(n) for n in action.params["sinks"]]
                    on = kind == "slow_start"
                    self.sinks.slow({n: self.phases.delays()[n] if on else 0.0 for n in names})
                    if on:
                        self.obs.slow.start_s = self._now_s()
                        self.obs.applied["slow_notifier"] += 1
                    else:
                        self.obs.slow.ends.update(dict.fromkeys(names, self._now_s()))
                elif kind == "slow_settled":
                    await self._slow_settled(probe)
            except HttpError as exc:
                if self.sim is None or not self.sim.running():
                    raise HarnessError(f"the simulator is gone ({exc})") from None
                self.obs.harness_problems.append(f"{kind} at {action.t_s:.1f} s: {exc}")
        self._silences = silences

    def _now_s(self) -> float:
        """Now in playback seconds."""
        return time.monotonic() - self._play0

    # ------------------------------------------------------------------ the phases
    async def _disk(self, kind: str, probe: DaemonProbe) -> None:
        """Fill the state directory's tmpfs until ENOSPC (and keep it full), or free it."""
        obs = self.obs.disk
        if not self.disk.mounted:
            return
        if kind == "disk_fill":
            await asyncio.to_thread(self.disk.fill)
            self._disk_full = True
            obs.status = "ran"
            obs.fill_s = self._now_s()
            self.obs.applied["disk_full"] += 1
            self._disk_task = asyncio.create_task(self._disk_watch(probe))
        else:
            self._disk_full = False
            await asyncio.to_thread(self.disk.free)
            obs.free_s = self._now_s()

    async def _disk_watch(self, probe: DaemonProbe) -> None:
        """Every half second from the fill until the health check after the free: /healthz,
        and (while the disk is full) a top-up of the filler."""
        obs = self.obs.disk
        limit = self.phases.healthy_within_s + 2.0
        while obs.free_s is None or self._now_s() <= obs.free_s + limit:
            if self._disk_full:
                await asyncio.to_thread(self.disk.top_up)
            with contextlib.suppress(HttpError):
                status, doc = await probe.healthz()
                problems = [str(p) for p in (doc.get("problems") or [])] if isinstance(
                    doc, dict) else []
                obs.samples.append(
                    HealthSample(
                        round(self._now_s(), 2), status,
                        any("outbox" in p for p in problems), held_writes(problems),
                    )
                )
            await asyncio.sleep(0.5)
        obs.filler_bytes = self.disk.filled_bytes
        obs.enospc = self.disk.enospc
        with contextlib.suppress(HttpError):
            samples = parse_metrics(await probe.metrics_text())
            obs.write_failures = metric_sum(samples, "marginwatch_outbox_write_failures_total")

    async def _slow_settled(self, probe: DaemonProbe) -> None:
        """The daemon's delivery counters once every slow answer is in."""
        with contextlib.suppress(HttpError):
            samples = parse_metrics(await probe.metrics_text())
            self.obs.slow.daemon = {
                "send_unknown": metric_sum(samples, "marginwatch_alert_send_unknown_total"),
                "possible_duplicates": metric_sum(
                    samples, "marginwatch_alert_possible_duplicates_total"
                ),
                "send_failures": metric_sum(samples, "marginwatch_alert_send_failures_total"),
            }

    async def _kill(self, probe: DaemonProbe) -> None:
        """SIGKILL the daemon, noting how much the outbox held (mid-delivery)."""
        with contextlib.suppress(HttpError):
            self._remember(await probe.metrics_text())
        samples = parse_metrics(self._metrics_last)
        self.obs.outbox_at_kill = metric_sum(samples, "marginwatch_outbox_depth")
        self._bank_incarnation()
        assert self.daemon is not None
        self._daemon_down = True
        self.daemon.kill()
        self.obs.applied["sigkill"] += 1

    async def _probe(
        self, action: Action, sim: SimControl, probe: DaemonProbe, sim_base: str
    ) -> None:
        started = time.monotonic()  # the hold ends PROBE_BEFORE_END_S from now
        result = Probe(action.t_s, str(action.params.get("hold", "")))
        self.obs.probes.append(result)
        if self._daemon_down or self.daemon is None or not self.daemon.running():
            result.skipped = "daemon not running"
            return
        state = await sim.state()
        faults = state.get("faults", {})
        if faults.get("pending_rest_errors"):
            result.skipped = "injected REST errors pending"
            return
        if faults.get("silenced"):
            result.skipped = "a stream is silenced"
            return
        doc = json.loads(await probe.status_text())
        accounts = doc.get("accounts") or [{}]
        mine = accounts[0]
        if mine.get("state") != "live":
            result.skipped = f"daemon state {mine.get('state')}"
            return
        ws_base = sim_base.replace("http://", "ws://", 1)
        try:
            exchange = await rest_report(
                sim_base, ws_base, self.secrets.api_key, self.secrets.api_secret
            )
        except Exception as exc:  # the REST client's errors are many; all mean "no check"
            result.skipped = f"REST snapshot failed: {type(exc).__name__}"
            return
        if time.monotonic() - started > PROBE_BEFORE_END_S:
            # The hold ended between the two reads: the REST snapshot shows a later price than
            # the daemon's /status did (a loaded machine; seen once in an hour-long run).
            result.skipped = "the reads outlasted the hold"
            return
        result.diffs = compare_reports(mine, exchange)

    # ------------------------------------------------------------------ background
    async def _watch(self, probe: DaemonProbe) -> None:
        """Every half second: RSS, unexpected exits (restarted), a metrics/status sample."""
        tick = 0
        while True:
            await asyncio.sleep(0.5)
            tick += 1
            daemon = self.daemon
            if daemon is None or self._daemon_down:
                continue
            rss = daemon.rss_mb()
            if rss is not None:
                self.obs.rss_mb_max = max(self.obs.rss_mb_max, rss)
            code = daemon.exited()
            if code is not None:
                self.obs.unexpected_exits.append(code)
                self._bank_incarnation()
                daemon.start()
                continue
            if tick % 4 == 0:
                with contextlib.suppress(HttpError, ValueError):
                    self._remember(await probe.metrics_text())
                    self._status_last = json.loads(await probe.status_text())

    def _remember(self, metrics: str) -> None:
        self._metrics_last = metrics
        self.obs.texts_for_scan.append(metrics.encode())

    def _bank_incarnation(self) -> None:
        """Add the counters of the daemon incarnation that is about to end."""
        samples = parse_metrics(self._metrics_last)
        for key, value in samples.items():
            if key.startswith("marginwatch_resyncs_total{"):
                reason = key.split('reason="', 1)[-1].split('"', 1)[0]
                self.obs.resyncs[reason] += int(value)
        for account in self._status_last.get("accounts") or []:
            self.obs.feed_restarts += int(account.get("restarts") or 0)
        self._metrics_last = ""
        self._status_last = {}

    async def _drain(self, probe: DaemonProbe) -> None:
        """Wait until every sink has every expected alert and the outbox is empty (≤ 90 s)."""
        started = time.monotonic()
        deadline = started + 90
        want = len(self.obs.expected)
        while time.monotonic() < deadline:
            ladder = {
                name: sum(
                    1 for r in self.sinks.inbox.of(name)
                    if r.alert_id and r.alert_id.split("/")[1] in
                    ("level", "deescalation", "all_clear")
                )
                for name in self.sinks.names
            }
            depth = 1.0
            with contextlib.suppress(HttpError):
                self._remember(await probe.metrics_text())
                depth = metric_sum(parse_metrics(self._metrics_last), "marginwatch_outbox_depth")
            if depth == 0 and all(n >= want for n in ladder.values()):
                break
            await asyncio.sleep(1.0)
        self.obs.drain_s = round(time.monotonic() - started, 1)

    # ------------------------------------------------------------------ the end
    async def _collect(self, sim: SimControl, probe: DaemonProbe) -> None:
        with contextlib.suppress(HttpError, ValueError):
            self._remember(await probe.metrics_text())
            status_text = await probe.status_text()
            self.obs.texts_for_scan.append(status_text.encode())
            self._status_last = json.loads(status_text)
        self._bank_incarnation()
        state = await sim.state()
        counts = state.get("faults", {}).get("counts", {})
        self.obs.sim_counts = {str(k): int(v) for k, v in counts.items()}
        self.obs.sim_errors = {str(k): int(v) for k, v in (state.get("errors") or {}).items()}
        with contextlib.suppress(HttpError):
            doc = await get_json(probe.session, f"{probe.base}/healthz")
            self.obs.texts_for_scan.append(json.dumps(doc).encode())
        inbox = self.sinks.inbox
        self.obs.receipts = {n: [r.alert_id for r in inbox.of(n)] for n in self.sinks.names}
        self.obs.arrivals = {
            n: [Arrival(r.alert_id, r.at - self._play0, r.key, r.delay_s) for r in inbox.of(n)]
            for n in self.sinks.names
        }
        db = self.work / "state" / "outbox.sqlite3"
        self.obs.coalesced = coalesced_by_sink(db, self.obs.receipts)
        self.obs.disk.outbox_order = alert_order(db)
        self.obs.blind_latencies = self._blind_latencies()

    def _blind_latencies(self) -> list[float | None]:
        """Per silence: seconds until the first blind alert reached any sink (None: never);
        0.0 when the monitor was already reported blind, with no "restored" since."""
        out: list[float | None] = []
        window = self.timing.silence_s + 4 * self.timing.stale_after_s
        sight = sorted(
            (r.at, kind)
            for r in self.sinks.inbox.receipts
            if r.alert_id and (kind := r.alert_id.split("/")[1]) in ("blind", "restored")
        )
        for start in getattr(self, "_silences", []):
            before = [kind for at, kind in sight if at < start]
            if before and before[-1] == "blind":
                out.append(0.0)
                continue
            end = start + window
            hits = [at - start for at, kind in sight if kind == "blind" and start <= at <= end]
            out.append(round(min(hits), 2) if hits else None)
        return out

    async def _shutdown(self) -> None:
        """Stop the daemon (SIGTERM: a clean exit is 0), the simulator and the sinks."""
        if self.daemon is not None:
            code = self.daemon.stop()
            if code is not None and not self._daemon_down:
                self.obs.stop_exit_code = code
        if self.sim is not None:
            self.sim.stop()
        with contextlib.suppress(Exception):
            await self.sinks.stop()
        self.disk.free()
        self.disk.unmount(self.work / "state-final")
        log_path = self.work / "daemon.log"
        if log_path.exists():
            text = log_path.read_bytes()
            self.obs.texts_for_scan.append(text)
            self.obs.tracebacks = text.count(b"Traceback (most recent call last)")
        self.obs.texts_for_scan.extend(self.sinks.inbox.raw)
