"""Example budgets of the property and fuzz tests, scaled by the hypothesis profile loaded
(`tests/conftest.py`: `ci` runs each budget as written, `fast` a fifth of it)."""

from __future__ import annotations

from hypothesis import settings

#: `max_examples` of the `ci` profile: budgets are written against it.
FULL = 100


def examples(n: int) -> int:
    """`n` examples under the `ci` profile; proportionally fewer (at least 5) under `fast`."""
    return max(5, round(n * settings.default.max_examples / FULL))
