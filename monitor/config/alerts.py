"""`[alerts]` and `[[notify]]`: when and how to alert, and where alerts go.

`AlertsConfig` holds the levels, then the policy's thresholds (derived from `PolicyConfig` by
`monitor.config.thresholds`: a new threshold needs no code here), then how alerts are rendered
and sent. `NotifyTarget` is one Apprise destination, its URL a secret given one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator

from monitor.alerts.delivery import destinations
from monitor.alerts.pagerduty import DEFAULT_EVENTS_URL
from monitor.alerts.telegram import DEFAULT_API_BASE
from monitor.config.checking import check_http_url, check_levels
from monitor.config.common import STRICT, ConfigError, Problem, Problems, anchor, prefixed
from monitor.config.secrets import (
    SecretCredential,
    SecretEnv,
    SecretFile,
    SecretMissing,
    one_way,
    read_secret,
    ways_given,
)
from monitor.config.thresholds import DEFAULT_LEVELS, with_thresholds


class _Levels(BaseModel):
    """Thresholds, timings and rendering of alerts (`[alerts]`)."""

    model_config = STRICT

    levels: list[float] = Field(default_factory=lambda: list(DEFAULT_LEVELS))

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        return check_levels(value)


if TYPE_CHECKING:
    _Thresholds = _Levels
else:
    _Thresholds = with_thresholds(_Levels, "_Thresholds", per_account=False)


class AlertsConfig(_Thresholds):
    """Thresholds, timings and rendering of alerts (`[alerts]`)."""

    model_config = STRICT

    timezone: str = "UTC"
    apprise_config: Path | None = None
    telegram_api_base: str = DEFAULT_API_BASE
    #: Where `pagerduty://ROUTING_KEY` destinations post their Events v2.
    pagerduty_events_url: str = DEFAULT_EVENTS_URL

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name like UTC or Europe/Berlin"
            ) from None
        return value

    @field_validator("apprise_config")
    @classmethod
    def _apprise_config(cls, value: Path | None) -> Path | None:
        return anchor(value)

    @field_validator("telegram_api_base", "pagerduty_events_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class NotifyTarget(BaseModel):
    """One Apprise destination (`[[notify]]`); its URL is a secret (tokens, passwords)."""

    model_config = STRICT

    url: SecretStr | None = None
    url_file: SecretFile = None
    url_env: SecretEnv = None
    url_credential: SecretCredential = None
    tags: list[str] = Field(default_factory=list)
    #: Seconds to wait for the destination's answer before the outcome counts as unknown.
    timeout_s: float = Field(default=60.0, gt=0)
    #: "auto": the alert's urgency picks the notify type and the service's priority (ntfy,
    #: Pushover `priority=`, a silent Telegram message for info); "none": every alert alike.
    urgency: Literal["auto", "none"] = "auto"

    _url: SecretStr | None = PrivateAttr(default=None)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        tags = [t.strip() for t in value]
        if not all(tags):
            raise ValueError("tags must not be empty")
        return tags

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = one_way(self, "url")
        if problems:
            raise Problems(problems)
        return self

    def resolve_secrets(self) -> list[Problem]:
        """Read the URL and check that Apprise can load it; problems have relative paths."""
        try:
            field, value = read_secret(self, "url")
        except SecretMissing as exc:
            return [(ways_given(self, "url")[0], str(exc))]
        try:
            destinations([(value.get_secret_value(), self.tags)])
        except ValueError as exc:  # delivery redacts the URL in its message
            return [(field, str(exc))]
        self._url = value
        return []

    def url_value(self) -> str:
        """The URL, revealed (for delivery only)."""
        if self._url is None:
            problems = self.resolve_secrets()
            if problems:
                raise ConfigError(prefixed("notify", problems))
            assert self._url is not None
        return self._url.get_secret_value()
