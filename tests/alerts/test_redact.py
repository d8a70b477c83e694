"""Redaction of notification URLs (monitor/alerts/redact.py) and scrubbing of secrets with the one
mask (monitor/base/secrets.py)."""

from __future__ import annotations

import logging

import pytest

from monitor.alerts.redact import (
    APPRISE_LOGGER,
    ScrubFilter,
    guard_apprise_logs,
    redacted_url,
    url_secrets,
)
from monitor.base.secrets import MASK, scrub

TG = "tgram://123456789:AAbbCCddEEff112233/-100123"
MAIL = "mailto://user:s3cret-pw@127.0.0.1:2525?mode=insecure&from=a@example.com&to=b@example.com"


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        (TG, "AAbbCCddEEff112233"),
        (MAIL, "s3cret-pw"),
        ("json://127.0.0.1:8080/hook?token=abcdefgh1234", "abcdefgh1234"),
        ("json://user:p%40ss@127.0.0.1:8080/a", "p@ss"),
        ("discord://1234567/abcdefghijklmnop", "abcdefghijklmnop"),
    ],
)
def test_display_hides_and_secrets_name_the_sensitive_parts(url: str, secret: str) -> None:
    shown = redacted_url(url)
    assert secret not in shown and "?" not in shown
    assert secret in url_secrets(url)
    assert secret not in scrub(f"POST {url} failed: {secret}", url_secrets(url))


def test_routing_parts_stay_visible() -> None:
    assert redacted_url(MAIL) == "mailto://user:****@127.0.0.1:2525/b%40example.com"
    assert redacted_url(TG).endswith("/-100123/")
    assert "mode" not in url_secrets(MAIL)


def test_urls_apprise_cannot_load_are_masked_wholesale() -> None:
    assert redacted_url("nosuch://user:pw@host.example:99/tokentoken") == (
        f"nosuch://host.example:99/{MASK}"
    )
    assert redacted_url("not a url at all") == f"url:///{MASK}"
    assert redacted_url("nosuch://host:notaport/x") == f"nosuch:///{MASK}"
    assert "tokentoken" in url_secrets("nosuch://host/tokentoken")
    assert "notaport" in url_secrets("nosuch://host:notaport/x")


def test_scrub_masks_longest_first() -> None:
    assert scrub("abcdef and abc", {"abc", "abcdef"}) == f"{MASK} and {MASK}"
    assert scrub("nothing here", {"secret"}) == "nothing here"


def test_filter_scrubs_formatted_records() -> None:
    filt = ScrubFilter()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token %s", ("tok-123",), None)
    assert filt.filter(record) and record.getMessage() == "token tok-123"
    filt.register({"tok-123"})
    assert filt.filter(record)
    assert record.getMessage() == f"token {MASK}"


def test_apprise_logger_is_guarded_once(caplog: pytest.LogCaptureFixture) -> None:
    guard_apprise_logs({"hunter2-secret"})
    guard_apprise_logs({"hunter2-secret"})
    log = logging.getLogger(APPRISE_LOGGER)
    assert sum(isinstance(f, ScrubFilter) for f in log.filters) == 1
    with caplog.at_level(logging.WARNING, logger=APPRISE_LOGGER):
        log.warning("login with hunter2-secret failed")
    assert "hunter2-secret" not in caplog.text and MASK in caplog.text
