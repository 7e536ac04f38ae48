"""Builders for the catalog page, API and admin tests.

Catalog rows go through the catalog services, as an import would write them;
vulnerability rows are created directly, as the feed importers leave them.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import date, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone

from apps.catalog.formats.subject import NOT_STATED
from apps.catalog.formats.verdict import VERIFIED, Verdict
from apps.catalog.models import (
    ImageDigest,
    Repository,
    Series,
    TrustedSigner,
    Variant,
)
from apps.catalog.services import (
    attestation_store,
    digest_register,
    repository_upsert,
    series_upsert,
    tag_remove,
    variant_get_or_create,
)
from apps.catalog.signatures import attestation_signature_record
from apps.catalog.signers import signer_key_register, signer_of
from apps.vulns.models import (
    Component,
    DigestComponent,
    Finding,
    VexDocument,
    VexStatement,
    Vulnerability,
)

_serial = itertools.count(1)


def today() -> date:
    return timezone.now().date()


def days(n: int) -> date:
    return today() + timedelta(days=n)


def new_digest() -> str:
    return "sha256:" + hashlib.sha256(f"build-{next(_serial)}".encode()).hexdigest()


def repository(name: str = "python", **kwargs) -> Repository:
    kwargs.setdefault("display_name", name.title())
    kwargs.setdefault("category", Repository.Category.LANGUAGE)
    return repository_upsert(name=name, **kwargs)


def series(
    repo: Repository,
    name: str = "3.12",
    *,
    ga: int = -400,
    eol: int | None = 800,
    support: int | None = 800,
    els: int | None = None,
) -> Series:
    """A series with dates given as days from today."""
    return series_upsert(
        repository=repo,
        name=name,
        upstream_ga=days(ga),
        upstream_eol=days(eol) if eol is not None else None,
        support_end=days(support) if support is not None else None,
        els_end=days(els) if els is not None else None,
    )


def build(
    s: Series,
    *,
    flavor: str = Variant.Flavor.RUNTIME,
    fips: bool = False,
    stig: bool = False,
    tags: list[str] | None = None,
    built_at: datetime | None = None,
    digest: str | None = None,
) -> ImageDigest:
    variant = variant_get_or_create(series=s, flavor=flavor, fips=fips, stig=stig)
    return digest_register(
        variant=variant,
        digest=digest or new_digest(),
        built_at=built_at or timezone.now() - timedelta(days=1),
        architectures=["amd64", "arm64"],
        tags=tags or [],
    )


def withdraw(repo: Repository, tag: str, reason: str) -> None:
    tag_remove(repository=repo, tag=tag, reason=reason)


def vulnerability(vuln_id: str, severity: str = "high", **kwargs) -> Vulnerability:
    kwargs.setdefault("summary", f"Summary of {vuln_id}")
    kwargs.setdefault("disclosed_at", timezone.now() - timedelta(days=30))
    return Vulnerability.objects.create(vuln_id=vuln_id, severity=severity, **kwargs)


def component(name: str, version: str = "1.0-r0", kind: str = "apk") -> Component:
    purl = f"pkg:{kind}/alpine/{name}@{version}?distro=alpine-3.20"
    row, _ = Component.objects.get_or_create(
        purl_sha256=hashlib.sha256(purl.encode()).hexdigest(),
        defaults={
            "purl": purl,
            "type": kind,
            "namespace": "alpine",
            "name": name,
            "version": version,
            "source_name": name,
            "distro": "alpine-3.20",
            "licenses": ["MIT"],
        },
    )
    return row


SBOM = b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}'


def sbom(image: ImageDigest, content: bytes = SBOM, *, verified_by=None, **kwargs):
    """An attestation stored through the service (files land in MEDIA_ROOT);
    ``verified_by`` (a TrustedSigner) records a Verified signature by it."""
    kwargs.setdefault("kind", "sbom-cyclonedx")
    kwargs.setdefault("media_type", "application/vnd.cyclonedx+json")
    kwargs.setdefault("spec_version", "1.6")
    kwargs.setdefault("subject", NOT_STATED)
    attestation, _ = attestation_store(image=image, content=content, **kwargs)
    if verified_by is not None:
        attestation_signature_record(
            attestation=attestation,
            verdict=Verdict(
                status=VERIFIED,
                message=f"Verified: signed by {verified_by.name}.",
                signer=signer_of(verified_by),
                identity=f"{verified_by.key_algorithm} key",
            ),
        )
    return attestation


def signer(name: str = "Catalog release key", **kwargs) -> TrustedSigner:
    """A registered public key (a fresh Ed25519 key), as staff register one."""
    pem = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return signer_key_register(name=name, public_key_pem=pem, actor=None, **kwargs)


def contains(image: ImageDigest, comp: Component, attestation=None) -> DigestComponent:
    attestation = attestation or sbom(image)
    return DigestComponent.objects.create(
        digest=image, component=comp, attestation=attestation
    )


def finding(
    image: ImageDigest,
    vuln: Vulnerability,
    comp: Component,
    *,
    status: str = Finding.Status.AFFECTED,
    fixed_version: str = "",
) -> Finding:
    return Finding.objects.create(
        digest=image,
        vulnerability=vuln,
        component=comp,
        status=status,
        severity=vuln.severity,
        disclosed_at=vuln.disclosed_at,
        fixed_version=fixed_version,
        fixed_published_at=timezone.now() if status == Finding.Status.FIXED else None,
    )


def vex_document() -> VexDocument:
    return VexDocument.objects.create(
        format=VexDocument.Format.OPENVEX,
        spec_version="0.2.0",
        document_id=f"https://openvex.dev/docs/test-{next(_serial)}",
        author="Publisher Security",
        issued_at=timezone.now(),
    )


def vex(
    vuln: Vulnerability,
    *,
    image: ImageDigest | None = None,
    repo: Repository | None = None,
    status: str = VexStatement.Status.NOT_AFFECTED,
    document: VexDocument | None = None,
    **kwargs,
) -> VexStatement:
    repo = repo or (image.variant.series.repository if image else None)
    if status == VexStatement.Status.NOT_AFFECTED:
        kwargs.setdefault("justification", "vulnerable_code_not_in_execute_path")
    product = f"pkg:oci/{repo.name}" + (f"@{image.digest}" if image else "")
    return VexStatement.objects.create(
        document=document or vex_document(),
        vulnerability=vuln,
        product=product,
        repository=repo,
        digest=image,
        status=status,
        author="Publisher Security",
        timestamp=kwargs.pop("timestamp", timezone.now()),
        **kwargs,
    )
