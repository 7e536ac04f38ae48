"""The evidence bundle: the report, the evidence JSON and the documents in scope,
with a manifest ``sha256sum -c`` accepts; nothing of another org; stable
bytes; a size limit."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.catalog.models import Attestation
from apps.entitlements.models import Mirror
from apps.reports import bundle
from apps.reports.links import verify_url
from apps.reports.models import Report
from apps.reports.signing import current_signing_key
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaPolicyVersion
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import OrganizationFactory, UserFactory
from tests.sla.builders import finding, ledger_clock, repo_and_series

DAY = timedelta(days=1)
PDF = b"%PDF-1.7\n% a signed report stands in here\n%%EOF\n"
EVIDENCE = b'{"kind":"org_compliance","report":"x"}\n'
STIG_XML = (
    b'<?xml version="1.0"?><Benchmark xmlns="http://checklists.nist.gov/xccdf/1.2"/>'
)


def policy_version() -> SlaPolicyVersion:
    ensure_tiers()
    version = SlaPolicyVersion.objects.first()
    if version is None:
        defaults_load()
        version = SlaPolicyVersion.objects.first()
    return version


@dataclass
class World:
    org: object
    report: Report
    image: object
    fips_image: object
    stig_image: object
    other_image: object
    documents: dict  # path in the bundle -> stored bytes


def document(name: str) -> bytes:
    return json.dumps({"document": name, "nonce": uuid.uuid4().hex}).encode()


def mirror(org, repo, **flags) -> Mirror:
    return Mirror.objects.create(
        org=org,
        repository=repo,
        created_by=UserFactory(),
        created_at=timezone.now() - 400 * DAY,
        **flags,
    )


def path_of(attestation, repo_name: str, ext: str = "json") -> str:
    short = attestation.digest.digest.removeprefix("sha256:")[:12]
    return (
        f"attestations/{repo_name}/{short}/"
        f"{attestation.kind}-{attestation.sha256[:12]}.{ext}"
    )


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    version = policy_version()
    now = timezone.now()
    org = OrganizationFactory(name="Northwind", features=())
    other = OrganizationFactory(name="Globex", features=())
    repo, series = repo_and_series("payments")
    mirror(org, repo, include_fips=True, include_stig=True)
    entitle(org, "fips", "stig", repository=repo, starts_at=now - 400 * DAY)

    # A build carrying one of the org's clocks in the window: its SBOM and
    # provenance, and the publisher's VEX for it.
    image = catalog.build(series, built_at=now - 20 * DAY)
    f = finding(series, image=image, detected_at=now - 10 * DAY)
    ledger_clock(org, f, version, started_at=now - 10 * DAY, due_at=now + 20 * DAY)
    catalog.vex(f.vulnerability, image=image, timestamp=now - 5 * DAY)
    sbom = catalog.sbom(image, document("sbom"))
    provenance = catalog.sbom(
        image,
        document("provenance"),
        kind="slsa-provenance",
        media_type="application/vnd.in-toto+json",
    )
    # FIPS and STIG builds of the mirror, built in the window.
    fips_image = catalog.build(series, fips=True, built_at=now - 6 * DAY)
    fips_doc = catalog.sbom(
        fips_image, document("fips"), kind="fips", media_type="application/json"
    )
    stig_image = catalog.build(series, stig=True, built_at=now - 5 * DAY)
    stig_doc = catalog.sbom(
        stig_image, STIG_XML, kind="stig-scan", media_type="application/xml"
    )

    # Another org's mirror, clock and documents.
    other_repo, other_series = repo_and_series("globex-only")
    mirror(other, other_repo, include_fips=True)
    other_image = catalog.build(other_series, built_at=now - 20 * DAY)
    of = finding(other_series, image=other_image, detected_at=now - 10 * DAY)
    ledger_clock(other, of, version, started_at=now - 10 * DAY, due_at=now + 20 * DAY)
    catalog.sbom(other_image, document("other sbom"))

    window = ((now - 30 * DAY).date(), (now - DAY).date())
    report = Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=Report.Kind.EVIDENCE_BUNDLE,
        org=org,
        window_start=window[0],
        window_end=window[1],
        data_cutoff=now + timedelta(seconds=1),
    )
    documents = {
        path_of(sbom, "payments"): sbom.document.open("rb").read(),
        path_of(provenance, "payments"): provenance.document.open("rb").read(),
        path_of(fips_doc, "payments"): fips_doc.document.open("rb").read(),
        path_of(stig_doc, "payments", "xml"): STIG_XML,
    }
    return World(org, report, image, fips_image, stig_image, other_image, documents)


def make(report) -> bytes:
    return bundle.evidence_bundle(report, pdf=PDF, evidence_json=EVIDENCE)


def unpack(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_bundle_holds_the_report_evidence_and_documents(world):
    files = unpack(make(world.report))
    assert files["report.pdf"] == PDF
    assert files["evidence.json"] == EVIDENCE
    for path, stored in world.documents.items():
        assert files[path] == stored, path
    short = world.image.digest.removeprefix("sha256:")[:12]
    vex = json.loads(files[f"vex/payments/{short}.openvex.json"])
    assert vex["statements"][0]["products"][0]["@id"].endswith(world.image.digest)


def test_every_manifest_line_matches_its_entry(world):
    files = unpack(make(world.report))
    lines = files["MANIFEST.sha256"].decode().splitlines()
    listed = {}
    for line in lines:
        hexdigest, path = line.split("  ", 1)
        listed[path] = hexdigest
    assert set(listed) == set(files) - {"MANIFEST.sha256"}
    for path, hexdigest in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == hexdigest, path


def test_sha256sum_accepts_the_manifest(world, tmp_path):
    with zipfile.ZipFile(io.BytesIO(make(world.report))) as archive:
        archive.extractall(tmp_path)
    done = subprocess.run(
        ["sha256sum", "-c", "MANIFEST.sha256"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # A changed file fails the check.
    (tmp_path / "evidence.json").write_bytes(b"{}\n")
    done = subprocess.run(
        ["sha256sum", "-c", "MANIFEST.sha256"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0


def test_readme_names_the_report_and_how_to_verify(world):
    readme = unpack(make(world.report))["README.txt"].decode()
    assert str(world.report.public_id) in readme
    assert "sha256sum -c MANIFEST.sha256" in readme
    assert verify_url(world.report) in readme


def contents(readme: str) -> list[str]:
    lines = readme.splitlines()
    start = lines.index("Contents") + 1
    return lines[start : lines.index("", start)]


def test_readme_lists_the_folders_the_zip_holds(world):
    files = unpack(make(world.report))
    listed = "\n".join(contents(files["README.txt"].decode()))
    assert "  attestations/ " in listed
    assert "  vex/ " in listed
    assert f"SHA-256 of each of the {len(files) - 1} other files" in listed


def test_readme_names_only_the_kinds_of_document_the_zip_holds(world):
    listed = "\n".join(contents(unpack(make(world.report))["README.txt"].decode()))
    assert (
        "CycloneDX SBOMs, SLSA provenance, FIPS attestations and STIG scans of"
        in listed
    )
    Attestation.objects.filter(kind__in=["slsa-provenance", "stig-scan"]).delete()
    listed = "\n".join(contents(unpack(make(world.report))["README.txt"].decode()))
    assert "CycloneDX SBOMs and FIPS attestations of" in listed
    assert "provenance" not in listed
    assert "STIG" not in listed


def test_the_sbom_behind_each_assessed_latest_build_is_in_the_bundle(world):
    # A newer build of the mirrored series, carrying no clock: the report
    # states its assessment, so its SBOM is evidence the bundle must carry.
    newest = catalog.build(world.image.variant.series, built_at=timezone.now() - DAY)
    sbom = catalog.sbom(newest, document("newest sbom"))
    world.report.data_cutoff = timezone.now() + timedelta(seconds=1)
    files = unpack(make(world.report))
    assert path_of(sbom, "payments") in files


def test_readme_says_none_for_a_kind_the_zip_lacks(world):
    # No document of a build in scope, no VEX statement: no such folder in
    # the zip, and the README names none.
    empty = OrganizationFactory(name="Empty Co", features=())
    report = Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=Report.Kind.EVIDENCE_BUNDLE,
        org=empty,
        window_start=world.report.window_start,
        window_end=world.report.window_end,
        data_cutoff=world.report.data_cutoff,
    )
    files = unpack(make(report))
    # The OSCAL documents are there with nothing in them, but for the POA&M:
    # OSCAL has none without an item. The portal's signature of the evidence
    # and its key come with every bundle.
    portal = current_signing_key().key_id.removeprefix("sha256:")[:16]
    assert sorted(files) == [
        "MANIFEST.sha256",
        "README.txt",
        "evidence.json",
        "evidence.json.dsse.json",
        "oscal/assessment-results.json",
        "oscal/component-definition.json",
        "report.pdf",
        "signatures/VERIFY.txt",
        f"signatures/keys/portal-{portal}.crt",
        f"signatures/keys/portal-{portal}.pem",
        "signatures/verdicts.json",
    ]
    readme = files["README.txt"].decode()
    assert "attestations/" not in readme
    assert "vex/" not in readme
    assert contents(readme)[2:] == [
        "  oscal/            the OSCAL 1.1.2 Assessment Results and Component",
        "                    Definition (JSON) of the same window; no POA&M:",
        "                    no SLA clock was running at the data cut-off",
        "  Attestations      none: no build in scope has a document this",
        "                    organization may receive",
        "  Publisher VEX     none: the publisher made no VEX statement about "
        "a build in scope",
        "  evidence.json.dsse.json",
        "                    the portal's DSSE signature of evidence.json",
        "  signatures/       the signature verdicts, the signers' public keys and",
        "                    how to check them offline (signatures/VERIFY.txt);",
        "                    a document's own detached signature is beside it",
        "                    as <document>.sig.json",
        "  MANIFEST.sha256   SHA-256 of each of the 10 other files",
    ]


def test_another_org_s_documents_are_absent(world):
    files = unpack(make(world.report))
    other_short = world.other_image.digest.removeprefix("sha256:")[:12]
    assert not [p for p in files if "globex-only" in p or other_short in p]


def test_guarded_evidence_needs_the_entitlement(world):
    # Without the FIPS and STIG entitlements the guarded builds' documents
    # stay out; the public build's documents stay in.
    world.org.entitlements.all().delete()
    files = unpack(make(world.report))
    for image in (world.fips_image, world.stig_image):
        short = image.digest.removeprefix("sha256:")[:12]
        assert not [p for p in files if p.startswith("attestations/") and short in p]
    short = world.image.digest.removeprefix("sha256:")[:12]
    assert [p for p in files if p.startswith(f"attestations/payments/{short}/")]


def test_documents_attached_after_the_cutoff_are_left_out(world):
    late = catalog.sbom(world.image, document("late"), kind="sbom-spdx")
    late.created_at = world.report.data_cutoff + DAY
    late.save(update_fields=["created_at"])
    files = unpack(make(world.report))
    assert path_of(late, "payments") not in files


def test_entries_are_sorted_with_readme_and_manifest_last(world):
    with zipfile.ZipFile(io.BytesIO(make(world.report))) as archive:
        names = archive.namelist()
        infos = archive.infolist()
    assert names[-2:] == ["README.txt", "MANIFEST.sha256"]
    assert names[:-2] == sorted(names[:-2])
    stamp = world.report.data_cutoff.astimezone(UTC).timetuple()[:6]
    # Zip times count seconds in twos.
    stamp = (*stamp[:5], stamp[5] // 2 * 2)
    assert {info.date_time for info in infos} == {stamp}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_DEFLATED}


def test_same_inputs_give_the_same_bytes(world, monkeypatch):
    first = make(world.report)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86400 + 7)
    second = make(world.report)
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_size_limit_refuses_the_bundle(world, settings):
    settings.REPORT_BUNDLE_MAX_BYTES = len(PDF) + len(EVIDENCE) + 10
    with pytest.raises(bundle.BundleTooLarge, match="REPORT_BUNDLE_MAX_BYTES"):
        make(world.report)


def test_bundle_file_hands_over_a_rewound_file_with_its_hash(world):
    written = bundle.evidence_bundle_file(world.report, pdf=PDF, evidence_json=EVIDENCE)
    with written.file as f:
        content = f.read()
    assert len(content) == written.size
    assert hashlib.sha256(content).hexdigest() == written.sha256
    assert content == make(world.report)
    assert written.entries == len(unpack(content))


def test_a_changed_stored_document_fails_the_bundle(world):
    sbom = next(a for a in world.image.attestations.all() if a.kind == "sbom-cyclonedx")
    with open(sbom.document.path, "wb") as f:
        f.write(b'{"tampered": true}')
    with pytest.raises(bundle.BundleIntegrityError, match="SHA-256"):
        make(world.report)


def test_report_without_org_is_refused(db):
    report = Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=Report.Kind.EVIDENCE_BUNDLE,
        data_cutoff=datetime(2026, 3, 1, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="organization"):
        make(report)
