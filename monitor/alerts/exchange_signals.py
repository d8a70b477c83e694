"""`ExchangeSignals`: the policy's alerts on what the exchange says beside risk.

Drift between a local figure and the exchange's own (`Drift`), the exchange's margin calls, risk
level and account status changes, negative balances and an API key that may do more than read.
Each is deduplicated (a drifting figure once until it agrees again, an exchange topic once per
`exchange_dedup_ms`, a status only when it changes). Pure: `now_ms` is an argument; the intents
are built by the owning `AlertPolicy` (`IntentBuilder`), which also applies acks and snoozes.
"""

from __future__ import annotations

from typing import Protocol

from monitor.alerts.levels import AlertIntent, AlertKind, Level, status_level
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import Drift

_NOTHING: tuple[AlertIntent, ...] = ()


class IntentBuilder(Protocol):
    """`AlertPolicy._intent`: builds an intent with the account's tags, incident and attention."""

    def __call__(
        self,
        kind: AlertKind,
        level: Level | None,
        now_ms: int,
        audience: Level | None = None,
        *,
        peak: Level | None = None,
        ops: bool = False,
        info: bool = False,
        topic: str = "",
        detail: str = "",
        page: bool = False,
        incident: str | None = None,
    ) -> AlertIntent: ...


class ExchangeSignals:
    """Drift and exchange-signal alerts of one account (state: what was already said)."""

    def __init__(self, config: PolicyConfig, build: IntentBuilder) -> None:
        self._config = config
        self._build = build
        self._drifting: set[str] = set()
        self._sent: dict[str, int] = {}
        #: The account status last reported (None: never); `AlertPolicy.resume` restores it.
        self.status: str | None = None
        self._negative: set[str] = set()

    def margin_call(self, now_ms: int) -> tuple[AlertIntent, ...]:
        return self.exchange("MARGIN_CALL", Level.CRITICAL, "margin call", now_ms)

    def risk_level_change(
        self, status: str, uni_mmr: float | None, now_ms: int
    ) -> tuple[AlertIntent, ...]:
        note = f"riskLevelChange {status}" + (
            f" (uniMMR {uni_mmr:.3f})" if uni_mmr is not None else ""
        )
        return self.exchange(f"riskLevelChange:{status}", status_level(status), note, now_ms)

    def drift(self, event: Drift, now_ms: int) -> tuple[AlertIntent, ...]:
        cfg = self._config
        gap = abs(event.local - event.exchange)
        tol = cfg.drift_abs_tol + cfg.drift_rel_tol * max(abs(event.local), abs(event.exchange))
        if gap <= tol:
            self._drifting.discard(event.figure)
            return _NOTHING
        if event.figure in self._drifting:
            return _NOTHING
        self._drifting.add(event.figure)
        detail = f"{event.figure}: local {event.local:.6g} vs exchange {event.exchange:.6g}"
        return (
            self._build(
                AlertKind.DRIFT, None, now_ms, None, ops=True, topic=event.figure, detail=detail
            ),
        )

    def key(self, enabled: tuple[str, ...], now_ms: int) -> tuple[AlertIntent, ...]:
        if not enabled:
            return _NOTHING
        detail = (
            f"the API key allows {', '.join(enabled)}; a monitor needs only reading — restrict "
            "the key (Binance API management) or create a read-only one"
        )
        return (
            self._build(
                AlertKind.EXCHANGE, None, now_ms, None, ops=True, topic="api-key", detail=detail
            ),
        )

    def exchange(
        self, topic: str, level: Level | None, detail: str, now_ms: int
    ) -> tuple[AlertIntent, ...]:
        last = self._sent.get(topic)
        if last is not None and now_ms - last < self._config.exchange_dedup_ms:
            return _NOTHING
        self._sent[topic] = now_ms
        return (
            self._build(
                AlertKind.EXCHANGE,
                level,
                now_ms,
                level,
                info=level is None,
                topic=topic,
                detail=detail,
            ),
        )

    def status_change(self, status: str, now_ms: int) -> tuple[AlertIntent, ...]:
        previous, self.status = self.status, status
        if status == previous or (previous is None and status_level(status) is None):
            return _NOTHING
        detail = f"account status {previous or 'unknown'} → {status}"
        return self.exchange(f"accountStatus:{status}", status_level(status), detail, now_ms)

    def negative(self, asset: str, amount: float, now_ms: int) -> tuple[AlertIntent, ...]:
        if amount >= 0.0:
            self._negative.discard(asset)
            return _NOTHING
        if asset in self._negative:
            return _NOTHING
        self._negative.add(asset)
        detail = f"negative {asset} balance {amount:.8g}: auto-conversion pending"
        return (
            self._build(
                AlertKind.EXCHANGE,
                Level.WARNING,
                now_ms,
                Level.WARNING,
                topic=f"negativeBalance:{asset}",
                detail=detail,
            ),
        )

