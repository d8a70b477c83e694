"""The checks: bounds, URLs and names, file permissions, the state directory, `check-config`.

Value checks raise `ValueError` with the message `check-config` prints (the models call them from
their validators); file checks return problems. `check_config` is the command: every problem of
`load_config` and of the state directory, or OK and a summary.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.alerts.redact import url_secrets
from monitor.base.settings import Setting
from monitor.config.common import OUTBOX_FILE, ConfigError, Problem
from monitor.engine.model import Mode

ACCOUNT_MODES = ("auto", *(str(m) for m in Mode))

_GROUP_OTHER_BITS = 0o077
_GROUP_OTHER_WRITE = 0o022


# ---- bounds -------------------------------------------------------------------------------------


def check_levels(levels: list[float]) -> list[float]:
    """[warning, critical, emergency]: three fractions of risk in (0, 1], strictly increasing."""
    if len(levels) != 3:
        raise ValueError(
            f"give exactly three levels [warning, critical, emergency], not {len(levels)}"
        )
    if not all(0.0 < x <= 1.0 for x in levels):
        raise ValueError("levels are fractions of risk in (0, 1] (1.0 = liquidation)")
    if not levels[0] < levels[1] < levels[2]:
        raise ValueError("levels must be strictly increasing: warning < critical < emergency")
    return levels


def check_setting(value: float, bounds: Setting, seconds: bool) -> float:
    """`value` when within the declared bounds, else a `ValueError` with the setting's message."""
    if bounds.contains(value):
        return value
    if bounds.message:
        raise ValueError(bounds.message)
    unit = "seconds" if seconds else "a value"
    raise ValueError(f"{bounds.what}: give {unit} in {bounds.interval()}, not {value:g}")


def check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"must be a {' or '.join(schemes)} URL with a host, like {schemes[-1]}://host"
        )
    return value.rstrip("/")


def check_http_url(value: str) -> str:
    return check_url(value, ("http", "https"))


def check_mode(value: str) -> str:
    if value not in ACCOUNT_MODES:
        raise ValueError(f"must be one of {', '.join(ACCOUNT_MODES)}")
    return value


def split_listen(value: str) -> tuple[str, int]:
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


# ---- permissions --------------------------------------------------------------------------------


def mode_problem(file: Path, what: str) -> str | None:
    """A message when `file` is accessible by group or others, else None."""
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & _GROUP_OTHER_BITS:
        return (
            f"{what} {file} has mode {mode:04o}: it holds secrets and must not be readable by"
            f" group or others; run `chmod 600 {file}`"
        )
    return None


def apprise_file_problems(path: Path) -> list[Problem]:
    """The Apprise configuration file must exist and be private (it holds URLs with secrets)."""
    if not path.is_file():
        return [("alerts.apprise_config", f"Apprise configuration {path} not found")]
    problem = mode_problem(path, "Apprise configuration")
    return [("alerts.apprise_config", problem)] if problem else []


def inline_secrets(raw: Mapping[str, Any]) -> list[str]:
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


def file_mode_problems(path: Path, raw: Mapping[str, Any]) -> list[Problem]:
    """A config file writable by group or others is refused (whoever can write it decides where
    alerts go and which thresholds apply); inline secrets make mode 0600 mandatory."""
    inline = inline_secrets(raw)
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


# ---- the state directory ------------------------------------------------------------------------


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
    from monitor.config.loading import load_config  # loading builds on these checks

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
