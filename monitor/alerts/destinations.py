"""The one place that turns configured notify targets into destinations and their senders.

Every command that delivers builds its destinations and senders here: the daemon
(`service/daemon.py`), `marginwatch test-alert` (`alerts/testalert.py`) and
`marginwatch replay --notify` (`alerts/batch.py`). A `Target` is one configured URL with its
routing tags and options; `targets_of` lists a config's targets (`[[notify]]` each with its own
timeout and urgency, then the Apprise config file's URLs, then extra `--notify` URLs);
`build_destinations` validates them (`delivery.destinations`: one destination per Telegram
chat); `sender_for` picks the sender of one destination with the service-wide
`SenderSettings` (`[alerts] telegram_api_base`, `pagerduty_events_url`, Telegram buttons):

- `pagerduty://ROUTING_KEY` → `pagerduty.PagerDutySender` (Events v2, incidents per episode),
- `tgram://` → `telegram.TelegramSender` (Bot API, `retry_after`, buttons),
- anything else → `apprise_send.AppriseSender`.

A new notifier option is a field of `Target` (per destination) or of `SenderSettings`
(service-wide), read from the config in `targets_of` / `settings_of` and passed on in
`sender_for` (CONTRIBUTING.md, "Add a notifier option").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.alerts.apprise_send import DEFAULT_TIMEOUT_S, AppriseSender
from monitor.alerts.delivery import Destination, destinations
from monitor.alerts.pagerduty import DEFAULT_EVENTS_URL, PagerDutySender, is_events_url, routing_key
from monitor.alerts.sender import Sender
from monitor.alerts.telegram import DEFAULT_API_BASE, TelegramSender, parse_tgram

if TYPE_CHECKING:
    from monitor.config import Config


@dataclass(frozen=True, slots=True)
class Target:
    """One configured destination before validation. `url` is a secret: never in its repr."""

    url: str = field(repr=False)
    tags: tuple[str, ...] = ()
    #: Seconds to wait for the destination's answer before the outcome counts as unknown.
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: "auto": the alert's urgency picks notify type and priority; "none": every alert alike.
    urgency: str = "auto"


@dataclass(frozen=True, slots=True)
class SenderSettings:
    """Service-wide sender options (`[alerts]`, `[telegram]`)."""

    telegram_api_base: str = DEFAULT_API_BASE
    pagerduty_events_url: str = DEFAULT_EVENTS_URL
    #: Level alerts sent to Telegram carry Ack / Snooze / Status buttons.
    telegram_buttons: bool = False
    #: Overrides every destination's own timeout (`test-alert` waits 30 s); None: their own.
    timeout_s: float | None = None


def targets_of(config: Config, extra_urls: Sequence[str] = ()) -> list[Target]:
    """Every destination of `config`: `[[notify]]` (each with its own timeout and urgency),
    then the Apprise config file's URLs, then `extra_urls` (`run --notify`), revealed."""
    out = [
        Target(t.url_value(), tuple(t.tags), timeout_s=t.timeout_s, urgency=t.urgency)
        for t in config.notify
    ]
    out += [Target(url, tuple(tags)) for url, tags in config.apprise_targets()]
    out += [Target(url) for url in extra_urls]
    return out


def settings_of(config: Config | None, *, timeout_s: float | None = None) -> SenderSettings:
    """The sender settings of `config` (the defaults without one); `timeout_s` overrides every
    destination's own timeout."""
    if config is None:
        return SenderSettings(timeout_s=timeout_s)
    telegram = config.telegram
    return SenderSettings(
        telegram_api_base=config.alerts.telegram_api_base,
        pagerduty_events_url=config.alerts.pagerduty_events_url,
        telegram_buttons=telegram is not None and telegram.commands,
        timeout_s=timeout_s,
    )


def build_destinations(targets: Iterable[Target]) -> list[Destination]:
    """The destinations of `targets`, in order; ValueError (redacted) on a bad URL."""
    out: list[Destination] = []
    for target in targets:
        out += destinations(
            [(target.url, target.tags)], timeout_s=target.timeout_s, urgency=target.urgency
        )
    return out


def sender_for(dest: Destination, settings: SenderSettings | None = None) -> Sender:
    """The sender for one destination: our Events v2 client for pagerduty://ROUTING_KEY, our
    Telegram client for tgram://, Apprise otherwise."""
    settings = settings or SenderSettings()
    timeout_s = dest.timeout_s if settings.timeout_s is None else settings.timeout_s
    if is_events_url(dest.url):
        return PagerDutySender(
            routing_key(dest.url),
            dest.secrets,
            events_url=settings.pagerduty_events_url,
            timeout_s=timeout_s,
        )
    if dest.is_telegram:
        token, chats = parse_tgram(dest.url)
        return TelegramSender(
            token,
            chats[0],
            dest.secrets,
            api_base=settings.telegram_api_base,
            timeout_s=timeout_s,
            urgency=dest.urgency,
            buttons=settings.telegram_buttons,
        )
    return AppriseSender(dest.url, dest.secrets, timeout_s=timeout_s, urgency=dest.urgency)


def build_routes(
    dests: Iterable[Destination], settings: SenderSettings | None = None
) -> list[tuple[Destination, Sender]]:
    """Each destination with its sender (what `DeliveryWorker` serves)."""
    return [(dest, sender_for(dest, settings)) for dest in dests]
