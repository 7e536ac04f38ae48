"""A document is attached to a build only if its own subject is that build.

Every kind that attaches to a build (CycloneDX and SPDX SBOMs, SLSA provenance,
STIG scans, FIPS attestations) through every door (the service, the staff form,
the API, the commands): a document naming the build is accepted, one naming no
digest is accepted as "subject not stated", one naming another image is refused
with both digests named and nothing written, unless publisher staff override
with a written reason, which is kept with the document, in the audit log, and
shown on the digest page and in the API.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog.models import Attestation, ImageDigest
from apps.evidence.ingest import evidence_import
from apps.fips.models import DigestCryptoModule
from apps.stig.models import StigRuleResult, StigScan
from apps.vulns.models import Component, DigestComponent, Finding
from tests.factories import MembershipFactory, UserFactory
from tests.fips import builders as fips
from tests.stig import builders as stig

from . import builders as b

pytestmark = pytest.mark.django_db

TESTDATA = Path(__file__).resolve().parents[2] / "apps/catalog/testdata"
ALPINE = "sha256:cbaa390ec61abd889dfa5146a411c11717c19ef9e5e18458dbdc06439076ffe7"
CSAF_IMAGE = "sha256:603a6c7216a53d02889d4da068703478dc570644f9f76b1a99f6683775f9abeb"
TEKTON = "sha256:9e183c89765d92a440f44ac7059385c778cbadad0ee8fe3208360efb07c0ba09"
OTHER = "sha256:" + "0e" * 32
REASON = "Vendor SBOM names the upstream index digest; same bits, see ticket OPS-42."
Imported = AuditEvent.Action.EVIDENCE_IMPORTED


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


def data(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def written(media: Path) -> tuple:
    """Every row and file an import of a build's evidence may leave."""
    files = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
    return (
        Attestation.objects.count(),
        Component.objects.count(),
        DigestComponent.objects.count(),
        Finding.objects.count(),
        StigScan.objects.count(),
        StigRuleResult.objects.count(),
        DigestCryptoModule.objects.count(),
        AuditEvent.objects.filter(action=Imported).count(),
        len(files),
    )


def refusal(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    errors = exc.value.error_dict
    field = next(iter(errors))
    return errors[field][0].code, " ".join(exc.value.messages)


# --- One case per format: a build, and documents about it, about another
# image, and about no digest at all. --------------------------------------------


@dataclass
class Case:
    kind: str
    build: Callable[[str], ImageDigest]
    about: Callable[[ImageDigest], bytes]  # the build's own document
    digest: str | None = None  # the digest the real document is about
    not_stated: bytes | None = None  # a document naming no digest


def _plain(digest: str) -> ImageDigest:
    return b.build(b.series(b.repository("app"), "1"), digest=digest)


def _stig(digest: str) -> ImageDigest:
    return b.build(stig.stig_series(), stig=True, digest=digest)


def _fips(digest: str) -> ImageDigest:
    fips.module(4282)
    return b.build(b.series(b.repository("python"), "3.12"), fips=True, digest=digest)


def _xccdf_naming(image: ImageDigest) -> bytes:
    document = stig.xccdf([(1, "high", "pass"), (2, "medium", "fail")]).decode()
    fact = (
        '<fact name="urn:xccdf:fact:asset:identifier:image_digest" '
        f'type="string">{image.digest}</fact>'
    )
    return document.replace("<target-facts>", "<target-facts>" + fact).encode()


CASES = {
    "cyclonedx": Case(
        "sbom",
        _plain,
        lambda image: data("guac__alpine-cyclonedx.json"),
        digest=ALPINE,
        not_stated=data("portal__cyclonedx-1.6.json"),
    ),
    "spdx": Case(
        "sbom",
        _plain,
        lambda image: data("vexctl__examples_csaf_sbom.spdx.schema-valid.json"),
        digest=CSAF_IMAGE,
        not_stated=data("guac__alpine-spdx.schema-valid.json"),
    ),
    "provenance-dsse": Case(
        "provenance",
        _plain,
        lambda image: data("guac__oci-dsse-att.json"),
        digest=TEKTON,
    ),
    "stig-xccdf": Case(
        "stig",
        _stig,
        _xccdf_naming,
        not_stated=stig.xccdf([(1, "high", "pass")]),
    ),
    "fips": Case(
        "fips",
        _fips,
        lambda image: fips.document(
            image, *fips.CryptoModule.objects.filter(certificate_number=4282)
        ),
    ),
}


def own_build(case: Case) -> ImageDigest:
    return case.build(case.digest or b.new_digest())


def about_another(case: Case) -> tuple[ImageDigest, bytes, str]:
    """A build, and a document whose subject is another image (named)."""
    if case.digest is not None:  # a real document about a real image
        return case.build(OTHER), case.about(None), case.digest
    elsewhere = b.new_digest()
    image = case.build(OTHER)
    content = case.about(_Named(elsewhere))
    return image, content, elsewhere


@dataclass
class _Named:
    digest: str


def load(case: Case, image: ImageDigest, content: bytes, **kwargs: Any) -> dict:
    kwargs.setdefault("actor", None)
    return evidence_import(
        kind=case.kind, content=content, digest=image.digest, **kwargs
    )


@pytest.mark.parametrize("name", CASES)
def test_a_document_about_its_build_is_attached_as_this_build(name):
    case = CASES[name]
    image = own_build(case)

    summary = load(case, image, case.about(image))

    attestation = Attestation.objects.get(digest=image)
    assert attestation.subject_status == Attestation.Subject.MATCH
    assert attestation.subject_digests == [image.digest]
    assert summary["subject"] == "match"
    event = AuditEvent.objects.get(action=Imported)
    assert event.details["subject"] == "match"


@pytest.mark.parametrize("name", CASES)
def test_a_document_about_another_image_is_refused_and_nothing_written(
    name, media, staff
):
    case = CASES[name]
    image, content, elsewhere = about_another(case)
    before = written(media)

    with pytest.raises(ValidationError) as exc:
        load(case, image, content, actor=staff)

    code, message = refusal(exc)
    assert code == "digest_mismatch"
    assert elsewhere in message  # what the document names
    assert image.digest in message  # and the build it was loaded for
    assert "about another image" in message
    assert written(media) == before


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.not_stated])
def test_a_document_naming_no_digest_is_attached_as_subject_not_stated(name):
    case = CASES[name]
    image = case.build(OTHER)

    load(case, image, case.not_stated)

    attestation = Attestation.objects.get(digest=image)
    assert attestation.subject_status == Attestation.Subject.NOT_STATED
    assert attestation.subject_digests == []
    assert AuditEvent.objects.get(action=Imported).details["subject"] == "not_stated"


@pytest.mark.parametrize("name", CASES)
def test_staff_override_with_a_reason_attaches_it_and_keeps_the_reason(name, staff):
    case = CASES[name]
    image, content, elsewhere = about_another(case)

    load(case, image, content, actor=staff, subject_override_reason=f"  {REASON} ")

    attestation = Attestation.objects.get(digest=image)
    assert attestation.subject_status == Attestation.Subject.OVERRIDDEN
    assert elsewhere in attestation.subject_digests
    assert attestation.subject_override_reason == REASON
    assert attestation.subject_override_by == staff
    assert attestation.subject_override_at is not None
    event = AuditEvent.objects.get(action=Imported)
    assert event.actor == staff
    assert event.details["subject"] == "overridden"
    assert event.details["subject_override_reason"] == REASON
    assert event.details["subject_override_by"] == staff.email
    assert elsewhere in event.details["subject_digests"]


@pytest.mark.parametrize("reason", ["", "   \n"])
@pytest.mark.parametrize("name", CASES)
def test_an_override_without_a_reason_is_refused(name, reason, staff, media):
    case = CASES[name]
    image, content, _ = about_another(case)
    before = written(media)

    with pytest.raises(ValidationError) as exc:
        load(case, image, content, actor=staff, subject_override_reason=reason)

    assert refusal(exc) == (
        "override_without_reason",
        "An override of the subject check needs a written reason.",
    )
    assert written(media) == before


@pytest.mark.parametrize("name", CASES)
def test_someone_not_staff_cannot_override(name, media):
    case = CASES[name]
    image, content, _ = about_another(case)
    before = written(media)

    for actor in (UserFactory(), None):
        with pytest.raises(ValidationError) as exc:
            load(case, image, content, actor=actor, subject_override_reason=REASON)
        assert refusal(exc)[0] == "override_not_allowed"
    assert written(media) == before


def test_provenance_naming_the_build_among_many_subjects_is_this_build():
    kubectl = "sha256:8bdbe9ef6db000e73125bfd8b151ab9f5ca8cfb6bffd6d3520edd91e3bcd97f3"
    image = _plain(kubectl)

    load(
        CASES["provenance-dsse"],
        image,
        data("guac__oci-kubectl-linux-amd64-in-toto.json"),
    )

    attestation = Attestation.objects.get(digest=image)
    assert attestation.subject_status == Attestation.Subject.MATCH
    assert attestation.subject_digests == [kubectl]


def test_an_override_of_a_document_without_a_subject_is_refused_outright():
    with pytest.raises(ValidationError) as exc:
        evidence_import(
            kind="kev",
            content=b"{}",
            actor=UserFactory(is_staff=True),
            subject_override_reason=REASON,
        )
    assert "subject_override_reason" in exc.value.message_dict


# --- The doors: staff form, API, commands ------------------------------------------


def _upload(content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("d.json", content, content_type="application/json")


def test_staff_form_refuses_a_document_about_another_image(client, staff, media):
    image = _plain(OTHER)
    client.force_login(staff)
    before = written(media)

    response = client.post(
        "/staff/evidence/",
        {
            "kind": "sbom",
            "digest": image.digest,
            "document": _upload(data("guac__alpine-cyclonedx.json")),
        },
    )

    assert response.status_code == 400
    errors = response.context["form"].errors["document"][0]
    assert ALPINE in errors
    assert OTHER in errors
    assert written(media) == before


def test_staff_form_override_needs_a_reason(client, staff, media):
    image = _plain(OTHER)
    client.force_login(staff)
    before = written(media)

    response = client.post(
        "/staff/evidence/",
        {
            "kind": "sbom",
            "digest": image.digest,
            "document": _upload(data("guac__alpine-cyclonedx.json")),
            "subject_override": "on",
            "subject_override_reason": "",
        },
    )

    assert response.status_code == 400
    assert "needs a written reason" in str(
        response.context["form"].errors["subject_override_reason"]
    )
    assert written(media) == before


def test_staff_form_override_is_shown_on_the_digest_page(client, staff):
    image = _plain(OTHER)
    client.force_login(staff)

    response = client.post(
        "/staff/evidence/",
        {
            "kind": "sbom",
            "digest": image.digest,
            "document": _upload(data("guac__alpine-cyclonedx.json")),
            "subject_override": "on",
            "subject_override_reason": REASON,
        },
    )

    assert response.status_code == 302
    attestation = Attestation.objects.get(digest=image)
    assert attestation.subject_override_reason == REASON
    page = client.get(image.get_absolute_url()).content.decode()
    assert "Another image: staff override" in page
    assert f"Reason: {REASON}" in page
    assert ALPINE in page
    assert staff.email in page  # staff see who overrode
    client.logout()
    public = client.get(image.get_absolute_url()).content.decode()
    assert f"Reason: {REASON}" in public
    assert staff.email not in public


def test_digest_page_says_which_documents_name_the_build(client):
    image = _plain(ALPINE)
    load(CASES["cyclonedx"], image, data("guac__alpine-cyclonedx.json"))
    load(CASES["cyclonedx"], image, data("portal__cyclonedx-1.6.json"))

    page = client.get(image.get_absolute_url()).content.decode()

    assert "This build" in page
    assert "Subject not stated" in page
    assert "registry.example.com/hardened/nginx:1.27.3" in page


@pytest.fixture
def staff_token(staff):
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org,
        name="loader",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    return raw


def _api_post(client, token, **fields):
    return client.post(
        "/api/v1/evidence/", fields, HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_api_refuses_a_document_about_another_image(client, staff_token, media):
    image = _plain(OTHER)
    before = written(media)

    response = _api_post(
        client,
        staff_token,
        kind="provenance",
        digest=image.digest,
        document=_upload(data("guac__oci-dsse-att.json")),
    )

    assert response.status_code == 400
    message = " ".join(response.json()["document"])
    assert TEKTON in message
    assert OTHER in message
    assert written(media) == before


def test_api_refuses_an_override_with_a_blank_reason(client, staff_token, media):
    image = _plain(OTHER)
    before = written(media)

    response = _api_post(
        client,
        staff_token,
        kind="provenance",
        digest=image.digest,
        document=_upload(data("guac__oci-dsse-att.json")),
        subject_override_reason="  ",
    )

    assert response.status_code == 400
    assert "needs a written reason" in json.dumps(response.json())
    assert written(media) == before


def test_api_override_is_in_the_attestation_output(client, staff_token, staff):
    image = _plain(OTHER)

    response = _api_post(
        client,
        staff_token,
        kind="provenance",
        digest=image.digest,
        document=_upload(data("guac__oci-dsse-att.json")),
        subject_override_reason=REASON,
    )

    assert response.status_code == 201, response.content
    assert response.json()["subject"] == "overridden"
    assert response.json()["subject_override_reason"] == REASON
    detail = client.get(f"/api/v1/digests/{image.digest}/").json()
    (attestation,) = detail["attestations"]
    assert attestation["subject_status"] == "overridden"
    assert attestation["subject_digests"] == [TEKTON]
    assert attestation["subject_override_reason"] == REASON
    assert attestation["subject_override_at"]
    assert AuditEvent.objects.get(action=Imported).actor == staff


def _command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("command", "file", "named"),
    [
        ("import_sbom", "guac__alpine-cyclonedx.json", ALPINE),
        ("import_provenance", "guac__oci-dsse-att.json", TEKTON),
    ],
)
def test_commands_refuse_a_document_about_another_image(command, file, named, media):
    image = _plain(OTHER)
    before = written(media)

    with pytest.raises(CommandError) as exc:
        _command(command, image.digest, str(TESTDATA / file))

    assert named in str(exc.value)
    assert OTHER in str(exc.value)
    assert written(media) == before


def test_command_override_needs_a_staff_actor_and_a_reason(media):
    image = _plain(OTHER)
    path = str(TESTDATA / "guac__alpine-cyclonedx.json")
    customer = UserFactory()
    before = written(media)

    refusals = {
        "--actor EMAIL": ["--subject-override-reason", REASON],
        "Only publisher staff": [
            "--subject-override-reason",
            REASON,
            "--actor",
            customer.email,
        ],
        "needs a written reason": [
            "--subject-override-reason",
            "",
            "--actor",
            UserFactory(is_staff=True).email,
        ],
    }
    for message, options in refusals.items():
        with pytest.raises(CommandError) as exc:
            _command("import_sbom", image.digest, path, *options)
        assert message in str(exc.value)
    assert written(media) == before


def test_command_override_with_a_reason_is_attached_and_audited(staff):
    image = _plain(OTHER)

    output = _command(
        "import_sbom",
        image.digest,
        str(TESTDATA / "guac__alpine-cyclonedx.json"),
        "--subject-override-reason",
        REASON,
        "--actor",
        staff.email,
    )

    assert f"attached by override: {REASON}" in output
    attestation = Attestation.objects.get(digest=image)
    assert attestation.subject_override_by == staff
    event = AuditEvent.objects.get(action=Imported)
    assert (event.actor, event.details["subject_override_reason"]) == (staff, REASON)


# --- The demo -------------------------------------------------------------------


def test_demo_builds_carry_only_documents_about_themselves(staff):
    from apps.demo.catalog import _ensure_generated
    from apps.demo.fips import demo_fips_load
    from apps.demo.stig import DEMO_BUILD, demo_stig_load

    _ensure_generated(2, staff)
    demo_stig_load(actor=staff)
    demo_fips_load(actor=staff, repositories=1)

    statuses = set(Attestation.objects.values_list("kind", "subject_status").distinct())
    # SBOMs and FIPS attestations name their build; the real OpenSCAP results
    # were taken on a host ("localhost") and name no image. No override needed.
    assert statuses == {
        ("sbom-cyclonedx", "match"),
        ("fips", "match"),
        ("stig-scan", "not_stated"),
    }
    stig_build = ImageDigest.objects.get(digest=DEMO_BUILD)
    kinds = set(stig_build.attestations.values_list("kind", flat=True))
    assert kinds == {"sbom-cyclonedx", "stig-scan"}
    # Its packages are its own (generated PyPI ones), no other image's.
    types = set(
        DigestComponent.objects.filter(digest=stig_build).values_list(
            "component__type", flat=True
        )
    )
    assert types == {"pypi"}
