"""OSV feeds: every record checked before anything is written, then all of
them written in one transaction, each new content kept as a revision."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.catalog.generation import catalog_changed
from apps.core.bulk import bulk_insert

from ..formats.osv import (
    OsvDocument,
    OsvError,
    ParsedVulnerability,
    json_load,
    osv_documents,
    osv_parse,
)
from ..models import (
    AdvisoryImport,
    AffectedPackage,
    Finding,
    Vulnerability,
)
from . import revisions
from .batches import BATCH

# Parsed records are kept between the checking pass and the writing pass while
# their source stays under this many bytes; past it they are parsed again, so a
# full database dump is imported in bounded memory.
KEEP_PARSED_BYTES = 64 * 1024 * 1024
MAX_ERRORS_SHOWN = 20


@dataclass
class OsvImportReport:
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    affected_packages: int = 0
    ecosystems: int = 0  # OSV ecosystems the records name
    stale: int = 0  # changed, but older than the record in force: not applied
    revisions: int = 0  # revisions delivered (a known one is not stored twice)
    findings_withdrawn: int = 0
    findings_restored: int = 0
    fix_times_set: int = 0


def _osv_sources(
    records: list[object] | None, path: Path | None, max_bytes: int
) -> Iterator[tuple[str, object, int]]:
    """(name for messages, bytes or decoded JSON, size in bytes) of each record.

    A missing path or a file over the size limit stops the import at once;
    what is wrong inside a record is found by ``_osv_read``.
    """
    if path is not None:
        for document in osv_documents(path, max_bytes=max_bytes):
            yield document.name, document.content, len(document.content)
        return
    for index, record in enumerate(records or []):
        name = f"records[{index}]"
        if isinstance(record, bytes | str):
            content = record.encode() if isinstance(record, str) else record
            if len(content) > max_bytes:
                raise OsvError(f"{name}: over the {max_bytes}-byte limit")
            yield name, content, len(content)
        else:
            yield name, record, 0


def _osv_read(name: str, raw: object) -> ParsedVulnerability:
    data = json_load(OsvDocument(name, raw)) if isinstance(raw, bytes) else raw
    return osv_parse(data, source=name)


def osv_import(
    *,
    records: Iterable[object] | None = None,
    path: str | Path | None = None,
    source: str = "",
) -> OsvImportReport:
    """Import OSV records: JSON objects (or their bytes), or a directory or zip.

    Every record is checked before anything is written, and all of them are
    written in one transaction: a feed with one bad record is refused whole,
    with every problem found named by file and path, and nothing half-written.
    An unchanged record (same content hash) is left alone; a changed one is
    updated in place, its affected packages replaced; KEV flags are kept.
    Every new content of a record is kept as a revision, and a changed record
    revises the findings matched against it (``revisions``); one older than
    the record in force is kept but not applied. Each ecosystem the records
    name is recorded as imported now from ``source`` (an AdvisoryImport row),
    with its record counts.
    """
    if (records is None) == (path is None):
        raise ValidationError("Give OSV records or a path, not both or neither.")
    max_bytes = settings.EVIDENCE_MAX_BYTES
    record_list = None if records is None else list(records)
    source_path = None if path is None else Path(path)

    kept = _osv_check(
        record_list, source_path, max_bytes, where=path or "the records given"
    )
    if kept is None:
        parsed_records: Iterable[ParsedVulnerability] = (
            _osv_read(name, raw)
            for name, raw, _ in _osv_sources(record_list, source_path, max_bytes)
        )
    else:
        parsed_records = kept
    try:
        return _osv_store(parsed_records, source=source)
    except OsvError as exc:
        # Only if a file changed between the two passes.
        raise ValidationError(str(exc)) from None


def _osv_check(
    record_list: list[object] | None,
    source_path: Path | None,
    max_bytes: int,
    *,
    where: str | Path,
) -> list[ParsedVulnerability] | None:
    """The checking pass: every record parsed, every problem named, nothing
    written. Returns the parsed records, or None when they were too large to
    keep (the writing pass parses them again)."""
    errors: list[str] = []
    seen: dict[str, tuple[str, str]] = {}
    kept: list[ParsedVulnerability] | None = []
    kept_bytes = 0
    try:
        for name, raw, size in _osv_sources(record_list, source_path, max_bytes):
            try:
                parsed = _osv_read(name, raw)
            except OsvError as exc:
                errors.append(str(exc))
                continue
            previous = seen.get(parsed.vuln_id)
            if previous and previous[1] != parsed.source_sha256:
                errors.append(
                    f"{name}: {parsed.vuln_id} is also in {previous[0]} with "
                    "different content"
                )
            seen[parsed.vuln_id] = (name, parsed.source_sha256)
            kept_bytes += size
            if kept is not None:
                kept.append(parsed)
                if kept_bytes > KEEP_PARSED_BYTES:
                    kept = None
    except OsvError as exc:
        raise ValidationError(str(exc)) from None
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        if len(errors) > MAX_ERRORS_SHOWN:
            shown.append(f"... and {len(errors) - MAX_ERRORS_SHOWN} more problems")
        raise ValidationError(shown)
    if not seen:
        raise ValidationError(f"No OSV records found in {where}.")
    return kept


@transaction.atomic
def _osv_store(
    parsed_records: Iterable[ParsedVulnerability], *, source: str
) -> OsvImportReport:
    """The writing pass, in one transaction: records in batches, then the
    import row of each ecosystem they name."""
    report = OsvImportReport()
    written: set[str] = set()
    ecosystems: dict[tuple[str, str, str], int] = defaultdict(int)
    now = timezone.now()
    # Revision pk and the record's first ecosystem, to link to its import row.
    stored: dict[str, tuple[int, tuple[str, str, str] | None]] = {}
    batch: list[ParsedVulnerability] = []
    for parsed in parsed_records:
        if parsed.vuln_id in written:
            continue  # the same record twice in one feed
        written.add(parsed.vuln_id)
        for key in {(a.ecosystem, a.purl_type, a.distro) for a in parsed.affected}:
            ecosystems[key] += 1
        batch.append(parsed)
        if len(batch) >= BATCH:
            stored |= _osv_write(batch, report, source=source, now=now)
            batch = []
    if batch:
        stored |= _osv_write(batch, report, source=source, now=now)
    imports = _osv_imports_record(ecosystems, source, now)
    report.ecosystems = len(imports)
    revisions.revisions_link_imports(stored, imports)
    # Cached catalog answers name the sources builds were assessed
    # against, with their import times.
    catalog_changed()
    return report


def _osv_imports_record(
    ecosystems: dict[tuple[str, str, str], int], source: str, now: datetime
) -> list[AdvisoryImport]:
    """One AdvisoryImport row per ecosystem of an import, with the records it
    brought and the records now stored for that ecosystem (one count query)."""
    if not ecosystems:
        return []
    held: dict[tuple[str, str, str], int] = defaultdict(int)
    rows = (
        AffectedPackage.objects.filter(ecosystem__in={key[0] for key in ecosystems})
        .values_list("ecosystem", "purl_type", "distro")
        .annotate(n=Count("vulnerability_id", distinct=True))
        .order_by()
    )
    for ecosystem, purl_type, distro, n in rows:
        held[(ecosystem, purl_type, distro)] = n
    return AdvisoryImport.objects.bulk_create(
        [
            AdvisoryImport(
                feed=AdvisoryImport.Feed.OSV,
                ecosystem=ecosystem[:100],
                purl_type=purl_type,
                distro=distro,
                source=source[:255],
                records_imported=count,
                records_held=held[(ecosystem, purl_type, distro)],
                imported_at=now,
            )
            for (ecosystem, purl_type, distro), count in sorted(ecosystems.items())
        ],
        batch_size=BATCH,
    )


AFFECTED_FIELDS = (
    "vulnerability_id",
    "ecosystem",
    "purl_type",
    "package_name",
    "distro",
    "ranges",
    "versions",
    "fix_seen_at",
    "fix_seen_in_id",
)
# A new record's KEV columns start clear; the KEV import sets them.
_KEV_CLEAR = {"kev": False, "kev_ransomware": False}


def _vulnerabilities_insert(new: list[ParsedVulnerability]) -> dict[str, int]:
    """Insert new records' rows; their primary keys by vuln_id.

    A row another import inserted meanwhile is not skipped: it is given this
    record's content, as an update would.
    """
    if not new:
        return {}
    fields = ["vuln_id", *new[0].vulnerability_fields(), *_KEV_CLEAR]
    rows = [
        (p.vuln_id, *p.vulnerability_fields().values(), *_KEV_CLEAR.values())
        for p in new
    ]
    pks = dict(bulk_insert(Vulnerability, fields, rows, returning=("vuln_id", "id")))
    late = [p for p in new if p.vuln_id not in pks]
    if late:
        pks.update(
            Vulnerability.objects.filter(
                vuln_id__in=[p.vuln_id for p in late]
            ).values_list("vuln_id", "pk")
        )
        if connection.vendor == "postgresql":
            for parsed in late:
                Vulnerability.objects.filter(pk=pks[parsed.vuln_id]).update(
                    **parsed.vulnerability_fields()
                )
    return pks


# A stored record: (pk, content hash, modified time).
Stored = tuple[int, str, datetime | None]


def _osv_write(
    batch: list[ParsedVulnerability],
    report: OsvImportReport,
    *,
    source: str,
    now: datetime,
) -> dict[str, tuple[int, tuple[str, str, str] | None]]:
    """Write one batch of records: new ones inserted, changed ones updated and
    their findings revised, each new content kept as a revision. Returns, per
    record, its revision pk and first ecosystem (to link its import row)."""
    existing = {
        vuln_id: (pk, sha256, modified_at)
        for vuln_id, pk, sha256, modified_at in Vulnerability.objects.filter(
            vuln_id__in=[parsed.vuln_id for parsed in batch]
        ).values_list("vuln_id", "pk", "source_sha256", "modified_at")
    }
    new, changed, stale = _osv_sort(batch, existing, report)
    before = revisions.in_force_read([existing[p.vuln_id][0] for p in changed])

    pks = _vulnerabilities_insert(new)
    revision_items = [
        (pks[p.vuln_id], p, True, revisions.revision_changes(p, None)) for p in new
    ]
    for parsed, applied in [(p, True) for p in changed] + [(p, False) for p in stale]:
        pk = existing[parsed.vuln_id][0]
        revision_items.append(
            (
                pk,
                parsed,
                applied,
                revisions.revision_changes(parsed, before.get(pk), applied=applied),
            )
        )
    revision_pks = revisions.revisions_write(revision_items, source=source, now=now)
    report.revisions += len(revision_items)
    if changed:
        _vulnerabilities_update(changed, existing)
        pks.update((p.vuln_id, existing[p.vuln_id][0]) for p in changed)

    rows = _affected_rows(new + changed, pks, before, revision_pks, now)
    bulk_insert(AffectedPackage, AFFECTED_FIELDS, rows)
    report.affected_packages += len(rows)
    revised = revisions.findings_revise(
        [(pks[p.vuln_id], p, before[pks[p.vuln_id]]) for p in changed], now=now
    )
    report.findings_withdrawn += len(revised.withdrawn)
    report.findings_restored += len(revised.restored)
    report.fix_times_set += len(revised.fix_times_set)
    return {
        parsed.vuln_id: (
            revision_pks[parsed.vuln_id],
            next(((a.ecosystem, a.purl_type, a.distro) for a in parsed.affected), None),
        )
        for parsed in new + changed + stale
    }


def _osv_sort(
    batch: list[ParsedVulnerability],
    existing: dict[str, Stored],
    report: OsvImportReport,
) -> tuple[
    list[ParsedVulnerability], list[ParsedVulnerability], list[ParsedVulnerability]
]:
    """(new, changed, stale) records of a batch, counted in the report; an
    unchanged record (same content hash) is in none of them."""
    new = [parsed for parsed in batch if parsed.vuln_id not in existing]
    differing = [
        parsed
        for parsed in batch
        if parsed.vuln_id in existing
        and existing[parsed.vuln_id][1] != parsed.source_sha256
    ]
    stale = [
        parsed
        for parsed in differing
        if revisions.revision_is_stale(parsed.modified_at, existing[parsed.vuln_id][2])
    ]
    stale_ids = {parsed.vuln_id for parsed in stale}
    changed = [parsed for parsed in differing if parsed.vuln_id not in stale_ids]
    report.records += len(batch)
    report.created += len(new)
    report.updated += len(changed)
    report.stale += len(stale)
    report.unchanged += len(batch) - len(new) - len(differing)
    return new, changed, stale


def _vulnerabilities_update(
    changed: list[ParsedVulnerability], existing: dict[str, Stored]
) -> None:
    """Changed records' rows rewritten, their affected packages cleared (the
    caller inserts the new ones) and their findings given the new severity."""
    fields = list(changed[0].vulnerability_fields())
    Vulnerability.objects.bulk_update(
        [
            Vulnerability(
                pk=existing[parsed.vuln_id][0],
                vuln_id=parsed.vuln_id,
                **parsed.vulnerability_fields(),
            )
            for parsed in changed
        ],
        fields,
    )
    changed_pks = [existing[parsed.vuln_id][0] for parsed in changed]
    AffectedPackage.objects.filter(vulnerability_id__in=changed_pks).delete()
    # Findings carry their vulnerability's severity.
    by_severity: dict[str, list[int]] = defaultdict(list)
    for parsed in changed:
        by_severity[parsed.severity].append(existing[parsed.vuln_id][0])
    for severity, vulnerability_ids in by_severity.items():
        Finding.objects.filter(vulnerability_id__in=vulnerability_ids).exclude(
            severity=severity
        ).update(severity=severity)


def _affected_rows(
    records: list[ParsedVulnerability],
    pks: dict[str, int],
    before: dict[int, revisions.InForce],
    revision_pks: dict[str, int],
    now: datetime,
) -> list[tuple]:
    """AffectedPackage rows (AFFECTED_FIELDS) of new and changed records."""
    rows = []
    for parsed in records:
        vuln_pk = pks[parsed.vuln_id]
        fixes = before[vuln_pk].fixes if vuln_pk in before else {}
        for affected in parsed.affected:
            # The first sighting of a fix is kept across revisions.
            seen: tuple[datetime | None, int | None] = (None, None)
            if affected.has_fix:
                seen = fixes.get((affected.ecosystem, affected.package_name)) or (
                    revisions.fix_seen_time(parsed.modified_at, now),
                    revision_pks[parsed.vuln_id],
                )
            rows.append(
                (
                    vuln_pk,
                    affected.ecosystem,
                    affected.purl_type,
                    affected.package_name,
                    affected.distro,
                    affected.ranges,
                    affected.versions,
                    seen[0],
                    seen[1],
                )
            )
    return rows
