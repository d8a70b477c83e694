"""The soak harness's pure parts: the schedule meets the issue's minimums and holds the disk-full
and slow-notifier phases, the price path crosses every level, the expected-vs-delivered matching
counts lost, duplicates and coalesced right, and the phases' verdicts judge what they should."""

from __future__ import annotations

import functools

import pytest

from monitor.alerts.sender import idempotency_key
from monitor.feed.recording import WsLine
from soak.config import AlertSettings, PhaseSettings
from soak.expected import Key, expected_alerts, expected_timed, key_of_id
from soak.matching import match_sink
from soak.path import RISK, build_path, recording
from soak.phases import Arrival, DiskObs, HealthSample, SlowObs, in_ci, judge_disk, judge_slow
from soak.report import count_leaks, secret_forms
from soak.schedule import (
    DISK_AFTER_S,
    LOSSES_PER_BURST,
    STABLE_S,
    Timing,
    build_schedule,
    fault_counts,
    outage_window,
    phase_windows,
)

T0 = 1_790_000_000_000


def _fresh_schedule(minutes: float, seed: int = 1):  # type: ignore[no-untyped-def]
    path = build_path(minutes, seed)
    _, lines = recording(path, T0)
    user = [(ln.t - T0) / 1000 for ln in lines if isinstance(ln, WsLine) and ln.conn == "user"]
    return path, build_schedule(path, minutes, seed, user)


@functools.cache
def _schedule(minutes: float, seed: int = 1):  # type: ignore[no-untyped-def]
    """`_fresh_schedule`, built once per (minutes, seed) for the tests that only read it (the
    hour-long path takes seconds); the determinism test builds its own."""
    path, actions = _fresh_schedule(minutes, seed)
    return path, tuple(actions)


@pytest.mark.parametrize("minutes", [3, 13, 60])
def test_schedule_meets_the_minimums(minutes: float) -> None:
    _, actions = _schedule(minutes)
    counts = fault_counts(actions)
    assert counts["expire_listen_key"] >= 10
    assert counts["malformed"] >= 1000
    assert counts["oversized"] >= 3
    assert counts["rotate"] >= 1
    assert counts["silence"] >= 2
    assert counts["skew_time"] >= 2
    assert counts["push_duplicate"] >= 20 and counts["push_out_of_order"] >= 20
    assert {f"rest_{s}" for s in (500, 502, 503, 429, 418)} <= set(counts)
    assert counts["sinks_down"] == 1 and counts["kill"] == 1
    assert counts["disk_full"] == 1 and counts["slow_notifier"] == 1
    # Connection losses are paced by the daemon's backoff (`Plan`): 100 drops from 13 minutes.
    if minutes >= 13:
        assert counts["drop"] >= 100
    else:
        assert counts["drop"] + counts["rotate"] >= 20


def test_connection_losses_leave_the_backoff_time_to_reset() -> None:
    _, actions = _schedule(60)
    for conn in ("market", "user"):
        times = sorted(
            a.t_s for a in actions
            if (a.kind in ("drop", "rotate") and a.params["conn"] == conn)
            or (conn == "market" and a.params.get("varieties") == ["oversized"])
        )
        # Any window of STABLE_S holds at most one burst.
        for i, t in enumerate(times):
            later = [u for u in times[i:] if u < t + STABLE_S - 1]
            assert len(later) <= LOSSES_PER_BURST


def test_schedule_is_deterministic_and_seeded() -> None:
    assert _fresh_schedule(3, 5)[1] == _fresh_schedule(3, 5)[1]
    assert _fresh_schedule(3, 5)[1] != _fresh_schedule(3, 6)[1]


def test_kill_happens_inside_the_outage_and_the_outage_ends_before_the_tail() -> None:
    path, actions = _schedule(3)
    at = {a.kind: a.t_s for a in actions if a.kind in ("kill", "restart", "sinks_down", "sinks_up")}
    assert at["sinks_down"] < at["kill"] < at["restart"] < at["sinks_up"]
    assert at["sinks_up"] < path.holds("tail")[0].start_s + 5


@pytest.mark.parametrize("minutes", [1, 3])
def test_price_path_crosses_every_level_up_and_down(minutes: float) -> None:
    path = build_path(minutes, 1)
    meta, lines = recording(path, T0)
    keys = expected_alerts(meta, lines, AlertSettings().policy())
    names = [str(k) for k in keys]
    for level in ("warning", "critical", "emergency"):
        assert f"level/{level}" in names
    assert "deescalation/critical" in names and "all_clear/-" in names
    # Every level hold sits clearly beyond its line (hysteresis 0.03) so a crossing is robust.
    assert RISK["warning"] > 0.70 and RISK["critical"] > 0.85 and RISK["emergency"] > 0.95
    assert RISK["critical_down"] < 0.92 and RISK["warning_down"] < 0.82 and RISK["base"] < 0.67


@pytest.mark.parametrize("minutes", [3, 60])
def test_every_silence_outlasts_its_blind_deadline_inside_a_hold(minutes: float) -> None:
    """A silence shorter than the 2 x stale_after deadline could end before a compliant daemon
    reports blind (the data resumes first); the check would then fail on a race, not a bug."""
    path, actions = _schedule(minutes)
    tm = Timing()
    silences = [a for a in actions if a.kind == "silence"]
    assert silences
    for a in silences:
        assert a.params["seconds"] >= 2 * tm.stale_after_s
        hold = next(s for s in path.holds() if s.start_s <= a.t_s < s.end_s)
        assert hold.label in ("base", "tail")
        assert a.t_s + a.params["seconds"] < hold.end_s


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_ci_length_path_has_every_descent(seed: int) -> None:
    """The CI run (`--minutes 3`) de-escalates from emergency and from critical alone, and climbs
    to emergency twice, whatever the seed."""
    path = build_path(3, seed)
    assert path.cycles[:2] == ["full", "zigzag"]
    assert len(path.holds("emergency")) >= 2
    meta, lines = recording(path, T0)
    names = [str(k) for k in expected_alerts(meta, lines, AlertSettings().policy())]
    assert names.count("level/emergency") >= 2
    assert "deescalation/critical" in names  # emergency -> critical
    assert "deescalation/warning" in names  # critical -> warning, no emergency between
    assert names.count("all_clear/-") >= 2


def _ids(*specs: tuple[str, str, int]) -> list[str | None]:
    return [f"soak/{kind}/{level}/{t}" for kind, level, t in specs]


EXPECTED = [
    Key("soak", "level", "warning"),
    Key("soak", "level", "critical"),
    Key("soak", "deescalation", "warning"),
    Key("soak", "all_clear", "-"),
]


def test_matching_all_delivered_with_extras() -> None:
    got = _ids(("level", "warning", 1), ("blind", "-", 2), ("level", "critical", 3),
               ("restored", "-", 4), ("deescalation", "warning", 5), ("all_clear", "-", 6))
    result = match_sink("x", EXPECTED, got)
    assert (result.delivered, result.lost, result.duplicates, result.unexpected) == (4, 0, 0, 0)
    assert result.extras == {"blind": 1, "restored": 1}


def test_matching_counts_lost_and_duplicates() -> None:
    got = _ids(("level", "warning", 1), ("level", "warning", 1), ("all_clear", "-", 6))
    result = match_sink("x", EXPECTED, [*got, None])
    assert result.lost == 2 and result.lost_keys == ["level/critical", "deescalation/warning"]
    assert result.duplicates == 1 and result.unparsed == 1 and result.delivered == 2


def test_matching_orders_by_decision_time_and_flags_unexpected() -> None:
    got = _ids(("all_clear", "-", 6), ("level", "critical", 3), ("level", "warning", 1),
               ("level", "emergency", 2), ("deescalation", "warning", 5))
    result = match_sink("x", EXPECTED, got)
    assert result.lost == 0 and result.unexpected == 1
    assert result.unexpected_keys == ["level/emergency"]


def test_matching_counts_coalesced_separately() -> None:
    got = _ids(("level", "critical", 3), ("deescalation", "warning", 5), ("all_clear", "-", 6))
    result = match_sink("x", EXPECTED, got, coalesced={"soak/level/warning/1"})
    assert (result.delivered, result.coalesced, result.lost) == (3, 1, 0)


def test_key_of_alert_id() -> None:
    assert key_of_id("soak/drift/-/17/fapi:totalMaintMargin") == Key("soak", "drift", "-")
    assert key_of_id("garbage") is None


def test_secret_scan_finds_plain_and_url_encoded_forms() -> None:
    secret = "pw+a/b&c"
    assert {"pw+a/b&c", "pw%2Ba%2Fb%26c"} <= secret_forms([secret])
    blobs = [b"url mailto://u:pw%2Ba%2Fb%26c@h", b"nothing here", b"pw+a/b&c"]
    assert sum(count_leaks(blobs, [secret]).values()) == 2
    assert count_leaks([b"clean"], [secret]) == {}


LINES, HYSTERESIS = (0.70, 0.85, 0.95), 0.03


def _level(risk: float) -> int:
    return sum(risk >= line for line in LINES)


@pytest.mark.parametrize("minutes", [3, 60])
def test_no_ramp_frame_makes_the_expected_ladder_timing_dependent(minutes: int) -> None:
    """A frame inside a ramp down must not land in the hysteresis band of a level between the
    ramp's two ends: there the policy's 1 s tick may or may not see it before the next frame,
    and the de-escalation's level would depend on timing, not on the price path."""
    path = build_path(minutes, 1)
    for seg in path.segments:
        if seg.hold or seg.risk_to >= seg.risk_from:
            continue
        top, bottom = _level(seg.risk_from), _level(seg.risk_to)
        for k in range(1, int(seg.end_s - seg.start_s)):
            risk = path.risk_at(seg.start_s + k)
            held = [lv for lv in range(1, top + 1) if risk >= LINES[lv - 1] - HYSTERESIS]
            assert max(held, default=0) in (top, bottom), (seg.label, risk)


# ---------------------------------------------------------------------------- the phases
@functools.cache
def _timed(minutes: float, seed: int) -> list[tuple[Key, float]]:
    path = build_path(minutes, seed)
    meta, lines = recording(path, T0)
    return [(k, (t - T0) / 1000) for k, t in expected_timed(meta, lines, AlertSettings().policy())]


@pytest.mark.parametrize("seed", [1, 2, 7, 11])
@pytest.mark.parametrize("minutes", [3, 60])
def test_every_ci_length_and_hour_long_path_holds_both_phases(minutes: int, seed: int) -> None:
    """Disk full while the risk crosses warning and critical; slow notifiers while it crosses
    emergency and comes back down; both on the first cycle, before the outage and the kill,
    and every stall (and the alerts queued behind it) over before the next crossing."""
    path, actions = _schedule(minutes, seed)
    phases = phase_windows(path)
    kinds = [a.kind for a in actions]
    for kind in ("disk_fill", "disk_free", "slow_start", "slow_settled"):
        assert kinds.count(kind) == 1
    assert kinds.count("slow_end") == 2
    at = {a.kind: a.t_s for a in actions if a.kind in ("disk_fill", "disk_free", "slow_start")}
    assert at["disk_fill"] < at["disk_free"] <= at["slow_start"]
    timed = _timed(minutes, seed)
    in_disk = [str(k) for k, t in timed if phases.disk_fill_s <= t < phases.disk_free_s]
    assert in_disk == ["level/warning", "level/critical"]
    in_slow = [str(k) for k, t in timed if phases.slow_start_s <= t < phases.slow_end_s]
    assert in_slow == ["level/emergency", "deescalation/critical", "all_clear/-"]
    # The Telegram stand-in stalls on the emergency alert only: the de-escalation and the
    # all-clear are decided during its stall and queue behind it.
    ends = dict(phases.slow_ends)
    tg_delay = PhaseSettings().telegram_delay_s
    stalled = [t for _, t in timed if phases.slow_start_s <= t < ends["telegram"]]
    queued = [t for _, t in timed if ends["telegram"] <= t < stalled[0] + tg_delay]
    assert len(stalled) == 1 and len(queued) == 2
    # Even a request at the very end of a slow window is answered, and its queue sent, before
    # the next crossing (a third queued ladder alert would be coalesced).
    next_alert = min(t for _, t in timed if t > phases.slow_end_s)
    worst = max(ends["telegram"] + tg_delay, ends["webhook"] + PhaseSettings().webhook_delay_s)
    assert worst + 3.0 <= phases.settle_s < next_alert
    kill = path.holds("kill")[0]
    down, _ = outage_window(path, kill)
    assert phases.settle_s <= down < kill.start_s
    # Around the free and the health check after it, no other fault.
    quiet = (phases.disk_free_s - 1.0, phases.disk_free_s + DISK_AFTER_S)
    faults = [a for a in actions if a.kind not in (
        "probe", "disk_fill", "disk_free", "slow_start", "slow_end", "slow_settled")]
    assert not [a for a in faults if quiet[0] <= a.t_s < quiet[1]]


def test_slow_timeouts_sit_above_the_delays() -> None:
    cfg = PhaseSettings()
    assert 4.0 < cfg.webhook_delay_s < cfg.webhook_timeout_s  # Apprise's old read timeout: 4 s
    assert 30.0 < cfg.telegram_delay_s < cfg.telegram_timeout_s


SINKS = ("smtp", "telegram", "webhook")


def _results(timed: list[tuple[Key, float]], ids: dict[str, list[str | None]]):  # type: ignore[no-untyped-def]
    return [match_sink(n, [k for k, _ in timed], ids[n]) for n in SINKS]


DISK_TIMED = [(Key("soak", "level", "warning"), 10.0), (Key("soak", "level", "critical"), 17.0)]
W, C = "soak/level/warning/10000", "soak/level/critical/17000"
FAIL, OK = "marginwatch/outbox/-/10050/failing", "marginwatch/outbox/-/22900/recovered"


def _disk_obs(**over: object) -> DiskObs:
    obs = DiskObs(status="ran", tmpfs_mb=48, fill_s=8.6, free_s=22.0, enospc=True,
                  samples=[HealthSample(9.0, 200, False), HealthSample(10.5, 503, True, 2),
                           HealthSample(22.5, 503, True, 9), HealthSample(23.0, 200, False)],
                  outbox_order=[W, FAIL, C, OK])
    for k, v in over.items():
        setattr(obs, k, v)
    return obs


def _disk_arrivals(extra: list[str] | None = None) -> dict[str, list[Arrival]]:
    ids = [W, FAIL, C, OK, *(extra or [])]
    return {n: [Arrival(i, 10.0 + k) for k, i in enumerate(ids)] for n in SINKS}


def test_disk_phase_passes_when_every_window_alert_arrives_once_and_health_follows() -> None:
    arrivals = _disk_arrivals()
    sinks = _results(DISK_TIMED, {n: [a.alert_id for a in arrivals[n]] for n in SINKS})
    doc = judge_disk(_disk_obs(), DISK_TIMED, sinks, arrivals, 8.0)
    assert doc["pass"], doc["checks"]
    figures = (doc["alerts_in_window"], doc["delivered"], doc["lost"], doc["duplicates"])
    assert figures == (2, 6, 0, 0)
    assert doc["healthz_200_after_free_s"] == 1.0 and doc["held_writes_max"] == 9
    assert doc["per_sink"]["smtp"]["ops_failing"] == 1


def test_disk_phase_fails_on_a_duplicate_a_loss_or_health_that_never_recovers() -> None:
    arrivals = _disk_arrivals([C])
    sinks = _results(DISK_TIMED, {n: [a.alert_id for a in arrivals[n]] for n in SINKS})
    doc = judge_disk(_disk_obs(), DISK_TIMED, sinks, arrivals, 8.0)
    assert not doc["pass"] and doc["duplicates"] == 3
    lost = {n: [a for a in _disk_arrivals()[n] if a.alert_id != C] for n in SINKS}
    sinks = _results(DISK_TIMED, {n: [a.alert_id for a in lost[n]] for n in SINKS})
    assert not judge_disk(_disk_obs(), DISK_TIMED, sinks, lost, 8.0)["pass"]
    arrivals = _disk_arrivals()
    sinks = _results(DISK_TIMED, {n: [a.alert_id for a in arrivals[n]] for n in SINKS})
    sick = _disk_obs(samples=[HealthSample(10.5, 503, True), HealthSample(23.0, 503, True)])
    assert not judge_disk(sick, DISK_TIMED, sinks, arrivals, 8.0)["checks"]["healthz_200_after"]
    unordered = _disk_obs(outbox_order=[C, W])
    checks = judge_disk(unordered, DISK_TIMED, sinks, arrivals, 8.0)["checks"]
    assert not checks["held_alerts_persisted_in_order"]


@pytest.mark.parametrize(("ci", "passes"), [(True, False), (False, True)])
def test_a_disk_phase_that_cannot_mount_is_reported_and_fails_in_ci(ci: bool, passes: bool) -> None:
    obs = DiskObs(status="skipped: cannot mount (permission denied)", ci=ci)
    doc = judge_disk(obs, DISK_TIMED, [], {}, 8.0)
    assert doc["status"].startswith("skipped: cannot mount") and doc["pass"] is passes
    assert in_ci({"CI": "true"}) and not in_ci({})


SLOW_TIMED = [
    (Key("soak", "level", "emergency"), 24.0),
    (Key("soak", "deescalation", "critical"), 32.0),
    (Key("soak", "all_clear", "-"), 45.0),
]
E, D, A = "soak/level/emergency/24000", "soak/deescalation/critical/32000", "soak/all_clear/-/45000"


def _slow(webhook_keys: bool = True, smtp_lag: float = 0.2) -> dict[str, list[Arrival]]:
    def hook(i: str, at: float, delay: float = 0.0) -> Arrival:
        return Arrival(i, at, idempotency_key(i) if webhook_keys else None, delay)

    return {
        "smtp": [Arrival(E, 24.0 + smtp_lag), Arrival(D, 32.0 + smtp_lag),
                 Arrival(A, 45.0 + smtp_lag)],
        "webhook": [hook(E, 24.0, 6.0), hook(D, 32.0, 6.0), hook(A, 45.0, 6.0)],
        # Stalled 32 s on the emergency alert: the other two reach it after the stall.
        "telegram": [Arrival(E, 24.1, delay_s=32.0), Arrival(D, 56.2), Arrival(A, 57.2)],
    }


def _slow_obs() -> SlowObs:
    return SlowObs(start_s=22.5, ends={"telegram": 27.0, "webhook": 47.0},
                   delays={"webhook": 6.0, "telegram": 32.0},
                   timeouts={"webhook": 10.0, "telegram": 40.0})


def test_slow_phase_passes_when_the_fast_sink_is_not_held_back() -> None:
    arrivals = _slow()
    sinks = _results(SLOW_TIMED, {n: [a.alert_id for a in arrivals[n]] for n in SINKS})
    doc = judge_slow(_slow_obs(), SLOW_TIMED, sinks, arrivals)
    assert doc["pass"], doc["checks"]
    assert doc["fast_sinks"] == ["smtp"] and doc["overtaken"] == {"webhook": 0, "telegram": 2}
    assert doc["slowed_requests"] == {"webhook": 3, "telegram": 1}
    assert doc["slow_lag_s_max"]["telegram"] == 24.2 and doc["phase_alerts"] == 3


def test_slow_phase_fails_on_a_held_back_fast_sink_a_duplicate_or_a_missing_key() -> None:
    arrivals = _slow(smtp_lag=7.0)
    sinks = _results(SLOW_TIMED, {n: [a.alert_id for a in arrivals[n]] for n in SINKS})
    checks = judge_slow(_slow_obs(), SLOW_TIMED, sinks, arrivals)["checks"]
    assert not checks["fast_sink_not_delayed"]
    arrivals = _slow()
    arrivals["webhook"].append(Arrival(E, 31.0, idempotency_key(E)))  # Apprise's old retry
    sinks = _results(SLOW_TIMED, {n: [a.alert_id for a in arrivals[n]] for n in SINKS})
    doc = judge_slow(_slow_obs(), SLOW_TIMED, sinks, arrivals)
    assert not doc["pass"] and doc["duplicates"] == 1
    assert doc["webhook_idempotency_keys"]["repeated"] == 1
    arrivals = _slow(webhook_keys=False)
    sinks = _results(SLOW_TIMED, {n: [a.alert_id for a in arrivals[n]] for n in SINKS})
    checks = judge_slow(_slow_obs(), SLOW_TIMED, sinks, arrivals)["checks"]
    assert not checks["idempotency_keys_unique_and_right"]
