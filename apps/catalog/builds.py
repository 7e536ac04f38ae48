"""The publisher records a build: repository, series and variant (created by
name when new), digest, tags. The one service behind the staff page,
``POST /api/v1/builds/`` and ``manage.py register_build``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from .models import ImageDigest, Repository, Series, TagEvent, Variant
from .services import (
    RESERVED_REPOSITORY_NAMES,
    digest_register,
    normalize_digest,
    repository_upsert,
    series_upsert,
    variant_get_or_create,
)

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
    existing = _registered_as(
        digest=digest,
        named=(repository, series, flavor, fips, stig),
    )
    repo = Repository.objects.filter(name=repository).first() or repository_upsert(
        name=repository, category=category
    )
    line = Series.objects.filter(repository=repo, name=series).first() or (
        series_upsert(repository=repo, name=series)
    )
    variant = variant_get_or_create(series=line, flavor=flavor, fips=fips, stig=stig)
    moved = _tags_to_move(repository=repo, digest=digest, tags=tags)
    image = digest_register(
        variant=variant,
        digest=digest,
        built_at=existing.built_at if existing else built_at,
        architectures=architectures or None,
        tags=list(moved),
    )
    result = BuildRegistered(image=image, created=existing is None, tags_moved=moved)
    if result.created or moved:
        names = (repo.name, line.name, str(variant))
        _audit_registered(result, names=names, actor=actor, request=request, via=via)
    return result


def _audit_registered(
    result: BuildRegistered, *, names: tuple[str, str, str], actor, request, via: str
) -> None:
    image = result.image
    repository, series, variant = names
    audit_record(
        action=AuditEvent.Action.BUILD_REGISTERED,
        actor=actor,
        target=image,
        request=request,
        details={
            "digest": image.digest,
            "repository": repository,
            "series": series,
            "variant": variant,
            "built_at": image.built_at.isoformat(),
            "tags": list(result.tags_moved),
            "created": result.created,
            "via": via,
        },
    )


def _registered_as(
    *, digest: str, named: tuple[str, str, str, bool, bool]
) -> ImageDigest | None:
    """The build already registered under ``digest``, refused when it is
    another variant than the one ``named`` (repository, series, flavor, fips,
    stig) asks for."""
    existing = (
        ImageDigest.objects.select_related("variant__series__repository")
        .filter(digest=digest)
        .first()
    )
    if existing is None:
        return None
    variant = existing.variant
    have = (
        variant.series.repository.name,
        variant.series.name,
        variant.flavor,
        variant.fips,
        variant.stig,
    )
    if have != named:
        repository, series, flavor, fips, stig = named
        wanted = Variant.suffix_of(flavor, fips, stig)
        label = f"{repository}:{series}" + (f"-{wanted}" if wanted else "")
        raise ValidationError(
            {"digest": f"{digest} is already registered for {variant}, not {label}."}
        )
    return existing


def _tags_to_move(
    *, repository: Repository, digest: str, tags: list[str]
) -> tuple[str, ...]:
    """The tags that do not point at ``digest`` yet (the others stay put)."""
    return tuple(
        tag
        for tag in tags
        if not TagEvent.objects.filter(
            repository=repository,
            tag=tag,
            removed_at__isnull=True,
            digest__digest=digest,
        ).exists()
    )
