"""The command line: `calc` (the stable report) and `replay` (the alert timeline)."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from monitor.cli import main
from monitor.examples import NAMES
from monitor.examples import path as example_path

CALC_KEYS = {"mode", "risk", "margin_ratio", "uni_mmr", "equity", "maint_margin", "assets",
             "positions", "distance", "status"}


def _calc_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["calc", *args, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # exactly one JSON object
    report: dict[str, object] = json.loads(out)
    return report


@pytest.mark.parametrize(
    ("name", "ratio", "equity", "mm"),
    [
        ("usdm_multi_assets_seed_s2", 0.4797750, 416.02, 199.596),
        ("usdm_multi_assets", 0.6208612, 321.515, 199.6162),
    ],
)
def test_seed_001_through_calc_json(
    capsys: pytest.CaptureFixture[str], name: str, ratio: float, equity: float, mm: float
) -> None:
    report = _calc_json(capsys, str(example_path(name)))
    assert report["mode"] == "usdm_multi_assets"
    assert report["margin_ratio"] == pytest.approx(ratio, rel=1e-6)
    assert report["risk"] == pytest.approx(ratio, rel=1e-6)
    assert report["equity"] == pytest.approx(equity, rel=1e-6)
    assert report["maint_margin"] == pytest.approx(mm, rel=1e-6)
    assert report["uni_mmr"] is None


@pytest.mark.parametrize("name", NAMES)
def test_every_example_gives_the_stable_keys(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    report = _calc_json(capsys, str(example_path(name)))
    assert set(report) >= CALC_KEYS
    assert isinstance(report["risk"], float)
    assert isinstance(report["positions"], list) and report["positions"]
    for position in report["positions"]:
        assert {"symbol", "side", "qty", "entry_price", "mark_price", "unrealized_pnl",
                "maint_margin", "liquidation_price"} <= set(position)
        if position["margin"] == "isolated":
            assert isinstance(position["margin_ratio"], float)
    distance = report["distance"]
    assert isinstance(distance, dict)
    assert {"uniform_down", "uniform_up"} <= set(distance)


def test_portfolio_margin_report_speaks_unimmr(capsys: pytest.CaptureFixture[str]) -> None:
    report = _calc_json(capsys)  # no FILE: the bundled Portfolio Margin book
    assert report["mode"] == "portfolio_margin"
    assert report["margin_ratio"] is None
    uni = report["uni_mmr"]
    assert isinstance(uni, float)
    assert report["risk"] == pytest.approx(1.05 / uni, rel=1e-12)


def test_human_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calc", str(example_path("usdm"))]) == 0
    out = capsys.readouterr().out
    assert "margin ratio" in out and "distance to liquidation" in out and "BTCUSDT" in out


def test_malformed_line_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = example_path("usdm").read_text(encoding="utf-8").splitlines()
    lines.insert(7, '{"kind": "ws", "t": 1, "conn": "market", "data": ')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["calc", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}:8: invalid JSON" in err[0]


def test_missing_brackets_name_the_symbol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = [
        line for line in example_path("usdm").read_text(encoding="utf-8").splitlines()
        if '"/fapi/v1/leverageBracket"' not in line
    ]
    path = tmp_path / "nobrackets.jsonl"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    assert main(["calc", str(path)]) == 2
    err = capsys.readouterr().err
    assert "has no leverage bracket table" in err or "has no contract data" in err


def test_replay_json_alert_lines_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(example_path("portfolio_margin")), "--json", "--max"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    alerts, summary = rows[:-1], rows[-1]
    assert alerts and all({"t", "account", "kind", "level", "risk"} <= set(a) for a in alerts)
    assert {a["kind"] for a in alerts} >= {"level", "all_clear"}
    assert summary["kind"] == "summary" and set(summary) >= CALC_KEYS


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_console_entry_point_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "calc", str(example_path("coinm")), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mode"] == "coinm"


class _Webhook(BaseHTTPRequestHandler):
    """A local `json://` receiver: records each POST body."""

    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "marginwatch.toml"
    path.write_text(
        "[[accounts]]\n"
        'name = "main"\n'
        'api_key_env = "MW_TEST_KEY"\n'
        'api_secret_env = "MW_TEST_SECRET"\n'
        "[[notify]]\n"
        f'url = "{url}"\n'
        'tags = ["ops"]\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def test_test_alert_reaches_a_local_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MW_TEST_KEY", secrets.token_hex(32))
    monkeypatch.setenv("MW_TEST_SECRET", secrets.token_hex(32))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = _config(tmp_path, f"json://127.0.0.1:{server.server_port}/hook")
        assert main(["test-alert", "--config", str(config)]) == 0
        assert main(["test-alert", "--config", str(config), "--tag", "emergency"]) == 2
    finally:
        server.shutdown()
    assert len(_Webhook.bodies) == 1
    assert "test alert" in str(_Webhook.bodies[0]).lower()
    out = capsys.readouterr().out
    assert "127.0.0.1" in out


def test_check_config_reports_field_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MW_TEST_KEY", raising=False)
    monkeypatch.setenv("MW_TEST_SECRET", secrets.token_hex(32))
    config = _config(tmp_path, "json://127.0.0.1:9/hook")
    assert main(["check-config", str(config)]) == 2
    assert "accounts[0].api_key_env: environment variable MW_TEST_KEY is not set" in (
        capsys.readouterr().out
    )


# ---- one recording resolver, descriptions and defaults in --help ---------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_calc_and_replay_take_bundled_example_names(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    by_name = _calc_json(capsys, name)
    by_path = _calc_json(capsys, str(example_path(name)))
    assert by_name["risk"] == by_path["risk"] and by_name["positions"] == by_path["positions"]
    assert main(["replay", name, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["kind"] == "summary" and summary["risk"] == by_path["risk"]


def test_a_file_named_like_an_example_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.commands.recordings import resolve_recording

    monkeypatch.chdir(tmp_path)
    assert resolve_recording("usdm") == str(example_path("usdm"))
    assert resolve_recording(None) == str(example_path("portfolio_margin"))
    (tmp_path / "usdm").write_text("")
    assert resolve_recording("usdm") == "usdm"
    assert resolve_recording("no-such-file.jsonl") == "no-such-file.jsonl"


def _subcommands() -> list[str]:
    import argparse

    from monitor.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_a_description_and_shows_its_defaults(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    import argparse

    from monitor.cli import build_parser

    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    # usage, a blank line, then a description paragraph (not straight to the arguments)
    description = text.split("\n\n")[1]
    assert not description.startswith(("positional arguments", "options"))
    assert len(description.split()) >= 8
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[command]._actions:
        if "default:" in (action.help or ""):  # said in words ("default: none")
            continue
        if action.nargs != 0 and action.default not in (None, argparse.SUPPRESS):
            flat = " ".join(text.split())
            assert f"default: {action.default}" in flat, (command, action.dest)


def test_calc_text_gives_every_figure_its_unit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calc", "usdm"]) == 0
    usdm = capsys.readouterr().out
    assert "risk 27.06 % (isolated SOLUSDT LONG) · margin ratio 4.47 % (USDT cross pool)" in usdm
    assert "2,728.549750 USDC" in usdm and "max withdrawable 9,440.0181 USDT" in usdm
    assert main(["calc", "coinm"]) == 0
    coinm = capsys.readouterr().out
    perp = next(line for line in coinm.splitlines() if line.startswith("BTCUSD_PERP"))
    # quantity in contracts, prices in USD, uPnL and MM in the settle coin
    assert "2,000.0000 contracts" in perp and "96,410.7000 USD" in perp
    assert perp.split()[-4:] == ["0.0505", "BTC", "0.0083", "BTC"]
    assert "max withdrawable 0.8417 BTC" in coinm
