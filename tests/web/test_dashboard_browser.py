"""The web dashboard in a real browser: Debian's headless Chromium, driven by selenium through
chromium-driver, against `serve` (the real `marginwatch run` wiring) following the fake
exchange on the bundled Portfolio Margin recording.

The overview loads and its numbers change as pushed updates arrive (the page is never
reloaded); once the exchange is frozen, every card figure equals `/status`. The account page
draws the risk chart (with level lines) and the tables; a what-if typed into its panel returns
the engine's own figures (`evaluate` with a `Move`, the stress evaluator the book is tested
against). A screenshot is saved (into docs/dashboard.png when MW_DASHBOARD_SCREENSHOT=1).

Without chromium and chromedriver (apt-get install chromium chromium-driver) or selenium the
test fails under CI=true and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor import examples
from monitor.config import load_config
from monitor.engine.valuation import Move, evaluate
from monitor.feed.live import LiveSettings
from monitor.service.daemon import Daemon, DaemonOptions
from monitor.service.http import HttpServer
from monitor.service.runner import serve
from monitor.sim.server import FakeExchange
from tests.alerts.sinks import HttpSink
from tests.e2e.harness import API_KEY, API_SECRET, until, write_config

#: End to end (a real headless browser against the daemon and the fake exchange):
#: outside the fast lane (`pytest -m "not e2e"`).
pytestmark = pytest.mark.e2e

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage", "--window-size=1280,1500",
)
#: Market data keeps flowing; no REST poll is due while the frozen figures are compared.
SETTINGS = LiveSettings(
    asset_index_poll_s=600.0,
    reconcile_s=600.0,
    market_idle_s=60.0,
    user_idle_s=600.0,
    keepalive_s=600.0,
    ping_interval_s=1.0,
    ping_timeout_s=5.0,
    user_connect_wait_s=3.0,
)
FIELDS = ("risk", "native", "equity", "maint_margin", "distance")
REPO = Path(__file__).resolve().parents[2]


def _browser_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not found: apt-get install -y chromium chromium-driver"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: python -m pip install selenium"
    return None


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> Any:
    problem = _browser_missing()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test needs a headless Chromium: {problem}")
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium must never download a browser
    profile = tempfile.mkdtemp(prefix="mw-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(what: str, probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll `probe` (in the test's thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = probe()
            if found:
                return found
        except Exception as exc:  # the element is being replaced by an update: try again
            last_error = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")


def _card_values(browser: Any) -> dict[str, float | None]:
    """The overview card's raw figures (data-value) and the update time it shows."""
    script = """
        const card = document.querySelector('[data-account="acct"]');
        if (!card) return null;
        const out = {t: Number(document.getElementById('updated').dataset.t)};
        for (const f of arguments[0]) {
          const node = card.querySelector(`[data-field="${f}"]`);
          out[f] = node && node.dataset.value !== undefined ? Number(node.dataset.value) : null;
        }
        return out;
    """
    values: dict[str, float | None] = browser.execute_script(script, list(FIELDS))
    return values


def _expected(entry: dict[str, Any]) -> dict[str, float | None]:
    native = entry["uni_mmr"] if entry["mode"] == "portfolio_margin" else entry["margin_ratio"]
    return {
        "risk": entry["risk"],
        "native": native,
        "equity": entry["equity"],
        "maint_margin": entry["maint_margin"],
        "distance": entry["distance"]["uniform_down"],
    }


async def test_dashboard_in_a_real_browser(tmp_path: Path, driver: Any) -> None:
    fake = FakeExchange.from_file(
        examples.path("portfolio_margin"), speed=20.0, api_key=API_KEY, api_secret=API_SECRET
    )
    sink = HttpSink()
    await sink.start()
    await fake.start()
    stop = asyncio.Event()
    ready: list[tuple[Daemon, HttpServer]] = []
    config = load_config(write_config(tmp_path, fake.rest_url, fake.ws_url, sink.json_url()))
    task = asyncio.create_task(
        serve(config, DaemonOptions(live=SETTINGS), stop=stop,
              on_ready=lambda d, s: ready.append((d, s)))
    )
    try:
        await until(lambda: bool(ready), "the daemon to start")
        daemon, server = ready[0]
        base = f"http://127.0.0.1:{server.bound_port}"
        runtime = daemon.slots["acct"].runtime
        await until(lambda: runtime.state(daemon.now_ms()) == "live", "the account live")
        await until(lambda: len(daemon.dashboard.rings["acct"]) >= 3, "3 s of risk history")

        # -- the overview loads and updates are pushed into it (no reload, no polling)
        def overview() -> list[dict[str, float | None]]:
            driver.get(base + "/")
            driver.execute_script("window.__notReloaded = true;")
            first = _wait("the account card", lambda: _card_values(driver))
            seen = [first]
            _wait(
                "three pushed updates",
                lambda: seen.append(_card_values(driver)) or len({v["t"] for v in seen}) >= 4,
            )
            assert driver.execute_script("return window.__notReloaded === true;")
            gauge = driver.find_elements("css selector", '[data-account="acct"] svg line')
            assert len(gauge) >= 4  # warning, critical, emergency and liquidation lines
            return seen

        seen = await asyncio.to_thread(overview)
        assert len({v["t"] for v in seen}) >= 4
        assert all(v["risk"] is not None and 0 < v["risk"] < 5 for v in seen)
        assert daemon.dashboard.updates >= 3

        # -- frozen exchange: every figure on the card equals /status
        fake.faults.silence("all")
        await asyncio.sleep(2.5)
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:
                async with session.get(base + "/status") as resp:
                    entry = (await resp.json())["accounts"][0]
                shown = await asyncio.to_thread(_card_values, driver)
                want = _expected(entry)
                if {f: shown[f] for f in FIELDS} == want:
                    break
                assert time.monotonic() < deadline, f"page {shown} != /status {want}"
                await asyncio.sleep(0.5)

        # -- a snooze (control API, loopback) shows on the card, pushed like the figures
        async with aiohttp.ClientSession() as session, session.post(
            base + "/api/snooze/acct?duration=15m"
        ) as resp:
            assert resp.status == 200, await resp.text()

        def attention() -> str:
            return str(driver.execute_script(
                "const n = document.querySelector('[data-account=\"acct\"]"
                " [data-field=\"attention\"]'); return n ? n.textContent : '';"
            ))

        shown = await asyncio.to_thread(
            _wait, "the snooze on the card", lambda: "snoozed" in attention() and attention()
        )
        assert "snoozed 15 min more" in shown or "snoozed 14 min more" in shown

        # -- the account page: chart with level lines, tables, what-if from the engine
        state = runtime.core.book.state.copy()
        engine_risk = evaluate(state, Move(0.9, "BTC")).risk

        def account_page() -> dict[str, Any]:
            driver.get(base + "/account/acct")
            # Read in one script: the page re-renders on every pushed update.
            chart = _wait("the risk chart", lambda: driver.execute_script("""
                const svg = document.querySelector('#chart svg');
                const path = document.querySelector('#chart path[data-series="risk"]');
                const rows = document.querySelectorAll('#positions tbody tr').length;
                if (!svg || !path || Number(svg.dataset.points) < 3 || !rows) return null;
                return {
                  segments: (path.getAttribute('d').match(/L/g) || []).length,
                  levels: [...document.querySelectorAll('#chart line[data-level]')]
                    .map((e) => e.dataset.level),
                  rows: document.querySelectorAll('#positions tbody tr').length,
                  collateral: [...document.querySelectorAll('#collateral tbody tr')]
                    .map((e) => e.innerText),
                };
            """))
            assert chart["segments"] >= 2
            move = _wait("the BTC move input", lambda: driver.find_element(By.ID, "move-BTC"))
            move.send_keys("-10")
            driver.find_element(By.ID, "whatif-run").click()
            risk = _wait("the what-if answer", lambda: driver.execute_script(
                "const e = document.querySelector('[data-field=\"whatif-risk\"]');"
                " return e && e.dataset.value;"))
            query = driver.execute_script(
                "return document.getElementById('whatif-result').dataset.query;")
            target = os.environ.get("MW_DASHBOARD_SCREENSHOT")
            shot = REPO / "docs" / "dashboard.png" if target == "1" else tmp_path / "shot.png"
            driver.execute_script("window.scrollTo(0, 0);")
            driver.save_screenshot(str(shot))
            return {"levels": set(chart["levels"]), "rows": chart["rows"],
                    "collateral": chart["collateral"], "risk": float(risk), "query": query,
                    "shot": shot}

        from selenium.webdriver.common.by import By

        page = await asyncio.to_thread(account_page)
        assert page["levels"] == {"warning", "critical", "emergency", "liquidation"}
        assert page["rows"] == len(entry["positions"]) == 3
        assert {row.split()[0] for row in page["collateral"]} == {"BTC", "ETH", "USDT"}
        assert "move=BTC%3A-0.1" in page["query"]
        assert abs(page["risk"] - engine_risk) <= 1e-9 * engine_risk
        assert page["risk"] != entry["risk"]  # the shock moved the figures
        assert page["shot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert page["shot"].stat().st_size > 20_000
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
        await fake.stop()
        await sink.stop()
