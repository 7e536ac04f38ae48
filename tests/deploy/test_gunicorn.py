"""deploy/gunicorn.conf.py: the master warms Django before it forks."""

import subprocess
import sys

from .conftest import DEPLOY, ROOT

PROBE = """
import runpy, sys, types
import django
django.setup()
conf = runpy.run_path({conf!r})
before = "apps.reports.views" in sys.modules
server = types.SimpleNamespace(cfg=types.SimpleNamespace(preload_app={preload}))
conf["when_ready"](server)
print(before, "apps.reports.views" in sys.modules, "apps.api.urls" in sys.modules)
"""


def probe(preload: bool) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.format(conf=str(DEPLOY / "gunicorn.conf.py"), preload=preload),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_preloaded_master_imports_every_view_before_forking():
    assert probe(True) == ["False", "True", "True"]


def test_without_preload_the_master_stays_cold():
    assert probe(False) == ["False", "False", "False"]
