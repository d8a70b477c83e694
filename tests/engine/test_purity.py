"""The engine is pure: no IO, no clock, no asyncio, and nothing from the outer layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "monitor" / "engine"
FORBIDDEN_MODULES = {
    "asyncio", "socket", "time", "datetime", "logging", "os", "io", "pathlib", "random",
    "threading", "subprocess", "sqlite3", "urllib", "http", "json",
}
FORBIDDEN_PACKAGES = ("monitor.binance", "monitor.feed", "monitor.alerts", "monitor.service",
                      "monitor.sim", "monitor.cli", "monitor.config")
FORBIDDEN_CALLS = {"open", "print", "input"}


def _modules() -> list[Path]:
    found = sorted(ENGINE.glob("*.py"))
    assert found, f"no engine modules under {ENGINE}"
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_engine_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name} has no module docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{path.name} calls {node.func.id}()"
            continue
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"
            assert not name.startswith(FORBIDDEN_PACKAGES), f"{path.name} imports {name}"
