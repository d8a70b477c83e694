"""What-if price shocks: parse them, apply them to a copy of an account's state, report.

A `Shock` moves prices by a fraction per underlying (`BTC:-0.10`), optionally all non-stable
prices at once (`all:-0.05`; an underlying named on its own keeps its own move), and may set
an asset's Portfolio Margin collateral rate (`rate BTC:0.9`, flat over all amounts). A move
applies alike to the mark of every contract on that base asset, to the asset's PM index price
and to its Multi-Assets bid/ask rates — exactly what `engine.valuation.Move` moves, so a
single-underlying shock agrees with `evaluate(state, Move(1 + x, underlying))`. The shocked
state is a fresh copy; the live book is never touched. Pure: no IO.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.calc import build_report
from monitor.engine.book import Book
from monitor.engine.collateral import CollateralTiers
from monitor.engine.model import AccountState, Mode

#: The name standing for every non-stable price.
ALL = "all"
#: Largest move accepted either way (+1000 %); a move must keep prices positive (> -100 %).
MAX_MOVE = 10.0
_ASSET = re.compile(r"^[A-Za-z0-9]{1,20}$")


class ShockError(ValueError):
    """A move or rate that cannot be applied (the message is one line for the user)."""


@dataclass(frozen=True, slots=True)
class Shock:
    """Price moves (fractions: -0.10 is -10 %) and collateral-rate overrides."""

    moves: tuple[tuple[str, float], ...] = ()
    uniform: float | None = None
    rates: tuple[tuple[str, float], ...] = ()

    def factor(self, asset: str, stablecoins: frozenset[str]) -> float:
        """How much `asset`'s prices are multiplied by."""
        for name, move in self.moves:
            if name == asset:
                return 1.0 + move
        if self.uniform is not None and asset not in stablecoins:
            return 1.0 + self.uniform
        return 1.0

    def describe(self) -> dict[str, Any]:
        """The shock as the API answers it (fractions)."""
        return {
            "moves": dict(self.moves),
            "all": self.uniform,
            "rates": dict(self.rates),
        }


def _number(text: str, what: str) -> float:
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        raise ShockError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ShockError(f"{what}: {text!r} is not a finite number")
    return value / 100.0 if percent else value


def _split(spec: str, what: str) -> tuple[str, str]:
    for sep in (":", "="):
        name, found, value = spec.partition(sep)
        if found:
            name = name.strip()
            if not _ASSET.match(name):
                raise ShockError(f"{what} {spec!r}: {name!r} is not an asset name")
            return name, value
    raise ShockError(f"{what} {spec!r}: expected ASSET:FRACTION or ASSET=PERCENT%")


def parse_shock(moves: Iterable[str], rates: Iterable[str] = ()) -> Shock:
    """`BTC:-0.10`, `BTC=-10%`, `all:-0.05` moves and `BTC:0.9` rates as a `Shock`."""
    named: dict[str, float] = {}
    uniform: float | None = None
    for spec in moves:
        name, text = _split(spec, "move")
        move = _number(text, f"move {spec!r}")
        if not -1.0 < move <= MAX_MOVE:
            raise ShockError(
                f"move {spec!r}: must be above -100 % and at most +{MAX_MOVE * 100:.0f} %"
            )
        if name.lower() == ALL:
            if uniform is not None:
                raise ShockError(f"move {spec!r}: 'all' given twice")
            uniform = move
            continue
        asset = name.upper()
        if asset in named:
            raise ShockError(f"move {spec!r}: {asset} given twice")
        named[asset] = move
    set_rates: dict[str, float] = {}
    for spec in rates:
        name, text = _split(spec, "rate")
        rate = _number(text, f"rate {spec!r}")
        if not 0.0 <= rate <= 1.0:
            raise ShockError(f"rate {spec!r}: a collateral rate is between 0 and 1")
        set_rates[name.upper()] = rate
    return Shock(tuple(sorted(named.items())), uniform, tuple(sorted(set_rates.items())))


def known_assets(state: AccountState) -> set[str]:
    """The assets a shock can name: base assets of priced contracts and the account's assets."""
    out = set(state.assets)
    for symbol in state.marks:
        contract = state.contracts.get(symbol)
        if contract is not None:
            out.add(contract.base_asset)
    return out


def check_shock(state: AccountState, shock: Shock) -> None:
    """ShockError when the shock names an asset the account does not know, or sets a
    collateral rate outside Portfolio Margin."""
    known = known_assets(state)
    for name in [n for n, _ in shock.moves] + [n for n, _ in shock.rates]:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ShockError(f"{name} is not an asset of this account (known: {listed})")
    if shock.rates and state.mode is not Mode.PORTFOLIO_MARGIN:
        raise ShockError(
            f"rate applies to Portfolio Margin collateral; this account is {state.mode.value}"
        )


def apply_shock(state: AccountState, shock: Shock) -> None:
    """Apply `shock` in place to `state` (which the caller owns: use `shocked`)."""
    stable = state.stablecoins
    for symbol, mark in list(state.marks.items()):
        contract = state.contracts.get(symbol)
        if contract is None:
            continue
        f = shock.factor(contract.base_asset, stable)
        if f != 1.0:
            state.marks[symbol] = mark * f
    for name, rec in state.assets.items():
        f = shock.factor(name, stable)
        if f != 1.0:
            rec.index_price *= f
            rec.bid_rate *= f
            rec.ask_rate *= f
    for name, rate in shock.rates:
        state.asset(name).collateral = CollateralTiers.flat(rate)


def light_copy(state: AccountState) -> AccountState:
    """A copy whose prices and asset records can be changed without touching `state` (the
    contracts and positions are shared: for evaluation only, never for a `Book`)."""
    return dataclasses.replace(
        state,
        marks=dict(state.marks),
        assets={name: dataclasses.replace(rec) for name, rec in state.assets.items()},
    )


def shocked(state: AccountState, shock: Shock) -> AccountState:
    """A deep copy of `state` with `shock` applied (checked first: ShockError)."""
    check_shock(state, shock)
    out = state.copy()
    apply_shock(out, shock)
    return out


def whatif_report(state: AccountState, shock: Shock) -> dict[str, Any]:
    """The `calc --json` report of `state` after `shock`, plus a `whatif` key describing it."""
    book = Book(shocked(state, shock))
    report = build_report(book)
    report["whatif"] = shock.describe()
    return report


def shock_from_query(query: Mapping[str, list[str]]) -> Shock:
    """The shock of a query string's `move=` and `rate=` values."""
    return parse_shock(query.get("move", []), query.get("rate", []))


def whatif_file(
    path: str | Path,
    moves: Iterable[str],
    rates: Iterable[str] = (),
    *,
    margin_leverage: int = 3,
) -> dict[str, Any]:
    """`marginwatch whatif`: replay recording `path` to its end, then the report after the shock
    (RecordingError / WireError / EngineError on a bad recording, ShockError on a bad shock)."""
    from monitor.core.ingest import Replay
    from monitor.feed.recording import read_recording

    shock = parse_shock(moves, rates)
    meta, lines = read_recording(path)
    book = Replay(meta, margin_leverage=margin_leverage).run(lines)
    report = whatif_report(book.state, shock)
    report["account"] = meta.account
    return report


def describe_text(shock: Mapping[str, Any]) -> str:
    """A report's `whatif` key as one line: "BTC -10.00 %, all +5.00 %, rate BTC 0.90"."""
    parts = [f"{name} {move * 100:+.2f} %" for name, move in shock["moves"].items()]
    if shock["all"] is not None:
        parts.append(f"all non-stable {shock['all'] * 100:+.2f} %")
    parts += [f"collateral rate {name} {rate:.4g}" for name, rate in shock["rates"].items()]
    return ", ".join(parts) or "no move"
