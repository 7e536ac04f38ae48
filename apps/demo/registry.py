"""The demo's registry traffic (manage.py seed_demo): the customer's cluster
pulls the builds its SLA clocks track, through the token service and the
notifications endpoint's service, as a registry would ask and report.

Each pull is two steps a real one takes: the token service decides (and
logs) the grant for the cluster's pull token, then the registry reports the
manifest pull, seconds later, as distribution shapes its events. A refused
ELS pull and a Community org's refused FIPS pull fill the refusals list.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.catalog.models import ImageDigest
from apps.orgs.models import Organization, Role
from apps.registry.formats.events import RegistryEventData
from apps.registry.formats.scope import Scope
from apps.registry.mapping import Principal, variant_pull_path
from apps.registry.models import RegistryEvent
from apps.registry.receiving import registry_events_receive
from apps.registry.services import principal_from, registry_token_issue
from apps.sla.models import SlaClock

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CLUSTER_ADDR = "10.20.0.14:51622"
PULLS_PER_IMAGE = (21, 9, 2)  # days ago
IMAGES = 4


def _pull(credentials: tuple[ApiToken, str], image: ImageDigest, at: datetime) -> bool:
    principal = _token_principal(*credentials, at)
    path = variant_pull_path(variant=image.variant).path
    issued = registry_token_issue(
        principal=principal,
        scopes=[Scope(type="repository", name=path, actions=("pull",))],
        service=settings.REGISTRY_SERVICE or "portal-registry",
        ip=CLUSTER_ADDR.partition(":")[0],
        now=at,
    )
    if "pull" not in issued.access[0]["actions"]:
        return False
    registry_events_receive(
        [
            RegistryEventData(
                event_id=str(uuid.uuid4()),
                action="pull",
                occurred_at=at + timedelta(seconds=4),
                repository=path,
                digest=image.digest,
                media_type=MANIFEST,
                tag=image.variant.series.name,
                actor=principal.account,
                addr=CLUSTER_ADDR,
                user_agent="containerd/1.7.24",
            )
        ],
        now=at + timedelta(seconds=5),
    )
    return True


def _token_principal(token: ApiToken, raw: str, at: datetime) -> Principal:
    """Who the registry's client is, read from its Basic credentials as the
    token endpoint reads them (which records the token's use)."""
    return principal_from((token.prefix, raw), now=at)


def demo_registry_load(*, now: datetime | None = None) -> int:
    """Pulls by Acme's cluster of the builds its clocks track; returns the
    number of pulls the registry reported. Idempotent: a second run finds
    the pulls in place."""
    now = now or timezone.now()
    org = Organization.objects.get(slug="acme")
    if RegistryEvent.objects.for_org(org).exists():
        return 0
    owner = org.memberships.get(role=Role.OWNER).user
    cluster = api_token_create(
        org=org,
        name="Production cluster pulls",
        scopes=[ApiToken.Scope.REGISTRY_PULL],
        expires_at=now + timedelta(days=180),
        actor=owner,
    )
    digest_ids = (
        SlaClock.objects.for_org(org)
        .order_by("finding__digest_id")
        .values_list("finding__digest_id", flat=True)
        .distinct()[:IMAGES]
    )
    images = ImageDigest.objects.filter(pk__in=list(digest_ids)).select_related(
        "variant__series__repository"
    )
    pulls = 0
    for image in images:
        for days in PULLS_PER_IMAGE:
            pulls += _pull(cluster, image, now - timedelta(days=days))
    # Refused: Acme holds no extended lifecycle support; Globex is on the
    # free tier and asks for a FIPS image.
    fips = ImageDigest.objects.filter(variant__fips=True).first()
    if fips is not None:
        pulls += _pull(cluster, fips, now - timedelta(days=1))
        globex = Organization.objects.filter(slug="globex").first()
        if globex is not None:
            globex_owner = globex.memberships.get(role=Role.OWNER).user
            laptop = api_token_create(
                org=globex,
                name="Laptop",
                scopes=[ApiToken.Scope.REGISTRY_PULL],
                expires_at=now + timedelta(days=30),
                actor=globex_owner,
            )
            _pull(laptop, fips, now - timedelta(hours=5))
    els = ImageDigest.objects.filter(
        variant__series__els_end__isnull=False, variant__fips=False, variant__stig=False
    ).first()
    if els is not None:
        path = variant_pull_path(variant=els.variant, els=True).path
        at = now - timedelta(hours=3)
        registry_token_issue(
            principal=_token_principal(*cluster, at),
            scopes=[Scope(type="repository", name=path, actions=("pull",))],
            service=settings.REGISTRY_SERVICE or "portal-registry",
            ip=CLUSTER_ADDR.partition(":")[0],
            now=at,
        )
    return pulls
