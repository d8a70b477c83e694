"""The recording file format (docs/recording.md, version 1): read and write JSON Lines.

A recording is a `meta` line, then `rest` lines (raw REST responses keyed by method + path),
`ws` lines (raw frames with receive time and connection name) and optional `note` lines, in
receive order; optionally gzip-compressed (detected by magic bytes, not by name). Reading is
strict about structure and names the offending line; unknown keys are ignored.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

FORMAT = "marginwatch-recording"
VERSION = 1
MODES = ("usdm", "usdm_multi_assets", "coinm", "portfolio_margin")
CONNS = ("market", "user")
_GZIP_MAGIC = b"\x1f\x8b"


class RecordingError(ValueError):
    """An unreadable or invalid recording; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Meta:
    account: str = "main"
    mode: str | None = None
    environment: str | None = None
    started: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RestLine:
    t: int
    method: str
    path: str
    data: Any
    params: dict[str, Any] = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True, slots=True)
class WsLine:
    """A websocket frame: parsed `data` (read from a file) or the `text` exactly as received (live).

    Live frames keep their raw text so the hot path decodes them once, with the fast decoders;
    `data` is then None until the frame is written to a recording (`frame_data`).
    """

    t: int
    conn: str
    data: Any
    text: str | None = None


def frame_data(line: WsLine) -> Any:
    """The parsed frame (raises ValueError for a frame that is not JSON)."""
    if line.text is None:
        return line.data
    return json.loads(line.text)


@dataclass(frozen=True, slots=True)
class NoteLine:
    t: int
    text: str


Line = RestLine | WsLine | NoteLine


def _open_text(path: Path) -> IO[str]:
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == _GZIP_MAGIC:
        return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8")
    return io.TextIOWrapper(raw, encoding="utf-8")


def _int(obj: dict[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordingError(f"{where}: '{key}' must be an integer (ms since epoch)")
    return value


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise RecordingError(f"{where}: '{key}' must be a non-empty string")
    return value


def parse_meta(obj: dict[str, Any], where: str) -> Meta:
    if obj.get("format") != FORMAT:
        raise RecordingError(f"{where}: meta 'format' must be {FORMAT!r}")
    if obj.get("version") != VERSION:
        raise RecordingError(
            f"{where}: unsupported recording version {obj.get('version')!r} (this reads {VERSION})"
        )
    mode = obj.get("mode")
    if mode is not None and mode not in MODES:
        raise RecordingError(f"{where}: meta 'mode' must be one of {', '.join(MODES)}")
    known = {"kind", "format", "version", "account", "mode", "environment", "started"}
    account = obj.get("account", "main")
    started = obj.get("started")
    return Meta(
        account=str(account),
        mode=mode,
        environment=obj.get("environment"),
        started=started if isinstance(started, int) else None,
        extra={k: v for k, v in obj.items() if k not in known},
    )


def parse_line(obj: dict[str, Any], where: str) -> Line:
    """One non-meta line; raises RecordingError naming `where`."""
    kind = obj.get("kind")
    if kind == "rest":
        method = obj.get("method", "GET")
        if not isinstance(method, str):
            raise RecordingError(f"{where}: 'method' must be a string")
        path = _str(obj, "path", where)
        if not path.startswith("/"):
            raise RecordingError(f"{where}: 'path' must start with '/' (got {path!r})")
        if "data" not in obj:
            raise RecordingError(f"{where}: rest line has no 'data'")
        status = obj.get("status", 200)
        if isinstance(status, bool) or not isinstance(status, int):
            raise RecordingError(f"{where}: 'status' must be an integer")
        params = obj.get("params") or {}
        if not isinstance(params, dict):
            raise RecordingError(f"{where}: 'params' must be an object")
        return RestLine(_int(obj, "t", where), method.upper(), path, obj["data"], params, status)
    if kind == "ws":
        conn = _str(obj, "conn", where)
        if conn not in CONNS:
            raise RecordingError(f"{where}: 'conn' must be one of {', '.join(CONNS)}")
        data = obj.get("data")
        if not isinstance(data, dict | list):
            raise RecordingError(f"{where}: ws 'data' must be a JSON object or array")
        return WsLine(_int(obj, "t", where), conn, data)
    if kind == "note":
        text = obj.get("text", "")
        return NoteLine(_int(obj, "t", where), text if isinstance(text, str) else str(text))
    if kind == "meta":
        raise RecordingError(f"{where}: a second 'meta' line (exactly one, first)")
    raise RecordingError(f"{where}: unknown line kind {kind!r} (expected rest, ws or note)")


def read_recording(path: str | Path) -> tuple[Meta, Iterator[Line]]:
    """Open a recording: its meta line now, the other lines lazily (errors name the line)."""
    path = Path(path)
    try:
        handle = _open_text(path)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    numbered = _numbered_objects(handle, path)
    try:
        lineno, first = next(numbered)
    except StopIteration:
        handle.close()
        raise RecordingError(f"{path}: empty recording (no meta line)") from None
    if first.get("kind") != "meta":
        handle.close()
        raise RecordingError(f"{path}:{lineno}: the first line must be the 'meta' line")
    meta = parse_meta(first, f"{path}:{lineno}")

    def lines() -> Iterator[Line]:
        with handle:
            for number, obj in numbered:
                yield parse_line(obj, f"{path}:{number}")

    return meta, lines()


def _numbered_objects(handle: IO[str], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    number = 0
    try:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RecordingError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
            except ValueError as exc:  # an integer beyond Python's digit limit
                raise RecordingError(f"{path}:{number}: invalid JSON: {exc}") from None
            except RecursionError:
                raise RecordingError(f"{path}:{number}: invalid JSON: nested too deeply") from None
            if not isinstance(obj, dict):
                raise RecordingError(f"{path}:{number}: a line must be a JSON object")
            yield number, obj
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:  # BadGzipFile: OSError
        raise RecordingError(f"{path}:{number + 1}: unreadable: {exc}") from None


def meta_line(meta: Meta) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "meta", "format": FORMAT, "version": VERSION}
    out["account"] = meta.account
    for key in ("mode", "environment", "started"):
        value = getattr(meta, key)
        if value is not None:
            out[key] = value
    out.update(meta.extra)
    return out


def line_dict(line: Line) -> dict[str, Any]:
    if isinstance(line, RestLine):
        out: dict[str, Any] = {"kind": "rest", "t": line.t, "method": line.method}
        out.update(path=line.path, params=line.params, status=line.status, data=line.data)
        return out
    if isinstance(line, WsLine):
        return {"kind": "ws", "t": line.t, "conn": line.conn, "data": frame_data(line)}
    return {"kind": "note", "t": line.t, "text": line.text}


def write_recording(path: str | Path, meta: Meta, lines: Iterable[Line]) -> None:
    """Write a whole recording; gzip when the name ends in `.gz`."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.write(json.dumps(meta_line(meta), separators=(",", ":")) + "\n")
        for line in lines:
            out.write(json.dumps(line_dict(line), separators=(",", ":")) + "\n")
