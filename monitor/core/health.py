"""What the live feed reports about itself, typed: health kinds, resync reasons, `FeedHealth`.

The feed (`feed/live.py`) creates these where it notices something — a stream connecting, a
resync taken, failed or queued, a REST poll failing — and every consumer (the account adapter,
the metrics bridge, the runner) decides on the enums, never on the text. `detail` is the human
sentence kept for logs, `/status` and alert text. The enums' values are public strings: a
`HealthKind` value is the `kind` label of `marginwatch_bad_input_total` for the REST troubles,
and a `ResyncReason` value is the `reason` label of `marginwatch_resyncs_total` (the Grafana
dashboard and Prometheus rules under `deploy/` use them), so they never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HealthKind(StrEnum):
    """What happened (the value is the text logs and metrics have always used)."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    WATCHDOG = "watchdog"
    ROTATED = "rotated"
    #: A resync (or the start-up snapshot) landed.
    RESYNC = "resync"
    #: A resync failed; it is retried with backoff.
    RESYNC_FAILED = "resync_failed"
    #: A resync waits for the shared REST weight budget (`binance/budget.py`) before it can run.
    RESYNC_QUEUED = "resync_queued"
    #: A REST poll (asset index prices, open loss, reconciliation) failed.
    REST_ERROR = "rest_error"


class ResyncReason(StrEnum):
    """Why a full REST snapshot was taken (the value is the resync metric's `reason` label)."""

    STARTUP = "startup"
    DRIFT = "drift"
    LISTEN_KEY = "listen_key"
    #: The user stream (re)connected: whatever happened meanwhile is unknown.
    GAP = "gap"
    #: An exchange event invalidated the state.
    EXCHANGE = "exchange"
    PERIODIC = "periodic"
    OTHER = "other"


#: The reason an account is blind while its resync waits for the shared REST weight budget.
WAITING_FOR_BUDGET = "waiting for REST budget"


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """Something the operator may need to know: stream lifecycle, resyncs, REST trouble."""

    kind: HealthKind
    stream: str  # "market-um", "market-cm", "user", "rest"
    detail: str = ""
    t_ms: int = 0
    #: Resync events (`RESYNC`, `RESYNC_FAILED`, `RESYNC_QUEUED`): why the snapshot is taken.
    reason: ResyncReason | None = None
    #: `CONNECTED`: a planned rotation of a healthy connection (not a reconnect).
    rotation: bool = False
    #: `DISCONNECTED`: a clean stop asked for by us (not trouble).
    stopped: bool = False
