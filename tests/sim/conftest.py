"""Fixtures: `make_sim` starts fake exchanges on ephemeral loopback ports and stops them after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from monitor.sim import FakeExchange
from tests.sim.helpers import recording

MakeSim = Callable[..., Awaitable[FakeExchange]]


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    started: list[FakeExchange] = []

    async def make(source: Any = None, **kw: Any) -> FakeExchange:
        fx = FakeExchange.from_file(recording() if source is None else source, **kw)
        await fx.start()
        started.append(fx)
        return fx

    yield make
    for fx in started:
        await fx.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
