"""Request authentication of the fake exchange: API-key header, HMAC signature, timestamp window.

Binance rules (wire.md §4.1, §5.2): SIGNED endpoints need the `X-MBX-APIKEY` header, a
`signature` that is the last parameter and equals hex HMAC-SHA256(secret, query string + body)
computed over the raw bytes exactly as sent (python-binance sorts its params — nothing here
re-sorts), and a `timestamp` inside `[serverTime - recvWindow, serverTime + 1000)`. Key-only
endpoints (listenKey, the PM market-data `/sapi` calls) need just the header; public ones nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import Enum
from urllib.parse import parse_qsl, unquote

from monitor.sim import errors
from monitor.sim.errors import Answer

DEFAULT_RECV_WINDOW_MS = 5000

#: Last path segments of public (unauthenticated) endpoints.
_PUBLIC_NAMES = frozenset(
    {
        "ping",
        "time",
        "exchangeInfo",
        "premiumIndex",
        "assetIndex",
        "fundingRate",
        "fundingInfo",
        "indexInfo",
        "constituents",
    }
)
#: Endpoints that take the API-key header but no signature (USER_STREAM / MARKET_DATA).
_KEY_ONLY = frozenset(
    {
        "/fapi/v1/listenKey",
        "/dapi/v1/listenKey",
        "/papi/v1/listenKey",
        "/sapi/v1/portfolio/asset-index-price",
        "/sapi/v1/portfolio/collateralRate",
    }
)


class Access(Enum):
    """How a REST endpoint is authenticated."""

    PUBLIC = "public"
    KEY = "key"
    SIGNED = "signed"


def access_for(path: str) -> Access:
    """The security type of `path`; anything unknown is treated as SIGNED (USER_DATA)."""
    if path in _KEY_ONLY:
        return Access.KEY
    if path.rsplit("/", 1)[-1] in _PUBLIC_NAMES:
        return Access.PUBLIC
    return Access.SIGNED


def hmac_signature(secret: str, payload: str) -> str:
    """hex(HMAC-SHA256(secret, payload)), the Binance HMAC signature."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _split(part: str) -> tuple[str, str | None, bool]:
    """`part` without its `signature=` parameter, the signature, and whether it came last."""
    pieces = part.split("&") if part else []
    where = [i for i, piece in enumerate(pieces) if piece.startswith("signature=")]
    if not where:
        return part, None, True
    index = where[-1]
    signature = pieces[index][len("signature=") :]
    rest = pieces[:index] + pieces[index + 1 :]
    return "&".join(rest), signature, len(where) == 1 and index == len(pieces) - 1


def signed_payload(query: str, body: str) -> tuple[str, str | None, bool]:
    """(totalParams without the signature, the signature, whether the signature was last).

    totalParams is the raw query string concatenated with the raw body, no `&` between them.
    """
    query_rest, query_sig, query_last = _split(query)
    if query_sig is not None:
        return query_rest + body, query_sig, query_last and not body
    body_rest, body_sig, body_last = _split(body)
    return query + body_rest, body_sig, body_last


def parse_params(query: str, body: str) -> dict[str, str]:
    """Query and body parameters (decoded; the body wins on a repeated name)."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


def _number(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value)


def check_key(header: str | None, api_key: str) -> Answer | None:
    """None if the `X-MBX-APIKEY` header carries the right key, else the -2015 answer."""
    if header is None or not hmac.compare_digest(header.encode(), api_key.encode()):
        return errors.error(401, errors.INVALID_KEY)
    return None


def check_signed(
    *,
    query: str,
    body: str,
    secret: str,
    server_ms: int,
    recv_window_max_ms: int = 60000,
) -> Answer | None:
    """None if the timestamp window and the HMAC signature are valid, else the error answer."""
    params = parse_params(query, body)
    timestamp = _number(params.get("timestamp", ""))
    if timestamp is None:
        return errors.error(400, errors.mandatory("timestamp"))
    window = DEFAULT_RECV_WINDOW_MS
    if "recvWindow" in params:
        given = _number(params["recvWindow"])
        if given is None or given <= 0:
            return errors.error(400, errors.mandatory("recvWindow"))
        if given > recv_window_max_ms:
            return errors.error(400, errors.bad_recv_window(recv_window_max_ms))
        window = given
    if timestamp >= server_ms + 1000:
        return errors.error(400, errors.TIMESTAMP_AHEAD)
    if server_ms - timestamp > window:
        return errors.error(400, errors.TIMESTAMP_OUTSIDE)
    payload, signature, last = signed_payload(query, body)
    if signature is None or not signature:
        return errors.error(400, errors.mandatory("signature"))
    expected = hmac_signature(secret, payload)
    given_sig = unquote(signature).lower()
    if not last or not hmac.compare_digest(expected.encode(), given_sig.encode()):
        return errors.error(400, errors.INVALID_SIGNATURE)
    return None
