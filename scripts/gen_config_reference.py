"""Generate docs/config-reference.md from the configuration models in monitor/config/.

Run `python scripts/gen_config_reference.py` after changing a model, an alert setting of the
policy's `PolicyConfig` (monitor/alerts/policy_config.py; the `[alerts]` keys are derived
from it) or the comments of config/example.toml; `--check` exits 1 when the file is out of date
(tests/test_config_reference.py does the same comparison). Every table and key comes from the
pydantic models: the key's type, default, whether it is required and its numeric bounds. A key's
description is its `Field(description=...)` when the model has one, else the comment above (or
beside) the key in config/example.toml, which documents every key in place, else the model's `#:`
comment above the field.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.config import (  # noqa: E402
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    SECRET_WAYS,
    Config,
)

OUTPUT = ROOT / "docs" / "config-reference.md"
EXAMPLE = ROOT / "config" / "example.toml"

_HEADER = re.compile(r"^\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*$")
_KEY = re.compile(r"^(#\s*)?([a-z][a-z0-9_]*)\s*=\s*(.*)$")
_TRAILING = re.compile(r"""\s#\s*(.+)$""")


# ---- descriptions from config/example.toml ------------------------------------------------------


def example_comments(text: str) -> dict[tuple[str, str], str]:
    """(table, key) → the comment block above the key's first appearance (commented out or not)
    plus any comment on the same line. Blank lines and table headers (commented out or not) end
    a comment block."""
    out: dict[tuple[str, str], str] = {}
    table = ""
    block: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        header = _HEADER.match(line) or _HEADER.match(line.lstrip("#").strip())
        if not line or header:
            block = []
            table = header.group(1) if header else table
            continue
        key = _KEY.match(line)
        if key and table:
            value = key.group(3)
            trailing = _TRAILING.search(_without_strings(value))
            parts = [*block, trailing.group(1).strip() if trailing else ""]
            text_ = " ".join(p for p in parts if p)
            if text_ and (table, key.group(2)) not in out:
                out[(table, key.group(2))] = text_
            block = []
            continue
        if line.startswith("#"):
            comment = line.lstrip("#").strip()
            if comment and not comment.startswith("----"):
                block.append(comment)
    return out


def _without_strings(value: str) -> str:
    """`value` with its quoted strings blanked (a `#` inside a string is no comment)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: " " * len(m.group()), value)


# ---- types, defaults, bounds --------------------------------------------------------------------


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(names)
    if origin is Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        Path: "path",
        SecretStr: "string (secret)",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined or isinstance(value, BaseModel):
        return "—"
    if isinstance(value, list):
        return "`[" + ", ".join(_scalar(v) for v in value) + "]`"
    return f"`{_scalar(value)}`"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    return repr(value)


def bounds_text(info: FieldInfo) -> str:
    parts = []
    for item in info.metadata:
        for attr, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
        if isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length}")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length}")
    return ", ".join(parts)


# ---- the document -------------------------------------------------------------------------------


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the model a field holds, whether it is a list of them) or (None, False); an optional
    table (`Model | None`) is its model."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        return _model_of(present[0]) if len(present) == 1 else (None, False)
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def sections() -> Iterator[tuple[str, type[BaseModel], bool, FieldInfo]]:
    for name, info in Config.model_fields.items():
        model, is_list = _model_of(info.annotation)
        if model is None:
            raise SystemExit(f"top-level key {name} is not a table: teach this script about it")
        yield name, model, is_list, info


def _doc(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    return " ".join(doc.split()) if doc else ""


_ATTRIBUTE = re.compile(r"^\s+([a-z][a-z0-9_]*)\s*:")


def attribute_comments(model: type[BaseModel]) -> dict[str, str]:
    """field → the `#:` comment above it in the source of the model (or of a base it has)."""
    out: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue  # made by create_model: its fields are documented elsewhere
        block: list[str] = []
        for line in source.splitlines():
            stripped = line.strip()
            if stripped.startswith("#:"):
                block.append(stripped[2:].strip())
                continue
            name = _ATTRIBUTE.match(line)
            if name and block:
                out[name.group(1)] = " ".join(block)
            block = []
    return out


def _secret_stems(model: type[BaseModel]) -> list[str]:
    fields = model.model_fields
    return [
        name
        for name in fields
        if all(f"{name}{way}" in fields for way in SECRET_WAYS if way)
        and typing.get_origin(fields[name].annotation) in (typing.Union, types.UnionType)
        and SecretStr in typing.get_args(fields[name].annotation)
    ]


def render() -> str:
    comments = example_comments(EXAMPLE.read_text())
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/gen_config_reference.py from monitor/config/ and the",
        "     comments of config/example.toml; do not edit by hand (a test compares). -->",
        "",
        "The configuration is one TOML file (`marginwatch check-config FILE` validates it and",
        "prints every problem with its field path). Unknown keys are errors. Relative paths are",
        "relative to the file's directory.",
        "",
        "**Environment overrides**: any key of a table such as `[alerts]` can be set with",
        f"`{ENV_PREFIX}<TABLE>{ENV_NESTED_DELIMITER}<KEY>` (e.g."
        f" `{ENV_PREFIX}ALERTS{ENV_NESTED_DELIMITER}STALE_AFTER_S=20`); lists and tables are"
        " JSON, and the environment wins over the file.",
        "",
        "**Secrets** (API keys and secrets, notification URLs) are given exactly one way each:",
        "`KEY` inline (the file must then be mode 0600), `KEY_file` (a file holding only the",
        "secret, mode 0600), `KEY_env` (an environment variable) or `KEY_credential` (a systemd",
        "credential, read from `$CREDENTIALS_DIRECTORY/NAME`).",
        "",
        "| table | |",
        "|---|---|",
    ]
    for name, model, is_list, _ in sections():
        header = f"[[{name}]]" if is_list else f"[{name}]"
        lines.append(f"| [`{header}`](#{name}) | {_doc(model)} |")
    for name, model, is_list, info in sections():
        header = f"[[{name}]]" if is_list else f"[{name}]"
        lines += ["", f"## {name}", "", f"`{header}`: {_doc(model)}", ""]
        if not is_list and info.default is None and not info.is_required():
            lines += ["Optional: without the table, this feature is off.", ""]
        if is_list:
            bound = bounds_text(info)
            many = f" ({bound})" if bound else ""
            lines.append(
                f"One table per entry{many}. From the environment, the whole list is one JSON"
                f" value: `{ENV_PREFIX}{name.upper()}='[{{...}}]'`."
            )
            lines.append("")
        secrets = _secret_stems(model)
        if secrets:
            ways = ", ".join(f"`{way or 'KEY'}`" for way in SECRET_WAYS)
            keys = ", ".join(f"`{s}`" for s in secrets)
            lines += [f"Secrets: {keys}, each exactly one way ({ways}).", ""]
        lines += ["| key | type | default | bounds | description |", "|---|---|---|---|---|"]
        own = attribute_comments(model)
        for key, field in model.model_fields.items():
            description = field.description or comments.get((name, key)) or own.get(key, "")
            if not is_list:
                env = f"{ENV_PREFIX}{name.upper()}{ENV_NESTED_DELIMITER}{key.upper()}"
                description = f"{description} Environment: `{env}`.".strip()
            cells = [
                f"`{key}`",
                type_name(field.annotation),
                default_text(field),
                bounds_text(field),
                description.replace("|", "\\|"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is outdated")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: %(default)s")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python scripts/gen_config_reference.py")
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
