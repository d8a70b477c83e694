"""README opens with the two commands a new user runs, and CI's first-run check runs the first.

The slow part (a real venv, install and demo with Debian's externally managed Python) is
`scripts/check_first_run.py` in `.ci/run`; these tests keep README, script and CI in step.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCRIPT = ROOT / "scripts" / "check_first_run.py"


def _code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_script_runs_readmes_first_block() -> None:
    printed = subprocess.run(
        [sys.executable, str(SCRIPT), "--print-block"], capture_output=True, text=True, check=True
    ).stdout
    language, first = _code_blocks(README)[0]
    assert language == "sh"
    assert printed == first


def test_readme_opens_with_the_demo_then_the_tests() -> None:
    before_first_section = README.split("\n## ", 1)[0]
    blocks = _code_blocks(before_first_section)
    assert len(blocks) >= 2
    demo, tests = blocks[0][1], blocks[1][1]
    # each creates its own venv (PEP 668 systems refuse a bare pip install) ...
    for block in (demo, tests):
        assert block.startswith("python3 -m venv .venv && .venv/bin/pip install ")
        assert re.search(r"(^|\s)pip install", block.replace(".venv/bin/pip", "")) is None
    # ... the user install has no dev extras and ends with the demo; the tests use them
    assert "[dev]" not in demo and demo.split("#")[0].strip().endswith(".venv/bin/marginwatch demo")
    assert "'.[dev]'" in tests and "pytest" in tests


def test_ci_runs_the_check_before_the_tests() -> None:
    steps = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    check = steps.index("python scripts/check_first_run.py")
    assert check < steps.index("python -m pytest -n auto")
    # ... and the test command is README's, as README's second block gives it.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/python -m pytest -n auto   #" in readme
