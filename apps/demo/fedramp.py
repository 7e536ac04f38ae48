"""The demo customer as a FedRAMP customer (manage.py seed_demo): Class C,
its mirrored repositories' exposure and impact stated when it mirrors them,
and, later in the story, a clock's PAIN reduced behind a new filter and
another declared accepted, each with its reason, through the services a
customer's admin uses."""

from __future__ import annotations

from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.sla.models import SlaClock
from apps.sla.services import fedramp

PACKAGE_URI = "https://trust.acme.example/fedramp/certification-package-overview.json"
# Internet-reachable, PAIN: the first mirrored repository serves the public
# API, the second a back office, the third an internal batch job.
EXPOSURES = ((True, 4), (False, 3), (True, 2))


def demo_fedramp_profile(*, org: Organization, actor) -> None:
    fedramp.fedramp_profile_set(
        org=org,
        actor=actor,
        certification_class="C",
        package_uri=PACKAGE_URI,
        reason="FedRAMP Rev5 Class C certification (agency path).",
    )


def demo_fedramp_exposures(*, org: Organization, actor) -> int:
    """Each mirrored repository's IRV and PAIN, in name order."""
    mirrors = Mirror.objects.for_org(org).select_related("repository")
    mirrors = mirrors.order_by("repository__name")
    for mirror, (reachable, pain) in zip(mirrors, EXPOSURES, strict=False):
        fedramp.fedramp_exposure_set(
            org=org,
            repository=mirror.repository,
            actor=actor,
            internet_reachable=reachable,
            pain=pain,
            reason="Initial evaluation of the service running these images.",
        )
    return len(mirrors)


def _running(org: Organization, *, skip: int = 0) -> SlaClock | None:
    """A running clock on the first mirrored repository (the public API)."""
    first = Mirror.objects.for_org(org).order_by("repository__name").first()
    if first is None:
        return None
    return (
        SlaClock.objects.for_org(org)
        .filter(
            state__in=SlaClock.RUNNING,
            finding__digest__variant__series__repository=first.repository_id,
        )
        .select_related("org")
        .order_by("id")[skip : skip + 1]
        .first()
    )


def demo_fedramp_reduction(*, org: Organization, actor) -> SlaClock | None:
    clock = _running(org)
    if clock is not None:
        fedramp.fedramp_clock_evaluate(
            clock=clock,
            actor=actor,
            pain=3,
            reason="A WAF rule now rejects the triggering request bodies at the "
            "edge; one agency's workflow could still be disrupted.",
        )
    return clock


def demo_fedramp_acceptance(*, org: Organization, actor) -> SlaClock | None:
    clock = _running(org, skip=1)
    if clock is not None:
        fedramp.fedramp_clock_evaluate(
            clock=clock,
            actor=actor,
            pain=2,
            accepted=True,
            reason="The affected module is only loaded by an administrative "
            "export job that runs offline; we will not rebuild for it before "
            "the service's planned replacement.",
        )
    return clock
