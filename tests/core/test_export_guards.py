"""The export guards: only the one writer (``apps/core/formats/spreadsheet.py``)
writes CSV or a workbook, every module that hands rows to it belongs to a door
of the registry (tests/core/export_doors.py, which the walker fetches), and
the writer itself stays pure."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from .export_doors import DOORS, ROOT

WRITER = "apps/core/formats/spreadsheet.py"
# What the writer offers that writes a cell (its constants do not).
WRITER_MODULES = {
    "apps.core.exports": {"csv_response"},
    "apps.core.formats.spreadsheet": {
        "Sheet",
        "csv_cell",
        "csv_lines",
        "text_cell",
        "xlsx_cell",
        "xlsx_value",
        "xlsx_workbook",
    },
}


def _modules(root: Path = ROOT) -> list[Path]:
    """Every module of ``root``'s apps but their migrations."""
    apps = root / "apps"
    return sorted(p for p in apps.rglob("*.py") if "migrations" not in p.parts)


def _rel(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).as_posix()


# Writing CSV or a workbook by hand, which only the one writer may do.
FORBIDDEN = {
    "csv.writer",
    "csv.DictWriter",
    "openpyxl.Workbook",
    "openpyxl.workbook.Workbook",
    "openpyxl.workbook.workbook.Workbook",
}
FORBIDDEN_MODULES = ("xlsxwriter", "xlwt", "pyexcel")


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def spreadsheet_writers(source: str) -> list[str]:
    """What in ``source`` writes CSV or a workbook without the one writer."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                aliases[bound] = alias.name if alias.asname else bound
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(node.module)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                if full in FORBIDDEN:
                    found.append(full)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = _dotted(node, aliases)
            if name in FORBIDDEN:
                found.append(name)
    return found


@pytest.mark.parametrize(
    "source",
    [
        "import csv\nw = csv.writer(f)",
        "import csv as c\nw = c.DictWriter(f, [])",
        "from csv import writer\nw = writer(f)",
        "from openpyxl import Workbook\nb = Workbook()",
        "import openpyxl\nb = openpyxl.Workbook(write_only=True)",
        "from openpyxl.workbook.workbook import Workbook as W",
        "import xlsxwriter",
    ],
)
def test_the_guard_sees_a_hand_written_export(source):
    assert spreadsheet_writers(source)


def test_the_guard_lets_reading_and_the_writer_s_api_pass():
    source = (
        "import csv\nfrom openpyxl import load_workbook\n"
        "rows = csv.reader(f)\nfrom apps.core.exports import csv_response\n"
    )
    assert spreadsheet_writers(source) == []


def test_only_the_one_writer_writes_csv_or_workbooks():
    offenders = {
        _rel(path): found
        for path in _modules()
        if _rel(path) != WRITER and (found := spreadsheet_writers(path.read_text()))
    }
    assert offenders == {}
    assert spreadsheet_writers((ROOT / WRITER).read_text())


def _imports_from(tree: ast.AST) -> Iterator[tuple[str, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield node.module, alias.name


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(path: Path, root: Path, module: str, level: int) -> str:
    """The absolute name of what ``from <level dots><module>`` imports."""
    if not level:
        return module
    package = list(path.relative_to(root).parts[:-1])
    package = package[: len(package) - (level - 1)]
    return ".".join([*package, module] if module else package)


def _names_leading_to(path: Path, root: Path, tree: ast.AST, offers: dict) -> set[str]:
    """The names ``tree`` binds to something that leads to the writer: a
    name imported from a module offering it, or a module imported whole
    whose offered attribute is read."""
    used, whole = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    whole[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(path, root, node.module or "", node.level)
            for alias in node.names:
                bound = alias.asname or alias.name
                names = offers.get(source, set())
                if alias.name in names:
                    used.add(bound)
                else:
                    whole[bound] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node.value, whole)
            names = offers.get(dotted or "", set())
            if node.attr in names:
                used.add(_root(node))
    return used


def _root(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _export_modules(root: Path = ROOT) -> set[str]:
    """The modules rows take to the writer: those importing it, then those
    importing a public function of one of them that calls what it imported,
    until nothing new is found."""
    trees = {
        _module_name(p, root): (p, ast.parse(p.read_text())) for p in _modules(root)
    }
    # module -> the names it offers that lead to the writer
    offers = {module: set(names) for module, names in WRITER_MODULES.items()}
    changed = True
    while changed:
        changed = False
        for name, (path, tree) in trees.items():
            if name in WRITER_MODULES:
                continue
            used = _names_leading_to(path, root, tree, offers)
            if not used:
                continue
            leading = {
                node.name
                for node in tree.body
                if isinstance(node, ast.FunctionDef)
                and not node.name.startswith("_")
                and any(
                    isinstance(n, ast.Name) and n.id in used for n in ast.walk(node)
                )
            } or {""}
            if offers.get(name) != leading:
                offers[name] = leading
                changed = True
    return {_rel(trees[name][0], root) for name in offers if name not in WRITER_MODULES}


SHOP = {
    "apps/core/exports.py": "def csv_response(rows, filename): ...\n",
    "apps/core/formats/spreadsheet.py": "def csv_lines(rows): ...\n",
    # A new export: a function handing rows to the writer...
    "apps/shop/exports.py": (
        "from apps.core.exports import csv_response\n"
        "def orders_csv(rows):\n"
        "    return csv_response(rows, 'orders.csv')\n"
        "def _unused(): ...\n"
    ),
    # ... and the view serving it, reaching it through its module.
    "apps/shop/views.py": (
        "from . import exports\n"
        "class OrdersView:\n"
        "    def get(self, request):\n"
        "        return exports.orders_csv([])\n"
    ),
    # Importing the module without its export is not a door.
    "apps/shop/urls.py": "from . import exports, views\nURLS = [views.OrdersView]\n",
    # Nor is naming the writer's constants.
    "apps/shop/media.py": (
        "from apps.core.formats.spreadsheet import XLSX_MEDIA_TYPE\n"
        "def media_type():\n"
        "    return XLSX_MEDIA_TYPE\n"
    ),
    "apps/shop/__init__.py": "",
    "apps/other/views.py": "from apps.shop.views import OrdersView\n",
}


def test_discovery_finds_a_new_door_and_its_view(tmp_path):
    for name, text in SHOP.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _export_modules(tmp_path) == {"apps/shop/exports.py", "apps/shop/views.py"}


def test_every_module_that_hands_rows_to_the_writer_is_a_registered_door():
    registered = {module for door in DOORS for module in door.modules}
    assert _export_modules() == registered


def test_the_writer_imports_neither_django_nor_an_app():
    for path in (ROOT / "apps/core/formats").glob("*.py"):
        imported = [module for module, _ in _imports_from(ast.parse(path.read_text()))]
        imported += [
            alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import)
            for alias in node.names
        ]
        wrong = [m for m in imported if m.split(".")[0] in ("django", "apps")]
        assert wrong == [], f"{_rel(path)} imports {wrong}"
