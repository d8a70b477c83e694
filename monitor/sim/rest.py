"""The REST side of the fake exchange: recorded answers on the timeline, auth, listenKeys.

Order of checks for one request: count its weight (`X-MBX-USED-WEIGHT-1M` on every answer) →
the weight limit when one is enforced (`limits.py`: 429, then a 418 ban) →
an injected `rest_errors` fault → `/time` and `/ping` → listenKey endpoints (key header) →
the path's security (public / key / signed) → the current answer: for GET the ledger's body
(`ledger.py`: the recorded answers that are current at the playback time, kept up with the
frames played since; a `set_rest` override wins until the path's next recorded answer), for
other methods the recorded answer at the playback time. Query parameters are ignored except
the signature, timestamp and recvWindow, and `symbol`/`pair`/`asset` filters on the endpoints
that take them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.sim import errors
from monitor.sim.auth import Access, access_for, check_key, check_signed, parse_params
from monitor.sim.errors import Answer
from monitor.sim.faults import Faults
from monitor.sim.ledger import Ledger
from monitor.sim.limits import RestLimiter
from monitor.sim.listenkeys import ListenKey, ListenKeys, Product, product_of
from monitor.sim.playback import PlaybackClock, Timeline
from monitor.sim.stats import Stats
from monitor.sim.weights import POOL_LIMITS, WeightMeter, pool_of, request_weight, weight_header

log = logging.getLogger("monitor.sim")

_TIME_PATHS = frozenset({"/api/v3/time", "/fapi/v1/time", "/dapi/v1/time", "/papi/v1/time"})
_PING_PATHS = frozenset({"/api/v3/ping", "/fapi/v1/ping", "/dapi/v1/ping", "/papi/v1/ping"})

#: path → (parameter, answer an object instead of a list) for endpoints that filter.
_FILTERS: dict[str, tuple[str, bool]] = {
    "/fapi/v1/leverageBracket": ("symbol", True),
    "/fapi/v1/premiumIndex": ("symbol", True),
    "/fapi/v1/assetIndex": ("symbol", True),
    "/dapi/v1/premiumIndex": ("symbol", False),
    "/dapi/v2/leverageBracket": ("symbol", False),
    "/papi/v1/um/leverageBracket": ("symbol", False),
    "/papi/v1/cm/leverageBracket": ("symbol", False),
    "/fapi/v2/positionRisk": ("symbol", False),
    "/fapi/v3/positionRisk": ("symbol", False),
    "/dapi/v1/positionRisk": ("symbol", False),
    "/papi/v1/um/positionRisk": ("symbol", False),
    "/papi/v1/cm/positionRisk": ("symbol", False),
    "/papi/v1/balance": ("asset", True),
    "/sapi/v1/portfolio/asset-index-price": ("asset", False),
}


def filter_answer(path: str, params: dict[str, str], data: Any) -> Answer | None:
    """The answer narrowed to `symbol=`/`asset=` (None: no filter applies, answer as recorded)."""
    spec = _FILTERS.get(path)
    if spec is None or not isinstance(data, list):
        return None
    name, single = spec
    wanted = params.get(name)
    if path == "/dapi/v1/premiumIndex" and not wanted and params.get("pair"):
        name, wanted = "pair", params["pair"]
    if not wanted:
        return None
    matches = [item for item in data if isinstance(item, dict) and item.get(name) == wanted]
    if not matches:
        return errors.error(400, errors.INVALID_SYMBOL)
    return errors.ok(matches[0] if single else matches)


class RestApi:
    """Answers REST requests for one fake exchange."""

    def __init__(
        self,
        *,
        timeline: Timeline,
        clock: PlaybackClock,
        ledger: Ledger,
        sync: Callable[[], None],
        faults: Faults,
        keys: ListenKeys,
        stats: Stats,
        api_key: str,
        api_secret: str,
        recv_window_max_ms: int,
        server_ms: Callable[[], int],
        on_key_deleted: Callable[[ListenKey], None],
        limiters: dict[str, RestLimiter] | None = None,
        window_s: float = 60.0,
    ) -> None:
        self.timeline = timeline
        self.clock = clock
        #: The current GET bodies; `sync` brings it up to the playback time before answering.
        self.ledger = ledger
        self._sync = sync
        self.faults = faults
        self.keys = keys
        self.stats = stats
        #: Binance's weight limit of each pool (429, then a 418 ban), when the fake enforces them.
        self.limiters = limiters or {}
        #: The used weight of each pool (`weights.pool_of`) in the current window.
        self.meters = {pool: WeightMeter(window_s=window_s) for pool in POOL_LIMITS}
        self._api_key = api_key
        self._api_secret = api_secret
        self._recv_window_max_ms = recv_window_max_ms
        self._server_ms = server_ms
        self._on_key_deleted = on_key_deleted

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method.upper()
        path = request.path
        query = request.rel_url.raw_query_string
        body = (await request.read()).decode("utf-8", "replace")
        params = parse_params(query, body)
        pool = pool_of(path)
        used = self.meters[pool].add(request_weight(path, params))
        limiter = self.limiters.get(pool)
        refused = None if limiter is None else limiter.check(used, self._server_ms())
        try:
            answer = refused or self._answer(request, method, path, query, body, params)
        except Exception:
            log.exception("sim: error answering %s %s", method, path)
            self.stats.errors["rest_handler"] += 1
            answer = errors.error(500, errors.UNKNOWN_ERROR)
        self.stats.request(method, path, answer.status)
        return answer.response({weight_header(path): str(used)})

    def _answer(
        self,
        request: web.Request,
        method: str,
        path: str,
        query: str,
        body: str,
        params: dict[str, str],
    ) -> Answer:
        injected = self.faults.take_rest_error(path)
        if injected is not None:
            return injected
        if path in _TIME_PATHS:
            return errors.ok({"serverTime": self._server_ms()})
        if path in _PING_PATHS:
            return errors.ok({})
        header = request.headers.get("X-MBX-APIKEY")
        product = product_of(path)
        if product is not None:
            return check_key(header, self._api_key) or self._listen_key(
                method, product, params.get("listenKey")
            )
        access = access_for(path)
        if access is not Access.PUBLIC:
            refused = check_key(header, self._api_key)
            if refused is None and access is Access.SIGNED:
                refused = check_signed(
                    query=query,
                    body=body,
                    secret=self._api_secret,
                    server_ms=self._server_ms(),
                    recv_window_max_ms=self._recv_window_max_ms,
                )
            if refused is not None:
                return refused
        return self._recorded(method, path, params)

    def _listen_key(self, method: str, product: Product, key: str | None) -> Answer:
        if method == "POST":
            return errors.ok({"listenKey": self.keys.post(product).key})
        if method == "PUT":
            lk = self.keys.put(product, key or None)
            if lk is None:
                return errors.error(400, errors.UNKNOWN_LISTEN_KEY)
            return errors.ok({"listenKey": lk.key} if product == "um" else {})
        if method == "DELETE":
            lk = self.keys.delete(product, key or None)
            if lk is None:
                return errors.error(400, errors.UNKNOWN_LISTEN_KEY)
            self._on_key_deleted(lk)
            return errors.ok({})
        return errors.error(405, errors.invalid_path(method, "/listenKey"))

    def _recorded(self, method: str, path: str, params: dict[str, str]) -> Answer:
        found: tuple[Any, int] | None
        if method == "GET":
            self._sync()
            found = self.ledger.answer(path)
        else:
            line = self.timeline.rest_at(method, path, self.clock.now_t())
            found = None if line is None else (line.data, line.status)
        if found is None:
            return errors.error(404, errors.invalid_path(method, path))
        data, status = found
        if status == 200:
            narrowed = filter_answer(path, params, data)
            if narrowed is not None:
                return narrowed
        return errors.ok(data, status)
