"""Builders for the feed and matching tests: testdata, builds and their components."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from apps.catalog.models import Attestation, ImageDigest, Variant
from apps.catalog.services import (
    digest_register,
    repository_upsert,
    series_upsert,
    variant_get_or_create,
)
from apps.vulns.formats.sbom_parsed import component_from_purl
from apps.vulns.models import Component, DigestComponent

TESTDATA = Path(__file__).resolve().parents[2] / "apps" / "vulns" / "testdata"
OSV = TESTDATA / "osv"
KEV = TESTDATA / "kev"

# GHSA-jfh8-c2jp-5v3q (Log4Shell) as the GitHub Advisory Database publishes it,
# trimmed to the fields the import reads. Its id is a GHSA id: the KEV listing
# reaches it through the CVE alias.
LOG4SHELL = {
    "schema_version": "1.4.0",
    "id": "GHSA-jfh8-c2jp-5v3q",
    "modified": "2024-07-24T19:06:44Z",
    "published": "2021-12-10T00:40:56Z",
    "aliases": ["CVE-2021-44228"],
    "summary": "Remote code injection in Log4j",
    "severity": [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}
    ],
    "affected": [
        {
            "package": {
                "ecosystem": "Maven",
                "name": "org.apache.logging.log4j:log4j-core",
            },
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "2.13.0"}, {"fixed": "2.15.0"}],
                },
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.3.1"}],
                },
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "2.4"}, {"fixed": "2.12.2"}],
                },
            ],
        }
    ],
    "database_specific": {"severity": "CRITICAL"},
}


def osv_record(relative: str) -> dict:
    return json.loads((OSV / relative).read_text())


def variant(repository="mongo", series="6.0", flavor=Variant.Flavor.RUNTIME):
    repo = repository_upsert(name=repository)
    return variant_get_or_create(
        series=series_upsert(repository=repo, name=series), flavor=flavor
    )


def component(purl: str) -> Component:
    """A component row as the SBOM importer stores one, from a document that
    states its distro binaries' sources (as Syft's and Trivy's do)."""
    parsed = component_from_purl(purl)
    row, _ = Component.objects.get_or_create(
        purl_sha256=parsed.purl_sha256,
        defaults={
            "purl": parsed.purl,
            "type": parsed.type,
            "namespace": parsed.namespace,
            "name": parsed.name,
            "version": parsed.version,
            "source_name": parsed.source_name,
            "source_version": parsed.source_version,
            "distro": parsed.distro,
        },
    )
    return row


def build(
    variant: Variant, built_at: datetime, purls: list[str], digest: str = ""
) -> ImageDigest:
    """A registered digest whose SBOM lists the given purls."""
    digest = (
        digest
        or "sha256:"
        + hashlib.sha256(
            f"{variant.pk}-{built_at.isoformat()}-{purls}".encode()
        ).hexdigest()
    )
    image = digest_register(variant=variant, digest=digest, built_at=built_at)
    if purls:
        sbom = Attestation.objects.create(
            digest=image,
            kind=Attestation.Kind.SBOM_CYCLONEDX,
            document=f"evidence/{image.digest[7:]}.json",
            sha256=image.digest[7:],
            size=1,
        )
        DigestComponent.objects.bulk_create(
            [
                DigestComponent(digest=image, component=component(p), attestation=sbom)
                for p in purls
            ]
        )
    return image
