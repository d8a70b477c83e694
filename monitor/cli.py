"""The `marginwatch` command line (also `python -m monitor`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from monitor import __version__

#: The recording `calc` replays when no FILE is given: the hedged Portfolio Margin book.
DEFAULT_EXAMPLE = "portfolio_margin"
#: Where `test-alert` looks for the config without --config or $MARGINWATCH_CONFIG.
DEFAULT_CONFIG = "/etc/marginwatch/marginwatch.toml"


def _cmd_calc(args: argparse.Namespace) -> int:
    from monitor.binance.schemas import WireError
    from monitor.calc import calc_file, format_table
    from monitor.engine.model import EngineError
    from monitor.examples import path as example_path
    from monitor.feed.recording import RecordingError

    target = args.file or str(example_path(DEFAULT_EXAMPLE))
    try:
        report = calc_file(target, margin_leverage=args.margin_leverage)
    except (RecordingError, WireError, EngineError) as exc:
        print(f"marginwatch calc: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(report, sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(f"recording {target}")
        print(format_table(report))
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from monitor.alerts.messages import render
    from monitor.binance.schemas import WireError
    from monitor.calc import build_report
    from monitor.engine.model import EngineError
    from monitor.feed.recording import RecordingError, read_recording
    from monitor.service.timeline import AlertTimeline

    try:
        meta, lines = read_recording(args.file)
        timeline = AlertTimeline(meta, margin_leverage=args.margin_leverage, with_figures=args.full)
        first_t: int | None = None
        started = time.monotonic()
        for line in lines:
            if args.speed:
                first_t = line.t if first_t is None else first_t
                delay = (line.t - first_t) / 1000.0 / args.speed - (time.monotonic() - started)
                if delay > 0:
                    time.sleep(delay)
            for alert in timeline.feed(line):
                intent = alert.intent
                if args.json:
                    _print_json(
                        {
                            "t": intent.t_ms,
                            "account": intent.account,
                            "kind": intent.kind.value,
                            "level": None if intent.level is None else intent.level.value,
                            "risk": intent.risk,
                            "alert_id": intent.alert_id,
                            "detail": intent.detail,
                        }
                    )
                elif args.full:
                    print(render(intent, alert.snapshot, alert.figures).text + "\n", flush=True)
                else:
                    print(render(intent, alert.snapshot).line, flush=True)
        timeline.replay.flush()
        book = timeline.replay.book
        if book is None:
            raise WireError("the recording has no usable REST snapshot (no account state)")
        summary = build_report(book)
    except (RecordingError, WireError, EngineError) as exc:
        print(f"marginwatch replay: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _print_json({"kind": "summary", "account": meta.account, **summary})
    else:
        print(f"{len(timeline.alerts)} alert(s); final risk {summary['risk'] * 100:.2f} %")
    return 0


def _config_path(args: argparse.Namespace) -> str:
    return str(args.config or os.environ.get("MARGINWATCH_CONFIG") or DEFAULT_CONFIG)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from monitor.config import check_config

    return check_config(args.file)


def _cmd_test_alert(args: argparse.Namespace) -> int:
    from monitor.alerts.testalert import run_test_alert
    from monitor.config import ConfigError, load_config

    path = _config_path(args)
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"marginwatch test-alert: {path} is not valid:", file=sys.stderr)
        for where, message in exc.problems:
            print(f"  {where}: {message}", file=sys.stderr)
        return 2
    return run_test_alert(
        config.notify_targets(), args.tag, telegram_api_base=config.alerts.telegram_api_base
    )


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marginwatch",
        description="Live Binance margin monitor: warns before liquidation.",
    )
    parser.add_argument("--version", action="version", version=f"marginwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    calc = sub.add_parser(
        "calc",
        help="replay a recording and print the final risk report",
        description="Replay FILE through the real decoders and engine and print the state after "
        "its last line. Without FILE, the bundled Portfolio Margin example.",
    )
    calc.add_argument("file", nargs="?", help="recording (.jsonl or .jsonl.gz)")
    calc.add_argument("--json", action="store_true", help="one JSON object (stable keys)")
    calc.add_argument(
        "--margin-leverage",
        type=int,
        choices=(3, 5, 10),
        default=3,
        help="Portfolio Margin: chosen margin leverage (selects the margin-loan MM rate)",
    )
    calc.set_defaults(func=_cmd_calc)
    replay = sub.add_parser(
        "replay",
        help="replay a recording through engine and alert policy; print the alert timeline",
        description="Drive FILE through the real decoders, engine and alert policy on the "
        "recording's own clock and print every alert it would send (nothing is sent).",
    )
    replay.add_argument("file", help="recording (.jsonl or .jsonl.gz)")
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="replay at X times the recorded pace")
    pace.add_argument("--max", action="store_true", help="as fast as possible (the default)")
    replay.add_argument(
        "--json", action="store_true", help="one JSON object per alert, then a summary line"
    )
    replay.add_argument(
        "--full",
        action="store_true",
        help="print each alert's full message (distances, liquidation prices)",
    )
    replay.add_argument("--margin-leverage", type=int, choices=(3, 5, 10), default=3)
    replay.set_defaults(func=_cmd_replay)
    check = sub.add_parser(
        "check-config",
        help="validate a config file; print every problem with its field path (exit 2)",
    )
    check.add_argument("file", help="marginwatch TOML config")
    check.set_defaults(func=_cmd_check_config)
    test_alert = sub.add_parser(
        "test-alert",
        help="send a test message to every notify destination and report each outcome",
    )
    test_alert.add_argument(
        "--config", help=f"config file (default $MARGINWATCH_CONFIG or {DEFAULT_CONFIG})"
    )
    test_alert.add_argument("--tag", help="only destinations with this tag")
    test_alert.set_defaults(func=_cmd_test_alert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
