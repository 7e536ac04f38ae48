"""Demo FIPS data: the real CMVP record #4282, a successor module entered by
staff, FIPS attestations on the generated repositories' FIPS builds (one
series swaps its module in a newer build), and the demo org mirroring them."""

from __future__ import annotations

import json
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from apps.catalog.models import ImageDigest, Repository
from apps.catalog.services import digest_register
from apps.demo.signing import demo_envelope
from apps.evidence.ingest import evidence_import
from apps.fips.attestations import FIPS_PREDICATE_TYPE
from apps.fips.models import CryptoModule
from apps.fips.services import crypto_module_create, crypto_modules_import

SUCCESSOR = "sha256:" + "f1" * 32
CMVP_RECORD = settings.BASE_DIR / "apps/fips/testdata/cmvp-cert-4282.json"


def _statement(image: ImageDigest, modules: list[CryptoModule]) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {
                    "name": f"{image.variant.series.repository.name}",
                    "digest": {"sha256": image.digest.removeprefix("sha256:")},
                }
            ],
            "predicateType": FIPS_PREDICATE_TYPE,
            "predicate": {
                "modules": [
                    {
                        "name": m.name,
                        "vendor": m.vendor,
                        "version": m.module_version,
                        "certificate": m.certificate_number,
                        "standard": m.get_standard_display(),
                        "package": "pkg:generic/openssl-fips-provider"
                        + (f"@{m.module_version}" if m.module_version else ""),
                    }
                    for m in modules
                ]
            },
        },
        sort_keys=True,
    ).encode()


def demo_fips_load(*, actor, repositories: int = 3) -> int:
    """Attach FIPS attestations to the first generated repositories' FIPS
    builds; returns how many builds carry modules. Idempotent."""
    crypto_modules_import(content=CMVP_RECORD.read_bytes(), actor=actor, source="demo")
    old = CryptoModule.objects.get(certificate_number=4282)
    new = CryptoModule.objects.filter(certificate_number=4985).first()
    if new is None:
        new = crypto_module_create(
            actor=actor,
            name="OpenSSL FIPS Provider (demo successor)",
            vendor="The OpenSSL Project",
            module_version="3.1.2",
            certificate_number=4985,
            standard=CryptoModule.Standard.FIPS_140_3,
            status=CryptoModule.Status.ACTIVE,
            validation_date=date(2025, 3, 10),
            sunset_date=date(2030, 3, 9),
            security_policy_url="",
            operational_environment="Demo entry: not a CMVP record.",
        )
    carried = 0
    generated = Repository.objects.filter(is_generated=True).order_by("name")
    for i, repository in enumerate(generated[:repositories]):
        builds = (
            ImageDigest.objects.filter(
                variant__series__repository=repository, variant__fips=True
            )
            .exclude(digest=SUCCESSOR)
            .order_by("built_at")
        )
        for image in builds:
            evidence_import(
                kind="fips",
                content=demo_envelope(_statement(image, [old])),
                digest=image.digest,
                actor=actor,
            )
            carried += 1
        first = builds.first()
        if i == 0 and first is not None:
            # A newer build of the first series moves to the successor module.
            tags = list(
                first.tag_events.filter(removed_at__isnull=True).values_list(
                    "tag", flat=True
                )
            )
            successor = digest_register(
                variant=first.variant,
                digest=SUCCESSOR,
                built_at=timezone.now() - timedelta(days=1),
                tags=tags,
            )
            evidence_import(
                kind="fips",
                content=demo_envelope(_statement(successor, [new])),
                digest=successor.digest,
                actor=actor,
            )
            carried += 1
    return carried
