"""One copy of the big, identical REST tables every account of a fleet fetches (issue 17).

Each USDⓈ-M account's snapshot carries `/fapi/v1/leverageBracket` and `/fapi/v1/exchangeInfo`
for every symbol (~900): half a megabyte of JSON each, two megabytes as Python objects, kept by
the account's pipeline until the next snapshot — and, account after account, the same tables.
`share(path, body)` returns the body already held for `path` when the new one is equal to it
(the new copy is dropped), so a fleet keeps one copy per distinct table instead of one per
account. The bodies are read-only downstream (`rest_merge` and the decoders are pure); only the
latest body per path is remembered, so memory stays bounded whatever the answers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.feed.recording import RestLine

#: Tables that are large and the same for every account of a venue (or nearly always so).
SHARED_PATHS = frozenset({
    "/fapi/v1/leverageBracket",
    "/fapi/v1/exchangeInfo",
    "/dapi/v1/leverageBracket",
    "/dapi/v2/leverageBracket",
    "/dapi/v1/exchangeInfo",
    "/papi/v1/um/leverageBracket",
    "/papi/v1/cm/leverageBracket",
})

_LATEST: dict[tuple[str, str], Any] = {}


def share(venue: str, path: str, body: Any) -> Any:
    """The body held for (`venue`, `path`) when equal to `body`, else `body` (then held)."""
    bare = path.split("?", 1)[0]
    if bare != path or bare not in SHARED_PATHS or not isinstance(body, list | dict):
        return body  # a filtered answer (one symbol) is not the table
    key = (venue, bare)
    held = _LATEST.get(key)
    if held is not None and (held is body or held == body):
        return held
    _LATEST[key] = body
    return body


def shared_line(venue: str, line: RestLine) -> RestLine:
    """`line` with its body shared (`share`) when it is a whole table of `SHARED_PATHS`."""
    if line.params or line.status != 200:
        return line
    body = share(venue, line.path, line.data)
    return line if body is line.data else replace(line, data=body)


def clear() -> None:
    """Forget every held table (tests)."""
    _LATEST.clear()
