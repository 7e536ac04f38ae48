"""deploy/gunicorn.conf.py: the master warms Django before it forks."""

import runpy
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


def test_no_control_socket_under_a_home_the_image_cannot_write():
    # gunicorn >= 25.1 opens a control socket under $HOME (/nonexistent in the
    # image, on a read-only root) and logs an error at every start without this.
    from gunicorn.config import Config

    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    config = Config()
    assert "control_socket_disable" in config.settings
    config.set("control_socket_disable", conf["control_socket_disable"])
    assert config.control_socket_disable is True
