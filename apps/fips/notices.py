"""FIPS notices: tell the customers running a module when its certificate
goes historical or is revoked, when its sunset date is 180, 90 or 30 days away,
and when a new build of a series they mirror swaps its module.

Events are found by a periodic sweep (and right after a registry change or a
FIPS attestation import) and recorded once each by their ``key``. Who is told
is decided at send time: organizations mirroring, with FIPS included and a live
``fips`` entitlement, a repository whose FIPS builds carry the module.

The kind ``fips.alert`` registers with the one notice run of
``apps.notifications`` at app ready: its ledger lets each event out once per
organization and channel, whatever runs at the same time; an organization's
FIPS events are a section of its one digest per run, and each endpoint gets one
signed ``fips.notices`` message per run.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.entitlements.models import Entitlement, FeatureKey, Mirror
from apps.notifications.kinds import NoticeFamily, NoticeKind, notice_kind_register

from .models import (
    CryptoModule,
    CryptoModuleChange,
    DigestCryptoModule,
    FipsEvent,
)

SUNSET_THRESHOLDS = (180, 90, 30)


def _day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _status_event(module: CryptoModule, changed_at: datetime | None, now) -> FipsEvent:
    label = (
        "historical" if module.status == CryptoModule.Status.HISTORICAL else "revoked"
    )
    return FipsEvent(
        key=f"status:{module.pk}:{module.status}",
        kind=module.status,
        module=module,
        summary=(
            f"CMVP certificate #{module.certificate_number} ({module.name}) is now "
            f"{label}"
            + (
                ": new systems may not be validated against it; plan the move to "
                "a build carrying an active certificate."
                if label == "historical"
                else ": it no longer counts as a validated module."
            )
        )[:500],
        occurred_at=changed_at or now,
    )


def fips_events_detect(*, now: datetime | None = None) -> int:
    """Record the status and sunset events of every module a build carries.
    Returns how many new events were recorded."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    carried = CryptoModule.objects.filter(
        Exists(DigestCryptoModule.objects.filter(module=OuterRef("pk")))
    )
    rows: list[FipsEvent] = []
    lapsed = list(
        carried.filter(
            status__in=[CryptoModule.Status.HISTORICAL, CryptoModule.Status.REVOKED]
        )
    )
    changed_at: dict[tuple[int, str], datetime] = {}
    for module_id, value, at in (
        CryptoModuleChange.objects.filter(
            module__in=[m.pk for m in lapsed], field="status"
        )
        .order_by("changed_at")
        .values_list("module_id", "new_value", "changed_at")
    ):
        changed_at[(module_id, value)] = at
    rows.extend(_status_event(m, changed_at.get((m.pk, m.status)), now) for m in lapsed)
    horizon = today + timedelta(days=max(SUNSET_THRESHOLDS))
    for module in carried.filter(
        status=CryptoModule.Status.ACTIVE,
        sunset_date__isnull=False,
        sunset_date__lte=horizon,
    ):
        sunset = module.sunset_date
        if sunset is None:  # excluded by the query; for the type checker
            continue
        days_left = (sunset - today).days
        # 0: the date has come and the registry still lists it as active.
        if days_left > 0:
            threshold = min(t for t in SUNSET_THRESHOLDS if days_left <= t)
            what = (
                f"sunsets on {sunset.isoformat()}, within {threshold} days: after "
                "that date it moves to the historical list."
            )
        else:
            threshold = 0
            what = (
                f"reached its sunset date on {sunset.isoformat()}: CMVP lists "
                "such certificates as historical; plan the move to a build "
                "carrying an active certificate."
            )
        rows.append(
            FipsEvent(
                key=f"sunset:{module.pk}:{sunset.isoformat()}:{threshold}",
                kind=FipsEvent.Kind.SUNSET,
                module=module,
                days_before_sunset=threshold,
                sunset_date=sunset,
                summary=(
                    f"CMVP certificate #{module.certificate_number} ({module.name}) "
                    + what
                )[:500],
                # The day the threshold was crossed, whenever it is found.
                occurred_at=_day_start(sunset - timedelta(days=threshold)),
            )
        )
    before = FipsEvent.objects.count()
    FipsEvent.objects.bulk_create(rows, ignore_conflicts=True)
    return FipsEvent.objects.count() - before


def _current(events: list[FipsEvent]) -> list[FipsEvent]:
    """Drop events the module has moved past: a status event whose status
    the module no longer has, a sunset notice superseded by a nearer one or by
    the module leaving the active list."""
    nearest: dict[tuple[int, Any], int] = {}
    for e in events:
        if e.kind == FipsEvent.Kind.SUNSET and e.days_before_sunset is not None:
            key = (e.module_id, e.sunset_date)
            nearest[key] = min(nearest.get(key, 999), e.days_before_sunset)
    kept = []
    for e in events:
        module = e.module
        if e.kind in (FipsEvent.Kind.HISTORICAL, FipsEvent.Kind.REVOKED):
            if module.status != e.kind:
                continue
        elif e.kind == FipsEvent.Kind.SUNSET:
            if module.status != CryptoModule.Status.ACTIVE:
                continue
            if module.sunset_date != e.sunset_date:
                continue
            if nearest[(e.module_id, e.sunset_date)] != e.days_before_sunset:
                continue
        kept.append(e)
    return kept


def _fips_mirrors(
    now: datetime, org_id: int | None = None
) -> dict[int, list[tuple[int, datetime]]]:
    """repository id -> [(org id, mirrored since)] for mirrors that include
    FIPS and whose org holds a live ``fips`` entitlement for the repository."""
    live = Entitlement.objects.filter(
        Q(repository__isnull=True) | Q(repository=OuterRef("repository")),
        org=OuterRef("org"),
        feature__key=FeatureKey.FIPS,
        starts_at__lte=now,
    ).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
    mirrors = Mirror.objects.filter(status=Mirror.Status.ACTIVE, include_fips=True)
    if org_id is not None:
        mirrors = mirrors.filter(org_id=org_id)
    by_repository: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for mirror_org_id, repository_id, created_at in mirrors.filter(
        Exists(live)
    ).values_list("org_id", "repository_id", "created_at"):
        by_repository[repository_id].append((mirror_org_id, created_at))
    return by_repository


def event_audience(
    *, now: datetime, events: list[FipsEvent] | None = None, org_id: int | None = None
) -> dict[int, set[int]]:
    """event id -> the organizations it concerns now (only ``org_id`` if given)."""
    if events is None:
        events = list(FipsEvent.objects.select_related("module", "series"))
    events = _current(events)
    mirrors = _fips_mirrors(now, org_id)
    carried: dict[int, set[int]] = defaultdict(set)
    for module_id, repository_id in (
        DigestCryptoModule.objects.filter(module__in={e.module_id for e in events})
        .order_by()
        .values_list("module_id", "digest__variant__series__repository_id")
        .distinct()
    ):
        carried[module_id].add(repository_id)
    audience: dict[int, set[int]] = {}
    for e in events:
        orgs: set[int] = set()
        if e.kind == FipsEvent.Kind.MODULE_CHANGED:
            # A swap is news to those who mirrored the series when it happened.
            series = e.series
            if series is not None:
                orgs = {
                    org_id
                    for org_id, since in mirrors.get(series.repository_id, [])
                    if since <= e.occurred_at
                }
        else:
            for repository_id in carried.get(e.module_id, ()):
                orgs.update(org_id for org_id, _ in mirrors.get(repository_id, []))
        if orgs:
            audience[e.pk] = orgs
    return audience


def _event_json(event: FipsEvent) -> dict[str, Any]:
    module = event.module
    data: dict[str, Any] = {
        "event": event.key,
        "kind": event.kind,
        "summary": event.summary,
        "occurred_at": event.occurred_at.isoformat(),
        "module": {
            "certificate": module.certificate_number,
            "name": module.name,
            "vendor": module.vendor,
            "version": module.module_version,
            "standard": module.get_standard_display(),
            "status": module.status,
            "sunset_date": module.sunset_date.isoformat()
            if module.sunset_date
            else None,
        },
    }
    if event.kind == FipsEvent.Kind.SUNSET:
        data["days_before_sunset"] = event.days_before_sunset
    if event.kind == FipsEvent.Kind.MODULE_CHANGED:
        previous = event.previous_module
        data["repository"] = event.series.repository.name if event.series else None
        data["series"] = event.series.name if event.series else None
        data["digest"] = event.digest.digest if event.digest else None
        data["previous_module"] = (
            {"certificate": previous.certificate_number, "name": previous.name}
            if previous
            else None
        )
    return data


def _due(now: datetime) -> list[tuple[int, int]]:
    """(event id, org id): every event and organization it concerns now."""
    audience = event_audience(now=now)
    return [
        (event_id, org_id)
        for event_id in sorted(audience)
        for org_id in sorted(audience[event_id])
    ]


def _load(ids: list[int]) -> dict[int, FipsEvent]:
    return FipsEvent.objects.select_related(
        "module", "previous_module", "series__repository", "digest"
    ).in_bulk(ids)


FIPS = NoticeFamily(
    name="fips",
    templates="fips/email/notices",
    message_type="fips.notices",
    payload_key="events",
    load=_load,
    as_json=lambda event, kind: _event_json(event),
    order=lambda event: (event.occurred_at, event.pk),
    prepare=lambda now: fips_events_detect(now=now),
)
ALERT = NoticeKind(
    name="fips.alert",
    label="A FIPS module you run changed status, nears sunset or was swapped",
    word="FIPS",
    family=FIPS,
    find=_due,
)


def register() -> None:
    """Called from ``FipsConfig.ready``."""
    notice_kind_register(ALERT)
