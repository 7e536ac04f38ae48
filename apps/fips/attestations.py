"""A FIPS build's attestation: which validated crypto modules the build carries.

The document is an in-toto statement (bare, or in a DSSE envelope) about the
build's digest with the predicate type ``FIPS_PREDICATE_TYPE``::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "...", "digest": {"sha256": "<the build>"}}],
     "predicateType": "https://hardened-images.dev/attestation/fips/v1",
     "predicate": {"modules": [
        {"name": "OpenSSL FIPS Provider", "vendor": "The OpenSSL Project",
         "version": "3.0.9", "certificate": 4282, "standard": "FIPS 140-2",
         "package": "pkg:deb/debian/openssl-provider-fips@3.0.9"}]}}

``certificate`` is the CMVP certificate number (``4282``, ``"4282"`` or
``"#4282"``). Every certificate must already be in the module registry (import
its CMVP record first), and the standard the build states must be the
certificate's: a build that names the wrong certificate is refused, not stored.
The document is kept byte for byte as the build's ``fips`` attestation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.catalog.formats.document import document_json, refuse
from apps.catalog.formats.intoto import (
    DSSE_MEDIA_TYPE,
    IN_TOTO_MEDIA_TYPE,
    STATEMENT_TYPES,
    Reader,
    dsse_key_ids,
    dsse_payload,
    statement_subjects,
)
from apps.catalog.formats.subject import StatedSubject, statement_subject
from apps.catalog.models import Attestation, ImageDigest
from apps.catalog.services import SubjectOverride, attestation_store

from .models import CryptoModule, DigestCryptoModule, FipsEvent

FIPS_PREDICATE_TYPE = "https://hardened-images.dev/attestation/fips/v1"
MAX_MODULES = 50
WHAT = "FIPS attestation"
STANDARDS = {
    "fips 140-2": "140-2",
    "140-2": "140-2",
    "fips 140-3": "140-3",
    "140-3": "140-3",
}
CERTIFICATE_RE = re.compile(r"^\s*(?:cmvp\s*)?#?\s*(\d{1,6})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DeclaredModule:
    certificate_number: int
    standard: str
    name: str
    vendor: str
    version: str
    package: str


@dataclass(frozen=True)
class FipsAttestation:
    media_type: str
    signer_key_id: str
    subject: StatedSubject
    modules: tuple[DeclaredModule, ...]


@dataclass
class FipsImportResult:
    attestation_id: int
    modules: int
    certificates: str
    created: bool
    module_changed: bool
    subject: str


def _problem(path: str, message: str):
    if len(message) > 300:
        message = message[:300] + "..."
    return refuse(f"Not valid {WHAT} at {path}: {message}.", "schema")


def _text(obj: dict[str, Any], key: str, path: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _problem(f"{path}.{key}", "expected a non-empty string")
    return value.strip()


def _certificate(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise _problem(path, "expected a CMVP certificate number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and (match := CERTIFICATE_RE.match(value)):
        number = int(match.group(1))
    else:
        raise _problem(path, f"{value!r} is not a CMVP certificate number")
    if number < 1:
        raise _problem(path, "a CMVP certificate number is 1 or more")
    return number


def fips_attestation_parse(content: bytes) -> FipsAttestation:
    """Read the statement; refuse anything that is not one, with the path of
    what is wrong."""
    doc = document_json(content)
    envelope: dict[str, Any] | None = None
    if isinstance(doc, dict) and "payloadType" in doc and "payload" in doc:
        envelope = doc
        doc = dsse_payload(envelope, what=WHAT)
    if not isinstance(doc, dict) or "_type" not in doc:
        raise refuse(
            'Not a FIPS attestation: expected an in-toto statement ("_type") '
            'or a DSSE envelope ("payloadType", "payload").',
            "unknown_format",
        )
    if doc.get("_type") not in STATEMENT_TYPES:
        raise _problem("$._type", f"unsupported statement type {doc.get('_type')!r}")
    predicate_type = doc.get("predicateType")
    if predicate_type != FIPS_PREDICATE_TYPE:
        raise _problem(
            "$.predicateType", f"{predicate_type!r} is not {FIPS_PREDICATE_TYPE}"
        )
    subjects = statement_subjects(Reader("$", WHAT), doc)
    predicate = doc.get("predicate")
    if not isinstance(predicate, dict):
        raise _problem("$.predicate", "expected an object")
    modules = predicate.get("modules")
    if not isinstance(modules, list) or not modules:
        raise _problem("$.predicate.modules", "expected a non-empty list of modules")
    if len(modules) > MAX_MODULES:
        raise _problem(
            "$.predicate.modules", f"{len(modules)} modules; at most {MAX_MODULES}"
        )
    declared: list[DeclaredModule] = []
    seen: set[int] = set()
    for i, item in enumerate(modules):
        path = f"$.predicate.modules[{i}]"
        if not isinstance(item, dict):
            raise _problem(path, "expected an object")
        number = _certificate(item.get("certificate"), f"{path}.certificate")
        if number in seen:
            raise _problem(f"{path}.certificate", f"#{number} is listed twice")
        seen.add(number)
        standard_text = _text(item, "standard", path)
        standard = STANDARDS.get(standard_text.lower())
        if standard is None:
            raise _problem(
                f"{path}.standard",
                f"{standard_text!r} is not FIPS 140-2 or FIPS 140-3",
            )
        declared.append(
            DeclaredModule(
                certificate_number=number,
                standard=standard,
                name=_text(item, "name", path),
                vendor=_text(item, "vendor", path, required=False),
                version=_text(item, "version", path, required=False)[:100],
                package=_text(item, "package", path, required=False)[:500],
            )
        )
    key_ids = dsse_key_ids(envelope) if envelope is not None else []
    return FipsAttestation(
        media_type=DSSE_MEDIA_TYPE if envelope is not None else IN_TOTO_MEDIA_TYPE,
        signer_key_id=", ".join(key_ids)[:255],
        subject=statement_subject(subjects),
        modules=tuple(declared),
    )


def _registry(declared: tuple[DeclaredModule, ...]) -> dict[int, CryptoModule]:
    numbers = [m.certificate_number for m in declared]
    known = {
        m.certificate_number: m
        for m in CryptoModule.objects.filter(certificate_number__in=numbers)
    }
    missing = [n for n in numbers if n not in known]
    if missing:
        listed = ", ".join(f"#{n}" for n in missing)
        raise refuse(
            f"CMVP certificate {listed} is not in the module registry; import its "
            "CMVP record (manage.py fips_modules_import) or add it first.",
            "unknown_certificate",
        )
    for m in declared:
        module = known[m.certificate_number]
        if module.standard != m.standard:
            raise refuse(
                f"The build states FIPS {m.standard} for certificate "
                f"#{m.certificate_number}, but that certificate is "
                f"{module.get_standard_display()} ({module.name}).",
                "standard_mismatch",
            )
    return known


def _module_line(module: CryptoModule) -> str:
    version = f" {module.module_version}" if module.module_version else ""
    return f"#{module.certificate_number} {module.name}{version}"


def _previous_build(image: ImageDigest) -> ImageDigest | None:
    """The build of the same variant before this one that lists modules."""
    return (
        ImageDigest.objects.filter(
            variant_id=image.variant_id,
            built_at__lt=image.built_at,
            crypto_modules__isnull=False,
        )
        .order_by("-built_at", "-pk")
        .first()
    )


def _change_event(image: ImageDigest, now) -> FipsEvent | None:
    """When this build's modules differ from the previous build's, the event
    that tells the series' customers."""
    previous = _previous_build(image)
    if previous is None:
        return None
    before = {
        link.module_id: link.module
        for link in DigestCryptoModule.objects.filter(digest=previous).select_related(
            "module"
        )
    }
    after = {
        link.module_id: link.module
        for link in DigestCryptoModule.objects.filter(digest=image).select_related(
            "module"
        )
    }
    if set(before) == set(after):
        return None
    added = sorted(
        (after[k] for k in set(after) - set(before)), key=lambda m: m.certificate_number
    )
    removed = sorted(
        (before[k] for k in set(before) - set(after)),
        key=lambda m: m.certificate_number,
    )
    series = image.variant.series
    parts = []
    if removed:
        parts.append("no longer carries " + ", ".join(_module_line(m) for m in removed))
    if added:
        parts.append("now carries " + ", ".join(_module_line(m) for m in added))
    summary = (
        f"{series.repository.name} {series.name} ({image.variant}): build "
        f"{image.digest[:19]}… " + "; ".join(parts)
    )
    event, _ = FipsEvent.objects.get_or_create(
        key=f"changed:{image.pk}",
        defaults={
            "kind": FipsEvent.Kind.MODULE_CHANGED,
            "module": added[0] if added else removed[0],
            "previous_module": removed[0] if removed else None,
            "series": series,
            "digest": image,
            "summary": summary[:500],
            "occurred_at": now,
        },
    )
    return event


@transaction.atomic
def _summary(parsed: FipsAttestation) -> dict[str, Any]:
    return {
        "predicate_type": FIPS_PREDICATE_TYPE,
        "certificates": [m.certificate_number for m in parsed.modules],
        "modules": [
            {
                "certificate": m.certificate_number,
                "name": m.name,
                "version": m.version,
                "package": m.package,
            }
            for m in parsed.modules
        ],
    }


def _modules_link(
    image: ImageDigest,
    parsed: FipsAttestation,
    modules: dict[int, CryptoModule],
    attestation: Attestation,
    now: datetime,
) -> int:
    """Record the modules the build carries that it did not list yet; return
    how many."""
    existing = set(
        DigestCryptoModule.objects.filter(digest=image).values_list(
            "module__certificate_number", flat=True
        )
    )
    new = [
        DigestCryptoModule(
            digest=image,
            module=modules[m.certificate_number],
            attestation=attestation,
            package=m.package,
            declared_version=m.version,
            created_at=now,
        )
        for m in parsed.modules
        if m.certificate_number not in existing
    ]
    DigestCryptoModule.objects.bulk_create(new)
    return len(new)


def fips_attestation_import(
    *,
    image: ImageDigest,
    content: bytes,
    subject_override: SubjectOverride | None = None,
) -> FipsImportResult:
    """Attach a FIPS attestation to a FIPS build and record which modules it
    carries. The build must be one of the statement's subjects (unless staff
    override). The same document twice changes nothing."""
    parsed = fips_attestation_parse(content)
    if not image.variant.fips:
        raise refuse(
            f"{image.digest} is a build of {image.variant}, not of a FIPS variant; "
            "a FIPS attestation belongs to a FIPS build.",
            "not_fips",
        )
    modules = _registry(parsed.modules)
    already = DigestCryptoModule.objects.filter(digest=image).exclude(
        module__certificate_number__in=list(modules)
    )
    if already.exists():
        raise refuse(
            f"{image.digest} already lists other modules from an earlier FIPS "
            "attestation; a build's modules do not change after it is published.",
            "conflict",
        )
    attestation, created = attestation_store(
        image=image,
        kind=Attestation.Kind.FIPS,
        content=content,
        subject=parsed.subject,
        subject_override=subject_override,
        spec_version="1",
        media_type=parsed.media_type,
        signer_key_id=parsed.signer_key_id,
        summary=_summary(parsed),
    )
    now = timezone.now()
    added = _modules_link(image, parsed, modules, attestation, now)
    event = _change_event(image, now) if added else None
    if added:
        from apps.notifications.tasks import run as notices_run_task

        transaction.on_commit(notices_run_task.delay)
    return FipsImportResult(
        attestation_id=attestation.pk,
        modules=len(parsed.modules),
        certificates=", ".join(f"#{m.certificate_number}" for m in parsed.modules),
        created=created,
        module_changed=event is not None,
        subject=attestation.subject_status,
    )
