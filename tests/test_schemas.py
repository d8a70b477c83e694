"""The published JSON Schemas (docs/schemas/) hold for real outputs.

`calc --json` of every bundled example, the `/status` document of a daemon running against the
fake exchange, and every line of every bundled recording are validated with `jsonschema`. The
`schema_version` fields are checked against the schemas' constants, so a breaking change to
either side shows here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor.calc import SCHEMA_VERSION, calc_file
from monitor.examples import NAMES
from monitor.examples import path as example_path
from monitor.service.account import STATUS_SCHEMA_VERSION

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _as_published(doc: dict[str, Any]) -> Any:
    """What a consumer receives: the document through strict JSON."""
    return json.loads(json.dumps(doc, allow_nan=False))


@pytest.mark.parametrize("name", NAMES)
def test_calc_json_of_every_example_matches_its_schema(name: str) -> None:
    report = _as_published(calc_file(example_path(name)))
    _validator("calc").validate(report)
    assert report["schema_version"] == SCHEMA_VERSION
    # every figure group says its unit
    assert report["units"]["equity"] == report["unit"]
    for asset in report["assets"]:
        assert asset["unit"] == asset["asset"] and asset["equity_coin"] == asset["equity"]
        if report["mode"] in ("portfolio_margin", "usdm_multi_assets"):
            assert asset["value_unit"] == "USD" and asset["maint_margin_usd"] is not None


def test_schema_versions_are_the_schemas_constants() -> None:
    calc = json.loads((SCHEMAS / "calc.schema.json").read_text(encoding="utf-8"))
    status = json.loads((SCHEMAS / "status.schema.json").read_text(encoding="utf-8"))
    assert calc["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    entry = status["$defs"]["account"]["properties"]["schema_version"]
    assert entry["const"] == STATUS_SCHEMA_VERSION


def test_the_schema_rejects_what_it_should() -> None:
    report = _as_published(calc_file(example_path("usdm")))
    validator = _validator("calc")
    for key in ("risk", "equity", "units", "schema_version"):
        broken = {k: v for k, v in report.items() if k != key}
        assert not validator.is_valid(broken), key
    assert not validator.is_valid({**report, "schema_version": SCHEMA_VERSION + 1})


@pytest.mark.parametrize("name", NAMES)
def test_every_line_of_every_bundled_recording_matches_its_schema(name: str) -> None:
    validator = _validator("recording-line")
    lines = example_path(name).read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["kind"] == "meta"
    for number, text in enumerate(lines, 1):
        errors = list(validator.iter_errors(json.loads(text)))
        assert not errors, f"{name}:{number}: {errors[0].message}"


@pytest.mark.parametrize("recording", ["portfolio_margin", "usdm"])
async def test_status_of_a_daemon_against_the_fake_exchange(
    tmp_path: Path, recording: str
) -> None:
    from monitor.service.health import HealthEvaluator
    from monitor.service.runner import status_document
    from tests.e2e.harness import running, until

    validator = _validator("status")
    async with running(tmp_path, recording, speed=50) as s:
        evaluator = HealthEvaluator(s.daemon.freshness, daemon_problems=s.daemon.daemon_problems)
        early = _as_published(status_document(s.daemon, evaluator))
        validator.validate(early)  # whatever the account's state, figures or not yet
        await until(lambda: s.runtime.core.book is not None, "the first snapshot")
        await until(lambda: s.status().get("state") == "live", "a live account", timeout=30)
        doc = _as_published(status_document(s.daemon, evaluator))
    validator.validate(doc)
    (entry,) = doc["accounts"]
    assert entry["schema_version"] == STATUS_SCHEMA_VERSION
    assert entry["units"]["sources"] == "s" and entry["units"]["equity"] == entry["unit"]
    assert entry["risk_source"]["name"]
