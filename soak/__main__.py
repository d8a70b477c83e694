"""`python -m soak [--minutes N] [--seed S] [--json] [--keep]`: run the fault-injection soak;
`--accounts N` (N > 1) runs the fleet soak instead (`fleet.py`: N accounts in one daemon, faults
across all of them, Binance's per-IP budgets enforced by the fake exchange).

Exit status 0 when the run passes, 1 when it fails, 2 when the harness itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from soak import report
from soak.fleet import FleetPlan, FleetSoak
from soak.fleet import table as fleet_table
from soak.runner import HarnessError, Secrets, Soak


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m soak",
        description="Run the real daemon against the fake exchange with injected faults and "
        "real notifier sinks; compare the alerts with what the price path should fire.",
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="wall-clock length (may be "
                        "fractional; short runs take at least about 1.5 min)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the schedule and path")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--accounts", type=int, default=1, help="N > 1: the fleet soak with N "
                        "accounts (its calm lead, paced by the REST budget, comes on top of "
                        "--minutes)")
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error("--minutes must be > 0")
    if args.accounts < 1:
        parser.error("--accounts must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.accounts > 1:
        return fleet_main(args)
    work = Path(tempfile.mkdtemp(prefix="marginwatch-soak-"))
    soak = Soak(work, args.minutes, args.seed)
    code = 2
    try:
        observed = asyncio.run(soak.run())
        doc = report.build(observed, soak.secrets.values())
        if args.keep:
            doc["work_dir"] = str(work)
        if args.json:
            print(json.dumps(doc, allow_nan=False))
        else:
            print(report.table(doc))
        code = 0 if doc["pass"] else 1
    except HarnessError as exc:
        print(f"soak: harness error: {exc} (work dir {work})", file=sys.stderr)
        args.keep = True
    except KeyboardInterrupt:
        print("soak: interrupted; processes stopped", file=sys.stderr)
        code = 2
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return code


def fleet_main(args: argparse.Namespace) -> int:
    """The fleet soak (`fleet.py`): exit 0 when it passes, 1 when it fails, 2 on a harness
    error."""
    work = Path(tempfile.mkdtemp(prefix="marginwatch-fleet-soak-"))
    plan = FleetPlan.make(args.accounts, args.minutes, args.seed)
    secrets = Secrets.for_seed(args.seed)
    soak = FleetSoak(work, plan, secrets.api_key, secrets.api_secret)
    code = 2
    try:
        doc = asyncio.run(soak.run())
        if args.keep:
            doc["work_dir"] = str(work)
        print(json.dumps(doc, allow_nan=False) if args.json else fleet_table(doc))
        code = 0 if doc["pass"] else 1
    except (RuntimeError, OSError) as exc:
        print(f"soak: harness error: {exc} (work dir {work})", file=sys.stderr)
        args.keep = True
    except KeyboardInterrupt:
        print("soak: interrupted; processes stopped", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
