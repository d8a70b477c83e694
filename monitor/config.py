"""The configuration: pydantic models of the TOML file, `MARGINWATCH_…` overrides and secrets.

`load_config` parses the TOML file, applies environment overrides through pydantic-settings
(`MARGINWATCH_<SECTION>__<KEY>`, e.g. `MARGINWATCH_ALERTS__STALE_AFTER_S=20`; the environment wins
over the file), validates every model (`extra="forbid"`: unknown keys are errors), resolves every
secret (inline, `_file`, `_env` or a systemd credential from `$CREDENTIALS_DIRECTORY`) and checks
file modes. It raises `ConfigError` carrying *all* problems, each with its field path
(`accounts[0].api_secret_file`). Relative paths in the file are relative to the file's directory.

Secrets (API keys, notification URLs) are `SecretStr` everywhere: no repr, str, error or dump
shows them. `Account.api_key_value()`, `Account.api_secret_value()` and `Config.notify_targets()`
are the only places they are revealed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import tempfile
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

from monitor.alerts.delivery import destinations, destinations_from_config
from monitor.alerts.pagerduty import DEFAULT_EVENTS_URL
from monitor.alerts.policy import CATEGORY_TAGS, PolicyConfig
from monitor.alerts.redact import url_secrets
from monitor.alerts.telegram import DEFAULT_API_BASE
from monitor.binance.egress import check_address
from monitor.engine.model import Mode
from monitor.service.digest import parse_at
from monitor.service.shard import MAX_SHARDS

#: A problem: (field path such as `accounts[0].api_secret_file`, message).
Problem = tuple[str, str]

ENV_PREFIX = "MARGINWATCH_"
ENV_NESTED_DELIMITER = "__"
DEFAULT_LEVELS = (0.70, 0.85, 0.95)
DEFAULT_LISTEN = "127.0.0.1:9108"
DEFAULT_STATE_DIR = Path("/var/lib/marginwatch")
#: The suffixes of the four ways to give one secret: inline, file, environment variable, credential.
SECRET_WAYS = ("", "_file", "_env", "_credential")
ACCOUNT_MODES = ("auto", *(str(m) for m in Mode))
UNKNOWN_KEY = "unknown key (not part of the configuration; check its spelling and section)"

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CREDENTIAL_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_GROUP_OTHER_BITS = 0o077
_GROUP_OTHER_WRITE = 0o022
#: `MARGINWATCH_…` variables that are not configuration overrides: the CLI's config path and the
#: simulator's credentials. Variables a `*_env` key of the config names are allowed too.
OTHER_ENV_NAMES = frozenset(
    {"MARGINWATCH_CONFIG", "MARGINWATCH_SIM_API_KEY", "MARGINWATCH_SIM_API_SECRET"}
)
#: Bounds of the durations (seconds). The lower ones keep millisecond timers above zero; the upper
#: ones keep a typo (or 1e300) from switching a safety off: blind detection, repeats, dwell.
MAX_STALE_AFTER_S = 3600.0
MAX_DWELL_S = 3600.0
MAX_REPEAT_S = 86_400.0
MAX_RAPID_WINDOW_S = 86_400.0
MIN_TIMER_S = 0.001
DEFAULT_METRICS_MAX_ACCOUNTS = 1000
#: The outbox's file name in the state directory (`monitor.service.daemon.OUTBOX_NAME`).
OUTBOX_FILE = "outbox.sqlite3"


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists every (field path, message)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(f"{path}: {message}" for path, message in self.problems)


class _Problems(ValueError):
    """Several problems found by one model validator, with paths relative to the model."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.problems))


@dataclass(frozen=True, slots=True)
class _LoadContext:
    """What validation may read besides the data: the environment and the config's directory."""

    env: Mapping[str, str]
    base_dir: Path


_LOADING: ContextVar[_LoadContext | None] = ContextVar("marginwatch_config_loading", default=None)


def _context() -> _LoadContext:
    return _LOADING.get() or _LoadContext(os.environ, Path.cwd())


@contextmanager
def _loading(env: Mapping[str, str], base_dir: Path) -> Iterator[None]:
    token = _LOADING.set(_LoadContext(env, base_dir))
    try:
        yield
    finally:
        _LOADING.reset(token)


# ---- small validators ---------------------------------------------------------------------------


def _anchor(path: Path | None) -> Path | None:
    """A relative path is relative to the configuration file's directory."""
    if path is None or path.is_absolute():
        return path
    return _context().base_dir / path


def _check_levels(levels: list[float]) -> list[float]:
    if len(levels) != 3:
        raise ValueError(
            f"give exactly three levels [warning, critical, emergency], not {len(levels)}"
        )
    if not all(0.0 < x <= 1.0 for x in levels):
        raise ValueError("levels are fractions of risk in (0, 1] (1.0 = liquidation)")
    if not levels[0] < levels[1] < levels[2]:
        raise ValueError("levels must be strictly increasing: warning < critical < emergency")
    return levels


def _check_hysteresis(value: float) -> float:
    if not 0.0 <= value < 0.2:
        raise ValueError("hysteresis must be in [0, 0.2) (a fraction of risk, e.g. 0.03)")
    return value


def _check_seconds(value: float, low: float, high: float, what: str) -> float:
    if not low <= value <= high:
        raise ValueError(f"{what}: give seconds in [{low:g}, {high:g}], not {value:g}")
    return value


def _check_stale_after(value: float) -> float:
    what = "the staleness limit (a larger one would turn blind detection off)"
    return _check_seconds(value, 1.0, MAX_STALE_AFTER_S, what)


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"must be a {' or '.join(schemes)} URL with a host, like {schemes[-1]}://host"
        )
    return value.rstrip("/")


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.fullmatch(value):
        raise ValueError("must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def _check_credential_name(value: str | None) -> str | None:
    if value is not None and not _CREDENTIAL_NAME.fullmatch(value):
        raise ValueError(
            "must be a systemd credential name (the NAME of LoadCredential=NAME:PATH;"
            " letters, digits, '_', '-', '.')"
        )
    return value


def _mode_problem(file: Path, what: str) -> str | None:
    """A message when `file` is accessible by group or others, else None."""
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & _GROUP_OTHER_BITS:
        return (
            f"{what} {file} has mode {mode:04o}: it holds secrets and must not be readable by"
            f" group or others; run `chmod 600 {file}`"
        )
    return None


# ---- secrets ------------------------------------------------------------------------------------


def _ways_given(model: BaseModel, stem: str) -> list[str]:
    return [stem + way for way in SECRET_WAYS if getattr(model, stem + way) is not None]


def _one_way(model: BaseModel, stem: str) -> list[Problem]:
    """Exactly one way to give the secret `stem`."""
    given = _ways_given(model, stem)
    ways = ", ".join(stem + way for way in SECRET_WAYS)
    if not given:
        return [(stem, f"missing: give exactly one of {ways}")]
    if len(given) > 1:
        return [(stem, f"given {len(given)} ways ({', '.join(given)}): give exactly one")]
    return []


class _SecretMissing(Exception):
    """A named secret source could not be read; the message is safe to show."""


def _read_secret(model: BaseModel, stem: str) -> tuple[str, SecretStr]:
    """(the field used, the secret) for `stem`; raises `_SecretMissing` with a clear message."""
    ctx = _context()
    field = _ways_given(model, stem)[0]
    source = getattr(model, field)
    if isinstance(source, SecretStr):
        value, where = source.get_secret_value(), "the inline value"
    elif field.endswith("_file"):
        value, where = _read_file(source), str(source)
    elif field.endswith("_env"):
        if source not in ctx.env:
            raise _SecretMissing(f"environment variable {source} is not set")
        value, where = ctx.env[source], f"environment variable {source}"
    else:
        value, where = _read_credential(source, ctx.env), f"credential {source}"
    value = value.strip()
    if not value:
        raise _SecretMissing(f"{where} is empty")
    problem = _secret_chars_problem(stem, value)
    if problem:
        raise _SecretMissing(f"{where}: {problem}")
    return field, SecretStr(value)


def _secret_chars_problem(stem: str, value: str) -> str | None:
    """A message when the secret holds characters it cannot hold (never showing the value).

    An API key or secret is one token: whitespace or a control/format character (a line break,
    a tab, a no-break or zero-width space from a copy-paste) inside it is refused. A notification
    URL may not hold control/format characters (whitespace separates several Apprise URLs)."""
    token = stem != "url"
    for char in value:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf") or (token and char.isspace()):
            what = "a control character" if category in ("Cc", "Cf") else "whitespace"
            kind = "the API key or secret" if token else "the URL"
            return (
                f"{kind} contains {what} (a copy-paste error?); write it again without it"
                " (the value is not shown)"
            )
    return None


def _read_file(file: Path) -> str:
    try:
        problem = _mode_problem(file, "secret file")
        if problem:
            raise _SecretMissing(problem)
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _SecretMissing(f"file {file} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _SecretMissing(f"cannot read {file}: {exc.__class__.__name__}") from None


def _read_credential(name: str, env: Mapping[str, str]) -> str:
    directory = env.get("CREDENTIALS_DIRECTORY")
    hint = f"add LoadCredential={name}:/path/to/secret to the systemd unit"
    if not directory:
        raise _SecretMissing(f"$CREDENTIALS_DIRECTORY is not set (not run by systemd?): {hint}")
    file = Path(directory) / name
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _SecretMissing(f"credential {name} not found in {directory}: {hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _SecretMissing(f"cannot read credential {name}: {exc.__class__.__name__}") from None


def _prefixed(prefix: str, problems: Sequence[Problem]) -> list[Problem]:
    return [(f"{prefix}.{path}" if path else prefix, message) for path, message in problems]


# ---- the models ---------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Account(BaseModel):
    """One Binance account to watch (`[[accounts]]`)."""

    model_config = _STRICT

    name: str
    environment: Literal["mainnet", "testnet", "demo", "custom"] = "mainnet"
    mode: str = "auto"
    rest: str | None = None
    ws: str | None = None
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    api_key_env: str | None = None
    api_key_credential: str | None = None
    api_secret: SecretStr | None = None
    api_secret_file: Path | None = None
    api_secret_env: str | None = None
    api_secret_credential: str | None = None
    margin_leverage: Literal[3, 5, 10] = 3
    levels: list[float] | None = None
    hysteresis: float | None = None
    stale_after_s: float | None = None

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
        if value not in ACCOUNT_MODES:
            raise ValueError(f"must be one of {', '.join(ACCOUNT_MODES)}")
        return value

    @field_validator("rest")
    @classmethod
    def _rest(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, ("http", "https"))

    @field_validator("ws")
    @classmethod
    def _ws(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, ("ws", "wss"))

    @field_validator("api_key_file", "api_secret_file")
    @classmethod
    def _file(cls, value: Path | None) -> Path | None:
        return _anchor(value)

    @field_validator("api_key_env", "api_secret_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("api_key_credential", "api_secret_credential")
    @classmethod
    def _credential(cls, value: str | None) -> str | None:
        return _check_credential_name(value)

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float] | None) -> list[float] | None:
        return None if value is None else _check_levels(value)

    @field_validator("hysteresis")
    @classmethod
    def _hysteresis(cls, value: float | None) -> float | None:
        return None if value is None else _check_hysteresis(value)

    @field_validator("stale_after_s")
    @classmethod
    def _stale_after(cls, value: float | None) -> float | None:
        return None if value is None else _check_stale_after(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = _one_way(self, "api_key") + _one_way(self, "api_secret")
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
            raise _Problems(problems)
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
            _, value = _read_secret(self, stem)
        except _SecretMissing as exc:
            return (_ways_given(self, stem)[0], str(exc))
        setattr(self, f"_{stem}", value)
        return None

    def _revealed(self, stem: str) -> str:
        if getattr(self, f"_{stem}") is None:
            problem = self._resolve(stem)
            if problem:
                raise ConfigError(_prefixed(f"accounts[{self.name}]", [problem]))
        value: SecretStr = getattr(self, f"_{stem}")
        return value.get_secret_value()

    def api_key_value(self) -> str:
        """The API key, revealed (for the Binance client only)."""
        return self._revealed("api_key")

    def api_secret_value(self) -> str:
        """The API secret, revealed (for request signing only)."""
        return self._revealed("api_secret")


class AlertsConfig(BaseModel):
    """Thresholds, timings and rendering of alerts (`[alerts]`)."""

    model_config = _STRICT

    levels: list[float] = Field(default_factory=lambda: list(DEFAULT_LEVELS))
    hysteresis: float = 0.03
    stale_after_s: float = 15.0
    timezone: str = "UTC"
    dwell_s: float = 5.0
    repeat_s: float = 60.0
    rapid_rise: float = Field(default=0.15, gt=0, le=1)
    rapid_window_s: float = 600.0
    apprise_config: Path | None = None
    telegram_api_base: str = DEFAULT_API_BASE
    #: An emergency nobody acknowledged this long goes to the `escalation` tag (0: never).
    escalate_after_s: float = Field(default=300.0, ge=0, le=86_400)
    #: Where `pagerduty://ROUTING_KEY` destinations post their Events v2.
    pagerduty_events_url: str = DEFAULT_EVENTS_URL

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        return _check_levels(value)

    @field_validator("hysteresis")
    @classmethod
    def _hysteresis(cls, value: float) -> float:
        return _check_hysteresis(value)

    @field_validator("stale_after_s")
    @classmethod
    def _stale_after(cls, value: float) -> float:
        return _check_stale_after(value)

    @field_validator("dwell_s")
    @classmethod
    def _dwell(cls, value: float) -> float:
        return _check_seconds(value, 0.0, MAX_DWELL_S, "how long risk must stay below a line")

    @field_validator("repeat_s")
    @classmethod
    def _repeat(cls, value: float) -> float:
        return _check_seconds(value, MIN_TIMER_S, MAX_REPEAT_S, "the emergency repeat interval")

    @field_validator("rapid_window_s")
    @classmethod
    def _rapid_window(cls, value: float) -> float:
        return _check_seconds(value, MIN_TIMER_S, MAX_RAPID_WINDOW_S, "the rapid-rise window")

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
        return _anchor(value)

    @field_validator("telegram_api_base", "pagerduty_events_url")
    @classmethod
    def _telegram_api_base(cls, value: str) -> str:
        return _check_url(value, ("http", "https"))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class NotifyTarget(BaseModel):
    """One Apprise destination (`[[notify]]`); its URL is a secret (tokens, passwords)."""

    model_config = _STRICT

    url: SecretStr | None = None
    url_file: Path | None = None
    url_env: str | None = None
    url_credential: str | None = None
    tags: list[str] = Field(default_factory=list)
    #: Seconds to wait for the destination's answer before the outcome counts as unknown.
    timeout_s: float = Field(default=60.0, gt=0)
    #: "auto": the alert's urgency picks the notify type and the service's priority (ntfy,
    #: Pushover `priority=`, a silent Telegram message for info); "none": every alert alike.
    urgency: Literal["auto", "none"] = "auto"

    _url: SecretStr | None = PrivateAttr(default=None)

    @field_validator("url_file")
    @classmethod
    def _file(cls, value: Path | None) -> Path | None:
        return _anchor(value)

    @field_validator("url_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("url_credential")
    @classmethod
    def _credential(cls, value: str | None) -> str | None:
        return _check_credential_name(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        tags = [t.strip() for t in value]
        if not all(tags):
            raise ValueError("tags must not be empty")
        return tags

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = _one_way(self, "url")
        if problems:
            raise _Problems(problems)
        return self

    def resolve_secrets(self) -> list[Problem]:
        """Read the URL and check that Apprise can load it; problems have relative paths."""
        try:
            field, value = _read_secret(self, "url")
        except _SecretMissing as exc:
            return [(_ways_given(self, "url")[0], str(exc))]
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
                raise ConfigError(_prefixed("notify", problems))
            assert self._url is not None
        return self._url.get_secret_value()


#: The ways to give an optional token (no inline form: it would sit in the config file).
TOKEN_WAYS = ("_file", "_env", "_credential")


def _optional_token(model: BaseModel, stem: str) -> tuple[list[Problem], SecretStr | None]:
    """(problems, the token) of an optional secret given at most one of `TOKEN_WAYS`."""
    given = [stem + way for way in TOKEN_WAYS if getattr(model, stem + way) is not None]
    if not given:
        return [], None
    if len(given) > 1:
        return [(stem, f"given {len(given)} ways ({', '.join(given)}): give at most one")], None
    field = given[0]
    source = getattr(model, field)
    ctx = _context()
    try:
        if field.endswith("_file"):
            value, where = _read_file(source), str(source)
        elif field.endswith("_env"):
            if source not in ctx.env:
                raise _SecretMissing(f"environment variable {source} is not set")
            value, where = ctx.env[source], f"environment variable {source}"
        else:
            value, where = _read_credential(source, ctx.env), f"credential {source}"
    except _SecretMissing as exc:
        return [(field, str(exc))], None
    value = value.strip()
    problem = f"{where} is empty" if not value else _secret_chars_problem(stem, value)
    if problem:
        return [(field, problem)], None
    return [], SecretStr(value)


class HttpConfig(BaseModel):
    """The HTTP endpoint for /healthz, /metrics and /status (`[http]`), and the control API
    (`POST /api/ack|snooze|unsnooze/NAME`): with `api_token_*` set, every control request must
    carry `Authorization: Bearer TOKEN` (from any address); without it, only loopback clients
    may use the control API."""

    model_config = _STRICT

    listen: str = DEFAULT_LISTEN
    #: Accounts with their own Prometheus series; further ones are counted as `other`.
    metrics_max_accounts: int = DEFAULT_METRICS_MAX_ACCOUNTS
    #: The bearer token of the control API (a secret: a file, a variable or a credential).
    api_token_file: Path | None = None
    api_token_env: str | None = None
    api_token_credential: str | None = None

    _token: SecretStr | None = PrivateAttr(default=None)

    @field_validator("api_token_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        return _anchor(value)

    @field_validator("api_token_env")
    @classmethod
    def _token_env(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("api_token_credential")
    @classmethod
    def _token_credential(cls, value: str | None) -> str | None:
        return _check_credential_name(value)

    @model_validator(mode="after")
    def _read_token(self) -> Self:
        problems, self._token = _optional_token(self, "api_token")
        if problems:
            raise _Problems(problems)
        return self

    def api_token(self) -> str | None:
        """The control API's bearer token, revealed (None: loopback clients only)."""
        return None if self._token is None else self._token.get_secret_value()

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        _split_listen(value)
        return value

    @field_validator("metrics_max_accounts")
    @classmethod
    def _metrics_max_accounts(cls, value: int) -> int:
        if not 1 <= value <= 100_000:
            raise ValueError(f"give a number of accounts in [1, 100000], not {value}")
        return value

    @property
    def host(self) -> str:
        return _split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _split_listen(self.listen)[1]

    @property
    def is_loopback(self) -> bool:
        return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback


def _split_listen(value: str) -> tuple[str, int]:
    """("127.0.0.1", 9108) from "127.0.0.1:9108"; IPv6 as "[::1]:9108"."""
    form = "use HOST:PORT with an IP address, e.g. 127.0.0.1:9108, 0.0.0.0:9108 or [::1]:9108"
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(form)
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(form) from None
    return host, int(port)


class TelegramConfig(BaseModel):
    """Telegram commands (`[telegram]`): a bot that long-polls `getUpdates` and answers
    /status, /account NAME, /ack [NAME], /snooze DURATION [NAME], /unsnooze, /help and the
    buttons of level alerts — from `allowed_chats` and `allowed_users` only (others are
    ignored and counted). The bot token is a secret: `bot_token_file`, `_env` or `_credential`."""

    model_config = _STRICT

    bot_token_file: Path | None = None
    bot_token_env: str | None = None
    bot_token_credential: str | None = None
    allowed_chats: list[int] = Field(default_factory=list)
    allowed_users: list[int] = Field(default_factory=list)
    commands: bool = True
    api_base: str = DEFAULT_API_BASE
    #: The long poll's timeout (Telegram holds `getUpdates` open this long when idle).
    poll_timeout_s: float = Field(default=30.0, gt=0, le=300)

    _token: SecretStr | None = PrivateAttr(default=None)

    @field_validator("bot_token_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        return _anchor(value)

    @field_validator("bot_token_env")
    @classmethod
    def _token_env(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("bot_token_credential")
    @classmethod
    def _token_credential(cls, value: str | None) -> str | None:
        return _check_credential_name(value)

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return _check_url(value, ("http", "https"))

    @model_validator(mode="after")
    def _read_token(self) -> Self:
        problems, self._token = _optional_token(self, "bot_token")
        if not problems and self._token is None and self.commands:
            problems = [("bot_token", "missing: give one of bot_token_file, _env, _credential")]
        if not problems and self.commands and not (self.allowed_chats or self.allowed_users):
            problems = [("allowed_chats", "give allowed_chats and/or allowed_users")]
        if problems:
            raise _Problems(problems)
        return self

    def bot_token(self) -> str | None:
        return None if self._token is None else self._token.get_secret_value()


class StateConfig(BaseModel):
    """Where the outbox and state live (`[state]`)."""

    model_config = _STRICT

    dir: Path = DEFAULT_STATE_DIR

    @field_validator("dir")
    @classmethod
    def _dir(cls, value: Path) -> Path:
        anchored = _anchor(value)
        assert anchored is not None
        return anchored


class HeartbeatConfig(BaseModel):
    """The dead-man's switch (`[heartbeat]`): a GET of the URL every `interval_s` while the
    daemon is healthy, of the URL with `/fail` appended while it is not (healthchecks.io,
    Uptime Kuma push, Cronitor), so an outside service alerts when the pings stop. The URL is a
    secret (it holds the check's token): `url`, `url_file`, `url_env` or `url_credential`."""

    model_config = _STRICT

    url: SecretStr | None = None
    url_file: Path | None = None
    url_env: str | None = None
    url_credential: str | None = None
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

    @field_validator("url_file")
    @classmethod
    def _file(cls, value: Path | None) -> Path | None:
        return _anchor(value)

    @field_validator("url_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return _check_env_name(value)

    @field_validator("url_credential")
    @classmethod
    def _credential(cls, value: str | None) -> str | None:
        return _check_credential_name(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Exactly one way to give the URL (none when only a digest is wanted); it is read (and
        checked) while the config loads."""
        if self.digest_at is not None and not _ways_given(self, "url"):
            return self  # a digest without pings
        problems = _one_way(self, "url")
        if not problems:
            try:
                field, value = _read_secret(self, "url")
            except _SecretMissing as exc:
                problems = [(_ways_given(self, "url")[0], str(exc))]
            else:
                parts = urlsplit(value.get_secret_value())
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    problems = [(field, "must be an http or https URL with a host")]
                self._url = value
        if problems:
            raise _Problems(problems)
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

    model_config = _STRICT

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

    model_config = _STRICT

    #: Local IP address every REST and websocket connection is bound to (None: the system's).
    source_address: str | None = None

    @field_validator("source_address")
    @classmethod
    def _source_address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


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
        return (_MappingEnvSource(settings_cls, _context().env), init_settings)

    @model_validator(mode="before")
    @classmethod
    def _state_directory(cls, data: Any) -> Any:
        """Without `[state] dir`, systemd's `$STATE_DIRECTORY` (its first entry) is used."""
        systemd_dir = _context().env.get("STATE_DIRECTORY", "").split(":")[0]
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
                if account.hysteresis is not None:
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
            raise _Problems(problems)
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
        alerts = self.alerts
        warning, critical, emergency = account.levels or alerts.levels
        hysteresis = alerts.hysteresis if account.hysteresis is None else account.hysteresis
        stale_s = alerts.stale_after_s if account.stale_after_s is None else account.stale_after_s
        return {
            "warning": warning,
            "critical": critical,
            "emergency": emergency,
            "hysteresis": hysteresis,
            "dwell_ms": _ms(alerts.dwell_s),
            "repeat_ms": _ms(alerts.repeat_s),
            "rapid_rise": alerts.rapid_rise,
            "rapid_window_ms": _ms(alerts.rapid_window_s),
            "stale_after_ms": _ms(stale_s),
            "escalate_after_ms": _ms(alerts.escalate_after_s),
        }

    def policy_config(self, account: Account | str) -> PolicyConfig:
        """The alert policy settings of `account`: its overrides applied, seconds → ms."""
        acc = self.account(account) if isinstance(account, str) else account
        return PolicyConfig(**self._policy_values(acc))

    def apprise_targets(self) -> list[tuple[str, list[str]]]:
        """(URL, tags) pairs from `alerts.apprise_config`, revealed; [] when not set."""
        if self._apprise_targets is None:
            targets, problems = self._load_apprise()
            if problems:
                raise ConfigError(problems)
            self._apprise_targets = targets
        return self._apprise_targets

    def _load_apprise(self) -> tuple[list[tuple[str, list[str]]], list[Problem]]:
        path = self.alerts.apprise_config
        if path is None:
            return [], []
        problems = _apprise_file_problems(path)
        if problems:
            return [], problems
        try:
            dests = destinations_from_config(path)
        except ValueError as exc:
            return [], [("alerts.apprise_config", str(exc))]
        tags = sorted({t for d in dests for t in d.tags})
        problems = [("alerts.apprise_config", m) for m in self.tag_problems(tags)]
        return [(d.url, sorted(d.tags)) for d in dests], problems

    def notify_targets(self) -> list[tuple[str, list[str]]]:
        """Every destination as (URL revealed, tags): `[[notify]]` then the Apprise config."""
        own = [(target.url_value(), list(target.tags)) for target in self.notify]
        return own + self.apprise_targets()


def _apprise_file_problems(path: Path) -> list[Problem]:
    if not path.is_file():
        return [("alerts.apprise_config", f"Apprise configuration {path} not found")]
    problem = _mode_problem(path, "Apprise configuration")
    return [("alerts.apprise_config", problem)] if problem else []


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


# ---- loading ------------------------------------------------------------------------------------


def _loc_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_problems(exc: ValidationError) -> list[Problem]:
    """Problems from pydantic errors: loc joined as a field path, no input values shown."""
    out: list[Problem] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _loc_path(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, _Problems):
            out += _prefixed(path, cause.problems) if path else cause.problems
        elif isinstance(cause, ValueError):
            out.append((path, str(cause)))
        elif err["type"] == "extra_forbidden":
            out.append((path, UNKNOWN_KEY))
        else:
            out.append((path, err["msg"]))
    return out


def _inline_secrets(raw: Mapping[str, Any]) -> list[str]:
    """Field paths of secrets written in the file itself."""
    found: list[str] = []
    accounts = raw.get("accounts")
    for i, account in enumerate(accounts if isinstance(accounts, list) else []):
        if isinstance(account, dict):
            found += [f"accounts[{i}].{k}" for k in ("api_key", "api_secret") if k in account]
    notify = raw.get("notify")
    for i, target in enumerate(notify if isinstance(notify, list) else []):
        url = target.get("url") if isinstance(target, dict) else None
        if isinstance(url, str) and url_secrets(url):
            found.append(f"notify[{i}].url")
    return found


def _file_mode_problems(path: Path, raw: Mapping[str, Any]) -> list[Problem]:
    """A config file writable by group or others is refused (whoever can write it decides where
    alerts go and which thresholds apply); inline secrets make mode 0600 mandatory."""
    inline = _inline_secrets(raw)
    mode = stat.S_IMODE(path.stat().st_mode)
    problems: list[Problem] = []
    if mode & _GROUP_OTHER_WRITE:
        fix = "chmod 600" if inline else "chmod 640"
        problems.append(
            (
                str(path),
                f"writable by group or others (mode {mode:04o}): whoever can write it can silence"
                f" or redirect the alerts; run `{fix} {path}`",
            )
        )
    if not inline or not mode & _GROUP_OTHER_BITS:
        return problems
    return problems + [
        (
            field,
            f"inline secret in {path}, which has mode {mode:04o} (readable by group or others):"
            f" run `chmod 600 {path}`, or move it to {field.rsplit('.', 1)[1]}_file,"
            f" _env or _credential",
        )
        for field in inline
    ]


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _partial_problems(raw: dict[str, Any], env: Mapping[str, str]) -> list[Problem]:
    """Secret-resolution problems of the parts that validate on their own (the whole did not)."""
    try:
        data = _merge(raw, _MappingEnvSource(Config, env)())
    except SettingsError:
        data = raw
    problems: list[Problem] = []
    sections: list[tuple[str, type[Account] | type[NotifyTarget]]] = [
        ("accounts", Account),
        ("notify", NotifyTarget),
    ]
    for key, model in sections:
        items = data.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            try:
                part = model.model_validate(item)
            except ValidationError:
                continue  # its problems are already reported
            problems += _prefixed(f"{key}[{i}]", part.resolve_secrets())
    try:
        alerts = AlertsConfig.model_validate(data.get("alerts", {}))
    except ValidationError:
        return problems
    if alerts.apprise_config is not None:
        problems += _apprise_file_problems(alerts.apprise_config)
    return problems


def _env_override_problems(
    env: Mapping[str, str], raw: Mapping[str, Any], config: Config | None
) -> list[Problem]:
    """`MARGINWATCH_…` variables that override nothing: a misspelt section or a single `_`
    between section and key would otherwise be ignored silently."""
    sections = {name.upper() for name in Config.model_fields}
    secret_names = _secret_env_names(raw, config)
    problems: list[Problem] = []
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_ENV_NAMES or name in secret_names:
            continue
        section = upper[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER, 1)[0]
        if section in sections:
            continue  # an override: pydantic-settings applies and validates it
        problems.append(
            (
                f"environment {name}",
                f"unknown override (no section {section.lower()!r}): use"
                f" {ENV_PREFIX}<SECTION>{ENV_NESTED_DELIMITER}<KEY> with a section of"
                f" {', '.join(sorted(s.lower() for s in sections))}"
                f" (e.g. {ENV_PREFIX}ALERTS{ENV_NESTED_DELIMITER}STALE_AFTER_S), or unset it",
            )
        )
    return problems


def _secret_env_names(raw: Mapping[str, Any], config: Config | None) -> set[str]:
    """The environment variables the configuration reads secrets from (`*_env` keys)."""
    names: set[str] = set()
    for value in raw.values():  # every table: [[accounts]], [[notify]], [heartbeat], ...
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                names |= {v for k, v in item.items() if k.endswith("_env") and isinstance(v, str)}
    if config is not None:
        sections = [getattr(config, name) for name in type(config).model_fields]
        singles = [m for m in sections if isinstance(m, BaseModel)]
        for model in [*config.accounts, *config.notify, *singles]:
            names |= {
                value
                for name in type(model).model_fields
                if name.endswith("_env") and isinstance(value := getattr(model, name), str)
            }
    return names


def _settings_problem(exc: SettingsError) -> Problem:
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else "environment"
    return (
        field,
        f"cannot parse the environment override {ENV_PREFIX}{field.upper()}"
        f" (complex values are JSON, nested keys use {ENV_NESTED_DELIMITER})",
    )


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


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load, validate and resolve the configuration at `path`; raise `ConfigError` with all
    problems. `env` stands for the process environment (overrides, secret variables,
    `$CREDENTIALS_DIRECTORY`, `$STATE_DIRECTORY`); default `os.environ`."""
    file = Path(path)
    environ: Mapping[str, str] = os.environ if env is None else env
    raw = _read_toml(file)
    problems = _file_mode_problems(file, raw)
    problems += [(key, UNKNOWN_KEY) for key in raw if key not in Config.model_fields]
    data = {k: v for k, v in raw.items() if k in Config.model_fields}
    config: Config | None = None
    with _loading(environ, file.absolute().parent):
        try:
            config = Config(**data)
        except ValidationError as exc:
            problems += _validation_problems(exc)
        except SettingsError as exc:
            problems.append(_settings_problem(exc))
        if config is None:
            problems += _partial_problems(data, environ)
        else:
            problems += _resolve_all(config)
    problems += _env_override_problems(environ, raw, config)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _resolve_all(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    for i, account in enumerate(config.accounts):
        problems += _prefixed(f"accounts[{i}]", account.resolve_secrets())
    for i, target in enumerate(config.notify):
        problems += _prefixed(f"notify[{i}]", target.resolve_secrets())
    targets, apprise_problems = config._load_apprise()
    if not apprise_problems:
        config._apprise_targets = targets
    return problems + apprise_problems


def state_dir_problems(directory: Path) -> list[Problem]:
    """The state directory must be a directory this user can write in (the outbox is created
    there at start-up), checked by creating and removing a temporary file: a read-only file
    system or a directory of another user fails it, for root too. A directory that does not
    exist yet (systemd's StateDirectory= creates it) must not lie on a read-only file system."""
    where = "state.dir"
    fix = (
        "give the daemon's user write access to it (systemd: StateDirectory=marginwatch),"
        " or set [state] dir to a writable directory"
    )
    try:
        exists = directory.exists()
        if not exists:
            parent = directory.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            if not parent.is_dir() or os.statvfs(parent).f_flag & os.ST_RDONLY:
                return [(where, f"{directory} cannot be created in {parent} (read-only): {fix}")]
            return []
        if not directory.is_dir():
            return [(where, f"{directory} is not a directory: {fix}")]
        with tempfile.TemporaryFile(dir=directory, prefix=".marginwatch-check-"):
            pass
        for file in sorted(directory.glob(OUTBOX_FILE + "*")):
            os.close(os.open(file, os.O_RDWR))
    except OSError as exc:
        name = exc.filename or directory
        reason = exc.strerror or exc.__class__.__name__
        return [(where, f"cannot write in {directory} as this user ({reason}: {name}): {fix}")]
    return []


def check_config(path: str | Path, env: Mapping[str, str] | None = None) -> int:
    """`marginwatch check-config`: print OK and a summary (0), or every problem (2)."""
    try:
        config = load_config(path, env)
        problems = state_dir_problems(config.state.dir)
    except ConfigError as exc:
        problems = exc.problems
    if problems:
        print(f"{path}: {len(problems)} problem(s)")
        for field, message in problems:
            print(f"{field}: {message}")
        return 2
    print(
        f"OK: {len(config.accounts)} account(s), {len(config.notify_targets())}"
        " notify destination(s)"
    )
    return 0
