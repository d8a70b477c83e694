"""`Config`: the whole configuration, its cross-table rules, and what the daemon asks of it.

Sources, highest priority first: the `MARGINWATCH_…` environment, then the TOML data (passed as
init arguments by `load_config`). Across tables: account names are unique, hysteresis stays below
every warning level, every tag routes to something, and there is at least one destination.
`policy_config(account)` is the alert policy's configuration of one account;
`notify_targets()` reveals every destination.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.alerts.delivery import destinations_from_config
from monitor.alerts.levels import CATEGORY_TAGS
from monitor.alerts.policy_config import PolicyConfig
from monitor.config.accounts import Account
from monitor.config.alerts import AlertsConfig, NotifyTarget
from monitor.config.checking import apprise_file_problems
from monitor.config.common import (
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    ConfigError,
    Problem,
    Problems,
    context,
)
from monitor.config.environment import MappingEnvSource
from monitor.config.services import (
    HeartbeatConfig,
    HttpConfig,
    NetworkConfig,
    ShardConfig,
    StateConfig,
    TelegramConfig,
)
from monitor.config.thresholds import policy_values


class Config(BaseSettings):
    """The whole configuration. Sources, highest priority first: `MARGINWATCH_…` env, TOML."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    accounts: list[Account] = Field(min_length=1)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    notify: list[NotifyTarget] = Field(default_factory=list)
    http: HttpConfig = Field(default_factory=HttpConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    heartbeat: HeartbeatConfig | None = None
    telegram: TelegramConfig | None = None
    shard: ShardConfig = Field(default_factory=ShardConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)

    _apprise_targets: list[tuple[str, list[str]]] | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment overrides the TOML data (passed as init arguments)."""
        return (MappingEnvSource(settings_cls, context().env), init_settings)

    @model_validator(mode="before")
    @classmethod
    def _state_directory(cls, data: Any) -> Any:
        """Without `[state] dir`, systemd's `$STATE_DIRECTORY` (its first entry) is used."""
        systemd_dir = context().env.get("STATE_DIRECTORY", "").split(":")[0]
        if not isinstance(data, dict) or not systemd_dir:
            return data
        state = data.get("state", {})
        if isinstance(state, dict) and "dir" not in state:
            data = {**data, "state": {**state, "dir": systemd_dir}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[Problem] = []
        first: dict[str, int] = {}
        for i, account in enumerate(self.accounts):
            if account.name in first:
                problems.append(
                    (
                        f"accounts[{i}].name",
                        f"duplicate account name {account.name!r}"
                        f" (also accounts[{first[account.name]}])",
                    )
                )
            first.setdefault(account.name, i)
            policy = self._policy_values(account)
            if policy["hysteresis"] >= policy["warning"]:
                if getattr(account, "hysteresis", None) is not None:
                    where = f"accounts[{i}].hysteresis"
                else:
                    where = f"accounts[{i}].levels" if account.levels else "alerts.hysteresis"
                problem = (
                    where,
                    "hysteresis must be below the warning level, or a warning could never clear",
                )
                if problem not in problems:
                    problems.append(problem)
        for i, target in enumerate(self.notify):
            problems += [(f"notify[{i}].tags", m) for m in self.tag_problems(target.tags)]
        if not self.notify and self.alerts.apprise_config is None:
            problems.append(
                ("notify", "no destination: add a [[notify]] table or set alerts.apprise_config")
            )
        if problems:
            raise Problems(problems)
        return self

    def tag_problems(self, tags: Sequence[str]) -> list[str]:
        """Tags must be categories, account names or the digest's tag (anything else routes
        nothing)."""
        names = {a.name for a in self.accounts}
        known = set(CATEGORY_TAGS)
        if self.heartbeat is not None and self.heartbeat.digest_at is not None:
            known.add(self.heartbeat.digest_tag)
        return [
            f"unknown tag {tag!r}: tags are categories ({', '.join(sorted(known))})"
            f" or account names ({', '.join(sorted(names))})"
            for tag in tags
            if tag not in known and tag not in names
        ]

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(f"no account named {name!r}")

    def _policy_values(self, account: Account) -> dict[str, Any]:
        return policy_values(self.alerts, self.alerts.levels, account, account.levels)

    def policy_config(self, account: Account | str) -> PolicyConfig:
        """The alert policy settings of `account`: its overrides applied, seconds → ms."""
        acc = self.account(account) if isinstance(account, str) else account
        return PolicyConfig(**self._policy_values(acc))

    def apprise_targets(self) -> list[tuple[str, list[str]]]:
        """(URL, tags) pairs from `alerts.apprise_config`, revealed; [] when not set."""
        if self._apprise_targets is None:
            targets, problems = self.load_apprise()
            if problems:
                raise ConfigError(problems)
            self._apprise_targets = targets
        return self._apprise_targets

    def load_apprise(self) -> tuple[list[tuple[str, list[str]]], list[Problem]]:
        """(the Apprise configuration's targets, its problems); also remembers the targets."""
        path = self.alerts.apprise_config
        if path is None:
            return [], []
        problems = apprise_file_problems(path)
        if problems:
            return [], problems
        try:
            dests = destinations_from_config(path)
        except ValueError as exc:
            return [], [("alerts.apprise_config", str(exc))]
        tags = sorted({t for d in dests for t in d.tags})
        problems = [("alerts.apprise_config", m) for m in self.tag_problems(tags)]
        targets = [(d.url, sorted(d.tags)) for d in dests]
        if not problems:
            self._apprise_targets = targets
        return targets, problems

    def notify_targets(self) -> list[tuple[str, list[str]]]:
        """Every destination as (URL revealed, tags): `[[notify]]` then the Apprise config."""
        own = [(target.url_value(), list(target.tags)) for target in self.notify]
        return own + self.apprise_targets()
