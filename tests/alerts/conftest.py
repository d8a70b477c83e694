"""Fixtures: real loopback sinks, started and stopped around each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.alerts.sinks import HttpSink, SmtpSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def http_sink() -> AsyncIterator[HttpSink]:
    sink = HttpSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
async def telegram_api() -> AsyncIterator[HttpSink]:
    sink = HttpSink()
    await sink.start()
    yield sink
    await sink.stop()
