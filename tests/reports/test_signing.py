"""Signing reports (PAdES with pyHanko) and verifying them.

The PDFs here are small PDF/A-3b documents WeasyPrint makes in the test, with
an ``evidence.json`` attachment like the real reports.
"""

from __future__ import annotations

import hashlib
import io
import stat
import uuid
from datetime import date, timedelta

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from weasyprint import HTML, Attachment

from apps.audit.models import AuditEvent
from apps.reports import signing
from apps.reports.models import Report, SigningKey
from apps.reports.signing import (
    CERT_NOT_VALID,
    CHANGED,
    MISMATCH,
    NO_REPORT,
    NO_SIGNATURE,
    NOT_A_PDF,
    OTHER_KEY,
    UNKNOWN_KEY,
    current_signing_key,
    sign_pdf,
    verify_document,
    verify_hash,
)

EVIDENCE = b'{"clocks":[],"org":"test"}\n'

# --------------------------------------------------------------------------
# Helpers (test_verify.py uses them too).
# --------------------------------------------------------------------------


def make_pdfa(title: str = "Compliance report") -> bytes:
    """A small PDF/A-3b with the evidence attached, as the renderer makes."""
    return HTML(string=f"<title>{title}</title><h1>{title}</h1><p>x</p>").write_pdf(
        pdf_variant="pdf/a-3b",
        attachments=[Attachment(string=EVIDENCE.decode(), name="evidence.json")],
    )


def new_report(org=None, **fields) -> Report:
    """A Report row being built (what the task has before it signs)."""
    return Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=fields.pop("kind", Report.Kind.ORG_COMPLIANCE),
        org=org,
        window_start=date(2026, 1, 1),
        window_end=date(2026, 3, 31),
        data_cutoff=timezone.now(),
        status=Report.Status.RENDERING,
        **fields,
    )


def issue(report: Report, content: bytes, *, key_id: str = "", media="pdf"):
    """Record the file as the task does when it is done."""
    report.status = Report.Status.READY
    report.sha256 = hashlib.sha256(content).hexdigest()
    report.size = len(content)
    report.signer_key_id = key_id
    report.media_type = "application/pdf" if media == "pdf" else media
    report.finished_at = timezone.now()
    report.save()
    return report


def signed_report(org=None) -> tuple[Report, bytes]:
    report = new_report(org)
    signed = sign_pdf(make_pdfa(), report=report)
    return issue(report, signed.content, key_id=signed.key_id), signed.content


def key_pair(
    tmp_path,
    *,
    name: str = "Portal Ltd report signing",
    passphrase: bytes | None = None,
    non_repudiation: bool = True,
    rsa_key: bool = False,
    days: int = 365,
):
    """A key and a self-signed certificate as files (a configured key)."""
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if rsa_key
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=max(0, -days) + 1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=non_repudiation,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    stem = uuid.uuid4().hex[:8]
    key_file, cert_file = tmp_path / f"{stem}.key", tmp_path / f"{stem}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file, cert


def configure(settings, key_file, cert_file, passphrase: str = "") -> None:
    settings.REPORT_SIGNING_KEY_FILE = str(key_file)
    settings.REPORT_SIGNING_CERT_FILE = str(cert_file)
    settings.REPORT_SIGNING_KEY_PASSPHRASE = passphrase


def foreign_signed(tmp_path) -> bytes:
    """A PDF signed by a key the portal never recorded."""
    key_file, cert_file, _ = key_pair(tmp_path, name="Someone else")
    signer = signers.SimpleSigner.load(str(key_file), str(cert_file))
    meta = signers.PdfSignatureMetadata(field_name="ReportSignature")
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdfa()))
    return signers.PdfSigner(meta, signer=signer).sign_pdf(writer).getvalue()


def append_update(content: bytes) -> bytes:
    """An incremental update after the signature (what an editor saves)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(content))
    writer.root["/Lang"] = generic.pdf_string("fr")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def flip_signed_byte(content: bytes) -> bytes:
    """Change one letter of the producer string: inside the signed range."""
    at = content.index(b"WeasyPrint")
    assert at < content.index(b"/ByteRange")
    tampered = bytearray(content)
    tampered[at] = ord("w")
    return bytes(tampered)


@pytest.fixture(autouse=True)
def signing_dir(settings, tmp_path):
    """Development signing, with its key in the test's own directory."""
    settings.REPORT_SIGNING_DIR = tmp_path / "signing"
    settings.REPORT_SIGNING_KEY_FILE = ""
    settings.REPORT_SIGNING_CERT_FILE = ""
    settings.REPORT_SIGNING_KEY_PASSPHRASE = ""
    settings.DEV_MODE = True
    return settings.REPORT_SIGNING_DIR


def _status(content: bytes, *certs):
    reader = PdfFileReader(io.BytesIO(content))
    (sig,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=list(certs), allow_fetching=False)
    return sig, validate_pdf_signature(sig, context)


def _asn1(row: SigningKey):
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509

    _, _, der = pem.unarmor(row.certificate_pem.encode())
    return asn1_x509.Certificate.load(der)


# --------------------------------------------------------------------------
# Signing.
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_signed_report_is_intact_valid_and_trusted_by_pyhanko():
    report = new_report()
    signed = sign_pdf(make_pdfa(), report=report)
    row = SigningKey.objects.get()
    assert signed.key_id == row.key_id

    sig, status = _status(signed.content, _asn1(row))

    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert sig.field_name == "ReportSignature"
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert sig.md_algorithm == "sha256"
    assert sig.sig_object["/Reason"] == f"Report {report.public_id}"
    assert str(report.public_id) in sig.sig_object["/ContactInfo"]


@pytest.mark.django_db
def test_signature_is_not_trusted_without_the_portal_certificate():
    signed = sign_pdf(make_pdfa(), report=new_report())
    _, status = _status(signed.content)  # no trust roots
    assert status.intact
    assert status.valid
    assert not status.trusted


@pytest.mark.django_db
def test_signing_keeps_pdfa_identification_and_attachment():
    unsigned = make_pdfa()
    signed = sign_pdf(unsigned, report=new_report()).content

    # An incremental update: every byte of the PDF/A is still there, unchanged.
    assert signed.startswith(unsigned)
    assert len(signed) > len(unsigned)
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        with pdf.open_metadata() as xmp:
            assert xmp["pdfaid:part"] == "3"
            assert xmp["pdfaid:conformance"] == "B"
        assert list(pdf.attachments) == ["evidence.json"]
        attached = pdf.attachments["evidence.json"].get_file().read_bytes()
        assert attached == EVIDENCE
        assert "/OutputIntents" in pdf.Root


@pytest.mark.django_db
def test_development_key_is_generated_once_and_reused(signing_dir):
    first = current_signing_key()
    second = current_signing_key()

    assert first.key_id == second.key_id
    assert first.key_id.startswith("sha256:")
    assert SigningKey.objects.count() == 1
    assert first.source == "generated"
    assert "report signing (development)" in first.subject
    key_file = signing_dir / signing.DEV_KEY_NAME
    cert_file = signing_dir / signing.DEV_CERT_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    der = cert.public_bytes(serialization.Encoding.DER)
    assert first.key_id == "sha256:" + hashlib.sha256(der).hexdigest()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(
        days=5 * 365 - 1
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    (event,) = AuditEvent.objects.filter(action=AuditEvent.Action.SIGNING_KEY_ADDED)
    assert event.details["key_id"] == first.key_id
    assert event.details["source"] == "generated"


@pytest.mark.django_db
def test_development_key_survives_a_fresh_database(signing_dir):
    key_id = current_signing_key().key_id
    SigningKey.objects.all().delete()
    # Same files, so the same key: recorded again, not regenerated.
    assert current_signing_key().key_id == key_id


@pytest.mark.django_db
def test_configured_key_files_are_used(settings, tmp_path, signing_dir):
    key_file, cert_file, cert = key_pair(tmp_path, passphrase=b"s3cret", rsa_key=True)
    configure(settings, key_file, cert_file, "s3cret")

    report = new_report()
    signed = sign_pdf(make_pdfa(), report=report)

    row = SigningKey.objects.get()
    der = cert.public_bytes(serialization.Encoding.DER)
    assert row.key_id == signed.key_id == "sha256:" + hashlib.sha256(der).hexdigest()
    assert row.source == "configured"
    assert row.subject == "CN=Portal Ltd report signing"
    assert not signing_dir.exists(), "no development key is generated"
    issue(report, signed.content, key_id=signed.key_id)
    assert verify_document(signed.content).ok


def _bad_key(tmp_path, case):
    key_file, cert_file, _ = key_pair(tmp_path, passphrase=b"right")
    if case == "wrong passphrase":
        return key_file, cert_file, "wrong"
    if case == "certificate of another key":
        _, other_cert, _ = key_pair(tmp_path)
        return key_file, other_cert, "right"
    if case == "no certificate file":
        return key_file, tmp_path / "missing.crt", "right"
    if case == "no nonRepudiation":
        key_file, cert_file, _ = key_pair(tmp_path, non_repudiation=False)
        return key_file, cert_file, ""
    if case == "expired":
        key_file, cert_file, _ = key_pair(tmp_path, days=-1)
        return key_file, cert_file, ""
    raise AssertionError(case)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong passphrase", "not usable PEM"),
        ("certificate of another key", "not for the configured key"),
        ("no certificate file", "cannot be read"),
        ("no nonRepudiation", "nonRepudiation"),
        ("expired", "not valid now"),
    ],
)
def test_unusable_configured_key_is_refused(settings, tmp_path, case, message):
    key_file, cert_file, passphrase = _bad_key(tmp_path, case)
    configure(settings, key_file, cert_file, passphrase)

    with pytest.raises(ImproperlyConfigured, match=message):
        sign_pdf(make_pdfa(), report=new_report())
    assert not SigningKey.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_production_refuses_to_generate_a_key(settings, signing_dir):
    settings.DEV_MODE = False
    with pytest.raises(ImproperlyConfigured, match="REPORT_SIGNING_KEY_FILE"):
        current_signing_key()
    assert not signing_dir.exists()
    assert not SigningKey.objects.exists()


# --------------------------------------------------------------------------
# Verification.
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_issued_report_verifies():
    report, content = signed_report()

    v = verify_document(content)

    assert v.ok, v.problems
    assert v.report == report
    assert v.key_id == report.signer_key_id
    assert v.signed
    assert v.intact
    assert v.valid
    assert v.trusted
    assert v.entire_file
    assert v.signing_key.key_id == report.signer_key_id
    assert "(development)" in v.signer


@pytest.mark.django_db
def test_byte_changed_inside_the_signed_range_fails():
    _, content = signed_report()

    v = verify_document(flip_signed_byte(content))

    assert not v.ok
    assert not v.intact
    assert v.problems == (MISMATCH, NO_REPORT)
    assert v.report is None
    assert v.key_id, "still signed by the portal key"


@pytest.mark.django_db
def test_update_appended_after_signing_fails():
    _, content = signed_report()

    v = verify_document(append_update(content))

    assert not v.ok
    # The signed revision itself is intact: what follows it is the change.
    assert v.intact
    assert v.valid
    assert v.trusted
    assert not v.entire_file
    assert v.problems == (CHANGED, NO_REPORT)


@pytest.mark.django_db
def test_appended_update_fails_even_if_its_hash_were_recorded():
    report, content = signed_report()
    changed = append_update(content)
    issue(report, changed, key_id=report.signer_key_id)

    v = verify_document(changed)

    assert v.report == report
    assert v.problems == (CHANGED,)
    assert not v.ok


@pytest.mark.django_db
def test_valid_signature_without_a_record_fails():
    content = sign_pdf(make_pdfa(), report=new_report()).content

    v = verify_document(content)

    assert v.signed
    assert v.intact
    assert v.valid
    assert v.trusted
    assert v.problems == (NO_REPORT,)
    assert not v.ok


@pytest.mark.django_db
def test_report_not_yet_ready_is_not_a_record():
    report = new_report()
    content = sign_pdf(make_pdfa(), report=report).content
    report.sha256 = hashlib.sha256(content).hexdigest()
    report.save()  # still rendering

    assert verify_hash(report.sha256) is None
    assert NO_REPORT in verify_document(content).problems


@pytest.mark.django_db
def test_signature_by_an_unknown_key_fails(tmp_path):
    current_signing_key()  # the portal has a key; it is not this one
    content = foreign_signed(tmp_path)
    issue(new_report(), content)

    v = verify_document(content)

    assert v.report is not None
    assert v.intact
    assert v.valid
    assert not v.trusted
    assert v.key_id == ""
    assert v.problems == (UNKNOWN_KEY,)


@pytest.mark.django_db
def test_report_signed_by_a_rotated_key_still_verifies(settings, tmp_path):
    _old_report, old_content = signed_report()
    old_key = SigningKey.objects.get()

    key_file, cert_file, _ = key_pair(tmp_path)
    configure(settings, key_file, cert_file)
    _, new_content = signed_report()

    old_key.refresh_from_db()
    current = current_signing_key()
    assert current.key_id != old_key.key_id
    assert old_key.retired_at is not None
    assert current.retired_at is None
    assert SigningKey.objects.count() == 2
    old = verify_document(old_content)
    assert old.ok, old.problems
    assert old.key_id == old_key.key_id
    assert verify_document(new_content).ok


@pytest.mark.django_db
def test_signature_by_another_portal_key_than_recorded_fails(settings, tmp_path):
    report, content = signed_report()
    key_file, cert_file, _ = key_pair(tmp_path)
    configure(settings, key_file, cert_file)
    report.signer_key_id = current_signing_key().key_id
    report.save()

    v = verify_document(content)

    assert v.problems == (OTHER_KEY,)
    assert not v.ok


@pytest.mark.django_db
def test_signature_is_checked_at_the_time_the_report_was_issued():
    report, content = signed_report()
    key = SigningKey.objects.get()
    # Recorded as finished before its key existed: the certificate did not
    # vouch for anything then.
    report.finished_at = key.not_before - timedelta(days=1)
    report.save()

    v = verify_document(content)

    assert CERT_NOT_VALID in v.problems
    assert not v.ok


@pytest.mark.django_db
def test_unsigned_pdf_fails_with_no_signature():
    content = make_pdfa()
    issue(new_report(), content)

    v = verify_document(content)

    assert v.is_pdf
    assert not v.signed
    assert v.problems == (NO_SIGNATURE,)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content", [b"hello", b"PK\x03\x04zip", b"%PD", b""], ids=["text", "zip", "x", "0"]
)
def test_not_a_pdf_fails(content):
    v = verify_document(content)
    assert v.problems == (NOT_A_PDF, NO_REPORT)
    assert not v.ok


@pytest.mark.django_db
def test_damaged_pdf_fails_without_raising():
    v = verify_document(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    assert not v.ok
    assert v.problems == (signing.DAMAGED, NO_REPORT)


@pytest.mark.django_db
def test_evidence_bundle_verifies_by_its_recorded_hash():
    bundle = b"PK\x03\x04 a zip of the report and its evidence"
    report = issue(
        new_report(kind=Report.Kind.EVIDENCE_BUNDLE), bundle, media="application/zip"
    )

    v = verify_document(bundle)

    assert v.ok
    assert v.unsigned_kind
    assert v.report == report
    assert not verify_document(bundle + b" ").ok


@pytest.mark.django_db
def test_verify_hash_finds_ready_reports_only():
    report, content = signed_report()
    digest = hashlib.sha256(content).hexdigest()

    assert verify_hash(digest) == report
    assert verify_hash(digest.upper()) == report
    assert verify_hash(" " + digest + "\n") == report
    assert verify_hash("0" * 64) is None
    assert verify_hash(digest[:-1]) is None
    assert verify_hash("z" * 64) is None
    assert verify_hash("") is None


@pytest.mark.django_db
def test_pdf_inside_an_evidence_bundle_verifies_by_its_signature():
    bundle = new_report(kind=Report.Kind.EVIDENCE_BUNDLE)
    pdf = sign_pdf(make_pdfa(), report=bundle)
    issue(bundle, b"PK\x03\x04 zip", key_id=pdf.key_id, media="application/zip")

    v = verify_document(pdf.content)

    assert v.ok, v.problems
    assert v.in_bundle
    assert v.report == bundle
    changed = verify_document(append_update(pdf.content))
    assert changed.problems == (CHANGED, NO_REPORT)
    assert not changed.in_bundle


@pytest.mark.django_db
def test_signature_naming_an_issued_pdf_report_does_not_replace_its_hash():
    report = new_report()
    pdf = sign_pdf(make_pdfa(), report=report)
    # Issued with another file (say, a later attempt's): this one is not it.
    issue(report, make_pdfa("Other"), key_id=pdf.key_id)

    v = verify_document(pdf.content)

    assert v.problems == (NO_REPORT,)
    assert not v.in_bundle
