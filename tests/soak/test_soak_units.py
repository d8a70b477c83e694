"""The soak harness's pure parts: the schedule meets the issue's minimums, the price path crosses
every level, and the expected-vs-delivered matching counts lost, duplicates and coalesced right."""

from __future__ import annotations

import pytest

from monitor.feed.recording import WsLine
from soak.config import AlertSettings
from soak.expected import Key, expected_alerts, key_of_id
from soak.matching import match_sink
from soak.path import RISK, build_path, recording
from soak.report import count_leaks, secret_forms
from soak.schedule import LOSSES_PER_BURST, STABLE_S, Timing, build_schedule, fault_counts

T0 = 1_790_000_000_000


def _schedule(minutes: float, seed: int = 1):  # type: ignore[no-untyped-def]
    path = build_path(minutes, seed)
    _, lines = recording(path, T0)
    user = [(ln.t - T0) / 1000 for ln in lines if isinstance(ln, WsLine) and ln.conn == "user"]
    return path, build_schedule(path, minutes, seed, user)


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
    assert _schedule(3, 5)[1] == _schedule(3, 5)[1]
    assert _schedule(3, 5)[1] != _schedule(3, 6)[1]


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
