"""The commands that read a recording: `calc`, `whatif`, `replay` (with `--notify` and
`--report`) and `simulate`, and how a RECORDING argument is resolved (`resolve_recording`).

Each `cmd_*` takes the parsed arguments (`monitor/cli.py`) and returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.commands.service import load_config

if TYPE_CHECKING:
    from monitor.alerts.policy_config import PolicyConfig
    from monitor.config import Config
    from monitor.core.step import TimedAlert

#: The recording `calc` replays when no FILE is given: the hedged Portfolio Margin book.
DEFAULT_EXAMPLE = "portfolio_margin"


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


def examples_text() -> str:
    from monitor.examples import NAMES

    return ", ".join(NAMES)


def cmd_calc(args: argparse.Namespace) -> int:
    from monitor.binance.schemas.common import WireError
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


def cmd_whatif(args: argparse.Namespace) -> int:
    from monitor.binance.schemas.common import WireError
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
        print_json(report)
    else:
        print(f"recording {target} · after {describe_text(report['whatif'])}")
        print(format_table(report))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:  # noqa: C901 - one branch per replay option; each is a line
    from monitor.alerts.messages import render
    from monitor.binance.schemas.common import WireError
    from monitor.calc import build_report
    from monitor.core.account_core import AccountCore
    from monitor.engine.model import EngineError
    from monitor.feed.recording import RecordingError, read_recording

    notifier: _ReplayNotifier | None = None
    source = resolve_recording(args.file)
    config: Config | None = None
    if args.notify and args.config:
        config = load_config(args, "replay")
        if config is None:
            return 2
    try:
        if args.notify:
            notifier = _ReplayNotifier(args.notify, config)
        policy = _replay_policy(args.time_scale)
        meta, lines = read_recording(source)
        timeline = AccountCore(
            meta,
            config=policy,
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
            for alert in timeline.feed(line).alerts:
                intent = alert.intent
                if notifier is not None:
                    notifier.send(alert)
                if args.json:
                    print_json(
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
        timeline.finish()
        book = timeline.book
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
        failures, permanent = notifier.close() if notifier is not None else ([], False)
    if args.json:
        print_json({"kind": "summary", "account": meta.account, **summary})
    else:
        print(f"{len(timeline.alerts)} alert(s); final risk {summary['risk'] * 100:.2f} %")
    for problem in failures:
        print(f"marginwatch replay: {problem}", file=sys.stderr)
    return 2 if permanent else 1 if failures else 0


def _replay_policy(time_scale: float | None) -> PolicyConfig:
    """The default policy, or with `--time-scale K` the one a K-fold compressed session (the
    demo's) ran with; ValueError for K <= 0."""
    from monitor.alerts.policy_config import PolicyConfig
    from monitor.service.demo import demo_policy

    return PolicyConfig() if time_scale is None else demo_policy(time_scale)


class _ReplayNotifier:
    """`replay --notify URL`: each alert goes through an outbox and the delivery worker, like the
    daemon's (`alerts/batch.py`), and is settled before the replay goes on; failures are
    reported per destination by its redacted URL (a bad URL raises ValueError, also redacted).
    With `--config`, the outbox's temporary directory is made in its state directory and the
    senders use its `[alerts]` settings (Telegram API base, PagerDuty events URL)."""

    def __init__(self, urls: Sequence[str], config: Config | None) -> None:
        from monitor.alerts.batch import BatchDelivery
        from monitor.alerts.destinations import Target, settings_of

        state_dir = None if config is None else Path(config.state.dir)
        self._batch = BatchDelivery(
            [Target(url) for url in urls], settings_of(config), state_dir=state_dir
        )

    def send(self, alert: TimedAlert) -> None:
        from monitor.alerts.messages import render

        self._batch.send(alert.intent, render(alert.intent, alert.snapshot, alert.figures))

    def close(self) -> tuple[list[str], bool]:
        """One line per destination that missed alerts (empty when all were delivered), and
        whether one refused permanently."""
        outcome = self._batch.close()
        return outcome.problems, outcome.permanent


def cmd_simulate(args: argparse.Namespace) -> int:
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


def print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False) + "\n")
