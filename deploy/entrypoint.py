#!/usr/bin/env python3
"""The container's entry point: one image, the role chosen by argument.

    web               gunicorn with deploy/gunicorn.conf.py
    worker QUEUE      a Celery worker consuming one queue (default, ingest, reports)
    beat              Celery beat; run exactly one
    migrate           apply migrations, then `check --deploy --fail-level WARNING`,
                      as the schema owner when MIGRATE_DATABASE_URL is set
    healthcheck       the image's HEALTHCHECK; what it checks follows PID 1's role
    healthcheck --liveness
                      the same without the broker: a worker's or beat's
                      heartbeat file (apps/core/liveness.py), for liveness probes
    manage ARGS...    any manage.py command (createsuperuser, audit_verify, ...)

It replaces itself with the real process (exec), so signals reach it directly.
Django is not imported here: the healthcheck must stay cheap.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().parent.parent
COMMANDS = ("web", "worker", "beat", "migrate", "healthcheck", "manage")
# The queues of settings.CELERY_QUEUE_NAMES (a test keeps the two equal).
QUEUES = ("default", "ingest", "reports")


def _clear_multiproc_dir() -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


def argv_for(args: list[str]) -> list[str]:
    """The command line a role runs; raises SystemExit with usage otherwise."""
    if not args or args[0] not in COMMANDS:
        raise SystemExit(f"usage: entrypoint.py {{{'|'.join(COMMANDS)}}} [args]")
    role, rest = args[0], args[1:]
    python = sys.executable
    if role == "web":
        return [
            python,
            "-m",
            "gunicorn",
            "-c",
            str(APP / "deploy/gunicorn.conf.py"),
            "portal.wsgi",
        ]
    if role == "worker":
        if len(rest) != 1 or rest[0] not in QUEUES:
            raise SystemExit(f"worker needs one queue of: {', '.join(QUEUES)}")
        queue = rest[0]
        return [
            python,
            "-m",
            "celery",
            # No banner: every line on stdout is a JSON log record
            # (apps/core/celery_logging.py).
            "--quiet",
            "-A",
            "portal",
            "worker",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--concurrency",
            os.environ.get("CELERY_CONCURRENCY", "2"),
            # acks_late tasks: take one message at a time, so a lost worker
            # strands at most the ones it was running.
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "-l",
            os.environ.get("LOG_LEVEL", "INFO"),
        ]
    if role == "beat":
        return [
            python,
            "-m",
            "celery",
            "--quiet",
            "-A",
            "portal",
            "beat",
            # Sends only while it holds the beat lock in Redis (apps/core/beat.py).
            "--scheduler",
            "apps.core.beat:LockedScheduler",
            "--schedule",
            os.environ.get("CELERY_BEAT_SCHEDULE_FILE", "/tmp/celerybeat-schedule"),  # noqa: S108
            "-l",
            os.environ.get("LOG_LEVEL", "INFO"),
        ]
    if role == "migrate":
        return [python, str(APP / "manage.py"), "migrate", "--noinput"]
    if role == "manage":
        return [python, str(APP / "manage.py"), *rest]
    return [python, str(Path(__file__).resolve()), "healthcheck"]


def migrate_env(environ) -> dict[str, str]:
    """The migrate role's environment: MIGRATE_DATABASE_URL, the schema
    owner's URL (deploy/postgres/app-role.sql), replaces DATABASE_URL, the
    runtime role's, which may not create or alter tables. Only the migrate
    container is given it."""
    env = dict(environ)
    owner = env.pop("MIGRATE_DATABASE_URL", "")
    if owner:
        env["DATABASE_URL"] = owner
    return env


def preflight(args: list[str]) -> list[str] | None:
    """The check a role runs before it starts, or None. A production reports
    worker signs every report: without a usable key it refuses to start
    (apps/reports/system_checks.py) instead of failing the first report."""
    production = os.environ.get("DJANGO_ENV") == "production"
    if production and args[:2] == ["worker", "reports"]:
        return [
            sys.executable,
            str(APP / "manage.py"),
            "check",
            "--tag",
            "report_signing",
            "--fail-level",
            "ERROR",
        ]
    return None


def heartbeat_fresh() -> int:
    """0 when the heartbeat file the worker or beat writes (apps/core/liveness.py)
    is recent: the process runs, whatever the broker does."""
    path = Path(os.environ.get("PORTAL_HEARTBEAT_FILE", "/tmp/portal-heartbeat"))  # noqa: S108
    max_age = float(os.environ.get("PORTAL_HEARTBEAT_MAX_AGE", "90"))
    try:
        age = time.time() - float(path.read_text().strip())
    except (OSError, ValueError):
        print(f"no heartbeat in {path}", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"heartbeat {age:.0f} s old (limit {max_age:.0f} s)", file=sys.stderr)
        return 1
    return 0


def healthcheck(liveness: bool = False) -> int:
    """0 when the container's main process is well, from PID 1's command line:
    the web answers /healthz; a worker answers a Celery ping (through the
    broker, so a worker cut off from it counts as unwell: readiness); beat is
    alive. With ``liveness``, workers and beat are judged by their heartbeat
    file alone, so a broker outage restarts nothing."""
    try:
        cmdline = [
            part.decode() for part in Path("/proc/1/cmdline").read_bytes().split(b"\0")
        ]
    except OSError:
        cmdline = []
    if any("gunicorn" in part for part in cmdline):
        port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rsplit(":", 1)[-1]
        url = f"http://127.0.0.1:{port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                return 0 if answer.status == 200 else 1
        except OSError:
            return 1
    if liveness and ("worker" in cmdline or "beat" in cmdline):
        return heartbeat_fresh()
    if "worker" in cmdline and "-Q" in cmdline:
        queue = cmdline[cmdline.index("-Q") + 1]
        ping = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "inspect",
                "ping",
                "--timeout",
                "10",
                "-d",
                f"{queue}@{socket.gethostname()}",
            ],
            cwd=APP,
            capture_output=True,
            check=False,
        )
        return ping.returncode
    return 0


def main(args: list[str]) -> None:
    if args[:1] == ["healthcheck"]:
        if args[1:] not in ([], ["--liveness"]):
            raise SystemExit("usage: entrypoint.py healthcheck [--liveness]")
        raise SystemExit(healthcheck(liveness=args[1:] == ["--liveness"]))
    argv = argv_for(args)
    if args[0] in {"web", "worker"}:
        _clear_multiproc_dir()
    os.chdir(APP)
    check = preflight(args)
    if check is not None:
        done = subprocess.run(  # noqa: S603
            check, env={**os.environ, "REPORT_SIGNING_REQUIRED": "true"}, check=False
        )
        if done.returncode:
            raise SystemExit(done.returncode)
    env = None
    if args[0] == "migrate":
        env = migrate_env(os.environ)
        # Then the deployment checks: a bad production setting stops the rollout.
        subprocess.run(argv, check=True, env=env)  # noqa: S603
        argv = [
            sys.executable,
            str(APP / "manage.py"),
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ]
    os.chdir(APP)
    if env is not None:
        os.execvpe(argv[0], argv, env)  # noqa: S606
    os.execvp(argv[0], argv)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])
