"""What one call of the account core returns: the alerts it decided, the signals it decoded.

`AccountCore.feed(line)`, `.tick(now_ms)` and the other stepping calls each return a `Step`
instead of leaving results in attributes to be read back: the adapter delivers `alerts`, hands
`signals` to the feed (listenKey renewal, a resync, an open-loss refresh) and, when `changed`,
notes that the account's figures were just updated.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerts.levels import AlertIntent
from monitor.alerts.messages import HeavyFigures
from monitor.binance.decode.user_events import ServiceSignal
from monitor.engine.risk import RiskSnapshot


@dataclass(frozen=True, slots=True)
class TimedAlert:
    """An alert intent with the figures at the moment it was decided."""

    intent: AlertIntent
    snapshot: RiskSnapshot | None
    figures: HeavyFigures | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one core call."""

    #: Alerts decided by this call, in order.
    alerts: tuple[TimedAlert, ...] = ()
    #: Service signals of the user events applied (exchange warnings, resync requests, ...).
    signals: tuple[ServiceSignal, ...] = ()
    #: Fresh data was applied: the account's figures are as of this call's time.
    changed: bool = False


#: The step of a call that decided nothing.
NOTHING = Step()
