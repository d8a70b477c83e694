"""`python -m soak --accounts N`: the fleet soak (issue 17) — one daemon process following N
USDⓈ-M accounts on one fake exchange that enforces Binance's per-IP budgets (2,400 REST weight
a minute with 429 then 418, 300 websocket connection attempts per 5 minutes), with faults that
hit every account at once.

The price path is the soak's (`path.py`: holds and ramps through every alert level), with a calm
lead long enough for the fleet's start-up (paced by the REST budget) and long base holds, so a
venue-wide fault's resyncs — queued and spread over the budget's minutes — settle before the next
crossing. At the start of each base hold after the lead, one round of faults, in turn: a
venue-wide outage (every connection dropped and the next REST requests answered 503) during
which every listenKey expires; then every user connection dropped with a burst of REST 5xx. A
burst of REST 5xx also hits the tail, after the last hold. Near the end of each base hold the
fleet's figures are compared with the exchange's (one REST snapshot; every account follows the
same simulated account).

It passes when: every account is live before the lead ends; no ladder alert is lost, duplicated
or unexpected for any account (expected: the pure pipeline's alerts for the path, per account,
matched by `matching.match_sink`); no state mismatch at any probe; the fake answered no 429 or
418 of its own limiter and refused no connection attempt; the daemon's budgets never counted
more than Binance's limit in a window. Figures: start-up time, CPU, RSS, resyncs, REST weight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from monitor.feed.recording import write_recording
from monitor.sim.server import FakeExchange
from soak import procs
from soak.config import KEY_ENV, SECRET_ENV, AlertSettings, write_fleet_config
from soak.expected import Key, expected_timed
from soak.matching import match_sink
from soak.outbox_view import coalesced_by_sink
from soak.path import ACCOUNT_NAME, BASE_LABELS, Timings, build_path, recording
from soak.probe import compare_reports, get_json, metric_sum, parse_metrics, rest_report
from soak.sinks import HttpSink, Inbox, free_port

#: Binance's limits per IP, enforced by the fake.
WEIGHT_LIMIT = 2400
ATTEMPTS = (300, 300.0)
#: REST weight (UM+CM pool) of one USDⓈ-M account's start-up: the snapshot (43, of which 30
#: is /fapi/v1/multiAssetsMargin), the time sync and the listenKey.
STARTUP_WEIGHT = 45
#: ... and of its resync after a gap: the same snapshot, the listenKey check and a new key.
RESYNC_WEIGHT = 45
#: The daemon allows itself 80 % of the limit (`budget.py`).
HEADROOM = 0.8
#: The rounds of faults, one per base hold in turn (each kind hits every account at once).
ROUNDS: tuple[tuple[str, ...], ...] = (("outage", "expire_listen_keys"), ("drop_user", "rest_5xx"))
#: Seconds into the tail (after the last hold) of its REST 5xx burst.
TAIL_FAULT_S = 20.0
#: Accounts per alert destination (each sends about one alert a second).
ACCOUNTS_PER_LANE = 5
#: After the path ends, the outbox has this long to drain.
DRAIN_S = 180.0


def lead_for(accounts: int) -> float:
    """A calm lead covering the start-up: the budget's windows it needs, plus a minute."""
    windows = math.ceil(accounts * STARTUP_WEIGHT / (WEIGHT_LIMIT * HEADROOM))
    return 60.0 * windows + 60.0


def base_for(accounts: int) -> float:
    """Base holds long enough for every account's resync after a venue-wide fault to pass
    through the budget (queued, riskiest first), plus the probe."""
    return 60.0 * math.ceil(accounts * RESYNC_WEIGHT / (WEIGHT_LIMIT * HEADROOM)) + 30.0


@dataclass(frozen=True, slots=True)
class FleetPlan:
    accounts: int
    minutes: float
    seed: int
    lead_s: float
    base_s: float

    @classmethod
    def make(cls, accounts: int, minutes: float, seed: int) -> FleetPlan:
        return cls(accounts, minutes, seed, lead_for(accounts), base_for(accounts))


class FleetSoak:
    """One fleet soak in `work` (a directory the caller owns)."""

    def __init__(self, work: Path, plan: FleetPlan, api_key: str, api_secret: str) -> None:
        self.work = work
        self.plan = plan
        self.key, self.secret = api_key, api_secret
        self.alerts = AlertSettings()
        self.names = [f"acct-{i:04d}" for i in range(plan.accounts)]
        self.inbox = Inbox()
        self.sink = HttpSink(self.inbox, "webhook", "message")
        self.doc: dict[str, Any] = {"accounts": plan.accounts, "minutes": plan.minutes,
                                    "seed": plan.seed, "lead_s": plan.lead_s,
                                    "base_s": plan.base_s}
        self.faults: Counter[str] = Counter()
        self.probes: list[dict[str, Any]] = []
        self.rss_mb_max = 0.0

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        timings = Timings(lead_s=self.plan.lead_s, base_s=self.plan.base_s,
                          phase_base_s=self.plan.base_s)
        path = build_path(self.plan.minutes + self.plan.lead_s / 60.0, self.plan.seed, timings)
        t0 = (int(time.time()) + 5) * 1000
        meta, lines = recording(path, t0)
        lines.sort(key=lambda line: line.t)
        rec = self.work / "fleet.jsonl"
        write_recording(rec, meta, lines)
        expected = [key for key, _ in expected_timed(meta, lines, self.alerts.policy())]
        fake = FakeExchange.from_file(rec, speed=1.0, api_key=self.key, api_secret=self.secret,
                                      weight_limit=WEIGHT_LIMIT, weight_window_s=60.0,
                                      ban_s=120.0, ws_attempt_limit=ATTEMPTS)
        await fake.start()
        await self.sink.start()
        http_port = free_port()
        config = write_fleet_config(
            self.work / "fleet.toml", accounts=self.names, sim_base=fake.rest_url,
            http_port=http_port, notify_url=f"json://127.0.0.1:{self.sink.port}/hook",
            state_dir=self.work / "state", alerts=self.alerts,
            lanes=-(-self.plan.accounts // ACCOUNTS_PER_LANE),
        )
        env = procs.child_env({KEY_ENV: self.key, SECRET_ENV: self.secret})
        daemon = procs.daemon(config, self.work / "daemon.log", env)
        daemon.start()
        base = f"http://127.0.0.1:{http_port}"
        try:
            async with aiohttp.ClientSession() as session:
                await self._drive(session, base, fake, daemon, path.segments)
                self._judge(expected, fake)
                try:
                    metrics = parse_metrics(await (await session.get(f"{base}/metrics")).text())
                except (aiohttp.ClientError, OSError) as exc:
                    self.doc["problems"].append(f"no metrics at the end: {exc}")
                else:
                    self._budget_figures(metrics)
        finally:
            daemon.stop()
            await self.sink.stop()
            await fake.stop()
        self.doc["wall_s"] = round(time.monotonic() - started, 1)
        self.doc["rss_mb_max"] = round(self.rss_mb_max, 1)
        self.doc["pass"] = not self.doc["problems"]
        return self.doc

    # ------------------------------------------------------------------ the run
    async def _drive(self, session: aiohttp.ClientSession, base: str, fake: FakeExchange,
                     daemon: procs.Proc, segments: list[Any]) -> None:
        started = time.monotonic()
        deadline = started + 120
        while not fake.clock.started:  # playback starts when the daemon first connects
            if time.monotonic() > deadline or daemon.exited() is not None:
                raise RuntimeError("the daemon did not connect (see daemon.log)")
            await asyncio.sleep(0.2)
        play0 = time.monotonic() - (fake.clock.elapsed_ms() or 0.0) / 1000.0
        live_after: float | None = None
        cpu0 = _cpu_s(daemon.pid)
        lead_end = play0 + self.plan.lead_s
        while time.monotonic() < lead_end:
            if live_after is None and await self._live(session, base) == self.plan.accounts:
                live_after = time.monotonic() - started
            self._sample(daemon)
            await asyncio.sleep(1.0)
        self.doc["live_after_s"] = None if live_after is None else round(live_after, 1)
        holds = [s for s in segments if s.hold and s.label in BASE_LABELS
                 and s.label not in ("lead", "tail")]
        for i, seg in enumerate(holds):
            await _until(play0 + seg.start_s + 1.0, daemon, self)
            kinds = ROUNDS[i % len(ROUNDS)]
            for kind in kinds:
                self._fault(fake, kind)
            await _until(play0 + seg.end_s - 6.0, daemon, self)
            await self._probe(session, base, fake, "+".join(kinds))
        tail = segments[-1]
        if tail.label == "tail" and tail.end_s - tail.start_s > 2 * TAIL_FAULT_S:
            await _until(play0 + tail.start_s + TAIL_FAULT_S, daemon, self)
            self._fault(fake, "rest_5xx")
        end = play0 + segments[-1].end_s
        await _until(end, daemon, self)
        cpu1 = _cpu_s(daemon.pid)
        drained = time.monotonic() + DRAIN_S  # deliveries still queued are late, not lost
        while time.monotonic() < drained:
            with contextlib.suppress(Exception):
                text = await (await session.get(f"{base}/metrics")).text()
                if metric_sum(parse_metrics(text), "marginwatch_outbox_depth") == 0:
                    break
            await asyncio.sleep(2.0)
        self.doc["drain_s"] = round(time.monotonic() - (drained - DRAIN_S), 1)
        self.doc["cpu_fraction"] = round((cpu1 - cpu0) / max(1.0, end - started), 3)
        status = json.loads(await (await session.get(f"{base}/status")).text())
        self.doc["live_at_end"] = sum(1 for a in status["accounts"] if a.get("state") == "live")

    def _fault(self, fake: FakeExchange, kind: str) -> None:
        self.faults[kind] += 1
        if kind == "drop_user":
            fake.faults.drop("user")
        elif kind == "outage":
            fake.faults.drop("all")
            fake.faults.rest_errors(503, count=max(20, self.plan.accounts // 4))
        elif kind == "expire_listen_keys":
            fake.faults.expire_listen_key(None)
        else:
            fake.faults.rest_errors(500, count=10)
            fake.faults.rest_errors(502, count=10)

    async def _probe(self, session: aiohttp.ClientSession, base: str, fake: FakeExchange,
                     after: str) -> None:
        result: dict[str, Any] = {"after": after, "checked": 0, "mismatches": 0, "skipped": None}
        self.probes.append(result)
        try:
            status = json.loads(await (await session.get(f"{base}/status")).text())
            exchange = await rest_report(fake.rest_url, fake.ws_url, self.key, self.secret)
        except Exception as exc:  # no check this time; said so
            result["skipped"] = f"{type(exc).__name__}"
            return
        for doc in status.get("accounts", []):
            if doc.get("state") != "live":
                result["not_live"] = result.get("not_live", 0) + 1
                continue
            result["checked"] += 1
            diffs = compare_reports(doc, exchange)
            if diffs:
                result["mismatches"] += 1
                result.setdefault("examples", diffs[:3])

    async def _live(self, session: aiohttp.ClientSession, base: str) -> int:
        with contextlib.suppress(Exception):
            doc = await get_json(session, f"{base}/status")
            return sum(1 for a in doc["accounts"] if a.get("state") == "live")
        return 0

    def _sample(self, daemon: procs.Proc) -> None:
        self.rss_mb_max = max(self.rss_mb_max, _rss_mb(daemon.pid))

    # ------------------------------------------------------------------ the verdict
    def _judge(self, expected: list[Key], fake: FakeExchange) -> None:
        problems: list[str] = []
        by_account: dict[str, list[str | None]] = {name: [] for name in self.names}
        for receipt in self.inbox.of("webhook"):
            if receipt.alert_id is not None:
                account = receipt.alert_id.split("/", 1)[0]
                by_account.setdefault(account, []).append(receipt.alert_id)
        totals: Counter[str] = Counter()
        superseded = coalesced_by_sink(self.work / "state" / "outbox.sqlite3", by_account)
        for name in self.names:
            mine = [Key(name, k.kind, k.level) for k in expected if k.account == ACCOUNT_NAME]
            result = match_sink(name, mine, by_account.get(name, []), superseded.get(name, ()))
            totals["coalesced"] += result.coalesced
            totals["expected"] += result.expected
            totals["delivered"] += result.delivered
            totals["lost"] += result.lost
            totals["duplicates"] += result.duplicates
            totals["unexpected"] += result.unexpected
            for kind, n in result.extras.items():
                totals[f"extra_{kind}"] += n
        self.doc["alerts"] = dict(totals)
        for what in ("lost", "duplicates", "unexpected"):
            if totals[what]:
                problems.append(f"{totals[what]} alerts {what}")
        checked = sum(p["checked"] for p in self.probes)
        mismatches = sum(p["mismatches"] for p in self.probes)
        self.doc["probes"] = {"count": len(self.probes), "accounts_checked": checked,
                              "mismatches": mismatches, "detail": self.probes}
        if mismatches:
            problems.append(f"{mismatches} state mismatches")
        if self.doc.get("live_after_s") is None:
            problems.append(f"not every account was live within the {self.plan.lead_s:.0f} s lead")
        stats = fake.stats
        limiter = stats.get("rate_limit", {}).get("answers", {})
        statuses: Counter[str] = Counter()
        for counts in stats["requests"].values():
            statuses.update(counts)
        refused = stats["ws_connections"]["rejected"].get("attempt_limit", 0)
        self.doc["exchange"] = {
            "limiter_answers": limiter, "injected": dict(fake.faults.counts),
            "ws_opened": stats["ws_connections"]["opened"], "ws_refused_attempts": refused,
            "statuses": dict(statuses),
        }
        if limiter:
            problems.append(f"the exchange's limiter answered {limiter}")
        if refused:
            problems.append(f"{refused} connection attempts refused")
        self.doc["faults"] = dict(self.faults)
        self.doc["problems"] = problems

    def _budget_figures(self, metrics: dict[str, float]) -> None:
        peaks = {k: v for k, v in metrics.items()
                 if k.startswith("marginwatch_rest_budget_peak_weight")}
        limits = {k: v for k, v in metrics.items()
                  if k.startswith("marginwatch_rest_budget_limit_weight")}
        self.doc["budgets"] = {
            "peak_weight": peaks, "limit_weight": limits,
            "waits": metric_sum(metrics, "marginwatch_rest_budget_waits_total"),
            "ws_attempts": metric_sum(metrics, "marginwatch_ws_connect_attempts_total"),
            "rate_limited": metric_sum(metrics, "marginwatch_rest_rate_limited_total"),
            "resyncs": metric_sum(metrics, "marginwatch_resyncs_total"),
        }
        over = {
            name: peak for name, peak in peaks.items()
            if peak > limits.get(name.replace("_peak_", "_limit_"), float(WEIGHT_LIMIT))
        }
        if over:
            self.doc["problems"].append(f"a budget counted more than its limit: {over}")


async def _until(when: float, daemon: procs.Proc, soak: FleetSoak) -> None:
    while (left := when - time.monotonic()) > 0:
        soak._sample(daemon)
        await asyncio.sleep(min(1.0, left))


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, clock ticks
    return 0.0


def _rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def table(doc: dict[str, Any]) -> str:
    """The fleet soak's figures, one line each."""
    alerts = doc.get("alerts", {})
    probes = doc.get("probes", {})
    exchange = doc.get("exchange", {})
    lines = [
        f"fleet soak: {doc['accounts']} accounts, {doc['minutes']} min, seed {doc['seed']}: "
        f"{'PASS' if doc.get('pass') else 'FAIL'}",
        f"  start-up: every account live after {doc.get('live_after_s')} s "
        f"(lead {doc['lead_s']:.0f} s); live at the end {doc.get('live_at_end')}",
        f"  alerts: expected {alerts.get('expected', 0)}, delivered {alerts.get('delivered', 0)},"
        f" lost {alerts.get('lost', 0)}, duplicates {alerts.get('duplicates', 0)}, "
        f"unexpected {alerts.get('unexpected', 0)}",
        f"  state probes: {probes.get('count', 0)} ({probes.get('accounts_checked', 0)} account "
        f"checks), mismatches {probes.get('mismatches', 0)}",
        f"  faults: {doc.get('faults')}",
        f"  exchange limiter answers {exchange.get('limiter_answers')}, refused attempts "
        f"{exchange.get('ws_refused_attempts')}, ws opened {exchange.get('ws_opened')}",
        f"  budgets: {doc.get('budgets')}",
        f"  daemon: CPU {doc.get('cpu_fraction')} of a core, RSS max {doc.get('rss_mb_max')} MB",
    ]
    lines += [f"  problem: {p}" for p in doc.get("problems", [])]
    return "\n".join(lines)
