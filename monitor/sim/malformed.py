"""Malformed websocket frames for the `malformed` fault (robustness of the daemon's decoders).

Six varieties, cycled in this order so any `count` >= 6 covers all of them; the details (where a
frame is cut, which wrong shape) come from a seeded RNG, so a seed gives the same frames:
`truncated` (valid JSON cut short), `not_json`, `wrong_types` (`"p": {}` and friends),
`unknown_event`, `oversized` (a ~2 MB frame; many clients' default limit is 1 MiB) and
`wrong_shape` (valid JSON that is no event: a number, a list, a wrapper without data...).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from monitor.sim.errors import dumps
from monitor.sim.routing import combined_text

VARIETIES = ("truncated", "not_json", "wrong_types", "unknown_event", "oversized", "wrong_shape")
OVERSIZED_BYTES = 2_000_000

_NOT_JSON = (
    "<html><body><h1>502 Bad Gateway</h1></body></html>",
    "not json at all",
    "{'single': 'quotes'}",
    '{"e": "markPriceUpdate",}',
    "\x00\x01binary-ish",
)
_WRONG_SHAPES: tuple[Any, ...] = (
    [1, 2, 3],
    "just a string",
    None,
    42,
    {"stream": 5},
    {"e": None},
    [[{"e": "markPriceUpdate"}]],
)


@dataclass(frozen=True, slots=True)
class Malformed:
    """One bad frame; `text_for` shapes it for a raw or combined connection."""

    variety: str
    payload: Any = None
    raw: str | None = None
    #: Fraction of the serialized frame kept by `truncated`.
    cut: float = 1.0

    def text_for(self, stream: str | None) -> str:
        if self.raw is not None:
            return self.raw
        text = dumps(self.payload)
        if stream is not None:
            text = combined_text(stream, text)
        if self.variety == "truncated":
            return text[: max(1, int(len(text) * self.cut))]
        return text


def _good(kind: str, now_ms: int, rng: random.Random) -> dict[str, Any]:
    if kind == "market":
        price = f"{rng.uniform(100, 100000):.8f}"
        return {
            "e": "markPriceUpdate",
            "E": now_ms,
            "s": "BTCUSDT",
            "p": price,
            "i": price,
            "P": price,
            "r": "0.00010000",
            "T": now_ms + 3600_000,
        }
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "a": {"m": "ORDER", "B": [{"a": "USDT", "wb": "1.0", "cw": "1.0", "bc": "0"}], "P": []},
    }


def _wrong_types(kind: str, now_ms: int) -> dict[str, Any]:
    if kind == "market":
        return {
            "e": "markPriceUpdate",
            "E": "soon",
            "s": 123,
            "p": {},
            "i": [],
            "P": None,
            "r": True,
            "T": "x",
        }
    return {
        "e": "ACCOUNT_UPDATE",
        "E": {},
        "T": "x",
        "a": {"m": 5, "B": "oops", "P": [{"s": None, "pa": {}, "ep": [1]}]},
    }


def malformed_frames(
    count: int,
    kind: Literal["market", "user"],
    *,
    seed: int = 0,
    now_ms: int = 0,
    varieties: Sequence[str] | None = None,
) -> list[Malformed]:
    """`count` bad frames for `kind` connections, deterministic for a given `seed`."""
    chosen = tuple(varieties) if varieties else VARIETIES
    unknown = [name for name in chosen if name not in VARIETIES]
    if unknown:
        raise ValueError(f"unknown malformed varieties {unknown} (known: {', '.join(VARIETIES)})")
    rng = random.Random(seed)
    frames: list[Malformed] = []
    for index in range(max(0, count)):
        variety = chosen[index % len(chosen)]
        if variety == "truncated":
            frames.append(Malformed(variety, _good(kind, now_ms, rng), cut=rng.uniform(0.2, 0.9)))
        elif variety == "not_json":
            frames.append(Malformed(variety, raw=rng.choice(_NOT_JSON)))
        elif variety == "wrong_types":
            frames.append(Malformed(variety, _wrong_types(kind, now_ms)))
        elif variety == "unknown_event":
            frames.append(
                Malformed(variety, {"e": f"simUnknownEvent{rng.randrange(1000)}", "E": now_ms})
            )
        elif variety == "oversized":
            payload = _good(kind, now_ms, rng)
            payload["pad"] = "x" * OVERSIZED_BYTES
            frames.append(Malformed(variety, payload))
        else:
            frames.append(Malformed(variety, rng.choice(_WRONG_SHAPES)))
    return frames
