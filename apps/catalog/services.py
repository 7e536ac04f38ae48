"""Writes to the catalog: repositories, series, variants, digests, tags, evidence."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from .formats.subject import StatedSubject
from .generation import catalog_changed
from .models import Attestation, ImageDigest, Repository, Series, TagEvent, Variant
from .signals import catalog_learned

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# Names the catalog's own pages take under /catalog/.
RESERVED_REPOSITORY_NAMES = frozenset({"lifecycle", "lifecycle.ics", "digest"})


def normalize_digest(value: str) -> str:
    """``sha256:<64 hex>``, lowercased; a bare 64-hex string gets the prefix."""
    value = (value or "").strip().lower()
    if re.fullmatch(r"[0-9a-f]{64}", value):
        value = f"sha256:{value}"
    if not DIGEST_RE.match(value):
        raise ValidationError({"digest": f"Not a sha256 digest: {value[:80]!r}."})
    return value


@transaction.atomic
def repository_upsert(
    *,
    name: str,
    display_name: str = "",
    description: str = "",
    category: str = Repository.Category.APPLICATION,
    tags: list[str] | None = None,
    is_generated: bool = False,
) -> Repository:
    if category not in Repository.Category.values:
        raise ValidationError({"category": f"Unknown category {category!r}."})
    if name in RESERVED_REPOSITORY_NAMES:
        raise ValidationError({"name": f"{name!r} is reserved by the catalog pages."})
    repository, _ = Repository.objects.update_or_create(
        name=name,
        defaults={
            "display_name": display_name or name,
            "description": description,
            "category": category,
            "tags": sorted(set(tags or [])),
            "is_generated": is_generated,
        },
    )
    catalog_changed()
    _vex_link(repositories=[repository])
    return repository


def _vex_link(**targets) -> None:
    """VEX statements imported before the catalog knew what they name are
    linked as it learns it (the vulns app listens; see ``signals``)."""
    catalog_learned.send(
        sender=Repository,
        repositories=targets.get("repositories", []),
        images=targets.get("images", []),
    )


@transaction.atomic
def series_upsert(
    *,
    repository: Repository,
    name: str,
    upstream_ga: date | None = None,
    upstream_eol: date | None = None,
    support_end: date | None = None,
    els_end: date | None = None,
) -> Series:
    if support_end and els_end and els_end < support_end:
        raise ValidationError({"els_end": "ELS ends on or after publisher support."})
    series, _ = Series.objects.update_or_create(
        repository=repository,
        name=name,
        defaults={
            "upstream_ga": upstream_ga,
            "upstream_eol": upstream_eol,
            "support_end": support_end,
            "els_end": els_end,
        },
    )
    catalog_changed()
    return series


def variant_get_or_create(
    *, series: Series, flavor: str = Variant.Flavor.RUNTIME, fips=False, stig=False
) -> Variant:
    if flavor not in Variant.Flavor.values:
        raise ValidationError({"flavor": f"Unknown flavor {flavor!r}."})
    variant, created = Variant.objects.get_or_create(
        series=series, flavor=flavor, fips=fips, stig=stig
    )
    if created:
        catalog_changed()
    return variant


@transaction.atomic
def digest_register(
    *,
    variant: Variant,
    digest: str,
    built_at: datetime,
    architectures: list[str] | None = None,
    tags: list[str] | None = None,
) -> ImageDigest:
    """Record a build; idempotent by digest. Given tags move to it. A new build
    is linked to the VEX statements that name it."""
    digest = normalize_digest(digest)
    image, created = ImageDigest.objects.get_or_create(
        digest=digest,
        defaults={
            "variant": variant,
            "built_at": built_at,
            "architectures": sorted(set(architectures or ["amd64"])),
        },
    )
    if not created and image.variant_id != variant.pk:
        raise ValidationError(
            {"digest": f"{digest} is already registered for {image.variant}."}
        )
    for tag in tags or []:
        tag_move(image=image, tag=tag, at=built_at)
    if created:
        _vex_link(images=[image])
    return image


@transaction.atomic
def tag_move(*, image: ImageDigest, tag: str, at: datetime | None = None) -> TagEvent:
    """Point a tag at a digest; the tag's previous digest keeps its history."""
    at = at or timezone.now()
    repository = image.variant.series.repository
    current = (
        TagEvent.objects.select_for_update()
        .filter(repository=repository, tag=tag, removed_at__isnull=True)
        .first()
    )
    if current is not None:
        if current.digest_id == image.pk:
            return current
        current.removed_at = at
        current.removal_reason = f"moved to {image.digest}"
        current.save(update_fields=["removed_at", "removal_reason"])
    return TagEvent.objects.create(
        repository=repository, tag=tag, digest=image, assigned_at=at
    )


@transaction.atomic
def tag_remove(
    *, repository: Repository, tag: str, reason: str, at: datetime | None = None
) -> TagEvent:
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the tag is removed."})
    current = (
        TagEvent.objects.select_for_update()
        .filter(repository=repository, tag=tag, removed_at__isnull=True)
        .first()
    )
    if current is None:
        raise ValidationError({"tag": f"{repository.name}:{tag} points at nothing."})
    current.removed_at = at or timezone.now()
    current.removal_reason = reason
    current.save(update_fields=["removed_at", "removal_reason"])
    return current


@dataclass(frozen=True)
class SubjectOverride:
    """Publisher staff attach a document whose own subject is another image,
    saying why. The door's audit record of the import keeps both."""

    reason: str
    actor: Any


@dataclass(frozen=True)
class SubjectDecision:
    """What the subject check decided for one document and build."""

    status: str
    digests: tuple[str, ...] = ()
    named: str = ""
    override: SubjectOverride | None = None


# How many of the digests a document names are kept with it (an in-toto
# statement may name dozens of release files).
SUBJECT_DIGESTS_KEPT = 20
SUBJECT_DIGESTS_SHOWN = 3


def subject_override_check(override: SubjectOverride) -> None:
    """Refuse an override without a written reason or by someone not staff."""
    if not override.reason.strip():
        raise ValidationError(
            {
                "subject_override_reason": ValidationError(
                    "An override of the subject check needs a written reason.",
                    code="override_without_reason",
                )
            }
        )
    actor = override.actor
    if actor is None or not getattr(actor, "is_staff", False):
        raise ValidationError(
            {
                "subject_override_reason": ValidationError(
                    "Only publisher staff may attach a document whose subject is "
                    "another image.",
                    code="override_not_allowed",
                )
            }
        )


def _digest_list(digests: list[str]) -> str:
    shown = ", ".join(digests[:SUBJECT_DIGESTS_SHOWN])
    more = len(digests) - SUBJECT_DIGESTS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def attestation_subject_check(
    *,
    image: ImageDigest,
    kind: str,
    subject: StatedSubject,
    override: SubjectOverride | None = None,
) -> SubjectDecision:
    """A document is attached to a build only if its own subject is that build.

    A document that names no digest is accepted as "subject not stated"; one
    that names other digests only is refused, unless publisher staff override
    with a written reason. Every evidence door reaches this through
    ``attestation_store``, before anything is written.
    """
    if override is not None:
        subject_override_check(override)
    if not subject.stated:
        return SubjectDecision(
            status=Attestation.Subject.NOT_STATED, named=subject.named
        )
    if image.digest in subject.digests:
        return SubjectDecision(
            status=Attestation.Subject.MATCH,
            digests=(image.digest,),
            named=subject.named,
        )
    stated = sorted(subject.digests)
    if override is None:
        label = (
            Attestation.Kind(kind).label if kind in Attestation.Kind.values else kind
        )
        named = f" ({subject.named})" if subject.named else ""
        raise ValidationError(
            {
                "document": ValidationError(
                    f"This {label} is about another image: {subject.where} names "
                    f"{_digest_list(stated)}{named}, but the build it was loaded "
                    f"for is {image.digest}. Load it for the build it names; "
                    "publisher staff may attach it anyway with a written reason "
                    "(subject override).",
                    code="digest_mismatch",
                )
            }
        )
    return SubjectDecision(
        status=Attestation.Subject.OVERRIDDEN,
        digests=tuple(stated[:SUBJECT_DIGESTS_KEPT]),
        named=subject.named,
        override=override,
    )


def attestation_store(
    *,
    image: ImageDigest,
    kind: str,
    content: bytes,
    subject: StatedSubject,
    subject_override: SubjectOverride | None = None,
    spec_version: str = "",
    media_type: str = "application/json",
    signer_key_id: str = "",
    summary: dict[str, Any] | None = None,
    warnings: list[dict[str, Any]] | None = None,
) -> tuple[Attestation, bool]:
    """Attach a document to a digest, content-addressed; returns (row, created).

    ``subject`` is what the document says it is about: the subject check runs
    first and refuses a document about another image (see
    ``attestation_subject_check``). The same bytes attached twice are one row:
    importing a document again is a no-op. Call inside the importing
    transaction.
    """
    decision = attestation_subject_check(
        image=image, kind=kind, subject=subject, override=subject_override
    )
    sha256 = hashlib.sha256(content).hexdigest()
    existing = Attestation.objects.filter(digest=image, sha256=sha256).first()
    if existing is not None:
        return existing, False
    override = decision.override
    attestation = Attestation(
        digest=image,
        kind=kind,
        sha256=sha256,
        size=len(content),
        spec_version=spec_version,
        media_type=media_type,
        signer_key_id=signer_key_id,
        summary=summary or {},
        warnings=warnings or [],
        subject_status=decision.status,
        subject_digests=list(decision.digests),
        subject_named=decision.named,
        subject_override_reason=override.reason.strip() if override else "",
        subject_override_by=override.actor if override else None,
        subject_override_at=timezone.now() if override else None,
    )
    attestation.document.save(f"{sha256}.json", ContentFile(content), save=False)
    attestation.save()
    return attestation, True


@transaction.atomic
def attestation_download_record(
    *,
    attestation: Attestation,
    org,
    features: tuple[str, ...],
    via: str,
    actor,
    request: HttpRequest | None = None,
) -> None:
    """Log a download of guarded (FIPS/STIG) evidence with the organization
    whose entitlement allowed it (None: publisher staff)."""
    image = attestation.digest
    audit_record(
        action=AuditEvent.Action.EVIDENCE_DOWNLOADED,
        actor=actor,
        org=org,
        target=attestation,
        request=request,
        details={
            "digest": image.digest,
            "repository": image.variant.series.repository.name,
            "kind": attestation.kind,
            "sha256": attestation.sha256,
            "entitlements": list(features),
            "via": via,
        },
    )
