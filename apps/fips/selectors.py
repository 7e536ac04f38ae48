"""Reads for the FIPS pages: which modules a build carries, an organization's
module inventory, and the events that concern it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from apps.catalog.models import ImageDigest
from apps.entitlements.models import Mirror
from apps.notifications.selectors import notices_told
from apps.orgs.models import Organization

from .models import CryptoModule, DigestCryptoModule, FipsEvent
from .notices import ALERT, SUNSET_THRESHOLDS, event_audience
from .status import ModuleStatus, module_status


def digest_crypto_modules(*, image: ImageDigest) -> QuerySet[DigestCryptoModule]:
    return (
        DigestCryptoModule.objects.filter(digest=image)
        .select_related("module")
        .order_by("module__certificate_number")
    )


def digest_crypto_module_rows(
    *, image: ImageDigest, on: date | datetime | None = None
) -> list[DigestCryptoModule]:
    """``digest_crypto_modules``, each with ``status``: the module's status
    on ``on`` (now by default), derived from its dates."""
    on = on or timezone.now()
    links = list(digest_crypto_modules(image=image))
    for link in links:
        link.status = module_status(link.module, on=on)  # type: ignore[attr-defined]
    return links


def sunset_tone(module: CryptoModule, today: date) -> str:
    """``bad`` (lapsed, or sunset within 30 days), ``warn`` (within 180), or
    ``ok``."""
    if not module_status(module, on=today).active:
        return "bad"
    if module.sunset_date is None:
        return "ok"
    days = (module.sunset_date - today).days
    if days <= min(SUNSET_THRESHOLDS):
        return "bad"
    if days <= max(SUNSET_THRESHOLDS):
        return "warn"
    return "ok"


@dataclass
class Carrier:
    """The builds of one variant of a mirrored series that carry a module."""

    repository: str
    series: str
    variant: str
    builds: int
    newest: ImageDigest


@dataclass
class InventoryRow:
    module: CryptoModule
    days_to_sunset: int | None
    tone: str
    status: ModuleStatus
    carriers: list[Carrier] = field(default_factory=list)

    @property
    def days_since_sunset(self) -> int:
        return -self.days_to_sunset if self.days_to_sunset is not None else 0

    @property
    def builds(self) -> int:
        return sum(c.builds for c in self.carriers)


def org_fips_mirrors(*, org: Organization) -> QuerySet[Mirror]:
    return (
        Mirror.objects.for_org(org)
        .filter(include_fips=True, status=Mirror.Status.ACTIVE)
        .select_related("repository")
    )


def org_module_inventory(
    *,
    org: Organization,
    today: date | None = None,
    mirrors: list[Mirror] | None = None,
) -> list[InventoryRow]:
    """Every module in every FIPS build of the repositories the organization
    mirrors with FIPS included (``mirrors``, if already read): one query for
    the builds, whatever their number."""
    today = today or timezone.now().astimezone(UTC).date()
    if mirrors is None:
        mirrors = list(org_fips_mirrors(org=org))
    repositories = [m.repository_id for m in mirrors]
    rows: dict[int, InventoryRow] = {}
    carriers: dict[tuple[int, int], Carrier] = {}
    links = (
        DigestCryptoModule.objects.filter(
            digest__variant__series__repository_id__in=repositories
        )
        .select_related("module", "digest__variant__series__repository")
        .order_by(
            "module__certificate_number", "digest__variant_id", "-digest__built_at"
        )
    )
    for link in links:
        module = link.module
        row = rows.get(module.pk)
        if row is None:
            days = (module.sunset_date - today).days if module.sunset_date else None
            row = rows[module.pk] = InventoryRow(
                module=module,
                days_to_sunset=days,
                tone=sunset_tone(module, today),
                status=module_status(module, on=today),
            )
        variant = link.digest.variant
        key = (module.pk, variant.pk)
        carrier = carriers.get(key)
        if carrier is None:
            # Ordered newest first within a variant: the first seen is newest.
            carrier = carriers[key] = Carrier(
                repository=variant.series.repository.name,
                series=variant.series.name,
                variant=str(variant),
                builds=0,
                newest=link.digest,
            )
            row.carriers.append(carrier)
        carrier.builds += 1
    order = {"bad": 0, "warn": 1, "ok": 2}
    return sorted(
        rows.values(),
        key=lambda r: (
            order[r.tone],
            r.status.active,
            r.days_to_sunset if r.days_to_sunset is not None else 10**6,
            r.module.certificate_number,
        ),
    )


@dataclass
class OrgEvent:
    event: FipsEvent
    told: list[str]  # the channels it went out on


def org_fips_events(
    *, org: Organization, now: datetime | None = None, limit: int = 100
) -> list[OrgEvent]:
    """The events that concern the organization now, or that it was told of,
    newest first, with the channels each went out on."""
    now = now or timezone.now()
    told = notices_told(org=org, kind=ALERT.name)
    events = list(
        FipsEvent.objects.select_related(
            "module", "previous_module", "series__repository", "digest"
        ).order_by("-occurred_at", "-pk")
    )
    audience = event_audience(now=now, events=events, org_id=org.pk)
    mine = [e for e in events if org.pk in audience.get(e.pk, ()) or e.pk in told]
    return [
        OrgEvent(event=e, told=sorted(set(told.get(e.pk, [])))) for e in mine[:limit]
    ]


def digest_list_with_modules(digests: QuerySet[ImageDigest]) -> QuerySet[ImageDigest]:
    """``digests`` with the crypto modules each FIPS build carries, prefetched
    in certificate order (the API's digest detail)."""
    return digests.prefetch_related(
        Prefetch(
            "crypto_modules",
            queryset=DigestCryptoModule.objects.select_related("module").order_by(
                "module__certificate_number"
            ),
        )
    )
