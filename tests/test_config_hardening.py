"""Config and file hardening (issue 19, item 8): permissions of the config file, a writable state
directory, unknown `MARGINWATCH_…` overrides and malformed secrets — through `load_config`,
`check-config` and a real `marginwatch run` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import ConfigError, check_config, load_config, state_dir_problems
from tests.alerts.sinks import free_port
from tests.test_config import (
    KEY_ENV,
    SECRET_ENV,
    config_text,
    dummy,
    only_problem,
    problems_of,
    write,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env() -> dict[str, str]:
    return {KEY_ENV: dummy(), SECRET_ENV: dummy()}


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create files in: mode 0500 for a normal user; for root
    (who ignores modes) sysfs, which refuses new files to everyone."""
    if os.geteuid() != 0:
        directory = tmp_path / "locked"
        directory.mkdir()
        directory.chmod(0o500)
        return directory
    if not Path("/sys/kernel").is_dir():
        pytest.skip("running as root without sysfs: no directory root cannot write in")
    return Path("/sys/kernel")


# ---- the config file's own mode -----------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666, 0o620])
def test_config_writable_by_group_or_others_is_refused(
    tmp_path: Path, env: dict[str, str], mode: int
) -> None:
    path = write(tmp_path, config_text(), mode)
    assert only_problem(path, env) == (
        str(path),
        f"writable by group or others (mode {mode:04o}): whoever can write it can silence or"
        f" redirect the alerts; run `chmod 640 {path}`",
    )


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400])
def test_config_not_writable_by_others_is_accepted(
    tmp_path: Path, env: dict[str, str], mode: int
) -> None:
    load_config(write(tmp_path, config_text(), mode), env)


def test_writable_config_with_inline_secrets_asks_for_600(tmp_path: Path) -> None:
    lines = f'api_key = "{dummy()}"\napi_secret = "{dummy()}"'
    path = write(tmp_path, config_text(secret_lines=lines), 0o660)
    problems = problems_of(path, {})
    assert problems[0] == (
        str(path),
        "writable by group or others (mode 0660): whoever can write it can silence or redirect"
        f" the alerts; run `chmod 600 {path}`",
    )


def test_check_config_prints_one_line_for_a_writable_config(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, config_text(), 0o666)
    assert check_config(path, env) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path}: 1 problem(s)"
    assert lines[1].startswith(f"{path}: writable by group or others (mode 0666)")
    assert lines[1].endswith(f"run `chmod 640 {path}`")
    assert len(lines) == 2


# ---- environment overrides ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "MARGINWATCH_ALERT__STALE_AFTER_S",  # misspelt section: silently ignored before
        "MARGINWATCH_STALE_AFTER_S",  # no section
        "MARGINWATCH_HTTP_LISTEN",  # one underscore instead of two
        "MARGINWATCH_",
    ],
)
def test_unknown_marginwatch_variable_is_an_error(
    tmp_path: Path, env: dict[str, str], name: str
) -> None:
    value = dummy()
    env[name] = value
    field, message = only_problem(write(tmp_path, config_text()), env)
    assert field == f"environment {name}"
    assert message.startswith("unknown override")
    assert "MARGINWATCH_ALERTS__STALE_AFTER_S" in message
    assert value not in message


def test_other_marginwatch_variables_are_allowed(tmp_path: Path) -> None:
    """The CLI's MARGINWATCH_CONFIG, the simulator's credentials, overrides of real sections and
    secret variables a `*_env` key names are not overrides and not errors."""
    secrets_lines = (
        'api_key_env = "MARGINWATCH_MAIN_KEY"\napi_secret_env = "MARGINWATCH_MAIN_SECRET"'
    )
    notify = '[[notify]]\nurl_env = "MARGINWATCH_HOOK"\n'
    path = write(tmp_path, config_text(secret_lines=secrets_lines, notify=notify))
    env = {
        "MARGINWATCH_MAIN_KEY": dummy(),
        "MARGINWATCH_MAIN_SECRET": dummy(),
        "MARGINWATCH_HOOK": "json://127.0.0.1:9/hook",
        "MARGINWATCH_CONFIG": str(path),
        "MARGINWATCH_SIM_API_KEY": "k",
        "MARGINWATCH_SIM_API_SECRET": "s",
        "MARGINWATCH_ALERTS__DWELL_S": "3",
    }
    config = load_config(path, env)
    assert config.policy_config("main").dwell_ms == 3_000
    assert config.accounts[0].api_key_value() == env["MARGINWATCH_MAIN_KEY"]


def test_unknown_variable_is_reported_with_other_problems(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env["MARGINWATCH_ALERTS__HYSTERESIS"] = "0.5"
    env["MARGINWATCH_ALERT__DWELL_S"] = "3"
    fields = [field for field, _ in problems_of(write(tmp_path, config_text()), env)]
    assert fields == ["alerts.hysteresis", "environment MARGINWATCH_ALERT__DWELL_S"]


# ---- secrets with whitespace or control characters ---------------------------------------------


@pytest.mark.parametrize(
    ("inside", "what"),
    [
        (" ", "whitespace"),
        ("\t", "a control character"),
        ("\n", "a control character"),
        ("\x00", "a control character"),
        ("\u00a0", "whitespace"),  # a no-break space from a web page
        ("\u200b", "a control character"),  # a zero-width space
    ],
)
def test_api_secret_with_whitespace_or_control_characters_is_refused(
    tmp_path: Path, env: dict[str, str], inside: str, what: str
) -> None:
    half = dummy()
    env[SECRET_ENV] = half + inside + half
    field, message = only_problem(write(tmp_path, config_text()), env)
    assert field == "accounts[0].api_secret_env"
    assert message == (
        f"environment variable {SECRET_ENV}: the API key or secret contains {what} (a copy-paste"
        " error?); write it again without it (the value is not shown)"
    )
    assert half not in message


def test_api_key_file_with_two_lines_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    key_file = tmp_path / "key"
    first, second = dummy(), dummy()
    key_file.write_text(f"{first}\n{second}\n")
    key_file.chmod(0o600)
    lines = f'api_key_file = "key"\napi_secret_env = "{SECRET_ENV}"'
    field, message = only_problem(write(tmp_path, config_text(secret_lines=lines)), env)
    assert field == "accounts[0].api_key_file"
    assert "contains a control character" in message
    assert first not in message and second not in message


def test_surrounding_whitespace_is_still_stripped(tmp_path: Path, env: dict[str, str]) -> None:
    key = dummy()
    env[KEY_ENV] = f"  {key}\n"
    config = load_config(write(tmp_path, config_text()), env)
    assert config.accounts[0].api_key_value() == key


def test_notify_url_with_a_control_character_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    token = dummy()
    env["MW_TEST_URL"] = f"json://127.0.0.1:9/{token}\x1b[2J"
    path = write(tmp_path, config_text(notify='[[notify]]\nurl_env = "MW_TEST_URL"\n'))
    field, message = only_problem(path, env)
    assert field == "notify[0].url_env"
    assert "the URL contains a control character" in message and token not in message


# ---- the state directory ------------------------------------------------------------------------


def test_writable_state_dir_passes(tmp_path: Path) -> None:
    assert state_dir_problems(tmp_path) == []
    assert state_dir_problems(tmp_path / "not" / "yet") == []  # created at start-up


def test_unwritable_state_dir_fails_check_config(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state = unwritable_dir(tmp_path)
    path = write(tmp_path, config_text(rest=f'[state]\ndir = "{state}"\n'))
    load_config(path, env)  # the configuration itself is fine ...
    assert check_config(path, env) == 2  # ... but the daemon could not create its outbox
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path}: 1 problem(s)"
    assert lines[1].startswith(f"state.dir: cannot write in {state} as this user (")
    assert "[state] dir" in lines[1]
    assert len(lines) == 2


def test_state_dir_that_is_a_file_fails(tmp_path: Path) -> None:
    file = tmp_path / "state"
    file.write_text("")
    assert state_dir_problems(file) == [
        (
            "state.dir",
            f"{file} is not a directory: give the daemon's user write access to it (systemd:"
            " StateDirectory=marginwatch), or set [state] dir to a writable directory",
        )
    ]


def test_state_dir_under_a_file_fails(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("")
    [(where, message)] = state_dir_problems(file / "state")
    assert where == "state.dir" and message.startswith(f"{file / 'state'} cannot be created")


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_run_refuses_an_unwritable_state_dir_in_one_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Before: check-config said OK and `run` died with a raw sqlite traceback."""
    state = unwritable_dir(tmp_path)
    rest = f'[state]\ndir = "{state}"\n[http]\nlisten = "127.0.0.1:{free_port()}"\n'
    path = write(tmp_path, config_text(rest=rest))
    done = _run_cli(["run", "--config", str(path)], env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"marginwatch run: state.dir: cannot write in {state}")
    for secret in env.values():
        assert secret not in done.stderr + done.stdout


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_check_config_process_refuses_a_world_writable_config(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = write(tmp_path, config_text(), 0o666)
    done = _run_cli(["check-config", str(path)], env)
    assert done.returncode == 2
    assert f"run `chmod 640 {path}`" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_config_error_lists_every_problem_once(tmp_path: Path, env: dict[str, str]) -> None:
    env["MARGINWATCH_HTTP_LISTEN"] = "0.0.0.0:1"
    path = write(tmp_path, config_text(rest="[alerts]\nstale_after_s = 1e300\n"), 0o666)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env)
    assert [field for field, _ in caught.value.problems] == [
        str(path),
        "alerts.stale_after_s",
        "environment MARGINWATCH_HTTP_LISTEN",
    ]
