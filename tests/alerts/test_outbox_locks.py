"""The outbox never drops SQLite's file locks: another process reading the outbox (a backup,
an operator's `sqlite3` shell) must not delete the WAL the daemon writes into, so a SIGKILL
right after loses nothing (found by the soak's disk-full phase: opening the database file again
after `connect` released the process's POSIX locks)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

WRITER = textwrap.dedent(
    """
    import os, signal, subprocess, sys
    from pathlib import Path
    from monitor.alerts.messages import RenderedAlert
    from monitor.alerts.outbox import Outbox
    from monitor.alerts.levels import AlertIntent, AlertKind, Level

    path = Path(sys.argv[1])
    def intent(i):
        return AlertIntent(f"a/level/warning/{i}", "a", AlertKind.LEVEL, Level.WARNING, 0.8, i,
                           frozenset())
    msg = RenderedAlert("s", "b" * 1500, "h", "l")
    outbox = Outbox(path)
    for n in range(10):
        outbox.enqueue(intent(n), msg, ["d1"])
    reader = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1], timeout=5);"
              " db.execute('SELECT count(*) FROM alerts').fetchall(); db.close()")
    subprocess.run([sys.executable, "-c", reader, str(path)], check=True)
    for n in range(10, 20):
        outbox.enqueue(intent(n), msg, ["d1"])
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_reader_in_another_process_then_a_sigkill_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", WRITER, str(path)], env=env, check=False)
    assert done.returncode == -9  # killed, as a crash would
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT count(*) FROM alerts").fetchone() == (20,)
    finally:
        db.close()
