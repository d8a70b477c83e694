"""Every reference to a spec from the code resolves inside the repository (issue 18 item 6).

Docstrings and comments under monitor/, tests/, benchmarks/ and soak/ cite `wire.md`,
`margin-math.md`, `recording.md` (also written `spec/wire.md`, `../spec/…`, `docs/…`, or
`margin-math §6.2` without the suffix), often with sections: `wire.md §3.1`, `§3.3-§3.5`,
`margin-math.md §1.1, §2`, `wire.md §6 item 13` (item 13 of §6 is heading 6.13). Each cited file
must exist under docs/, and each cited section must be a numbered heading of that file. A bare
`§N` after a citation belongs to the last spec the file named (issue references such as
`issue 3 §5` are not spec sections). Source keys (`[B14]`, `[F1]`) in a file that cites
margin-math must be listed in margin-math.md's sources. Relative links in docs/*.md and
CONTRIBUTING.md must point at files that exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCANNED = ("monitor", "tests", "benchmarks", "soak")
SELF = Path(__file__).resolve()

#: A file reference: `wire.md`, `spec/recording.md`, `../spec/margin-math.md`, `docs/wire.md`;
#: `margin-math` also bare when a section or a source key follows (`margin-math §6.2`).
_MENTION = re.compile(
    r"(?<![\w/.-])(?P<prefix>(?:\.\./)?(?:spec/|docs/))?"
    r"(?:(?P<name>[a-z][a-z0-9_-]*)\.md\b|(?P<bare>margin-math)(?=\s*(?:§|\[)))"
)
#: A section token, with an optional `item N` (a numbered gotcha of wire.md §6).
_SECTION = re.compile(r"§\s?(?P<num>\d+(?:\.\d+)*)(?:\s+items?\s+(?P<item>\d+))?")
_ISSUE_BEFORE = re.compile(r"issues?\s+\d+\s*$", re.IGNORECASE)
_SOURCE_KEY = re.compile(r"(?<![\w\[])\[(?P<key>[ABCF]\d{1,2})\]")
_HEADING = re.compile(r"^#{1,6}\s+(?P<num>\d+(?:\.\d+)*)\.?\s", re.MULTILINE)
_LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")
#: Spec names whose sections the code cites; only they are checked for sections.
_SPECS = ("wire", "margin-math", "recording")


@dataclass(frozen=True)
class Citation:
    file: Path
    line: int
    doc: str  # the docs/ file name, e.g. "wire.md"
    section: str | None  # "3.1", or None for a file-only reference
    text: str

    def __str__(self) -> str:
        where = f"{self.file.relative_to(ROOT)}:{self.line}"
        return f"{where}: {self.text!r} → docs/{self.doc}" + (
            f" §{self.section}" if self.section else ""
        )


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _sources() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        files += sorted(p for p in (ROOT / top).rglob("*.py") if p.resolve() != SELF)
    return files


def citations_in(path: Path) -> list[Citation]:
    """Every spec reference of one source file, sections attributed as the module says."""
    text = path.read_text(encoding="utf-8")
    events: list[tuple[int, str, re.Match[str]]] = [
        (m.start(), "doc", m) for m in _MENTION.finditer(text)
    ]
    events += [(m.start(), "sec", m) for m in _SECTION.finditer(text)]
    events.sort(key=lambda e: e[0])
    found: list[Citation] = []
    current: str | None = None
    for offset, kind, m in events:
        line = _line_of(text, offset)
        if kind == "doc":
            name = m.group("name") or m.group("bare")
            if m.group("name") is not None and not m.group("prefix") and name not in _SPECS:
                continue  # `README.md`, `SOURCES.md`, …: not a spec reference
            current = name
            found.append(Citation(path, line, f"{name}.md", None, m.group(0)))
            continue
        if _ISSUE_BEFORE.search(text[max(0, offset - 20) : offset]):
            continue
        if current is None or current not in _SPECS:
            continue
        section = m.group("num")
        if m.group("item"):
            section = f"{section}.{m.group('item')}"
        found.append(Citation(path, line, f"{current}.md", section, m.group(0)))
    return found


@cache
def headings(doc: str) -> frozenset[str]:
    path = DOCS / doc
    if not path.is_file():
        return frozenset()
    return frozenset(m.group("num") for m in _HEADING.finditer(path.read_text(encoding="utf-8")))


def all_citations() -> list[Citation]:
    out: list[Citation] = []
    for path in _sources():
        out += citations_in(path)
    return out


def test_the_scanner_reads_the_forms_the_code_uses(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        '"""Rules (wire.md §4.1, §5.2), gaps (wire.md §6 item 13; §3.3-§3.5).\n\n'
        "See ../spec/margin-math.md §1.1, §2 and margin-math §6.2 [B14]; issue 3 §5.\n"
        'Format: spec/recording.md. README.md is not a spec."""\n',
        encoding="utf-8",
    )
    got = [(c.doc, c.section) for c in citations_in(sample)]
    assert got == [
        ("wire.md", None),
        ("wire.md", "4.1"),
        ("wire.md", "5.2"),
        ("wire.md", None),
        ("wire.md", "6.13"),
        ("wire.md", "3.3"),
        ("wire.md", "3.5"),
        ("margin-math.md", None),
        ("margin-math.md", "1.1"),
        ("margin-math.md", "2"),
        ("margin-math.md", None),
        ("margin-math.md", "6.2"),
        ("recording.md", None),
    ]


def test_the_code_cites_the_specs() -> None:
    """A guard for the scanner: the code does cite all three specs, with sections."""
    cited = {(c.doc, c.section is not None) for c in all_citations()}
    for spec in _SPECS:
        assert (f"{spec}.md", False) in cited
    assert ("wire.md", True) in cited
    assert ("margin-math.md", True) in cited


def test_every_cited_spec_is_in_docs() -> None:
    missing = [str(c) for c in all_citations() if not (DOCS / c.doc).is_file()]
    assert not missing, "cited but not in docs/:\n" + "\n".join(missing)


def test_every_cited_section_is_a_heading() -> None:
    missing = [
        str(c)
        for c in all_citations()
        if c.section is not None and c.section not in headings(c.doc)
    ]
    assert not missing, "no such numbered heading:\n" + "\n".join(missing)


def test_source_keys_cited_with_margin_math_are_listed() -> None:
    listed = set(_SOURCE_KEY.findall((DOCS / "margin-math.md").read_text(encoding="utf-8")))
    missing = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        if "margin-math" not in text:
            continue
        for m in _SOURCE_KEY.finditer(text):
            if m.group("key") not in listed:
                missing.append(f"{path.relative_to(ROOT)}:{_line_of(text, m.start())}: {m[0]}")
    assert not missing, "source keys not in margin-math.md §10:\n" + "\n".join(missing)


def _doc_pages() -> list[Path]:
    return [*sorted(DOCS.glob("*.md")), ROOT / "CONTRIBUTING.md"]


@pytest.mark.parametrize("page", _doc_pages(), ids=lambda p: p.name)
def test_links_and_sections_in_the_docs_resolve(page: Path) -> None:
    assert page.is_file(), f"{page.name} is missing"
    text = page.read_text(encoding="utf-8")
    broken = []
    for m in _LINK.finditer(text):
        target = m.group("target")
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (page.parent / target).exists():
            broken.append(f"{page.name}:{_line_of(text, m.start())}: link to {target}")
    # A section cited in a page is one of its own headings or of a spec the page names.
    named = {page.name} | {
        f"{m.group('name') or m.group('bare')}.md" for m in _MENTION.finditer(text)
    }
    known = set().union(*(headings(d) for d in named if (DOCS / d).is_file()))
    for m in _SECTION.finditer(text):
        section = m.group("num") + (f".{m.group('item')}" if m.group("item") else "")
        if known and section not in known:
            broken.append(f"{page.name}:{_line_of(text, m.start())}: §{section}")
    assert not broken, "\n".join(broken)
