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
from monitor.service import shard_cli

if TYPE_CHECKING:
    from monitor.alerts.policy import PolicyConfig
    from monitor.config import Config
    from monitor.service.timeline import TimedAlert

#: The recording `calc` replays when no FILE is given: the hedged Portfolio Margin book.
DEFAULT_EXAMPLE = "portfolio_margin"
#: Where `test-alert` looks for the config without --config or $MARGINWATCH_CONFIG.
DEFAULT_CONFIG = "/etc/marginwatch/marginwatch.toml"


def resolve_recording(name: str | None) -> str:
    """What a RECORDING argument names: a bundled example (`portfolio_margin`, `usdm`, …, with
    or without `.jsonl`) unless a file of that name exists, else the file itself. None gives
    the default example. Every command that reads a recording resolves it here."""
    from monitor.examples import path as example_path

    if name is None:
        return str(example_path(DEFAULT_EXAMPLE))
    if not Path(name).exists():
        try:
            return str(example_path(name))
        except KeyError:
            pass
    return name


def _examples_text() -> str:
    from monitor.examples import NAMES

    return ", ".join(NAMES)


def _cmd_calc(args: argparse.Namespace) -> int:
    from monitor.binance.schemas import WireError
    from monitor.calc import calc_file, format_table
    from monitor.engine.model import EngineError
    from monitor.feed.recording import RecordingError

    target = resolve_recording(args.file)
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


def _cmd_whatif(args: argparse.Namespace) -> int:
    from monitor.binance.schemas import WireError
    from monitor.calc import format_table
    from monitor.engine.model import EngineError
    from monitor.feed.recording import RecordingError
    from monitor.web.whatif import ShockError, describe_text, whatif_file

    target = resolve_recording(args.file)
    try:
        report = whatif_file(
            target, args.move, args.rate, margin_leverage=args.margin_leverage
        )
    except (RecordingError, WireError, EngineError, ShockError) as exc:
        print(f"marginwatch whatif: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _print_json(report)
    else:
        print(f"recording {target} · after {describe_text(report['whatif'])}")
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
    source = resolve_recording(args.file)
    try:
        if args.notify:
            notifier = _ReplayNotifier(args.notify)
        config = _replay_policy(args.time_scale)
        meta, lines = read_recording(source)
        timeline = AlertTimeline(
            meta,
            config=config,
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

            files = write_report(timeline, Path(args.report), source=source)
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


def _replay_policy(time_scale: float | None) -> PolicyConfig:
    """The default policy, or with `--time-scale K` the one a K-fold compressed session (the
    demo's) ran with; ValueError for K <= 0."""
    from monitor.alerts.policy import PolicyConfig
    from monitor.service.demo import demo_policy

    return PolicyConfig() if time_scale is None else demo_policy(time_scale)


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
    from monitor.sim.run import run_simulate

    return run_simulate(
        resolve_recording(args.recording),
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
    if config is not None and hasattr(args, "shards"):  # run --shards N --index I
        config = shard_cli.apply_flags(args, config, command)
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


def _cmd_shard(args: argparse.Namespace) -> int:
    config = _load_config(args, "shard")
    return 2 if config is None else shard_cli.run_shard(args, config)


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


def _cmd_control(args: argparse.Namespace) -> int:
    from monitor.service.control_client import run_control

    config = _load_config(args, args.command)
    if config is None:
        return 2
    return run_control(config, args.command, args.name, getattr(args, "duration", None))


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help=f"config file (default: $MARGINWATCH_CONFIG or {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING"), help="log level"
    )
    parser.add_argument(
        "--log-json", action="store_true", help="JSON log lines even on a terminal"
    )


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help ("(default: …)"), none for flags and unset options."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _command(
    sub: Any, name: str, help: str, description: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description, formatter_class=_HelpFormatter
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marginwatch",
        description="Live Binance margin monitor: warns before liquidation.",
        epilog="`marginwatch COMMAND --help` describes each command and its defaults.",
    )
    parser.add_argument("--version", action="version", version=f"marginwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    recording_help = f"recording (.jsonl or .jsonl.gz) or bundled example: {_examples_text()}"
    demo = _command(
        sub,
        "demo",
        "see it work: fake exchange + bundled PM book + the real daemon, then a report",
        "Start the local fake Binance exchange with a bundled hedged Portfolio Margin "
        "recording, run the real daemon against it (no credentials, no network), print the "
        "alerts as they fire and write a replay report (PNG chart, HTML, Markdown). Time is "
        "compressed SPEED-fold, the alert policy's timings with it; the printed replay command "
        "(`replay FILE --time-scale SPEED`) reproduces the same alerts.",
    )
    demo.add_argument("--out", default="marginwatch-demo", help="directory for the report")
    demo.add_argument("--speed", type=float, default=20.0, help="time compression factor")
    demo.add_argument(
        "--notify", action="append", default=[], metavar="URL",
        help="also send the alerts to this Apprise URL (repeatable; default: none)",
    )
    demo.set_defaults(func=_cmd_demo)
    calc = _command(
        sub,
        "calc",
        "replay a recording and print the final risk report",
        "Replay RECORDING through the real decoders and engine and print the state after its "
        f"last line. Without RECORDING, the bundled example {DEFAULT_EXAMPLE}.",
    )
    calc.add_argument(
        "file", nargs="?", metavar="RECORDING",
        help=f"{recording_help} (default: {DEFAULT_EXAMPLE})",
    )
    calc.add_argument(
        "--json", action="store_true",
        help="one JSON object (stable keys; docs/schemas/calc.schema.json)",
    )
    calc.add_argument(
        "--margin-leverage",
        type=int,
        choices=(3, 5, 10),
        default=3,
        help="Portfolio Margin: chosen margin leverage (selects the margin-loan MM rate)",
    )
    calc.set_defaults(func=_cmd_calc)
    whatif = _command(
        sub,
        "whatif",
        "replay a recording, shock its prices and print the risk report after the shock",
        "Replay RECORDING like `calc`, then move prices: each --move applies to the "
        "underlying's marks, its Portfolio Margin index price and its Multi-Assets rates "
        "alike; `all` moves every non-stable price (an underlying named on its own keeps its "
        "own move). The report has the same keys as `calc --json`, plus `whatif`.",
    )
    whatif.add_argument("file", metavar="RECORDING", help=recording_help)
    whatif.add_argument(
        "--move", action="append", default=[], metavar="ASSET=PCT%",
        help="a price move: BTC=-10%%, ETH=-0.15 (a fraction), all=-5%% (repeatable)",
    )
    whatif.add_argument(
        "--rate", action="append", default=[], metavar="ASSET=RATE",
        help="Portfolio Margin: set ASSET's collateral rate, e.g. BTC=0.9 (repeatable)",
    )
    whatif.add_argument(
        "--json", action="store_true", help="one JSON object (the keys of `calc --json`)"
    )
    whatif.add_argument(
        "--margin-leverage", type=int, choices=(3, 5, 10), default=3,
        help="Portfolio Margin: chosen margin leverage (selects the margin-loan MM rate)",
    )
    whatif.set_defaults(func=_cmd_whatif)
    replay = _command(
        sub,
        "replay",
        "replay a recording through engine and alert policy; print the alert timeline",
        "Drive RECORDING through the real decoders, engine and alert policy on the recording's "
        "own clock and print every alert it would send (nothing is sent unless --notify).",
    )
    replay.add_argument("file", metavar="RECORDING", help=recording_help)
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="replay at X times the recorded pace")
    pace.add_argument("--max", action="store_true", help="as fast as possible (the default)")
    replay.add_argument(
        "--time-scale",
        type=float,
        metavar="K",
        help="the recording's time was compressed K-fold (a `marginwatch demo --speed K` "
        "session): divide the alert policy's timings by K, as that session's daemon did "
        "(default: the recording is real time, default policy)",
    )
    replay.add_argument(
        "--json", action="store_true", help="one JSON object per alert, then a summary line"
    )
    replay.add_argument(
        "--full",
        action="store_true",
        help="print each alert's full message (distances, liquidation prices)",
    )
    replay.add_argument(
        "--margin-leverage", type=int, choices=(3, 5, 10), default=3,
        help="Portfolio Margin: chosen margin leverage (selects the margin-loan MM rate)",
    )
    replay.add_argument(
        "--report",
        metavar="DIR",
        help="also write a report into DIR: risk.png (risk and prices over time, levels, "
        "alerts), report.md and report.html",
    )
    replay.add_argument(
        "--notify",
        metavar="URL",
        action="append",
        default=[],
        help="send each alert to this Apprise URL (repeatable; default: nothing is sent)",
    )
    replay.set_defaults(func=_cmd_replay)
    run = _command(
        sub,
        "run",
        "run the monitor daemon (every account of the config)",
        "Watch every account of the config: live REST + streams, margin engine on every tick, "
        "alerts through the outbox, HTTP /healthz /metrics /status. SIGTERM stops it.",
    )
    _config_args(run)
    run.add_argument(
        "--record", metavar="FILE", help="also record every account's traffic (default: off)"
    )
    shard_cli.add_flags(run)
    run.set_defaults(func=_cmd_run)
    shard_cmd = _command(
        sub,
        "shard",
        "show which accounts a shard of the fleet follows",
        "Accounts are assigned to shards by a stable hash of their name (sha256 mod N). Print "
        "the accounts of shard I of N, one per line, or with --all every shard's accounts.",
    )
    _config_args(shard_cmd)
    shard_cli.add_flags(shard_cmd)
    shard_cmd.add_argument("--all", action="store_true", help="print every shard's accounts")
    shard_cmd.set_defaults(func=_cmd_shard)
    record = _command(
        sub,
        "record",
        "record accounts' live traffic into a recording (nothing is sent)",
        "Connect like `run` and write REST snapshots, resyncs and stream frames in the "
        "recording format (gzip for .gz; one file per account when there are several: "
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
    watch = _command(
        sub,
        "watch",
        "live terminal view of a running daemon (its /status endpoint)",
        "Poll a running daemon's /status endpoint and show every account live: state and "
        "alert level, a risk bar, uniMMR or margin ratio, equity and maintenance margin with "
        "their units, positions with mark, liquidation price and distance, stream health. "
        "When the daemon is down it says so and keeps trying.",
    )
    watch.add_argument("--url", default="http://127.0.0.1:9108", help="the daemon's HTTP base URL")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    watch.add_argument("--once", action="store_true", help="print one view and exit")
    watch.set_defaults(func=_cmd_watch)
    simulate = _command(
        sub,
        "simulate",
        "run the local fake Binance exchange (REST + websockets) from a recording",
        f"Serve RECORDING (a file, or a bundled example name: {_examples_text()}) as a fake "
        'Binance exchange on loopback. Point an account with environment = "custom" at the '
        "printed URLs.",
    )
    simulate.add_argument("recording", metavar="RECORDING", help=recording_help)
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulate.add_argument("--port", type=int, default=8901, help="REST and websocket port")
    simulate.add_argument("--speed", type=float, default=1.0, help="playback speed factor")
    simulate.add_argument("--loop", action="store_true", help="restart the recording at its end")
    simulate.add_argument("--api-key", default="sim-api-key", help="the API key it accepts")
    simulate.add_argument(
        "--api-secret", default="sim-api-secret", help="the API secret it verifies signatures with"
    )
    simulate.set_defaults(func=_cmd_simulate)
    check = _command(
        sub,
        "check-config",
        "validate a config file; print every problem with its field path (exit 2)",
        "Load a marginwatch TOML config as `run` would (secrets resolved, state directory "
        "checked) and print every problem with its field path. Exit 0 when it is valid, 2 "
        "otherwise.",
    )
    check.add_argument("file", metavar="CONFIG", help="marginwatch TOML config")
    check.set_defaults(func=_cmd_check_config)
    test_alert = _command(
        sub,
        "test-alert",
        "send a test message to every notify destination and report each outcome",
        "Send one test message to every [[notify]] destination of the config (or only those "
        "with --tag) and print each outcome. Exit 0 when all were delivered, 1 otherwise.",
    )
    test_alert.add_argument(
        "--config", help=f"config file (default: $MARGINWATCH_CONFIG or {DEFAULT_CONFIG})"
    )
    test_alert.add_argument("--tag", help="only destinations with this tag (default: all)")
    test_alert.set_defaults(func=_cmd_test_alert)
    for action, short, what in (
        ("ack", "acknowledge an account's current episode", "stops its repeats and escalation"),
        ("snooze", "snooze an account's alerts for a while", "silences repeats and levels up to"
         " the current one; a higher level, liquidation or a blind monitor still alert"),
        ("unsnooze", "end an account's snooze", "its alerts are heard again at once"),
    ):
        control = _command(
            sub, action, short,
            f"Ask the running daemon (its [http] listen address, bearer token from [http]"
            f" api_token_*) to {short.split(' ', 1)[0]} account NAME: {what}. Exit 2 with one"
            " line when the daemon cannot be reached or refuses.",
        )
        control.add_argument("name", metavar="NAME", help="the account's name")
        if action == "snooze":
            control.add_argument("duration", metavar="DURATION", help="e.g. 15m, 1h, 1h30m")
        control.add_argument(
            "--config", help=f"config file (default: $MARGINWATCH_CONFIG or {DEFAULT_CONFIG})"
        )
        control.set_defaults(func=_cmd_control)
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
