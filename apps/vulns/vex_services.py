"""VEX writes and exports: import a document, author a statement, export what the
publisher says about an image as OpenVEX or CycloneDX VEX.

Parsing and document building live in ``vex``; this module does the reads and
writes around them. An import is one transaction, and everything that can refuse
a document runs before its first write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.catalog.models import ImageDigest, Repository
from apps.sla.triggers import vex_statements_stored

from .models import VexDocument, VexStatement, Vulnerability
from .vex import (
    ExportStatement,
    build_cyclonedx,
    build_openvex,
    image_purl,
    parse_vex,
    product_target,
    statement_problems,
)


class NoVexStatements(LookupError):
    """Nothing to export: an OpenVEX document needs at least one statement."""


# --------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------


@transaction.atomic
def vex_import(*, content: bytes) -> VexDocument:
    """Import an OpenVEX or CycloneDX VEX document; the same bytes twice are one
    document (the second import is a no-op and returns the first).

    Refuses bad input with a ``ValidationError`` on ``document`` (see ``vex``
    for the codes), leaving nothing written.
    """
    sha256 = hashlib.sha256(content).hexdigest()
    existing = VexDocument.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    parsed = parse_vex(content, max_bytes=settings.EVIDENCE_MAX_BYTES)

    vulnerabilities = _vulnerabilities_ensure({s.vuln_id for s in parsed.statements})
    targets = _catalog_targets({s.product for s in parsed.statements})
    try:
        with transaction.atomic():
            document = VexDocument.objects.create(
                format=parsed.format,
                spec_version=parsed.spec_version,
                document_id=parsed.document_id,
                author=parsed.author,
                issued_at=parsed.issued_at,
                version=parsed.version,
                sha256=sha256,
                raw=parsed.raw,
            )
    except IntegrityError:
        # The same document imported concurrently: the other import won.
        return VexDocument.objects.get(sha256=sha256)
    VexStatement.objects.bulk_create(
        [
            VexStatement(
                document=document,
                vulnerability_id=vulnerabilities[s.vuln_id],
                product=s.product,
                subcomponent=s.subcomponent,
                repository=targets[s.product][0],
                digest=targets[s.product][1],
                status=s.status,
                justification=s.justification,
                impact_statement=s.impact_statement,
                action_statement=s.action_statement,
                status_notes=s.status_notes,
                author=parsed.author,
                timestamp=s.timestamp,
            )
            for s in sorted(parsed.statements, key=lambda s: s.key)
        ],
        batch_size=500,
    )
    vex_statements_stored(
        statement_ids=document.statements.filter(
            status=VexStatement.Status.NOT_AFFECTED
        ).values_list("pk", flat=True)
    )
    return document


def _vulnerabilities_ensure(vuln_ids: set[str]) -> dict[str, int]:
    """Primary keys by vuln_id, creating bare rows for ids not seen before (a
    later OSV import fills them in)."""
    known = dict(
        Vulnerability.objects.filter(vuln_id__in=vuln_ids).values_list("vuln_id", "pk")
    )
    missing = sorted(vuln_ids - known.keys())
    if missing:
        Vulnerability.objects.bulk_create(
            [Vulnerability(vuln_id=vuln_id) for vuln_id in missing],
            ignore_conflicts=True,
        )
        known.update(
            Vulnerability.objects.filter(vuln_id__in=missing).values_list(
                "vuln_id", "pk"
            )
        )
    return known


def _catalog_targets(
    products: Iterable[str],
) -> dict[str, tuple[Repository | None, ImageDigest | None]]:
    """The repository and digest each product names, where the catalog has them:
    a build by its digest, else the repository by name."""
    named = {product: product_target(product) for product in products}
    digests = {
        image.digest: image
        for image in ImageDigest.objects.filter(
            digest__in={d for d, _ in named.values() if d}
        ).select_related("variant__series__repository")
    }
    repositories = {
        repository.name: repository
        for repository in Repository.objects.filter(
            name__in={n for _, n in named.values() if n}
        )
    }
    targets: dict[str, tuple[Repository | None, ImageDigest | None]] = {}
    for product, (digest, name) in named.items():
        image = digests.get(digest) if digest else None
        if image is not None:
            targets[product] = (image.variant.series.repository, image)
        else:
            targets[product] = (repositories.get(name) if name else None, None)
    return targets


# --------------------------------------------------------------------------
# Authoring
# --------------------------------------------------------------------------


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

    # Lock the repository row so two first statements make one document.
    Repository.objects.select_for_update().filter(pk=repository.pk).first()
    now = timezone.now()
    document_id = authored_document_id(repository)
    document = (
        VexDocument.objects.select_for_update()
        .filter(format=VexDocument.Format.AUTHORED, document_id=document_id)
        .first()
    )
    if document is None:
        document = VexDocument.objects.create(
            format=VexDocument.Format.AUTHORED,
            spec_version="0.2.0",
            document_id=document_id,
            author=settings.SITE_NAME,
            issued_at=now,
            version=1,
        )
    else:
        document.version += 1
        document.save(update_fields=["version"])
    vulnerabilities = _vulnerabilities_ensure({vulnerability_id.strip()})
    statement = VexStatement.objects.create(
        document=document,
        vulnerability_id=vulnerabilities[vulnerability_id.strip()],
        product=image_purl(repository.name, image.digest if image else None),
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


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


def _in_force(statements: Iterable[VexStatement], key) -> list[VexStatement]:
    """The newest statement per key; on equal timestamps the later row wins."""
    newest: dict[Any, VexStatement] = {}
    for statement in sorted(statements, key=lambda s: (s.timestamp, s.pk)):
        newest[key(statement)] = statement
    return list(newest.values())


def _export_statement(statement: VexStatement, product: str) -> ExportStatement:
    vulnerability = statement.vulnerability
    aliases = sorted(
        {
            alias
            for alias in vulnerability.aliases or []
            if isinstance(alias, str) and alias and alias != vulnerability.vuln_id
        }
    )
    return ExportStatement(
        vuln_id=vulnerability.vuln_id,
        product=product,
        subcomponent=statement.subcomponent,
        status=statement.status,
        timestamp=statement.timestamp,
        justification=statement.justification,
        impact_statement=statement.impact_statement,
        action_statement=statement.action_statement,
        status_notes=statement.status_notes,
        aliases=tuple(aliases),
    )


def _digest_statements(image: ImageDigest) -> list[ExportStatement]:
    """What is in force for a build: statements about it, and those about its
    whole repository (a product without a digest covers every build)."""
    repository = image.variant.series.repository
    rows = VexStatement.objects.filter(
        Q(digest=image) | Q(digest__isnull=True, repository=repository)
    ).select_related("vulnerability")
    product = image_purl(repository.name, image.digest)
    return [
        _export_statement(row, product)
        for row in _in_force(rows, key=lambda s: (s.vulnerability_id, s.subcomponent))
    ]


def _id_prefix() -> str:
    return f"{settings.SITE_URL.rstrip('/')}/vex/openvex/"


def openvex_export_for_digest(*, image: ImageDigest) -> dict[str, Any]:
    """OpenVEX v0.2.0 for one build; raises ``NoVexStatements`` if none apply."""
    statements = _digest_statements(image)
    if not statements:
        raise NoVexStatements(f"No VEX statement applies to {image.digest}.")
    return build_openvex(
        statements=statements, author=settings.SITE_NAME, id_prefix=_id_prefix()
    )


def openvex_export_for_repository(*, repository: Repository) -> dict[str, Any]:
    """OpenVEX v0.2.0 for a repository: statements about each of its builds
    (products ``pkg:oci/<name>@sha256:...``) and about all of them
    (``pkg:oci/<name>``). Raises ``NoVexStatements`` if there are none."""
    rows = VexStatement.objects.filter(repository=repository).select_related(
        "vulnerability", "digest"
    )
    in_force = _in_force(
        rows, key=lambda s: (s.digest_id, s.vulnerability_id, s.subcomponent)
    )
    statements = [
        _export_statement(
            row,
            image_purl(repository.name, row.digest.digest if row.digest else None),
        )
        for row in in_force
    ]
    if not statements:
        raise NoVexStatements(f"No VEX statement is about {repository.name}.")
    return build_openvex(
        statements=statements, author=settings.SITE_NAME, id_prefix=_id_prefix()
    )


def cyclonedx_vex_export_for_digest(*, image: ImageDigest) -> dict[str, Any]:
    """CycloneDX 1.6 VEX for one build (an empty ``vulnerabilities`` list when
    nothing applies: unlike OpenVEX, CycloneDX can say that)."""
    repository = image.variant.series.repository
    return build_cyclonedx(
        statements=_digest_statements(image),
        subject=image_purl(repository.name, image.digest),
        author=settings.SITE_NAME,
        fallback_timestamp=image.built_at,
    )
