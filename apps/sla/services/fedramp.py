"""FedRAMP CR26 inputs: an organization's class, each mirrored repository's
IRV and PAIN, and a clock's own evaluation. Set by the organization's owners
and admins, or by publisher staff for it; each change is a new row (the
history the VER reports show) and an audit event.

Who may: the doors decide (the org's pages and API ask ``org.manage``, the
staff desk asks for staff), and each service asks again: ``as_staff`` needs
publisher staff in standing, otherwise the actor must hold ``org.manage``
in the organization.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import Repository
from apps.core.mixins import staff_in_standing
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.orgs.permissions import Perm
from apps.orgs.selectors import org_access_get

from ..models import (
    FedrampClass,
    FedrampClockEvaluation,
    FedrampDisposition,
    FedrampExposure,
    FedrampProfile,
    SlaClock,
)

Action = AuditEvent.Action
REASON_MAX = 2000
URI_MAX = 500
_URI = URLValidator(schemes=["https"])


def _authorize(*, org: Organization, actor: Any, as_staff: bool) -> None:
    if as_staff:
        if not staff_in_standing(actor):
            raise ValidationError("Only publisher staff with a second factor may.")
        return
    access = org_access_get(user=actor, org=org) if actor is not None else None
    if access is None or not access.can(Perm.ORG_MANAGE):
        raise ValidationError("Only the organization's owners and admins may.")


def _reason(value: str | None, errors: dict, *, required: bool, what: str) -> str:
    reason = (value or "").strip()
    if len(reason) > REASON_MAX:
        errors["reason"] = f"Keep the reason under {REASON_MAX} characters."
    elif required and not reason:
        errors["reason"] = f"Say why {what}."
    return reason


def _pain(value: Any, errors: dict, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        errors["pain"] = "PAIN is N1 to N5."
        return None
    return value


def _flag(value: Any, name: str, errors: dict, *, optional: bool) -> bool | None:
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        errors[name] = "Yes or no."
        return None
    return value


def fedramp_profile_current(*, org: Organization) -> FedrampProfile | None:
    return FedrampProfile.objects.for_org(org).order_by("-set_at", "-id").first()


@transaction.atomic
def fedramp_profile_set(
    *,
    org: Organization,
    actor: Any,
    certification_class: str,
    package_uri: str = "",
    reason: str = "",
    as_staff: bool = False,
    request: HttpRequest | None = None,
) -> FedrampProfile:
    """State the organization's class (blank: not a FedRAMP customer) and its
    Certification Package Overview. Setting what is already in force changes
    nothing and returns the row in force."""
    _authorize(org=org, actor=actor, as_staff=as_staff)
    errors: dict[str, str] = {}
    certification_class = (certification_class or "").strip()
    if certification_class and certification_class not in FedrampClass.values:
        errors["certification_class"] = "Choose Class A, B, C or D, or none."
    package_uri = (package_uri or "").strip()
    if len(package_uri) > URI_MAX:
        errors["package_uri"] = f"Keep the URI under {URI_MAX} characters."
    elif package_uri:
        try:
            _URI(package_uri)
        except ValidationError:
            errors["package_uri"] = "Give the https:// URI of the document."
    if certification_class and not package_uri and "package_uri" not in errors:
        errors["package_uri"] = (
            "A FedRAMP class needs the URI of your Certification Package "
            "Overview: every VER report names it."
        )
    reason = _reason(reason, errors, required=False, what="")
    if errors:
        raise ValidationError(errors)
    Organization.objects.select_for_update().filter(pk=org.pk).first()
    current = fedramp_profile_current(org=org)
    if current is not None and (
        current.certification_class,
        current.package_uri,
    ) == (certification_class, package_uri):
        return current
    if current is None and not certification_class:
        errors["certification_class"] = "The organization has no FedRAMP class."
        raise ValidationError(errors)
    profile = FedrampProfile.objects.create(
        org=org,
        certification_class=certification_class,
        package_uri=package_uri,
        reason=reason,
        set_by=actor,
        set_by_staff=as_staff,
        set_at=timezone.now(),
    )
    audit_record(
        action=Action.FEDRAMP_PROFILE_SET,
        actor=actor,
        org=org,
        target=profile,
        request=request,
        details={
            "certification_class": certification_class,
            "previous_class": current.certification_class if current else None,
            "package_uri": package_uri,
            "reason": reason,
            "by_staff": as_staff,
        },
    )
    return profile


def fedramp_exposure_current(
    *, org: Organization, repository: Repository
) -> FedrampExposure | None:
    return (
        FedrampExposure.objects.for_org(org)
        .filter(repository=repository)
        .order_by("-set_at", "-id")
        .first()
    )


@transaction.atomic
def fedramp_exposure_set(
    *,
    org: Organization,
    repository: Repository,
    actor: Any,
    internet_reachable: bool,
    pain: int,
    reason: str = "",
    as_staff: bool = False,
    request: HttpRequest | None = None,
) -> FedrampExposure:
    """Set a mirrored repository's IRV and PAIN, the defaults of its clocks.
    A reduction (a lower PAIN, or no longer internet-reachable) states why;
    setting what is in force changes nothing."""
    _authorize(org=org, actor=actor, as_staff=as_staff)
    errors: dict[str, str] = {}
    pain_value = _pain(pain, errors, optional=False)
    irv = _flag(internet_reachable, "internet_reachable", errors, optional=False)
    if not Mirror.objects.for_org(org).filter(repository=repository).exists():
        errors["repository"] = f"{repository.name} is not mirrored here."
    Organization.objects.select_for_update().filter(pk=org.pk).first()
    current = fedramp_exposure_current(org=org, repository=repository)
    reduced = current is not None and (
        (pain_value is not None and pain_value < current.pain)
        or (current.internet_reachable and irv is False)
    )
    reason = _reason(
        reason, errors, required=reduced, what="its exposure or impact is lower"
    )
    if errors:
        raise ValidationError(errors)
    if current is not None and (current.pain, current.internet_reachable) == (
        pain_value,
        irv,
    ):
        return current
    exposure = FedrampExposure.objects.create(
        org=org,
        repository=repository,
        internet_reachable=bool(irv),
        pain=int(pain_value or 0),
        reason=reason,
        set_by=actor,
        set_by_staff=as_staff,
        set_at=timezone.now(),
    )
    audit_record(
        action=Action.FEDRAMP_EXPOSURE_SET,
        actor=actor,
        org=org,
        target=exposure,
        request=request,
        details={
            "repository": repository.name,
            "internet_reachable": exposure.internet_reachable,
            "pain": exposure.pain,
            "previous": None
            if current is None
            else {
                "internet_reachable": current.internet_reachable,
                "pain": current.pain,
            },
            "reduction": reduced,
            "reason": reason,
            "by_staff": as_staff,
        },
    )
    return exposure


@transaction.atomic
def fedramp_clock_evaluate(
    *,
    clock: SlaClock,
    actor: Any,
    reason: str,
    pain: int | None = None,
    internet_reachable: bool | None = None,
    likely_exploitable: bool | None = None,
    disposition: str = "",
    accepted: bool = False,
    as_staff: bool = False,
    request: HttpRequest | None = None,
) -> FedrampClockEvaluation:
    """A clock's own evaluation from now on, replacing the one before: each
    value left None follows the repository's default (PAIN, IRV) or the
    derived LEV. Always with a reason; the organization must have a class."""
    org = clock.org
    _authorize(org=org, actor=actor, as_staff=as_staff)
    errors: dict[str, str] = {}
    pain_value = _pain(pain, errors, optional=True)
    irv = _flag(internet_reachable, "internet_reachable", errors, optional=True)
    lev = _flag(likely_exploitable, "likely_exploitable", errors, optional=True)
    disposition = (disposition or "").strip()
    if disposition and disposition not in FedrampDisposition.values:
        errors["disposition"] = "Choose fully mitigated, false positive, or none."
    if not isinstance(accepted, bool):
        errors["accepted"] = "Yes or no."
    elif accepted and disposition:
        errors["accepted"] = (
            "A vulnerability closed by its disposition is not also accepted."
        )
    reason_text = _reason(reason, errors, required=True, what="you evaluate it so")
    profile = fedramp_profile_current(org=org)
    if profile is None or not profile.certification_class:
        errors["clock"] = (
            "Set the organization's FedRAMP class first: CR26 evaluations "
            "apply to FedRAMP customers."
        )
    if errors:
        raise ValidationError(errors)
    SlaClock.objects.select_for_update().filter(pk=clock.pk).first()
    previous = (
        FedrampClockEvaluation.objects.filter(clock=clock)
        .order_by("-set_at", "-id")
        .first()
    )
    evaluation = FedrampClockEvaluation.objects.create(
        clock=clock,
        pain=pain_value,
        internet_reachable=irv,
        likely_exploitable=lev,
        disposition=disposition,
        accepted=bool(accepted),
        reason=reason_text,
        set_by=actor,
        set_by_staff=as_staff,
        set_at=timezone.now(),
    )
    audit_record(
        action=Action.FEDRAMP_CLOCK_EVALUATED,
        actor=actor,
        org=org,
        target=evaluation,
        request=request,
        details={
            "clock": clock.pk,
            "pain": pain_value,
            "internet_reachable": irv,
            "likely_exploitable": lev,
            "disposition": disposition,
            "accepted": bool(accepted),
            "previous": None
            if previous is None
            else {
                "pain": previous.pain,
                "internet_reachable": previous.internet_reachable,
                "likely_exploitable": previous.likely_exploitable,
                "disposition": previous.disposition,
                "accepted": previous.accepted,
            },
            "reason": reason_text,
            "by_staff": as_staff,
        },
    )
    return evaluation
