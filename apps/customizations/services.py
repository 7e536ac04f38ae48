"""Writes about customizations. Every one is audit-logged; none deletes.

Creating one is counted against the plan's ``customizations`` quantity
(None: unlimited, 0: none). A downgrade below the number in use keeps the
existing ones and lets them be edited and archived; only creation stops.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import Repository
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization

from .models import Customization
from .selectors import CustomizationUsage, customization_usage

Action = AuditEvent.Action

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Debian and Alpine package names: lowercase letters, digits, + - . _
PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9+._-]{0,99}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_PACKAGES = 100
MAX_ENVIRONMENT = 100
MAX_ENV_VALUE = 4096
MAX_DESCRIPTION = 2000


def _clean_name(name: Any, errors: dict[str, str]) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not NAME_RE.match(name):
        errors["name"] = (
            "Use 1 to 63 lowercase letters, digits and hyphens, starting and "
            "ending with a letter or digit."
        )
    return name


def _clean_description(description: Any, errors: dict[str, str]) -> str:
    if not isinstance(description, str):
        errors["description"] = "The description must be text."
        return ""
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = f"At most {MAX_DESCRIPTION} characters."
    return description


def _clean_packages(packages: Any, errors: dict[str, str]) -> list[str]:
    if packages is None:
        return []
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        errors["extra_packages"] = "Give a list of package names."
        return []
    bad = [p for p in packages if not PACKAGE_RE.match(p)]
    if bad:
        errors["extra_packages"] = (
            f"Not a package name: {', '.join(repr(p[:40]) for p in bad[:5])}. Use "
            "lowercase letters, digits and + - . _, starting with a letter or digit."
        )
    elif len(packages) > MAX_PACKAGES:
        errors["extra_packages"] = (
            f"At most {MAX_PACKAGES} packages; {len(packages)} given."
        )
    elif len(set(packages)) < len(packages):
        twice = sorted({p for p in packages if packages.count(p) > 1})
        errors["extra_packages"] = f"Listed more than once: {', '.join(twice)}."
    return packages


def _clean_environment(environment: Any, errors: dict[str, str]) -> dict[str, str]:
    if environment is None:
        return {}
    if not isinstance(environment, dict) or not all(
        isinstance(v, str) for v in environment.values()
    ):
        errors["environment"] = "Give NAME=value pairs; values are text."
        return {}
    bad = [k for k in environment if not isinstance(k, str) or not ENV_NAME_RE.match(k)]
    long = [k for k, v in environment.items() if len(v) > MAX_ENV_VALUE]
    if bad:
        errors["environment"] = (
            f"Not a variable name: {', '.join(repr(str(k)[:40]) for k in bad[:5])}. "
            "Use letters, digits and _, not starting with a digit."
        )
    elif len(environment) > MAX_ENVIRONMENT:
        errors["environment"] = f"At most {MAX_ENVIRONMENT} variables."
    elif long:
        errors["environment"] = (
            f"Values are at most {MAX_ENV_VALUE} characters: {', '.join(long[:5])}."
        )
    elif any("\x00" in v for v in environment.values()):
        errors["environment"] = "Values may not contain NUL characters."
    return dict(environment)


def _name_taken(org, name: str, exclude: int | None = None) -> bool:
    rows = Customization.objects.for_org(org).active().filter(name=name)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return rows.exists()


def limit_message(usage: CustomizationUsage) -> str:
    """Why a new customization cannot be created now."""
    if usage.limit == 0:
        return "Your plan includes no customizations; upgrade to create one."
    if usage.used > usage.limit:  # type: ignore[operator]
        excess = usage.used - usage.limit + 1  # type: ignore[operator]
        return (
            f"{usage.used} of {usage.limit} used: archive {excess} to create a new "
            "one. Existing customizations stay and can still be edited."
        )
    return (
        f"All {usage.limit} customizations of your plan are in use: archive one "
        "or upgrade to create another."
    )


def _save(customization: Customization, update_fields: list[str] | None = None):
    try:
        with transaction.atomic():
            customization.save(update_fields=update_fields)
    except IntegrityError as exc:
        raise ValidationError(
            {"name": "This organization already has a customization of that name."}
        ) from exc


@transaction.atomic
def customization_create(
    *,
    org: Organization,
    repository: Repository,
    name: str,
    actor,
    description: str = "",
    extra_packages: list[str] | None = None,
    environment: dict[str, str] | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Customization:
    """A new recipe on a repository the organization mirrors, if the plan has
    room for one more."""
    now = now or timezone.now()
    # Creations of one organization queue here, so two at the limit cannot
    # both see room for one more.
    Organization.objects.select_for_update().filter(pk=org.pk).first()
    errors: dict[str, str] = {}
    name = _clean_name(name, errors)
    description = _clean_description(description, errors)
    extra_packages = _clean_packages(extra_packages, errors)
    environment = _clean_environment(environment, errors)
    if not isinstance(repository, Repository):
        errors["repository"] = "Choose a repository of the catalog."
    elif not Mirror.objects.for_org(org).filter(repository=repository).exists():
        errors["repository"] = (
            f"{org.name} does not mirror {repository.name}: mirror it first."
        )
    if "name" not in errors and _name_taken(org, name):
        errors["name"] = f"There is already a customization named {name}."
    if errors:
        raise ValidationError(errors)
    usage = customization_usage(org=org, at=now)
    if not usage.can_create:
        raise ValidationError(limit_message(usage))
    customization = Customization(
        org=org,
        repository=repository,
        name=name,
        description=description,
        extra_packages=extra_packages,
        environment=environment,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    _save(customization)
    audit_record(
        action=Action.CUSTOMIZATION_CREATED,
        actor=actor,
        org=org,
        target=customization,
        request=request,
        details={
            "name": name,
            "repository": repository.name,
            "extra_packages": extra_packages,
            "environment": sorted(environment),
            "used": usage.used + 1,
            "limit": usage.limit,
        },
    )
    return customization


_UNSET: Any = object()


@transaction.atomic
def customization_update(
    *,
    customization: Customization,
    actor,
    name: str = _UNSET,
    description: str = _UNSET,
    extra_packages: list[str] = _UNSET,
    environment: dict[str, str] = _UNSET,
    request: HttpRequest | None = None,
) -> Customization:
    """Change what is given; allowed whatever the plan's count now is."""
    customization = (
        Customization.objects.select_for_update()
        .select_related("org", "repository")
        .get(pk=customization.pk)
    )
    if customization.is_archived:
        raise ValidationError("An archived customization cannot be changed.")
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = _clean_name(name, errors)
        if "name" not in errors and _name_taken(
            customization.org, changes["name"], exclude=customization.pk
        ):
            errors["name"] = f"There is already a customization named {name}."
    if description is not _UNSET:
        changes["description"] = _clean_description(description, errors)
    if extra_packages is not _UNSET:
        changes["extra_packages"] = _clean_packages(extra_packages, errors)
    if environment is not _UNSET:
        changes["environment"] = _clean_environment(environment, errors)
    if errors:
        raise ValidationError(errors)
    changed = {k: v for k, v in changes.items() if getattr(customization, k) != v}
    if not changed:
        return customization
    before = {k: getattr(customization, k) for k in changed}
    for field, value in changed.items():
        setattr(customization, field, value)
    customization.updated_at = timezone.now()
    _save(customization, update_fields=[*changed, "updated_at"])

    def shown(field: str, value: Any) -> Any:
        # Environment values may be sensitive: the log names the variables.
        return sorted(value) if field == "environment" else value

    audit_record(
        action=Action.CUSTOMIZATION_UPDATED,
        actor=actor,
        org=customization.org,
        target=customization,
        request=request,
        details={
            "name": customization.name,
            "changed": {
                f: {"from": shown(f, before[f]), "to": shown(f, changed[f])}
                for f in sorted(changed)
            },
        },
    )
    return customization


@transaction.atomic
def customization_archive(
    *, customization: Customization, actor, request: HttpRequest | None = None
) -> Customization:
    """Archive (never delete): it stops counting against the plan."""
    customization = (
        Customization.objects.select_for_update()
        .select_related("org", "repository")
        .get(pk=customization.pk)
    )
    if customization.is_archived:
        raise ValidationError("This customization is already archived.")
    customization.archived_at = timezone.now()
    customization.save(update_fields=["archived_at"])
    audit_record(
        action=Action.CUSTOMIZATION_REMOVED,
        actor=actor,
        org=customization.org,
        target=customization,
        request=request,
        details={
            "name": customization.name,
            "repository": customization.repository.name,
            "archived": True,
        },
    )
    return customization
