"""docs/config-reference.md is what scripts/gen_config_reference.py makes of monitor/config/'s
models today (regenerate it with `python scripts/gen_config_reference.py`)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from monitor.config import Config

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_config_reference.py"
REFERENCE = ROOT / "docs" / "config-reference.md"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_is_up_to_date(generator: ModuleType) -> None:
    assert REFERENCE.read_text() == generator.render(), (
        "docs/config-reference.md is out of date: run python scripts/gen_config_reference.py"
    )


def test_every_table_and_key_of_the_models_is_in_the_reference(generator: ModuleType) -> None:
    text = REFERENCE.read_text()
    for name, model, is_list, _ in generator.sections():
        assert f"## {name}\n" in text
        assert (f"`[[{name}]]`" if is_list else f"`[{name}]`") in text
        assert issubclass(model, BaseModel)
        section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        for key in model.model_fields:
            assert f"| `{key}` |" in section, f"{name}.{key}"
    assert {name for name, *_ in generator.sections()} == set(Config.model_fields)


def test_defaults_and_bounds_come_from_the_models() -> None:
    text = REFERENCE.read_text()
    alerts = text.split("## alerts\n", 1)[1].split("\n## ", 1)[0]
    default = Config.model_fields["alerts"].default_factory()  # type: ignore[misc,call-arg]
    stale = f"| `stale_after_s` | number | `{default.stale_after_s!r}` |"
    assert stale in alerts
    assert "| `rapid_rise` | number | `0.15` | > 0, ≤ 1 |" in alerts
    assert "| `name` | string | required |" in text
    assert "`MARGINWATCH_ALERTS__STALE_AFTER_S`" in alerts


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_the_script_checks_and_writes(tmp_path: Path) -> None:
    out = tmp_path / "reference.md"
    command = [sys.executable, str(SCRIPT), "--output", str(out)]
    stale = subprocess.run([*command, "--check"], capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1 and "out of date" in stale.stdout
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    fresh = subprocess.run([*command, "--check"], capture_output=True, text=True, timeout=60)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert out.read_text() == REFERENCE.read_text()


def test_every_key_has_a_description(generator: ModuleType) -> None:
    """A new key (such as a threshold added to `PolicyConfig`) needs its comment in
    config/example.toml, or a description in its model."""
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("| `"):
            description = line.rstrip(" |").rsplit(" | ", 1)[1]
            assert not description.startswith("Environment:") and description, line
