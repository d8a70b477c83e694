"""CI check: README's first command works on a stock Linux whose Python refuses system-wide pip.

Debian 12 and Ubuntu 24.04 mark their Python as externally managed (PEP 668: an
`EXTERNALLY-MANAGED` file in the stdlib directory), so a bare `pip install` stops with
"externally-managed-environment". This script:

1. finds such a Python (`/usr/bin/python3`, or $MARGINWATCH_MANAGED_PYTHON); as root on a
   Debian-like system without one it installs Debian's `python3 python3-venv python3-pip`;
2. proves the guard is real: `python3 -m pip install .` with that Python must fail with
   "externally-managed-environment";
3. copies the checkout (tracked and untracked, not ignored files) into a fresh temporary
   directory and runs README's first ```sh block there **verbatim** with bash, with only that
   Python on PATH as `python3` (no virtual environment active);
4. checks the block left a demo report behind and installed no dev tools.

`--print-block` prints the block it would run (the tests compare it with README). Exit 0 when all
checks pass, 1 otherwise (with the reason on stderr).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: Candidates for a distribution Python, tried in order after $MARGINWATCH_MANAGED_PYTHON.
CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3")
#: Tools of the dev extras that a user install must not bring.
DEV_TOOLS = ("ruff", "mypy", "pytest", "hadolint")
#: Files README's first block must leave behind (the demo's report).
DEMO_FILES = ("marginwatch-demo/risk.png", "marginwatch-demo/report.md")
#: Upper bound for the whole block (venv + install + demo); the demo alone is reported.
BLOCK_TIMEOUT_S = 900
_FENCE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


class CheckFailed(Exception):
    """One check did not pass (the message says which and why)."""


def sh_blocks(readme: str) -> list[str]:
    """Every ```sh block of a Markdown text, in order (their bodies, with final newline)."""
    return [m.group(1) for m in _FENCE.finditer(readme)]


def first_block(readme: str | None = None) -> str:
    """README's first ```sh block: the command a new user runs first."""
    text = README.read_text(encoding="utf-8") if readme is None else readme
    blocks = sh_blocks(text)
    if not blocks:
        raise CheckFailed("README.md has no ```sh block")
    return blocks[0]


def _probe(python: str) -> tuple[tuple[int, int], Path, bool] | None:
    """(version, stdlib dir, in a venv) of an interpreter, or None when it does not run."""
    code = (
        "import sys, sysconfig; print(sys.version_info[0], sys.version_info[1]); "
        "print(sysconfig.get_path('stdlib')); print(sys.prefix != sys.base_prefix)"
    )
    try:
        out = subprocess.run(
            [python, "-I", "-c", code], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = (int(x) for x in out[0].split())
    return (major, minor), Path(out[1]), out[2] == "True"


def managed_python() -> str | None:
    """A Python ≥ 3.11, outside any venv, whose stdlib carries `EXTERNALLY-MANAGED`."""
    env = os.environ.get("MARGINWATCH_MANAGED_PYTHON")
    for python in ((env,) if env else ()) + CANDIDATES:
        found = _probe(python)
        if found is None:
            continue
        version, stdlib, in_venv = found
        if version >= (3, 11) and not in_venv and (stdlib / "EXTERNALLY-MANAGED").is_file():
            return python
    return None


def _install_debian_python() -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
         "python3", "python3-venv", "python3-pip"],
    ):
        subprocess.run(cmd, env=env, check=False)


def _clean_env(shim: Path) -> dict[str, str]:
    """The environment of a fresh login: no venv, nothing that would bypass PEP 668."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PIP_BREAK_SYSTEM_PACKAGES",
                     "PIP_USER", "PIP_PREFIX", "PIP_TARGET", "CONDA_PREFIX")
    }
    env["PATH"] = f"{shim}:/usr/sbin:/usr/bin:/sbin:/bin"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _copy_checkout(dest: Path) -> None:
    """Tracked and untracked-but-not-ignored files (git ls-files), else a filtered copy."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"],
            capture_output=True, check=True,
        ).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        ignore = shutil.ignore_patterns(
            ".git", ".venv*", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis",
            "marginwatch-demo", "build", "dist",
        )
        shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
        return
    for name in filter(None, listed):
        src = ROOT / name
        if not src.is_file():  # deleted in the work tree
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def check_guard(python: str, workdir: Path, env: dict[str, str]) -> None:
    """A system-wide `pip install .` with that Python is refused (PEP 668)."""
    done = subprocess.run(
        [python, "-m", "pip", "install", "."], cwd=workdir, env=env, capture_output=True,
        text=True, timeout=300,
    )
    output = done.stdout + done.stderr
    if done.returncode == 0 or "externally-managed-environment" not in output:
        raise CheckFailed(
            f"`{python} -m pip install .` was not refused as externally managed "
            f"(exit {done.returncode}): {output.strip()[-400:]}"
        )
    print(f"guard: `{python} -m pip install .` refused: externally-managed-environment")


def run_block(block: str, workdir: Path, env: dict[str, str]) -> float:
    """Run the block verbatim with bash (-e, pipefail); its output streams through."""
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block], cwd=workdir, env=env,
        timeout=BLOCK_TIMEOUT_S,
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise CheckFailed(f"README's first block failed (exit {done.returncode})")
    return elapsed


def check_results(workdir: Path) -> None:
    missing = [name for name in DEMO_FILES if not (workdir / name).is_file()]
    if missing:
        raise CheckFailed(f"the demo left no {', '.join(missing)}")
    bins = [workdir / ".venv" / "bin"]  # the venv the README block makes (not .venv-ci)
    if not bins:
        raise CheckFailed("README's first block created no virtual environment (.venv*)")
    dev = [f"{b}/{tool}" for b in bins for tool in DEV_TOOLS if (b / tool).exists()]
    if dev:
        raise CheckFailed(f"the user install brought dev tools: {', '.join(dev)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--print-block", action="store_true", help="print the block and exit")
    args = parser.parse_args(argv)
    try:
        block = first_block()
        if args.print_block:
            sys.stdout.write(block)
            return 0
        python = managed_python()
        if python is None:
            _install_debian_python()
            python = managed_python()
        if python is None:
            raise CheckFailed(
                "no externally managed Python >= 3.11 found (install Debian's python3, "
                "python3-venv and python3-pip, or set MARGINWATCH_MANAGED_PYTHON)"
            )
        with tempfile.TemporaryDirectory(prefix="marginwatch-first-run-") as tmp:
            shim, workdir = Path(tmp) / "bin", Path(tmp) / "marginwatch"
            shim.mkdir()
            (shim / "python3").symlink_to(python)
            _copy_checkout(workdir)
            env = _clean_env(shim)
            check_guard(str(shim / "python3"), workdir, env)
            print(f"running README's first block in {workdir} with {python} as python3:")
            print(block, end="", flush=True)
            elapsed = run_block(block, workdir, env)
            check_results(workdir)
        print(f"README's first block passed in {elapsed:.0f} s (venv, install, demo)")
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        print(f"check_first_run: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
