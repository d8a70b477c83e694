"""Run every benchmark: `python -m benchmarks [--quick] [--json] [--only NAME ...]`.

`python -m benchmarks fleet [--accounts N ...] [--json]` runs only the fleet benchmark, at the
given sizes (see benchmarks/fleet.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import decode, engine, fleet, idle_cpu, latency, memory, replay
from benchmarks.verdicts import VERDICTS


class Benchmark(NamedTuple):
    title: str
    run: Callable[[bool], dict[str, Any]]
    table: Callable[[dict[str, Any]], list[str]]


BENCHMARKS: dict[str, Benchmark] = {
    "engine": Benchmark("per mark tick, incremental vs full recompute", engine.run, engine.table),
    "decode": Benchmark(
        "one all-market mark-price frame, decoded and applied", decode.run, decode.table
    ),
    "latency": Benchmark(
        "tick-to-alert over loopback, real daemon vs 5 s REST polling", latency.run, latency.table
    ),
    "replay": Benchmark(
        "events/s through decode → engine → policy, one symbol", replay.run, replay.table
    ),
    "memory": Benchmark("RSS over a 24 h-equivalent all-market replay", memory.run, memory.table),
    "idle_cpu": Benchmark(
        "daemon process CPU following the all-market 1 s stream", idle_cpu.run, idle_cpu.table
    ),
    "fleet": Benchmark(
        "one daemon following N accounts (mixed modes) vs one account", fleet.run, fleet.table
    ),
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["fleet"]:
        return fleet.main(given[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (CI): under 2 minutes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    info = machine()
    if not args.json:
        print(f"marginwatch benchmarks — Python {info['python']} on {info['cpu_model']}"
              f" ({info['cpus']} CPUs){' — quick' if args.quick else ''}")
    results: dict[str, Any] = {}
    started = time.monotonic()
    for name in names:
        bench = BENCHMARKS[name]
        began = time.monotonic()
        result = bench.run(args.quick)
        result["elapsed_s"] = round(time.monotonic() - began, 2)
        if name in VERDICTS:
            result["met"] = VERDICTS[name](result)
        results[name] = result
        if not args.json:
            print(f"\n== {name}: {bench.title} ({result['elapsed_s']:.0f} s) ==", flush=True)
            for line in bench.table(result):
                print(line, flush=True)
    if args.json:
        results["machine"] = info
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print("\n== targets ==")
    for name, result in results.items():
        print(f"{name:<10}{'met' if result['met'] else 'MISSED':>8}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
