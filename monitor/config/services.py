"""The daemon's tables: `[http]`, `[telegram]`, `[state]`, `[heartbeat]`, `[shard]`, `[network]`.

Their secrets (the control API's token, the bot token, the heartbeat URL) are read while the
configuration loads (`monitor.config.secrets`) and revealed by one method each.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator

from monitor.alerts.telegram import DEFAULT_API_BASE
from monitor.base.net import check_address
from monitor.config.checking import check_http_url, split_listen
from monitor.config.common import (
    DEFAULT_LISTEN,
    DEFAULT_METRICS_MAX_ACCOUNTS,
    DEFAULT_STATE_DIR,
    STRICT,
    Problems,
    anchor,
)
from monitor.config.secrets import (
    SecretCredential,
    SecretEnv,
    SecretFile,
    SecretMissing,
    one_way,
    optional_token,
    read_secret,
    ways_given,
)
from monitor.service.digest import parse_at
from monitor.service.shard import MAX_SHARDS


class HttpConfig(BaseModel):
    """The HTTP endpoint for /healthz, /metrics and /status (`[http]`), and the control API
    (`POST /api/ack|snooze|unsnooze/NAME`): with `api_token_*` set, every control request must
    carry `Authorization: Bearer TOKEN` (from any address); without it, only loopback clients
    may use the control API."""

    model_config = STRICT

    listen: str = DEFAULT_LISTEN
    #: Accounts with their own Prometheus series; further ones are counted as `other`.
    metrics_max_accounts: int = DEFAULT_METRICS_MAX_ACCOUNTS
    #: The bearer token of the control API (a secret: a file, a variable or a credential).
    api_token_file: SecretFile = None
    api_token_env: SecretEnv = None
    api_token_credential: SecretCredential = None

    _token: SecretStr | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read_token(self) -> Self:
        problems, self._token = optional_token(self, "api_token")
        if problems:
            raise Problems(problems)
        return self

    def api_token(self) -> str | None:
        """The control API's bearer token, revealed (None: loopback clients only)."""
        return None if self._token is None else self._token.get_secret_value()

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("metrics_max_accounts")
    @classmethod
    def _metrics_max_accounts(cls, value: int) -> int:
        if not 1 <= value <= 100_000:
            raise ValueError(f"give a number of accounts in [1, 100000], not {value}")
        return value

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def is_loopback(self) -> bool:
        return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback


class TelegramConfig(BaseModel):
    """Telegram commands (`[telegram]`): a bot that long-polls `getUpdates` and answers
    /status, /account NAME, /ack [NAME], /snooze DURATION [NAME], /unsnooze, /help and the
    buttons of level alerts — from `allowed_chats` and `allowed_users` only (others are
    ignored and counted). The bot token is a secret: `bot_token_file`, `_env` or `_credential`."""

    model_config = STRICT

    bot_token_file: SecretFile = None
    bot_token_env: SecretEnv = None
    bot_token_credential: SecretCredential = None
    allowed_chats: list[int] = Field(default_factory=list)
    allowed_users: list[int] = Field(default_factory=list)
    commands: bool = True
    api_base: str = DEFAULT_API_BASE
    #: The long poll's timeout (Telegram holds `getUpdates` open this long when idle).
    poll_timeout_s: float = Field(default=30.0, gt=0, le=300)

    _token: SecretStr | None = PrivateAttr(default=None)

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return check_http_url(value)

    @model_validator(mode="after")
    def _read_token(self) -> Self:
        problems, self._token = optional_token(self, "bot_token")
        if not problems and self._token is None and self.commands:
            problems = [("bot_token", "missing: give one of bot_token_file, _env, _credential")]
        if not problems and self.commands and not (self.allowed_chats or self.allowed_users):
            problems = [("allowed_chats", "give allowed_chats and/or allowed_users")]
        if problems:
            raise Problems(problems)
        return self

    def bot_token(self) -> str | None:
        return None if self._token is None else self._token.get_secret_value()


class StateConfig(BaseModel):
    """Where the outbox and state live (`[state]`)."""

    model_config = STRICT

    dir: Path = DEFAULT_STATE_DIR

    @field_validator("dir")
    @classmethod
    def _dir(cls, value: Path) -> Path:
        anchored = anchor(value)
        assert anchored is not None
        return anchored


class HeartbeatConfig(BaseModel):
    """The dead-man's switch (`[heartbeat]`): a GET of the URL every `interval_s` while the
    daemon is healthy, of the URL with `/fail` appended while it is not (healthchecks.io,
    Uptime Kuma push, Cronitor), so an outside service alerts when the pings stop. The URL is a
    secret (it holds the check's token): `url`, `url_file`, `url_env` or `url_credential`."""

    model_config = STRICT

    url: SecretStr | None = None
    url_file: SecretFile = None
    url_env: SecretEnv = None
    url_credential: SecretCredential = None
    interval_s: float = Field(default=60.0, gt=0, le=86_400)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: Local time ("HH:MM", in `[alerts] tz`) of a daily digest: accounts, their 24 h peak risk
    #: and the alerts of the last 24 h, sent to the destinations tagged `digest_tag` only.
    digest_at: str | None = None
    digest_tag: str = "digest"

    _url: SecretStr | None = PrivateAttr(default=None)

    @field_validator("digest_at")
    @classmethod
    def _digest_at(cls, value: str | None) -> str | None:
        if value is not None:
            parse_at(value)  # ValueError names the expected form
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Exactly one way to give the URL (none when only a digest is wanted); it is read (and
        checked) while the config loads."""
        if self.digest_at is not None and not ways_given(self, "url"):
            return self  # a digest without pings
        problems = one_way(self, "url")
        if not problems:
            try:
                field, value = read_secret(self, "url")
            except SecretMissing as exc:
                problems = [(ways_given(self, "url")[0], str(exc))]
            else:
                parts = urlsplit(value.get_secret_value())
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    problems = [(field, "must be an http or https URL with a host")]
                self._url = value
        if problems:
            raise Problems(problems)
        return self

    @property
    def pings(self) -> bool:
        """Whether a ping URL is configured (a `[heartbeat]` may hold only a digest)."""
        return self._url is not None

    def url_value(self) -> str:
        """The URL, revealed (for the pings only)."""
        assert self._url is not None
        return self._url.get_secret_value()


class ShardConfig(BaseModel):
    """Which accounts this instance follows (`[shard]`; `monitor.service.shard`): those whose
    name hashes to `index` of `count` shards. `run --shards N --index I` (or
    `--index-from-hostname`) overrides it."""

    model_config = STRICT

    count: int = Field(default=1, ge=1, le=MAX_SHARDS)
    index: int | None = Field(default=None, ge=0)
    #: The index is the trailing `-<n>` of `$HOSTNAME` (a StatefulSet pod's ordinal).
    index_from_hostname: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.index is not None and self.index_from_hostname:
            raise ValueError("give index or index_from_hostname = true, not both")
        if self.index is not None and self.index >= self.count:
            raise ValueError(f"index must be below count ({self.count}), not {self.index}")
        return self


class NetworkConfig(BaseModel):
    """The process's connections to Binance (`[network]`)."""

    model_config = STRICT

    #: Local IP address every REST and websocket connection is bound to (None: the system's).
    source_address: str | None = None

    @field_validator("source_address")
    @classmethod
    def _source_address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)
