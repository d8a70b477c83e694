"""Environment overrides: `MARGINWATCH_<SECTION>__<KEY>` over the TOML file.

pydantic-settings applies and validates the overrides (`MappingEnvSource` reads a given mapping
instead of `os.environ`, so `load_config(env=...)` is honoured); `merge` lays them over the file's
data where the whole did not validate. A `MARGINWATCH_…` variable that overrides nothing (a
misspelt section, a single `_`) is a problem rather than silently ignored, unless a `*_env` key
of the configuration names it or it is one of `OTHER_ENV_NAMES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from monitor.config.common import ENV_NESTED_DELIMITER, ENV_PREFIX, OTHER_ENV_NAMES, Problem


class MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, tables merged key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def env_override_problems(
    env: Mapping[str, str],
    sections: Iterable[str],
    raw: Mapping[str, Any],
    config: BaseModel | None,
) -> list[Problem]:
    """`MARGINWATCH_…` variables that override nothing: a misspelt section or a single `_`
    between section and key would otherwise be ignored silently."""
    known = {name.upper() for name in sections}
    secret_names = secret_env_names(raw, config)
    problems: list[Problem] = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_ENV_NAMES or name in secret_names:
            continue
        section = upper[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER, 1)[0]
        if section in known:
            continue  # an override: pydantic-settings applies and validates it
        problems.append(
            (
                f"environment {name}",
                f"unknown override (no section {section.lower()!r}): use"
                f" {ENV_PREFIX}<SECTION>{ENV_NESTED_DELIMITER}<KEY> with a section of"
                f" {', '.join(sorted(s.lower() for s in known))}"
                f" (e.g. {ENV_PREFIX}ALERTS{ENV_NESTED_DELIMITER}STALE_AFTER_S), or unset it",
            )
        )
    return problems


def secret_env_names(raw: Mapping[str, Any], config: BaseModel | None) -> set[str]:
    """The environment variables the configuration reads secrets from (`*_env` keys)."""
    names: set[str] = set()
    for value in raw.values():  # every table: [[accounts]], [[notify]], [heartbeat], ...
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                names |= {v for k, v in item.items() if k.endswith("_env") and isinstance(v, str)}
    if config is not None:
        models: list[BaseModel] = []
        for name in type(config).model_fields:
            section = getattr(config, name)
            items = section if isinstance(section, list) else [section]
            models += [m for m in items if isinstance(m, BaseModel)]
        for model in models:
            names |= {
                value
                for name in type(model).model_fields
                if name.endswith("_env") and isinstance(value := getattr(model, name), str)
            }
    return names


def settings_problem(exc: SettingsError) -> Problem:
    """The problem of an override pydantic-settings cannot parse (bad JSON, say)."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else "environment"
    return (
        field,
        f"cannot parse the environment override {ENV_PREFIX}{field.upper()}"
        f" (complex values are JSON, nested keys use {ENV_NESTED_DELIMITER})",
    )
