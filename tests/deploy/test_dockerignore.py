""".dockerignore is an allow-list: the build context holds the code and what
the image runs, never an operator's secrets or local state. Evaluated with the
Docker SDK's implementation of the .dockerignore rules, on a copy of the tree
salted with the files an operator following deploy/README.md would leave."""

import re
import shutil

import pytest
from docker.utils.build import exclude_paths

from .conftest import DEPLOY, ROOT

PLANTED = [
    ".env",
    "deploy/.env",
    "deploy/.env.example",
    "deploy/secrets/report-signing.key",
    "deploy/secrets/report-signing.crt",
    "apps/core/.env",
    "portal/leftover.pem",
    "apps/reports/signing.key",
    "db.sqlite3",
    "db.sqlite3-journal",
    ".venv/bin/python",
    ".git/config",
    "media/reports/1.pdf",
    "tests/conftest.py",
    "bench/bench_load.py",
    "apps/core/__pycache__/models.cpython-311.pyc",
]
NEEDED = [
    "manage.py",
    "pyproject.toml",
    "requirements.lock",
    "apps/core/models.py",
    "apps/vulns/testdata/example.json",
    "portal/settings.py",
    "templates/base.html",
    "static/css/portal.css",
    "deploy/entrypoint.py",
    "deploy/gunicorn.conf.py",
    "deploy/runtime_requirements.py",
]


def patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and line[0] != "#"]


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A build context: every planted and needed file, empty."""
    root = tmp_path_factory.mktemp("context")
    for name in PLANTED + NEEDED:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    shutil.copy(ROOT / ".dockerignore", root / ".dockerignore")
    return set(exclude_paths(str(root), patterns(), dockerfile="deploy/Dockerfile"))


def test_the_first_rule_excludes_everything():
    assert patterns()[0] == "*"


@pytest.mark.parametrize("name", PLANTED)
def test_secrets_and_local_state_stay_out(context, name):
    assert name not in context
    assert not any(path.startswith(name + "/") for path in context)


@pytest.mark.parametrize("name", NEEDED)
def test_what_the_image_runs_goes_in(context, name):
    assert name in context


def test_deploy_secrets_folder_stays_out_entirely(context):
    assert not [path for path in context if "secrets" in path.split("/")]


def test_everything_the_dockerfile_copies_is_allowed(context):
    # COPY lines name files in the context; a denied one fails the build.
    text = (DEPLOY / "Dockerfile").read_text()
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for source in sources.split():
            if source != ".":
                assert source in context, source


def test_the_dockerfile_takes_its_base_as_a_build_argument():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=\S+$", text, re.M)
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${PYTHON_IMAGE}"] * 2
