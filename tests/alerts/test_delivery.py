"""Destinations, routing and sender choice (monitor/alerts/delivery.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from monitor.alerts.apprise_send import AppriseSender
from monitor.alerts.delivery import (
    destination,
    destinations,
    destinations_from_config,
    routes,
)
from monitor.alerts.destinations import SenderSettings, sender_for
from monitor.alerts.levels import AlertKind, Level
from monitor.alerts.telegram import TelegramSender
from tests.alerts.sinks import BOT_TOKEN, make_intent

MAIL = "mailto://user:pw-123456@127.0.0.1:2525?mode=insecure&from=a@example.com&to=b@example.com"


def test_destination_is_stable_and_never_shows_its_secrets() -> None:
    d = destination(MAIL, ["critical", " ", "alice"])
    assert d.tags == {"critical", "alice"}
    assert d.dest_id == destination(MAIL).dest_id and len(d.dest_id) == 16
    assert "pw-123456" not in repr(d) and "pw-123456" not in d.display
    assert "pw-123456" in d.secrets
    assert d.scheme == "mailto" and not d.is_telegram


def test_invalid_url_error_is_redacted() -> None:
    with pytest.raises(ValueError, match="not a valid Apprise URL") as err:
        destination("nosuch://user:hunter2-pw@example.com/x")
    assert "hunter2-pw" not in str(err.value)


def test_telegram_url_becomes_one_destination_per_chat() -> None:
    dests = destinations([(f"tgram://{BOT_TOKEN}/-1001/-1002", ["emergency"])])
    assert [d.url for d in dests] == [f"tgram://{BOT_TOKEN}/-1001", f"tgram://{BOT_TOKEN}/-1002"]
    assert all(d.is_telegram and d.tags == {"emergency"} for d in dests)
    assert len({d.dest_id for d in dests}) == 2
    assert all("AAbbCCddEEff" not in d.display for d in dests)


@pytest.mark.parametrize(
    ("tags", "level", "account", "expected"),
    [
        ((), Level.WARNING, "alice", True),
        (("critical",), Level.WARNING, "alice", False),
        (("critical",), Level.EMERGENCY, "alice", True),
        (("critical", "bob"), Level.EMERGENCY, "alice", False),
        (("critical", "alice"), Level.CRITICAL, "alice", True),
        (("alice",), Level.WARNING, "alice", True),
        (("ops",), Level.EMERGENCY, "alice", False),
    ],
)
def test_routing_by_category_and_account(
    tags: tuple[str, ...], level: Level, account: str, expected: bool
) -> None:
    d = destination("json://127.0.0.1:9/hook", tags)
    assert d.accepts(make_intent(level=level, account=account)) is expected


def test_routes_picks_the_accepting_destinations() -> None:
    ops = destination("json://127.0.0.1:9/ops", ["ops"])
    info = destination("json://127.0.0.1:9/info", ["info"])
    blind = make_intent(kind=AlertKind.BLIND, level=None)
    assert routes([ops, info], blind) == []
    tagged = replace(blind, tags=blind.tags | {"ops"})
    assert routes([ops, info], tagged) == [ops]


def test_yaml_config_with_tags(tmp_path: Path) -> None:
    cfg = tmp_path / "apprise.yml"
    cfg.write_text(
        "urls:\n"
        "  - json://127.0.0.1:9/hook:\n"
        "      tag: critical, alice\n"
        f"  - tgram://{BOT_TOKEN}/-1001/-1002\n"
    )
    dests = destinations_from_config(cfg)
    assert [d.tags for d in dests] == [{"critical", "alice"}, set(), set()]
    assert [d.url for d in dests][1:] == [
        f"tgram://{BOT_TOKEN}/-1001",
        f"tgram://{BOT_TOKEN}/-1002",
    ]


def test_text_config(tmp_path: Path) -> None:
    cfg = tmp_path / "apprise.txt"
    cfg.write_text("ops=json://127.0.0.1:9/ops\n")
    (d,) = destinations_from_config(cfg)
    assert d.tags == {"ops"}


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found"):
        destinations_from_config(tmp_path / "missing.yml")
    empty = tmp_path / "empty.yml"
    empty.write_text("urls:\n  - nosuch://x\n")
    with pytest.raises(ValueError, match="no valid URL"):
        destinations_from_config(empty)


async def test_sender_choice() -> None:
    tg = sender_for(
        destination(f"tgram://{BOT_TOKEN}/-1001"), SenderSettings(telegram_api_base="http://x")
    )
    other = sender_for(destination("json://127.0.0.1:9/hook"))
    assert isinstance(tg, TelegramSender) and isinstance(other, AppriseSender)
    await tg.aclose()
    await other.aclose()
