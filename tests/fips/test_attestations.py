"""A FIPS build's attestation: which modules it carries, through the evidence
door, with every kind of bad input refused before anything is written."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from apps.audit.models import AuditEvent
from apps.catalog.models import Attestation
from apps.evidence.ingest import evidence_import
from apps.fips.models import DigestCryptoModule, FipsEvent
from tests.catalog import builders as catalog

from . import builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def line():
    return catalog.series(catalog.repository("python"), "3.12")


def _import(image, content: bytes):
    return evidence_import(
        kind="fips", content=content, digest=image.digest, actor=None
    )


def _nothing_written(image):
    return (
        not DigestCryptoModule.objects.filter(digest=image).exists()
        and not Attestation.objects.filter(digest=image).exists()
        and not AuditEvent.objects.filter(
            action=AuditEvent.Action.EVIDENCE_IMPORTED
        ).exists()
        and not FipsEvent.objects.exists()
    )


def _refused(image, content: bytes, *fragments: str) -> str:
    with pytest.raises(ValidationError) as caught:
        _import(image, content)
    message = " ".join(caught.value.messages)
    for fragment in fragments:
        assert fragment in message
    assert _nothing_written(image)
    return message


def test_the_build_records_its_modules_and_keeps_the_document(line):
    openssl = b.module(4282)
    jent = b.module(
        4856,
        name="OpenSSL FIPS Provider",
        module_version="3.1.2",
        standard="140-3",
    )
    image = b.fips_build(line)
    summary = b.attest(image, openssl, jent)
    links = list(DigestCryptoModule.objects.filter(digest=image).order_by("module"))
    assert [link.module.certificate_number for link in links] == [4282, 4856]
    assert links[0].package == "pkg:deb/debian/openssl-provider-fips@3.0.9"
    assert links[1].declared_version == "3.1.2"
    attestation = Attestation.objects.get(digest=image)
    assert attestation.kind == Attestation.Kind.FIPS
    assert attestation.document.read() == b.document(image, openssl, jent)
    assert attestation.summary["certificates"] == [4282, 4856]
    assert summary["certificates"] == "#4282, #4856"
    event = AuditEvent.objects.get(action=AuditEvent.Action.EVIDENCE_IMPORTED)
    assert event.details["kind"] == "fips"
    assert event.details["digest"] == image.digest


def test_a_signed_envelope_records_its_key_id(line):
    m = b.module(4282)
    image = b.fips_build(line)
    doc = b.statement(image, b.declared(m, certificate="#4282"))
    _import(image, b.envelope(doc, keyid="release-2026"))
    attestation = Attestation.objects.get(digest=image)
    assert attestation.signer_key_id == "release-2026"
    assert attestation.media_type == "application/vnd.dsse.envelope.v1+json"
    assert DigestCryptoModule.objects.get(digest=image).module == m


def test_the_same_document_twice_changes_nothing(line):
    m = b.module(4282)
    image = b.fips_build(line)
    b.attest(image, m)
    again = b.attest(image, m)
    assert again["created"] is False
    assert DigestCryptoModule.objects.filter(digest=image).count() == 1
    assert Attestation.objects.filter(digest=image).count() == 1


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (
            lambda d: d["predicate"]["modules"][0].update(certificate=9999),
            ["#9999", "registry"],
        ),
        (
            lambda d: d["predicate"]["modules"][0].update(certificate="four"),
            ["certificate", "'four'"],
        ),
        (
            lambda d: d["predicate"]["modules"][0].update(certificate=True),
            ["certificate"],
        ),
        (lambda d: d["predicate"]["modules"][0].update(certificate=0), ["1 or more"]),
        (
            lambda d: d["predicate"]["modules"][0].update(standard="FIPS 140-3"),
            ["140-3", "#4282", "FIPS 140-2"],
        ),
        (
            lambda d: d["predicate"]["modules"][0].update(standard="FIPS 140-1"),
            ["FIPS 140-1"],
        ),
        (lambda d: d["predicate"]["modules"][0].pop("name"), ["modules[0].name"]),
        (lambda d: d["predicate"].update(modules=[]), ["non-empty list"]),
        (
            lambda d: d["predicate"].update(modules=[d["predicate"]["modules"][0]] * 2),
            ["listed twice"],
        ),
        (lambda d: d["predicate"].update(modules="openssl"), ["modules"]),
        (
            lambda d: d.update(predicateType="https://slsa.dev/provenance/v1"),
            ["predicateType"],
        ),
        (lambda d: d.update(_type="https://example.com/Statement"), ["statement type"]),
        (lambda d: d.update(subject=[]), ["subjects"]),
        (
            lambda d: d["subject"][0]["digest"].update(sha256="ab" * 32),
            ["about another image", "sha256:" + "ab" * 32],
        ),
        (lambda d: d.pop("predicate"), ["predicate"]),
    ],
)
def test_bad_documents_are_refused_with_nothing_written(line, mutate, fragments):
    m = b.module(4282)
    image = b.fips_build(line)
    doc = b.statement(image, b.declared(m))
    mutate(doc)
    _refused(image, json.dumps(doc).encode(), *fragments)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"{not json", "JSON"),
        (b"<statement/>", "XML"),
        (b"[1, 2]", "in-toto statement"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_documents_that_are_not_json_statements_are_refused(line, content, fragment):
    b.module(4282)
    image = b.fips_build(line)
    with pytest.raises(ValidationError) as caught:
        _import(image, content)
    assert fragment in " ".join(caught.value.messages)
    assert _nothing_written(image)


def test_an_oversized_document_is_refused_before_it_is_read(line):
    m = b.module(4282)
    image = b.fips_build(line)
    content = b.document(image, m)
    with override_settings(EVIDENCE_MAX_BYTES=len(content) - 1):
        _refused(image, content, "limit")


def test_a_build_that_is_not_fips_is_refused(line):
    m = b.module(4282)
    image = catalog.build(line)
    _refused(image, b.document(image, m), "not of a FIPS variant")


def test_a_second_attestation_naming_other_modules_is_refused(line):
    old, new = b.module(4282), b.module(4856, standard="140-3")
    image = b.fips_build(line)
    b.attest(image, old)
    doc = b.statement(image, b.declared(new))
    with pytest.raises(ValidationError, match="already lists other modules"):
        _import(image, json.dumps(doc).encode())
    assert list(
        DigestCryptoModule.objects.filter(digest=image).values_list(
            "module__certificate_number", flat=True
        )
    ) == [4282]
    assert Attestation.objects.filter(digest=image).count() == 1


def test_a_new_build_that_swaps_its_certificate_is_an_event(line):
    old = b.module(4282)
    new = b.module(4856, module_version="3.1.2", standard="140-3")
    first = b.fips_build(line, built_days_ago=10)
    b.attest(first, old)
    assert not FipsEvent.objects.exists()
    same = b.fips_build(line, built_days_ago=5)
    b.attest(same, old)
    assert not FipsEvent.objects.exists()  # same module: nothing to tell
    swapped = b.fips_build(line, built_days_ago=1)
    summary = b.attest(swapped, new)
    assert summary["module_changed"] is True
    event = FipsEvent.objects.get()
    assert event.kind == FipsEvent.Kind.MODULE_CHANGED
    assert (event.module, event.previous_module) == (new, old)
    assert (event.series, event.digest) == (line, swapped)
    assert "no longer carries #4282" in event.summary
    assert "now carries #4856 OpenSSL FIPS Provider 3.1.2" in event.summary


def test_builds_of_other_variants_are_not_compared(line):
    old, new = b.module(4282), b.module(4856, standard="140-3")
    b.attest(b.fips_build(line, built_days_ago=5), old)
    other = catalog.build(line, flavor="dev", fips=True)
    b.attest(other, new)
    assert not FipsEvent.objects.exists()


def test_the_api_lists_a_builds_modules(client, line):
    m = b.module(4282)
    image = b.fips_build(line)
    b.attest(image, m)
    response = client.get(f"/api/v1/digests/{image.digest}/")
    assert response.status_code == 200
    (listed,) = response.json()["crypto_modules"]
    assert listed["certificate_number"] == 4282
    assert listed["standard"] == "140-2"
    assert listed["status"] == "active"
    assert listed["sunset_date"] == m.sunset_date.isoformat()
    assert listed["package"].startswith("pkg:deb/")


def test_the_digest_page_shows_the_modules(client, line):
    m = b.module(4282, status="historical")
    image = b.fips_build(line)
    b.attest(image, m)
    page = client.get(image.get_absolute_url()).content.decode()
    assert 'id="fips-modules-table"' in page
    assert "#4282" in page
    assert "Historical" in page


def test_a_fips_build_without_an_attestation_says_so(client, line):
    image = b.fips_build(line)
    page = client.get(image.get_absolute_url()).content.decode()
    assert "No FIPS attestation states this build" in page


def test_the_staff_upload_form_takes_a_fips_attestation(client, line):
    from tests.sla.builders import staff

    m = b.module(4282)
    image = b.fips_build(line)
    client.force_login(staff())
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/staff/evidence/",
        {
            "kind": "fips",
            "digest": image.digest,
            "document": SimpleUploadedFile("fips.json", b.document(image, m)),
        },
    )
    assert response.status_code in (200, 302)
    assert DigestCryptoModule.objects.filter(digest=image, module=m).exists()
    bad = client.post(
        "/staff/evidence/",
        {
            "kind": "fips",
            "digest": image.digest,
            "document": SimpleUploadedFile("fips.json", b"{}"),
        },
    )
    assert bad.status_code == 400
    assert "Not a FIPS attestation" in bad.content.decode()
    assert DigestCryptoModule.objects.filter(digest=image).count() == 1
