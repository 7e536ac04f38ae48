"""FIPS fixtures: modules in the registry, FIPS builds, their attestations,
and organizations that mirror them."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta

from django.utils import timezone

from apps.entitlements.models import Mirror
from apps.evidence.ingest import evidence_import
from apps.fips.models import CryptoModule
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

PREDICATE = "https://hardened-images.dev/attestation/fips/v1"


def module(
    certificate: int = 4282, *, sunset_in: int | None = 400, **fields
) -> CryptoModule:
    now = timezone.now()
    today = now.date()
    values = {
        "name": "OpenSSL FIPS Provider",
        "vendor": "The OpenSSL Project",
        "module_version": "3.0.9",
        "standard": CryptoModule.Standard.FIPS_140_2,
        "status": CryptoModule.Status.ACTIVE,
        "validation_date": date(2022, 9, 22),
        "sunset_date": today + timedelta(days=sunset_in)
        if sunset_in is not None
        else None,
        "source": CryptoModule.Source.STAFF,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    return CryptoModule.objects.create(certificate_number=certificate, **values)


def statement(image, *modules: dict, predicate_type: str = PREDICATE) -> dict:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": "registry.example/python", "digest": {"sha256": image.digest[7:]}}
        ],
        "predicateType": predicate_type,
        "predicate": {"modules": list(modules)},
    }


def declared(m: CryptoModule, **overrides) -> dict:
    return {
        "name": m.name,
        "vendor": m.vendor,
        "version": m.module_version,
        "certificate": m.certificate_number,
        "standard": m.get_standard_display(),
        "package": f"pkg:deb/debian/openssl-provider-fips@{m.module_version}",
        **overrides,
    }


def document(image, *modules: CryptoModule) -> bytes:
    return json.dumps(statement(image, *(declared(m) for m in modules))).encode()


def envelope(doc: dict, keyid: str = "publisher-key-1") -> bytes:
    payload = base64.b64encode(json.dumps(doc).encode()).decode()
    return json.dumps(
        {
            "payloadType": "application/vnd.in-toto+json",
            "payload": payload,
            "signatures": [{"keyid": keyid, "sig": "c2lnbmF0dXJl"}],
        }
    ).encode()


def attest(image, *modules: CryptoModule, actor=None) -> dict:
    return evidence_import(
        kind="fips", content=document(image, *modules), digest=image.digest, actor=actor
    )


def fips_build(series, *, built_days_ago: int = 1, tags=None):
    return catalog.build(
        series,
        fips=True,
        built_at=timezone.now() - timedelta(days=built_days_ago),
        tags=tags,
    )


def customer(
    repository, *, entitled: bool = True, include_fips: bool = True, name=None
):
    """An organization with an owner and an admin that mirrors ``repository``."""
    org = OrganizationFactory(features=(), **({"name": name} if name else {}))
    owner = UserFactory(email=f"owner@{org.slug}.example")
    MembershipFactory(org=org, user=owner, role="owner")
    MembershipFactory(
        org=org, user=UserFactory(email=f"admin@{org.slug}.example"), role="admin"
    )
    if entitled:
        entitle(org, "fips", repository=repository)
    Mirror.objects.create(
        org=org,
        repository=repository,
        include_fips=include_fips,
        created_by=owner,
        created_at=timezone.now() - timedelta(days=30),
    )
    return org, owner
