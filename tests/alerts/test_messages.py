"""Rendering of alerts into Telegram HTML, email and one-line forms (monitor/alerts/messages.py)."""

from __future__ import annotations

import html
import re
from zoneinfo import ZoneInfo

import pytest

from monitor.alerts.levels import AlertIntent, AlertKind, Level, level_tags
from monitor.alerts.messages import (
    TELEGRAM_MAX,
    HeavyFigures,
    RenderedAlert,
    label,
    native_figure,
    render,
    summary,
    telegram_html,
    top_contributors,
)
from monitor.engine.model import Mode
from monitor.engine.risk import AssetFigures, LegFigures, PoolFigures, RiskSnapshot

T_MS = 1_735_826_584_000  # 2025-01-02 14:03:04 UTC


def leg(symbol: str, mm: float, settle: str = "USDT", side: str = "LONG") -> LegFigures:
    return LegFigures(symbol, side, 1.0, 100.0, 101.0, 1.0, mm, 1000.0, settle, False, 0.0)


def futures_snapshot() -> RiskSnapshot:
    pool = PoolFigures("USDT", "USDT", 12_345.67, 10_777.0, 1.0, False, 10_777.0 / 12_345.67)
    legs = (
        leg("BTCUSDT", 5000.0),
        leg("ETHUSDT", 3000.0, side="SHORT"),
        leg("SOLUSDT", 2000.0),
        leg("XRPUSDT", 777.0),
    )
    asset = AssetFigures("USDT", 12_345.67, 12_345.67, 10_777.0, 10_777.0)
    return RiskSnapshot(Mode.USDM, pool.risk, (pool,), (asset,), legs, "ok")


def pm_snapshot(mm: float = 1000.0) -> RiskSnapshot:
    pool = PoolFigures("USD", "USD", 1500.0, mm, 1.05, False, 1.05 * mm / 1500.0 if mm else 0.0)
    assets = (
        AssetFigures("BTC", 0.01, 950.0, 600.0, 0.006),  # MM: 100 000 USD per BTC
        AssetFigures("USDT", 550.0, 550.0, 400.0, 400.0),
    )
    legs = (leg("BTCUSD_PERP", 0.006, settle="BTC"), leg("ETHUSDT", 400.0))
    return RiskSnapshot(Mode.PORTFOLIO_MARGIN, pool.risk, (pool,), assets, legs, "MARGIN_CALL")


def intent(
    kind: AlertKind = AlertKind.LEVEL,
    level: Level | None = Level.CRITICAL,
    account: str = "main",
    detail: str = "",
    peak: Level | None = None,
    topic: str = "",
) -> AlertIntent:
    return AlertIntent(
        alert_id=f"{account}/{kind}/{level}/{T_MS}",
        account=account,
        kind=kind,
        level=level,
        risk=0.873,
        t_ms=T_MS,
        tags=level_tags(level) | {account},
        topic=topic,
        detail=detail,
        peak=peak,
    )


HEAVY = HeavyFigures(
    distance_down=0.082,
    distance_up=0.31,
    nearest_underlying="ETH",
    nearest_distance=-0.051,
    liquidation_prices={("BTCUSDT", "LONG"): 58_123.4, ("ETHUSDT", "SHORT"): 4_012.5},
    marks={"BTCUSDT": 62_500.0, "ETHUSDT": 3_700.0},
    deposit=("USDT", 1240.0),
    cut=("BTCUSDT", 0.30),
)


def test_full_futures_alert() -> None:
    out = render(intent(), futures_snapshot(), HEAVY, ZoneInfo("Europe/Berlin"))
    assert isinstance(out, RenderedAlert)
    assert out.subject == "[CRITICAL] main: risk reached critical, risk 87.3 %"
    text = out.text
    assert "margin ratio 87.29 %" in text
    assert "Equity 12,345.67 USDT · maintenance margin 10,777.00 USDT" in text
    assert "Liquidation at a uniform move of −8.2 % or +31.0 %" in text
    assert "Nearest single underlying: ETH −5.1 %" in text
    # nearest to its mark first: ETH is 8.4 % away, BTC 7.0 %
    assert (
        "Liquidation: BTCUSDT LONG liq 58,123 (mark 62,500, −7.0 %);"
        " ETHUSDT SHORT liq 4,012 (mark 3,700, +8.4 %)"
    ) in text
    assert "deposit 1,240.00 USDT to return to 50 %" in text
    assert "cut BTCUSDT by 30 %" in text
    assert "2025-01-02 15:03:04 CET (2025-01-02 14:03:04 UTC)" in text
    assert "alert main/level/critical/" in text
    top = text.split("Top maintenance margin: ")[1].splitlines()[0]
    assert top.startswith("BTCUSDT LONG MM 5,000.00 USDT (46 %); ETHUSDT SHORT")
    assert "XRPUSDT" not in top
    assert "\n" not in out.line and out.line.startswith("2025-01-02T14:03:04Z CRITICAL main")
    # the action comes right after the headline, before any figure, in every rendering
    lines = text.splitlines()
    assert lines[1] == (
        "To restore safety: deposit 1,240.00 USDT to return to 50 % or cut BTCUSDT by 30 %"
    )
    assert html.unescape(out.html).splitlines()[1] == lines[1]
    assert out.line.index("deposit 1,240.00 USDT") < out.line.index("BTCUSDT LONG liq 58,123")
    assert "(mark 62,500, −7.0 %)" in out.line and "(mark 3,700, +8.4 %)" in out.line


def test_time_zone_shown_once_when_local_is_utc() -> None:
    for zone in (ZoneInfo("UTC"), ZoneInfo("Etc/UTC")):
        text = render(intent(), None, None, zone).text
        assert "2025-01-02 14:03:04 UTC · alert" in text
        assert "(2025-01-02 14:03:04 UTC)" not in text and text.count("UTC") == 1


def test_many_positions_fit_telegram_with_action_first() -> None:
    prices = {(f"COIN{i:03d}USDT", "LONG"): 100.0 + i for i in range(400)}
    marks = {sym: 150.0 + i for i, (sym, _) in enumerate(prices)}
    heavy = HeavyFigures(
        liquidation_prices=prices, marks=marks, deposit=("USDT", 5000.0), target_risk=0.5
    )
    out = render(intent(detail="x" * 3000), futures_snapshot(), heavy, ZoneInfo("Asia/Tokyo"))
    assert _utf16(out.html) <= TELEGRAM_MAX
    shown = html.unescape(out.html).splitlines()
    assert shown[1] == "To restore safety: deposit 5,000.00 USDT to return to 50 %"
    assert shown[-1].endswith(f"alert {intent().alert_id}")
    assert "liq" in out.text and "(mark " in out.text


@pytest.mark.parametrize(
    ("kind", "level", "urgency"),
    [
        (AlertKind.LEVEL, Level.EMERGENCY, "emergency"),
        (AlertKind.REPEAT, Level.EMERGENCY, "emergency"),
        (AlertKind.LEVEL, Level.CRITICAL, "critical"),
        (AlertKind.DEESCALATION, Level.WARNING, "warning"),
        (AlertKind.ALL_CLEAR, None, "success"),
        (AlertKind.RESTORED, None, "success"),
        (AlertKind.EXCHANGE, None, "info"),
        (AlertKind.DIGEST, None, "info"),
    ],
)
def test_urgency_survives_as_the_subject_label(
    kind: AlertKind, level: Level | None, urgency: str
) -> None:
    out = render(intent(kind, level, peak=Level.CRITICAL, topic="accountStatus:NORMAL"), None)
    stored = RenderedAlert(out.subject, out.text, out.html, out.line)  # what the outbox keeps
    assert stored.urgency == urgency


def test_portfolio_margin_shows_unimmr_and_ranks_legs_in_usd() -> None:
    snap = pm_snapshot()
    assert native_figure(snap) == "uniMMR 1.500"
    out = render(intent(), snap)
    assert "mode portfolio_margin" in out.text
    assert "Exchange status: MARGIN_CALL" in out.text
    assert top_contributors(snap)[0].startswith("BTCUSD_PERP LONG MM 0.006 BTC (60 %)")
    assert native_figure(pm_snapshot(mm=0.0)) == "uniMMR ∞ (no maintenance margin)"


def test_without_snapshot_or_heavy_figures() -> None:
    out = render(intent(AlertKind.BLIND, None, detail="no fresh data: rest"), None)
    assert out.subject == "[BLIND] main: monitor blind, risk 87.3 %"
    assert "Risk 87.3 % (no snapshot)" in out.text
    assert "Top maintenance margin" not in out.text


@pytest.mark.parametrize(
    ("kind", "level", "peak", "topic", "tag", "words"),
    [
        (AlertKind.REPEAT, Level.EMERGENCY, None, "", "EMERGENCY", "emergency persists"),
        (AlertKind.DEESCALATION, Level.WARNING, Level.CRITICAL, "", "WARNING", "eased from"),
        (AlertKind.ALL_CLEAR, None, Level.CRITICAL, "", "ALL CLEAR", "peak was critical"),
        (AlertKind.RAPID, Level.WARNING, None, "", "RAPID", "rapid deterioration"),
        (AlertKind.RESTORED, None, None, "", "RESTORED", "sight restored"),
        (AlertKind.DRIFT, None, None, "uniMMR", "DRIFT", "disagree"),
        (AlertKind.EXCHANGE, None, None, "accountStatus:NORMAL", "INFO", "accountStatus"),
        (AlertKind.EXCHANGE, Level.CRITICAL, None, "MARGIN_CALL", "CRITICAL", "MARGIN_CALL"),
    ],
)
def test_labels_and_summaries_per_kind(
    kind: AlertKind, level: Level | None, peak: Level | None, topic: str, tag: str, words: str
) -> None:
    it = intent(kind, level, peak=peak, topic=topic)
    assert label(it) == tag
    assert words in summary(it)


def test_telegram_html_is_escaped() -> None:
    it = intent(account="<b>&evil</b>", detail="a < b & c > d")
    out = render(it, futures_snapshot())
    assert "&lt;b&gt;&amp;evil&lt;/b&gt;" in out.html
    assert "a &lt; b &amp; c &gt; d" in out.html
    assert set(re.findall(r"</?[a-z]+>", out.html)) == {"<b>", "</b>"}
    assert html.unescape(re.sub(r"</?b>", "", out.html)) == out.text


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_telegram_html_fits_by_dropping_trailing_lines() -> None:
    lines = ["head"] + [f"line {i} " + "📉" * 40 for i in range(200)]
    text = telegram_html(lines, "footer id")
    assert _utf16(text) <= TELEGRAM_MAX
    assert text.startswith("<b>head</b>\nline 0") and text.endswith("…\nfooter id")


def test_telegram_html_cuts_an_oversized_headline() -> None:
    out = render(intent(account="&" * 5000), None)
    assert _utf16(out.html) <= TELEGRAM_MAX
    assert out.html.endswith("…") and "&amp" in out.html
    assert not re.search(r"&[a-z]*…$", out.html)
