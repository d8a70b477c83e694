"""Fuzzing the recording reader (`monitor.feed.recording`): `parse_line` and `parse_meta` on mutated
lines of the bundled recordings, and `read_recording` on mutated files — damaged text, invalid
UTF-8, a byte-order mark, gzip files cut short or with a damaged trailer.

The contract: `RecordingError` (naming the file and line) is the only exception, and what parses
is a well-formed line. The tests at the end pin damaged files that once escaped as another type.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from monitor import examples
from monitor.feed.recording import (
    CONNS,
    Line,
    Meta,
    NoteLine,
    RecordingError,
    RestLine,
    WsLine,
    parse_line,
    parse_meta,
    read_recording,
)
from tests.fuzz import FUZZ, fuzz, mutate_json, mutate_text


def _raw_lines(name: str) -> list[str]:
    return examples.path(name).read_text(encoding="utf-8").splitlines()


META_LINES = [json.loads(_raw_lines(name)[0]) for name in examples.NAMES]
#: Non-meta lines: every REST and note line, and the first user and market frames of each file.
LINES: list[dict[str, Any]] = []
for _name in examples.NAMES:
    _objs = [json.loads(text) for text in _raw_lines(_name)[1:]]
    LINES += [o for o in _objs if o["kind"] != "ws"]
    LINES += [o for o in _objs if o["kind"] == "ws" and o["conn"] == "user"][:10]
    LINES += [o for o in _objs if o["kind"] == "ws" and o["conn"] == "market"][:10]


def check_line(line: Line) -> None:
    """A parsed line is well-formed."""
    assert isinstance(line.t, int) and not isinstance(line.t, bool)
    if isinstance(line, RestLine):
        assert line.path.startswith("/") and line.method == line.method.upper()
        assert isinstance(line.status, int) and isinstance(line.params, dict)
    elif isinstance(line, WsLine):
        assert line.conn in CONNS and isinstance(line.data, dict | list)
    else:
        assert isinstance(line, NoteLine) and isinstance(line.text, str)


@FUZZ
@given(base=st.sampled_from(LINES), data=st.data())
def test_mutated_lines_parse_or_raise_recording_error(
    base: dict[str, Any], data: st.DataObject
) -> None:
    obj = mutate_json(base, data)
    assume(isinstance(obj, dict))
    try:
        line = parse_line(obj, "fuzz:2")
    except RecordingError as exc:
        assert "fuzz:2" in str(exc)
        return
    check_line(line)


@fuzz(100)
@given(base=st.sampled_from(META_LINES), data=st.data())
def test_mutated_meta_lines_parse_or_raise_recording_error(
    base: dict[str, Any], data: st.DataObject
) -> None:
    obj = mutate_json(base, data)
    assume(isinstance(obj, dict))
    try:
        meta = parse_meta(obj, "fuzz:1")
    except RecordingError as exc:
        assert "fuzz:1" in str(exc)
        return
    assert isinstance(meta, Meta) and isinstance(meta.account, str)


# ------------------------------------------------------------------ whole files
@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    """A small recording (meta + lines), its text damaged, encoded oddly, maybe gzipped."""
    data = draw(st.data())
    meta = draw(st.sampled_from(META_LINES))
    body = draw(st.lists(st.sampled_from(LINES), max_size=6))
    text = "\n".join(json.dumps(obj, separators=(",", ":")) for obj in [meta, *body]) + "\n"
    if draw(st.booleans()):
        text = mutate_text(text, data)
    raw = text.encode("utf-8", "surrogatepass")
    damage = draw(
        st.sampled_from(
            ["none", "bom", "bad_utf8", "nul", "gzip", "gzip_cut", "gzip_trailer", "empty"]
        )
    )
    if damage == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif damage == "bad_utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
    elif damage == "nul":
        raw = raw.replace(b"\n", b"\x00\n", 1)
    elif damage.startswith("gzip"):
        raw = gzip.compress(raw)
        if damage == "gzip_cut":
            raw = raw[: draw(st.integers(0, len(raw) - 1))]
        elif damage == "gzip_trailer":  # the CRC-32 and the size: a BadGzipFile, not garbage
            at = len(raw) - draw(st.integers(1, 8))
            raw = raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    elif damage == "empty":
        raw = b""
    return raw


def read_all(raw: bytes) -> list[Line] | None:
    """Write `raw` to a file and read it whole; None when refused with `RecordingError`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.jsonl"
        path.write_bytes(raw)
        try:
            meta, lines = read_recording(path)
            out = list(lines)
        except RecordingError as exc:
            assert str(path) in str(exc)
            return None
    assert isinstance(meta, Meta)
    for line in out:
        check_line(line)
    return out


@fuzz(150)
@given(raw=damaged_files())
def test_damaged_files_read_or_raise_recording_error(raw: bytes) -> None:
    read_all(raw)


def test_every_bundled_recording_reads_whole() -> None:
    for name in examples.NAMES:
        lines = read_all(examples.path(name).read_bytes())
        assert lines is not None and len(lines) == len(_raw_lines(name)) - 1


# ---------------------------------------------------- regressions: escapes fuzzing found (fixed)
META = json.dumps(META_LINES[0]) + "\n"


def _flipped_gzip() -> bytes:
    """A gzip recording with one byte of its deflate block header inverted (a bit-rotted file;
    a flip further in is mostly caught by the CRC check)."""
    raw = gzip.compress((META + "\n".join(json.dumps(o) for o in LINES)).encode())
    at = 20
    return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]


def _regression(raw: bytes, raised: type[BaseException], what: str) -> Any:
    """A damaged file that once escaped as `raised` (`what`); now a RecordingError."""
    return pytest.param(raw)


@pytest.mark.parametrize(
    "raw",
    [
        _regression(
            _flipped_gzip(),
            zlib.error,
            "recording._numbered_objects does not catch zlib.error, raised by gzip for a damaged"
            " deflate stream inside a .gz recording",
        ),
        _regression(
            (META + '{"kind":"note","t":' + "1" * 5000 + ',"text":"x"}\n').encode(),
            ValueError,
            "recording._numbered_objects catches only JSONDecodeError; json.loads raises a plain"
            " ValueError for an integer literal over 4300 digits",
        ),
        _regression(
            (
                META
                + '{"kind":"ws","t":1,"conn":"market","data":'
                + "[" * 5000
                + "]" * 5000
                + "}\n"
            ).encode(),
            RecursionError,
            "recording._numbered_objects: json.loads raises RecursionError for a deeply nested"
            " line",
        ),
    ],
    ids=["zlib-error", "int-over-4300-digits", "deep-nesting"],
)
def test_damaged_file_is_a_recording_error(raw: bytes) -> None:
    assert read_all(raw) is None
