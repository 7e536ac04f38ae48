"""What the HTTP load benchmarks share: production settings for the web
processes, gunicorn started through the image's entry point, wrk and its
figures. Django is not imported here.

Used by bench_load.py and bench_registry_token.py.
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DURATION = int(os.environ.get("DURATION", "60"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
THREADS = int(os.environ.get("WRK_THREADS", "2"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

WRK = shutil.which("wrk")


def production_env(redis_url: str = REDIS_URL) -> dict[str, str]:
    """Production settings for the web processes and the benchmark itself
    (they share them: a session or token made here must be valid there)."""
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": "bench-" + secrets.token_hex(32),
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "CELERY_BROKER_URL": redis_url,
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "CONN_MAX_AGE": "60",
        # Throttling stays on (a cache round trip per API call, as in
        # production), with a rate the load cannot reach.
        "API_THROTTLE_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="portal-bench-prom-"),
    }


def ensure_wrk() -> str:
    global WRK
    if WRK:
        return WRK
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install wrk")
        subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],  # noqa: S607
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        WRK = shutil.which("wrk")
    if not WRK:
        raise SystemExit("Install wrk first: sudo apt-get install wrk")
    return WRK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(settings_module: str) -> tuple[subprocess.Popen, int]:
    """gunicorn through deploy/entrypoint.py (workers from the CPU count) on
    a free loopback port, once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("WEB_CONCURRENCY", None)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "deploy/entrypoint.py"), "web"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz")
            if settings_module.startswith("bench"):
                request = urllib.request.Request(f"http://127.0.0.1:{port}/bare")
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                if answer.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"gunicorn ({settings_module}) did not start")


def warm(url: str, headers: dict, n: int = 20) -> None:
    # Every worker loads its URLconf and opens its connection before timing.
    for _ in range(n):
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            answer.read()


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def run_wrk(url: str, headers: dict, duration: int = DURATION) -> dict:
    argv = [
        ensure_wrk(),
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "--latency",
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(  # noqa: S603
        [*argv, url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])
    total = int(re.search(r"(\d+) requests in", out)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(non2xx[1]) if non2xx else 0) + (
        sum(int(x) for x in sockets.groups()) if sockets else 0
    )
    return {"rps": rps, "p50": p50, "p99": p99, "requests": total, "errors": errors}


def print_table(results: dict[str, dict], ceiling: float) -> None:
    """req/s, p50/p99, requests, errors and the share of the bare view."""
    print(
        f"{'endpoint':26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'requests':>9} {'errors':>7} {'vs bare':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:26} {r['rps']:9.1f} {r['p50']:8.1f} {r['p99']:8.1f} "
            f"{r['requests']:9d} {r['errors']:7d} {r['rps'] / ceiling:8.0%}"
        )
