"""Binance REST for the monitor: snapshots, listenKeys and server time through python-binance.

`RestClient` drives python-binance's `AsyncClient` (built with the plain constructor, never
`create()`, which pings spot) with its base URLs overwritten from the account's `Endpoints`, and
sends every request through python-binance's own request and signing path. Around it, it adds
what a long-running monitor needs (wire.md §4.1, §6 item 8):

- the server-time offset is synced from `GET /fapi/v1/time` (`/dapi/v1/time` for COIN-M) before
  the first signed request, every `resync_s`, and on `-1021` (then the request is retried at once;
  a second `-1021` in a row is an error);
- `X-MBX-USED-WEIGHT-1M` is tracked per rate-limit pool; a request that would take the pool past
  `weight_headroom * weight_limit` waits for the next minute;
- `429`/`418` wait at least `Retry-After` (a ban longer than `max_retry_after_s` is raised at
  once, with `retry_after_s`, for the owner to schedule), 5xx, timeouts and connection errors are
  retried with `Backoff`, other 4xx raise at once; everything ends as a `RestError` carrying
  Binance's code, message and a hint.

With `source_address` (default: the process's `[network] source_address`, `egress.py`) every
connection of the client's aiohttp session is bound to that local address. With `budgets` (in
the daemon: one `BudgetBook` for the whole process, `budget.py`) the weight is not paced per
client but reserved, before each request, from the budget every client of the same venue and
pool shares, riskiest client (`priority`) first; the headers still correct it.

Every request that went out is reported to the optional `on_request(path, status, used_weight)`
callback (status None when no HTTP reply came back; used_weight from `X-MBX-USED-WEIGHT-1M`, None
when absent) — the daemon's `marginwatch_rest_requests_total` and used-weight gauge; a raising
callback is logged, never allowed to fail the request.

Requests are serialised (python-binance keeps the last response on the client object). Only
this module touches python-binance internals. Secrets never reach a message or a log line: URLs
are never echoed (the query carries the signature) and the key, the secret and every listenKey
seen are scrubbed from Binance's texts.

Why one file above ~500 lines: every request goes one way (budget, signing, weight headers,
error mapping, redaction); splitting that path would put the secret-scrubbing and the weight
accounting of one request in different files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from binance import AsyncClient  # type: ignore[import-untyped]
from binance.exceptions import (  # type: ignore[import-untyped]
    BinanceAPIException,
    BinanceRequestException,
)

from monitor.base.backoff import Backoff
from monitor.base.clock import wall_ms
from monitor.base.secrets import scrub
from monitor.binance import egress
from monitor.binance.budget import BudgetBook, WeightBudget
from monitor.binance.endpoints import Endpoints, Product, listen_key_path, time_path
from monitor.binance.rest_errors import (
    EMPTY_BODY_HINT,
    MISSING_FIELD_HINT,
    TRANSPORT_HINT,
    RestError,
)

log = logging.getLogger(__name__)

#: Parameters python-binance adds when signing; never recorded.
SIGNING_PARAMS = frozenset({"timestamp", "signature", "recvWindow"})
#: Parameters left out of recordings: the signing ones and the listenKey (a bearer secret).
_UNRECORDED = SIGNING_PARAMS | {"listenKey"}

#: Paths that take no signature (MARKET_DATA, or USER_STREAM with the key header only).
_UNSIGNED_SUFFIXES = (
    "/exchangeInfo",
    "/premiumIndex",
    "/assetIndex",
    "/time",
    "/ping",
    "/listenKey",
)
_UNSIGNED_PATHS = frozenset(
    {"/sapi/v1/portfolio/asset-index-price", "/sapi/v1/portfolio/collateralRate"}
)

#: Request weights (wire.md §4): without / with the narrowing parameter. Unknown paths: 5.
_WEIGHTS: dict[str, tuple[int, int]] = {
    "/fapi/v1/time": (1, 1),
    "/dapi/v1/time": (1, 1),
    "/fapi/v1/listenKey": (1, 1),
    "/dapi/v1/listenKey": (1, 1),
    "/papi/v1/listenKey": (1, 1),
    "/fapi/v2/account": (5, 5),
    "/fapi/v3/account": (5, 5),
    "/fapi/v2/balance": (5, 5),
    "/fapi/v3/balance": (5, 5),
    "/fapi/v2/positionRisk": (5, 5),
    "/fapi/v3/positionRisk": (5, 5),
    "/fapi/v1/leverageBracket": (1, 1),
    "/fapi/v1/exchangeInfo": (1, 1),
    "/fapi/v1/premiumIndex": (1, 1),
    "/fapi/v1/multiAssetsMargin": (30, 30),
    "/fapi/v1/positionSide/dual": (30, 30),
    "/dapi/v1/positionSide/dual": (30, 30),
    "/fapi/v1/assetIndex": (10, 1),
    "/dapi/v1/account": (5, 5),
    "/dapi/v1/balance": (1, 1),
    "/dapi/v1/positionRisk": (1, 1),
    "/dapi/v2/leverageBracket": (2, 1),
    "/dapi/v1/leverageBracket": (1, 1),
    "/dapi/v1/exchangeInfo": (1, 1),
    "/dapi/v1/premiumIndex": (10, 10),
    "/papi/v1/account": (20, 20),
    "/papi/v1/balance": (20, 20),
    "/papi/v1/um/positionRisk": (5, 5),
    "/papi/v1/cm/positionRisk": (1, 1),
    "/papi/v1/um/leverageBracket": (1, 1),
    "/papi/v1/cm/leverageBracket": (1, 1),
    "/papi/v1/um/account": (5, 5),
    "/papi/v1/cm/account": (5, 5),
    "/sapi/v1/portfolio/collateralRate": (50, 50),
    "/sapi/v2/portfolio/collateralRate": (50, 50),
    "/sapi/v1/portfolio/asset-index-price": (50, 1),
}
#: The parameter that narrows a path to its lower weight (the only ones where the two differ).
_NARROWING = {
    "/fapi/v1/assetIndex": "symbol",
    "/dapi/v2/leverageBracket": "symbol",
    "/sapi/v1/portfolio/asset-index-price": "asset",
}

#: python-binance attribute holding the base URL of each path prefix.
_BASE_ATTRS = (
    ("/fapi", "FUTURES_URL"),
    ("/dapi", "FUTURES_COIN_URL"),
    ("/papi", "PAPI_URL"),
    ("/sapi", "MARGIN_API_URL"),
    ("/api", "API_URL"),
)

_WEIGHT_HEADERS = ("X-MBX-USED-WEIGHT-1M", "X-SAPI-USED-IP-WEIGHT-1M")
_BANNED_UNTIL = re.compile(r"banned until (\d{12,14})")
_MINUTE_MS = 60_000
#: Margin after a minute boundary before a throttled request goes (clock uncertainty).
_BOUNDARY_MARGIN_MS = 250
_BODY_SNIPPET = 160

Method = Literal["GET", "POST", "PUT", "DELETE"]
#: `on_request(path, status, used_weight)`: one request went out (status None: no reply).
RequestHook = Callable[[str, int | None, int | None], None]


def is_signed(path: str) -> bool:
    """Whether `path` is SIGNED (USER_DATA); market data and listenKey calls are not."""
    return path not in _UNSIGNED_PATHS and not path.endswith(_UNSIGNED_SUFFIXES)


def request_weight(path: str, params: Mapping[str, object] | None = None) -> int:
    """The documented request weight of `GET path` with `params` (5 when unknown)."""
    broad, narrow = _WEIGHTS.get(path, (5, 5))
    name = _NARROWING.get(path)
    return narrow if name is not None and params and params.get(name) else broad


def weight_pool(path: str) -> str:
    """The rate-limit pool `path` counts against (USDⓈ-M and COIN-M are pooled since 2026-06)."""
    if path.startswith(("/fapi/", "/dapi/")):
        return "futures"
    if path.startswith("/papi/"):
        return "papi"
    return "spot"


@dataclass(frozen=True, slots=True)
class RestResult:
    """One successful REST reply: what was asked (without signing parameters) and the body."""

    method: str
    path: str
    params: dict[str, str]
    status: int
    data: Any
    t_ms: int
    used_weight: int | None

    @property
    def recorded_params(self) -> dict[str, str]:
        """`params` as a recording keeps them: no timestamp, signature, recvWindow or listenKey.

        `feed.recording.to_rest_line` turns a result into its recording line (recording.md §2.2).
        """
        return {k: v for k, v in self.params.items() if k not in _UNRECORDED}


@dataclass(slots=True)
class RestStats:
    """Counters of one client, for metrics and the status view."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    time_syncs: int = 0
    #: Seconds spent waiting for request weight or `Retry-After` (not backoff after errors).
    throttled_s: float = 0.0
    last_used_weight: int | None = None
    #: Binance error code → count (HTTP errors without a code are under their negative status).
    errors: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    offset_ms: int | None = None


@dataclass(slots=True)
class _Pool:
    used: int
    minute: int


class RestClient:
    """Binance REST through python-binance's `AsyncClient`, retried, throttled and time-synced."""

    def __init__(
        self,
        endpoints: Endpoints,
        api_key: str,
        api_secret: str,
        *,
        weight_limit: int = 2400,
        weight_headroom: float = 0.8,
        max_attempts: int = 6,
        backoff: Backoff | None = None,
        wall_ms: Callable[[], int] = wall_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        recv_window_ms: int = 10000,
        time_product: Product = Product.UM,
        resync_s: float = 600.0,
        max_retry_after_s: float = 300.0,
        request_timeout_s: float = 10.0,
        on_request: RequestHook | None = None,
        source_address: str | None = None,
        budgets: BudgetBook | None = None,
        priority: Callable[[], float] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0.0 < weight_headroom <= 1.0 or weight_limit <= 0:
            raise ValueError("need weight_limit > 0 and 0 < weight_headroom <= 1")
        self.endpoints = endpoints
        self.weight_limit = weight_limit
        self.weight_headroom = weight_headroom
        self.max_attempts = max_attempts
        self.recv_window_ms = recv_window_ms
        self.time_product = time_product
        self.resync_s = resync_s
        self.max_retry_after_s = max_retry_after_s
        self.request_timeout_s = request_timeout_s
        self.stats = RestStats()
        self.on_request = on_request
        #: Local address every connection is bound to (default: the process's egress).
        self.source_address = (
            source_address if source_address is not None else egress.source_address()
        )
        #: Weight budgets shared with every client on the same egress (default: the process's;
        #: None: this client throttles on its own from the headers).
        self.budgets = budgets if budgets is not None else egress.current().weights
        #: This client's place in a budget's queue (higher first: the account's last risk).
        self.priority = priority
        self._api_key = api_key
        self._api_secret = api_secret
        self._backoff = backoff if backoff is not None else Backoff()
        self._wall_ms = wall_ms
        self._sleep = sleep
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._pools: dict[str, _Pool] = {}
        self._offset_ms = 0
        self._synced_at_ms: int | None = None
        self._banned_until_ms: int | None = None
        self._ban_status: int | None = None
        self._secrets: set[str] = {s for s in (api_key, api_secret) if len(s) >= 8}

    # ------------------------------------------------------------------ public API
    def sibling(self) -> RestClient:
        """A new client for the same venue and key, with its own lock and weight accounting
        (shared market-data polls: they never queue behind this client's traffic)."""
        return RestClient(
            self.endpoints,
            self._api_key,
            self._api_secret,
            weight_limit=self.weight_limit,
            weight_headroom=self.weight_headroom,
            max_attempts=self.max_attempts,
            wall_ms=self._wall_ms,
            sleep=self._sleep,
            recv_window_ms=self.recv_window_ms,
            time_product=self.time_product,
            resync_s=self.resync_s,
            max_retry_after_s=self.max_retry_after_s,
            request_timeout_s=self.request_timeout_s,
            on_request=self.on_request,
            source_address=self.source_address,
            budgets=self.budgets,
            priority=self.priority,
        )

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> RestResult:
        """`GET path`, signed when the path is USER_DATA (see `is_signed`)."""
        return await self._call("GET", path, params or {}, is_signed(path))

    async def listen_key(
        self, method: Literal["POST", "PUT", "DELETE"], product: Product, key: str | None = None
    ) -> dict[str, Any]:
        """Create (POST), keep alive (PUT) or close (DELETE) the listenKey of `product`."""
        path = listen_key_path(product)
        params: dict[str, str | int] = {}
        if key is not None:
            self._remember_secret(key)
            params["listenKey"] = key
        result = await self._call(method, path, params, False)
        data = result.data
        if not isinstance(data, dict):
            raise RestError(
                method,
                path,
                result.status,
                None,
                "the reply is not a JSON object",
                hint=MISSING_FIELD_HINT,
            )
        new_key = data.get("listenKey")
        if isinstance(new_key, str):
            self._remember_secret(new_key)
        if method == "POST" and (not isinstance(new_key, str) or not new_key):
            raise RestError(
                method,
                path,
                result.status,
                None,
                "no listenKey in the reply",
                hint=MISSING_FIELD_HINT,
            )
        return data

    async def sync_time(self) -> int:
        """Sync the timestamp offset from the server time now; returns it (ms, server − local)."""
        async with self._lock:
            return await self._sync_locked()

    async def snapshot(self, paths: Sequence[str]) -> list[RestResult]:
        """`GET` each of `paths` in order, one after the other (weight-aware); raises on failure."""
        return [await self.get(path) for path in paths]

    async def close(self) -> None:
        """Close the HTTP session."""
        client, self._client = self._client, None
        if client is not None:
            await client.close_connection()

    @property
    def offset_ms(self) -> int:
        """The current server − local clock offset used for `timestamp` (ms)."""
        return self._offset_ms

    # ------------------------------------------------------------------ python-binance
    def _binance(self) -> Any:
        """The `AsyncClient`, built on first use (it opens an aiohttp session in the loop)."""
        if self._client is None:
            session: dict[str, Any] = {}
            bind = egress.local_addr(self.source_address)
            if bind is not None:  # the session owns (and closes) its connector
                session["connector"] = aiohttp.TCPConnector(local_addr=bind)
            client = AsyncClient(self._api_key, self._api_secret, session_params=session)
            ep = self.endpoints
            client.API_URL = ep.rest_sapi + "/api"
            client.MARGIN_API_URL = ep.rest_sapi + "/sapi"
            client.FUTURES_URL = ep.rest_um + "/fapi"
            client.FUTURES_COIN_URL = ep.rest_cm + "/dapi"
            client.PAPI_URL = ep.rest_pm + "/papi"
            client.REQUEST_RECVWINDOW = self.recv_window_ms
            client.REQUEST_TIMEOUT = self.request_timeout_s
            client.timestamp_offset = self._offset_ms
            self._client = client
        return self._client

    def _url(self, client: Any, path: str) -> str:
        for prefix, attr in _BASE_ATTRS:
            if path.startswith(prefix + "/"):
                return str(getattr(client, attr)) + path[len(prefix) :]
        raise ValueError(f"no REST host for {path!r}")

    async def _send(
        self, method: str, path: str, params: Mapping[str, str | int], signed: bool
    ) -> RestResult:
        """One HTTP request, no retry; every failure becomes a `RestError`."""
        if not path.startswith("/") or "?" in path:
            raise ValueError(f"REST path must be a bare path without a query: {path!r}")
        client = self._binance()
        url = self._url(client, path)
        clean = {k: str(v) for k, v in params.items()}
        kwargs: dict[str, Any] = {}
        if signed or clean:
            kwargs["data"] = dict(clean)  # python-binance adds timestamp/signature to its copy
        self.stats.requests += 1
        pool = weight_pool(path)
        try:
            data = await client._request(method.lower(), url, signed, **kwargs)
        except BinanceAPIException as exc:
            raise await self._api_error(method, path, pool, exc) from None
        except BinanceRequestException:
            status = self._reply_status(client)
            self._reported(path, status, None)
            raise RestError(
                method, path, status, None, "the reply body is not JSON", hint=EMPTY_BODY_HINT
            ) from None
        except aiohttp.ContentTypeError as exc:
            self._count_status(exc.status)
            self._reported(path, exc.status, None)
            raise RestError(
                method, path, exc.status, None, "the reply body is not JSON", hint=EMPTY_BODY_HINT
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.stats.transport_errors += 1
            self._reported(path, None, None)
            raise RestError(
                method, path, None, None, _transport_text(exc), hint=TRANSPORT_HINT
            ) from None
        response = client.response
        status = int(response.status)
        self._count_status(status)
        used = self._note_weight(pool, response.headers, request_weight(path, params))
        self._reported(path, status, used)
        body = await response.text()
        if not body.strip():
            raise RestError(method, path, status, None, "empty reply body", hint=EMPTY_BODY_HINT)
        return RestResult(method, path, clean, status, data, self._wall_ms(), used)

    def _reply_status(self, client: Any) -> int | None:
        response = getattr(client, "response", None)
        status = getattr(response, "status", None)
        if isinstance(status, int):
            self._count_status(status)
            return status
        return None

    async def _api_error(self, method: str, path: str, pool: str, exc: Any) -> RestError:
        """A `RestError` from python-binance's `BinanceAPIException` (a non-2xx reply)."""
        status = int(exc.status_code)
        self._count_status(status)
        headers = getattr(exc.response, "headers", {})
        self._note_weight(pool, headers, 0)
        self._reported(path, status, _used_weight(headers))
        code = exc.code if isinstance(exc.code, int) and exc.code != 0 else None
        if code is not None:
            msg = exc.message if isinstance(exc.message, str) else ""
        else:
            msg = await _body_snippet(exc.response)
        msg = self._scrub(msg)
        key = code if code is not None else -status
        self.stats.errors[key] = self.stats.errors.get(key, 0) + 1
        retry_after = _retry_after(headers)
        if retry_after is None and status == 418:
            retry_after = self._banned_for(msg)
        if status in (429, 418) and self.budgets is not None:  # the whole address stops
            self.budgets.budget(self._venue_of_pool(pool), pool).refused(retry_after)
        return RestError(method, path, status, code, msg, retry_after_s=retry_after)

    # ------------------------------------------------------------------ retries and pacing
    async def _call(
        self, method: str, path: str, params: Mapping[str, str | int], signed: bool
    ) -> RestResult:
        async with self._lock:
            self._backoff.reset()
            attempt = 0
            after_1021 = False
            while True:
                attempt += 1
                await self._respect_ban(method, path)  # a "not sent" error is final
                try:
                    if signed and self._time_due():
                        await self._sync_locked()
                    async with self._weighed(path, request_weight(path, params)):
                        result = await self._send(method, path, params, signed)
                except RestError as err:
                    if err.code == -1021 and signed and not after_1021:
                        after_1021 = True
                        attempt -= 1
                        self._synced_at_ms = None
                        log.warning("%s; re-syncing the clock and retrying", err)
                        continue
                    after_1021 = err.code == -1021
                    delay = self._retry_delay(err, attempt)
                    self.stats.retries += 1
                    log.warning(
                        "%s; retry %d/%d in %.1f s", err, attempt, self.max_attempts - 1, delay
                    )
                    await self._sleep(delay)
                    continue
                self._backoff.reset()
                return result

    def _retry_delay(self, err: RestError, attempt: int) -> float:
        """Seconds to wait before retrying after `err`; raises it when it is final."""
        retry_after = err.retry_after_s
        if (
            not err.transient
            or attempt >= self.max_attempts
            or (retry_after is not None and retry_after > self.max_retry_after_s)
        ):
            if retry_after is not None:  # the next call must not hammer either
                self._banned_until_ms = self._wall_ms() + int(retry_after * 1000)
                self._ban_status = err.status
            raise err.retried(attempt)
        delay = self._backoff.next_delay()
        if retry_after is not None:
            self.stats.throttled_s += retry_after
            delay = max(delay, retry_after)
        return delay

    async def _respect_ban(self, method: str, path: str) -> None:
        """After a 429/418 that ended a call, wait out its `Retry-After` before the next one."""
        if self._banned_until_ms is None:
            return
        left_s = (self._banned_until_ms - self._wall_ms()) / 1000
        if left_s > self.max_retry_after_s:
            raise RestError(
                method,
                path,
                self._ban_status,
                None,
                "not sent: Binance's Retry-After has not passed",
                retry_after_s=left_s,
            )
        self._banned_until_ms = None
        if left_s > 0:
            log.warning("waiting %.1f s for Binance's Retry-After before %s", left_s, path)
            await self._throttle(left_s)

    def _budget(self, path: str) -> WeightBudget | None:
        """The shared budget `path` counts against (None: no shared budgets)."""
        if self.budgets is None:
            return None
        pool = weight_pool(path)
        return self.budgets.budget(self._venue_of_pool(pool), pool)

    @contextlib.asynccontextmanager
    async def _weighed(self, path: str, weight: int) -> AsyncIterator[None]:
        """Around one request: `weight` reserved before it goes (`_reserve`) and, with a
        shared budget, settled once it is answered or failed (no longer in flight)."""
        budget = await self._reserve(path, weight)
        try:
            yield
        finally:
            if budget is not None:
                budget.settle(weight)

    async def _reserve(self, path: str, weight: int) -> WeightBudget | None:
        """Take `weight` from the shared budget (waiting, riskiest first), else pace alone;
        returns the shared budget it came from (None: paced alone)."""
        budget = self._budget(path)
        if budget is None:
            await self._respect_weight(path, weight)
            return None
        priority = 0.0
        if self.priority is not None:
            try:
                priority = float(self.priority())
            except Exception:
                log.exception("REST priority callback failed for %s", path)
        waited = await budget.acquire(weight, priority, owner=self)  # BudgetBook.waiting(self)
        self.stats.throttled_s += waited
        return budget

    async def _respect_weight(self, path: str, weight: int) -> None:
        """Wait for the next minute when `weight` more would pass the headroom of its pool."""
        pool = self._pools.get(weight_pool(path))
        if pool is None:
            return
        now = self._server_ms()
        if pool.minute != now // _MINUTE_MS:
            return
        budget = self.weight_headroom * self.weight_limit
        if pool.used + weight <= budget:
            return
        wait_ms = (pool.minute + 1) * _MINUTE_MS - now + _BOUNDARY_MARGIN_MS
        log.info(
            "request weight %d/%d used this minute; waiting %.1f s before %s",
            pool.used,
            self.weight_limit,
            wait_ms / 1000,
            path,
        )
        await self._throttle(wait_ms / 1000)
        pool.used, pool.minute = 0, pool.minute + 1

    async def _throttle(self, seconds: float) -> None:
        self.stats.throttled_s += seconds
        await self._sleep(seconds)

    def _note_weight(self, pool: str, headers: Any, weight: int) -> int | None:
        """Record the used weight of `pool` from the reply headers (else add our estimate)."""
        used = _used_weight(headers)
        if self.budgets is not None:
            self.budgets.budget(self._venue_of_pool(pool), pool).observe(used)
        minute = self._server_ms() // _MINUTE_MS
        state = self._pools.get(pool)
        if used is not None:
            self.stats.last_used_weight = used
            self._pools[pool] = _Pool(used, minute)
        elif state is not None and state.minute == minute:
            state.used += weight
        else:
            self._pools[pool] = _Pool(weight, minute)
        return used

    def _venue_of_pool(self, pool: str) -> str:
        """The host a pool's budget is keyed by: USDⓈ-M's for both futures (`/fapi` and `/dapi`
        share one budget per IP), Portfolio Margin's, else the spot / `/sapi` host."""
        ep = self.endpoints
        base = {"futures": ep.rest_um, "papi": ep.rest_pm}.get(pool, ep.rest_sapi)
        return urlsplit(base).netloc

    # ------------------------------------------------------------------ time
    def _time_due(self) -> bool:
        if self._synced_at_ms is None:
            return True
        return self._wall_ms() - self._synced_at_ms >= self.resync_s * 1000

    def _server_ms(self) -> int:
        return self._wall_ms() + self._offset_ms

    async def _sync_locked(self) -> int:
        path = time_path(self.time_product)
        # With a shared budget the sync takes its turn (and weight) too; alone it is not paced.
        weighed = (self._weighed(path, request_weight(path)) if self.budgets is not None
                   else contextlib.nullcontext())
        async with weighed:
            before = time.time() * 1000  # python-binance stamps requests with time.time()
            result = await self._send("GET", path, {}, False)
            after = time.time() * 1000
        server = result.data.get("serverTime") if isinstance(result.data, dict) else None
        if isinstance(server, bool) or not isinstance(server, int):
            raise RestError(
                "GET",
                path,
                result.status,
                None,
                "no integer serverTime in the reply",
                hint=MISSING_FIELD_HINT,
            )
        offset = round(server - (before + after) / 2)
        self._offset_ms = offset
        self._binance().timestamp_offset = offset
        self._synced_at_ms = self._wall_ms()
        self.stats.time_syncs += 1
        self.stats.offset_ms = offset
        log.info(
            "server time offset %+d ms (from %s, round trip %.0f ms)", offset, path, after - before
        )
        return offset

    # ------------------------------------------------------------------ helpers
    def _reported(self, path: str, status: int | None, used_weight: int | None) -> None:
        """Tell `on_request` about one request (metrics); its failure is only logged."""
        if self.on_request is None:
            return
        try:
            self.on_request(path, status, used_weight)
        except Exception:
            log.exception("REST on_request callback failed for %s", path)

    def _count_status(self, status: int) -> None:
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1

    def _remember_secret(self, value: str) -> None:
        if len(value) >= 8:
            self._secrets.add(value)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _banned_for(self, msg: str) -> float | None:
        """Seconds left of a ban announced as "IP banned until <ms>" (-1003), if any."""
        match = _BANNED_UNTIL.search(msg)
        if match is None:
            return None
        return max(0.0, (int(match.group(1)) - self._server_ms()) / 1000)


def _used_weight(headers: Any) -> int | None:
    for name in _WEIGHT_HEADERS:
        value = headers.get(name) if hasattr(headers, "get") else None
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


async def _body_snippet(response: Any) -> str:
    """The start of an error body without a Binance code (a WAF page, plain-text 503...)."""
    try:
        text = await response.text()
    except (aiohttp.ClientError, UnicodeDecodeError, TimeoutError, AttributeError):
        return "unreadable reply body"
    text = " ".join(str(text).split())
    if not text:
        return "empty reply body"
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("msg"), str):
        return str(parsed["msg"])
    return text[:_BODY_SNIPPET] + ("…" if len(text) > _BODY_SNIPPET else "")


def _transport_text(exc: BaseException) -> str:
    """What went wrong in transport, without the URL (aiohttp puts the query in some messages)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection error ({exc.strerror})"
    return f"connection error ({type(exc).__name__})"
