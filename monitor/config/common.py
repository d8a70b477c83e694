"""What every part of the configuration shares: problems, `ConfigError`, the load context, names.

A problem is (field path such as `accounts[0].api_secret_file`, message); `ConfigError` carries
all of them. Validation may read the environment and the configuration file's directory only
through the load context (`loading(env, base_dir)`, `context()`), so `load_config` can stand a
mapping in for `os.environ` and relative paths are relative to the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from pydantic import ConfigDict

#: A problem: (field path such as `accounts[0].api_secret_file`, message).
Problem = tuple[str, str]

ENV_PREFIX = "MARGINWATCH_"
ENV_NESTED_DELIMITER = "__"
DEFAULT_LISTEN = "127.0.0.1:9108"
DEFAULT_STATE_DIR = Path("/var/lib/marginwatch")
DEFAULT_METRICS_MAX_ACCOUNTS = 1000
UNKNOWN_KEY = "unknown key (not part of the configuration; check its spelling and section)"
#: `MARGINWATCH_…` variables that are not configuration overrides: the CLI's config path and the
#: simulator's credentials. Variables a `*_env` key of the config names are allowed too.
OTHER_ENV_NAMES = frozenset(
    {"MARGINWATCH_CONFIG", "MARGINWATCH_SIM_API_KEY", "MARGINWATCH_SIM_API_SECRET"}
)
#: The outbox's file name in the state directory (`monitor.service.daemon.OUTBOX_NAME`).
OUTBOX_FILE = "outbox.sqlite3"

#: Every table's model: unknown keys are errors, values are immutable, no inf or nan.
STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists every (field path, message)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(f"{path}: {message}" for path, message in self.problems)


class Problems(ValueError):
    """Several problems found by one model validator, with paths relative to the model."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.problems))


def prefixed(prefix: str, problems: Sequence[Problem]) -> list[Problem]:
    """`problems` with their paths under `prefix` (`api_key` → `accounts[0].api_key`)."""
    return [(f"{prefix}.{path}" if path else prefix, message) for path, message in problems]


@dataclass(frozen=True, slots=True)
class LoadContext:
    """What validation may read besides the data: the environment and the config's directory."""

    env: Mapping[str, str]
    base_dir: Path


_LOADING: ContextVar[LoadContext | None] = ContextVar("marginwatch_config_loading", default=None)


def context() -> LoadContext:
    """The context of the load under way (outside `load_config`: `os.environ` and the cwd)."""
    return _LOADING.get() or LoadContext(os.environ, Path.cwd())


@contextmanager
def loading(env: Mapping[str, str], base_dir: Path) -> Iterator[None]:
    """Validate with `env` as the environment and `base_dir` as the directory of relative paths."""
    token = _LOADING.set(LoadContext(env, base_dir))
    try:
        yield
    finally:
        _LOADING.reset(token)


def anchor(path: Path | None) -> Path | None:
    """A relative path is relative to the configuration file's directory."""
    if path is None or path.is_absolute():
        return path
    return context().base_dir / path
