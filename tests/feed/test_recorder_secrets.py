"""listenKeys never reach a recording (issue 13 item 6): not in user frames, not in notes.

UM's `listenKeyExpired` names the key (docs sample and the live capture of go-binance#510), and
a `/private/stream` user frame is wrapped with the key as its stream name; notes are free text.
The recorder writes the frame with the key replaced, and the file still replays: the event
decodes to the same signal.
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

from monitor import examples
from monitor.base.secrets import MASK, redact_text
from monitor.binance.decode.user_events import ListenKeyExpired, translate_frame
from monitor.engine.model import Mode
from monitor.feed.recorder import RecordingWriter
from monitor.feed.recording import Meta, RestLine, WsLine, frame_data, read_recording

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def a_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(64))


def test_listen_keys_in_frames_and_notes_are_not_recorded(tmp_path: Path) -> None:
    key = a_key()
    expired = json.loads((SAMPLES / "listen_key_expired_um.json").read_text(encoding="utf-8"))
    expired["listenKey"] = key
    update = json.loads((SAMPLES / "account_update_um.json").read_text(encoding="utf-8"))
    wrapped = {"stream": key, "data": update}
    _, example = read_recording(examples.path("usdm"))
    out = tmp_path / "live.jsonl"
    writer = RecordingWriter(out, Meta(mode="usdm"))
    for line in example:
        if isinstance(line, RestLine):
            writer.write(line)
    writer.write(WsLine(10, "user", None, json.dumps(expired)))  # as received (raw text)
    writer.write(WsLine(11, "user", wrapped))
    writer.note(12, f"reconnecting to /private/ws?listenKey={key}&events=ACCOUNT_UPDATE")
    writer.note(13, f"user stream /pm/ws/{key} closed")
    writer.note(14, "periodic full resync")
    writer.close()

    text = out.read_text(encoding="utf-8")
    assert key not in text
    _, lines = read_recording(out)
    frames = [line for line in lines if isinstance(line, WsLine)]
    rows = [json.loads(row) for row in text.splitlines()]
    notes = [row["text"] for row in rows if row.get("kind") == "note"]
    assert frame_data(frames[0]) == {**expired, "listenKey": MASK}
    assert frame_data(frames[1]) == {"stream": MASK, "data": update}
    assert notes == [
        f"reconnecting to /private/ws?listenKey={MASK}&events=ACCOUNT_UPDATE",
        f"user stream /pm/ws/{MASK} closed",
        "periodic full resync",
    ]
    # The redacted frames still mean what they meant.
    signals = translate_frame(frame_data(frames[0]), Mode.USDM).signals
    assert signals == (ListenKeyExpired(1736996475556),)
    assert translate_frame(frame_data(frames[1]), Mode.USDM).events


def test_frames_without_a_key_are_embedded_as_received(tmp_path: Path) -> None:
    raw = (SAMPLES / "account_update_um.json").read_text(encoding="utf-8")
    compact = json.dumps(json.loads(raw), separators=(",", ":"))
    out = tmp_path / "live.jsonl"
    writer = RecordingWriter(out, Meta(mode="usdm"))
    writer.write(WsLine(10, "user", None, compact))
    writer.close()
    assert f'"data":{compact}}}' in out.read_text(encoding="utf-8")


def test_redact_text_leaves_ordinary_notes_alone() -> None:
    for text in ("connected", "listenKey expired", "user stream reconnected",
                 "drift from the exchange's figures"):
        assert redact_text(text) == text
