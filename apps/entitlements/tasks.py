"""Entitlements end by themselves (a contract's or trial's ends_at passes)
with no write to react to; this sweep marks the mirrors that lapsed that way.
Not yet on a schedule: the Stripe part's nightly reconciliation runs it."""

from celery import shared_task

from apps.orgs.models import Organization

from .models import Mirror
from .selectors import entitlement_cache
from .services import mirrors_recheck


@shared_task(name="entitlements.mirrors_recheck_all", time_limit=600)
def mirrors_recheck_all() -> int:
    """Recheck every organization with a mirror of paid content; return how many
    mirrors changed status."""
    paid = (
        Mirror.objects.filter(include_fips=True)
        | Mirror.objects.filter(include_stig=True)
        | Mirror.objects.filter(include_els=True)
    )
    changed = 0
    for org in Organization.objects.filter(pk__in=paid.values("org_id")):
        with entitlement_cache():
            changed += len(mirrors_recheck(org=org))
    return changed
