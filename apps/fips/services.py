"""Writes to the crypto-module registry. Every change of a field leaves a
``CryptoModuleChange`` row: later notices read those, never a diff of the
current table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from .cmvp import cmvp_record_parse
from .models import CryptoModule, CryptoModuleChange

# Fields whose change can make a notice due (status, sunset, the number).
NOTICE_FIELDS = frozenset({"status", "sunset_date", "certificate_number"})


def _notices_after_commit(changed: list[str] | None = None) -> None:
    if changed is None or NOTICE_FIELDS & set(changed):
        from apps.notifications.tasks import run as notices_run_task

        transaction.on_commit(notices_run_task.delay)


# What staff may set; ``source`` and the timestamps belong to the services.
EDITABLE_FIELDS = (
    "name",
    "vendor",
    "module_version",
    "certificate_number",
    "standard",
    "status",
    "validation_date",
    "sunset_date",
    "security_policy_url",
    "operational_environment",
)


@dataclass
class CryptoModuleImportReport:
    """What one CMVP import did."""

    certificate_number: int
    outcome: str  # created, updated or unchanged
    changed_fields: list[str] = field(default_factory=list)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _clean(module: CryptoModule, *, prefix: str = "") -> None:
    try:
        module.full_clean(exclude=["created_at", "updated_at"])
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            [
                f"{prefix}{name}: {message}" if name != "__all__" else prefix + message
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
        ) from None


def _apply(
    *,
    module: CryptoModule,
    fields: dict[str, Any],
    source: str,
    actor: Any,
    now: datetime,
    prefix: str = "",
) -> list[str]:
    """Set ``fields`` on a saved module, validate, save, record the changes."""
    changes: list[CryptoModuleChange] = []
    for name, value in fields.items():
        old = getattr(module, name)
        if old == value:
            continue
        setattr(module, name, value)
        changes.append(
            CryptoModuleChange(
                module=module,
                field=name,
                old_value=_as_text(old),
                new_value=_as_text(value),
                changed_at=now,
                source=source,
                actor=actor if getattr(actor, "is_authenticated", False) else None,
            )
        )
    if not changes:
        return []
    _clean(module, prefix=prefix)
    module.updated_at = now
    module.save(update_fields=[*(c.field for c in changes), "updated_at"])
    CryptoModuleChange.objects.bulk_create(changes)
    return [c.field for c in changes]


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(unknown)}.")


@transaction.atomic
def crypto_modules_import(
    *, content: bytes, actor: Any = None, source: str = ""
) -> CryptoModuleImportReport:
    """Load one CMVP certificate record into the registry.

    Idempotent by certificate number: a known module is updated in place, each
    changed field recorded as a change row; a record that changes nothing
    writes nothing but the audit record of the import. Bad input raises
    ValidationError and writes nothing.
    """
    max_bytes = settings.EVIDENCE_MAX_BYTES
    if len(content) > max_bytes:
        raise ValidationError(
            f"The CMVP record is {len(content)} bytes, over the {max_bytes}-byte limit."
        )
    record = cmvp_record_parse(content=content)
    now = timezone.now()
    prefix = f"CMVP certificate #{record.certificate_number}: "
    module = (
        CryptoModule.objects.select_for_update()
        .filter(certificate_number=record.certificate_number)
        .first()
    )
    if module is None:
        module = CryptoModule(
            certificate_number=record.certificate_number,
            source=CryptoModule.Source.IMPORTED,
            created_at=now,
            updated_at=now,
            **record.fields(),
        )
        _clean(module, prefix=prefix)
        module.save()
        report = CryptoModuleImportReport(
            certificate_number=record.certificate_number, outcome="created"
        )
    else:
        changed = _apply(
            module=module,
            fields=record.fields(),
            source=CryptoModuleChange.Source.IMPORT,
            actor=actor,
            now=now,
            prefix=prefix,
        )
        report = CryptoModuleImportReport(
            certificate_number=record.certificate_number,
            outcome="updated" if changed else "unchanged",
            changed_fields=changed,
        )
        _notices_after_commit(changed)
    details: dict[str, Any] = {
        "kind": "cmvp-module",
        "certificate_number": report.certificate_number,
        "outcome": report.outcome,
        "changed_fields": report.changed_fields,
    }
    if source:
        details["source"] = source
    audit_record(
        action=AuditEvent.Action.EVIDENCE_IMPORTED,
        actor=actor,
        target=module,
        details=details,
    )
    return report


@transaction.atomic
def crypto_module_create(*, actor: Any, **fields: Any) -> CryptoModule:
    """A module entered by staff (no CMVP record for it yet)."""
    _check_fields(fields)
    now = timezone.now()
    module = CryptoModule(
        source=CryptoModule.Source.STAFF, created_at=now, updated_at=now, **fields
    )
    _clean(module)
    module.save()
    audit_record(
        action=AuditEvent.Action.FIPS_MODULE_CHANGED,
        actor=actor,
        target=module,
        details={"certificate_number": module.certificate_number, "created": True},
    )
    return module


@transaction.atomic
def crypto_module_update(
    *, module: CryptoModule, actor: Any, **fields: Any
) -> CryptoModule:
    """Change a module's fields as staff; each changed field is recorded."""
    _check_fields(fields)
    locked = CryptoModule.objects.select_for_update().get(pk=module.pk)
    changed = _apply(
        module=locked,
        fields=fields,
        source=CryptoModuleChange.Source.STAFF,
        actor=actor,
        now=timezone.now(),
    )
    if changed:
        _notices_after_commit(changed)
        audit_record(
            action=AuditEvent.Action.FIPS_MODULE_CHANGED,
            actor=actor,
            target=locked,
            details={
                "certificate_number": locked.certificate_number,
                "changed_fields": changed,
            },
        )
    return locked
