"""Signing reports (PAdES baseline B-B with pyHanko) and verifying them.

The portal signs with one key at a time. In development it is generated on
first use and kept under ``REPORT_SIGNING_DIR``; in production it is read from
``REPORT_SIGNING_KEY_FILE`` and ``REPORT_SIGNING_CERT_FILE``. Every key is
recorded as a :class:`SigningKey` row with its certificate, and kept after a
rotation: verification trusts the certificates of all rows, so a report signed
before a rotation still verifies.

A key id is ``sha256:`` and the SHA-256 of the certificate's DER encoding. The
certificate, not the bare public key, is what verification trusts (its subject,
validity and key usage are part of the trust), so a re-issued certificate for
the same key is a new key id.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.bounded import BoundExceededError, run_bounded
from apps.core.dev_keys import dev_key_pair

from .formats.pdf_signature import signature_facts
from .links import verify_url
from .models import Report, SigningKey

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "ReportSignature"
GENERATED, CONFIGURED = "generated", "configured"
DEV_KEY_NAME = "report-signing-key.pem"
DEV_CERT_NAME = "report-signing-cert.pem"
DEV_VALIDITY = timedelta(days=5 * 365)
# A development certificate this close to its end is replaced, not used.
DEV_RENEW_BEFORE = timedelta(days=1)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# The failure messages, shown on the verify page and by ``verify_report``.
NOT_A_PDF = "not a PDF"
DAMAGED = "the file is damaged: it cannot be read as a PDF"
NO_SIGNATURE = "no signature"
MISMATCH = "signature does not match the content"
UNKNOWN_KEY = "signed by an unknown key"
NO_REPORT = "no report has this SHA-256"
CHANGED = "the file was changed after signing"
CERT_NOT_VALID = "the signing certificate was not valid when the report was signed"
OTHER_REPORT = "this file is not the report of this record"
OTHER_KEY = "signed by another key than the one recorded for this report"
TOO_LARGE = "the file is too large to check"

# What reading one uploaded PDF may cost (``apps.core.bounded``): a report
# verifies in a fraction of a second; a crafted file stops here.
VERIFY_TIMEOUT_SECONDS = 10.0
VERIFY_CPU_SECONDS = 5
VERIFY_MEMORY_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class SignedPdf:
    content: bytes
    key_id: str


@dataclass(frozen=True)
class SigningMaterial:
    """The current key: its row, and what pyHanko signs with."""

    row: SigningKey
    signer: signers.SimpleSigner


def key_id_for(cert: x509.Certificate) -> str:
    der = cert.public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


# --------------------------------------------------------------------------
# The key: generated (development) or configured (production).
# --------------------------------------------------------------------------


def _dev_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(
                NameOID.COMMON_NAME,
                f"{settings.SITE_NAME} report signing (development)"[:64],
            )
        ]
    )
    now = timezone.now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A little slack for clocks that disagree by a few minutes.
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + DEV_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
        .sign(key, hashes.SHA256())
    )


def _dev_key_files() -> tuple[bytes, bytes]:
    """The development key pair as PEM, generated on first use."""
    directory = Path(settings.REPORT_SIGNING_DIR)
    key_pem, cert_pem, made = dev_key_pair(
        directory=directory,
        key_name=DEV_KEY_NAME,
        cert_name=DEV_CERT_NAME,
        certificate=_dev_certificate,
        renew_before=DEV_RENEW_BEFORE,
    )
    if made:
        logger.info("Generated a development report signing key in %s", directory)
    return key_pem, cert_pem


def _configured_key_files() -> tuple[bytes, bytes]:
    key_file = settings.REPORT_SIGNING_KEY_FILE
    cert_file = settings.REPORT_SIGNING_CERT_FILE
    if not cert_file:
        raise ImproperlyConfigured(
            "REPORT_SIGNING_KEY_FILE is set: REPORT_SIGNING_CERT_FILE is needed too."
        )
    try:
        return Path(key_file).read_bytes(), Path(cert_file).read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"The report signing key or certificate cannot be read: {exc}"
        ) from exc


def _load(key_pem: bytes, cert_pem: bytes, *, passphrase: str):
    try:
        key = serialization.load_pem_private_key(
            key_pem, password=passphrase.encode() if passphrase else None
        )
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"The report signing key or certificate is not usable PEM: {exc}"
        ) from exc
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ImproperlyConfigured(
            "The report signing certificate is not for the configured key."
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    # PAdES signers (and pyHanko's validator) expect nonRepudiation.
    if usage is None or not usage.content_commitment:
        raise ImproperlyConfigured(
            "The report signing certificate needs the key usage nonRepudiation "
            "(contentCommitment)."
        )
    now = timezone.now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ImproperlyConfigured(
            "The report signing certificate is not valid now "
            f"({cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d})."
        )
    return key, cert


@transaction.atomic
def _record(cert: x509.Certificate, *, source: str) -> SigningKey:
    key_id = key_id_for(cert)
    row = SigningKey.objects.filter(key_id=key_id).first()
    if row is not None:
        return row
    row, created = SigningKey.objects.get_or_create(
        key_id=key_id,
        defaults={
            "certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "subject": cert.subject.rfc4514_string()[:500],
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            "source": source,
        },
    )
    if created:
        # Older keys stay trusted for what they signed; they sign nothing new.
        SigningKey.objects.exclude(pk=row.pk).filter(retired_at__isnull=True).update(
            retired_at=row.created_at
        )
        audit_record(
            action=AuditEvent.Action.SIGNING_KEY_ADDED,
            target=row,
            details={
                "key_id": key_id,
                "subject": row.subject,
                "source": source,
                "not_after": row.not_after.isoformat(),
            },
        )
    return row


@dataclass(frozen=True)
class KeyPair:
    """The current key as ``cryptography`` loads it, its certificate and its
    recorded row."""

    key: PrivateKeyTypes
    certificate: x509.Certificate
    row: SigningKey


def signing_key_pair() -> KeyPair:
    """The current key (generated on first use in development, configured in
    production), loaded, with its certificate and recorded row."""
    if settings.REPORT_SIGNING_KEY_FILE:
        key_pem, cert_pem = _configured_key_files()
        passphrase, source = settings.REPORT_SIGNING_KEY_PASSPHRASE, CONFIGURED
    elif settings.DEV_MODE:
        key_pem, cert_pem = _dev_key_files()
        passphrase, source = "", GENERATED
    else:
        raise ImproperlyConfigured(
            "Production signs reports only with a configured key: set "
            "REPORT_SIGNING_KEY_FILE and REPORT_SIGNING_CERT_FILE."
        )
    key, cert = _load(key_pem, cert_pem, passphrase=passphrase)
    return KeyPair(key=key, certificate=cert, row=_record(cert, source=source))


def signing_material() -> SigningMaterial:
    """The current key, loaded, with its recorded row."""
    pair = signing_key_pair()
    key, cert, row = pair.key, pair.certificate, pair.row
    signing_cert = asn1_x509.Certificate.load(
        cert.public_bytes(serialization.Encoding.DER)
    )
    signing_key = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=signing_cert,
        signing_key=signing_key,
        cert_registry=SimpleCertificateStore.from_certs([signing_cert]),
    )
    return SigningMaterial(row=row, signer=signer)


def current_signing_key() -> SigningKey:
    """The key reports are signed with now (generated on first use in
    development), recorded as a :class:`SigningKey` row."""
    return signing_material().row


def sign_pdf(content: bytes, *, report: Report) -> SignedPdf:
    """Sign a PDF (PAdES B-B) as an incremental update, which keeps its PDF/A
    identification and attachments as they were."""
    material = signing_material()
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=f"Report {report.public_id}",
        location=settings.SITE_URL,
        contact_info=verify_url(report),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(content))
    out = signers.PdfSigner(meta, signer=material.signer).sign_pdf(writer)
    return SignedPdf(content=out.getvalue(), key_id=material.row.key_id)


# --------------------------------------------------------------------------
# Verification.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What a file is: its hash, the report it is (if any) and its signature."""

    sha256: str
    report: Report | None = None
    # The PDF inside an evidence bundle: vouched for by its signature, which
    # names the bundle, rather than by a recorded hash.
    in_bundle: bool = False
    is_pdf: bool = False
    signed: bool = False
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    entire_file: bool = False
    key_id: str = ""
    signing_key: SigningKey | None = None
    signer: str = ""
    signed_at: datetime | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def signature_ok(self) -> bool:
        return (
            self.signed
            and self.intact
            and self.valid
            and self.trusted
            and self.entire_file
            and bool(self.key_id)
        )

    @property
    def unsigned_kind(self) -> bool:
        """A report file that carries no signature of its own (a zip or an
        XLSX): its recorded hash is what vouches for it."""
        return (
            self.report is not None
            and not self.is_pdf
            and self.report.media_type not in ("", "application/pdf")
        )

    @property
    def ok(self) -> bool:
        return not self.problems and (self.signature_ok or self.unsigned_kind)


def verify_hash(sha256_hex: str) -> Report | None:
    """The ready report whose file has this SHA-256, or None."""
    value = (sha256_hex or "").strip().lower()
    if not SHA256_RE.match(value):
        return None
    return (
        Report.objects.filter(sha256=value, status=Report.Status.READY)
        .order_by("pk")
        .first()
    )


def _trusted_keys() -> dict[str, SigningKey]:
    return {row.key_id: row for row in SigningKey.objects.order_by("pk")}


def _trust_roots(keys: dict[str, SigningKey]) -> list[bytes]:
    """The recorded certificates, DER-encoded."""
    return [
        x509.load_pem_x509_certificate(row.certificate_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
        for row in keys.values()
    ]


def _valid_then(row: SigningKey, when: datetime | None) -> bool:
    # The recorded certificates are the trust anchors themselves, whose
    # validity period path validation does not check: check it here, at the
    # time the portal recorded the report as finished (a B-B signature has no
    # timestamp token), so an expired key still vouches for what it signed.
    return when is None or row.not_before <= when <= row.not_after


def _bundle_signed_for(reason: str, expected: Report | None) -> Report | None:
    """The evidence bundle a PDF was signed for, when it is one.

    A bundle's record holds the hash of the zip; the PDF inside it has no
    record of its own (its hash is in the bundle's MANIFEST.sha256). Its
    signature names the report id in /Reason, which the signature covers: a
    whole-file signature by a portal key naming a ready evidence bundle is
    that bundle's PDF.
    """
    match = re.fullmatch(r"Report ([0-9a-f-]{36})", reason)
    if match is None:
        return None
    bundle = Report.objects.filter(
        public_id=match.group(1),
        kind=Report.Kind.EVIDENCE_BUNDLE,
        status=Report.Status.READY,
    ).first()
    if bundle is None or (expected is not None and bundle.pk != expected.pk):
        return None
    return bundle


def signing_key_for(key_id: str) -> SigningKey | None:
    return SigningKey.objects.filter(key_id=key_id).first() if key_id else None


def _signature_facts(content: bytes, digest: str, keys: dict[str, SigningKey]) -> dict:
    """What the PDF says of its signature (``formats.pdf_signature``), read in
    a bounded child process: a crafted file is an unreadable one."""
    try:
        facts = run_bounded(
            signature_facts,
            content,
            trust_roots=_trust_roots(keys),
            field_name=SIGNATURE_FIELD,
            timeout=VERIFY_TIMEOUT_SECONDS,
            cpu_seconds=VERIFY_CPU_SECONDS,
            memory_bytes=VERIFY_MEMORY_BYTES,
        )
    except BoundExceededError as exc:
        facts = {"readable": False, "detail": str(exc)}
    if not facts.get("readable"):
        logger.info("Verify: unreadable PDF %s: %s", digest, facts.get("detail"))
    elif facts.get("signed") and not facts.get("checked"):
        logger.info(
            "Verify: signature of %s cannot be checked: %s", digest, facts["detail"]
        )
    return facts


def _unjudged(
    digest: str, report: Report | None, problems: list[str], *, signed: bool = False
) -> Verification:
    """A PDF whose signature cannot be judged: the problems found so far."""
    if report is None:
        problems.append(NO_REPORT)
    return Verification(
        sha256=digest,
        report=report,
        is_pdf=True,
        signed=signed,
        problems=tuple(problems),
    )


def _judged(
    digest: str,
    report: Report | None,
    problems: list[str],
    *,
    facts: dict,
    keys: dict[str, SigningKey],
    expected: Report | None,
) -> Verification:
    """A PDF whose signature was validated: by a portal key valid at the
    time, over the whole file, and of the report recorded for it?"""
    cert_der = base64.b64decode(facts["signing_cert"])
    signer_key_id = "sha256:" + hashlib.sha256(cert_der).hexdigest()
    row = keys.get(signer_key_id)
    known = row is not None
    chain_ok = bool(facts["chain_ok"])
    signed_at = (
        datetime.fromisoformat(facts["signed_at"]) if facts["signed_at"] else None
    )
    when = (report.finished_at if report else None) or signed_at
    entire_file = bool(facts["entire_file"])
    if not (facts["intact"] and facts["valid"]):
        problems.append(MISMATCH)
    if row is None:
        problems.append(UNKNOWN_KEY)
    elif not chain_ok or not _valid_then(row, when):
        problems.append(CERT_NOT_VALID)
    if not entire_file:
        problems.append(CHANGED)
    in_bundle = None
    if report is None and not problems:
        in_bundle = _bundle_signed_for(facts["reason"], expected)
        report = in_bundle
    if report is None:
        problems.append(NO_REPORT)
    elif report.signer_key_id and known and report.signer_key_id != signer_key_id:
        problems.append(OTHER_KEY)
    return Verification(
        sha256=digest,
        report=report,
        in_bundle=in_bundle is not None,
        is_pdf=True,
        signed=True,
        intact=bool(facts["intact"]),
        valid=bool(facts["valid"]),
        trusted=chain_ok and row is not None and _valid_then(row, when),
        entire_file=entire_file,
        key_id=signer_key_id if known else "",
        signing_key=row,
        signer=facts["signer"],
        signed_at=signed_at,
        problems=tuple(problems),
    )


def verify_document(content: bytes, *, expected: Report | None = None) -> Verification:
    """Check a file against the records: is it a ready report (``expected``,
    when given), and is its signature intact, valid, by a portal key, and over
    the whole file?"""
    digest = hashlib.sha256(content).hexdigest()
    report = verify_hash(digest)
    problems: list[str] = []
    if expected is not None and report is not None and report.pk != expected.pk:
        problems.append(OTHER_REPORT)
    # A PDF's header may follow up to 1 KiB of other bytes (ISO 32000-1, H.3).
    if b"%PDF-" not in content[:1024]:
        if report is None:
            problems += [NOT_A_PDF, NO_REPORT]
        elif report.media_type in ("", "application/pdf"):
            problems.append(NOT_A_PDF)
        return Verification(sha256=digest, report=report, problems=tuple(problems))
    if len(content) > settings.EVIDENCE_MAX_BYTES:
        problems.append(TOO_LARGE)
        return _unjudged(digest, report, problems)
    keys = _trusted_keys()
    # The portal's signature (else the first); anything signed after it is a
    # later change, which the coverage check reports.
    facts = _signature_facts(content, digest, keys)
    if not facts.get("readable") or not facts.get("signed"):
        problems.append(NO_SIGNATURE if facts.get("readable") else DAMAGED)
        return _unjudged(digest, report, problems)
    if not facts.get("checked"):
        problems.append(MISMATCH)
        return _unjudged(digest, report, problems, signed=True)
    return _judged(digest, report, problems, facts=facts, keys=keys, expected=expected)
