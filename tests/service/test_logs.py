"""Logging setup (monitor/service/logs.py): JSON vs text vs journald, and secret redaction."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from monitor.base.secrets import MASK
from monitor.service import logs


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    """Put the root logger back as pytest had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def fresh_secret() -> str:
    return "sk/" + secrets.token_hex(12) + "+=&"


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_when_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = io.StringIO()
    logs.configure_logging("DEBUG", stream=out)
    logging.getLogger("monitor.test").info(
        "stream %s reconnected", "market-um", extra={"account": "pm-main", "attempt": 3}
    )
    (line,) = lines(out)
    doc = json.loads(line)
    assert doc["level"] == "INFO" and doc["logger"] == "monitor.test"
    assert doc["msg"] == "stream market-um reconnected"
    assert doc["account"] == "pm-main" and doc["attempt"] == 3
    assert doc["ts"].endswith("Z") and doc["ts"][10] == "T"


def test_extra_fields_never_replace_the_core_keys() -> None:
    out = io.StringIO()
    logs.configure_logging(json=True, stream=out)
    logging.getLogger("monitor.test").warning("real", extra={"level": "fake", "exc": "x"})
    doc = json.loads(out.getvalue())
    assert doc["level"] == "WARNING" and doc["msg"] == "real"
    assert doc["extra_level"] == "fake" and doc["extra_exc"] == "x"


def test_readable_text_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    out = Tty()
    logs.configure_logging(stream=out)
    log = logging.getLogger("monitor.test")
    log.debug("hidden at INFO")
    log.warning("risk %.0f %%", 71, extra={"account": "pm-main"})
    (line,) = lines(out)
    stamp, rest = line[:23], line[24:]
    assert stamp[4] == "-" and stamp[19] == "."
    assert rest == "WARNING monitor.test: risk 71 % [account=pm-main]"


def test_forced_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    tty = Tty()
    logs.configure_logging(json=True, stream=tty)
    logging.getLogger("x").info("a")
    assert json.loads(tty.getvalue())["msg"] == "a"
    pipe = io.StringIO()
    logs.configure_logging(json=False, stream=pipe)
    logging.getLogger("x").info("b")
    assert lines(pipe)[0].endswith("INFO x: b")
    logging.getLogger("x").info("c")
    assert len(lines(tty)) == 1, "configuring again replaces the previous handler"


def test_journald_text_has_priorities_and_no_timestamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w+") as journal:
        st = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        logs.configure_logging(stream=journal)
        log = logging.getLogger("monitor.test")
        log.warning("blind", extra={"account": "um"})
        try:
            raise ValueError("bad frame")
        except ValueError:
            log.exception("decode failed")
        journal.flush()
        text = Path(journal.name).read_text().splitlines()
    assert text[0] == "<4>WARNING monitor.test: blind [account=um]"
    assert text[1] == "<3>ERROR monitor.test: decode failed"
    assert all(line.startswith("<3>") for line in text[1:])
    assert text[-1] == "<3>ValueError: bad frame"


def test_journald_json_keeps_the_priority_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (tmp_path / "journal").open("w+") as journal:
        st = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        logs.configure_logging(json=True, stream=journal)
        logging.getLogger("m").info("up")
        journal.flush()
        line = Path(journal.name).read_text().strip()
    assert line.startswith("<6>{") and json.loads(line[3:])["msg"] == "up"


def test_journal_stream_of_another_file_is_not_journald(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    with (tmp_path / "log").open("w") as other:
        assert not logs.is_journal(other)
    assert not logs.is_journal(io.StringIO())


@pytest.mark.parametrize("as_json", [True, False])
def test_secrets_are_redacted_everywhere(as_json: bool) -> None:
    secret, listen_key = fresh_secret(), secrets.token_hex(32)
    out = io.StringIO()
    logs.configure_logging(json=as_json, stream=out, secrets=[secret])
    logs.add_secret(listen_key)
    log = logging.getLogger("monitor.test")
    log.info("signed with %s", secret)
    log.info("url https://x/y?signature=%s", quote_plus(secret))
    log.info("path /ws/%s", quote(secret, safe=""))
    log.info("listenKey %s", listen_key, extra={"url": f"wss://fstream/ws/{listen_key}"})
    try:
        raise ConnectionError(f"GET /ws/{listen_key} failed (key {secret})")
    except ConnectionError:
        log.exception("stream failed")
    text = out.getvalue()
    for form in (secret, quote(secret, safe=""), quote_plus(secret), listen_key):
        assert form not in text
    assert text.count(MASK) >= 7
    assert "ConnectionError: GET /ws/" in (json.loads(lines(out)[-1])["exc"] if as_json else text)


def test_registered_secrets_and_their_forms() -> None:
    secret = fresh_secret()
    logs.add_secrets([secret, "", "ab"])
    assert {secret, quote(secret, safe=""), quote_plus(secret)} <= logs.registered_secrets()
    assert "ab" not in logs.registered_secrets()
    assert logs.redact(f"x{secret}y") == f"x{MASK}y"


def test_warnings_are_logged() -> None:
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logs.configure_logging(json=True, stream=out)
        warnings.warn("deprecated thing", UserWarning, stacklevel=1)
    doc = json.loads(lines(out)[-1])
    assert doc["logger"] == "py.warnings" and "deprecated thing" in doc["msg"]
