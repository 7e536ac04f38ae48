"""VEX writes: import a document (a newer version supersedes the older), link
statements to what the catalog registers later, withdraw a document.

Parsing lives in ``apps.vulns.formats.vex``; this module does the writes around it. An
import is one transaction, and everything that can refuse a document runs
before its first write. Statements the publisher writes are in
``vex_authoring``; exports are reads (``apps.vulns.selectors.vex``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import ImageDigest, Repository
from apps.sla.triggers import vex_statements_changed, vex_statements_stored

from ..formats.vex import parse_vex
from ..formats.vex_parsed import ParsedDocument, product_target
from ..models import VexDocument, VexStatement, Vulnerability

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What a statement's product names in the catalog: (digest, repository name).
Named = tuple[str | None, str | None]


# --------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------


def _version_key(
    version: int, issued_at: datetime | None, newest_statement: datetime | None
) -> tuple[int, datetime]:
    """Which of two versions of a document is the newer: the higher version,
    then the later document timestamp; a document without one (legacy
    OpenVEX, CycloneDX without metadata.timestamp) is dated by its newest
    statement."""
    return (version, issued_at or newest_statement or EPOCH)


@transaction.atomic
def vex_import(*, content: bytes) -> VexDocument:
    """Import an OpenVEX or CycloneDX VEX document; the same bytes twice are one
    document (the second import is a no-op and returns the first).

    A newer version of a document already imported (same identity, see
    ``vex.document_identity``; higher version, or the same version issued
    later) replaces it: the older one is kept, marked superseded, and its
    statements leave force; the clocks they stopped follow the new ones. An
    older or conflicting version is refused (``stale_version``).

    Refuses bad input with a ``ValidationError`` on ``document`` (see ``vex``
    for the codes), leaving nothing written.
    """
    sha256 = hashlib.sha256(content).hexdigest()
    existing = VexDocument.objects.filter(sha256=sha256).first()
    if existing is not None:
        return existing
    parsed = parse_vex(content, max_bytes=settings.EVIDENCE_MAX_BYTES)
    identity = parsed.identity
    replaced = _versions_replaced(parsed, identity)

    vulnerabilities = vulnerabilities_ensure({s.vuln_id for s in parsed.statements})
    named = {s.product: product_target(s.product) for s in parsed.statements}
    targets = _catalog_targets(named)
    try:
        with transaction.atomic():
            document = VexDocument.objects.create(
                format=parsed.format,
                spec_version=parsed.spec_version,
                document_id=parsed.document_id,
                identity=identity,
                author=parsed.author,
                issued_at=parsed.issued_at,
                version=parsed.version,
                sha256=sha256,
                raw=parsed.raw,
                statement_count=parsed.statement_count,
            )
    except IntegrityError:
        # The same document imported concurrently: the other import won.
        return VexDocument.objects.get(sha256=sha256)
    _statements_store(document, parsed, vulnerabilities, named, targets)
    withdrawn = _versions_supersede(replaced, document)
    vex_statements_changed(
        withdrawn_ids=withdrawn,
        stored_ids=_not_affected_ids(document),
        reason=f"Superseded by version {document.version} of {_name(document)}.",
    )
    return document


def _statements_store(
    document: VexDocument,
    parsed: ParsedDocument,
    vulnerabilities: dict[str, int],
    named: dict[str, Named],
    targets: dict[str, tuple[Repository | None, ImageDigest | None]],
) -> None:
    """The document's statements, one row per product and component."""
    VexStatement.objects.bulk_create(
        [
            VexStatement(
                document=document,
                statement_index=s.index,
                vulnerability_id=vulnerabilities[s.vuln_id],
                product=s.product,
                subcomponent=s.subcomponent,
                named_digest=named[s.product][0] or "",
                named_repository=named[s.product][1] or "",
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


def _versions_supersede(
    replaced: list[VexDocument], document: VexDocument
) -> list[int]:
    """Mark the versions ``document`` replaces superseded (audited); returns
    the pks of their statements, which leave force."""
    now = timezone.now()
    withdrawn: list[int] = []
    for old in replaced:
        old.superseded_by = document
        old.superseded_at = now
        old.save(update_fields=["superseded_by", "superseded_at"])
        withdrawn += list(old.statements.values_list("pk", flat=True))
        audit_record(
            action=AuditEvent.Action.VEX_SUPERSEDED,
            target=old,
            details={
                "document": old.pk,
                "document_id": old.document_id,
                "version": old.version,
                "superseded_by": document.pk,
                "new_version": document.version,
            },
        )
    return withdrawn


@dataclass(frozen=True)
class VexImported:
    """What an import reports, at every door and in its audit record: the
    document's own count of statements (not its rows), how many of them are
    about images in the catalog, and the versions it replaced."""

    id: int
    document_id: str
    version: int
    statements: int
    about_catalog: int
    replaced: str

    def text(self, format_label: str, spec_version: str) -> str:
        replaced = f" It replaces document {self.replaced}." if self.replaced else ""
        return (
            f"Imported {format_label} {spec_version} document "
            f"{self.document_id or self.id} version {self.version}: "
            f"{self.statements} statement{'' if self.statements == 1 else 's'}, "
            f"{self.about_catalog} about images in the catalog.{replaced}"
        )


def vex_imported(document: VexDocument) -> VexImported:
    about = (
        document.statements.filter(repository__isnull=False)
        .values("statement_index")
        .distinct()
        .count()
    )
    replaced = ", ".join(
        str(pk)
        for pk in document.supersedes.order_by("pk").values_list("pk", flat=True)
    )
    return VexImported(
        id=document.pk,
        document_id=document.document_id,
        version=document.version,
        statements=document.statement_count,
        about_catalog=about,
        replaced=replaced,
    )


def _name(document: VexDocument) -> str:
    return document.document_id or f"VEX document {document.pk}"


def _not_affected_ids(document: VexDocument) -> list[int]:
    return list(
        document.statements.filter(status=VexStatement.Status.NOT_AFFECTED).values_list(
            "pk", flat=True
        )
    )


def _versions_replaced(parsed: ParsedDocument, identity: str) -> list[VexDocument]:
    """The versions in force that ``parsed`` replaces (locked), or a refusal
    when a version as new or newer was imported before."""
    if not identity:
        return []
    versions = list(
        VexDocument.objects.select_for_update().filter(identity=identity).order_by("pk")
    )
    if not versions:
        return []
    incoming = _version_key(
        parsed.version,
        parsed.issued_at,
        max((st.timestamp for st in parsed.statements), default=None),
    )
    dated: dict[int, datetime] = {
        pk: newest
        for pk, newest in VexStatement.objects.filter(document__in=versions)
        .values("document_id")
        .annotate(newest=Max("timestamp"))
        .values_list("document_id", "newest")
    }
    newest = max(
        versions, key=lambda d: _version_key(d.version, d.issued_at, dated.get(d.pk))
    )
    if _version_key(newest.version, newest.issued_at, dated.get(newest.pk)) >= (
        incoming
    ):
        issued = (
            f", issued {newest.issued_at:%Y-%m-%d %H:%M} UTC"
            if newest.issued_at
            else ""
        )
        raise ValidationError(
            {
                "document": ValidationError(
                    f"{_name(newest)} version {newest.version}{issued} was imported "
                    f"before (document {newest.pk}); this copy is version "
                    f"{parsed.version}, dated no later, with different content. A "
                    "corrected document needs a higher version or a later "
                    "timestamp.",
                    code="stale_version",
                )
            }
        )
    return [d for d in versions if d.in_force]


def vulnerabilities_ensure(vuln_ids: set[str]) -> dict[str, int]:
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
    named: dict[str, Named],
) -> dict[str, tuple[Repository | None, ImageDigest | None]]:
    """The repository and digest each product names, where the catalog has them
    (``named``: product -> ``product_target``). A product naming a build is
    linked once that build is registered, never to its whole repository before:
    a statement about one build says nothing about the others."""
    digests = {
        image.digest: image
        for image in ImageDigest.objects.filter(
            digest__in={d for d, _ in named.values() if d}
        ).select_related("variant__series__repository")
    }
    repositories = {
        repository.name: repository
        for repository in Repository.objects.filter(
            name__in={n for d, n in named.values() if n and not d}
        )
    }
    targets: dict[str, tuple[Repository | None, ImageDigest | None]] = {}
    for product, (digest, name) in named.items():
        if digest:
            image = digests.get(digest)
            targets[product] = (
                (image.variant.series.repository, image) if image else (None, None)
            )
        else:
            targets[product] = (repositories.get(name) if name else None, None)
    return targets


# --------------------------------------------------------------------------
# Linking statements to what the catalog registers later
# --------------------------------------------------------------------------


@transaction.atomic
def vex_statements_link(
    *,
    repositories: Iterable[Repository] = (),
    images: Iterable[ImageDigest] = (),
) -> int:
    """Link statements that name these repositories or builds but were
    imported before the catalog had them; returns how many rows were linked.

    A not_affected statement linked here stops the clocks it covers, as at
    import. Called by the catalog whenever it registers a repository or a
    build (``apps.catalog.services``).
    """
    linked: list[int] = []
    for repository in repositories:
        rows = VexStatement.objects.filter(
            named_repository=repository.name,
            named_digest="",
            repository__isnull=True,
        )
        ids = list(rows.values_list("pk", flat=True))
        if ids:
            VexStatement.objects.filter(pk__in=ids).update(repository=repository)
            linked += ids
    for image in images:
        rows = VexStatement.objects.filter(
            named_digest=image.digest, digest__isnull=True
        )
        ids = list(rows.values_list("pk", flat=True))
        if ids:
            VexStatement.objects.filter(pk__in=ids).update(
                digest=image, repository_id=image.variant.series.repository_id
            )
            linked += ids
    if linked:
        vex_statements_stored(
            statement_ids=VexStatement.objects.in_force()
            .filter(pk__in=linked, status=VexStatement.Status.NOT_AFFECTED)
            .values_list("pk", flat=True)
        )
    return len(linked)


# --------------------------------------------------------------------------
# Withdrawing
# --------------------------------------------------------------------------


@transaction.atomic
def vex_document_withdraw(
    *,
    document: VexDocument,
    actor: Any,
    reason: str,
    request: HttpRequest | None = None,
) -> VexDocument:
    """Publisher staff take a document out of force, saying why. It stays in
    the history; the clocks its statements stopped run again (their deadlines
    never moved), unless another statement in force covers them."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the document is withdrawn."})
    if actor is None or not getattr(actor, "is_staff", False):
        raise ValidationError({"reason": "Only publisher staff withdraw VEX."})
    document = VexDocument.objects.select_for_update().get(pk=document.pk)
    if document.withdrawn_at is not None:
        raise ValidationError(
            {
                "reason": f"{_name(document)} was withdrawn on "
                f"{document.withdrawn_at:%Y-%m-%d}."
            }
        )
    document.withdrawn_at = timezone.now()
    document.withdrawn_by = actor
    document.withdrawn_reason = reason
    document.save(update_fields=["withdrawn_at", "withdrawn_by", "withdrawn_reason"])
    audit_record(
        action=AuditEvent.Action.VEX_WITHDRAWN,
        actor=actor,
        target=document,
        request=request,
        details={
            "document": document.pk,
            "document_id": document.document_id,
            "version": document.version,
            "statements": document.statement_count,
            "reason": reason,
        },
    )
    vex_statements_changed(
        withdrawn_ids=list(document.statements.values_list("pk", flat=True)),
        stored_ids=[],
        reason=f"{_name(document)} was withdrawn: {reason}",
    )
    return document
