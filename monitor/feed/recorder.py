"""The recorder: tees a live account's lines into a recording file (docs/recording.md).

`RecordingWriter` appends lines as the pipeline applies them, so a replay of the file sees the
same lines in the same order. Frames are written exactly as received (their text is embedded,
not re-encoded); a frame that is not JSON cannot be embedded and becomes a `note`. Market frames
carrying many symbols (`!markPrice@arr`, `!assetIndex@arr`) are cut down to what the account
holds, unless `all_market` is set. Files ending in `.gz` are gzip-compressed; the stream is
flushed at most once a second so a crash loses little. When a file grows past `max_bytes`
(uncompressed) it is closed and renamed with the time of its last line inserted before the
suffix (`live.jsonl.gz` → `live.20261121T101500Z.jsonl.gz`), and a fresh file starts with the
meta line, the latest response of every REST path and the user frames recorded since the last
full snapshot, so every part replays on its own to the same state.

listenKeys are bearer secrets and never reach a recording: REST lines carry no `listenKey`
parameter (`recording.to_rest_line`), user frames that name one (`listenKeyExpired`, the
`/private/stream` wrapper) are recorded with it replaced by the mask `****`, and notes' free text
is scrubbed of anything shaped like one (`redact_text`; both from `monitor.base.secrets`).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from monitor.base.secrets import MASK, redact_text
from monitor.core.ingest import REFRESH_ONLY
from monitor.feed.recording import Line, Meta, NoteLine, RestLine, WsLine, line_dict, meta_line

_COMPACT = (",", ":")
DEFAULT_MAX_BYTES = 256 * 2**20


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=_COMPACT, ensure_ascii=False)


def _held_only(data: Any, symbols: frozenset[str]) -> Any | None:
    """`data` reduced to elements about held symbols/assets; None when nothing is left."""
    if isinstance(data, dict) and "stream" in data and "data" in data:
        inner = _held_only(data["data"], symbols)
        return None if inner is None else {**data, "data": inner}
    if not isinstance(data, list):
        return data
    kept = [item for item in data if not isinstance(item, dict) or _about(item, symbols)]
    return kept or None


def _about(item: dict[str, Any], symbols: frozenset[str]) -> bool:
    name = item.get("s")
    if not isinstance(name, str):
        return True
    if item.get("e") == "assetIndexUpdate":
        # `ADAUSD` is the ADA asset index: kept when the account holds ADA.
        return name.endswith("USD") and name[:-3] in symbols
    return name in symbols


def _redact_user(data: Any) -> Any:
    """A user frame without its listenKey: `listenKeyExpired` names it, and a `/private/stream`
    wrapper's `stream` is the key. The same object when there is nothing to hide."""
    if isinstance(data, dict) and "stream" in data and "data" in data:
        inner = _redact_user(data["data"])
        return {**data, "stream": MASK, "data": inner}
    if isinstance(data, dict) and isinstance(data.get("listenKey"), str):
        return {**data, "listenKey": MASK}
    return data


class RecordingWriter:
    """Append-only writer of one account's recording, with size-based rotation."""

    def __init__(
        self,
        path: str | Path,
        meta: Meta,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        all_market: bool = False,
        #: The held symbols and assets (market frames about anything else are not recorded).
        held: Callable[[], frozenset[str]] = frozenset,
        flush_every_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.meta = meta
        self.max_bytes = max_bytes
        self.all_market = all_market
        self._held = held
        self._flush_every_s = flush_every_s
        self._rest: dict[str, RestLine] = {}
        self._user_since_snapshot: list[str] = []  # rows re-written at the top of a new part
        self._out: IO[str] | None = None
        self._bytes = 0
        self._last_t = 0
        self._last_flush = 0.0
        self.lines = 0
        self.parts: list[Path] = []
        self.dropped = 0
        self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".gz":
            self._out = gzip.open(  # noqa: SIM115 (kept open across writes; closed in close())
                self.path, "wt", encoding="utf-8", compresslevel=6
            )
        else:
            self._out = self.path.open("w", encoding="utf-8")
        self._bytes = 0
        self._write(_dumps(meta_line(self.meta)))
        for line in self._rest.values():
            self._write(_dumps(line_dict(line)))
        for row in self._user_since_snapshot:
            self._write(row)

    def _write(self, text: str) -> None:
        assert self._out is not None
        self._out.write(text)
        self._out.write("\n")
        self._bytes += len(text) + 1
        self.lines += 1

    def write(self, line: Line) -> None:
        """Append one line (rotating first when the file is full)."""
        if self._out is None:
            return
        if self._bytes >= self.max_bytes:
            self._rotate()
        self._last_t = max(self._last_t, line.t)
        if isinstance(line, RestLine):
            path = line.path.split("?", 1)[0]
            self._rest[path] = line
            if path not in REFRESH_ONLY:
                self._user_since_snapshot.clear()  # a full snapshot: the state restarts here
            self._write(_dumps(line_dict(line)))
        elif isinstance(line, WsLine):
            self._frame(line)
        else:
            if isinstance(line, NoteLine):
                line = NoteLine(line.t, redact_text(line.text))
            self._write(_dumps(line_dict(line)))
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every_s:
            self._last_flush = now
            self._out.flush()

    def note(self, t: int, text: str) -> None:
        self.write(NoteLine(t, text))

    def _frame(self, line: WsLine) -> None:
        if line.text is None:
            data: Any = line.data
        else:
            try:
                data = json.loads(line.text)
            except ValueError:
                self.dropped += 1
                size = len(line.text)
                self._write(_dumps(line_dict(NoteLine(line.t, f"{line.conn} frame of {size}"
                                                      " bytes is not JSON; not recorded"))))
                return
        if line.conn == "market" and not self.all_market:
            data = _held_only(data, self._held())
            if data is None:
                return
        if line.conn == "user":
            redacted = _redact_user(data)
            if redacted is not data:  # a listenKey in the frame: re-encoded without it
                data, line = redacted, WsLine(line.t, line.conn, redacted, None)
            if line.text is not None and "\n" not in line.text and "\r" not in line.text:
                # Embedded exactly as received (one physical line, so JSONL stays intact).
                row = f'{{"kind":"ws","t":{line.t},"conn":"user","data":{line.text}}}'
            else:
                row = _dumps({"kind": "ws", "t": line.t, "conn": "user", "data": data})
            self._user_since_snapshot.append(row)
            self._write(row)
            return
        self._write(_dumps({"kind": "ws", "t": line.t, "conn": line.conn, "data": data}))

    def _rotate(self) -> None:
        assert self._out is not None
        self._out.close()
        stamp = datetime.fromtimestamp(self._last_t / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")
        name = self.path.name
        stem, dot, rest = name.partition(".")
        target = self.path.with_name(f"{stem}.{stamp}{dot}{rest}" if dot else f"{stem}.{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{stem}.{stamp}-{n}{dot}{rest}")
            n += 1
        self.path.rename(target)
        self.parts.append(target)
        self._open()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
