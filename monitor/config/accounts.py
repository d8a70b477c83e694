"""`[[accounts]]`: one Binance account to watch, its two secrets, and its own alert overrides.

The account's API key and secret are each given one way (`monitor.config.secrets`) and revealed
only by `api_key_value()` and `api_secret_value()`. The alert settings an account may override
(`levels`, and the policy's thresholds declared `per_account`) come after its own keys; the
thresholds are derived from the policy (`monitor.config.thresholds`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, Self

from pydantic import BaseModel, PrivateAttr, SecretStr, field_validator, model_validator

from monitor.config.checking import check_levels, check_mode, check_url
from monitor.config.common import STRICT, ConfigError, Problem, Problems, prefixed
from monitor.config.secrets import (
    SecretCredential,
    SecretEnv,
    SecretFile,
    SecretMissing,
    one_way,
    read_secret,
    ways_given,
)
from monitor.config.thresholds import with_thresholds
from monitor.engine.model import Mode

_NAME = re.compile(r"[A-Za-z0-9_-]+")


class _Account(BaseModel):
    """One Binance account to watch (`[[accounts]]`)."""

    model_config = STRICT

    name: str
    environment: Literal["mainnet", "testnet", "demo", "custom"] = "mainnet"
    mode: str = "auto"
    rest: str | None = None
    ws: str | None = None
    api_key: SecretStr | None = None
    api_key_file: SecretFile = None
    api_key_env: SecretEnv = None
    api_key_credential: SecretCredential = None
    api_secret: SecretStr | None = None
    api_secret_file: SecretFile = None
    api_secret_env: SecretEnv = None
    api_secret_credential: SecretCredential = None
    margin_leverage: Literal[3, 5, 10] = 3
    levels: list[float] | None = None

    _api_key: SecretStr | None = PrivateAttr(default=None)
    _api_secret: SecretStr | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("account names use only letters, digits, '_' and '-'")
        return value

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str) -> str:
        return check_mode(value)

    @field_validator("rest")
    @classmethod
    def _rest(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, ("http", "https"))

    @field_validator("ws")
    @classmethod
    def _ws(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, ("ws", "wss"))

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float] | None) -> list[float] | None:
        return None if value is None else check_levels(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = one_way(self, "api_key") + one_way(self, "api_secret")
        if self.environment == "custom":
            problems += [
                (key, 'required when environment = "custom"')
                for key in ("rest", "ws")
                if getattr(self, key) is None
            ]
        else:
            problems += [
                (key, f'only for environment = "custom" ({self.environment} URLs are built in)')
                for key in ("rest", "ws")
                if getattr(self, key) is not None
            ]
        if self.mode == Mode.PORTFOLIO_MARGIN and self.environment in ("testnet", "demo"):
            problems.append(
                (
                    "mode",
                    f"Binance has no Portfolio Margin {self.environment}; use mainnet, or"
                    " custom with the local simulator",
                )
            )
        if problems:
            raise Problems(problems)
        return self

    @property
    def fixed_mode(self) -> Mode | None:
        """The configured margin mode, or None for `auto` (detected from REST)."""
        return None if self.mode == "auto" else Mode(self.mode)

    def resolve_secrets(self) -> list[Problem]:
        """Read both secrets from where they are configured; problems have relative paths."""
        return [p for stem in ("api_key", "api_secret") if (p := self._resolve(stem))]

    def _resolve(self, stem: str) -> Problem | None:
        try:
            _, value = read_secret(self, stem)
        except SecretMissing as exc:
            return (ways_given(self, stem)[0], str(exc))
        setattr(self, f"_{stem}", value)
        return None

    def _revealed(self, stem: str) -> str:
        if getattr(self, f"_{stem}") is None:
            problem = self._resolve(stem)
            if problem:
                raise ConfigError(prefixed(f"accounts[{self.name}]", [problem]))
        value: SecretStr = getattr(self, f"_{stem}")
        return value.get_secret_value()

    def api_key_value(self) -> str:
        """The API key, revealed (for the Binance client only)."""
        return self._revealed("api_key")

    def api_secret_value(self) -> str:
        """The API secret, revealed (for request signing only)."""
        return self._revealed("api_secret")


if TYPE_CHECKING:
    Account = _Account
else:
    Account = with_thresholds(_Account, "Account", per_account=True)
