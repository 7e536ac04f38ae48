"""The registry token service under load, and a pull through the real registry.

Seeds a scratch PostgreSQL database (CATALOG repositories with FIPS variants,
ORGS organizations with entitlements, an entitled organization's
``registry:pull`` token and a publisher staff ``registry:push`` token), starts
gunicorn through the image's entry point with production settings (as
bench_load.py does) and measures with wrk, DURATION seconds each at
CONNECTIONS connections:

  * the token endpoint: GET /v2/token?service=...&scope=repository:<r>-fips:pull
    with HTTP Basic (the pull token), the entitled answer (an ES256 JWT granting
    pull, one pull log row);
  * the ceiling: a bare Django JSON view with the same settings and middleware
    (bench/bare_settings.py), its own gunicorn, measured first and again last.

Prints requests/s, p50/p99, errors and each one's share of the bare view; the
target is 40 %. Below it, PROFILE_REQUESTS token requests are profiled in this
process (cProfile, through Django's test client: the same middleware and view)
and the functions that take the time are printed.

Then a small image (an OCI layout built here) is pushed to Debian's
docker-registry and pulled with skopeo PULLS times, through a registry with
token authentication against that gunicorn (the portal in the loop: a token
per pull, notifications to the portal as deploy/registry/config.yml sends
them) and through one without authentication; the medians of both are printed.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/12 \\
        DURATION=30 .venv/bin/python bench/bench_registry_token.py

Needs wrk, docker-registry and skopeo (Debian packages of those names; .ci/run
installs them) and Redis.
"""

import base64
import cProfile
import io
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from wrkbench import (  # noqa: E402
    CONNECTIONS,
    DURATION,
    THREADS,
    ensure_wrk,
    print_table,
    production_env,
    run_wrk,
    start_gunicorn,
    warm,
)

CATALOG = int(os.environ.get("CATALOG", "300"))
ORGS = int(os.environ.get("ORGS", "500"))
PULLS = int(os.environ.get("PULLS", "20"))
PROFILE_REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "2000"))
TARGET = 0.40
SERVICE = "portal-registry"
ISSUER = "portal-bench"
REPOSITORY = "bench-nginx"
PATH = f"{REPOSITORY}-fips"
TAG = "1.27"

if "BENCH_DATABASE_URL" not in os.environ:
    raise SystemExit("Set BENCH_DATABASE_URL to a scratch PostgreSQL database.")


def _token_key_files(directory: Path) -> tuple[Path, Path]:
    """A P-256 key and self-signed certificate, as deploy/README.md makes them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench tokens")])
    now = datetime.now(tz=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / "token.key", directory / "token.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


WORK = Path(tempfile.mkdtemp(prefix="portal-bench-registry-"))
KEY_FILE, CERT_FILE = _token_key_files(WORK)
NOTIFICATIONS_SECRET = secrets.token_hex(32)
os.environ.update(production_env())
os.environ.update(
    {
        "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "MEDIA_ROOT": str(WORK / "media"),
        "REGISTRY_SERVICE": SERVICE,
        "REGISTRY_TOKEN_ISSUER": ISSUER,
        "REGISTRY_PUBLIC_HOST": "127.0.0.1:5000",
        "REGISTRY_NOTIFICATIONS_SECRET": NOTIFICATIONS_SECRET,
        "REGISTRY_TOKEN_KEY_FILE": str(KEY_FILE),
        "REGISTRY_TOKEN_CERT_FILE": str(CERT_FILE),
    }
)

import django  # noqa: E402

django.setup()

import jwt  # noqa: E402
from allauth.mfa.models import Authenticator  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.accounts.models import ApiToken, User  # noqa: E402
from apps.accounts.services import api_token_create  # noqa: E402
from apps.catalog import services as catalog  # noqa: E402
from apps.entitlements.models import Entitlement, Feature  # noqa: E402
from apps.orgs.models import Membership, Organization, Role  # noqa: E402
from apps.registry.models import PullLogEntry  # noqa: E402
from tests.registry.realregistry import (  # noqa: E402
    NOTIFICATIONS_PATH,
    RealRegistry,
    Skopeo,
    missing_tools,
    oci_image_build,
    token_auth,
)


def reset_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def seed() -> tuple[str, str]:
    """Returns (an entitled organization's pull token, a staff push token)."""
    reset_database()
    for i in range(CATALOG):
        name = REPOSITORY if i == 0 else f"bench-{i:04d}"
        repo = catalog.repository_upsert(name=name, display_name=name.title())
        series = catalog.series_upsert(repository=repo, name=TAG)
        catalog.variant_get_or_create(series=series)
        catalog.variant_get_or_create(series=series, fips=True)
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Bench {i:04d}", slug=f"bench-{i:04d}") for i in range(ORGS)
    )
    fips, stig = Feature.objects.get(key="fips"), Feature.objects.get(key="stig")
    year_ago = timezone.now() - timedelta(days=365)
    Entitlement.objects.bulk_create(
        Entitlement(
            org=org,
            feature=feature,
            starts_at=year_ago,
            source=Entitlement.Source.CONTRACT,
            reference="BENCH",
        )
        for org in orgs
        for feature in (fips, stig)
    )
    customer = orgs[0]
    owner = User.objects.create_user(email="owner@bench.example")
    Membership.objects.create(org=customer, user=owner, role=Role.OWNER)
    _, pull = api_token_create(
        org=customer,
        name="k8s",
        scopes=[ApiToken.Scope.REGISTRY_PULL],
        expires_at=None,
        actor=owner,
    )
    staff = User.objects.create_user(email="ci@publisher.example", is_staff=True)
    Authenticator.objects.create(
        user=staff,
        type=Authenticator.Type.TOTP,
        data={"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"},
    )
    publisher = Organization.objects.create(name="Publisher", slug="publisher")
    Membership.objects.create(org=publisher, user=staff, role=Role.OWNER)
    _, push = api_token_create(
        org=publisher,
        name="ci",
        scopes=[ApiToken.Scope.REGISTRY_PUSH],
        expires_at=None,
        actor=staff,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return pull, push


def basic(account: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{account}:{secret}".encode()).decode()


TOKEN_PATH = f"/v2/token?service={SERVICE}&scope=repository:{PATH}:pull"


def check_token(client: Client, auth: str) -> None:
    """The measured answer is the entitled one: 200, a JWT granting pull."""
    response = client.get(TOKEN_PATH, HTTP_AUTHORIZATION=auth)
    if response.status_code != 200:
        raise SystemExit(f"token endpoint: {response.status_code} {response.content}")
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    if claims["access"] != [{"type": "repository", "name": PATH, "actions": ["pull"]}]:
        raise SystemExit(f"token endpoint granted {claims['access']}")


def profile(auth: str) -> None:
    """Where a token request's time goes, in this process: its SQL, then
    cProfile over PROFILE_REQUESTS of them."""
    client = Client()
    for _ in range(50):
        client.get(TOKEN_PATH, HTTP_AUTHORIZATION=auth)
    statements: dict[str, list[float]] = {}

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.setdefault(sql, []).append(time.perf_counter() - started)

    sampled = 200
    started = time.perf_counter()
    with connection.execute_wrapper(timed):
        for _ in range(sampled):
            client.get(TOKEN_PATH, HTTP_AUTHORIZATION=auth)
    total = (time.perf_counter() - started) / sampled
    in_sql = sum(sum(times) for times in statements.values()) / sampled
    print(
        f"\nA token request ({sampled} in this process): {total * 1000:.2f} ms, "
        f"of which SQL {in_sql * 1000:.2f} ms (BEGIN and COMMIT not counted); "
        "per request:"
    )
    for sql, times in statements.items():
        print(
            f"  {len(times) / sampled:4.2f} x {statistics.mean(times) * 1000:5.2f} ms"
            f"  {sql[:100]}"
        )
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(PROFILE_REQUESTS):
        client.get(TOKEN_PATH, HTTP_AUTHORIZATION=auth)
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(
        f"\ncProfile: {PROFILE_REQUESTS} token requests through Django's test "
        f"client in one process, {elapsed / PROFILE_REQUESTS * 1000:.2f} ms each "
        "(profiled)"
    )
    for order, count in (("cumulative", 30), ("tottime", 15)):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats(order).print_stats(count)
        text = out.getvalue()
        print(f"-- by {order} --")
        print(text[text.index("ncalls") :].rstrip())


def timed_pulls(skopeo: Skopeo, host: str, creds, dest: Path) -> list[float]:
    times = []
    for i in range(PULLS + 1):
        started = time.perf_counter()
        result, digest = skopeo.pull(host, PATH, TAG, dest, creds=creds)
        elapsed = time.perf_counter() - started
        if not result.ok or digest is None:
            raise SystemExit(f"pull from {host}: {result}")
        if i:  # the first pull warms the registry and the portal
            times.append(elapsed)
    return times


def pulls(portal_port: int, pull: str, push: str) -> dict[str, list[float]]:
    """PULLS skopeo pulls through a registry that asks the portal, and
    through one that asks nobody."""
    image = oci_image_build(WORK / "image", payload=b"bench layer\n", tag=TAG)
    skopeo = Skopeo(WORK / "skopeo")
    portal = f"http://127.0.0.1:{portal_port}"
    token = token_auth(
        realm=f"{portal}/v2/token",
        service=SERVICE,
        issuer=ISSUER,
        rootcertbundle=str(CERT_FILE),
    )
    results = {}
    with RealRegistry(
        WORK / "registry-token",
        token=token,
        notify_url=portal + NOTIFICATIONS_PATH,
        notify_secret=NOTIFICATIONS_SECRET,
    ) as registry:
        pushed = skopeo.push(image, registry.host, PATH, creds=("ci", push))
        if not pushed.ok:
            raise SystemExit(f"push: {pushed}\n{registry.log()[-2000:]}")
        results["token auth (portal in the loop)"] = timed_pulls(
            skopeo, registry.host, ("bench", pull), WORK / "pulled"
        )
    with RealRegistry(WORK / "registry-open") as registry:
        pushed = skopeo.push(image, registry.host, PATH, creds=None)
        if not pushed.ok:
            raise SystemExit(f"push: {pushed}\n{registry.log()[-2000:]}")
        results["no auth"] = timed_pulls(skopeo, registry.host, None, WORK / "pulled")
    return results


def main() -> None:
    ensure_wrk()
    missing = missing_tools()
    if missing:
        raise SystemExit(f"Install first: {', '.join(missing)}")
    if connection.vendor != "postgresql":
        raise SystemExit("BENCH_DATABASE_URL must point at PostgreSQL.")
    print("seeding ...", flush=True)
    pull, push = seed()
    auth = basic("bench", pull)
    check_token(Client(), auth)
    log_rows = PullLogEntry.objects.count()
    connection.close()

    portal, portal_port = start_gunicorn("portal.settings")
    bare, bare_port = start_gunicorn("bench.bare_settings")
    host = {"Host": "127.0.0.1"}
    targets = [
        ("bare view (first)", bare_port, "/bare", host),
        (
            "registry token (pull)",
            portal_port,
            TOKEN_PATH,
            {**host, "Authorization": auth},
        ),
        ("bare view (last)", bare_port, "/bare", host),
    ]
    try:
        results = {}
        for name, port, path, headers in targets:
            url = f"http://127.0.0.1:{port}{path}"
            warm(url, headers)
            print(f"{name}: {DURATION} s at {CONNECTIONS} connections ...", flush=True)
            results[name] = run_wrk(url, headers)
        print(f"skopeo pulls: {PULLS} each ...", flush=True)
        pulled = pulls(portal_port, pull, push)
    finally:
        for proc in (portal, bare):
            proc.terminate()
            proc.wait(timeout=30)

    workers = os.cpu_count() * 2 + 1
    print(
        f"\ngunicorn {workers} sync workers ({os.cpu_count()} cores), wrk "
        f"-t{THREADS} -c{CONNECTIONS} -d{DURATION}s, PostgreSQL + Redis on loopback; "
        f"{CATALOG} repositories, {ORGS} organizations"
    )
    ceiling = (
        results["bare view (first)"]["rps"] + results["bare view (last)"]["rps"]
    ) / 2
    print_table(results, ceiling)
    share = results["registry token (pull)"]["rps"] / ceiling
    logged = PullLogEntry.objects.count() - log_rows
    print(
        f"\nbare view (mean of first and last): {ceiling:.1f} req/s\n"
        f"token endpoint at {share:.0%} of the bare view "
        f"(target: at least {TARGET:.0%}); {logged} pull log rows written"
    )
    print(f"\nskopeo copy of a {PATH}:{TAG} pull ({PULLS} each, after one warm-up):")
    for name, times in pulled.items():
        print(
            f"  {name:34} median {statistics.median(times) * 1000:7.1f} ms  "
            f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f})"
        )
    with_portal, without = (statistics.median(t) for t in pulled.values())
    print(f"  the portal's share of a pull: {(with_portal - without) * 1000:.1f} ms")
    failed = sum(r["errors"] for r in results.values())
    if share < TARGET:
        profile(auth)
    if failed:
        raise SystemExit(f"{failed} requests failed")


if __name__ == "__main__":
    main()
