import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"deploy_{name}", DEPLOY / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def entrypoint():
    return _load("entrypoint")


@pytest.fixture(scope="session")
def runtime_requirements():
    return _load("runtime_requirements")


def documented_variables() -> set[str]:
    """Variables named in backticks in deploy/README.md or the README."""
    import re

    text = (DEPLOY / "README.md").read_text() + (ROOT / "README.md").read_text()
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))


def portal_reads() -> str:
    """The source of everything that reads the environment at start-up."""
    files = [
        ROOT / "portal/settings.py",
        DEPLOY / "gunicorn.conf.py",
        DEPLOY / "entrypoint.py",
        ROOT / "apps/core/metrics.py",
    ]
    return "\n".join(f.read_text() for f in files)
