"""End to end, the failures the monitor must heal from: each fault injected into the fake
exchange, the daemon's reaction observed, and its figures still equal to `calc` at the end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from monitor import examples
from monitor.calc import calc_file
from monitor.feed.recording import WsLine, read_recording
from monitor.sim.malformed import VARIETIES
from tests.e2e.harness import FAST, close, running, until

USDM = calc_file(examples.path("usdm"))


def _stream(session_status: dict[str, object], name: str) -> dict[str, object]:
    streams = session_status["streams"]
    assert isinstance(streams, list)
    return next(st for st in streams if st["name"] == name)


async def test_connection_drop_reconnects_and_resyncs(tmp_path: Path) -> None:
    async with running(tmp_path, "usdm", speed=30) as s:
        await until(lambda: s.runtime.core.counters["market_frames"] > 50, "marks")
        s.fake.faults.drop("all")
        await until(lambda: s.runtime.resyncs.get("user stream reconnected", 0) >= 1,
                    "a resync after the user-stream gap")
        await until(lambda: _stream(s.status(), "market-um")["reconnects"] >= 1,
                    "the market stream back")
        await until(s.fake.finished.is_set, "the end of the recording", timeout=60)
        await until(lambda: close(s.status()["risk"], USDM["risk"]), "calc's risk")


async def test_listen_key_expiry_gets_a_new_key_and_resyncs(tmp_path: Path) -> None:
    async with running(tmp_path, "portfolio_margin", speed=30) as s:
        await until(lambda: s.feed is not None and s.feed.listen_key is not None, "a listenKey")
        await until(lambda: s.runtime.core.book is not None, "the snapshot")
        s.fake.faults.expire_listen_key()
        await until(lambda: s.runtime.core.counters["signal_ListenKeyExpired"] >= 1,
                    "the listenKeyExpired event")
        await until(lambda: s.runtime.resyncs.get("listenKey expired", 0) >= 1,
                    "a resync after the new key")
        await until(lambda: _stream(s.status(), "user")["connected"], "the user stream back")


async def test_listen_key_expired_while_disconnected_is_replaced(tmp_path: Path) -> None:
    """The listenKeyExpired event cannot reach a dropped stream, and reconnecting with the dead
    key is refused: the key is re-validated after every user-stream loss (found by the soak,
    where the daemon stayed blind until a keep-alive 30 min later)."""
    settings = dataclasses.replace(FAST, keepalive_s=600.0)  # the keep-alive cannot save it
    async with running(tmp_path, "usdm", speed=30, settings=settings) as s:
        await until(lambda: s.feed is not None and s.feed.listen_key is not None, "a listenKey")
        await until(lambda: s.runtime.core.book is not None, "the snapshot")
        assert s.feed is not None
        old = s.feed.listen_key
        s.fake.faults.silence("user", 30.0)  # nothing reaches the stream, not even the expiry
        s.fake.faults.expire_listen_key()
        s.fake.faults.unsilence("user")
        s.fake.faults.drop("user")
        await until(lambda: s.feed is not None and s.feed.listen_key not in (None, old),
                    "a new listenKey")
        await until(lambda: _stream(s.status(), "user")["connected"], "the user stream back")
        assert s.runtime.core.counters["signal_ListenKeyExpired"] == 0


async def test_rotation_before_24h_leaves_no_gap_in_market_data(tmp_path: Path) -> None:
    settings = dataclasses.replace(FAST, max_age_s=1.0)
    recorded = tmp_path / "rotating.jsonl.gz"
    async with running(tmp_path, "usdm", speed=20, settings=settings, record=recorded) as s:
        await until(s.fake.finished.is_set, "the end of the recording", timeout=60)
        await until(lambda: _stream(s.status(), "market-um")["rotations"] >= 2, "rotations")
        assert _stream(s.status(), "market-um")["reconnects"] == 0
        await until(lambda: close(s.status()["risk"], USDM["risk"]), "calc's risk")
    seen = _mark_events(recorded)
    held = {symbol for symbol, _ in seen}
    assert len(held) >= 3
    # Every mark the exchange published for a symbol the account subscribed to arrived.
    sent = {(symbol, t) for symbol, t in _mark_events(examples.path("usdm")) if symbol in held}
    first = min(t for _, t in seen)
    sent = {(symbol, t) for symbol, t in sent if t >= first}
    assert sent <= seen, f"{len(sent - seen)} mark updates lost across rotations"


async def test_silent_socket_trips_the_watchdog_and_reconnects(tmp_path: Path) -> None:
    async with running(tmp_path, "usdm", speed=10) as s:
        await until(lambda: s.runtime.core.counters["market_frames"] > 5, "marks")
        s.fake.faults.silence("market", seconds=4.0)
        await until(lambda: _stream(s.status(), "market-um")["watchdog_fires"] >= 1,
                    "the market watchdog")
        frames = s.runtime.core.counters["market_frames"]
        await until(lambda: s.runtime.core.counters["market_frames"] > frames + 5,
                    "marks flowing again")


async def test_rate_limit_429_is_backed_off_and_start_up_completes(tmp_path: Path) -> None:
    def limit(fake: object) -> None:
        fake.faults.rest_errors(429, count=2, retry_after_s=1)  # type: ignore[attr-defined]

    async with running(tmp_path, "usdm", speed=30, before_start=limit) as s:
        await until(lambda: s.runtime.core.book is not None, "the snapshot despite 429")
        rest = s.daemon.slots["acct"].rest
        assert rest is not None
        assert rest.stats.by_status.get(429, 0) == 2
        assert rest.stats.throttled_s >= 1.0


async def test_server_time_skew_resyncs_the_clock(tmp_path: Path) -> None:
    async with running(tmp_path, "usdm", speed=30) as s:
        await until(lambda: s.runtime.core.book is not None, "the snapshot")
        rest = s.daemon.slots["acct"].rest
        assert rest is not None
        syncs = rest.stats.time_syncs
        s.fake.faults.skew_time(30_000)
        s.feed.request_resync("test: skewed clock")
        await until(lambda: s.runtime.resyncs.get("test: skewed clock", 0) >= 1,
                    "a resync with a skewed server clock")
        assert rest.stats.time_syncs > syncs
        assert rest.stats.errors.get(-1021, 0) >= 1


async def test_malformed_frames_are_counted_and_survived(tmp_path: Path) -> None:
    async with running(tmp_path, "usdm", speed=30) as s:
        await until(lambda: s.runtime.core.counters["market_frames"] > 10, "marks")
        small = [v for v in VARIETIES if v != "oversized"]
        s.fake.faults.malformed(30, "market", varieties=small)
        s.fake.faults.malformed(10, "user", varieties=small)
        # A frame over the 1 MiB limit closes that connection (websockets 1009): a gap, then
        # a reconnect and a resync, never a decoded value.
        s.fake.faults.malformed(1, "market", varieties=["oversized"])

        def too_big() -> int:
            feed = s.feed
            streams = feed.streams() if feed is not None else []
            return sum(sup.stats.errors.get("frame_too_big", 0) for _, sup in streams)

        await until(lambda: too_big() == 1, "the oversized frame closing its connection")
        await until(s.fake.finished.is_set, "the end of the recording", timeout=60)
        counters = s.runtime.core.counters
        bad = sum(v for k, v in counters.items() if "decode_errors" in k or "unknown" in k)
        assert bad >= 10
        await until(lambda: close(s.status()["risk"], USDM["risk"]), "calc's risk")
        assert s.status()["state"] == "live"


def _mark_events(path: Path) -> set[tuple[str, int]]:
    _, lines = read_recording(path)
    out: set[tuple[str, int]] = set()
    for line in lines:
        if isinstance(line, WsLine) and line.conn == "market":
            data = line.data["data"] if isinstance(line.data, dict) and "data" in line.data \
                else line.data
            for item in data if isinstance(data, list) else [data]:
                if isinstance(item, dict) and item.get("e") == "markPriceUpdate":
                    out.add((item["s"], int(item["E"])))
    return out



async def test_a_key_that_can_trade_or_withdraw_raises_an_ops_alert(tmp_path: Path) -> None:
    def permissive(fake: object) -> None:
        fake.set_rest(  # type: ignore[attr-defined]
            "/sapi/v1/account/apiRestrictions",
            {"ipRestrict": False, "enableReading": True, "enableWithdrawals": True,
             "enableFutures": True, "enableSpotAndMarginTrading": False},
        )

    async with running(tmp_path, "usdm", speed=30, before_start=permissive) as s:
        await until(lambda: any(a.intent.topic == "api-key" for a in s.alerts), "the key alert")
        alert = next(a.intent for a in s.alerts if a.intent.topic == "api-key")
        assert "ops" in alert.tags
        assert "withdrawals" in alert.detail and "futures trading" in alert.detail


async def test_a_read_only_key_raises_nothing(tmp_path: Path) -> None:
    def read_only(fake: object) -> None:
        fake.set_rest(  # type: ignore[attr-defined]
            "/sapi/v1/account/apiRestrictions",
            {"ipRestrict": True, "enableReading": True, "enableWithdrawals": False},
        )

    async with running(tmp_path, "usdm", speed=30, before_start=read_only) as s:
        await until(lambda: s.runtime.core.book is not None, "the snapshot")
        assert not any(a.intent.topic == "api-key" for a in s.alerts)


async def test_a_late_account_update_does_not_roll_a_position_back(tmp_path: Path) -> None:
    """Binance does not promise in-order user frames ("order your updates using E"): a frame
    that arrives after a newer one changes nothing the newer one set, in the daemon and in the
    exchange's own state (which a resync reads back)."""
    async with running(tmp_path, "usdm", speed=30) as s:
        await until(s.fake.finished.is_set, "the end of the recording", timeout=60)
        await until(lambda: s.runtime.core.book is not None, "the snapshot")
        key = ("SOLUSDT", "LONG")

        def qty() -> float | None:
            book = s.runtime.core.book
            pos = book.state.positions.get(key) if book is not None else None
            return None if pos is None else pos.qty

        assert qty() == 110.0
        e = max(int(s.runtime.core.last_t), 1) + 60_000

        def update(at: int, size: str) -> dict[str, object]:
            leg = {"s": "SOLUSDT", "pa": size, "ep": "236.80000", "bep": "236.9", "cr": "0",
                   "up": "0", "mt": "isolated", "iw": "2896.93760000", "ps": "LONG"}
            return {"e": "ACCOUNT_UPDATE", "E": at, "T": at - 2,
                    "a": {"m": "ORDER", "B": [], "P": [leg]}}

        assert s.fake.push_user(update(e, "55")) == 1
        await until(lambda: qty() == 55.0, "the reduction applied")
        s.fake.push_user(update(e - 1_000, "200"))  # sent earlier, delivered late
        counters = s.runtime.core.counters
        await until(lambda: counters["user_stale_updates"] == 1, "the late update dropped")
        assert qty() == 55.0
        resyncs = sum(s.runtime.resyncs.values())
        s.fake.faults.drop("user")
        await until(lambda: sum(s.runtime.resyncs.values()) > resyncs, "a resync")
        assert qty() == 55.0  # the exchange's state did not go back either
