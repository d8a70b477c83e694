"""The command line of shards: `marginwatch shard` and `run --shards N --index I`.

`--shards`, `--index` and `--index-from-hostname` override `[shard]` of the config (the config
is otherwise used as it is); a bad combination is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from monitor.service import shard

if TYPE_CHECKING:  # the config (pydantic) loads only when a command needs it
    from monitor.config import Config


def add_flags(parser: argparse.ArgumentParser) -> None:
    """`--shards N`, `--index I`, `--index-from-hostname` (defaults: the config's `[shard]`)."""
    parser.add_argument(
        "--shards", type=int, metavar="N",
        help="number of shards of the fleet (default: [shard] count, else 1)",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--index", type=int, metavar="I", help="this instance's shard, 0 … N-1 (default: [shard])"
    )
    group.add_argument(
        "--index-from-hostname", action="store_true",
        help="take the index from the trailing -<n> of $HOSTNAME (a StatefulSet pod's ordinal)",
    )


def apply_flags(args: argparse.Namespace, config: Config, command: str) -> Config | None:
    """`config` with `[shard]` overridden by the flags, checked (None after printing why)."""
    from pydantic import ValidationError

    from monitor.config import ShardConfig

    given = args.shards is not None or args.index is not None or args.index_from_hostname
    try:
        if given:
            current = config.shard
            from_host = args.index_from_hostname or (
                args.index is None and current.index_from_hostname
            )
            settings = ShardConfig(
                count=args.shards if args.shards is not None else current.count,
                index=args.index if args.index is not None else (
                    None if from_host else current.index
                ),
                index_from_hostname=from_host,
            )
            config = config.model_copy(update={"shard": settings})
        shard.configured(config, shard.current_hostname())
    except ValidationError as exc:
        for error in exc.errors():
            print(f"marginwatch {command}: shard: {error['msg']}", file=sys.stderr)
        return None
    except shard.ShardError as exc:
        print(f"marginwatch {command}: {exc}", file=sys.stderr)
        return None
    return config


def run_shard(args: argparse.Namespace, config: Config) -> int:
    """`marginwatch shard`: the accounts of one shard, one per line, or `--all` the table."""
    names = [account.name for account in config.accounts]
    if args.all:
        count = args.shards if args.shards is not None else config.shard.count
        if not 1 <= count <= shard.MAX_SHARDS:
            print(f"marginwatch shard: give 1 to {shard.MAX_SHARDS} shards", file=sys.stderr)
            return 2
        for line in shard.table_lines(names, count):
            print(line)
        return 0
    checked = apply_flags(args, config, "shard")
    if checked is None:
        return 2
    mine = shard.configured(checked, shard.current_hostname())
    for name in mine.select(checked.accounts):
        print(name.name)
    return 0
