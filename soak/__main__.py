"""`python -m soak [--minutes N] [--seed S] [--json] [--keep]`: run the fault-injection soak.

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
from soak.runner import HarnessError, Soak


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
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error("--minutes must be > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
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


if __name__ == "__main__":
    sys.exit(main())
