"""A full disk under the outbox (issue 19, item 1): no alert is dropped, the failure is
reported (`Outbox.failing`, an `ops` alert, a counter), and once space returns the alerts held
in memory are persisted in order. The disk is a real 256 KiB tmpfs (this needs root); where
mounting is not permitted, SQLite's own page limit (`PRAGMA max_page_count`) makes the same
real SQLITE_FULL."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest

from monitor.alerts.delivery import destination
from monitor.alerts.destinations import SenderSettings, build_routes
from monitor.alerts.levels import AlertIntent, AlertKind, Level
from monitor.alerts.messages import RenderedAlert
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import State
from monitor.alerts.worker import DeliveryWorker, WorkerConfig
from monitor.base.backoff import FailureBackoff
from tests.alerts.sinks import HttpSink, make_intent

CONFIG = WorkerConfig(
    backoff=FailureBackoff(0.05, 2.0, 0.2), rate_per_s=1000.0, burst=100, flush_every_s=0.05
)
LEVELS = [Level.WARNING, Level.CRITICAL, Level.EMERGENCY]


class SmallDisk:
    """A directory on a tiny file system that can be filled up and freed again."""

    mechanism = "tmpfs"

    def __init__(self, root: Path) -> None:
        self.dir = root / "state"
        self.dir.mkdir()
        self._filler = self.dir / "filler"
        self._outbox: Outbox | None = None
        self._mounted = False

    def mount(self) -> None:
        if os.environ.get("MARGINWATCH_TEST_NO_MOUNT"):  # exercise the fallback
            self.mechanism = "sqlite max_page_count"
            return
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(self.dir)],
            capture_output=True,
            check=False,
        )
        if done.returncode == 0:
            self._mounted = True
        else:
            self.mechanism = "sqlite max_page_count"

    def unmount(self) -> None:
        if self._mounted:
            subprocess.run(["umount", "-l", str(self.dir)], check=False)

    def attach(self, outbox: Outbox, db: Path) -> None:
        self._outbox = outbox
        self._db_path = db

    def fill(self) -> None:
        if self._mounted:
            chunk = b"\0" * 4096
            with contextlib.suppress(OSError), self._filler.open("ab", buffering=0) as f:
                while True:
                    f.write(chunk)
            return
        # Fallback: the outbox's own connection may not grow the database by one page.
        assert self._outbox is not None
        db = self._outbox._db
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count={pages}")

    def free(self) -> None:
        if self._mounted:
            self._filler.unlink()
            return
        assert self._outbox is not None
        self._outbox._db.execute("PRAGMA max_page_count=1073741823")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    small = SmallDisk(tmp_path)
    small.mount()
    yield small
    small.unmount()


@asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[DeliveryWorker]:
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def big_alert(n: int, size: int = 2048) -> tuple[AlertIntent, RenderedAlert]:
    """A distinct exchange alert whose texts need new pages (a 2 KiB body)."""
    level = LEVELS[n % 3]
    intent = make_intent(n, kind=AlertKind.EXCHANGE, level=level, topic=f"topic{n}")
    text = f"alert {n} " + "x" * size
    return intent, RenderedAlert(f"[{level}] alert {n}", text, f"<b>alert {n}</b>", f"alert {n}")


async def wait_for(condition: object, timeout_s: float = 10.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_full_disk_loses_no_alert_and_persists_them_in_order_later(
    disk: SmallDisk,
    http_sink: HttpSink,
    telegram_api: HttpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    print(f"disk-full mechanism: {disk.mechanism}")
    db = disk.dir / "outbox.sqlite3"
    outbox = Outbox(db)
    disk.attach(outbox, db)
    hook = destination(http_sink.json_url())  # no tags: hears every alert, ops included
    tg = destination("tgram://123456:AAbb-secret/-1001", ["critical"])
    pairs = build_routes((hook, tg), SenderSettings(telegram_api_base=telegram_api.base))
    worker = DeliveryWorker(outbox, pairs, CONFIG)
    alerts = [big_alert(n) for n in range(1, 16)]
    async with running(worker):
        for intent, message in alerts[:3]:  # a healthy start
            assert worker.submit(intent, message)
        assert await worker.drain(10.0)
        assert outbox.failing is None and outbox.write_failures == 0

        disk.fill()
        for intent, message in alerts[3:12]:  # nine alerts while the disk is full
            assert worker.submit(intent, message)
            disk.fill()  # a checkpoint may have freed some of the log's space: take it too
        assert outbox.failing is not None
        assert outbox.held > 0 and outbox.write_failures > 0
        assert not worker.submit(*alerts[5])  # still deduplicated by id while held
        assert await worker.drain(10.0)  # ... and delivered all the same
        # Every alert reached the webhook, the critical ones Telegram too; the ops alert said so.
        messages = [str(p.body["message"]) for p in http_sink.posts]
        for _, message in alerts[:12]:
            assert message.text in messages
        ops = [m for m in messages if "alert outbox cannot be written" in m]
        assert len(ops) == 1 and "full" in ops[0]
        tg_texts = [str(p.body["text"]) for p in telegram_api.posts]
        critical = [m for i, m in alerts[:12] if i.rank >= 2]
        assert sorted(tg_texts) == sorted(m.html for m in critical)
        assert "AAbb-secret" not in caplog.text

        disk.free()
        for intent, message in alerts[12:]:
            assert worker.submit(intent, message)
        await wait_for(lambda: outbox.failing is None and outbox.held == 0)
        assert await worker.drain(10.0)
        messages = [str(p.body["message"]) for p in http_sink.posts]
        assert sum("alert outbox writable again" in m for m in messages) == 1
    outbox.close()

    # Everything is on disk, in the order it happened, every delivery settled.
    again = Outbox(db)
    persisted = again.alert_ids()
    ours = [p for p in persisted if not p.startswith("marginwatch/")]
    assert ours == [intent.alert_id for intent, _ in alerts]
    assert len(persisted) == len(alerts) + 2  # the two ops alerts
    counts = again.counts()
    assert counts[State.QUEUED] == 0 and counts[State.FAILED] == 0
    to_telegram = sum(intent.rank >= 2 for intent, _ in alerts)
    assert counts[State.DELIVERED] == len(alerts) + 2 + to_telegram  # webhook + Telegram
    again.close()


def test_close_flushes_held_writes_and_a_failed_write_never_raises(disk: SmallDisk) -> None:
    db = disk.dir / "outbox.sqlite3"
    outbox = Outbox(db)
    disk.attach(outbox, db)
    disk.fill()
    intent, message = big_alert(1, 16384)
    assert outbox.enqueue(intent, message, ["d"])  # held, not raised
    outbox.delivered((intent.alert_id, "d"))
    assert outbox.failing is not None and outbox.held == 2
    disk.free()
    outbox.close()
    again = Outbox(db)
    assert again.deliveries(intent.alert_id) == {"d": (State.DELIVERED, 1, "")}
    again.close()


def test_sqlite_full_is_what_the_small_disk_produces(disk: SmallDisk) -> None:
    """The test disk fails the way a real one does (SQLITE_FULL or ENOSPC), not a mock."""
    db = disk.dir / "outbox.sqlite3"
    outbox = Outbox(db)
    disk.attach(outbox, db)
    disk.fill()
    raw = outbox._db
    with pytest.raises(sqlite3.OperationalError) as caught:
        raw.execute("BEGIN IMMEDIATE")
        raw.execute(
            "INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ("x", "a", "k", None, 0, "c", 0, 0, "s", "y" * 65536, "h", "l", ""),
        )
        raw.execute("COMMIT")
    if raw.in_transaction:
        raw.execute("ROLLBACK")
    assert "full" in str(caught.value) or os.strerror(errno.ENOSPC) in str(caught.value)
    disk.free()
    outbox.close()
