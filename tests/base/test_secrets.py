"""The one secrets module (monitor/base/secrets.py): one mask for given secrets, the registry, URLs
and free text."""

from __future__ import annotations

import secrets as random_secrets
from urllib.parse import quote, quote_plus

from monitor.base import secrets

LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"


def test_one_mask_everywhere() -> None:
    mask = secrets.MASK
    url = f"wss://user:hunter2@fstream.binance.com/ws/{LISTEN_KEY}?signature=abcdef"
    redacted = f"wss://user:{mask}@fstream.binance.com/ws/{mask}?signature={mask}"
    assert secrets.redact_url(url) == redacted
    assert secrets.scrub("key hunter2", {"hunter2"}) == f"key {mask}"
    assert secrets.scrub_url(f"GET {url} failed", url) == f"GET {secrets.redact_url(url)} failed"
    note = f"reconnect ?listenKey={LISTEN_KEY}"
    assert secrets.redact_text(note) == f"reconnect ?listenKey={mask}"


def test_scrub_masks_the_longest_first_and_ignores_empty_secrets() -> None:
    assert secrets.scrub("abcdef and abc", {"abc", "abcdef", ""}) == "**** and ****"


def test_secret_params_are_the_query_parameters_masked() -> None:
    for name in sorted(secrets.SECRET_PARAMS):
        assert secrets.redact_url(f"https://h/p?{name}=value1&other=x") == (
            f"https://h/p?{name}={secrets.MASK}&other=x"
        )


def test_the_registry_masks_every_form_of_a_value() -> None:
    value = f"s/{random_secrets.token_hex(8)} +x"
    secrets.add_secrets([value, "", "ab"])
    forms = secrets.registered_secrets()
    assert {value, quote(value, safe=""), quote_plus(value)} <= forms
    assert "ab" not in forms
    assert secrets.redact(f"<{quote_plus(value)}>") == f"<{secrets.MASK}>"
