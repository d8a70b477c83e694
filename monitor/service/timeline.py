"""Alert timeline of a recording: replay → engine → alert policy, on the recording's own clock.

This is the account pipeline minus delivery, driven by recorded lines instead of live sockets:
`marginwatch replay` prints it and the golden tests compare it. Time is the recording's `t`;
between lines the policy is ticked once per second, so a gap in the recording's market data
is seen as the monitor going blind, exactly as it would be live. Freshness is watched for the
mark price of every held symbol (a replay cannot see a quiet user stream's liveness).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from monitor.alerts import policy as pol
from monitor.alerts.messages import HeavyFigures
from monitor.binance.user_events import ExchangeSignal
from monitor.engine.model import ContractKind, Mode
from monitor.engine.risk import RiskSnapshot
from monitor.feed.recording import Line, Meta, WsLine
from monitor.feed.replay import Replay
from monitor.service.figures import heavy_figures

TICK_MS = 1_000
#: At most this many price samples are kept; past it every other one is dropped (reports).
MAX_PRICE_SAMPLES = 100_000


@dataclass(frozen=True, slots=True)
class TimedAlert:
    """An alert intent with the figures at the moment it was decided."""

    intent: pol.AlertIntent
    snapshot: RiskSnapshot | None
    figures: HeavyFigures | None = None


@dataclass(slots=True)
class AlertTimeline:
    """Feeds recording lines through a `Replay` and an `AlertPolicy`; collects the alerts."""

    meta: Meta
    config: pol.PolicyConfig = field(default_factory=pol.PolicyConfig)
    margin_leverage: int = 3
    #: Compute the heavy figures (distances, liquidation prices, restore) for every alert.
    with_figures: bool = False
    #: Sources watched besides the held symbols' marks (live: `user_stream`).
    extra_watch: frozenset[str] = frozenset()
    #: Keep every (t, risk) in `risks` (reports); a months-long live run turns it off.
    record_risks: bool = True
    replay: Replay = field(init=False)
    policy: pol.AlertPolicy = field(init=False)
    alerts: list[TimedAlert] = field(default_factory=list)
    risks: list[tuple[int, float]] = field(default_factory=list)
    #: With `record_risks`: (t, ((underlying, mark), ...)) next to each risk sample, one mark
    #: per held underlying (its linear contract's when it has one), thinned past the bound.
    prices: list[tuple[int, tuple[tuple[str, float], ...]]] = field(default_factory=list)
    _clock: int | None = None
    _watched: tuple[frozenset[str], tuple[tuple[str, int], ...]] | None = None
    _status: str = "ok"

    def __post_init__(self) -> None:
        self.replay = Replay(self.meta, margin_leverage=self.margin_leverage)
        self.policy = pol.AlertPolicy(self.meta.account, self.config)

    def feed(self, line: Line) -> list[TimedAlert]:
        """Advance the clock to the line, apply it, and return the alerts it caused."""
        alerts = self.alerts
        start = len(alerts)
        t = line.t
        clock = self._clock
        if clock is None or clock + TICK_MS <= t:
            self._advance(t)
        elif t > clock:
            self._clock = t
        self.replay.feed(line)
        if line.__class__ is WsLine and line.conn == "user":
            self._signals(t)
        self._settle(t)
        return alerts[start:] if len(alerts) > start else []

    def flush(self, t: int) -> list[TimedAlert]:
        """Apply the pending group of REST lines now (live hands over complete groups)."""
        start = len(self.alerts)
        self._advance(t)
        replay = self.replay
        replay.fresh.clear()
        replay.last_signals.clear()
        replay.flush()
        self._settle(t)
        return self.alerts[start:]

    def _settle(self, t: int) -> None:
        """After a line or group was applied: freshness, status and the risk for the policy."""
        replay = self.replay
        book = replay.book
        if book is None:
            return
        if replay.watch is not self._watched:
            self._watch(t)
        policy = self.policy
        for source in replay.fresh:
            seen = policy.seen(source, t)
            if seen:
                self._emit(seen)
        if book.state.status != self._status:
            # A status pushed with an exchange signal was alerted as that signal already.
            self._status = book.state.status
            if not replay.last_signals:
                status = "NORMAL" if self._status == "ok" else self._status
                self._step(pol.AccountStatus(status), t)
        if replay.fresh:
            self._evaluate(t)

    def _evaluate(self, t: int) -> None:
        """The policy sees the book's settled risk (a held event group is not applied yet)."""
        book = self.replay.book
        assert book is not None
        if self.record_risks:
            self.risks.append((t, book.risk))
            self._record_prices(t)
        decided = self.policy.on_risk(book.risk, t)
        if decided:
            self._emit(decided)

    def advance(self, t: int) -> list[TimedAlert]:
        """Let time pass without a line (the live service's once-a-second tick); a held event
        group whose settle window ended is applied and evaluated."""
        start = len(self.alerts)
        self._advance(t)
        replay = self.replay
        if replay.release_due(t) and replay.book is not None:
            if replay.watch is not self._watched:
                self._watch(t)
            self._evaluate(t)
        return self.alerts[start:]

    def resume(self, ladder: pol.Ladder, t: int) -> None:
        """Continue from what a previous run announced (`AlertPolicy.resume`). With a resumed
        account status, the first status seen is handed to the policy whatever it is, and the
        policy announces it only if it differs from the resumed one."""
        self.policy.resume(ladder, t)
        if ladder.status is not None:
            self._status = ""  # not a status: the next one seen always reaches the policy

    def observe(self, event: pol.PolicyEvent, t: int) -> list[TimedAlert]:
        """Step the policy with an event from outside the lines (liveness, drift)."""
        start = len(self.alerts)
        self._advance(t)
        self._step(event, t)
        return self.alerts[start:]

    def run(self, lines: Iterable[Line]) -> list[TimedAlert]:
        for line in lines:
            self.feed(line)
        self.replay.release()
        self.replay.flush()
        return self.alerts

    def iterate(self, lines: Iterable[Line]) -> Iterator[TimedAlert]:
        """Alerts as they are decided (for printing a timeline while replaying)."""
        for line in lines:
            yield from self.feed(line)
        self.replay.release()
        self.replay.flush()

    # ------------------------------------------------------------------ internals
    def _record_prices(self, t: int) -> None:
        book = self.replay.book
        assert book is not None
        state = book.state
        picked: dict[str, tuple[float, bool]] = {}
        for symbol in sorted({pos.symbol for pos in state.positions.values()}):
            contract, mark = state.contracts.get(symbol), state.marks.get(symbol)
            if contract is None or mark is None:
                continue
            linear = contract.kind is ContractKind.LINEAR
            if contract.base_asset not in picked or (linear and not picked[contract.base_asset][1]):
                picked[contract.base_asset] = (mark, linear)
        if len(self.prices) >= MAX_PRICE_SAMPLES:
            del self.prices[1::2]
        self.prices.append((t, tuple((u, m) for u, (m, _) in sorted(picked.items()))))

    def _advance(self, t: int) -> None:
        """Tick once per second of recording time up to `t` (the policy's staleness clock)."""
        if self._clock is None:
            self._clock = t
            return
        policy = self.policy
        clock = self._clock
        while clock + TICK_MS <= t:
            clock += TICK_MS
            self._clock = clock
            ticked = policy.on_tick(clock)
            if ticked:
                self._emit(ticked)
        self._clock = clock if clock > t else t

    def _watch(self, t: int) -> None:
        """Watch every input of the figure (`Replay.watch`); O(1) unless it changed."""
        watched = self.replay.watch
        if watched is not self._watched:
            self._watched = watched
            sources, limits = watched
            self._step(pol.Watch(sources | self.extra_watch, limits), t)

    def _signals(self, t: int) -> None:
        book = self.replay.book
        for signal in self.replay.last_signals:
            if not isinstance(signal, ExchangeSignal):
                continue
            if book is not None and book.mode is Mode.PORTFOLIO_MARGIN:
                self._step(pol.RiskLevelChange(signal.kind), t)
            else:
                self._step(pol.MarginCall(), t)
        if book is None:
            return
        pm = book.mode is Mode.PORTFOLIO_MARGIN
        for rec in book.state.assets.values():
            balance = min(rec.um_wallet, rec.cm_wallet) if pm else rec.cross_wallet
            if balance < 0.0:
                self._step(pol.NegativeBalance(rec.asset, balance), t)

    def _step(self, event: pol.PolicyEvent, t: int) -> None:
        self._emit(self.policy.step(event, t))

    def _emit(self, intents: Iterable[pol.AlertIntent]) -> None:
        book = self.replay.book
        for intent in intents:
            if book is None:
                self.alerts.append(TimedAlert(intent, None))
                continue
            figures = heavy_figures(book.state) if self.with_figures else None
            self.alerts.append(TimedAlert(intent, book.snapshot(), figures))
