"""Reads of VEX: the statements in force, the documents publisher staff list,
and what the publisher says about an image as OpenVEX or CycloneDX VEX.

Building the documents is the formats' business (``apps.vulns.formats``); these
reads choose the statements that go into them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from apps.catalog.models import ImageDigest, Repository

from ..formats.cyclonedx_vex import build_cyclonedx
from ..formats.openvex import build_openvex
from ..formats.vex_parsed import ExportStatement, image_purl
from ..models import VexDocument, VexStatement


class NoVexStatements(LookupError):
    """Nothing to export: an OpenVEX document needs at least one statement."""


# --------------------------------------------------------------------------
# VEX statements
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class VexStatementFilter:
    vulnerability: str = ""
    repository: str = ""
    digest: str = ""
    status: str = ""


def vex_statement_list(
    *, filters: VexStatementFilter = VexStatementFilter()
) -> QuerySet[VexStatement]:
    """Statements in force (their document neither superseded nor withdrawn)."""
    statements = VexStatement.objects.in_force().select_related(
        "vulnerability", "document", "repository", "digest"
    )
    if filters.vulnerability:
        statements = statements.filter(vulnerability__vuln_id=filters.vulnerability)
    if filters.repository:
        statements = statements.filter(repository__name=filters.repository)
    if filters.digest:
        statements = statements.filter(digest__digest=filters.digest)
    if filters.status:
        statements = statements.filter(status=filters.status)
    return statements


def repository_has_vex(*, repository_id: int) -> bool:
    """Whether the repository's OpenVEX download has anything to say (the
    export answers 404 when no statement in force is about it)."""
    return VexStatement.objects.in_force().filter(repository_id=repository_id).exists()


def digest_vex_statements(*, image: ImageDigest) -> QuerySet[VexStatement]:
    """Statements about this build, and those about its whole repository
    (a statement naming the image without a digest covers every build)."""
    repository_id = image.variant.series.repository_id
    return (
        VexStatement.objects.in_force()
        .filter(Q(digest=image) | Q(digest__isnull=True, repository_id=repository_id))
        .select_related("vulnerability", "document")
        .order_by("-timestamp", "-id")
    )


# --------------------------------------------------------------------------
# VEX documents (publisher staff)
# --------------------------------------------------------------------------


def vex_document_list() -> QuerySet[VexDocument]:
    """Every document, in force or not, newest import first."""
    return VexDocument.objects.select_related("superseded_by", "withdrawn_by").order_by(
        "-imported_at", "-id"
    )


def vex_document_subjects(*, document_ids: list[int]) -> dict[int, list[str]]:
    """The images each document's products name (repository names, or bare
    digests), in one query: what tells apart documents that share an id."""
    subjects: dict[int, set[str]] = {}
    rows = (
        VexStatement.objects.filter(document_id__in=document_ids)
        .values_list("document_id", "named_repository", "named_digest")
        .distinct()
    )
    for document_id, name, digest in rows:
        if name or digest:
            subjects.setdefault(document_id, set()).add(name or digest)
    return {pk: sorted(names) for pk, names in subjects.items()}


@dataclass(frozen=True)
class StatementSummary:
    """One statement of a document as it states it, however many rows (one
    per product and component) it is stored as."""

    index: int
    vulnerability: str
    status: str
    justification: str
    products: tuple[str, ...]
    components: int
    repositories: tuple[str, ...]
    rows: int


def _justification_label(value: str) -> str:
    if value in VexStatement.Justification.values:
        return str(VexStatement.Justification(value).label)
    return value


def vex_document_statements(*, document: VexDocument) -> list[StatementSummary]:
    """The document's statements by their index, in one query."""
    grouped: dict[int, dict] = {}
    rows = (
        document.statements.order_by("statement_index", "id")
        .values_list(
            "statement_index",
            "vulnerability__vuln_id",
            "status",
            "justification",
            "product",
            "subcomponent",
            "repository__name",
        )
        .iterator(2000)
    )
    for index, vuln, status, justification, product, sub, repository in rows:
        entry = grouped.setdefault(
            index,
            {
                "vulnerability": vuln,
                "status": status,
                "justification": justification,
                "products": set(),
                "components": set(),
                "repositories": set(),
                "rows": 0,
            },
        )
        entry["products"].add(product)
        if sub:
            entry["components"].add(sub)
        if repository:
            entry["repositories"].add(repository)
        entry["rows"] += 1
    return [
        StatementSummary(
            index=index,
            vulnerability=entry["vulnerability"],
            status=entry["status"],
            justification=_justification_label(entry["justification"]),
            products=tuple(sorted(entry["products"])),
            components=len(entry["components"]),
            repositories=tuple(sorted(entry["repositories"])),
            rows=entry["rows"],
        )
        for index, entry in sorted(grouped.items())
    ]


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
    rows = (
        VexStatement.objects.in_force()
        .filter(Q(digest=image) | Q(digest__isnull=True, repository=repository))
        .select_related("vulnerability")
    )
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
    rows = (
        VexStatement.objects.in_force()
        .filter(repository=repository)
        .select_related("vulnerability", "digest")
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
