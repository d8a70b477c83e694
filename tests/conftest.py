"""Hypothesis profiles for the two lanes (README, "Tests").

`ci` (the default) is every property and fuzz test at its full example budget. `fast` — the
developer's fast lane, `pytest -m "not e2e" -n auto --hypothesis-profile=fast` — runs a fifth of
each budget (at least five examples): the same properties, fewer draws, so the lane stays under a
minute; CI always runs `ci`. Budgets written in a test go through `tests.budgets.examples(n)`,
which scales them by the profile loaded (hypothesis loads it before any test module is imported).
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("ci", max_examples=100)
settings.register_profile("fast", max_examples=20)
settings.load_profile("ci")
