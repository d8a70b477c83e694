"""The recording reader: structure, gzip detection by magic bytes, errors naming the line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from monitor.feed.recording import (
    Meta,
    NoteLine,
    RecordingError,
    RestLine,
    WsLine,
    read_recording,
    write_recording,
)

META = {
    "kind": "meta",
    "format": "marginwatch-recording",
    "version": 1,
    "account": "main",
    "mode": "usdm",
    "environment": "mainnet",
    "started": 1732147200000,
    "future_key": 1,
}
REST = {
    "kind": "rest",
    "t": 1,
    "method": "GET",
    "path": "/fapi/v3/positionRisk",
    "params": {},
    "status": 200,
    "data": [],
}
WS = {"kind": "ws", "t": 2, "conn": "market", "data": [{"e": "markPriceUpdate"}]}


def _write(path: Path, objs: list[object], raw_tail: str = "") -> Path:
    path.write_text("\n".join(json.dumps(o) for o in objs) + "\n" + raw_tail, encoding="utf-8")
    return path


def test_reads_meta_and_lines_in_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.jsonl", [META, REST, WS, {"kind": "note", "t": 3, "text": "x"}])
    meta, lines = read_recording(path)
    assert meta.mode == "usdm" and meta.account == "main" and meta.extra == {"future_key": 1}
    got = list(lines)
    assert isinstance(got[0], RestLine) and got[0].path == "/fapi/v3/positionRisk"
    assert isinstance(got[1], WsLine) and isinstance(got[1].data, list)
    assert isinstance(got[2], NoteLine)


def test_blank_lines_are_ignored_and_status_defaults(tmp_path: Path) -> None:
    rest = {k: v for k, v in REST.items() if k != "status"}
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(META) + "\n\n   \n" + json.dumps(rest) + "\n", encoding="utf-8")
    _, lines = read_recording(path)
    (line,) = list(lines)
    assert isinstance(line, RestLine) and line.status == 200


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    path = tmp_path / "no-suffix"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps(META) + "\n" + json.dumps(WS) + "\n")
    meta, lines = read_recording(path)
    assert meta.mode == "usdm" and len(list(lines)) == 1


def test_roundtrip_through_writer(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl.gz"
    lines = [
        RestLine(1, "GET", "/papi/v1/account", {"uniMMR": "2"}),
        WsLine(2, "user", {"e": "x"}),
        NoteLine(3, "resync"),
    ]
    write_recording(path, Meta(account="a", mode="portfolio_margin"), lines)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    meta, got = read_recording(path)
    assert meta.account == "a" and list(got) == lines


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"kind": "rest", "t": 1, "path": "/x"', "r.jsonl:2: invalid JSON"),
        ("[1, 2]", "r.jsonl:2: a line must be a JSON object"),
        (
            '{"kind": "rest", "t": "1", "path": "/x", "data": 1}',
            "r.jsonl:2: 't' must be",
        ),
        ('{"kind": "rest", "t": 1, "path": "/x"}', "r.jsonl:2: rest line has no 'data'"),
        ('{"kind": "rest", "t": 1, "path": "x", "data": 1}', "r.jsonl:2: 'path' must start"),
        ('{"kind": "ws", "t": 1, "conn": "spot", "data": {}}', "r.jsonl:2: 'conn' must be one of"),
        ('{"kind": "ws", "t": 1, "conn": "user", "data": "x"}', "r.jsonl:2: ws 'data' must be"),
        ('{"kind": "trade", "t": 1}', "r.jsonl:2: unknown line kind 'trade'"),
        (json.dumps(META), "r.jsonl:2: a second 'meta' line"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = _write(tmp_path / "r.jsonl", [META], bad + "\n")
    _, lines = read_recording(path)
    with pytest.raises(RecordingError, match=message.replace("(", r"\(").replace("[", r"\[")):
        list(lines)


@pytest.mark.parametrize(
    ("first", "message"),
    [
        ({"kind": "rest", "t": 1, "path": "/x", "data": 1}, "r.jsonl:1: the first line must be"),
        ({**META, "version": 2}, "unsupported recording version 2"),
        ({**META, "format": "other"}, "meta 'format' must be"),
        ({**META, "mode": "spot"}, "meta 'mode' must be one of"),
    ],
)
def test_bad_meta_is_rejected(tmp_path: Path, first: object, message: str) -> None:
    with pytest.raises(RecordingError, match=message):
        read_recording(_write(tmp_path / "r.jsonl", [first]))


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(RecordingError, match="empty recording"):
        read_recording(tmp_path / "empty.jsonl")
    with pytest.raises(RecordingError, match="cannot open"):
        read_recording(tmp_path / "missing.jsonl")


def test_corrupt_gzip_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.gz"
    text = json.dumps(META) + "\n" + (json.dumps(WS) + "\n") * 500
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2])
    _, lines = read_recording(path)
    with pytest.raises(RecordingError, match="unreadable"):
        list(lines)
