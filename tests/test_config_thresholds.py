"""The alert settings are derived from the policy's `PolicyConfig` (monitor/config/thresholds.py):
every field declared with `setting(...)` is a key of `[alerts]` (and of `[[accounts]]` when an
account may override it) with the policy's default, in seconds for a `_ms` field, and bounded as
declared."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitor.alerts.policy_config import PolicyConfig
from monitor.base.settings import Setting, setting_of
from monitor.config import THRESHOLDS, Account, AlertsConfig, ConfigError, load_config
from monitor.config.thresholds import Threshold

PLAIN = '[[notify]]\nurl = "json://127.0.0.1:9/hook"\n'


def config_file(tmp_path: Path, account: str = "", alerts: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[accounts]]\nname = "main"\napi_key_env = "K"\napi_secret_env = "S"\n'
        f"{account}\n[alerts]\n{alerts}\n{PLAIN}"
    )
    path.chmod(0o600)
    return path


ENV = {"K": "k" * 64, "S": "s" * 64}


def test_every_declared_policy_setting_is_a_key_with_the_policy_default() -> None:
    declared = [f for f in dataclasses.fields(PolicyConfig) if setting_of(f) is not None]
    assert [t.field for t in THRESHOLDS] == [f.name for f in declared]
    alerts = AlertsConfig()
    policy = PolicyConfig()
    for threshold in THRESHOLDS:
        assert threshold.key in AlertsConfig.model_fields
        value = getattr(alerts, threshold.key)
        assert threshold.policy_value(value) == getattr(policy, threshold.field)
        bounds = setting_of(next(f for f in declared if f.name == threshold.field))
        assert isinstance(bounds, Setting)
        assert (threshold.key in Account.model_fields) == bounds.per_account


def test_defaults_make_the_default_policy(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path), ENV)
    assert config.policy_config("main") == PolicyConfig()


@pytest.mark.parametrize("threshold", THRESHOLDS, ids=lambda t: t.key)
def test_out_of_bounds_is_a_problem_at_the_key(tmp_path: Path, threshold: Threshold) -> None:
    key = threshold.key
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(tmp_path, alerts=f"{key} = 1e9"), ENV)
    assert [path for path, _ in caught.value.problems] == [f"alerts.{key}"]


def test_an_account_overrides_only_what_it_may(tmp_path: Path) -> None:
    config = load_config(config_file(tmp_path, account="stale_after_s = 30"), ENV)
    assert config.policy_config("main").stale_after_ms == 30_000
    with pytest.raises(ConfigError) as caught:
        load_config(config_file(tmp_path, account="dwell_s = 3"), ENV)
    assert caught.value.problems[0][0] == "accounts[0].dwell_s"
