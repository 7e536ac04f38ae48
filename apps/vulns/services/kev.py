"""The CISA Known Exploited Vulnerabilities catalog: read and checked against
CISA's schema (``apps.vulns.formats.kev``), then the KEV flags of the
vulnerabilities it names set in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.utils import timezone

from ..formats.kev import KevEntry, kev_parse
from ..models import AdvisoryImport, Vulnerability


@dataclass
class KevImportReport:
    catalog_version: str = ""
    entries: int = 0
    flagged: int = 0  # vulnerabilities now on the KEV list
    newly_flagged: int = 0
    unflagged: int = 0
    updated: int = 0  # rows whose KEV columns changed
    unmatched: int = 0  # catalog entries no vulnerability here names


@transaction.atomic
def kev_import(*, content: bytes, source: str = "") -> KevImportReport:
    """Flag vulnerabilities on CISA's Known Exploited Vulnerabilities catalog.

    The catalog is checked against CISA's own schema first. A vulnerability is
    flagged when its id or one of its aliases is a catalog CVE; flagged rows no
    longer in the catalog are unflagged. The whole table is read once and only
    changed rows are written, in batches.
    """
    catalog_version, listed = kev_parse(content)
    report = KevImportReport(catalog_version=catalog_version, entries=len(listed))
    changes, matched = _kev_changes(listed, report, now=timezone.now())
    Vulnerability.objects.bulk_update(
        changes,
        ["kev", "kev_date_added", "kev_due_date", "kev_ransomware", "kev_flagged_at"],
        batch_size=1000,
    )
    report.updated = len(changes)
    report.unmatched = len(listed) - len(matched)
    AdvisoryImport.objects.create(
        feed=AdvisoryImport.Feed.KEV,
        source=source[:255],
        version=report.catalog_version[:64],
        records_imported=report.entries,
        records_held=report.flagged,
    )
    return report


def _kev_changes(
    listed: dict[str, KevEntry], report: KevImportReport, *, now
) -> tuple[list[Vulnerability], set[str]]:
    """The rows whose KEV columns must change (the whole table read once, in
    chunks), and the catalog CVEs some row names; counts go to the report."""
    matched: set[str] = set()
    changes: list[Vulnerability] = []
    rows = Vulnerability.objects.values_list(
        "pk",
        "vuln_id",
        "aliases",
        "kev",
        "kev_date_added",
        "kev_due_date",
        "kev_ransomware",
        "kev_flagged_at",
    )
    for pk, vuln_id, aliases, kev, added, due, ransomware, flagged_at in rows.iterator(
        chunk_size=5000
    ):
        current = (kev, added, due, ransomware)
        names = [vuln_id, *(alias for alias in aliases or [] if isinstance(alias, str))]
        cve = next((name for name in names if name in listed), None)
        wanted: tuple[bool, date | None, date | None, bool]
        if cve is None:
            wanted = (False, None, None, False)
        else:
            matched.add(cve)
            wanted = (True, *listed[cve])
            report.flagged += 1
        if current == wanted:
            continue
        if wanted[0] and not current[0]:
            report.newly_flagged += 1
        if current[0] and not wanted[0]:
            report.unflagged += 1
        changes.append(
            Vulnerability(
                pk=pk,
                kev=wanted[0],
                kev_date_added=wanted[1],
                kev_due_date=wanted[2],
                kev_ransomware=wanted[3],
                # Kept while listed; cleared when the catalog drops it.
                kev_flagged_at=(flagged_at or now) if wanted[0] else None,
            )
        )
    return changes, matched
