"""The production pieces as processes: gunicorn (2 workers) and a Celery worker,
started by the image's entry point, against PostgreSQL, Redis and an
S3-compatible server (moto's server mode), with production settings.

Through HTTP an SBOM goes in by the evidence API; its bytes must land in the
bucket, and the findings match it queues must run on the real worker. Then one
gunicorn worker is killed with SIGKILL under load: only the request it was
serving may fail.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from tests.conftest import require_service

from .conftest import DEPLOY, ROOT

pytestmark = pytest.mark.services

PYTHON = sys.executable
SCRATCH_DB = "portal_stack_test"
BUCKET = "portal-stack-test"
SBOM = ROOT / "apps/catalog/testdata/guac__busybox-cyclonedx.json"
DIGEST = "sha256:" + "5e" * 32
METRICS_TOKEN = "stack-test-metrics-token"
# Redis database of its own, emptied before and after.
REDIS_DB = 13


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with {proc.returncode}")
        with suppress(Exception):
            value = predicate()
            if value:
                return value
        time.sleep(0.2)
    last = ""
    with suppress(Exception):
        last = repr(predicate())
    pytest.fail(f"{what}: not within {timeout} s (last: {last})")


def http_get(port: int, path: str, headers=None, timeout=10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1", **(headers or {})})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def post_multipart(port: int, path: str, fields: dict, files: dict, token: str):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/json\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Host": "127.0.0.1",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Authorization": f"Bearer {token}",
            },
        )
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


@contextmanager
def process(argv: list[str], env: dict, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.fixture(scope="module")
def services_up():
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")
    redis = pytest.importorskip("redis")
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    parts = urlsplit(url)
    broker = f"redis://{parts.hostname}:{parts.port or 6379}/{REDIS_DB}"
    client = redis.Redis.from_url(broker)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    client.flushdb()
    yield broker
    client.flushdb()


@pytest.fixture(scope="module")
def scratch_database(services_up):
    """A fresh PostgreSQL database on the test server, dropped afterwards."""
    import psycopg

    settings_dict = connection.settings_dict
    dsn = {
        "host": settings_dict["HOST"] or "127.0.0.1",
        "port": settings_dict["PORT"] or 5432,
        "user": settings_dict["USER"],
        "password": settings_dict["PASSWORD"] or None,
        "dbname": "postgres",
    }

    def admin(sql: str) -> None:
        with psycopg.connect(**dsn, autocommit=True) as conn:
            conn.execute(sql)

    admin(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
    admin(f"CREATE DATABASE {SCRATCH_DB}")
    password = f":{dsn['password']}" if dsn["password"] else ""
    yield f"postgres://{dsn['user']}{password}@{dsn['host']}:{dsn['port']}/{SCRATCH_DB}"
    admin(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


@pytest.fixture(scope="module")
def stack(scratch_database, services_up, tmp_path_factory):
    """moto (S3), migrate, then gunicorn with 2 workers and an ingest worker."""
    import boto3

    tmp_path = tmp_path_factory.mktemp("stack")
    s3_port, web_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DJANGO_ENV": "production",
        "SECRET_KEY": "stack-test-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": scratch_database,
        "CELERY_BROKER_URL": services_up,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "METRICS_TOKEN": METRICS_TOKEN,
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    entry = [PYTHON, str(DEPLOY / "entrypoint.py")]
    moto = [str(Path(PYTHON).parent / "moto_server"), "-H", "127.0.0.1", "-p"]
    with process([*moto, str(s3_port)], env, tmp_path / "moto.log") as moto_proc:
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_S3_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        wait_for(lambda: s3.list_buckets() is not None, 20, "moto", moto_proc)
        s3.create_bucket(Bucket=BUCKET)
        # The migrate role: migrations, then check --deploy on these settings.
        migrate = subprocess.run(
            [*entry, "migrate"], env=env, cwd=ROOT, capture_output=True, check=False
        )
        assert migrate.returncode == 0, (migrate.stdout + migrate.stderr).decode()[
            -3000:
        ]
        setup = subprocess.run(
            [*entry, "manage", "shell", "-c", SETUP.format(digest=DIGEST)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        token = setup.stdout.strip().splitlines()[-1]
        with (
            process([*entry, "web"], env, tmp_path / "web.log") as web,
            # Each process has its metrics directory, as each container does.
            process(
                [*entry, "worker", "ingest"],
                {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom-worker")},
                tmp_path / "worker.log",
            ) as worker,
        ):
            wait_for(lambda: http_get(web_port, "/readyz")[0] == 200, 90, "readyz", web)
            wait_for(
                lambda: b"ready" in (tmp_path / "worker.log").read_bytes(),
                90,
                "celery worker",
                worker,
            )
            yield {
                "port": web_port,
                "web": web,
                "token": token,
                "s3": s3,
                "logs": tmp_path,
            }


SETUP = """
from datetime import UTC, datetime
from apps.accounts.models import ApiToken, User
from apps.accounts.services import api_token_create
from apps.catalog import services as catalog
from apps.orgs.models import Membership, Organization

staff = User.objects.create_user(
    email="loader@example.com", password=None, is_staff=True
)
org = Organization.objects.create(name="Publisher", slug="publisher")
Membership.objects.create(org=org, user=staff, role="owner")
repository = catalog.repository_upsert(name="busybox", category="tool")
series = catalog.series_upsert(repository=repository, name="1.36")
variant = catalog.variant_get_or_create(series=series)
catalog.digest_register(
    variant=variant, digest="{digest}", built_at=datetime(2025, 1, 1, tzinfo=UTC),
    tags=["1.36"],
)
_, raw = api_token_create(
    org=org, name="loader", scopes=[ApiToken.Scope.CATALOG_WRITE],
    expires_at=None, actor=staff,
)
print(raw)
"""


def gunicorn_workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_evidence_lands_in_the_bucket_and_the_worker_matches_it(stack):
    content = SBOM.read_bytes()
    status, body = post_multipart(
        stack["port"],
        "/api/v1/evidence/",
        {"kind": "sbom", "digest": DIGEST},
        {"document": ("sbom.json", content)},
        stack["token"],
    )
    assert status == 201, body

    s3 = stack["s3"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    stored = [
        key
        for key in keys
        if s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == content
    ]
    assert len(stored) == 1, keys
    assert stored[0].startswith("evidence/")

    # The import queued vulns.findings_match on the ingest queue; the real
    # worker (not an eager call) ran it.
    log = stack["logs"] / "worker.log"
    wait_for(
        lambda: (
            b"vulns.findings_match" in log.read_bytes()
            and b"succeeded" in log.read_bytes()
        ),
        30,
        "findings match on the worker",
    )

    # The web's logs are JSON lines with the request id it answered with.
    web_log = (stack["logs"] / "web.log").read_text()
    access = [
        json.loads(line)
        for line in web_log.splitlines()
        if line.startswith("{") and '"path":"/api/v1/evidence/"' in line
    ]
    assert access
    assert len(access[0]["request_id"]) == 32

    # /metrics adds up both gunicorn workers' counts.
    status, text = http_get(
        stack["port"], "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200
    assert b'route="api:evidence-import"' in text
    assert http_get(stack["port"], "/metrics")[0] == 404


def test_a_killed_web_worker_loses_only_its_request_in_flight(stack):
    port, master = stack["port"], stack["web"].pid
    workers = wait_for(lambda: gunicorn_workers(master), 10, "gunicorn workers")
    assert len(workers) == 2
    results: list[str] = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            try:
                status, _ = http_get(port, "/api/v1/repositories/", timeout=10)
                results.append("ok" if status == 200 else f"status {status}")
            except (OSError, http.client.HTTPException) as exc:
                results.append(type(exc).__name__)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    os.kill(workers[0], signal.SIGKILL)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(timeout=15)

    failed = [r for r in results if r != "ok"]
    served = len(results) - len(failed)
    print(
        f"\nkill -9 of one of 2 gunicorn workers under 8 clients: "
        f"{served} served, {len(failed)} failed {failed}"
    )
    assert served > 50
    # A sync worker serves one request at a time: that one may be lost.
    assert len(failed) <= 1, failed
    # The master replaced it.
    replaced = wait_for(lambda: len(gunicorn_workers(master)) == 2, 10, "respawn")
    assert replaced
    assert workers[0] not in gunicorn_workers(master)
    assert http_get(port, "/healthz")[0] == 200
