"""The recorder writes what the pipeline applied; its files replay to the same figures."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from monitor import examples
from monitor.calc import build_report, calc_file
from monitor.core.ingest import Replay
from monitor.feed.recorder import RecordingWriter
from monitor.feed.recording import Meta, RestLine, WsLine, read_recording


def _live_lines(name: str) -> tuple[Meta, list[RestLine | WsLine]]:
    """A bundled recording's lines as the live feed produces them (frames as raw text)."""
    meta, lines = read_recording(examples.path(name))
    out: list[RestLine | WsLine] = []
    for line in lines:
        if isinstance(line, WsLine):
            out.append(WsLine(line.t, line.conn, None, json.dumps(line.data)))
        elif isinstance(line, RestLine):
            out.append(line)
    return meta, out


def test_a_recorded_session_replays_to_identical_figures(tmp_path: Path) -> None:
    meta, lines = _live_lines("portfolio_margin")
    replay = Replay(meta)
    out = tmp_path / "live.jsonl.gz"
    writer = RecordingWriter(out, meta, held=lambda: replay.held_symbols)
    for line in lines:
        writer.write(line)
        replay.feed(line)
    writer.close()
    live = build_report(replay.run([]))
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    recorded = calc_file(out)
    for key in ("risk", "uni_mmr", "equity", "maint_margin", "positions", "distance"):
        assert recorded[key] == live[key], key
    assert recorded == calc_file(examples.path("portfolio_margin")) | {
        "account": recorded["account"],
        "events": recorded["events"],
    }


def test_user_frames_are_embedded_exactly_and_junk_becomes_a_note(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    writer = RecordingWriter(out, Meta(account="a"))
    text = '{"e":"ACCOUNT_UPDATE","E":1,"T":1,"a":{"m":"ORDER","B":[],"P":[]}}'
    writer.write(WsLine(5, "user", None, text))
    writer.write(WsLine(6, "market", None, '{"e":"markPriceUpdate",'))
    writer.close()
    rows = out.read_text().splitlines()
    assert json.loads(rows[0])["kind"] == "meta"
    assert rows[1] == f'{{"kind":"ws","t":5,"conn":"user","data":{text}}}'
    note = json.loads(rows[2])
    assert note["kind"] == "note" and "not JSON" in note["text"]
    assert writer.dropped == 1


def test_market_arrays_are_cut_to_what_the_account_holds(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    held = frozenset({"BTCUSDT", "ADA"})
    writer = RecordingWriter(out, Meta(), held=lambda: held)
    frame = [
        {"e": "markPriceUpdate", "s": "BTCUSDT", "p": "1"},
        {"e": "markPriceUpdate", "s": "XRPUSDT", "p": "2"},
        {"e": "assetIndexUpdate", "s": "ADAUSD", "B": "0.9", "A": "1.0"},
        {"e": "assetIndexUpdate", "s": "DOGEUSD", "B": "0.9", "A": "1.0"},
    ]
    writer.write(WsLine(1, "market", None, json.dumps({"stream": "x", "data": frame})))
    writer.write(WsLine(2, "market", None, json.dumps([frame[1]])))
    writer.close()
    rows = [json.loads(r) for r in out.read_text().splitlines()]
    assert len(rows) == 2  # the XRP-only frame is not recorded
    assert [i["s"] for i in rows[1]["data"]["data"]] == ["BTCUSDT", "ADAUSD"]


def test_rotation_starts_each_part_with_meta_and_the_latest_snapshot(tmp_path: Path) -> None:
    meta, lines = _live_lines("usdm")
    out = tmp_path / "live.jsonl.gz"
    replay = Replay(meta)
    writer = RecordingWriter(out, meta, max_bytes=40_000, held=lambda: replay.held_symbols)
    for line in lines:
        writer.write(line)
        replay.feed(line)
    writer.close()
    assert len(writer.parts) >= 2
    for part in [*writer.parts, out]:
        with gzip.open(part, "rt") as handle:
            first = json.loads(handle.readline())
        assert first["kind"] == "meta"
        assert calc_file(part)["mode"] == "usdm"  # every part replays on its own
    assert calc_file(out)["risk"] == build_report(replay.run([]))["risk"]
