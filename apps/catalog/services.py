"""Writes to the catalog: repositories, series, variants, digests, tags, evidence."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

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


# How far ahead of the portal's clock a build time may be (clock skew between
# the build pipeline and the portal); anything later is a mistake.
BUILT_AT_SKEW = timedelta(minutes=5)
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # OCI distribution spec
SERIES_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
ARCHITECTURES = frozenset(
    {"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le"}
)


def built_at_parse(value: str) -> datetime:
    """An ISO 8601 time with its zone, as every door takes a build time: a time
    without a zone is refused, not read in the server's zone."""
    value = (value or "").strip()
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError(
            {"built_at": f"{value[:40]!r} is not an ISO 8601 date and time."}
        )
    if timezone.is_naive(parsed):
        raise ValidationError(
            {"built_at": f"{value[:40]!r} needs a time zone (e.g. 2026-03-02T10:00Z)."}
        )
    return parsed


@dataclass(frozen=True)
class BuildRegistered:
    """What registering a build did: ``created`` False when the digest was
    registered before (then only its tags moved)."""

    image: ImageDigest
    created: bool
    tags_moved: tuple[str, ...]


def build_register_problems(
    *,
    repository: str,
    series: str,
    digest: str,
    flavor: str,
    built_at: datetime | None,
    tags: list[str],
    architectures: list[str],
    category: str,
    now: datetime,
) -> dict[str, str]:
    """Everything wrong with a build's registration, by field (empty if
    nothing), so a door can show every problem at once. Whether the digest is
    registered to another variant is decided by ``build_register``."""
    problems: dict[str, str] = {}
    try:
        normalize_digest(digest)
    except ValidationError as exc:
        problems["digest"] = " ".join(exc.message_dict["digest"])
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", repository or ""):
        problems["repository"] = (
            "A repository name is lowercase letters, digits, hyphens and "
            "underscores (e.g. python), at most 100 characters."
        )
    elif repository in RESERVED_REPOSITORY_NAMES:
        problems["repository"] = f"{repository!r} is reserved by the catalog pages."
    if not SERIES_RE.match(series or ""):
        problems["series"] = "Name the version line (e.g. 3.12), at most 50 characters."
    if flavor not in Variant.Flavor.values:
        problems["flavor"] = (
            f"Unknown flavor {flavor!r}: one of {', '.join(Variant.Flavor.values)}."
        )
    if category not in Repository.Category.values:
        problems["category"] = f"Unknown category {category!r}."
    if built_at is None:
        problems["built_at"] = "Give the build's time."
    elif timezone.is_naive(built_at):
        problems["built_at"] = "The build time needs a time zone (e.g. Z)."
    elif built_at > now + BUILT_AT_SKEW:
        problems["built_at"] = (
            f"The build time {built_at.isoformat()} is in the future "
            f"(the portal's clock reads {now.isoformat(timespec='seconds')})."
        )
    bad_tags = [tag for tag in tags if not TAG_RE.match(tag)]
    if bad_tags:
        problems["tags"] = f"Not a valid tag: {', '.join(map(repr, bad_tags[:3]))}."
    bad_arch = sorted(set(architectures) - ARCHITECTURES)
    if bad_arch:
        problems["architectures"] = (
            f"Unknown architecture {', '.join(bad_arch)}: one of "
            f"{', '.join(sorted(ARCHITECTURES))}."
        )
    return problems


@transaction.atomic
def build_register(
    *,
    repository: str,
    series: str,
    digest: str,
    built_at: datetime | None,
    flavor: str = Variant.Flavor.RUNTIME,
    fips: bool = False,
    stig: bool = False,
    tags: list[str] | None = None,
    architectures: list[str] | None = None,
    category: str = Repository.Category.APPLICATION,
    actor: Any = None,
    request: HttpRequest | None = None,
    via: str = "",
    now: datetime | None = None,
) -> BuildRegistered:
    """The publisher records a build before its evidence is loaded: the one
    service behind the staff page, ``POST /api/v1/builds/`` and
    ``manage.py register_build``.

    A repository or series not yet in the catalog is created (name only).
    Every problem with the input is found before anything is written. The same
    digest again changes nothing but its tags; a digest registered to another
    variant is refused. Registering links the VEX statements that name the
    build; its clocks open once its SBOM is matched (a build without one has
    no findings).
    """
    now = now or timezone.now()
    tags = [tag.strip() for tag in tags or [] if tag.strip()]
    architectures = [a.strip() for a in architectures or [] if a.strip()]
    problems = build_register_problems(
        repository=repository,
        series=series,
        digest=digest,
        flavor=flavor,
        built_at=built_at,
        tags=tags,
        architectures=architectures,
        category=category,
        now=now,
    )
    if problems:
        raise ValidationError(problems)
    digest = normalize_digest(digest)
    built_at = cast(datetime, built_at)  # checked above
    wanted = Variant.suffix_of(flavor, fips, stig)
    existing = (
        ImageDigest.objects.select_related("variant__series__repository")
        .filter(digest=digest)
        .first()
    )
    if existing is not None:
        variant = existing.variant
        if (
            variant.series.repository.name,
            variant.series.name,
            variant.flavor,
            variant.fips,
            variant.stig,
        ) != (repository, series, flavor, fips, stig):
            named = f"{repository}:{series}" + (f"-{wanted}" if wanted else "")
            raise ValidationError(
                {
                    "digest": f"{digest} is already registered for {variant}, "
                    f"not {named}."
                }
            )
    repo = Repository.objects.filter(name=repository).first() or repository_upsert(
        name=repository, category=category
    )
    line = Series.objects.filter(repository=repo, name=series).first() or (
        series_upsert(repository=repo, name=series)
    )
    variant = variant_get_or_create(series=line, flavor=flavor, fips=fips, stig=stig)
    moved = tuple(
        tag
        for tag in tags
        if not TagEvent.objects.filter(
            repository=repo,
            tag=tag,
            removed_at__isnull=True,
            digest__digest=digest,
        ).exists()
    )
    image = digest_register(
        variant=variant,
        digest=digest,
        built_at=existing.built_at if existing else built_at,
        architectures=architectures or None,
        tags=list(moved),
    )
    created = existing is None
    if created or moved:
        audit_record(
            action=AuditEvent.Action.BUILD_REGISTERED,
            actor=actor,
            target=image,
            request=request,
            details={
                "digest": image.digest,
                "repository": repo.name,
                "series": line.name,
                "variant": str(variant),
                "built_at": image.built_at.isoformat(),
                "tags": list(moved),
                "created": created,
                "via": via,
            },
        )
    return BuildRegistered(image=image, created=created, tags_moved=moved)


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
    signature_verified: bool = False,
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
        signature_verified=signature_verified,
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
