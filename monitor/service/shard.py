"""Shards: which accounts one instance of a fleet follows.

An account belongs to shard `sha256(name) mod count` — a stable hash of its name only, so every
instance (a StatefulSet pod, a `marginwatch@N` unit on a VPS) computes the same assignment from
the same config without talking to the others, and adding an account never moves another one.
(Python's `hash()` is salted per process: never used here.) Changing `count` moves accounts:
roll every instance together.

The index comes from `--index`, `[shard] index`, or — in a StatefulSet, whose pods are named
`NAME-0`, `NAME-1`, … — from the trailing `-<n>` of the host name (`--index-from-hostname`).
Pure logic; the CLI and the daemon do the IO.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from monitor.config import Config

#: Upper bound of `count` (a typo must not silently spread accounts over 10⁶ empty shards).
MAX_SHARDS = 1024

_ORDINAL = re.compile(r"-(\d+)$")


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


class ShardError(ValueError):
    """The shard settings are inconsistent (the message says what to fix)."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (0-based)."""

    count: int
    index: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ShardError(f"the number of shards must be in [1, {MAX_SHARDS}], not {self.count}")
        if not 0 <= self.index < self.count:
            raise ShardError(
                f"shard index {self.index} is out of range: give 0 to {self.count - 1}"
                f" for {self.count} shard(s)"
            )

    def owns(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    def select(self, items: Iterable[N]) -> list[N]:
        """The items (accounts) of this shard, in their original order."""
        return [item for item in items if self.owns(item.name)]


def shard_of(name: str, count: int) -> int:
    """The shard (0 … count-1) of the account named `name`: sha256 of its UTF-8 name mod count."""
    if count < 1:
        raise ShardError(f"the number of shards must be at least 1, not {count}")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def index_from_hostname(hostname: str) -> int:
    """The ordinal of a StatefulSet pod name: 3 from `marginwatch-3` (raises when none)."""
    match = _ORDINAL.search(hostname.strip())
    if match is None:
        raise ShardError(
            f"host name {hostname!r} does not end in -<number> (a StatefulSet pod's ordinal)"
        )
    return int(match.group(1))


def assignment(names: Sequence[str], count: int) -> dict[int, list[str]]:
    """Every shard's account names (every shard present, possibly empty)."""
    table: dict[int, list[str]] = {i: [] for i in range(count)}
    for name in names:
        table[shard_of(name, count)].append(name)
    return table


def table_lines(names: Sequence[str], count: int) -> list[str]:
    """`marginwatch shard --all`: one line per shard, its size and its accounts."""
    lines = []
    for index, members in assignment(names, count).items():
        shown = ", ".join(members) if members else "(none)"
        lines.append(f"shard {index}/{count}: {len(members)} account(s): {shown}")
    return lines


def resolve(count: int, index: int | None, from_hostname: bool, hostname: str | None) -> Shard:
    """The shard of this instance from its settings (CLI flags or `[shard]`)."""
    if from_hostname:
        if not hostname:
            raise ShardError("the shard index comes from the host name, but it is not set")
        index = index_from_hostname(hostname)
    elif index is None:
        if count != 1:
            raise ShardError(f"with {count} shards, give the index (or take it from the host name)")
        index = 0
    return Shard(count, index)


def configured(config: Config, hostname: str | None) -> Shard:
    """The shard `[shard]` of `config` describes (raises `ShardError`)."""
    s = config.shard
    return resolve(s.count, s.index, s.index_from_hostname, hostname)


def restrict(config: Config, shard: Shard) -> Config:
    """`config` with only the accounts of `shard` (the others are another instance's)."""
    if shard.count == 1:
        return config
    return config.model_copy(update={"accounts": shard.select(config.accounts)})


def current_hostname() -> str:
    """`$HOSTNAME` (a pod's name in Kubernetes), else the kernel's host name."""
    return os.environ.get("HOSTNAME") or socket.gethostname()
