"""Marks every test under tests/e2e/ as `e2e` (registered in pyproject.toml).

The end-to-end tests start real daemon processes against the fake exchange and notifier sinks;
the fast lane leaves them out with `pytest -m "not e2e"` (CONTRIBUTING.md). The mark is added here,
by directory, so a new file in this folder is covered without a decorator of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.e2e)
