"""The publisher's own VEX statements: one AUTHORED document per repository,
its version bumped by each statement written through the admin or staff pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import ImageDigest, Repository
from apps.sla.triggers import vex_statements_stored

from ..formats.vex_parsed import image_purl, statement_problems
from ..models import VexDocument, VexStatement
from .vex import vulnerabilities_ensure


def authored_document_id(repository: Repository) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/vex/authored/{repository.name}"


@transaction.atomic
def vex_statement_author(
    *,
    author: Any,
    vulnerability_id: str,
    status: str,
    repository: Repository | None = None,
    image: ImageDigest | None = None,
    subcomponent: str = "",
    justification: str = "",
    impact_statement: str = "",
    action_statement: str = "",
    status_notes: str = "",
    timestamp: datetime | None = None,
) -> VexStatement:
    """Record the publisher's word on a vulnerability in an image (a build, or
    every build of a repository), optionally narrowed to one component.

    Statements go into one AUTHORED document per repository; each new statement
    bumps its version. Earlier statements stay as history: the newest statement
    for a (vulnerability, product, subcomponent) is the one in force.
    """
    problems = statement_problems(
        vuln_id=vulnerability_id,
        status=status,
        justification=justification,
        impact_statement=impact_statement,
        action_statement=action_statement,
        subcomponent=subcomponent,
    )
    if image is not None:
        owner = image.variant.series.repository
        if repository is not None and repository.pk != owner.pk:
            problems["repository"] = f"{image.digest} is a build of {owner.name}."
        repository = owner
    if repository is None:
        problems["repository"] = "Choose the repository or the digest it is about."
    if problems or repository is None:
        raise ValidationError(problems)

    document, now = _authored_document(repository)
    vulnerabilities = vulnerabilities_ensure({vulnerability_id.strip()})
    statement = VexStatement.objects.create(
        document=document,
        statement_index=document.statement_count - 1,
        vulnerability_id=vulnerabilities[vulnerability_id.strip()],
        product=image_purl(repository.name, image.digest if image else None),
        named_repository=repository.name,
        named_digest=image.digest if image else "",
        subcomponent=subcomponent.strip(),
        repository=repository,
        digest=image,
        status=status,
        justification=justification,
        impact_statement=impact_statement.strip(),
        action_statement=action_statement.strip(),
        status_notes=status_notes.strip(),
        author=getattr(author, "email", "") or str(author or ""),
        timestamp=timestamp or now,
    )
    vex_statements_stored(statement_ids=[statement.pk])
    return statement


def _authored_document(repository: Repository) -> tuple[VexDocument, datetime]:
    """The repository's AUTHORED document in force, its version and count
    bumped for one more statement, or a new one; and the time, read once the
    repository is locked."""
    # Lock the repository row so two first statements make one document.
    Repository.objects.select_for_update().filter(pk=repository.pk).first()
    now = timezone.now()
    document_id = authored_document_id(repository)
    # A withdrawn authored document stays withdrawn: new words start a new one.
    document = (
        VexDocument.objects.select_for_update()
        .in_force()
        .filter(format=VexDocument.Format.AUTHORED, document_id=document_id)
        .first()
    )
    if document is None:
        created = VexDocument.objects.create(
            format=VexDocument.Format.AUTHORED,
            spec_version="0.2.0",
            document_id=document_id,
            author=settings.SITE_NAME,
            issued_at=now,
            version=1,
            statement_count=1,
        )
        return created, now
    document.version += 1
    document.statement_count += 1
    document.save(update_fields=["version", "statement_count"])
    return document, now
