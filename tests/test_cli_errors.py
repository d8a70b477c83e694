"""Bad input and environment problems: every command answers with one clear line on stderr and
exit 2 (1 for undelivered alerts), never a traceback. Commands that own the process (run,
record, the pipe cases) are run as real subprocesses."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.examples import path as example_path
from tests.alerts.sinks import free_port

SECRET_PASSWORD = "pw-Zq81vLmX4t"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, **(env or {})},
    )


def _one_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The process exited with `code` and said one line on stderr holding every needle."""
    err = done.stderr.strip()
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in err.splitlines() if not line.startswith("{")]  # JSON logs
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _config(tmp_path: Path, *, port: int, state: Path) -> Path:
    path = tmp_path / "marginwatch.toml"
    path.write_text(
        f"""
[[accounts]]
name = "acct"
environment = "custom"
rest = "http://127.0.0.1:9"
ws = "ws://127.0.0.1:9"
api_key = "key-0123456789abcdef"
api_secret = "secret-0123456789abcdef"

[[notify]]
url = "json://127.0.0.1:9/hook"

[http]
listen = "127.0.0.1:{port}"

[state]
dir = "{state}"
""",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


# ---------------------------------------------------------------------------- calc, replay


def test_calc_missing_or_damaged_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calc", str(tmp_path / "missing.jsonl")]) == 2
    assert "No such file" in capsys.readouterr().err
    damaged = tmp_path / "damaged.jsonl.gz"
    damaged.write_bytes(b"\x1f\x8b not really gzip")
    assert main(["calc", str(damaged)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(damaged) in err[0]


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_calc_into_a_closed_pipe_exits_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "calc", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 2
    assert err == ""


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_replay_missing_file_is_one_line() -> None:
    _one_line(_cli("replay", "/nonexistent.jsonl"), 2, "/nonexistent.jsonl", "No such file")


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_replay_notify_to_a_dead_destination_fails_naming_it_without_its_secret() -> None:
    url = f"json://user:{SECRET_PASSWORD}@127.0.0.1:9/hook"
    done = _cli("replay", str(example_path("portfolio_margin")), "--notify", url)
    line = _one_line(done, 1, "not delivered to json://", "127.0.0.1")
    sent = re.search(r"(\d+) of (\d+) alert\(s\) not delivered", line)
    assert sent is not None and sent[1] == sent[2] != "0"  # every alert failed, and said so
    assert SECRET_PASSWORD not in done.stderr + done.stdout
    assert "alert(s); final risk" in done.stdout  # the timeline was still printed


def test_replay_bad_notify_url_and_unwritable_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = str(example_path("usdm"))
    assert main(["replay", recording, "--notify", "nosuchscheme://x"]) == 2
    assert "not a valid Apprise URL" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["replay", recording, "--report", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("marginwatch replay: ") and "sub" in err[0]


# ---------------------------------------------------------------------------- run, record


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_run_with_its_port_taken(tmp_path: Path, taken_port: int) -> None:
    config = _config(tmp_path, port=taken_port, state=tmp_path / "state")
    done = _cli("run", "--config", str(config))
    _one_line(done, 2, "marginwatch run: cannot listen on", str(taken_port), "in use")


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_run_with_an_unusable_state_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = _config(tmp_path, port=free_port(), state=blocker / "state")
    done = _cli("run", "--config", str(config))
    # Caught by the config's state-dir check or, failing that, when the daemon opens it.
    _one_line(done, 2, "marginwatch run: ", str(blocker / "state"))


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_record_into_an_unwritable_place(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = _config(tmp_path, port=free_port(), state=tmp_path / "state")
    done = _cli("record", "--config", str(config), "--out", str(blocker / "x.jsonl"))
    _one_line(done, 2, "marginwatch record: cannot write the recording")


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_run_and_record_with_a_missing_or_invalid_config(tmp_path: Path) -> None:
    for command in (["run"], ["record", "--out", str(tmp_path / "x.jsonl")]):
        done = _cli(*command, "--config", str(tmp_path / "missing.toml"))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "file not found" in done.stderr


# ---------------------------------------------------------------------------- the others


def test_demo_with_an_unusable_out_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create" in err[0]
    assert main(["demo", "--speed", "0"]) == 2


def test_watch_bad_interval_and_dead_daemon(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--interval", "0"]) == 2
    assert "--interval must be > 0" in capsys.readouterr().err
    assert main(["watch", "--url", "http://127.0.0.1:9", "--once"]) == 2
    assert "unreachable" in capsys.readouterr().out


def test_simulate_missing_recording_and_taken_port(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "/nonexistent.jsonl", "--port", "0"]) == 2
    assert "No such file" in capsys.readouterr().err
    assert main(["simulate", "usdm", "--port", str(taken_port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot listen" in err[0]


def test_check_config_and_test_alert_missing_or_damaged_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(tmp_path / "missing.toml")]) == 2
    assert "file not found" in capsys.readouterr().out
    damaged = tmp_path / "damaged.toml"
    damaged.write_text("[[accounts]\nname = ", encoding="utf-8")
    assert main(["check-config", str(damaged)]) == 2
    assert "TOML syntax error" in capsys.readouterr().out
    assert main(["test-alert", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["test-alert", "--config", str(damaged)]) == 2
    assert "TOML syntax error" in capsys.readouterr().err


async def test_daemon_start_names_a_state_dir_it_cannot_open(tmp_path: Path) -> None:
    from monitor.config import load_config
    from monitor.service.daemon import Daemon, StartupError

    state = tmp_path / "state"
    config = load_config(_config(tmp_path, port=free_port(), state=state))
    state.write_text("")  # the directory turned into a file after the config was checked
    daemon = Daemon(config)
    with pytest.raises(StartupError, match="cannot use the state directory"):
        await daemon.start()
    await daemon.stop()
