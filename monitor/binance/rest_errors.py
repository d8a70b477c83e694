"""The error a failed Binance REST call raises, and what each Binance code means for the user.

`RestError` carries Binance's own code and message next to the HTTP status, plus a one-line
`hint` that says what to do about it (`-2015` on `/fapi` is usually a Portfolio Margin key that
needs `mode = "portfolio_margin"`, wire.md §6 item 13). It never holds a URL: a signed query
string carries the signature, so messages name the method and the path only, and the client
scrubs its secrets out of `msg` before building one.
"""

from __future__ import annotations

_PM_FAPI = (
    "the key lacks permission, the IP is not whitelisted, or this is a Portfolio Margin key "
    'used on {prefix} (set mode = "portfolio_margin")'
)

#: Binance error code → what to do about it (wire.md §4.1; coincise usdm/error_codes.md).
CODE_HINTS: dict[int, str] = {
    -1003: (
        "too much request weight from this IP: it is rate-limited or banned until the time in "
        "the message; the monitor waits, and fewer accounts or polls per IP avoid it"
    ),
    -1008: "Binance is shedding load (system-level protection); retried with backoff",
    -1016: "Binance is under maintenance for this service; retried later",
    -1021: (
        "the local clock is off from Binance's: the client re-syncs from /time; if it repeats, "
        "fix the host clock (NTP) or raise recv_window_ms"
    ),
    -1022: (
        "signature rejected: check the API secret (no quotes or whitespace, the secret of this "
        "very key) and that the key type is HMAC"
    ),
    -1102: "a mandatory parameter is missing or malformed (a bug: please report it)",
    -1125: "the listenKey expired or was closed: a new one is created and the stream reconnected",
    -2008: (
        "the API key does not exist in this environment: testnet and demo keys are rejected by "
        "mainnet and mainnet keys by testnet/demo"
    ),
    -2014: "the API key format is invalid: check for a truncated key, quotes or whitespace",
}

#: Binance codes that may pass on their own (throttles, load shedding, maintenance).
_TRANSIENT_CODES = frozenset({-1003, -1008, -1016})

#: HTTP status → hint, when the body carries no Binance code with a hint of its own.
STATUS_HINTS: dict[int, str] = {
    401: (
        "unauthorized: the API key is missing, wrong, or not allowed for this endpoint (enable "
        "Futures on the key; check the environment)"
    ),
    403: (
        "blocked by Binance's web application firewall or a regional restriction (HTTP 403); "
        "check the host's IP and location"
    ),
    404: (
        "this host does not serve the endpoint: check the environment and base URLs "
        "(Portfolio Margin /papi has no testnet)"
    ),
    408: "Binance's backend timed out; retried with backoff",
    418: (
        "this IP is banned for ignoring a 429 (2 minutes to 3 days): the client waits for "
        "Retry-After instead of hammering"
    ),
    429: "request rate limit hit: the client waits for Retry-After, then backs off",
    500: "Binance server error; retried with backoff",
    502: "Binance gateway error; retried with backoff",
    503: "Binance service unavailable or execution status unknown; retried with backoff",
    504: "Binance gateway timeout; retried with backoff",
}

#: A 2xx reply whose body is empty or not JSON where JSON was expected (wire.md §1.4).
EMPTY_BODY_HINT = (
    "the host answered without a JSON body: it does not really serve this endpoint; Portfolio "
    "Margin (/papi) has no testnet and answers 202 with an empty body there, so use mainnet "
    "or another mode"
)

#: A reply without the field the call needs (e.g. no `listenKey` in a POST /listenKey reply).
MISSING_FIELD_HINT = "Binance's reply lacks a field the monitor needs; check the environment"

#: A transport failure (no HTTP reply at all).
TRANSPORT_HINT = "no reply from Binance: check the network, DNS and the configured base URLs"


def hint_for(path: str, status: int | None, code: int | None) -> str | None:
    """What to tell the user about Binance `code` (else HTTP `status`) on `path`."""
    if code == -2015:
        if path.startswith(("/fapi/", "/dapi/")):
            return _PM_FAPI.format(prefix=path[:5])
        return (
            "the key lacks permission or the IP is not whitelisted (is the account really a "
            "Portfolio Margin account? testnet/demo keys do not work on mainnet)"
        )
    if code is not None and code in CODE_HINTS:
        return CODE_HINTS[code]
    if status is not None:
        if status in STATUS_HINTS:
            return STATUS_HINTS[status]
        if status >= 500:
            return STATUS_HINTS[500]
    return None


class RestError(Exception):
    """A Binance REST call that failed for good (after any retries the client does itself).

    `status` is the HTTP status (None when no reply came), `code` Binance's error code (None
    when the body had none), `msg` Binance's message or a description of the failure,
    `retry_after_s` the server's `Retry-After` when it sent one.
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        code: int | None,
        msg: str,
        *,
        hint: str | None = None,
        retry_after_s: float | None = None,
        attempts: int = 1,
    ) -> None:
        self.method = method.upper()
        self.path = path
        self.status = status
        self.code = code
        self.msg = msg
        self.hint = hint if hint is not None else hint_for(path, status, code)
        self.retry_after_s = retry_after_s
        self.attempts = attempts
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [f"HTTP {self.status}" if self.status is not None else "no HTTP reply"]
        if self.code is not None:
            parts.append(f'Binance {self.code} "{self.msg}"')
        elif self.msg:
            parts.append(self.msg)
        text = f"{self.method} {self.path}: {', '.join(parts)}"
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        if self.retry_after_s is not None:
            text += f" (Retry-After {self.retry_after_s:g} s)"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def __str__(self) -> str:
        return self._text()

    def retried(self, attempts: int) -> RestError:
        """The same error, noting how many attempts were made in all."""
        if attempts == self.attempts:
            return self
        return RestError(
            self.method,
            self.path,
            self.status,
            self.code,
            self.msg,
            hint=self.hint,
            retry_after_s=self.retry_after_s,
            attempts=attempts,
        )

    @property
    def transient(self) -> bool:
        """Worth trying again later: no reply, a throttle, or a server-side failure."""
        if self.status is None:
            return True
        if self.status in (408, 418, 429) or self.status >= 500:
            return True
        return self.code in _TRANSIENT_CODES
