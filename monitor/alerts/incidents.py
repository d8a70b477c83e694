"""Incident keys on Apprise services that can resolve: Opsgenie `alias`, Splunk On-Call
(VictorOps) `entity_id`.

Every alert of an episode carries the episode's incident key (`AlertIntent.incident`, kept in
the outbox with the rendered alert). For these two services the key is set on the Apprise URL of
each send, so the service folds an episode's alerts into one incident, and the all-clear
(Apprise notify type `success`) closes it: Splunk's default action maps success to RECOVERY;
Opsgenie needs `action=map` (success → close), which is added unless the URL sets an action.
A URL that sets its own alias / entity_id keeps it. Other Apprise services have no such key
(Apprise's PagerDuty plugin takes a fixed `dedup=` per URL: use `pagerduty://ROUTING_KEY`,
our own Events v2 sender, instead).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit

#: Apprise scheme → (the URL parameter holding the incident key, parameters added if absent).
KEYED_SCHEMES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "opsgenie": ("alias", (("action", "map"),)),
    "splunk": ("entity_id", ()),
    "victorops": ("entity_id", ()),
}


def with_incident(url: str, incident: str) -> str:
    """`url` with the incident key set where the service supports one (pure)."""
    scheme = url.split("://", 1)[0].lower()
    keyed = KEYED_SCHEMES.get(scheme)
    if not incident or keyed is None:
        return url
    param, extra = keyed
    have = {k.lower() for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
    adds = [(k, v) for k, v in ((param, incident), *extra) if k not in have]
    if not adds:
        return url
    base, sep, fragment = url.partition("#")
    glue = "&" if "?" in base else "?"
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in adds)
    return f"{base}{glue}{query}{sep}{fragment}"
