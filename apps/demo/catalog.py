"""Demo catalog: real published documents, plus generated images for scale.

The real part loads, through the same door staff use, SBOMs of public images
(Syft output published by GUAC), Docker Hardened Images' own OpenVEX, Ubuntu's
and GitHub's OSV advisories and the CISA KEV catalog; see ATTRIBUTION.md. The
demo publisher signs what it attaches to a build (``signing``): each SBOM with
a detached DSSE envelope, each build's SLSA provenance as one, and the
portal verifies them; one provenance is changed after signing and shows
Invalid. The
generated part adds repositories named ``gen-*``, flagged ``is_generated`` and
described as generated, whose SBOMs carry real vulnerable package versions so
the pages show findings at some scale.
"""

from __future__ import annotations

import io
import json
import random
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.catalog import services as catalog
from apps.evidence.ingest import evidence_import

from .signing import (
    demo_detached,
    demo_envelope,
    demo_provenance,
    demo_signer_register,
    tampered,
)

SBOMS = settings.BASE_DIR / "apps/catalog/testdata"
VULNS = settings.BASE_DIR / "apps/vulns/testdata"


@dataclass(frozen=True)
class RealImage:
    repository: str
    display_name: str
    category: str
    description: str
    tags: tuple[str, ...]
    series: str
    lifecycle: tuple[date | None, date | None, date | None, date | None]
    digest: str
    built_at: datetime
    sbom: str


REAL_IMAGES = (
    RealImage(
        "alpine-base",
        "Alpine base",
        "base",
        "Minimal Alpine Linux base image (SBOM: Syft 0.58 scan of alpine:latest).",
        ("base-os", "alpine", "musl"),
        "3.16",
        (date(2022, 5, 23), date(2024, 5, 23), date(2024, 5, 23), date(2029, 5, 23)),
        "sha256:cbaa390ec61abd889dfa5146a411c11717c19ef9e5e18458dbdc06439076ffe7",
        datetime(2022, 9, 21, tzinfo=UTC),
        "guac__alpine-cyclonedx.json",
    ),
    RealImage(
        "busybox",
        "BusyBox",
        "tool",
        "BusyBox userland in one binary (SBOM: Syft scan of busybox).",
        ("tool", "shell"),
        "1.35",
        (date(2021, 12, 26), date(2027, 1, 31), date(2027, 1, 31), None),
        "sha256:bf5e28853a83134e949201fb5979927a9e5cc74cb747b7a080d96eaba1303411",
        datetime(2022, 9, 21, tzinfo=UTC),
        "guac__busybox-cyclonedx.json",
    ),
    RealImage(
        "static",
        "Static (distroless)",
        "base",
        "Distroless static base for statically linked binaries "
        "(SBOM: Syft scan of gcr.io/distroless/static:nonroot).",
        ("base-os", "distroless", "debian"),
        "debian11",
        (date(2021, 8, 14), date(2026, 8, 31), date(2026, 8, 31), date(2031, 8, 31)),
        "sha256:6ad5b696af3ca05a048bd29bf0f623040462638cb0b29c8d702cbb2805687388",
        datetime(2022, 9, 21, tzinfo=UTC),
        "guac__distroless-cyclonedx.json",
    ),
    RealImage(
        "mongo",
        "MongoDB",
        "database",
        "MongoDB on Ubuntu 20.04 (SBOM: Syft scan of docker.io/library/mongo).",
        ("database", "nosql", "ubuntu"),
        "6.0",
        (date(2022, 7, 19), date(2025, 7, 31), date(2027, 1, 15), date(2030, 7, 31)),
        "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187",
        datetime(2022, 10, 1, tzinfo=UTC),
        "guac__big-mongo-cyclonedx.json",
    ),
)
# The real image whose provenance the demo changes after signing.
TAMPERED = "mongo"
VEX_DOCUMENTS = (
    "dhi/dhi-alpine-base.vex.json",
    "dhi/dhi-busybox.vex.json",
    "dhi/dhi-static.vex.json",
    "dhi/dhi-debian-base.vex.json",
)
# Real vulnerable versions the GHSA/PYSEC records in the demo advisories cover.
VULNERABLE_PYPI = (
    ("django", "3.2.10"),
    ("django", "4.0.1"),
    ("aiohttp", "3.8.4"),
    ("urllib3", "1.26.4"),
    ("werkzeug", "2.2.2"),
    ("requests", "2.25.1"),
    ("jinja2", "2.11.2"),
)
SAFE_PYPI = (
    ("pip", "24.0"),
    ("setuptools", "69.5.1"),
    ("wheel", "0.43.0"),
    ("certifi", "2024.2.2"),
    ("idna", "3.7"),
    ("six", "1.16.0"),
)


def _ensure_real(actor) -> int:
    loaded = 0
    for image in REAL_IMAGES:
        ga, upstream_eol, support_end, els_end = image.lifecycle
        repository = catalog.repository_upsert(
            name=image.repository,
            display_name=image.display_name,
            description=image.description,
            category=image.category,
            tags=list(image.tags),
        )
        series = catalog.series_upsert(
            repository=repository,
            name=image.series,
            upstream_ga=ga,
            upstream_eol=upstream_eol,
            support_end=support_end,
            els_end=els_end,
        )
        variant = catalog.variant_get_or_create(series=series)
        catalog.digest_register(
            variant=variant,
            digest=image.digest,
            built_at=image.built_at,
            tags=[image.series, "latest"],
        )
        sbom = (SBOMS / image.sbom).read_bytes()
        evidence_import(
            kind="sbom",
            content=sbom,
            digest=image.digest,
            actor=actor,
            match=False,
            signature=demo_detached(sbom, name=image.sbom),
        )
        envelope = demo_envelope(
            demo_provenance(
                repository=image.repository,
                digest=image.digest,
                built_at=image.built_at,
            )
        )
        if image.repository == TAMPERED:
            # Changed after signing, and kept (as a portal that accepts and
            # flags invalid signatures would) to show what Invalid looks like.
            evidence_import(
                kind="provenance",
                content=tampered(envelope),
                digest=image.digest,
                actor=actor,
                signature_refuse=(),
            )
        else:
            evidence_import(
                kind="provenance", content=envelope, digest=image.digest, actor=actor
            )
        loaded += 1
    debian = catalog.repository_upsert(
        name="debian-base",
        display_name="Debian base",
        description="Debian base image; the publisher's VEX covers it.",
        category="base",
        tags=["base-os", "debian", "glibc"],
    )
    catalog.series_upsert(
        repository=debian,
        name="12",
        upstream_ga=date(2023, 6, 10),
        upstream_eol=date(2026, 6, 10),
        support_end=date(2028, 6, 30),
        els_end=date(2033, 6, 30),
    )
    for name in VEX_DOCUMENTS:
        evidence_import(
            kind="vex", content=(VULNS / "vex" / name).read_bytes(), actor=actor
        )
    # The advisories go in as one zip, the way a feed snapshot arrives.
    feed = io.BytesIO()
    with zipfile.ZipFile(feed, "w", zipfile.ZIP_DEFLATED) as archive:
        for advisory in sorted((VULNS / "osv").rglob("*.json")):
            archive.write(advisory, advisory.relative_to(VULNS / "osv").as_posix())
    evidence_import(kind="osv", content=feed.getvalue(), actor=actor, match=False)
    kev = VULNS / "kev/known_exploited_vulnerabilities.json"
    evidence_import(kind="kev", content=kev.read_bytes(), actor=actor)
    return loaded


def generated_cyclonedx(
    *, name: str, digest: str, packages: list[tuple[str, str]]
) -> bytes:
    """A small CycloneDX 1.5 SBOM of PyPI packages, for generated images.

    Its subject is the build it is loaded for, named the way Syft and Trivy
    name an image: the manifest digest as version, and an OCI purl.
    """
    purl = f"pkg:oci/{name}@{digest.replace(':', '%3A')}"
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name + digest)}",
        "version": 1,
        "metadata": {
            "component": {
                "type": "container",
                "bom-ref": purl,
                "name": name,
                "version": digest,
                "purl": purl,
            }
        },
        "components": [
            {
                "type": "library",
                "name": pkg,
                "version": version,
                "purl": f"pkg:pypi/{pkg}@{version}",
                "bom-ref": f"pkg:pypi/{pkg}@{version}",
            }
            for pkg, version in packages
        ],
    }
    return json.dumps(document, sort_keys=True).encode()


def _ensure_generated(count: int, actor) -> int:
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    today = timezone.now().date()
    for i in range(count):
        name = f"gen-app-{i:03d}"
        repository = catalog.repository_upsert(
            name=name,
            display_name=f"Generated app {i:03d}",
            description="Generated for scale in the demo: not a real image.",
            category=rng.choice(["application", "language", "web", "tool"]),
            tags=["generated", "python"],
            is_generated=True,
        )
        ga = today - timedelta(days=rng.randint(200, 2000))
        support_end = ga + timedelta(days=rng.randint(700, 2200))
        series = catalog.series_upsert(
            repository=repository,
            name=f"{1 + i % 4}.{i % 10}",
            upstream_ga=ga,
            upstream_eol=support_end,
            support_end=support_end,
            els_end=support_end + timedelta(days=5 * 365) if i % 3 == 0 else None,
        )
        for flavor, fips in (("runtime", False), ("dev", False), ("runtime", True)):
            variant = catalog.variant_get_or_create(
                series=series, flavor=flavor, fips=fips
            )
            digest = (
                "sha256:"
                + uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}{flavor}{fips}").hex * 2
            )
            if variant.digests.filter(digest=digest).exists():
                continue
            packages = rng.sample(VULNERABLE_PYPI, 2) + list(SAFE_PYPI)
            catalog.digest_register(
                variant=variant,
                digest=digest,
                built_at=datetime.combine(ga, datetime.min.time(), tzinfo=UTC),
                tags=[f"{series.name}{'-' + variant.suffix if variant.suffix else ''}"],
            )
            sbom = generated_cyclonedx(name=name, digest=digest, packages=packages)
            evidence_import(
                kind="sbom",
                content=sbom,
                digest=digest,
                actor=actor,
                match=False,
                signature=demo_detached(sbom, name=f"{name}.cdx.json"),
            )
    return count


def demo_catalog_load(*, actor, generated: int = 24) -> dict[str, int]:
    demo_signer_register(actor=actor)
    real = _ensure_real(actor)
    made = _ensure_generated(generated, actor)
    from apps.vulns.services import findings_match

    report = findings_match()
    return {
        "real_images": real,
        "generated_repositories": made,
        **{
            "findings_created": report.findings_created,
        },
    }
