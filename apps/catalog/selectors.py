"""Reads of the public catalog: repositories, series, digests, tags, lifecycles.

Every function returns rows with what their pages and API answers show already
joined or prefetched, so rendering a list never runs a query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.utils import timezone

from .models import (
    NEARING_EOL_DAYS,
    Attestation,
    ImageDigest,
    Repository,
    Series,
    TagEvent,
    Variant,
)
from .services import normalize_digest

# --------------------------------------------------------------------------
# Lifecycle status, as the pages and the API name it
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifecycle:
    """A series' status on a day, with the short label and badge a page shows."""

    status: str
    label: str
    description: str
    badge: str
    days_left: int | None  # until publisher support ends, while it has not


_LIFECYCLE_LOOK = {
    Series.Status.SUPPORTED: ("Supported", "ok"),
    Series.Status.NEARING_EOL: ("Nearing EOL", "warn"),
    Series.Status.ELS_ONLY: ("ELS only", "els"),
    Series.Status.EOL: ("EOL", "danger"),
}


def lifecycle_of(*, series: Series, day: date) -> Lifecycle:
    """The model decides the status (``Series.status_on``); this only names it."""
    status = series.status_on(day)
    label, badge = _LIFECYCLE_LOOK[Series.Status(status)]
    days_left = None
    if series.support_end is not None and day <= series.support_end:
        days_left = (series.support_end - day).days
    return Lifecycle(
        status=status,
        label=label,
        description=Series.Status(status).label,
        badge=badge,
        days_left=days_left,
    )


def series_status_q(*, status: str, day: date) -> Q:
    """The rows ``Series.status_on(day)`` would give ``status``, as a filter.

    The same thresholds as the model, so a database filter and a page agree;
    the tests hold the two together on dates around every threshold.
    """
    nearing_from = day + timedelta(days=NEARING_EOL_DAYS)
    if status == Series.Status.SUPPORTED:
        return Q(support_end__isnull=True) | Q(support_end__gte=nearing_from)
    if status == Series.Status.NEARING_EOL:
        return Q(support_end__gte=day, support_end__lt=nearing_from)
    if status == Series.Status.ELS_ONLY:
        return Q(support_end__lt=day, els_end__gte=day)
    if status == Series.Status.EOL:
        return Q(support_end__lt=day) & (Q(els_end__isnull=True) | Q(els_end__lt=day))
    raise ValueError(f"Unknown series status {status!r}")


# Runtime first: it is what most people deploy.
_FLAVOR_ORDER = Case(
    *[
        When(flavor=flavor, then=Value(rank))
        for rank, flavor in enumerate(Variant.Flavor.values)
    ],
    output_field=IntegerField(),
)
VARIANT_ORDER: list[str | Combinable] = [_FLAVOR_ORDER, "fips", "stig", "id"]


def _series_order() -> list[str | Combinable]:
    # Newest line first; a series without a GA date (not yet known) goes last
    # on every database (PostgreSQL and SQLite sort NULLs differently).
    return [F("upstream_ga").desc(nulls_last=True), "name"]


# --------------------------------------------------------------------------
# Repositories
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RepositoryFilter:
    q: str = ""
    category: str = ""
    fips: bool = False
    stig: bool = False
    els: bool = False
    flavor: str = ""  # a Variant.Flavor: the repository has such a variant


def repository_list(
    *, filters: RepositoryFilter = RepositoryFilter(), today: date | None = None
) -> QuerySet[Repository]:
    """Repositories by name, each annotated with what it offers (``has_fips``,
    ``has_stig``, ``has_dev``, ``has_els``: extended support still running)."""
    today = today or timezone.now().date()
    variants = Variant.objects.filter(series__repository=OuterRef("pk"))
    repositories = Repository.objects.annotate(
        has_fips=Exists(variants.filter(fips=True)),
        has_stig=Exists(variants.filter(stig=True)),
        has_dev=Exists(variants.filter(flavor=Variant.Flavor.DEV)),
        has_els=Exists(
            Series.objects.filter(repository=OuterRef("pk"), els_end__gte=today)
        ),
    )
    # Every word must match somewhere: "python fips" narrows, it does not widen.
    for word in filters.q.split():
        repositories = repositories.filter(
            Q(name__icontains=word)
            | Q(display_name__icontains=word)
            | Q(description__icontains=word)
            | Q(tags__icontains=word)
        )
    if filters.category:
        repositories = repositories.filter(category=filters.category)
    if filters.fips:
        repositories = repositories.filter(has_fips=True)
    if filters.stig:
        repositories = repositories.filter(has_stig=True)
    if filters.els:
        repositories = repositories.filter(has_els=True)
    if filters.flavor:
        repositories = repositories.filter(
            Exists(variants.filter(flavor=filters.flavor))
        )
    return repositories.order_by("name")


def repository_list_with_series(
    *, filters: RepositoryFilter = RepositoryFilter(), today: date | None = None
) -> QuerySet[Repository]:
    """``repository_list`` with each repository's series prefetched (one query
    for a whole page)."""
    return repository_list(filters=filters, today=today).prefetch_related(
        Prefetch("series", queryset=Series.objects.order_by(*_series_order()))
    )


def repository_list_detailed(*, today: date | None = None) -> QuerySet[Repository]:
    """``repository_list`` with every series and its variants prefetched."""
    series = Series.objects.order_by(*_series_order()).prefetch_related(
        Prefetch("variants", queryset=Variant.objects.order_by(*VARIANT_ORDER))
    )
    return repository_list(today=today).prefetch_related(
        Prefetch("series", queryset=series)
    )


def repository_get(*, name: str) -> Repository | None:
    return Repository.objects.filter(name=name).first()


def repository_series(*, repository: Repository, day: date) -> list[Series]:
    """The repository's series, newest first, each with ``lifecycle`` set and
    its variants prefetched; each variant carries its latest build
    (``latest_id``, ``latest_digest``, ``latest_built_at``) and its number of
    builds."""
    latest = ImageDigest.objects.filter(variant=OuterRef("pk")).order_by(
        "-built_at", "-id"
    )
    variants = Variant.objects.annotate(
        latest_id=Subquery(latest.values("pk")[:1]),
        latest_digest=Subquery(latest.values("digest")[:1]),
        latest_built_at=Subquery(latest.values("built_at")[:1]),
        digest_count=Count("digests"),
    ).order_by(*VARIANT_ORDER)
    series = list(
        repository.series.order_by(*_series_order()).prefetch_related(
            Prefetch("variants", queryset=variants)
        )
    )
    for s in series:
        # Pages read it as ``series.lifecycle``; it is not a model field.
        s.lifecycle = lifecycle_of(series=s, day=day)  # type: ignore[attr-defined]
    return series


def repository_current_tags(*, repository: Repository) -> QuerySet[TagEvent]:
    """The tags that point somewhere now, by name, with their digests."""
    return (
        TagEvent.objects.filter(repository=repository, removed_at__isnull=True)
        .select_related("digest__variant__series__repository")
        .order_by("tag")
    )


def repository_tag_history(*, repository: Repository) -> QuerySet[TagEvent]:
    """Every tag assignment, newest first, removals and moves included."""
    return (
        TagEvent.objects.filter(repository=repository)
        .select_related("digest__variant__series__repository")
        .order_by("-assigned_at", "-id")
    )


# --------------------------------------------------------------------------
# Series, variants and digests
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesFilter:
    repository: str = ""  # repository name
    status: str = ""  # a Series.Status on ``day``


def series_list(
    *, filters: SeriesFilter = SeriesFilter(), day: date | None = None
) -> QuerySet[Series]:
    day = day or timezone.now().date()
    series = Series.objects.select_related("repository").prefetch_related(
        Prefetch("variants", queryset=Variant.objects.order_by(*VARIANT_ORDER))
    )
    if filters.repository:
        series = series.filter(repository__name=filters.repository)
    if filters.status:
        series = series.filter(series_status_q(status=filters.status, day=day))
    return series


def _current_tags_prefetch() -> Prefetch:
    return Prefetch(
        "tag_events",
        queryset=TagEvent.objects.filter(removed_at__isnull=True).order_by("tag"),
        to_attr="current_tags",
    )


@dataclass(frozen=True)
class DigestFilter:
    repository: str = ""
    series: int | None = None
    flavor: str = ""
    fips: bool | None = None
    stig: bool | None = None


def digest_list(*, filters: DigestFilter = DigestFilter()) -> QuerySet[ImageDigest]:
    """Builds with their variant, series and repository, and current tags."""
    digests = ImageDigest.objects.select_related(
        "variant__series__repository"
    ).prefetch_related(_current_tags_prefetch())
    if filters.repository:
        digests = digests.filter(variant__series__repository__name=filters.repository)
    if filters.series is not None:
        digests = digests.filter(variant__series_id=filters.series)
    if filters.flavor:
        digests = digests.filter(variant__flavor=filters.flavor)
    if filters.fips is not None:
        digests = digests.filter(variant__fips=filters.fips)
    if filters.stig is not None:
        digests = digests.filter(variant__stig=filters.stig)
    return digests


def digest_list_detailed() -> QuerySet[ImageDigest]:
    """``digest_list`` with each build's tag history and attestations."""
    return digest_list().prefetch_related(
        Prefetch(
            "tag_events",
            queryset=TagEvent.objects.order_by("-assigned_at", "-id"),
            to_attr="tag_history",
        ),
        Prefetch(
            "attestations",
            queryset=Attestation.objects.select_related("signature_signer").order_by(
                "kind", "id"
            ),
        ),
    )


def digest_lookup(value: str) -> str | None:
    """The canonical form of a digest as written in a URL, or None if it is not
    one (a malformed digest is simply not found)."""
    try:
        return normalize_digest(value)
    except ValidationError:
        return None


def digest_get(*, digest: str) -> ImageDigest | None:
    """One build by its canonical digest, with variant, series and repository."""
    return (
        ImageDigest.objects.select_related("variant__series__repository")
        .filter(digest=digest)
        .first()
    )


def digest_tag_events(*, image: ImageDigest) -> list[TagEvent]:
    """Tags that point or pointed at this build: current ones first."""
    return list(
        TagEvent.objects.filter(digest=image).order_by(
            F("removed_at").desc(nulls_first=True), "tag", "-assigned_at"
        )
    )


def digest_attestations(*, image: ImageDigest) -> QuerySet[Attestation]:
    """A build's attestations, with who overrode a subject check (if anyone)
    and the registered signer whose signature was checked (if any)."""
    return (
        Attestation.objects.filter(digest=image)
        .select_related("subject_override_by", "signature_signer")
        .order_by("kind", "-created_at")
    )


def attestation_get(*, pk: int) -> Attestation | None:
    return (
        Attestation.objects.select_related("digest__variant__series__repository")
        .filter(pk=pk)
        .first()
    )


# --------------------------------------------------------------------------
# The lifecycle calendar
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleEvent:
    """One end date of a series: upstream EOL, publisher support end, ELS end."""

    UPSTREAM_EOL = "upstream_eol"
    SUPPORT_END = "support_end"
    ELS_END = "els_end"
    KINDS = {
        UPSTREAM_EOL: "Upstream end of life",
        SUPPORT_END: "Publisher support ends",
        ELS_END: "Extended support ends",
    }

    day: date
    kind: str
    series: Series

    @property
    def label(self) -> str:
        return self.KINDS[self.kind]

    @property
    def month(self) -> date:
        return self.day.replace(day=1)

    @property
    def repository(self) -> Repository:
        return self.series.repository


_KIND_ORDER = {kind: i for i, kind in enumerate(LifecycleEvent.KINDS)}


@dataclass(frozen=True)
class LifecycleFilter:
    start: date | None = None  # inclusive
    end: date | None = None  # exclusive
    kind: str = ""
    repository: str = ""  # exact name
    q: str = ""  # part of a repository name


def lifecycle_events(
    *, filters: LifecycleFilter = LifecycleFilter(), newest_first: bool = False
) -> list[LifecycleEvent]:
    """Every lifecycle end date in the window, by day (one query)."""
    kinds = [filters.kind] if filters.kind else list(LifecycleEvent.KINDS)
    in_window = Q()
    for kind in kinds:
        q = Q(**{f"{kind}__isnull": False})
        if filters.start:
            q &= Q(**{f"{kind}__gte": filters.start})
        if filters.end:
            q &= Q(**{f"{kind}__lt": filters.end})
        in_window |= q
    series = Series.objects.select_related("repository").filter(in_window)
    if filters.repository:
        series = series.filter(repository__name=filters.repository)
    if filters.q:
        series = series.filter(repository__name__icontains=filters.q)
    events = []
    for s in series:
        for kind in kinds:
            day = getattr(s, kind)
            if day is None:
                continue
            if (filters.start and day < filters.start) or (
                filters.end and day >= filters.end
            ):
                continue
            events.append(LifecycleEvent(day=day, kind=kind, series=s))
    events.sort(
        key=lambda e: (e.day, e.repository.name, e.series.name, _KIND_ORDER[e.kind])
    )
    if newest_first:
        # Newest day first, but the same day still reads in name order.
        events.sort(key=lambda e: e.day, reverse=True)
    return events
