"""The sender contract's result type (monitor/alerts/sender.py)."""

from __future__ import annotations

from monitor.alerts.sender import SendResult


def test_result_constructors() -> None:
    assert SendResult.delivered() == SendResult(True)
    failed = SendResult.failed("boom", permanent=True)
    assert (failed.ok, failed.error, failed.permanent, failed.retry_after_s) == (
        False,
        "boom",
        True,
        None,
    )
