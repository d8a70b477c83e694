"""The commands that run the daemon, read its config or talk to it: `run`, `shard`, `record`,
`check-config`, `test-alert`, `ack`/`snooze`/`unsnooze`, `demo` and `watch`, and how the config
is found and loaded for them (`config_path`, `load_config`).

Each `cmd_*` takes the parsed arguments (`monitor/cli.py`) and returns the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.service import shard_cli

if TYPE_CHECKING:
    from monitor.config import Config

#: Where `test-alert` looks for the config without --config or $MARGINWATCH_CONFIG.
DEFAULT_CONFIG = "/etc/marginwatch/marginwatch.toml"


def config_path(args: argparse.Namespace) -> str:
    return str(args.config or os.environ.get("MARGINWATCH_CONFIG") or DEFAULT_CONFIG)


def cmd_check_config(args: argparse.Namespace) -> int:
    from monitor.config import check_config

    return check_config(args.file)


def load_config(args: argparse.Namespace, command: str) -> Config | None:
    """The config of --config (or $MARGINWATCH_CONFIG); None after printing its problems."""
    from monitor.config import ConfigError, load_config

    path = config_path(args)
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

    config = load_config(args, command)
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


def cmd_run(args: argparse.Namespace) -> int:
    return _serve(args, "run", record=Path(args.record) if args.record else None)


def cmd_shard(args: argparse.Namespace) -> int:
    config = load_config(args, "shard")
    return 2 if config is None else shard_cli.run_shard(args, config)


def cmd_record(args: argparse.Namespace) -> int:
    return _serve(
        args,
        "record",
        http=False,
        record=Path(args.out),
        record_all_market=args.all_market,
        deliver=False,
        echo=True,
    )


def cmd_test_alert(args: argparse.Namespace) -> int:
    from monitor.alerts.destinations import settings_of, targets_of
    from monitor.alerts.testalert import run_test_alert

    config = load_config(args, "test-alert")
    if config is None:
        return 2
    return run_test_alert(targets_of(config), args.tag, settings=settings_of(config))


def cmd_control(args: argparse.Namespace) -> int:
    from monitor.service.control_client import run_control

    config = load_config(args, args.command)
    if config is None:
        return 2
    return run_control(config, args.command, args.name, getattr(args, "duration", None))


def cmd_demo(args: argparse.Namespace) -> int:
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


def cmd_watch(args: argparse.Namespace) -> int:
    from monitor.service.watch import run_watch

    if args.interval <= 0:
        print("marginwatch watch: --interval must be > 0", file=sys.stderr)
        return 2
    return run_watch(args.url, args.interval, args.once)
