"""Every HTTP request the portal makes goes through apps/core/outbound.py: no
other module of apps/ or portal/ imports or calls an HTTP client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Modules that open HTTP connections (or hand out something that does).
CLIENTS = (
    "requests",
    "urllib3",
    "httpx",
    "http.client",
    "urllib.request",
    "aiohttp",
    "pycurl",
)

# path -> why it may use an HTTP client.
ALLOWED = {
    "apps/core/outbound.py": "the outbound policy itself: it checks each "
    "destination, pins the connection to the checked address and limits the "
    "answer; everything else calls it",
}


def _is_client(module: str) -> bool:
    return any(module == c or module.startswith(f"{c}.") for c in CLIENTS)


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def uses_of_http_clients(source: str) -> list[str]:
    """Each import, attribute use or dynamic import of an HTTP client in
    ``source``, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [
                f"{line}: import {a.name}" for a in node.names if _is_client(a.name)
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{a.name}" for a in node.names]
            if _is_client(node.module) or any(_is_client(n) for n in names):
                found.append(f"{line}: from {node.module} import ...")
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted in CLIENTS and "." in dotted:
                found.append(f"{line}: {dotted}")
        elif isinstance(node, ast.Call) and _dotted(node.func) in {
            "__import__",
            "importlib.import_module",
            "import_module",
        }:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and _is_client(str(first.value)):
                found.append(f"{line}: dynamic import of {first.value}")
    return found


def _sources() -> list[Path]:
    return sorted(
        path
        for top in ("apps", "portal")
        for path in (ROOT / top).rglob("*.py")
        if ".venv" not in path.parts
    )


def test_only_the_outbound_module_uses_an_http_client():
    offenders = []
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        if relative in ALLOWED:
            continue
        offenders += [
            f"{relative}:{use}" for use in uses_of_http_clients(path.read_text())
        ]
    assert not offenders, (
        "make requests through apps.core.outbound (get, post, request, or "
        "requests_session() for a library), not directly:\n" + "\n".join(offenders)
    )


def test_each_allowed_module_exists_and_still_needs_its_place():
    for relative, reason in ALLOWED.items():
        assert reason
        path = ROOT / relative
        assert path.exists(), f"stale entry: {relative}"
        assert uses_of_http_clients(path.read_text()), f"not needed: {relative}"


@pytest.mark.parametrize(
    "source",
    [
        "import requests",
        "import requests.adapters as a",
        "import urllib3",
        "import httpx",
        "import http.client",
        "import urllib.request",
        "from requests import Session",
        "from urllib3.util import connection",
        "from http import client",
        "from urllib import request",
        "from http.client import HTTPSConnection",
        "import urllib\nurllib.request.urlopen('https://x')",
        "import http\nhttp.client.HTTPConnection('x')",
        "def f():\n    import requests\n    return requests.get('https://x')",
        "import importlib\nimportlib.import_module('requests')",
        "__import__('urllib3')",
    ],
)
def test_the_guard_sees_each_way_of_reaching_a_client(source):
    assert uses_of_http_clients(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from urllib.parse import urlsplit",
        "import urllib.parse",
        "from http import HTTPStatus",
        "from apps.core import outbound\noutbound.get('https://x')",
        "from .requests import x",
        "packages = [('requests', '2.25.1')]",
    ],
)
def test_the_guard_lets_other_modules_be(source):
    assert uses_of_http_clients(source) == [], source
