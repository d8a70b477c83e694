"""The `marginwatch` command line (also `python -m monitor`).

Exit statuses: 0 done; 1 something was not delivered (`test-alert`, `replay --notify`); 2 bad
input or an environment problem (missing or damaged file, invalid config, port in use, state
directory not writable, a `replay --notify` destination refusing for good), told in one line
on stderr without a traceback; 130 interrupted. A reader that goes away
(`marginwatch calc --json | head`) ends the command quietly.

The arguments, help texts and dispatch are here; what each command does is in
`monitor/commands/` (`recordings`: calc, whatif, replay, simulate; `service`: the daemon, its
config and its control commands, demo, watch).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from monitor import __version__
from monitor.commands.recordings import (
    DEFAULT_EXAMPLE,
    cmd_calc,
    cmd_replay,
    cmd_simulate,
    cmd_whatif,
    examples_text,
)
from monitor.commands.service import (
    DEFAULT_CONFIG,
    cmd_check_config,
    cmd_control,
    cmd_demo,
    cmd_record,
    cmd_run,
    cmd_shard,
    cmd_test_alert,
    cmd_watch,
)
from monitor.service import shard_cli


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
    recording_help = f"recording (.jsonl or .jsonl.gz) or bundled example: {examples_text()}"
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
    demo.set_defaults(func=cmd_demo)
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
    calc.set_defaults(func=cmd_calc)
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
    whatif.set_defaults(func=cmd_whatif)
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
    replay.add_argument(
        "--config",
        help="with --notify: make the delivery outbox in this config's state directory and "
        "send with its [alerts] settings (Telegram API base, PagerDuty events URL) (default: "
        "a temporary directory, default settings)",
    )
    replay.set_defaults(func=cmd_replay)
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
    run.set_defaults(func=cmd_run)
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
    shard_cmd.set_defaults(func=cmd_shard)
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
    record.set_defaults(func=cmd_record)
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
    watch.set_defaults(func=cmd_watch)
    simulate = _command(
        sub,
        "simulate",
        "run the local fake Binance exchange (REST + websockets) from a recording",
        f"Serve RECORDING (a file, or a bundled example name: {examples_text()}) as a fake "
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
    simulate.set_defaults(func=cmd_simulate)
    check = _command(
        sub,
        "check-config",
        "validate a config file; print every problem with its field path (exit 2)",
        "Load a marginwatch TOML config as `run` would (secrets resolved, state directory "
        "checked) and print every problem with its field path. Exit 0 when it is valid, 2 "
        "otherwise.",
    )
    check.add_argument("file", metavar="CONFIG", help="marginwatch TOML config")
    check.set_defaults(func=cmd_check_config)
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
    test_alert.set_defaults(func=cmd_test_alert)
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
        control.set_defaults(func=cmd_control)
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
