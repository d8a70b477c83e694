"""Tests for monitor/binance/listen_key.py (and RestClient.listen_key) against a local server.

`FakeListenKeys` is a small aiohttp app on 127.0.0.1 that keeps listenKeys like Binance does
(wire.md §3.1): POST returns the account's active key (or makes one), PUT keeps it alive (UM
echoes the key, CM/PM answer `{}`), an unknown key gets `-1125`, DELETE drops it; every call
needs the `X-MBX-APIKEY` header. Replies can be scripted per method. Sleeps are injected:
nothing waits for real, and the keep-alive loop is stopped by a sleep that blocks after N ticks.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from monitor.base.backoff import Backoff
from monitor.binance.endpoints import Product, endpoints_for
from monitor.binance.listen_key import ListenKeyManager
from monitor.binance.rest import RestClient
from monitor.binance.rest_errors import RestError

API_KEY = "Q2wVcM1rT0bLhXn9ZkP4sJ8yE6uA3dF5gH7jK2lM4nB6vC8xZ0qW1eR3tY5uI7oP"
SECRET = "sEcReT9fG2hJ4kL6mN8pQ1rS3tU5vW7xY9zA2bC4dE6fG8hJ0kL2mN4pQ6rS8tU"
DEADLINE_S = 3.0


@dataclass
class Call:
    method: str
    path: str
    key: str | None


@dataclass
class FakeListenKeys:
    echo_on_put: bool = True  # UM echoes the key on PUT; CM and PM answer {}
    active: str | None = None
    calls: list[Call] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    port: int = 0
    issued: list[str] = field(default_factory=list)

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c.method == method)

    def expire(self) -> None:
        self.active = None

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(parse_qsl(request.query_string))
        params.update(parse_qsl(await request.text()))
        key = params.get("listenKey")
        self.calls.append(Call(request.method, request.path, key))
        queued = self.script.get(request.method)
        if queued:
            status, body = queued.pop(0)
            return web.json_response(body, status=status)
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return web.json_response(
                {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action"},
                status=401,
            )
        if not request.path.endswith("/listenKey"):
            return web.json_response({"code": -5000, "msg": "Path not found"}, status=404)
        if request.method == "POST":
            if self.active is None:
                self.active = secrets.token_hex(32)
                self.issued.append(self.active)
            return web.json_response({"listenKey": self.active})
        if key is None or key != self.active:
            return web.json_response(
                {"code": -1125, "msg": "This listenKey does not exist."}, status=400
            )
        if request.method == "DELETE":
            self.active = None
            return web.json_response({})
        return web.json_response({"listenKey": key} if self.echo_on_put else {})


@pytest.fixture
async def fake() -> AsyncIterator[FakeListenKeys]:
    server = FakeListenKeys()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    yield server
    await runner.cleanup()


class Ticks:
    """An injected sleep that records delays, returns at once `allowed` times, then blocks."""

    def __init__(self, allowed: int = 10**9) -> None:
        self.allowed = allowed
        self.calls: list[float] = []
        self._forever = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) > self.allowed:
            await self._forever.wait()


async def no_wait(seconds: float) -> None:
    return None


@pytest.fixture
async def rest(fake: FakeListenKeys) -> AsyncIterator[RestClient]:
    client = RestClient(
        endpoints_for("custom", rest=f"http://127.0.0.1:{fake.port}", ws="ws://127.0.0.1:1"),
        API_KEY,
        SECRET,
        sleep=no_wait,
        max_attempts=2,
        backoff=Backoff(rng=lambda: 0.0),
    )
    yield client
    await client.close()


class NewKeys:
    def __init__(self, fail: bool = False) -> None:
        self.keys: list[str] = []
        self.fail = fail

    async def __call__(self, key: str) -> None:
        self.keys.append(key)
        if self.fail:
            raise RuntimeError("reconnect failed")


async def until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until `predicate` holds; fail after a generous deadline."""
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while not predicate():
        assert loop.time() < end, "condition not reached before the deadline"
        await asyncio.sleep(0.005)


async def run_loop(manager: ListenKeyManager, ticks: Ticks) -> None:
    """Run the keep-alive loop until its sleep blocks (all allowed ticks done), then stop it."""
    task = asyncio.create_task(manager.keepalive_loop())
    try:
        await until(lambda: len(ticks.calls) > ticks.allowed)
        assert not task.done()  # the loop never returns by itself
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


MakeManager = Callable[..., Awaitable[tuple[ListenKeyManager, Ticks, NewKeys]]]


@pytest.fixture
def make(rest: RestClient) -> MakeManager:
    async def build(
        product: Product = Product.UM, allowed: int = 10**9, fail_callback: bool = False
    ) -> tuple[ListenKeyManager, Ticks, NewKeys]:
        ticks, new_keys = Ticks(allowed), NewKeys(fail_callback)
        manager = ListenKeyManager(
            rest,
            product,
            keepalive_s=1800.0,
            sleep=ticks,
            on_new_key=new_keys,
            backoff=Backoff(base_s=1.0, rng=lambda: 0.0),
        )
        return manager, ticks, new_keys

    return build


# ---------------------------------------------------------------------------------- RestClient
async def test_rest_listen_key_calls(rest: RestClient, fake: FakeListenKeys) -> None:
    created = await rest.listen_key("POST", Product.PM)
    key = created["listenKey"]
    assert len(key) == 64
    assert await rest.listen_key("PUT", Product.PM, key) == {"listenKey": key}
    assert await rest.listen_key("DELETE", Product.PM, key) == {}
    assert [(c.method, c.path) for c in fake.calls] == [
        ("POST", "/papi/v1/listenKey"),
        ("PUT", "/papi/v1/listenKey"),
        ("DELETE", "/papi/v1/listenKey"),
    ]
    assert fake.calls[1].key == key
    with pytest.raises(RestError) as caught:
        await rest.listen_key("PUT", Product.PM, key)
    assert caught.value.code == -1125
    assert "listenKey expired" in str(caught.value)
    assert key not in str(caught.value)
    assert fake.count("PUT") == 2  # a -1125 is final, not retried


async def test_post_reply_without_a_key_is_an_error(rest: RestClient, fake: FakeListenKeys) -> None:
    fake.script["POST"] = [(200, {"something": "else"})]
    with pytest.raises(RestError) as caught:
        await rest.listen_key("POST", Product.UM)
    assert "no listenKey" in str(caught.value)


# ---------------------------------------------------------------------------------- manager
async def test_acquire_is_idempotent_while_the_key_is_valid(
    make: MakeManager, fake: FakeListenKeys
) -> None:
    manager, _, new_keys = await make()
    first = await manager.acquire()
    second = await manager.acquire()
    assert first == second == manager.key == fake.active
    assert manager.stats.created == 2
    assert new_keys.keys == []  # the owner uses what acquire() returns


async def test_keepalive_puts_every_interval(make: MakeManager, fake: FakeListenKeys) -> None:
    manager, ticks, new_keys = await make(allowed=3)
    key = await manager.acquire()
    await run_loop(manager, ticks)
    assert fake.count("PUT") == 3
    assert all(c.key == key for c in fake.calls if c.method == "PUT")
    assert ticks.calls == [1800.0] * 4
    assert manager.stats.keepalives == 3
    assert manager.stats.renewals == 0
    assert new_keys.keys == []


async def test_cm_keepalive_answering_empty_object_keeps_the_key(
    make: MakeManager, fake: FakeListenKeys
) -> None:
    fake.echo_on_put = False
    manager, ticks, new_keys = await make(Product.CM, allowed=1)
    key = await manager.acquire()
    await run_loop(manager, ticks)
    assert fake.calls[-1].path == "/dapi/v1/listenKey"
    assert manager.key == key
    assert new_keys.keys == []


async def test_minus_1125_on_keepalive_creates_a_new_key_and_announces_it(
    make: MakeManager, fake: FakeListenKeys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    manager, ticks, new_keys = await make(allowed=2)
    old = await manager.acquire()
    fake.expire()
    await run_loop(manager, ticks)
    assert manager.key is not None and manager.key != old
    assert new_keys.keys == [manager.key]
    assert manager.stats.renewals == 1
    assert manager.stats.failures == 1
    assert manager.stats.keepalives == 1  # the second tick kept the new key alive
    assert [c.method for c in fake.calls] == ["POST", "PUT", "POST", "PUT"]
    assert fake.calls[-1].key == manager.key
    for key in fake.issued:
        assert key not in caplog.text


async def test_persistent_keepalive_failure_renews_even_to_the_same_key(
    make: MakeManager, fake: FakeListenKeys
) -> None:
    manager, ticks, new_keys = await make(allowed=1)
    key = await manager.acquire()
    outage = (503, {"code": -1008, "msg": "Request throttled by system-level protection."})
    fake.script["PUT"] = [outage, outage]  # the client's 2 attempts both fail
    await run_loop(manager, ticks)
    assert manager.key == key  # Binance handed back the still-valid key...
    assert new_keys.keys == [key]  # ...and the owner still reconnects its silent stream
    assert manager.stats.renewals == 1
    assert fake.count("PUT") == 2


async def test_renewal_retries_post_with_backoff(make: MakeManager, fake: FakeListenKeys) -> None:
    manager, ticks, new_keys = await make()
    await manager.acquire()
    fake.expire()
    refused = (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action"})
    fake.script["POST"] = [refused, refused]
    key = await manager.expired()
    assert key == manager.key == fake.active
    assert new_keys.keys == [key]
    assert ticks.calls == [0.5, 1.0]  # Backoff(1.0, rng=0): half of 1, then of 2
    assert manager.stats.failures == 2
    assert manager.stats.renewals == 1


async def test_expired_calls_on_new_key_even_for_the_same_key(
    make: MakeManager, fake: FakeListenKeys
) -> None:
    manager, _, new_keys = await make()
    first = await manager.acquire()
    assert await manager.expired() == first  # the server still had it: same key back
    fake.expire()
    second = await manager.expired()
    assert second != first
    assert new_keys.keys == [first, second]
    assert manager.stats.renewals == 2


async def test_failing_callback_does_not_stop_the_loop(
    make: MakeManager, fake: FakeListenKeys
) -> None:
    manager, ticks, new_keys = await make(allowed=2, fail_callback=True)
    await manager.acquire()
    fake.expire()
    await run_loop(manager, ticks)
    assert len(new_keys.keys) == 1
    assert manager.stats.callback_errors == 1
    assert manager.stats.keepalives == 1  # the loop carried on to the next tick


async def test_close_never_deletes_the_shared_key(
    make: MakeManager, fake: FakeListenKeys
) -> None:
    """Binance gives every client of the account the same key: closing only forgets it."""
    manager, _, _ = await make()
    key = await manager.acquire()
    await manager.close()
    assert fake.count("DELETE") == 0
    assert manager.key is None
    assert fake.active == key  # still valid for the account's other clients
    await manager.close()  # nothing to forget: still no request
    assert [c.method for c in fake.calls] == ["POST"]
    # A later start gets the very same key back (POST is idempotent while it is valid).
    assert await manager.acquire() == key


async def test_bad_keepalive_interval_is_refused(rest: RestClient) -> None:
    with pytest.raises(ValueError):
        ListenKeyManager(rest, Product.UM, keepalive_s=0)
