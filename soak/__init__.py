"""The fault-injection soak: the real daemon against the fake exchange with real notifier sinks.

Run from the repository root: `python -m soak [--minutes N] [--seed S] [--json]`.
"""
