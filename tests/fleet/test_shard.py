"""Shards: the stable assignment, the index from a pod's host name, `marginwatch shard`, and a
daemon that follows only its shard's accounts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.service.daemon import Daemon
from monitor.service.shard import (
    Shard,
    ShardError,
    assignment,
    index_from_hostname,
    resolve,
    shard_of,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = [f"desk-{i:03d}" for i in range(200)]


def test_assignment_is_sha256_of_the_name_mod_n() -> None:
    for name in ("alpha", "desk-007", "ünïcode"):
        digest = hashlib.sha256(name.encode()).digest()
        assert shard_of(name, 7) == int.from_bytes(digest[:8], "big") % 7
    # Known values: the same in every process and on every machine (no salted hash()).
    assert [shard_of(n, 4) for n in ("alpha", "beta", "gamma")] == [
        int.from_bytes(hashlib.sha256(n.encode()).digest()[:8], "big") % 4
        for n in ("alpha", "beta", "gamma")
    ]
    out = subprocess.run(
        [sys.executable, "-c",
         "from monitor.service.shard import shard_of; print(shard_of('alpha', 97))"],
        cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "123"},
        capture_output=True, text=True, check=True,
    )
    assert int(out.stdout) == shard_of("alpha", 97)


def test_every_account_in_exactly_one_shard_and_spread() -> None:
    table = assignment(NAMES, 4)
    assert sorted(n for members in table.values() for n in members) == sorted(NAMES)
    assert all(30 <= len(members) <= 70 for members in table.values())  # 50 expected each
    # Adding an account never moves another one.
    bigger = assignment([*NAMES, "newcomer"], 4)
    for index, members in table.items():
        assert set(members) <= set(bigger[index])


def test_index_from_hostname() -> None:
    assert index_from_hostname("marginwatch-0") == 0
    assert index_from_hostname("mw-fleet-eu-12") == 12
    with pytest.raises(ShardError, match="does not end in"):
        index_from_hostname("marginwatch")
    assert resolve(3, None, True, "marginwatch-2") == Shard(3, 2)
    with pytest.raises(ShardError, match="out of range"):
        resolve(3, None, True, "marginwatch-3")
    with pytest.raises(ShardError, match="give the index"):
        resolve(3, None, False, "x")
    assert resolve(1, None, False, None) == Shard(1, 0)


def _config(tmp_path: Path, extra: str = "") -> Path:
    accounts = "".join(
        f'[[accounts]]\nname = "{n}"\napi_key = "key-{n}-xxxxxxxx"\n'
        f'api_secret = "secret-{n}-xxxxxxxx"\n\n'
        for n in NAMES[:20]
    )
    path = tmp_path / "fleet.toml"
    path.write_text(
        accounts
        + f'[[notify]]\nurl = "json://127.0.0.1:9/"\n\n[state]\ndir = "{tmp_path / "state"}"\n'
        + extra,
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=60,
    )


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_shard_command_lists_each_shard_and_the_table(tmp_path: Path) -> None:
    config = _config(tmp_path)
    expected = assignment(NAMES[:20], 3)
    seen: list[str] = []
    for index in range(3):
        out = _cli("shard", "--config", str(config), "--shards", "3", "--index", str(index))
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == expected[index]
        seen += out.stdout.split()
    assert sorted(seen) == sorted(NAMES[:20])
    table = _cli("shard", "--config", str(config), "--shards", "3", "--all")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith(f"shard 1/3: {len(expected[1])} account(s): ")
    assert ", ".join(expected[1]) in lines[1]
    # The pod's ordinal from $HOSTNAME.
    pod = _cli("shard", "--config", str(config), "--shards", "3", "--index-from-hostname",
               env={"HOSTNAME": "marginwatch-2"})
    assert pod.returncode == 0, pod.stderr
    assert pod.stdout.split() == expected[2]


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_shard_command_refuses_bad_settings(tmp_path: Path) -> None:
    config = _config(tmp_path)
    out = _cli("shard", "--config", str(config), "--shards", "3", "--index", "3")
    assert out.returncode == 2
    assert "index must be below count (3), not 3" in out.stderr
    out = _cli("shard", "--config", str(config), "--shards", "3", "--index-from-hostname",
               env={"HOSTNAME": "laptop"})
    assert out.returncode == 2
    assert "does not end in -<number>" in out.stderr
    out = _cli("run", "--config", str(config), "--shards", "2")
    assert out.returncode == 2
    assert "with 2 shards, give the index" in out.stderr


def test_config_shard_section_and_daemon_follows_only_its_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = assignment(NAMES[:20], 4)
    config = load_config(_config(tmp_path, "\n[shard]\ncount = 4\nindex = 1\n"))
    daemon = Daemon(config)
    assert daemon.shard == Shard(4, 1)
    assert list(daemon.slots) == expected[1]
    assert [a.name for a in daemon.config.accounts] == expected[1]
    monkeypatch.setenv("HOSTNAME", "marginwatch-3")
    config = load_config(_config(tmp_path, "\n[shard]\ncount = 4\nindex_from_hostname = true\n"))
    assert list(Daemon(config).slots) == expected[3]
    # One shard (the default): every account.
    assert list(Daemon(load_config(_config(tmp_path))).slots) == NAMES[:20]
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, "\n[shard]\ncount = 2\nindex = 2\n"))
    assert any("index must be below count (2)" in m for _, m in err.value.problems)
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, '\n[network]\nsource_address = "not-an-ip"\n'))
    assert ("network.source_address" in [w for w, _ in err.value.problems])


def test_an_empty_shard_runs_no_account(tmp_path: Path) -> None:
    """More shards than accounts (a StatefulSet scaled ahead): an instance may own none."""
    table = assignment(NAMES[:20], 64)
    empty = next(i for i, members in table.items() if not members)
    config = load_config(_config(tmp_path, f"\n[shard]\ncount = 64\nindex = {empty}\n"))
    daemon = Daemon(config)
    assert daemon.slots == {} and daemon.status() == []
    assert daemon.freshness() == {}
