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

The modules, lowest first: `common` (problems, `ConfigError`, the load context), `checking`
(bounds, permissions, the state directory, `check_config`), `secrets` (the ways to give a
secret and reading it), `thresholds` (the alert settings derived from the policy's
`PolicyConfig`), the models `accounts`, `alerts` (`[alerts]`, `[[notify]]`), `services` (the
daemon's own tables) and `model` (`Config`), `environment` (the overrides) and `loading`
(`load_config`).
"""

from __future__ import annotations

from monitor.config.accounts import Account
from monitor.config.alerts import AlertsConfig, NotifyTarget
from monitor.config.checking import ACCOUNT_MODES, check_config, state_dir_problems
from monitor.config.common import (
    DEFAULT_LISTEN,
    DEFAULT_METRICS_MAX_ACCOUNTS,
    DEFAULT_STATE_DIR,
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    OTHER_ENV_NAMES,
    OUTBOX_FILE,
    UNKNOWN_KEY,
    ConfigError,
    Problem,
)
from monitor.config.loading import load_config
from monitor.config.model import Config
from monitor.config.secrets import SECRET_WAYS, TOKEN_WAYS
from monitor.config.services import (
    HeartbeatConfig,
    HttpConfig,
    NetworkConfig,
    ShardConfig,
    StateConfig,
    TelegramConfig,
)
from monitor.config.thresholds import DEFAULT_LEVELS, THRESHOLDS

__all__ = [
    "ACCOUNT_MODES",
    "DEFAULT_LEVELS",
    "DEFAULT_LISTEN",
    "DEFAULT_METRICS_MAX_ACCOUNTS",
    "DEFAULT_STATE_DIR",
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "OTHER_ENV_NAMES",
    "OUTBOX_FILE",
    "SECRET_WAYS",
    "THRESHOLDS",
    "TOKEN_WAYS",
    "UNKNOWN_KEY",
    "Account",
    "AlertsConfig",
    "Config",
    "ConfigError",
    "HeartbeatConfig",
    "HttpConfig",
    "NetworkConfig",
    "NotifyTarget",
    "Problem",
    "ShardConfig",
    "StateConfig",
    "TelegramConfig",
    "check_config",
    "load_config",
    "state_dir_problems",
]
