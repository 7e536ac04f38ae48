"""Celery workers and beat log JSON lines through the project's formatter:
Celery's own lines, task logs and a task's print()."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import logging
from celery.utils.log import get_task_logger
from portal.celery import app

app.log.setup(loglevel="INFO", redirect_stdouts=True)
logging.getLogger("celery.worker.consumer").info("Connected to broker")
get_task_logger("apps.reports.tasks").info("task line %s", 7)
print("printed by a task", flush=True)
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for name in ("DJANGO_ENV", "LOG_FORMAT", "DATABASE_URL"):
        env.pop(name, None)
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no output"
    return [json.loads(line) for line in lines]


def test_celery_setup_sends_every_line_through_the_json_formatter():
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean_env(LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    records = json_lines(done.stdout + done.stderr)
    by_logger = {r["logger"]: r for r in records}
    assert by_logger["celery.worker.consumer"]["message"] == "Connected to broker"
    assert by_logger["apps.reports.tasks"]["message"] == "task line 7"
    assert by_logger["celery.redirected"]["message"] == "printed by a task"
    assert all({"time", "level", "request_id"} <= r.keys() for r in records)


def test_plain_format_stays_plain():
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean_env(LOG_FORMAT="plain"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "INFO celery.worker.consumer [-] Connected to broker" in done.stderr


@pytest.mark.parametrize("role", [["worker", "default"], ["beat"]])
def test_the_worker_and_beat_roles_write_only_json(tmp_path, role):
    """The entry point's real command line, stopped once it has started."""
    sys.path.insert(0, str(ROOT / "deploy"))
    try:
        import entrypoint
    finally:
        sys.path.remove(str(ROOT / "deploy"))
    argv = entrypoint.argv_for(role)
    if role[0] == "beat":
        argv[argv.index("--schedule") + 1] = str(tmp_path / "schedule")
    env = clean_env(
        LOG_FORMAT="json",
        CELERY_BROKER_URL="memory://",
        CELERY_CONCURRENCY="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # The image runs as uid 10001; tests here may run as root, which makes
        # Celery print a warning before any logging is set up.
        PYTHONWARNINGS="ignore:You're running the worker with superuser",
    )
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                text = log.read_text()
                if "ready" in text or "beat: Starting" in text:
                    break
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    text = log.read_text()
    # Celery's signal handler prints this one line itself, to the real stdout
    # (deploy/README.md says so).
    text = text.replace("worker: Warm shutdown (MainProcess)\n", "")
    records = json_lines(text)
    messages = " ".join(r["message"] for r in records)
    assert "ready" in messages or "beat: Starting" in messages, messages
    assert any(r["logger"].startswith("celery") for r in records)
