"""Tests of monitor/config/: the example, every validation rule, env overrides and secrets."""

from __future__ import annotations

import re
import secrets
import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.config import (
    DEFAULT_STATE_DIR,
    Account,
    AlertsConfig,
    Config,
    ConfigError,
    HttpConfig,
    NotifyTarget,
    Problem,
    StateConfig,
    check_config,
    load_config,
)
from monitor.engine.model import Mode

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
EXAMPLE = CONFIG_DIR / "example.toml"
APPRISE_EXAMPLE = CONFIG_DIR / "apprise.yml"

KEY_ENV = "MW_TEST_API_KEY"
SECRET_ENV = "MW_TEST_API_SECRET"
ENV_SECRETS = f'api_key_env = "{KEY_ENV}"\napi_secret_env = "{SECRET_ENV}"'
PLAIN_NOTIFY = '[[notify]]\nurl = "json://127.0.0.1:9/hook"\n'


def dummy() -> str:
    """A fresh random stand-in for a key or secret."""
    return secrets.token_hex(32)


def telegram_url() -> str:
    return f"tgram://{secrets.randbelow(10**9) + 1}:{secrets.token_hex(17)}/-1001234567890"


def email_url(password: str) -> str:
    return f"mailtos://alerts:{password}@smtp.example.com?to=ops@example.com"


def config_text(
    account: str = "", secret_lines: str = ENV_SECRETS, notify: str = PLAIN_NOTIFY, rest: str = ""
) -> str:
    """One account named `main` (secrets from env by default), one notify target, then `rest`."""
    return f'[[accounts]]\nname = "main"\n{secret_lines}\n{account}\n\n{notify}\n{rest}\n'


def write(directory: Path, text: str, mode: int = 0o644, name: str = "config.toml") -> Path:
    path = directory / name
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def env() -> dict[str, str]:
    return {KEY_ENV: dummy(), SECRET_ENV: dummy()}


def problems_of(path: Path, env: dict[str, str]) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env)
    return caught.value.problems


def only_problem(path: Path, env: dict[str, str]) -> Problem:
    problems = problems_of(path, env)
    assert len(problems) == 1, problems
    return problems[0]


# ---- the examples -------------------------------------------------------------------------------


def example_env(tmp_path: Path) -> dict[str, str]:
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "binance-pm-main-secret").write_text(dummy() + "\n")
    (creds / "smtp-url").write_text(email_url(secrets.token_hex(8)))
    return {
        "MARGINWATCH_PM_MAIN_API_KEY": dummy(),
        "MARGINWATCH_UM_TEST_API_KEY": dummy(),
        "MARGINWATCH_UM_TEST_API_SECRET": dummy(),
        "MARGINWATCH_TELEGRAM_URL": telegram_url(),
        "CREDENTIALS_DIRECTORY": str(creds),
    }


def test_example_loads(tmp_path: Path) -> None:
    env = example_env(tmp_path)
    config = load_config(EXAMPLE, env)
    pm, um = config.accounts
    assert (pm.name, pm.environment, pm.fixed_mode) == ("pm-main", "mainnet", Mode.PORTFOLIO_MARGIN)
    assert (um.name, um.environment, um.fixed_mode) == ("um-test", "testnet", Mode.USDM)
    assert pm.api_key_value() == env["MARGINWATCH_PM_MAIN_API_KEY"]
    assert um.api_secret_value() == env["MARGINWATCH_UM_TEST_API_SECRET"]
    assert (
        pm.api_secret_value()
        == (tmp_path / "credentials/binance-pm-main-secret").read_text().strip()
    )
    assert config.policy_config("um-test").stale_after_ms == 30_000
    assert config.policy_config(pm).lines == (0.70, 0.85, 0.95)
    targets = config.notify_targets()
    assert targets[0] == (env["MARGINWATCH_TELEGRAM_URL"], [])
    assert targets[1][1] == ["emergency", "pm-main"]
    assert (config.http.host, config.http.port, config.http.is_loopback) == (
        "127.0.0.1",
        9108,
        True,
    )
    assert config.state.dir == DEFAULT_STATE_DIR


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    models: list[type[BaseModel]] = [Account, AlertsConfig, NotifyTarget, HttpConfig, StateConfig]
    for model in models:
        for field in model.model_fields:
            assert re.search(rf"^#? ?{field} = ", text, re.MULTILINE), f"{model.__name__}.{field}"
    for section in Config.model_fields:
        # An optional section (none by default) may be shown commented out.
        optional = Config.model_fields[section].default is None
        header = rf"^{'(# )?' if optional else ''}\[\[?{section}\]\]?$"
        assert re.search(header, text, re.MULTILINE), section


def test_apprise_example_loads_with_tags(tmp_path: Path) -> None:
    shutil.copy(APPRISE_EXAMPLE, tmp_path / "apprise.yml")
    (tmp_path / "apprise.yml").chmod(0o600)
    text = (
        f'[[accounts]]\nname = "pm-main"\n{ENV_SECRETS}\n[alerts]\napprise_config = "apprise.yml"\n'
    )
    env = {KEY_ENV: dummy(), SECRET_ENV: dummy()}
    config = load_config(write(tmp_path, text), env)
    assert config.alerts.apprise_config == tmp_path / "apprise.yml"
    tags = [tags for _, tags in config.notify_targets()]
    assert tags == [[], ["critical", "pm-main"], ["emergency", "ops"]]


def test_apprise_config_must_be_private(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copy(APPRISE_EXAMPLE, tmp_path / "apprise.yml")
    (tmp_path / "apprise.yml").chmod(0o644)
    text = config_text(notify="", rest='[alerts]\napprise_config = "apprise.yml"\n')
    path, message = only_problem(write(tmp_path, text), env)
    assert path == "alerts.apprise_config"
    assert "mode 0644" in message and f"chmod 600 {tmp_path / 'apprise.yml'}" in message


def test_apprise_config_missing(tmp_path: Path, env: dict[str, str]) -> None:
    text = config_text(notify="", rest='[alerts]\napprise_config = "nowhere.yml"\n')
    path, message = only_problem(write(tmp_path, text), env)
    assert path == "alerts.apprise_config" and "not found" in message


def test_apprise_config_unknown_tag(tmp_path: Path, env: dict[str, str]) -> None:
    shutil.copy(APPRISE_EXAMPLE, tmp_path / "apprise.yml")
    (tmp_path / "apprise.yml").chmod(0o600)
    text = config_text(notify="", rest='[alerts]\napprise_config = "apprise.yml"\n')
    path, message = only_problem(write(tmp_path, text), env)  # the example tags pm-main
    assert path == "alerts.apprise_config" and "unknown tag 'pm-main'" in message


# ---- validation rules ---------------------------------------------------------------------------


def test_minimal_config_defaults(tmp_path: Path, env: dict[str, str]) -> None:
    config = load_config(write(tmp_path, config_text()), env)
    account = config.accounts[0]
    assert (account.environment, account.mode, account.fixed_mode) == ("mainnet", "auto", None)
    assert account.margin_leverage == 3
    assert config.alerts.levels == [0.70, 0.85, 0.95]
    assert config.http.listen == "127.0.0.1:9108"
    assert config.alerts.telegram_api_base == "https://api.telegram.org"


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        (
            "[0.85, 0.70, 0.95]",
            "levels must be strictly increasing: warning < critical < emergency",
        ),
        (
            "[0.70, 0.70, 0.95]",
            "levels must be strictly increasing: warning < critical < emergency",
        ),
        ("[0.70, 0.85, 1.2]", "levels are fractions of risk in (0, 1] (1.0 = liquidation)"),
        ("[0.0, 0.85, 0.95]", "levels are fractions of risk in (0, 1] (1.0 = liquidation)"),
        ("[0.70, 0.85]", "give exactly three levels [warning, critical, emergency], not 2"),
    ],
)
def test_levels_rule(tmp_path: Path, env: dict[str, str], levels: str, message: str) -> None:
    path = write(tmp_path, config_text(rest=f"[alerts]\nlevels = {levels}\n"))
    assert only_problem(path, env) == ("alerts.levels", message)


def test_levels_of_one_account(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account="levels = [0.9, 0.8, 0.95]"))
    assert only_problem(path, env) == (
        "accounts[0].levels",
        "levels must be strictly increasing: warning < critical < emergency",
    )


def test_level_one_is_allowed(tmp_path: Path, env: dict[str, str]) -> None:
    config = load_config(write(tmp_path, config_text(account="levels = [0.8, 0.9, 1.0]")), env)
    assert config.policy_config("main").emergency == 1.0


@pytest.mark.parametrize("value", ["0.2", "-0.01", "nan"])
def test_hysteresis_range(tmp_path: Path, env: dict[str, str], value: str) -> None:
    path = write(tmp_path, config_text(rest=f"[alerts]\nhysteresis = {value}\n"))
    field, message = only_problem(path, env)
    assert field == "alerts.hysteresis"
    assert "hysteresis must be in [0, 0.2)" in message or "finite number" in message


def test_hysteresis_of_one_account(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account="hysteresis = 0.25"))
    assert only_problem(path, env) == (
        "accounts[0].hysteresis",
        "hysteresis must be in [0, 0.2) (a fraction of risk, e.g. 0.03)",
    )


def test_hysteresis_below_warning(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account="levels = [0.1, 0.5, 0.9]\nhysteresis = 0.15"))
    assert only_problem(path, env) == (
        "accounts[0].hysteresis",
        "hysteresis must be below the warning level, or a warning could never clear",
    )


def test_timezone_must_exist(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(rest='[alerts]\ntimezone = "Mars/Olympus_Mons"\n'))
    assert only_problem(path, env) == (
        "alerts.timezone",
        "unknown time zone 'Mars/Olympus_Mons': use an IANA name like UTC or Europe/Berlin",
    )


def test_timezone_valid(tmp_path: Path, env: dict[str, str]) -> None:
    config = load_config(
        write(tmp_path, config_text(rest='[alerts]\ntimezone = "Europe/Berlin"\n')), env
    )
    assert config.alerts.tz.key == "Europe/Berlin"


def test_custom_requires_rest_and_ws(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account='environment = "custom"'))
    assert problems_of(path, env) == [
        ("accounts[0].rest", 'required when environment = "custom"'),
        ("accounts[0].ws", 'required when environment = "custom"'),
    ]


def test_custom_url_schemes(tmp_path: Path, env: dict[str, str]) -> None:
    lines = 'environment = "custom"\nrest = "ftp://127.0.0.1:8765"\nws = "http://127.0.0.1:8765"'
    path = write(tmp_path, config_text(account=lines))
    assert problems_of(path, env) == [
        ("accounts[0].rest", "must be a http or https URL with a host, like https://host"),
        ("accounts[0].ws", "must be a ws or wss URL with a host, like wss://host"),
    ]


def test_custom_environment_loads(tmp_path: Path, env: dict[str, str]) -> None:
    lines = 'environment = "custom"\nrest = "http://127.0.0.1:8765/"\nws = "ws://127.0.0.1:8765"'
    account = load_config(write(tmp_path, config_text(account=lines)), env).accounts[0]
    assert (account.rest, account.ws) == ("http://127.0.0.1:8765", "ws://127.0.0.1:8765")


def test_non_custom_rejects_urls(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account='environment = "testnet"\nrest = "https://x.test"'))
    assert only_problem(path, env) == (
        "accounts[0].rest",
        'only for environment = "custom" (testnet URLs are built in)',
    )


def test_environment_values(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account='environment = "prod"'))
    assert only_problem(path, env) == (
        "accounts[0].environment",
        "Input should be 'mainnet', 'testnet', 'demo' or 'custom'",
    )


def test_mode_values(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account='mode = "spot"'))
    assert only_problem(path, env) == (
        "accounts[0].mode",
        "must be one of auto, usdm, usdm_multi_assets, coinm, portfolio_margin",
    )


def test_portfolio_margin_has_no_testnet(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path, config_text(account='mode = "portfolio_margin"\nenvironment = "testnet"')
    )
    field, message = only_problem(path, env)
    assert field == "accounts[0].mode"
    assert message.startswith("Binance has no Portfolio Margin testnet")


def test_margin_leverage_values(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account="margin_leverage = 4"))
    assert only_problem(path, env) == ("accounts[0].margin_leverage", "Input should be 3, 5 or 10")


def test_account_names_unique(tmp_path: Path, env: dict[str, str]) -> None:
    second = f'[[accounts]]\nname = "main"\n{ENV_SECRETS}\n'
    path = write(tmp_path, config_text(rest=second))
    assert only_problem(path, env) == (
        "accounts[1].name",
        "duplicate account name 'main' (also accounts[0])",
    )


def test_account_name_characters(tmp_path: Path, env: dict[str, str]) -> None:
    text = config_text().replace('name = "main"', 'name = "main account"')
    assert only_problem(write(tmp_path, text), env) == (
        "accounts[0].name",
        "account names use only letters, digits, '_' and '-'",
    )


def test_at_least_one_account(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, PLAIN_NOTIFY)
    assert only_problem(path, env) == ("accounts", "Field required")


def test_secret_given_no_way(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(secret_lines=f'api_key_env = "{KEY_ENV}"'))
    assert only_problem(path, env) == (
        "accounts[0].api_secret",
        "missing: give exactly one of api_secret, api_secret_file, api_secret_env,"
        " api_secret_credential",
    )


def test_secret_given_two_ways(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account='api_secret_credential = "binance-secret"'))
    assert only_problem(path, env) == (
        "accounts[0].api_secret",
        "given 2 ways (api_secret_env, api_secret_credential): give exactly one",
    )


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("colour", 'colour = "red"\n' + config_text()),
        ("accounts[0].api_secrets_env", config_text(account='api_secrets_env = "X"')),
        ("alerts.stale_after", config_text(rest="[alerts]\nstale_after = 3")),
        ("notify[0].tag", config_text(notify=PLAIN_NOTIFY + 'tag = "ops"')),
        ("http.port", config_text(rest="[http]\nport = 9108")),
    ],
)
def test_unknown_keys_rejected(tmp_path: Path, env: dict[str, str], where: str, text: str) -> None:
    field, message = only_problem(write(tmp_path, text), env)
    assert (field, message.split(" (")[0]) == (where, "unknown key")


def test_notify_unknown_tag(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(notify=PLAIN_NOTIFY + 'tags = ["critcal"]'))
    assert only_problem(path, env) == (
        "notify[0].tags",
        "unknown tag 'critcal': tags are categories (critical, emergency, escalation, info, ops,"
        " warning)"
        " or account names (main)",
    )


def test_notify_account_and_category_tags(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(notify=PLAIN_NOTIFY + 'tags = ["critical", "main"]'))
    assert load_config(path, env).notify_targets()[0][1] == ["critical", "main"]


def test_notify_invalid_url(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(notify='[[notify]]\nurl = "nosuchscheme://x"\n'))
    field, message = only_problem(path, env)
    assert (field, message.split(":")[0]) == ("notify[0].url", "not a valid Apprise URL")


def test_needs_a_destination(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(notify=""))
    assert only_problem(path, env) == (
        "notify",
        "no destination: add a [[notify]] table or set alerts.apprise_config",
    )


@pytest.mark.parametrize("listen", ["9108", "127.0.0.1", "example.com:9108", "127.0.0.1:70000"])
def test_listen_invalid(tmp_path: Path, env: dict[str, str], listen: str) -> None:
    path = write(tmp_path, config_text(rest=f'[http]\nlisten = "{listen}"'))
    field, message = only_problem(path, env)
    assert field == "http.listen" and message.startswith("use HOST:PORT with an IP address")


@pytest.mark.parametrize(
    ("listen", "host", "port", "loopback"),
    [("0.0.0.0:9200", "0.0.0.0", 9200, False), ("[::1]:9108", "::1", 9108, True)],
)
def test_listen_explicit(
    tmp_path: Path, env: dict[str, str], listen: str, host: str, port: int, loopback: bool
) -> None:
    http = load_config(write(tmp_path, config_text(rest=f'[http]\nlisten = "{listen}"')), env).http
    assert (http.host, http.port, http.is_loopback) == (host, port, loopback)


def test_state_dir_from_systemd(tmp_path: Path, env: dict[str, str]) -> None:
    env["STATE_DIRECTORY"] = "/var/lib/marginwatch/a:/var/lib/other"
    config = load_config(write(tmp_path, config_text()), env)
    assert config.state.dir == Path("/var/lib/marginwatch/a")


def test_state_dir_explicit_wins_and_is_relative_to_the_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env["STATE_DIRECTORY"] = "/var/lib/marginwatch"
    config = load_config(write(tmp_path, config_text(rest='[state]\ndir = "state"')), env)
    assert config.state.dir == tmp_path / "state"


def test_positive_durations(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(rest="[alerts]\nstale_after_s = 0\nrepeat_s = -1"))
    assert problems_of(path, env) == [
        (
            "alerts.stale_after_s",
            "the staleness limit (a larger one would turn blind detection off): give seconds in"
            " [1, 3600], not 0",
        ),
        (
            "alerts.repeat_s",
            "the emergency repeat interval: give seconds in [0.001, 86400], not -1",
        ),
    ]


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("alerts", "stale_after_s", "1e300"),  # switched blind detection off
        ("alerts", "stale_after_s", "3601"),
        ("alerts", "stale_after_s", "0.0001"),  # 0 ms: the policy refused it at start-up
        ("alerts", "dwell_s", "1e300"),
        ("alerts", "dwell_s", "-1"),
        ("alerts", "repeat_s", "1e300"),
        ("alerts", "repeat_s", "0.0001"),  # rounds to 0 ms: a crash at start-up
        ("alerts", "rapid_window_s", "1e300"),
        ("alerts", "rapid_window_s", "0.0001"),
        ("alerts", "rapid_rise", "1.5"),
        ("alerts", "hysteresis", "0.5"),
        ("http", "metrics_max_accounts", "0"),
        ("http", "metrics_max_accounts", "1000000000"),
    ],
)
def test_durations_and_thresholds_are_bounded(
    tmp_path: Path, env: dict[str, str], section: str, key: str, value: str
) -> None:
    path = write(tmp_path, config_text(rest=f"[{section}]\n{key} = {value}"))
    field, message = only_problem(path, env)
    assert field == f"{section}.{key}"
    assert message


def test_account_staleness_is_bounded_too(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(account="stale_after_s = 1e300"))
    assert only_problem(path, env) == (
        "accounts[0].stale_after_s",
        "the staleness limit (a larger one would turn blind detection off): give seconds in"
        " [1, 3600], not 1e+300",
    )


def test_bounds_admit_the_edges(tmp_path: Path, env: dict[str, str]) -> None:
    rest = (
        "[alerts]\nstale_after_s = 3600\ndwell_s = 0\nrepeat_s = 86400\nrapid_window_s = 86400\n"
        "[http]\nmetrics_max_accounts = 100000\n"
    )
    config = load_config(write(tmp_path, config_text(rest=rest)), env)
    policy = config.policy_config("main")
    assert (policy.stale_after_ms, policy.dwell_ms, policy.repeat_ms) == (3_600_000, 0, 86_400_000)
    assert config.http.metrics_max_accounts == 100_000


def test_metrics_cap_covers_a_fleet_by_default(tmp_path: Path, env: dict[str, str]) -> None:
    assert load_config(write(tmp_path, config_text()), env).http.metrics_max_accounts == 1000


def test_all_problems_are_reported(tmp_path: Path, env: dict[str, str]) -> None:
    second = (
        '[[accounts]]\nname = "b"\napi_key_env = "NOT_SET_KEY"\napi_secret_env = "NOT_SET_SECRET"\n'
    )
    rest = f'{second}\n[alerts]\ntimezone = "Nowhere"\nlevels = [0.9, 0.8, 0.95]\n'
    path = write(tmp_path, config_text(account='environment = "custom"', rest=rest))
    fields = [field for field, _ in problems_of(path, env)]
    assert fields == [
        "accounts[0].rest",
        "accounts[0].ws",
        "alerts.levels",
        "alerts.timezone",
        "accounts[1].api_key_env",
        "accounts[1].api_secret_env",
    ]


def test_toml_syntax_error_names_the_line(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(rest="[alerts]\nlevels = [0.7, 0.85,\nhysteresis 0.03\n"))
    field, message = only_problem(path, env)
    assert field == str(path)
    assert message.startswith("TOML syntax error:") and re.search(r"line \d+", message)


def test_missing_config_file(tmp_path: Path, env: dict[str, str]) -> None:
    assert only_problem(tmp_path / "absent.toml", env) == (
        str(tmp_path / "absent.toml"),
        "file not found",
    )


# ---- environment overrides ----------------------------------------------------------------------


def test_env_overrides_toml(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(rest="[alerts]\nstale_after_s = 10\ndwell_s = 7"))
    env["MARGINWATCH_ALERTS__STALE_AFTER_S"] = "20"
    env["MARGINWATCH_ALERTS__LEVELS"] = "[0.6, 0.8, 0.9]"
    env["MARGINWATCH_HTTP__LISTEN"] = "0.0.0.0:9200"
    config = load_config(path, env)
    policy = config.policy_config("main")
    assert (policy.stale_after_ms, policy.dwell_ms) == (20_000, 7_000)
    assert policy.lines == (0.6, 0.8, 0.9)
    assert config.http.listen == "0.0.0.0:9200"


def test_env_override_is_validated(tmp_path: Path, env: dict[str, str]) -> None:
    env["MARGINWATCH_ALERTS__HYSTERESIS"] = "0.5"
    env["MARGINWATCH_ALERTS__STALE_AFTR_S"] = "20"
    assert problems_of(write(tmp_path, config_text()), env) == [
        ("alerts.hysteresis", "hysteresis must be in [0, 0.2) (a fraction of risk, e.g. 0.03)"),
        (
            "alerts.stale_aftr_s",
            "unknown key (not part of the configuration; check its spelling and section)",
        ),
    ]


def test_env_override_bad_json(tmp_path: Path, env: dict[str, str]) -> None:
    env["MARGINWATCH_ALERTS__LEVELS"] = "[0.6, 0.8"
    field, message = only_problem(write(tmp_path, config_text()), env)
    assert field == "alerts"
    assert message.startswith("cannot parse the environment override MARGINWATCH_ALERTS")


def test_os_environ_is_the_default(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MARGINWATCH_ALERTS__REPEAT_S", "90")
    config = load_config(write(tmp_path, config_text()))
    assert config.policy_config("main").repeat_ms == 90_000
    assert config.accounts[0].api_key_value() == env[KEY_ENV]


# ---- secrets ------------------------------------------------------------------------------------


def test_secret_from_env(tmp_path: Path, env: dict[str, str]) -> None:
    account = load_config(write(tmp_path, config_text()), env).accounts[0]
    assert (account.api_key_value(), account.api_secret_value()) == (env[KEY_ENV], env[SECRET_ENV])


def test_secret_env_not_set(tmp_path: Path, env: dict[str, str]) -> None:
    del env[SECRET_ENV]
    assert only_problem(write(tmp_path, config_text()), env) == (
        "accounts[0].api_secret_env",
        f"environment variable {SECRET_ENV} is not set",
    )


def test_secret_empty(tmp_path: Path, env: dict[str, str]) -> None:
    env[SECRET_ENV] = " \n"
    assert only_problem(write(tmp_path, config_text()), env) == (
        "accounts[0].api_secret_env",
        f"environment variable {SECRET_ENV} is empty",
    )


def secret_file_config(tmp_path: Path, mode: int) -> tuple[Path, str]:
    secret = dummy()
    write(tmp_path, secret + "\n", mode=mode, name="api.secret")
    lines = f'api_key_env = "{KEY_ENV}"\napi_secret_file = "api.secret"'
    return write(tmp_path, config_text(secret_lines=lines)), secret


def test_secret_from_private_file(tmp_path: Path, env: dict[str, str]) -> None:
    path, secret = secret_file_config(tmp_path, 0o600)
    account = load_config(path, env).accounts[0]
    assert account.api_secret_file == tmp_path / "api.secret"
    assert account.api_secret_value() == secret


def test_secret_file_readable_by_others_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    path, secret = secret_file_config(tmp_path, 0o644)
    field, message = only_problem(path, env)
    assert field == "accounts[0].api_secret_file"
    file = tmp_path / "api.secret"
    assert message == (
        f"secret file {file} has mode 0644: it holds secrets and must not be readable by group"
        f" or others; run `chmod 600 {file}`"
    )
    assert secret not in message


def test_secret_file_missing(tmp_path: Path, env: dict[str, str]) -> None:
    lines = f'api_key_env = "{KEY_ENV}"\napi_secret_file = "/nonexistent/api.secret"'
    path = write(tmp_path, config_text(secret_lines=lines))
    assert only_problem(path, env) == (
        "accounts[0].api_secret_file",
        "file /nonexistent/api.secret not found",
    )


def test_secret_from_systemd_credential(tmp_path: Path, env: dict[str, str]) -> None:
    secret = dummy()
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "binance-secret").write_text(secret)
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    lines = f'api_key_env = "{KEY_ENV}"\napi_secret_credential = "binance-secret"'
    account = load_config(write(tmp_path, config_text(secret_lines=lines)), env).accounts[0]
    assert account.api_secret_value() == secret


def test_secret_credential_missing(tmp_path: Path, env: dict[str, str]) -> None:
    lines = f'api_key_env = "{KEY_ENV}"\napi_secret_credential = "binance-secret"'
    path = write(tmp_path, config_text(secret_lines=lines))
    field, message = only_problem(path, env)
    assert field == "accounts[0].api_secret_credential"
    assert message.startswith("$CREDENTIALS_DIRECTORY is not set")
    env["CREDENTIALS_DIRECTORY"] = str(tmp_path)
    assert only_problem(path, env) == (
        "accounts[0].api_secret_credential",
        f"credential binance-secret not found in {tmp_path}: add"
        " LoadCredential=binance-secret:/path/to/secret to the systemd unit",
    )


def test_secret_source_names_are_checked(tmp_path: Path, env: dict[str, str]) -> None:
    lines = 'api_key_env = "MY-KEY"\napi_secret_credential = "a/b"'
    fields = [f for f, _ in problems_of(write(tmp_path, config_text(secret_lines=lines)), env)]
    assert fields == ["accounts[0].api_key_env", "accounts[0].api_secret_credential"]


def inline_config(tmp_path: Path, mode: int) -> tuple[Path, str, str]:
    key, secret = dummy(), dummy()
    path = write(
        tmp_path, config_text(secret_lines=f'api_key = "{key}"\napi_secret = "{secret}"'), mode
    )
    return path, key, secret


def test_inline_secrets_in_private_file(tmp_path: Path) -> None:
    path, key, secret = inline_config(tmp_path, 0o600)
    account = load_config(path, {}).accounts[0]
    assert (account.api_key_value(), account.api_secret_value()) == (key, secret)


def test_inline_secrets_need_a_private_file(tmp_path: Path) -> None:
    path, _, _ = inline_config(tmp_path, 0o644)
    problems = problems_of(path, {})
    assert [field for field, _ in problems] == ["accounts[0].api_key", "accounts[0].api_secret"]
    assert problems[1][1] == (
        f"inline secret in {path}, which has mode 0644 (readable by group or others): run"
        f" `chmod 600 {path}`, or move it to api_secret_file, _env or _credential"
    )


def test_inline_notify_password_needs_a_private_file(tmp_path: Path, env: dict[str, str]) -> None:
    notify = f'[[notify]]\nurl = "{email_url(secrets.token_hex(8))}"\n'
    path = write(tmp_path, config_text(notify=notify), 0o640)
    field, message = only_problem(path, env)
    assert field == "notify[0].url" and f"run `chmod 600 {path}`" in message
    path.chmod(0o600)
    assert len(load_config(path, env).notify_targets()) == 1


def test_notify_url_from_env(tmp_path: Path, env: dict[str, str]) -> None:
    env["MW_TEST_TELEGRAM"] = url = telegram_url()
    notify = '[[notify]]\nurl_env = "MW_TEST_TELEGRAM"\ntags = ["ops"]\n'
    config = load_config(write(tmp_path, config_text(notify=notify)), env)
    assert config.notify_targets() == [(url, ["ops"])]


# ---- secrets stay secret ------------------------------------------------------------------------


def test_no_secret_in_repr_str_or_dump(tmp_path: Path) -> None:
    password = secrets.token_hex(8)
    notify = f'[[notify]]\nurl = "{email_url(password)}"\n'
    key, secret = dummy(), dummy()
    text = config_text(secret_lines=f'api_key = "{key}"\napi_secret = "{secret}"', notify=notify)
    config = load_config(write(tmp_path, text, 0o600), {})
    shown = [
        repr(config),
        str(config),
        repr(config.accounts[0]),
        str(config.model_dump()),
        config.model_dump_json(),
        repr(config.notify[0]),
    ]
    for text in shown:
        for hidden in (key, secret, password):
            assert hidden not in text
    assert config.accounts[0].api_secret_value() == secret
    assert password in config.notify_targets()[0][0]


def test_no_secret_in_errors_or_check_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, secret, password = dummy(), dummy(), secrets.token_hex(8)
    notify = f'[[notify]]\nurl = "{email_url(password)}"\ntags = ["nope"]\n'
    lines = f'api_key = "{key}"\napi_secret = "{secret}"\nhysteresis = "{secret}"'
    path = write(tmp_path, config_text(secret_lines=lines, notify=notify), 0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert [field for field, _ in caught.value.problems] == [
        "accounts[0].api_key",
        "accounts[0].api_secret",
        "notify[0].url",
        "accounts[0].hysteresis",
    ]
    assert check_config(path, {}) == 2
    out = capsys.readouterr()
    for text in (str(caught.value), repr(caught.value), out.out, out.err):
        for hidden in (key, secret, password):
            assert hidden not in text


def test_invalid_notify_url_is_redacted(tmp_path: Path, env: dict[str, str]) -> None:
    token = secrets.token_hex(16)
    path = write(tmp_path, config_text(notify='[[notify]]\nurl_env = "MW_TEST_URL"\n'))
    env["MW_TEST_URL"] = f"nosuchscheme://user:{token}@host/{token}"
    field, message = only_problem(path, env)
    assert field == "notify[0].url_env" and token not in message


# ---- check_config -------------------------------------------------------------------------------


def test_check_config_ok(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_config(write(tmp_path, config_text()), env) == 0
    assert capsys.readouterr().out == "OK: 1 account(s), 1 notify destination(s)\n"


def test_check_config_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_config(EXAMPLE, example_env(tmp_path)) == 0
    assert capsys.readouterr().out == "OK: 2 account(s), 2 notify destination(s)\n"


def test_check_config_prints_every_problem(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    del env[KEY_ENV]
    path = write(tmp_path, config_text(rest='[alerts]\ntimezone = "Nowhere"\n'))
    assert check_config(path, env) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: 2 problem(s)",
        "alerts.timezone: unknown time zone 'Nowhere': use an IANA name like UTC or Europe/Berlin",
        f"accounts[0].api_key_env: environment variable {KEY_ENV} is not set",
    ]


def test_check_config_syntax_error(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[[accounts]\n")
    assert check_config(path, env) == 2
    assert "(at line 1, column" in capsys.readouterr().out


# ---- accessors ----------------------------------------------------------------------------------


def test_policy_config_applies_overrides(tmp_path: Path, env: dict[str, str]) -> None:
    alerts = "[alerts]\ndwell_s = 2.5\nrepeat_s = 30\nrapid_rise = 0.1\nrapid_window_s = 120\n"
    account = "levels = [0.5, 0.6, 0.7]\nhysteresis = 0.02\nstale_after_s = 40"
    config = load_config(write(tmp_path, config_text(account=account, rest=alerts)), env)
    policy = config.policy_config(config.accounts[0])
    assert policy.lines == (0.5, 0.6, 0.7)
    assert (policy.hysteresis, policy.rapid_rise) == (0.02, 0.1)
    assert (policy.dwell_ms, policy.repeat_ms, policy.rapid_window_ms) == (2_500, 30_000, 120_000)
    assert policy.stale_after_ms == 40_000
    with pytest.raises(KeyError):
        config.policy_config("other")


def test_account_resolves_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    value = dummy()
    monkeypatch.setenv("MW_TEST_LAZY", value)
    account = Account(name="x", api_key_env="MW_TEST_LAZY", api_secret_env="MW_TEST_LAZY_ABSENT")
    assert account.api_key_value() == value
    with pytest.raises(ConfigError) as caught:
        account.api_secret_value()
    assert caught.value.problems == [
        ("accounts[x].api_secret_env", "environment variable MW_TEST_LAZY_ABSENT is not set")
    ]


def test_notify_url_is_required(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(notify='[[notify]]\ntags = ["ops"]\n'))
    assert only_problem(path, env) == (
        "notify[0].url",
        "missing: give exactly one of url, url_file, url_env, url_credential",
    )


def test_notify_url_from_file_and_empty_tag(tmp_path: Path, env: dict[str, str]) -> None:
    url = telegram_url()
    write(tmp_path, url, 0o600, name="telegram.url")
    notify = '[[notify]]\nurl_file = "telegram.url"\ntags = ["critical", " "]\n'
    path = write(tmp_path, config_text(notify=notify))
    assert only_problem(path, env) == ("notify[0].tags", "tags must not be empty")
    path.write_text(config_text(notify=notify.replace(', " "', "")))
    assert load_config(path, env).notify_targets() == [(url, ["critical"])]


def test_notify_url_env_not_set(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, config_text(notify='[[notify]]\nurl_env = "MW_TEST_NO_URL"\n'))
    assert only_problem(path, env) == (
        "notify[0].url_env",
        "environment variable MW_TEST_NO_URL is not set",
    )


def test_notify_target_resolves_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    url = telegram_url()
    monkeypatch.setenv("MW_TEST_LAZY_URL", url)
    assert NotifyTarget(url_env="MW_TEST_LAZY_URL").url_value() == url
    with pytest.raises(ConfigError) as caught:
        NotifyTarget(url_env="MW_TEST_LAZY_URL_ABSENT").url_value()
    assert caught.value.problems == [
        ("notify.url_env", "environment variable MW_TEST_LAZY_URL_ABSENT is not set")
    ]


def test_global_hysteresis_below_warning(tmp_path: Path, env: dict[str, str]) -> None:
    second = f'[[accounts]]\nname = "b"\n{ENV_SECRETS}\n'
    rest = f"{second}\n[alerts]\nlevels = [0.1, 0.5, 0.9]\nhysteresis = 0.15\n"
    assert only_problem(write(tmp_path, config_text(rest=rest)), env) == (
        "alerts.hysteresis",
        "hysteresis must be below the warning level, or a warning could never clear",
    )


def test_apprise_config_without_urls(tmp_path: Path, env: dict[str, str]) -> None:
    write(tmp_path, "version: 1\nurls: []\n", 0o600, name="apprise.yml")
    text = config_text(notify="", rest='[alerts]\napprise_config = "apprise.yml"\n')
    field, message = only_problem(write(tmp_path, text), env)
    assert field == "alerts.apprise_config" and message.endswith("defines no valid URL")


def test_apprise_targets_resolve_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(APPRISE_EXAMPLE, tmp_path / "apprise.yml")
    monkeypatch.setenv("MW_TEST_KEY", dummy())
    account = {"name": "pm-main", "api_key_env": "MW_TEST_KEY", "api_secret_env": "MW_TEST_KEY"}
    alerts = {"apprise_config": str(tmp_path / "apprise.yml")}
    config = Config.model_validate({"accounts": [account], "alerts": alerts})
    with pytest.raises(ConfigError) as caught:
        config.apprise_targets()
    assert [field for field, _ in caught.value.problems] == ["alerts.apprise_config"]
    (tmp_path / "apprise.yml").chmod(0o600)
    assert len(config.apprise_targets()) == 3


def test_problems_of_valid_parts_are_still_reported(tmp_path: Path, env: dict[str, str]) -> None:
    del env[SECRET_ENV]
    env["MARGINWATCH_ALERTS__DWELL_S"] = "1"
    rest = '[alerts]\napprise_config = "nowhere.yml"\nrepeat_s = 0\n'
    path = write(
        tmp_path, config_text(notify='[[notify]]\nurl_env = "MW_TEST_NO_URL"\n', rest=rest)
    )
    assert [field for field, _ in problems_of(path, env)] == [
        "alerts.repeat_s",
        "accounts[0].api_secret_env",
        "notify[0].url_env",
    ]
    text = (
        path.read_text()
        .replace("repeat_s = 0", "")
        .replace('name = "main"', 'mode = "x"\nname = "a"')
    )
    path.write_text(text)
    assert [field for field, _ in problems_of(path, env)] == [
        "accounts[0].mode",
        "notify[0].url_env",
        "alerts.apprise_config",
    ]


def test_unreadable_paths(tmp_path: Path, env: dict[str, str]) -> None:
    assert only_problem(tmp_path, env) == (str(tmp_path), "cannot read: IsADirectoryError")
    (tmp_path / "creds" / "binance-secret").mkdir(parents=True)
    env["CREDENTIALS_DIRECTORY"] = str(tmp_path / "creds")
    lines = 'api_key_file = "creds"\napi_secret_credential = "binance-secret"'
    path = write(tmp_path, config_text(secret_lines=lines))
    (tmp_path / "creds").chmod(0o700)
    assert problems_of(path, env) == [
        ("accounts[0].api_key_file", f"cannot read {tmp_path / 'creds'}: IsADirectoryError"),
        (
            "accounts[0].api_secret_credential",
            "cannot read credential binance-secret: IsADirectoryError",
        ),
    ]
