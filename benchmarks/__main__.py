"""Run every benchmark: `python -m benchmarks [--quick] [--json]`."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

from benchmarks import decode, engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (CI): under 2 minutes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "engine": engine.run(args.quick),
        "decode": decode.run(args.quick),
    }
    if args.json:
        results["machine"] = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        }
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"marginwatch benchmarks — Python {platform.python_version()} on {platform.machine()}")
    print("\n== engine: per mark tick, incremental vs full recompute ==")
    for line in engine.table(results["engine"]):
        print(line)
    print("\n== decode: one all-market mark-price frame, decoded and applied ==")
    for line in decode.table(results["decode"]):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
