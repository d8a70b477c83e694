"""Shared pieces of the fuzz suite: one reproducible hypothesis profile, the real payloads the
mutations start from (the sample files and the bundled recordings), and the mutation strategies.

Every fuzz test is decorated with `FUZZ` (or `fuzz(n)`): derandomized, no example database and no
deadline, so a CI run is reproducible and a loaded machine does not fail it. Mutations come in two
layers: `mutate_json` edits the parsed value (drop keys, wrong types, strings for numbers, NaN
and Infinity, zero, negative, tiny and huge numbers, nested stream wrappers, unicode), and
`mutate_text` edits the serialized frame (truncation, character flips, insertions, deletions,
whitespace, escapes). `frames_from` mixes both with odd whole frames and arbitrary text.

Finite magnitudes up to the float range and non-finite values (`NaN`, `Infinity`, `"1e400"`)
are fuzzed everywhere (`FRAME` for stream frames, `REST` for REST bodies: one palette).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from monitor import examples
from monitor.feed.recording import Line, Meta, RestLine, WsLine, read_recording
from tests.budgets import examples as budget

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"

FUZZ = settings(
    max_examples=budget(200),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(max_examples: int) -> settings:
    """`FUZZ` with another example budget (the replay tests cost more per example)."""
    return settings(FUZZ, max_examples=budget(max_examples))


# ------------------------------------------------------------------ real payloads
@cache
def sample(name: str) -> Any:
    """One sample file of tests/fixtures/samples, parsed (treat as read-only)."""
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def sample_names(*prefixes: str) -> list[str]:
    """Sample file names starting with any of `prefixes`, sorted."""
    return sorted(p.name for p in SAMPLES.glob("*.json") if p.name.startswith(prefixes))


@cache
def recording(name: str) -> tuple[Meta, tuple[Line, ...]]:
    """A bundled recording (monitor/examples), read once."""
    meta, lines = read_recording(examples.path(name))
    return meta, tuple(lines)


def snapshot_group(name: str) -> list[RestLine]:
    """The recording's first group of REST lines: its start-up snapshot."""
    group: list[RestLine] = []
    for line in recording(name)[1]:
        if isinstance(line, RestLine):
            group.append(line)
        elif isinstance(line, WsLine) and group:
            break
    return group


def compact(value: Any) -> str:
    """A JSON value serialized as Binance sends it (no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def ws_texts(name: str, conn: str) -> list[str]:
    """The recording's frames on `conn` ("market" or "user") as raw text, deduplicated."""
    seen: dict[str, None] = {}
    for line in recording(name)[1]:
        if isinstance(line, WsLine) and line.conn == conn:
            seen.setdefault(compact(line.data))
    return list(seen)


# ------------------------------------------------------------------ leaf values
#: Strings a number field may carry instead of a decimal: none of them is a usable price.
BAD_NUMBER_STRINGS = (
    "NaN",
    "nan",
    "-NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1e400",
    "-1e400",
    "",
    " ",
    "abc",
    "0",
    "-0",
    "-1",
    "-0.0000001",
    "0x1A",
    "12.5.3",
    "1,5",
    "null",
    "true",
    "\u0661\u0662",
    "\u00b2",
    "1e-400",
)
#: Finite numbers a decoder must take or reject cleanly.
ODD_NUMBERS: tuple[Any, ...] = (
    0, -1, -0.0, 1e-300, 5e-324, 1e15, -1e15, 10**20, 2**63, 1e299, 1e308, -1e308
)


def make_leaves(max_abs: float) -> st.SearchStrategy[Any]:
    """Leaf values (bad number strings, odd numbers, NaN/Infinity, null, booleans, text,
    decimals) with finite numbers up to `max_abs` in magnitude."""
    return st.one_of(
        st.sampled_from(BAD_NUMBER_STRINGS),
        st.sampled_from([n for n in ODD_NUMBERS if abs(n) <= max_abs]),
        st.sampled_from([float("nan"), float("inf"), float("-inf")]),
        st.none(),
        st.booleans(),
        st.integers(min_value=-int(max_abs), max_value=int(max_abs)),
        st.floats(min_value=-max_abs, max_value=max_abs),
        st.text(max_size=12),
        st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{1,10})?", fullmatch=True),
    )


def make_json_values(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Small JSON values built from `leaf` (what a wrong-typed field may hold instead)."""
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.sampled_from(["e", "E", "s", "p", "a", "B", "P", "x"]), inner, max_size=3
            ),
        ),
        max_leaves=6,
    )


@dataclass(frozen=True)
class Palette:
    """What mutations may write into a payload."""

    leaves: st.SearchStrategy[Any]
    values: st.SearchStrategy[Any]

    @classmethod
    def up_to(cls, max_abs: float) -> Palette:
        leaf = make_leaves(max_abs)
        return cls(leaf, make_json_values(leaf))


#: For stream frames and REST bodies: every finite magnitude.
FRAME = REST = Palette.up_to(1.7e308)

#: Unicode to splice into strings: NUL, combining marks, full-width letters, RTL, emoji,
#: escapes-looking text and quotes.
UNICODE_BITS = (
    "\x00",
    "\u0301",
    "\uff22\uff34\uff23",
    "\u202e",
    "\U0001f4a5",
    "\\u0042",
    '"',
    "\\",
    "\ud7ff",
    "\ufeff",
)


# ------------------------------------------------------------------ JSON-level mutation
NodePath = tuple[str | int, ...]


def _paths(value: Any, prefix: NodePath = ()) -> list[NodePath]:
    """Every node's path (the root is `()`)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


def _get(value: Any, path: NodePath) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: NodePath, new: Any) -> Any:
    """`root` with the node at `path` replaced by `new` (the root itself when `path` is ())."""
    if not path:
        return new
    parent = _get(root, path[:-1])
    parent[path[-1]] = new
    return root


def _delete(root: Any, path: NodePath) -> Any:
    if not path:
        return None
    parent = _get(root, path[:-1])
    del parent[path[-1]]
    return root


def _stringify(node: Any) -> Any:
    """Flip between a JSON number and its string (and booleans to strings)."""
    if isinstance(node, bool):
        return "true" if node else "false"
    if isinstance(node, int | float):
        return repr(node)
    if isinstance(node, str):
        try:
            return float(node)
        except ValueError:
            return node
    return node


Mutation = Callable[[Any, NodePath, st.DataObject, Palette], Any]


def _m_delete(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    return _delete(root, path)


def _m_leaf(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    return _set(root, path, data.draw(palette.leaves))


def _m_json(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    return _set(root, path, data.draw(palette.values))


def _m_stringify(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    return _set(root, path, _stringify(_get(root, path)))


def _m_wrap_list(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    return _set(root, path, [_get(root, path)])


def _m_wrap_stream(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    depth = data.draw(st.integers(1, 3))
    node = _get(root, path)
    for _ in range(depth):
        node = {"stream": data.draw(st.sampled_from(["btcusdt@markPrice", "", 5])), "data": node}
    return _set(root, path, node)


def _m_empty(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    node = _get(root, path)
    return _set(root, path, {} if isinstance(node, dict) else [] if isinstance(node, list) else "")


def _m_add(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    node = _get(root, path)
    if isinstance(node, dict):
        key = data.draw(
            st.sampled_from(
                ["e", "E", "s", "p", "data", "stream", "code", "msg", "result", "id", "\u00e9", ""]
            )
        )
        node[key] = data.draw(palette.values)
    elif isinstance(node, list):
        keep = bool(node) and data.draw(st.booleans())
        extra = copy.deepcopy(node[0]) if keep else data.draw(palette.values)
        node.insert(data.draw(st.integers(0, len(node))), extra)
    return root


def _m_unicode(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    node = _get(root, path)
    if not isinstance(node, str):
        return root
    at = data.draw(st.integers(0, len(node)))
    bit = data.draw(st.sampled_from(UNICODE_BITS) | st.text(min_size=1, max_size=3))
    return _set(root, path, node[:at] + bit + node[at:])


#: Values a number field may take that are valid JSON of the right type but odd for the field.
EDGE_NUMBERS = ("0", "-1", "0.00000000", "-0.5", "1e-300", "0.00000001", "1e15", "-1e15")


def _is_number(node: Any) -> bool:
    if isinstance(node, bool):
        return False
    if isinstance(node, int | float):
        return True
    try:
        float(node)
    except (TypeError, ValueError):
        return False
    return True


def _m_number(root: Any, path: NodePath, data: st.DataObject, palette: Palette) -> Any:
    """Set one numeric field (anywhere) to zero, negative, tiny or large, keeping its JSON type."""
    numeric = [p for p in _paths(root) if p and _is_number(_get(root, p))]
    if not numeric:
        return root
    where = data.draw(st.sampled_from(numeric), label="number path")
    text = data.draw(st.sampled_from(EDGE_NUMBERS), label="number")
    value: Any = text if isinstance(_get(root, where), str) else float(text)
    return _set(root, where, value)


MUTATIONS: tuple[Mutation, ...] = (
    _m_number,
    _m_number,
    _m_delete,
    _m_leaf,
    _m_json,
    _m_stringify,
    _m_wrap_list,
    _m_wrap_stream,
    _m_empty,
    _m_add,
    _m_unicode,
    _m_leaf,  # field values are the most common damage: weight them up
    _m_stringify,
)


def mutate_json(
    value: Any, data: st.DataObject, palette: Palette = FRAME, max_mutations: int = 3
) -> Any:
    """A copy of `value` with 1..max_mutations random edits (see `MUTATIONS`)."""
    root = copy.deepcopy(value)
    for _ in range(data.draw(st.integers(1, max_mutations), label="mutations")):
        path = data.draw(st.sampled_from(_paths(root)), label="path")
        mutation = data.draw(st.sampled_from(MUTATIONS), label="mutation")
        root = mutation(root, path, data, palette)
    return root


# ------------------------------------------------------------------ text-level mutation
_SPLICE = st.one_of(
    st.sampled_from(
        [
            '"',
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\\",
            "\\u",
            "NaN",
            "Infinity",
            " ",
            "\n",
            '"s":"',
            '"p":"',
            "}{",
            "][",
        ]
    ),
    st.sampled_from(UNICODE_BITS),
    st.text(max_size=8),
    st.from_regex(r"[0-9.eE+-]{1,12}", fullmatch=True),
)


def mutate_text(text: str, data: st.DataObject, max_mutations: int = 3) -> str:
    """`text` truncated, with characters flipped, inserted, deleted, duplicated or re-spaced."""
    for _ in range(data.draw(st.integers(1, max_mutations), label="text mutations")):
        kind = data.draw(
            st.sampled_from(
                ["cut", "flip", "insert", "delete", "dup", "spaces", "ascii", "strip_end"]
            ),
            label="text mutation",
        )
        size = len(text)
        at = data.draw(st.integers(0, size), label="at")
        if kind == "cut":
            text = text[:at]
        elif kind == "flip" and size:
            at = min(at, size - 1)
            text = text[:at] + data.draw(_SPLICE.filter(bool) | st.characters()) + text[at + 1 :]
        elif kind == "insert":
            text = text[:at] + data.draw(_SPLICE) + text[at:]
        elif kind == "delete":
            end = data.draw(st.integers(at, min(size, at + 16)))
            text = text[:at] + text[end:]
        elif kind == "dup":
            end = data.draw(st.integers(at, min(size, at + 40)))
            text = text[:end] + text[at:end] + text[end:]
        elif kind == "spaces":
            text = text.replace(":", ": ").replace(",", ", ")
        elif kind == "ascii":
            text = text.encode("ascii", "backslashreplace").decode("ascii")
        else:
            text = text.rstrip("}]")
    return text


#: Whole frames that are no market or user event at all.
ODD_FRAMES = (
    "",
    " ",
    "null",
    "NaN",
    "[]",
    "{}",
    "[{}]",
    "[[]]",
    "[null]",
    '{"stream":"x","data":null}',
    '{"stream":"x","data":[]}',
    '{"stream":"x"}',
    '{"result":null,"id":1}',
    '{"result":["btcusdt@markPrice"],"id":"x"}',
    '{"result":5,"id":1}',
    '{"code":2,"msg":"Invalid request"}',
    '{"e":"markPriceUpdate"}',
    '{"e":"markPriceUpdate","s":"BTCUSDT"}',
    '{"e":"markPriceUpdate","s":"BTCUSDT","p":null}',
    '{"e":"ACCOUNT_UPDATE"}',
    '{"e":5,"E":1}',
    "<html><body><h1>502 Bad Gateway</h1></body></html>",
    "\x00\x01",
    "\ufeff{}",
)


def frames_from(texts: list[str]) -> st.SearchStrategy[str]:
    """Frames made from real `texts`: as-is, JSON-mutated, text-mutated, or an odd frame."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        data = draw(st.data())
        base = draw(st.sampled_from(texts), label="base frame")
        how = draw(st.sampled_from(["json", "json", "text", "both", "odd", "arbitrary", "as-is"]))
        if how == "as-is":
            return base
        if how == "odd":
            return draw(st.sampled_from(ODD_FRAMES))
        if how == "arbitrary":
            return draw(st.text(max_size=60) | FRAME.values.map(compact_any))
        text = base
        if how in ("json", "both"):
            text = compact_any(mutate_json(json.loads(base), data))
        if how in ("text", "both"):
            text = mutate_text(text, data)
        return text

    return build()


def compact_any(value: Any) -> str:
    """`compact`, allowing NaN/Infinity literals (which Python's JSON reader accepts)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True)
