"""No secret leaks, end to end: API keys, API secrets and listenKeys never appear in what the
daemon logs, alerts, serves on /metrics, /status and /healthz and the web dashboard (pages,
live updates, history, what-if), or keeps in its state directory.

`serve` (the real `marginwatch run` wiring: redaction, metrics, HTTP) runs in-process against
the fake exchange with three accounts — one good; one with the right key and a wrong secret
(listenKeys work, every signed request fails with -1022); one with an unknown key (-2015) — and
faults injected while it runs: a 429 burst at start-up, malformed market and user frames,
dropped connections and a listenKey expiry. Every log record is captured at DEBUG from the root
logger (so `websockets`, `aiohttp`, `asyncio`, `apprise` and `binance` records are in), both
raw (message, arguments, traceback) and as the daemon's JSON and text formatters write it. The
listenKeys checked are all those the fake exchange issued. The config and HTTP guards are
checked too: inline secrets need mode 0600, the endpoint binds 127.0.0.1 by default, and every
method but GET/HEAD is refused with 405.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import os
import secrets
import traceback
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import aiohttp
import pytest

from monitor import examples
from monitor.config import ConfigError, HttpConfig, load_config
from monitor.service import logs
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.service.http import HttpServer
from monitor.service.runner import serve
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import HttpSink, free_port
from tests.e2e.harness import FAST, until

#: Third-party loggers whose DEBUG output quotes URLs, handshakes and requests.
NOISY_LOGGERS = ("websockets", "aiohttp", "asyncio", "apprise", "binance", "urllib3")
REFUSED_METHODS = ("POST", "PUT", "DELETE", "PATCH")
ACCOUNTS = ("good", "badsecret", "badkey")


def fresh_secret(prefix: str) -> str:
    """A new credential per run: the redaction registry is process-wide, so a value another
    test registered must not make this one pass. `/+=` make its URL-encoded forms differ."""
    return f"{prefix}-{secrets.token_hex(12)}/+={secrets.token_hex(4)}"


@dataclass(frozen=True)
class Credentials:
    good_key: str = field(default_factory=lambda: fresh_secret("mwkey"))
    good_secret: str = field(default_factory=lambda: fresh_secret("mwsec"))
    wrong_secret: str = field(default_factory=lambda: fresh_secret("mwbadsec"))
    unknown_key: str = field(default_factory=lambda: fresh_secret("mwbadkey"))
    unknown_key_secret: str = field(default_factory=lambda: fresh_secret("mwbadkeysec"))

    def all(self) -> list[str]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]


def forms(value: str) -> set[str]:
    """Every way `value` may be written into text: raw and URL-encoded (path, query, form)."""
    return {value, quote(value), quote(value, safe=""), quote_plus(value)}


def leaks(text: str, values: Iterable[str]) -> list[str]:
    """Where a form of `values` occurs in `text` (the secret itself cut short in the report)."""
    found = []
    for value in values:
        for form in forms(value):
            at = text.find(form)
            if at >= 0:
                found.append(f"{form[:8]}… after {text[max(0, at - 100) : at]!r}")
    return found


# ------------------------------------------------------------------ config
def _account(name: str, fake: FakeExchange, key: str, secret: str, mode: str) -> str:
    return (
        f'[[accounts]]\nname = "{name}"\nenvironment = "custom"\nmode = "{mode}"\n'
        f'rest = "{fake.rest_url}"\nws = "{fake.ws_url}"\n'
        f'api_key = "{key}"\napi_secret = "{secret}"\n'
    )


def write_config(tmp: Path, fake: FakeExchange, sink: HttpSink, creds: Credentials) -> Path:
    text = "\n".join(
        [
            _account("good", fake, creds.good_key, creds.good_secret, "usdm"),
            # The right key with a wrong secret. Portfolio Margin, so that its listenKey (one
            # per product on the fake) is not the good account's.
            _account("badsecret", fake, creds.good_key, creds.wrong_secret, "portfolio_margin"),
            _account("badkey", fake, creds.unknown_key, creds.unknown_key_secret, "usdm"),
            f'[[notify]]\nurl = "{sink.json_url()}"\n',
            "[alerts]\nstale_after_s = 2\n",
            f'[http]\nlisten = "127.0.0.1:{free_port()}"\n',
            f'[state]\ndir = "{tmp / "state"}"\n',
        ]
    )
    path = tmp / "marginwatch.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


# ------------------------------------------------------------------ log capture
class _Keep(logging.Handler):
    """Keeps every record as it reaches the root logger (before any formatter)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Captured:
    json_out: io.StringIO = field(default_factory=io.StringIO)
    text_out: io.StringIO = field(default_factory=io.StringIO)
    keep: _Keep = field(default_factory=_Keep)

    def formatted(self) -> str:
        """What the daemon writes: its JSON lines and its text lines."""
        return self.json_out.getvalue() + "\n" + self.text_out.getvalue()

    def raw(self) -> str:
        """Every record unformatted: message, arguments, extra fields and traceback."""
        parts = []
        for record in self.keep.records:
            parts.append(record.getMessage())
            parts.append(repr(record.args))
            parts.append(repr({k: v for k, v in vars(record).items() if k not in ("args",)}))
            if record.exc_info and record.exc_info[1] is not None:
                parts.append("".join(traceback.format_exception(record.exc_info[1])))
        return "\n".join(parts)

    def loggers(self) -> set[str]:
        return {record.name.split(".")[0] for record in self.keep.records}


@asynccontextmanager
async def debug_logging() -> AsyncIterator[Captured]:
    """The daemon's own logging setup at DEBUG, into buffers; the previous setup restored."""
    captured = Captured()
    root = logging.getLogger()
    old_level = root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    json_handler = logs.configure_logging("DEBUG", json=True, stream=captured.json_out)
    text_handler = logging.StreamHandler(captured.text_out)
    text_handler.setFormatter(logs.TextFormatter())
    root.addHandler(text_handler)
    root.addHandler(captured.keep)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        for handler in (json_handler, text_handler, captured.keep):
            root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(False)


# ------------------------------------------------------------------ HTTP
@dataclass
class Served:
    pages: dict[str, str] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)


#: Every page and API answer scanned (the dashboard's included), with every method refused.
PAGES = (
    "/metrics", "/status", "/healthz", "/", "/account/good", "/account/badsecret",
    "/static/common.js", "/api/history?account=good", "/api/history?account=badsecret",
    "/api/whatif?account=good&move=BTC:-0.1", "/api/whatif?account=badsecret&move=all:-0.05",
)


async def first_event(session: aiohttp.ClientSession, url: str) -> str:
    """The first Server-Sent Event of `url` (its `data:` line)."""
    async with asyncio.timeout(10), session.get(url) as resp:
        assert resp.status == 200
        async for line in resp.content:
            if line.startswith(b"data:"):
                return line.decode()
    raise AssertionError("the event stream ended without an event")


async def fetch(base: str) -> Served:
    """GET every page; try every other method on each."""
    served = Served()
    async with aiohttp.ClientSession() as session:
        for path in PAGES:
            async with session.get(base + path) as resp:
                served.pages[path] = await resp.text()
            for method in REFUSED_METHODS:
                async with session.request(method, base + path, data=b"x=1") as resp:
                    served.refused[f"{method} {path}"] = resp.status
        served.pages["/events"] = await first_event(session, base + "/events")
    return served


def titles(sink: HttpSink) -> str:
    return "\n".join(str(post.body.get("title", "")) for post in sink.posts)


def issued_listen_keys(fake: FakeExchange) -> list[str]:
    """Every listenKey the fake exchange issued, in any state."""
    return fake.keys.issued()


def state_files(directory: Path) -> str:
    """Everything the daemon persisted (outbox database, journal), as text."""
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )


# ------------------------------------------------------------------ the end-to-end test
async def test_no_secret_in_logs_alerts_metrics_status_or_state(tmp_path: Path) -> None:
    creds = Credentials()
    fake = FakeExchange.from_file(
        examples.path("usdm"),
        speed=20,
        loop=True,
        api_key=creds.good_key,
        api_secret=creds.good_secret,
    )
    fake.set_rest(  # a key that can trade: an ops alert about the key is raised
        "/sapi/v1/account/apiRestrictions",
        {"ipRestrict": False, "enableReading": True, "enableFutures": True},
    )
    sink = HttpSink()
    await sink.start()
    await fake.start()
    stop = asyncio.Event()
    ready: list[tuple[Daemon, HttpServer]] = []
    options = DaemonOptions(live=dataclasses.replace(FAST, user_connect_wait_s=1.0))
    try:
        config = load_config(write_config(tmp_path, fake, sink, creds))
        async with debug_logging() as captured:
            fake.faults.rest_errors(429, count=2, retry_after_s=0)
            task = asyncio.create_task(
                serve(config, options, stop=stop, on_ready=lambda d, s: ready.append((d, s)))
            )
            try:
                await until(lambda: bool(ready) or task.done(), "serve to be ready")
                if not ready:
                    await task  # raises why serve ended before it was ready
                assert ready, "serve returned before it was ready"
                daemon, server = ready[0]
                good = daemon.slots["good"].runtime
                counters = good.core.counters
                await until(lambda: counters["market_frames"] > 5, "the good account's marks",
                            timeout=90)  # a loaded 2-core CI machine took >30 s once
                fake.faults.malformed(12, "market")
                fake.faults.malformed(6, "user")
                await until(
                    lambda: (
                        counters["market_decode_errors"] > 0 and counters["user_decode_errors"] > 0
                    ),
                    "malformed frames counted",
                )
                fake.faults.drop("all")
                await until(
                    lambda: good.resyncs.get("user stream reconnected", 0) >= 1,
                    "a resync after the dropped connections",
                )
                fake.faults.expire_listen_key()
                await until(
                    lambda: good.resyncs.get("listenKey expired", 0) >= 1,
                    "a resync on a new listenKey",
                )
                await until(
                    lambda: all(daemon.slots[n].restarts >= 1 for n in ("badsecret", "badkey")),
                    "the rejected accounts to fail and restart",
                )
                await until(lambda: counters["market_frames"] > 30, "marks after the faults")
                await until(
                    lambda: all(f"{name}:" in titles(sink) for name in ACCOUNTS),
                    "an alert of every account at the receiver",
                )
                served = await fetch(f"http://127.0.0.1:{server.bound_port}")
            finally:
                stop.set()
                assert await asyncio.wait_for(task, 15) == 0
    finally:
        await fake.stop()
        await sink.stop()

    keys = issued_listen_keys(fake)
    assert len(keys) >= 2, "the expiry should have made the fake issue another listenKey"
    formatted, raw = captured.formatted(), captured.raw()
    # The capture saw what it had to hide: listenKey URLs, both kinds of rejected credentials,
    # the faults, and the chatty libraries at DEBUG.
    assert {"monitor", "websockets", "apprise", "binance"} <= captured.loggers()
    assert "listenKey=" in formatted and "/pm/ws/" in formatted
    assert "-1022" in formatted and "-2015" in formatted and "429" in formatted
    status = served.pages["/status"]
    assert "-1022" in status and "-2015" in status
    assert "-1022" in served.pages["/events"] and "-2015" in served.pages["/events"]
    every_secret = creds.all() + keys
    for where, text in [
        ("the formatted logs", formatted),
        ("the raw log records", raw),
        ("the delivered alerts", json.dumps([post.body for post in sink.posts])),
        ("the state directory", state_files(tmp_path / "state")),
        *((f"GET {path}", page) for path, page in served.pages.items()),
    ]:
        found = leaks(text, every_secret)
        assert not found, f"secret in {where}: {found}"
    assert served.refused == {key: 405 for key in served.refused}
    assert len(served.refused) == len(PAGES) * len(REFUSED_METHODS)


# ------------------------------------------------------------------ config and HTTP guards
NOTIFY = '[[notify]]\nurl = "json://127.0.0.1:1/hook"\n'


def _inline_config(path: Path, secret: str) -> None:
    path.write_text(
        '[[accounts]]\nname = "a"\nenvironment = "custom"\nrest = "http://127.0.0.1:1"\n'
        f'ws = "ws://127.0.0.1:1"\napi_key = "k-{secret}"\napi_secret = "{secret}"\n{NOTIFY}',
        encoding="utf-8",
    )


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o704], ids=oct)
def test_inline_secrets_are_refused_unless_mode_0600(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "marginwatch.toml"
    secret = fresh_secret("inline")
    _inline_config(path, secret)
    os.chmod(path, mode)
    with pytest.raises(ConfigError) as refused:
        load_config(path, env={})
    fields = {name for name, _ in refused.value.problems}
    assert {"accounts[0].api_key", "accounts[0].api_secret"} <= fields
    message = str(refused.value)
    assert "chmod 600" in message
    assert not leaks(message, [secret, f"k-{secret}"])


@pytest.mark.parametrize("mode", [0o600, 0o400], ids=oct)
def test_inline_secrets_load_from_an_owner_only_file(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "marginwatch.toml"
    secret = fresh_secret("inline")
    _inline_config(path, secret)
    os.chmod(path, mode)
    config = load_config(path, env={})
    assert config.accounts[0].api_secret_value() == secret


def test_the_http_endpoint_binds_loopback_by_default(tmp_path: Path) -> None:
    assert HttpConfig().host == "127.0.0.1" and HttpConfig().is_loopback
    path = tmp_path / "marginwatch.toml"
    _inline_config(path, fresh_secret("inline"))
    os.chmod(path, 0o600)
    config = load_config(path, env={})  # no [http] table
    assert config.http.host == "127.0.0.1" and config.http.is_loopback
