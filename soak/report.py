"""The verdict of a run: the JSON document (the issue's keys plus a few more), the pass rule,
the secret scan and the human table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from soak.matching import SinkResult, match_sink
from soak.phases import judge_disk, judge_slow
from soak.runner import Observed


def secret_forms(secrets: Iterable[str]) -> set[str]:
    """Each secret as is and URL-encoded (both quoting styles)."""
    forms: set[str] = set()
    for secret in secrets:
        forms |= {secret, quote(secret, safe=""), quote_plus(secret)}
    return {f for f in forms if f}


def count_leaks(blobs: Iterable[bytes], secrets: Iterable[str]) -> dict[str, int]:
    """Occurrences of every form of every secret in `blobs`, by form (masked in the key)."""
    forms = secret_forms(secrets)
    hits: Counter[str] = Counter()
    for blob in blobs:
        for form in forms:
            n = blob.count(form.encode())
            if n:
                hits[form[:4] + "…"] += n
    return dict(hits)


def _faults(obs: Observed) -> dict[str, Any]:
    sim = obs.sim_counts
    prefix = "rest_error_"
    served = {k.removeprefix(prefix): v for k, v in sim.items() if k.startswith(prefix)}
    return {
        "websocket_drops": sim.get("drop", 0),
        "connections_dropped": obs.connections_dropped,
        "listen_key_expiries": sim.get("expire_listen_key", 0),
        "rotations": sim.get("rotate", 0),
        "silences": sim.get("silence", 0),
        "rest_error_bursts": sim.get("rest_errors", 0),
        "rest_errors_served": dict(sorted(served.items())),
        "time_skews": obs.planned.get("skew_time", 0),
        "malformed_frames": sim.get("malformed", 0),
        "oversized_frames": obs.planned.get("oversized", 0),
        "duplicate_user_events": obs.applied.get("push_duplicate", 0),
        "out_of_order_user_events": obs.applied.get("push_out_of_order", 0),
        "notifier_outages": obs.applied.get("notifier_outage", 0),
        "sigkills": obs.applied.get("sigkill", 0),
        "disk_full_phases": obs.applied.get("disk_full", 0),
        "slow_notifier_phases": obs.applied.get("slow_notifier", 0),
    }


def build(obs: Observed, secrets: Iterable[str]) -> dict[str, Any]:
    """The `--json` document of a finished run."""
    sinks: list[SinkResult] = [
        match_sink(name, obs.expected, obs.receipts.get(name, []), obs.coalesced.get(name, ()))
        for name in obs.sink_names
    ]
    expected = sum(s.expected for s in sinks)
    delivered = sum(s.delivered for s in sinks)
    lost = sum(s.lost for s in sinks)
    duplicates = sum(s.duplicates for s in sinks)
    checked = [p for p in obs.probes if p.skipped is None]
    mismatches = [p for p in checked if p.diffs]
    crash_parts = {
        "unexpected_exits": len(obs.unexpected_exits),
        "feed_restarts": obs.feed_restarts,
        "tracebacks": obs.tracebacks,
        "unclean_stop": int(obs.stop_exit_code not in (None, 0)),
    }
    crashes = sum(crash_parts.values())
    latencies = [x for x in obs.blind_latencies if x is not None]
    missing_blind = sum(1 for x in obs.blind_latencies if x is None)
    latency_max = max(latencies) if latencies else None
    leaks = count_leaks(obs.texts_for_scan, secrets)
    blind_ok = (
        missing_blind == 0
        and latency_max is not None
        and latency_max <= 2 * obs.stale_after_s
    )
    false_alerts = sum(s.unexpected for s in sinks)
    disk = judge_disk(
        obs.disk, obs.expected_t, sinks, obs.arrivals, obs.phase_settings.healthy_within_s
    )
    slow = judge_slow(obs.slow, obs.expected_t, sinks, obs.arrivals)
    checks = {
        "no_alert_lost": lost == 0,
        "no_duplicate": duplicates == 0,
        "no_false_level_alert": false_alerts == 0,
        "no_state_mismatch": not mismatches,
        "no_crash": crashes == 0,
        "blind_alert_in_time": blind_ok,
        "no_secret_leak": not leaks,
        "no_harness_problem": not obs.harness_problems,
        "disk_full_phase": bool(disk["pass"]),
        "slow_notifier_phase": bool(slow["pass"]),
    }
    extras: Counter[str] = Counter()
    for s in sinks:
        extras.update(s.extras)
    return {
        "pass": all(checks.values()),
        "minutes": obs.minutes,
        "seed": obs.seed,
        "faults": _faults(obs),
        "alerts_expected": expected,
        "alerts_delivered": delivered,
        "alerts_lost": lost,
        "alerts_coalesced": sum(s.coalesced for s in sinks),
        "duplicates": duplicates,
        "false_level_alerts": false_alerts,
        "resyncs": sum(obs.resyncs.values()),
        "state_mismatches": len(mismatches),
        "crashes": crashes,
        "blind_alert_latency_s_max": latency_max,
        "rss_mb_max": round(obs.rss_mb_max, 1),
        "secret_leaks": sum(leaks.values()),
        "phases": {"disk_full": disk, "slow_notifier": slow},
        "checks": checks,
        "alerts_expected_per_sink": len(obs.expected),
        "ladder": [str(k) for k in obs.expected],
        "per_sink": {
            s.sink: {
                "delivered": s.delivered,
                "lost": s.lost,
                "coalesced": s.coalesced,
                "duplicates": s.duplicates,
                "unexpected_level_alerts": s.unexpected,
                "unparsed": s.unparsed,
                "extras": dict(sorted(s.extras.items())),
                "lost_keys": s.lost_keys,
                "unexpected_keys": s.unexpected_keys,
            }
            for s in sinks
        },
        "extras_by_kind": dict(sorted(extras.items())),
        "resyncs_by_reason": dict(sorted(obs.resyncs.items())),
        "state_checks": len(checked),
        "state_checks_skipped": len(obs.probes) - len(checked),
        "state_check_skip_reasons": dict(Counter(p.skipped for p in obs.probes if p.skipped)),
        "mismatch_details": [f"{p.t_s:.0f}s {p.hold}: {'; '.join(p.diffs)}" for p in mismatches],
        "crash_details": crash_parts,
        "blind_alert_latencies_s": obs.blind_latencies,
        "stale_after_s": obs.stale_after_s,
        "outbox_depth_at_sigkill": obs.outbox_at_kill,
        "simulator_errors": obs.sim_errors,
        "harness_problems": obs.harness_problems,
        "wall_s": obs.wall_s,
        "drain_s": obs.drain_s,
    }


def table(doc: dict[str, Any]) -> str:
    """The human-readable summary."""
    faults = doc["faults"]
    rows = [
        ("result", "PASS" if doc["pass"] else "FAIL"),
        ("minutes / seed", f"{doc['minutes']:g} / {doc['seed']}"),
        ("alerts expected / delivered", f"{doc['alerts_expected']} / {doc['alerts_delivered']}"),
        ("alerts lost", doc["alerts_lost"]),
        ("alerts coalesced (outbox newest-wins)", doc["alerts_coalesced"]),
        ("duplicates", doc["duplicates"]),
        ("resyncs", doc["resyncs"]),
        ("state checks / mismatches", f"{doc['state_checks']} / {doc['state_mismatches']}"),
        ("crashes", doc["crashes"]),
        ("blind alert latency max (s)", doc["blind_alert_latency_s_max"]),
        ("blind alert latency per silence (s)", doc["blind_alert_latencies_s"]),
        ("daemon RSS max (MiB)", doc["rss_mb_max"]),
        ("secret leaks", doc["secret_leaks"]),
        ("wall time (s)", doc["wall_s"]),
    ]
    rows += [(f"fault: {k}", v) for k, v in faults.items()]
    disk, slow = doc["phases"]["disk_full"], doc["phases"]["slow_notifier"]
    if disk.get("status") == "ran":
        rows.append(
            ("phase: disk full", f"window {disk['window_s']} s, {disk['alerts_in_window']}"
             f" ladder alerts, delivered {disk['delivered']}, lost {disk['lost']}, duplicates"
             f" {disk['duplicates']}, /healthz 503 {disk['healthz_503_after_fill_s']} s after"
             f" the fill, 200 {disk['healthz_200_after_free_s']} s after the free, held"
             f" {disk['held_writes_max']}, persisted {disk['persisted']}")
        )
    else:
        rows.append(("phase: disk full", disk.get("status")))
    if slow.get("status") == "ran":
        rows.append(
            ("phase: slow notifiers", f"delays {slow['delays_s']} s, {slow['phase_alerts']}"
             f" alerts, missing {slow['missing']}, duplicates {slow['duplicates']}, fast sink"
             f" lag max {slow['fast_lag_s_max']} s, slow lag max {slow['slow_lag_s_max']},"
             f" overtaken {slow['overtaken']}")
        )
    else:
        rows.append(("phase: slow notifiers", slow.get("status")))
    rows += [(f"check: {k}", "ok" if v else "FAILED") for k, v in doc["checks"].items()]
    for name, s in doc["per_sink"].items():
        rows.append(
            (f"sink {name}", f"delivered {s['delivered']}, lost {s['lost']},"
             f" duplicates {s['duplicates']}, extras {s['extras']}")
        )
    rows += [("problem", p) for p in doc["harness_problems"]]
    rows += [("mismatch", m) for m in doc["mismatch_details"]]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
