"""The fleet soak's plan and config (`soak/fleet.py`): a lead covering the budget-paced start-up,
base holds long enough for a venue-wide resync, and a config the daemon loads with N accounts."""

from __future__ import annotations

from pathlib import Path

from monitor.config import load_config
from soak.__main__ import parse
from soak.config import KEY_ENV, SECRET_ENV, AlertSettings, write_fleet_config
from soak.fleet import FleetPlan, base_for, lead_for, table


def test_the_plan_grows_with_the_fleet() -> None:
    assert lead_for(200) == 60.0 * 5 + 60.0  # 200 x 45 weight at 1,920 a minute: 5 minutes
    assert lead_for(5) == 120.0
    assert base_for(200) == 60.0 * 5 + 30.0
    plan = FleetPlan.make(200, 10.0, 1)
    assert plan.lead_s == lead_for(200) and plan.base_s == base_for(200)
    assert parse(["--accounts", "200", "--minutes", "10"]).accounts == 200
    assert parse([]).accounts == 1  # the default soak is the single-account one, unchanged


def test_the_fleet_config_loads(tmp_path: Path) -> None:
    names = [f"acct-{i:04d}" for i in range(3)]
    path = write_fleet_config(tmp_path / "f.toml", accounts=names, sim_base="http://127.0.0.1:9",
                              http_port=9999, notify_url="json://127.0.0.1:8/hook",
                              state_dir=tmp_path / "state", alerts=AlertSettings())
    config = load_config(path, {KEY_ENV: "k" * 16, SECRET_ENV: "s" * 24})
    assert [a.name for a in config.accounts] == names
    assert {a.mode for a in config.accounts} == {"usdm"}
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_table_says_pass_or_why_not() -> None:
    doc = {"accounts": 3, "minutes": 1.0, "seed": 1, "lead_s": 120.0, "pass": False,
           "problems": ["2 alerts lost"], "alerts": {"expected": 9, "lost": 2}}
    text = table(doc)
    assert "FAIL" in text and "problem: 2 alerts lost" in text and "lost 2" in text
