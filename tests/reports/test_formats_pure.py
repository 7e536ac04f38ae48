"""The report writers of outside formats (``apps/reports/formats``: the POA&M
workbook, the PDF/A-3b document) stay pure: they import neither Django nor any
app, so they turn plain data into bytes and nothing else. The one exception is
the shared pure writers in ``apps.core.formats`` (the spreadsheet cells every
export writes through), which are held to the same rule in
tests/core/test_export_guards.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_WRITERS = "apps.core.formats"
MODULES = sorted(
    path.relative_to(ROOT).as_posix()
    for path in (ROOT / "apps/reports/formats").glob("*.py")
)


def _imported(path: Path) -> list[str]:
    """Every module a file imports; relative ones with their leading dots."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_the_writers_are_all_checked():
    names = {Path(m).stem for m in MODULES}
    assert {"poam_xlsx", "pdfa"} <= names, MODULES


@pytest.mark.parametrize("module", MODULES)
def test_a_writer_imports_neither_django_nor_an_app(module):
    wrong = [
        name
        for name in _imported(ROOT / module)
        if (name.split(".")[0] in ("django", "apps") or name.startswith(".."))
        and not (name == SHARED_WRITERS or name.startswith(SHARED_WRITERS + "."))
    ]
    assert wrong == [], f"{module} imports {wrong}"
