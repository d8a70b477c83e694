"""One account's pure core: ingest → engine → alert policy, its 1 s clock and heavy figures.

`AccountCore` is the whole per-account pipeline minus IO, in the sans-IO style of websockets'
`protocol.py`: the daemon (`service/account.py`, on the wall clock) and a recording
(`marginwatch replay`, `calc`, reports, golden tests, on the file's `t`) drive the very same
object. Every stepping call takes the time as an argument and returns a `Step` (`step.py`):
`feed(line)`, `rest_group(lines)`, `flush(t)`, `tick(now_ms)`, `observe(event, t)`. Everything
an adapter needs to show is a read-only query (`book`, `level`, `risk`, `blind`, `last_seen`,
`counters`, `held_symbols`, `collateral_sources()`, ...); nothing outside reaches into the
ingest stage or the policy.

Time: between lines the policy is ticked once per second of line time, so a gap in the market
data is seen as the monitor going blind, exactly as it would be live. Freshness is watched for
every input of the figure (`Replay.watch`) plus `extra_watch` (live: the user stream).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from monitor.alerts.attention import Attention
from monitor.alerts.levels import AlertIntent, Ladder, Level
from monitor.alerts.policy import AlertPolicy
from monitor.alerts.policy_config import PolicyConfig
from monitor.alerts.policy_events import (
    AccountStatus,
    MarginCall,
    NegativeBalance,
    PolicyEvent,
    RiskLevelChange,
    Seen,
    Watch,
)
from monitor.binance.decode.user_events import ExchangeSignal, ServiceSignal
from monitor.core.figures import heavy_figures
from monitor.core.ingest import Replay
from monitor.core.step import NOTHING, Step, TimedAlert
from monitor.engine.book import Book
from monitor.engine.model import ContractKind, Mode
from monitor.feed.collateral_prices import PriceSource
from monitor.feed.recording import Line, Meta, RestLine, WsLine

TICK_MS = 1_000
#: At most this many price samples are kept; past it every other one is dropped (reports).
MAX_PRICE_SAMPLES = 100_000
#: How often `tick` rebuilds the book's running sums exactly (`Book.resum`, O(legs)):
#: compensated sums drift by ~1 ulp per update, so months of ticks stay anchored.
RESUM_EVERY_MS = 600_000

_CHANGED = Step(changed=True)


@dataclass(slots=True)
class AccountCore:
    """Feeds recording lines through the ingest stage and an `AlertPolicy`; returns `Step`s."""

    meta: Meta
    config: PolicyConfig = field(default_factory=PolicyConfig)
    margin_leverage: int = 3
    #: Compute the heavy figures (distances, liquidation prices, restore) for every alert.
    with_figures: bool = False
    #: Sources watched besides the inputs of the figure (live: `user_stream`).
    extra_watch: frozenset[str] = frozenset()
    #: Keep every (t, risk) in `risks` (reports); a months-long live run turns it off.
    record_risks: bool = True
    #: Keep every alert in `alerts` (reports, tests); the daemon delivers them and keeps none.
    keep_alerts: bool = True
    alerts: list[TimedAlert] = field(default_factory=list)
    risks: list[tuple[int, float]] = field(default_factory=list)
    #: With `record_risks`: (t, ((underlying, mark), ...)) next to each risk sample, one mark
    #: per held underlying (its linear contract's when it has one), thinned past the bound.
    prices: list[tuple[int, tuple[tuple[str, float], ...]]] = field(default_factory=list)
    _ingest: Replay = field(init=False)
    _policy: AlertPolicy = field(init=False)
    _decided: list[TimedAlert] = field(default_factory=list)
    _clock: int | None = None
    _watched: tuple[frozenset[str], tuple[tuple[str, int], ...]] | None = None
    _status: str = "ok"
    _resummed_ms: int = 0

    def __post_init__(self) -> None:
        self._ingest = Replay(self.meta, margin_leverage=self.margin_leverage)
        self._policy = AlertPolicy(self.meta.account, self.config)

    # ------------------------------------------------------------------ stepping
    def feed(self, line: Line) -> Step:
        """Advance the clock to the line and apply it (REST lines wait for their group's end)."""
        t = line.t
        clock = self._clock
        if clock is None or clock + TICK_MS <= t:
            self._advance(t)
        elif t > clock:
            self._clock = t
        ingest = self._ingest
        ingest.feed(line)
        if line.__class__ is WsLine and line.conn == "user":
            self._signals(t)
            self._settle(t)
            return self._step(bool(ingest.fresh), tuple(ingest.last_signals))
        self._settle(t)
        if self._decided:
            return self._step(bool(ingest.fresh))
        return _CHANGED if ingest.fresh else NOTHING  # the hot path: nothing decided

    def flush(self, t: int) -> Step:
        """Apply the pending group of REST lines now (live hands over complete groups)."""
        self._advance(t)
        ingest = self._ingest
        ingest.fresh.clear()
        ingest.last_signals.clear()
        ingest.flush()
        self._settle(t)
        return self._step(bool(ingest.fresh))

    def rest_group(self, lines: Iterable[RestLine]) -> Step:
        """Apply one group of REST answers atomically (a snapshot, resync or refresh)."""
        group = list(lines)
        if not group:
            return NOTHING
        for line in group:
            self.feed(line)
        return self.flush(max(line.t for line in group))

    def tick(self, now_ms: int, alive: Iterable[str] = ()) -> Step:
        """The once-a-second clock: re-anchor the running sums when due, tick the policy to
        `now_ms`, note the `alive` sources as seen (live: the user stream while connected) and
        apply a held event group whose settle window ended."""
        book = self._ingest.book
        if book is not None and now_ms - self._resummed_ms >= RESUM_EVERY_MS:
            self._resummed_ms = now_ms
            book.resum()  # the running sums re-anchored on the exact ones (engine/book.py)
        self._advance(now_ms)
        for source in alive:
            self._emit(self._policy.step(Seen(source), now_ms))
        ingest = self._ingest
        if ingest.release_due(now_ms) and ingest.book is not None:
            if ingest.watch is not self._watched:
                self._watch(now_ms)
            self._evaluate(now_ms)
        return self._step(False)

    def observe(self, event: PolicyEvent, t: int) -> Step:
        """Step the policy with an event from outside the lines (liveness, drift, ack...)."""
        self._advance(t)
        self._emit(self._policy.step(event, t))
        return self._step(False)

    def finish(self) -> Step:
        """The end of a recording: apply what is still held or pending."""
        self._ingest.release()
        self._ingest.flush()
        return self._step(False)

    def resume(self, ladder: Ladder, t: int) -> None:
        """Continue from what a previous run announced (`AlertPolicy.resume`). With a resumed
        account status, the first status seen is handed to the policy whatever it is, and the
        policy announces it only if it differs from the resumed one."""
        self._policy.resume(ladder, t)
        if ladder.status is not None:
            self._status = ""  # not a status: the next one seen always reaches the policy

    def restore(self, attention: Attention, t: int) -> None:
        """Acks and snoozes saved by a previous run (`AlertPolicy.restore`)."""
        self._policy.restore(attention, t)

    def run(self, lines: Iterable[Line]) -> list[TimedAlert]:
        """Feed a whole recording; the alerts kept (`alerts`)."""
        for line in lines:
            self.feed(line)
        self.finish()
        return self.alerts

    def iterate(self, lines: Iterable[Line]) -> Iterator[TimedAlert]:
        """Alerts as they are decided (for printing a timeline while replaying)."""
        for line in lines:
            yield from self.feed(line).alerts
        yield from self.finish().alerts

    # ------------------------------------------------------------------ queries
    @property
    def book(self) -> Book | None:
        """The engine's book (None before the first usable snapshot). Read it, never step it."""
        return self._ingest.book

    @property
    def mode(self) -> Mode | None:
        return self._ingest.mode

    @property
    def counters(self) -> Mapping[str, int]:
        """Ingest counters: frames, decode errors, rejected input, signals, resyncs."""
        return self._ingest.counters

    @property
    def warnings(self) -> list[str]:
        """Why input was rejected (snapshot and engine errors), in order."""
        return self._ingest.warnings

    @property
    def last_t(self) -> int:
        """The latest line time seen."""
        return self._ingest.last_t

    @property
    def held_symbols(self) -> frozenset[str]:
        """Symbols with an open position."""
        return self._ingest.held_symbols

    @property
    def settling(self) -> bool:
        """A Portfolio Margin event group is held, waiting for its closing event."""
        return self._ingest.settling

    def priced_assets(self) -> frozenset[str]:
        """Portfolio Margin: the assets whose USD index price values the account."""
        return self._ingest.priced_assets()

    @property
    def proxy_symbols(self) -> frozenset[str]:
        """Portfolio Margin: the perpetuals whose streamed index prices value collateral."""
        return frozenset(self._ingest.pricer.symbols)

    def collateral_sources(self) -> dict[str, PriceSource]:
        """Portfolio Margin: where each collateral asset's USD price comes from."""
        return self._ingest.pricer.sources()

    @property
    def level(self) -> Level | None:
        return self._policy.level

    @property
    def risk(self) -> float | None:
        """The last risk the policy judged (None before the first)."""
        return self._policy.risk

    @property
    def blind(self) -> bool:
        return self._policy.blind

    @property
    def evaluating(self) -> bool:
        """The policy judges risk (every watched source seen at least once)."""
        return self._policy.evaluating

    @property
    def last_seen(self) -> Mapping[str, int]:
        """Watched source → when it last delivered data (ms)."""
        return self._policy.last_seen

    def attention(self, now_ms: int) -> Attention:
        """The ack and snooze that hold at `now_ms`."""
        return self._policy.attention(now_ms)

    # ------------------------------------------------------------------ internals
    def _step(self, changed: bool, signals: tuple[ServiceSignal, ...] = ()) -> Step:
        decided = self._decided
        if not decided and not signals:
            return _CHANGED if changed else NOTHING
        alerts = tuple(decided)
        decided.clear()
        return Step(alerts, signals, changed)

    def _settle(self, t: int) -> None:
        """After a line or group was applied: freshness, status and the risk for the policy."""
        ingest = self._ingest
        book = ingest.book
        if book is None:
            return
        if ingest.watch is not self._watched:
            self._watch(t)
        policy = self._policy
        for source in ingest.fresh:
            seen = policy.seen(source, t)
            if seen:
                self._emit(seen)
        if book.state.status != self._status:
            # A status pushed with an exchange signal was alerted as that signal already.
            self._status = book.state.status
            if not ingest.last_signals:
                status = "NORMAL" if self._status == "ok" else self._status
                self._emit(policy.step(AccountStatus(status), t))
        if ingest.fresh:
            self._evaluate(t)

    def _evaluate(self, t: int) -> None:
        """The policy sees the book's settled risk (a held event group is not applied yet)."""
        book = self._ingest.book
        assert book is not None
        if self.record_risks:
            self.risks.append((t, book.risk))
            self._record_prices(book, t)
        decided = self._policy.on_risk(book.risk, t)
        if decided:
            self._emit(decided)

    def _record_prices(self, book: Book, t: int) -> None:
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
        """Tick once per second of line time up to `t` (the policy's staleness clock)."""
        if self._clock is None:
            self._clock = t
            return
        policy = self._policy
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
        watched = self._ingest.watch
        if watched is not self._watched:
            self._watched = watched
            sources, limits = watched
            self._emit(self._policy.step(Watch(sources | self.extra_watch, limits), t))

    def _signals(self, t: int) -> None:
        ingest = self._ingest
        book = ingest.book
        policy = self._policy
        for signal in ingest.last_signals:
            if not isinstance(signal, ExchangeSignal):
                continue
            if book is not None and book.mode is Mode.PORTFOLIO_MARGIN:
                self._emit(policy.step(RiskLevelChange(signal.kind), t))
            else:
                self._emit(policy.step(MarginCall(), t))
        if book is None:
            return
        pm = book.mode is Mode.PORTFOLIO_MARGIN
        for rec in book.state.assets.values():
            balance = min(rec.um_wallet, rec.cm_wallet) if pm else rec.cross_wallet
            if balance < 0.0:
                self._emit(policy.step(NegativeBalance(rec.asset, balance), t))

    def _emit(self, intents: Iterable[AlertIntent]) -> None:
        book = self._ingest.book
        for intent in intents:
            if book is None:
                timed = TimedAlert(intent, None)
            else:
                figures = heavy_figures(book.state) if self.with_figures else None
                timed = TimedAlert(intent, book.snapshot(), figures)
            self._decided.append(timed)
            if self.keep_alerts:
                self.alerts.append(timed)
