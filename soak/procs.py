"""The two subprocesses: the fake exchange (`monitor simulate`) and the daemon (`monitor run`).

Both run in their own session (a Ctrl-C on the soak's terminal reaches only the soak, which then
stops them in order), log to files in the work directory, and are stopped on every exit path:
SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Proc:
    """One managed subprocess; `incarnations` counts (re)starts, `exits` unexpected exits."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    incarnations: int = 0
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.incarnations += 1

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exited(self) -> int | None:
        """The exit code if the process ended (recorded once), else None."""
        if self.popen is None:
            return None
        code = self.popen.poll()
        if code is not None:
            self.exit_codes.append(code)
            self.popen = None
        return code

    def kill(self) -> None:
        """SIGKILL now (the injected crash); waits for the process to be reaped."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)
        self.popen = None

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, wait up to `grace_s`, then SIGKILL; the exit code (None if not running)."""
        popen, self.popen = self.popen, None
        if popen is None:
            return None
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(5)
        return popen.returncode

    def rss_mb(self) -> float | None:
        """The process's resident set size (VmRSS) in MiB, from /proc."""
        pid = self.pid
        if pid is None:
            return None
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return None


def simulator(
    recording: Path, port: int, key: str, secret: str, log_path: Path, env: dict[str, str]
) -> Proc:
    argv = [
        sys.executable, "-m", "monitor", "simulate", str(recording), "--port", str(port),
        "--speed", "1", "--api-key", key, "--api-secret", secret,
    ]
    return Proc("simulator", argv, log_path, env)


def daemon(config: Path, log_path: Path, env: dict[str, str]) -> Proc:
    argv = [sys.executable, "-m", "monitor", "run", "--config", str(config)]
    return Proc("daemon", argv, log_path, env)


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of the children: ours, unbuffered, plus `extra` (the secrets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARGINWATCH_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env
