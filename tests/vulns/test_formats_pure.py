"""The readers and writers of outside formats stay pure: no module under
``apps/vulns/formats`` or ``apps/stig/formats`` imports the ORM, a model, or the
services and selectors that read and write them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("apps/vulns/formats", "apps/stig/formats")
FORBIDDEN = ("models", "services", "selectors", "tasks", "views")
MODULES = sorted(
    path.relative_to(ROOT).as_posix()
    for package in PACKAGES
    for path in (ROOT / package).glob("*.py")
)


def _imported(path: Path) -> list[str]:
    """Every module a file imports, relative ones spelled as written."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.append(base)
            if not node.module:
                names.extend(base + alias.name for alias in node.names)
    return names


def test_every_formats_module_is_checked():
    # The readers of each package are found, not just its __init__.
    for package in PACKAGES:
        assert f"{package}/__init__.py" in MODULES
    assert {"apps/vulns/formats/vex.py", "apps/stig/formats/xccdf.py"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_formats_module_imports_no_database_code(module):
    wrong = [
        name
        for name in _imported(ROOT / module)
        if name.startswith("django.db")
        or any(part in FORBIDDEN for part in name.lstrip(".").split("."))
    ]
    assert wrong == [], f"{module} imports {wrong}"
