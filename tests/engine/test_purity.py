"""The pure layers stay pure: no IO, no clock, no asyncio, and nothing from the outer layers.

The engine (`monitor/engine/`) imports nothing of ours outside itself; the account core
(`monitor/core/`) and the alert policy (`monitor/alerts/policy.py` and the modules it is made
of, `POLICY_MODULES`) may use the engine, the policy and the pure wire decoders, but no IO
client, no service, no clock and no asyncio.
`.importlinter` checks the same layers over the whole import graph.
"""

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
                      "monitor.sim", "monitor.cli", "monitor.commands", "monitor.config")
FORBIDDEN_CALLS = {"open", "print", "input"}


def _modules() -> list[Path]:
    found = sorted(ENGINE.glob("*.py"))
    assert found, f"no engine modules under {ENGINE}"
    return found


def _assert_pure(path: Path, modules: frozenset[str] | set[str], packages: tuple[str, ...]) -> None:
    """A module docstring; no call of FORBIDDEN_CALLS; no import of `modules` or `packages`."""
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
            assert name.split(".")[0] not in modules, f"{path.name} imports {name}"
            assert not name.startswith(packages), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_engine_module_is_pure(path: Path) -> None:
    _assert_pure(path, FORBIDDEN_MODULES, FORBIDDEN_PACKAGES)


MONITOR = ENGINE.parent
#: What the account core and the alert policy may not import (JSON text is not IO: the ingest
#: stage re-serializes a recorded frame for the live decoder).
CORE_FORBIDDEN_MODULES = (FORBIDDEN_MODULES - {"json"}) | {
    "gzip", "zlib", "aiohttp", "websockets", "binance", "requests", "selectors", "ssl",
}
CORE_FORBIDDEN_PACKAGES = (
    "monitor.binance.rest", "monitor.binance.stream", "monitor.binance.listen_key",
    "monitor.binance.budget", "monitor.binance.egress", "monitor.feed.live",
    "monitor.feed.market_hub", "monitor.feed.market_polls", "monitor.feed.recorder",
    "monitor.alerts.outbox", "monitor.alerts.worker", "monitor.alerts.delivery",
    "monitor.service", "monitor.sim", "monitor.web", "monitor.cli", "monitor.commands",
    "monitor.config",
)


#: The alert policy and the pure modules it is made of (alerts/).
POLICY_MODULES = (
    "policy", "policy_config", "policy_events", "levels", "attention", "sight",
    "exchange_signals", "rise_window",
)


def _core_modules() -> list[Path]:
    found = sorted((MONITOR / "core").glob("*.py"))
    assert found, f"no core modules under {MONITOR / 'core'}"
    return [*found, *(MONITOR / "alerts" / f"{name}.py" for name in POLICY_MODULES)]


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_core_and_policy_modules_are_pure(path: Path) -> None:
    _assert_pure(path, CORE_FORBIDDEN_MODULES, CORE_FORBIDDEN_PACKAGES)
