"""`load_config`: the TOML file and the environment in, a validated `Config` or every problem out.

It reads the TOML file, checks the file's mode (`checking.file_mode_problems`), validates the
data with the environment's overrides laid over it (pydantic-settings, `environment`), resolves
every secret and the Apprise configuration, and flags `MARGINWATCH_…` variables that override
nothing. Relative paths are relative to the file's directory. Problems carry field paths
(pydantic's locations joined: `accounts[0].api_secret_file`), never input values; when the whole
does not validate, the secrets of the parts that do are still checked, so one run names them all.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from monitor.config.accounts import Account
from monitor.config.alerts import AlertsConfig, NotifyTarget
from monitor.config.checking import apprise_file_problems, file_mode_problems
from monitor.config.common import UNKNOWN_KEY, ConfigError, Problem, Problems, loading, prefixed
from monitor.config.environment import (
    MappingEnvSource,
    env_override_problems,
    merge,
    settings_problem,
)
from monitor.config.model import Config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load, validate and resolve the configuration at `path`; raise `ConfigError` with all
    problems. `env` stands for the process environment (overrides, secret variables,
    `$CREDENTIALS_DIRECTORY`, `$STATE_DIRECTORY`); default `os.environ`."""
    file = Path(path)
    environ: Mapping[str, str] = os.environ if env is None else env
    raw = _read_toml(file)
    problems = file_mode_problems(file, raw)
    problems += [(key, UNKNOWN_KEY) for key in raw if key not in Config.model_fields]
    data = {k: v for k, v in raw.items() if k in Config.model_fields}
    config: Config | None = None
    with loading(environ, file.absolute().parent):
        try:
            config = Config(**data)
        except ValidationError as exc:
            problems += validation_problems(exc)
        except SettingsError as exc:
            problems.append(settings_problem(exc))
        if config is None:
            problems += _partial_problems(data, environ)
        else:
            problems += _resolve_all(config)
    problems += env_override_problems(environ, Config.model_fields, raw, config)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fp:
            return tomllib.load(fp)
    except FileNotFoundError:
        raise ConfigError([(str(path), "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([(str(path), f"TOML syntax error: {exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([(str(path), f"cannot read: {exc.__class__.__name__}")]) from None


def _loc_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_problems(exc: ValidationError) -> list[Problem]:
    """Problems from pydantic errors: loc joined as a field path, no input values shown."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _loc_path(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, Problems):
            out += prefixed(path, cause.problems) if path else cause.problems
        elif isinstance(cause, ValueError):
            out.append((path, str(cause)))
        elif err["type"] == "extra_forbidden":
            out.append((path, UNKNOWN_KEY))
        else:
            out.append((path, err["msg"]))
    return out


def _partial_problems(raw: dict[str, Any], env: Mapping[str, str]) -> list[Problem]:
    """Secret-resolution problems of the parts that validate on their own (the whole did not)."""
    try:
        data = merge(raw, MappingEnvSource(Config, env)())
    except SettingsError:
        data = raw
    problems: list[Problem] = []
    sections: list[tuple[str, type[BaseModel]]] = [("accounts", Account), ("notify", NotifyTarget)]
    for key, model in sections:
        items = data.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                part = model.model_validate(item)
            except ValidationError:
                continue  # its problems are already reported
            assert isinstance(part, Account | NotifyTarget)
            problems += prefixed(f"{key}[{i}]", part.resolve_secrets())
    try:
        alerts = AlertsConfig.model_validate(data.get("alerts", {}))
    except ValidationError:
        return problems
    if alerts.apprise_config is not None:
        problems += apprise_file_problems(alerts.apprise_config)
    return problems


def _resolve_all(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    for i, account in enumerate(config.accounts):
        problems += prefixed(f"accounts[{i}]", account.resolve_secrets())
    for i, target in enumerate(config.notify):
        problems += prefixed(f"notify[{i}]", target.resolve_secrets())
    _, apprise_problems = config.load_apprise()
    return problems + apprise_problems
