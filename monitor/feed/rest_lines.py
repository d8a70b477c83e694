"""A REST reply as a recording line: the one bridge from the wire client to the recording format.

It lives in the feed (the IO edge), so the recording format stays free of the wire's IO client
and the pure core can read recordings without importing it (.importlinter, core-is-pure).
"""

from __future__ import annotations

from monitor.binance.rest import RestResult
from monitor.feed.recording import RestLine


def to_rest_line(result: RestResult) -> RestLine:
    """The recording line of a REST reply (no timestamp, signature, recvWindow or listenKey)."""
    return RestLine(
        result.t_ms, result.method, result.path, result.data, result.recorded_params, result.status
    )
