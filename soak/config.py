"""The daemon's configuration for a soak: one account on the simulator, the three sinks (the two
that answer slowly in the slow-notifier phase with a `timeout_s` above their delay), and
compressed alert timings (short staleness and dwell; no repeats or rapid alerts, which depend on
wall-clock timing rather than on the price path)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from monitor.alerts.policy_config import PolicyConfig

KEY_ENV = "SOAK_API_KEY"
SECRET_ENV = "SOAK_API_SECRET"


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """The `[alerts]` values the soak runs with (seconds)."""

    stale_after_s: float = 4.0
    dwell_s: float = 1.0
    repeat_s: float = 86_400.0
    rapid_rise: float = 1.0
    hysteresis: float = 0.03

    def policy(self) -> PolicyConfig:
        """The same settings as the pure policy sees them (for the expected alerts)."""
        return PolicyConfig(
            hysteresis=self.hysteresis,
            dwell_ms=round(self.dwell_s * 1000),
            repeat_ms=round(self.repeat_s * 1000),
            rapid_rise=self.rapid_rise,
            stale_after_ms=round(self.stale_after_s * 1000),
        )


@dataclass(frozen=True, slots=True)
class PhaseSettings:
    """The disk-full and slow-notifier phases (seconds unless named otherwise)."""

    #: Size of the tmpfs the daemon's state directory lives on (filled in the disk-full phase).
    tmpfs_mb: int = 48
    #: After the disk is freed, /healthz must answer 200 (outbox healthy) within this.
    healthy_within_s: float = 8.0
    #: The webhook answers this late in the slow phase: above Apprise's old 4 s read timeout.
    webhook_delay_s: float = 6.0
    webhook_timeout_s: float = 10.0
    #: The Telegram stand-in answers this late: beyond 30 s.
    telegram_delay_s: float = 32.0
    telegram_timeout_s: float = 40.0
    #: A fast sink may get an alert of the slow phase at most this long after the first sink.
    fast_lag_max_s: float = 3.0

    def delays(self) -> dict[str, float]:
        return {"webhook": self.webhook_delay_s, "telegram": self.telegram_delay_s}

    def timeouts(self) -> dict[str, float]:
        return {"webhook": self.webhook_timeout_s, "telegram": self.telegram_timeout_s}


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path,
    *,
    account: str,
    sim_base: str,
    http_port: int,
    notify_urls: list[tuple[str, float | None]],
    telegram_api_base: str,
    state_dir: Path,
    alerts: AlertSettings,
) -> Path:
    """Write the TOML (mode 0600: the notify URLs hold passwords and tokens); each notify URL
    with its `timeout_s` (None: the daemon's default)."""
    ws_base = sim_base.replace("http://", "ws://", 1)
    notify = "".join(
        f"\n[[notify]]\nurl = {_toml_str(url)}\n"
        + ("" if timeout_s is None else f"timeout_s = {timeout_s}\n")
        for url, timeout_s in notify_urls
    )
    text = f"""
[[accounts]]
name = {_toml_str(account)}
environment = "custom"
mode = "usdm"
rest = {_toml_str(sim_base)}
ws = {_toml_str(ws_base)}
api_key_env = "{KEY_ENV}"
api_secret_env = "{SECRET_ENV}"

[alerts]
stale_after_s = {alerts.stale_after_s}
dwell_s = {alerts.dwell_s}
repeat_s = {alerts.repeat_s}
rapid_rise = {alerts.rapid_rise}
hysteresis = {alerts.hysteresis}
telegram_api_base = {_toml_str(telegram_api_base)}
{notify}
[http]
listen = "127.0.0.1:{http_port}"

[state]
dir = {_toml_str(str(state_dir))}
"""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fp:
        fp.write(text)
    return path


def write_fleet_config(
    path: Path,
    *,
    accounts: list[str],
    sim_base: str,
    http_port: int,
    notify_url: str,
    state_dir: Path,
    alerts: AlertSettings,
    lanes: int = 1,
) -> Path:
    """The fleet soak's TOML (mode 0600): `accounts` (all USDⓈ-M, on the one simulator, with
    the soak's key from the environment), the soak's alert timings, and `lanes` destinations on
    `notify_url` (`/0`, `/1`, …), each hearing its share of the accounts (account-name tags):
    a destination sends about one alert a second, and 200 accounts crossing a level together
    would otherwise queue for minutes behind one."""
    ws_base = sim_base.replace("http://", "ws://", 1)
    blocks = "".join(
        f"""
[[accounts]]
name = {_toml_str(name)}
environment = "custom"
mode = "usdm"
rest = {_toml_str(sim_base)}
ws = {_toml_str(ws_base)}
api_key_env = "{KEY_ENV}"
api_secret_env = "{SECRET_ENV}"
"""
        for name in accounts
    )
    lanes = max(1, min(lanes, len(accounts)))
    notify = "".join(
        f"\n[[notify]]\nurl = {_toml_str(f'{notify_url}/{lane}')}\n"
        + (f"tags = [{', '.join(_toml_str(n) for n in accounts[lane::lanes])}]\n"
           if lanes > 1 else "")
        for lane in range(lanes)
    )
    text = f"""{blocks}
[alerts]
stale_after_s = {alerts.stale_after_s}
dwell_s = {alerts.dwell_s}
repeat_s = {alerts.repeat_s}
rapid_rise = {alerts.rapid_rise}
hysteresis = {alerts.hysteresis}

{notify}
[http]
listen = "127.0.0.1:{http_port}"

[state]
dir = {_toml_str(str(state_dir))}
"""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fp:
        fp.write(text)
    return path
