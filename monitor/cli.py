"""The `marginwatch` command line (also `python -m monitor`).

Exit statuses: 0 done; 1 something was not delivered (`test-alert`, `replay --notify`); 2 bad
input or an environment problem (missing or damaged file, invalid config, port in use, state
directory not writable), told in one line on stderr without a traceback; 130 interrupted. A
reader that goes away (`marginwatch calc --json | head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor import __version__

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.service.timeline import TimedAlert

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

    notifier: _ReplayNotifier | None = None
    try:
        if args.notify:
            notifier = _ReplayNotifier(args.notify)
        meta, lines = read_recording(args.file)
        timeline = AlertTimeline(
            meta,
            margin_leverage=args.margin_leverage,
            with_figures=args.full or bool(args.report) or bool(args.notify),
        )
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
                if notifier is not None:
                    notifier.send(alert)
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
        if args.report:
            from monitor.service.report import write_report

            files = write_report(timeline, Path(args.report), source=args.file)
            print(f"report: {files.md} {files.html} {files.png}", file=sys.stderr)
    except (RecordingError, WireError, EngineError, ValueError) as exc:
        print(f"marginwatch replay: {exc}", file=sys.stderr)
        return 2
    finally:
        failures = notifier.close() if notifier is not None else []
    if args.json:
        _print_json({"kind": "summary", "account": meta.account, **summary})
    else:
        print(f"{len(timeline.alerts)} alert(s); final risk {summary['risk'] * 100:.2f} %")
    for problem in failures:
        print(f"marginwatch replay: {problem}", file=sys.stderr)
    return 1 if failures else 0


class _ReplayNotifier:
    """`replay --notify URL`: sends each alert once, in order, and reports failures per
    destination (by its redacted URL; a bad URL raises ValueError, also redacted)."""

    def __init__(self, urls: Sequence[str]) -> None:
        from monitor.alerts.delivery import destinations

        self._dests = destinations([(url, []) for url in urls])
        self._loop = asyncio.new_event_loop()
        self.sent = 0
        #: Per destination (in order): alerts not delivered, and the last error.
        self._failed: dict[str, tuple[int, str]] = {}

    def send(self, alert: TimedAlert) -> None:
        from monitor.alerts.delivery import sender_for
        from monitor.alerts.messages import render
        from monitor.alerts.redact import scrub

        message = render(alert.intent, alert.snapshot, alert.figures)
        self.sent += 1

        async def one() -> None:
            for dest in self._dests:
                sender = sender_for(dest)
                try:
                    result = await sender.send(message)
                finally:
                    await sender.aclose()
                if not result.ok:
                    count, _ = self._failed.get(dest.display, (0, ""))
                    error = scrub(str(result.error), dest.secrets)
                    self._failed[dest.display] = (count + 1, error)

        self._loop.run_until_complete(one())

    def close(self) -> list[str]:
        """One line per destination that missed alerts (empty when all were delivered)."""
        self._loop.close()
        return [
            f"{count} of {self.sent} alert(s) not delivered to {display}: {error}"
            for display, (count, error) in self._failed.items()
        ]


def _cmd_demo(args: argparse.Namespace) -> int:
    from monitor.service.demo import run_demo

    if args.speed <= 0:
        print("marginwatch demo: --speed must be > 0", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        print(f"marginwatch demo: cannot create {out}: {reason}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_demo(out, speed=args.speed, notify=tuple(args.notify)))
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:  # a --notify URL Apprise cannot load (the message is redacted)
        print(f"marginwatch demo: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from monitor.service.watch import run_watch

    if args.interval <= 0:
        print("marginwatch watch: --interval must be > 0", file=sys.stderr)
        return 2
    return run_watch(args.url, args.interval, args.once)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from monitor.examples import NAMES
    from monitor.examples import path as example_path
    from monitor.sim.run import run_simulate

    target = str(example_path(args.recording)) if args.recording in NAMES else args.recording
    return run_simulate(
        target,
        host=args.host,
        port=args.port,
        speed=args.speed,
        loop=args.loop,
        api_key=args.api_key,
        api_secret=args.api_secret,
    )


def _config_path(args: argparse.Namespace) -> str:
    return str(args.config or os.environ.get("MARGINWATCH_CONFIG") or DEFAULT_CONFIG)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from monitor.config import check_config

    return check_config(args.file)


def _load_config(args: argparse.Namespace, command: str) -> Config | None:
    """The config of --config (or $MARGINWATCH_CONFIG); None after printing its problems."""
    from monitor.config import ConfigError, load_config

    path = _config_path(args)
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"marginwatch {command}: {path} is not valid:", file=sys.stderr)
        for where, message in exc.problems:
            print(f"  {where}: {message}", file=sys.stderr)
        return None


def _state_dir_ok(config: Config, command: str) -> bool:
    """The outbox's directory is writable; else its problem is printed (one line)."""
    from monitor.config import state_dir_problems

    problems = state_dir_problems(config.state.dir)
    for where, message in problems:
        print(f"marginwatch {command}: {where}: {message}", file=sys.stderr)
    return not problems


def _serve(args: argparse.Namespace, command: str, *, http: bool = True, **options: Any) -> int:
    """Load the config, set up logging and run the daemon with `options` (DaemonOptions)."""
    from monitor.service.daemon import DaemonOptions, StartupError
    from monitor.service.logs import configure_logging
    from monitor.service.runner import serve

    config = _load_config(args, command)
    if config is None:
        return 2
    if options.get("deliver", True) and not _state_dir_ok(config, command):
        return 2
    configure_logging(args.log_level, json=True if args.log_json else None)
    try:
        return asyncio.run(serve(config, DaemonOptions(**options), http=http))
    except StartupError as exc:
        print(f"marginwatch {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the signal handlers were installed
        return 130


def _cmd_run(args: argparse.Namespace) -> int:
    return _serve(args, "run", record=Path(args.record) if args.record else None)


def _cmd_record(args: argparse.Namespace) -> int:
    return _serve(
        args,
        "record",
        http=False,
        record=Path(args.out),
        record_all_market=args.all_market,
        deliver=False,
        echo=True,
    )


def _cmd_test_alert(args: argparse.Namespace) -> int:
    from monitor.alerts.testalert import run_test_alert

    config = _load_config(args, "test-alert")
    if config is None:
        return 2
    return run_test_alert(
        config.notify_targets(), args.tag, telegram_api_base=config.alerts.telegram_api_base
    )


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help=f"config file (default $MARGINWATCH_CONFIG or {DEFAULT_CONFIG})"
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"))
    parser.add_argument(
        "--log-json", action="store_true", help="JSON log lines even on a terminal"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marginwatch",
        description="Live Binance margin monitor: warns before liquidation.",
    )
    parser.add_argument("--version", action="version", version=f"marginwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="see it work: fake exchange + bundled PM book + the real daemon, then a report",
        description="Start the local fake Binance exchange with a bundled hedged Portfolio "
        "Margin recording, run the real daemon against it (no credentials, no network), print "
        "the alerts as they fire and write a replay report (PNG chart, HTML, Markdown).",
    )
    demo.add_argument("--out", default="marginwatch-demo", help="directory for the report")
    demo.add_argument("--speed", type=float, default=20.0, help="time compression factor")
    demo.add_argument(
        "--notify", action="append", default=[], metavar="URL",
        help="also send the alerts to this Apprise URL (repeatable)",
    )
    demo.set_defaults(func=_cmd_demo)
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
    replay.add_argument(
        "--report",
        metavar="DIR",
        help="also write a report into DIR: risk.png (risk over time, levels, alerts), "
        "report.md and report.html",
    )
    replay.add_argument(
        "--notify",
        metavar="URL",
        action="append",
        default=[],
        help="send each alert to this Apprise URL (repeatable); without it nothing is sent",
    )
    replay.set_defaults(func=_cmd_replay)
    run = sub.add_parser(
        "run",
        help="run the monitor daemon (every account of the config)",
        description="Watch every account of the config: live REST + streams, margin engine on "
        "every tick, alerts through the outbox, HTTP /healthz /metrics /status. SIGTERM stops it.",
    )
    _config_args(run)
    run.add_argument("--record", metavar="FILE", help="also record every account's traffic")
    run.set_defaults(func=_cmd_run)
    record = sub.add_parser(
        "record",
        help="record accounts' live traffic into a recording (nothing is sent)",
        description="Connect like `run` and write REST snapshots, resyncs and stream frames in "
        "the recording format (gzip for .gz; one file per account when there are several: "
        "NAME.ACCOUNT.jsonl.gz). Alerts are printed, not sent. Ctrl-C stops.",
    )
    _config_args(record)
    record.add_argument("--out", required=True, metavar="FILE", help="recording to write")
    record.add_argument(
        "--all-market",
        action="store_true",
        help="keep every symbol of multi-symbol market frames (default: held symbols only)",
    )
    record.set_defaults(func=_cmd_record)
    watch = sub.add_parser(
        "watch",
        help="live terminal view of a running daemon (its /status endpoint)",
    )
    watch.add_argument("--url", default="http://127.0.0.1:9108", help="the daemon's HTTP base URL")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    watch.add_argument("--once", action="store_true", help="print one view and exit")
    watch.set_defaults(func=_cmd_watch)
    simulate = sub.add_parser(
        "simulate",
        help="run the local fake Binance exchange (REST + websockets) from a recording",
        description="Serve RECORDING (a file, or a bundled example name: usdm, "
        "usdm_multi_assets, coinm, portfolio_margin) as a fake Binance exchange on loopback. "
        'Point an account with environment = "custom" at the printed URLs.',
    )
    simulate.add_argument("recording", help="recording file or bundled example name")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8901)
    simulate.add_argument("--speed", type=float, default=1.0, help="playback speed factor")
    simulate.add_argument("--loop", action="store_true", help="restart the recording at its end")
    simulate.add_argument("--api-key", default="sim-api-key", help="the API key it accepts")
    simulate.add_argument(
        "--api-secret", default="sim-api-secret", help="the API secret it verifies signatures with"
    )
    simulate.set_defaults(func=_cmd_simulate)
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


def _os_reason(exc: OSError) -> str:
    """An OSError as a short phrase: the reason, then the file when there is one."""
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)
    return f"{reason}: {exc.filename}" if exc.filename else reason


def _quiet_stdout() -> None:
    """The reader of stdout went away: point stdout at /dev/null so the interpreter's final
    flush cannot fail again (the Python documentation's recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe must surface here, not at interpreter exit
    except BrokenPipeError:
        _quiet_stdout()
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # an environment problem no command anticipated: one line
        print(f"marginwatch {args.command}: {_os_reason(exc)}", file=sys.stderr)
        return 2
    return code
