"""Advisories that change: every revision of a record kept, and what a revision
means for the findings matched against the record before.

Feeds re-publish a record when its ranges are corrected, when a fix appears,
or to withdraw it. ``osv.osv_import`` hands each new or changed record here:

- every new content of a record is an AdvisoryRevision, kept whole; a record
  whose ``modified`` is older than the one in force is kept too, but never
  applied (a mirror catching up must not roll an advisory back);
- a withdrawn record withdraws its findings (kept, out of force); published
  again, they come back;
- a changed range withdraws the findings of components it no longer names,
  updates the fixed version of the others, and matches the builds carrying
  its packages again, so newly affected components get findings;
- the first time a record names a fixed version of a package is that
  package's upstream fix time (``fix_seen_time``), kept across revisions on
  its AffectedPackage row and given to the findings that lack one.

The SLA ledger follows through ``apps.sla.triggers.findings_revised``: clocks
stop when their finding is withdrawn, resume when it comes back, and start
from the upstream fix once one is known.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q

from apps.core.bulk import bulk_set

from ..formats.osv import ParsedVulnerability
from ..matching import (
    Affected,
    Matcher,
    component_match_version,
    component_package,
    distro_matches,
    purl_type_normalize,
)
from ..models import (
    AdvisoryImport,
    AdvisoryRevision,
    AffectedPackage,
    Component,
    DigestComponent,
    Finding,
)
from .batches import BATCH, chunks

# A ``modified`` before this is a placeholder, not a time (the Go vulnerability
# database's repository copies say 0001-01-01): the import time stands in.
EARLIEST_REAL_TIME = datetime(1990, 1, 1, tzinfo=UTC)


def fix_seen_time(modified_at: datetime | None, imported_at: datetime) -> datetime:
    """The upstream fix time of a package first seen fixed in a record: the
    record's ``modified``, or the import time when that is earlier (a record
    is not known before it arrives, and under time travel a real record's
    ``modified`` can lie after the import's clock)."""
    if modified_at is None or modified_at < EARLIEST_REAL_TIME:
        return imported_at
    return min(modified_at, imported_at)


def revision_is_stale(
    modified_at: datetime | None, in_force_modified_at: datetime | None
) -> bool:
    """Is a changed record older than the one in force? Then it is kept as a
    revision and not applied. Without both times nothing can be said: the
    record delivered last wins, as before revisions were kept."""
    if modified_at is None or in_force_modified_at is None:
        return False
    return modified_at < in_force_modified_at


def _day(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "?"


def revision_label(vuln_id: str, modified_at: datetime | None) -> str:
    return f"{vuln_id} as modified {_day(modified_at)}"


# --------------------------------------------------------------------------
# Revisions
# --------------------------------------------------------------------------


@dataclass
class InForce:
    """What a changed record's stored version said, read before it is replaced."""

    pk: int
    withdrawn_at: datetime | None
    affected: list[tuple] = field(default_factory=list)
    # (ecosystem, package_name) -> (fix_seen_at, fix_seen_in_id)
    fixes: dict[tuple[str, str], tuple[datetime, int | None]] = field(
        default_factory=dict
    )


def _affected_signature(rows: Iterable[tuple]) -> list[tuple]:
    return sorted(
        (ecosystem, name, distro, json.dumps(ranges, sort_keys=True), sorted(versions))
        for ecosystem, name, distro, ranges, versions in rows
    )


def in_force_read(pks: list[int]) -> dict[int, InForce]:
    """The stored state of changed records: withdrawal, affected entries and
    the fix sightings to carry over (one query per chunk of records)."""
    from ..models import Vulnerability

    found = {
        pk: InForce(pk, withdrawn_at)
        for pk, withdrawn_at in Vulnerability.objects.filter(pk__in=pks).values_list(
            "pk", "withdrawn_at"
        )
    }
    rows: dict[int, list[tuple]] = defaultdict(list)
    for chunk in chunks(pks):
        for vuln_pk, ecosystem, name, distro, ranges, versions, seen, seen_in in (
            AffectedPackage.objects.filter(vulnerability_id__in=chunk)
            .order_by("pk")
            .values_list(
                "vulnerability_id",
                "ecosystem",
                "package_name",
                "distro",
                "ranges",
                "versions",
                "fix_seen_at",
                "fix_seen_in_id",
            )
        ):
            rows[vuln_pk].append((ecosystem, name, distro, ranges, versions))
            if seen is not None:
                known = found[vuln_pk].fixes.get((ecosystem, name))
                if known is None or seen < known[0]:
                    found[vuln_pk].fixes[(ecosystem, name)] = (seen, seen_in)
    for pk, state in found.items():
        state.affected = _affected_signature(rows.get(pk, []))
    return found


def _parsed_signature(parsed: ParsedVulnerability) -> list[tuple]:
    return _affected_signature(
        (a.ecosystem, a.package_name, a.distro, a.ranges, a.versions)
        for a in parsed.affected
    )


def revision_changes(
    parsed: ParsedVulnerability, before: InForce | None, *, applied: bool = True
) -> list[str]:
    """What a revision changed, in words, for staff pages and the API."""
    if not applied:
        return ["older than the record in force: kept, not applied"]
    if before is None:
        return ["first seen"]
    changes = []
    if parsed.withdrawn_at and not before.withdrawn_at:
        changes.append(f"withdrawn {_day(parsed.withdrawn_at)}")
    elif before.withdrawn_at and not parsed.withdrawn_at:
        changes.append("published again (withdrawal removed)")
    changes.extend(
        f"fix first named for {affected.package_name} ({affected.ecosystem})"
        for affected in parsed.affected
        if affected.has_fix
        and (affected.ecosystem, affected.package_name) not in before.fixes
    )
    if _parsed_signature(parsed) != before.affected:
        changes.append("affected packages or ranges changed")
    return changes or ["content changed"]


def revisions_write(
    items: list[tuple[int, ParsedVulnerability, bool, list[str]]],
    *,
    source: str,
    now: datetime,
) -> dict[str, int]:
    """Store a revision per (vulnerability pk, record, applied, changes) whose
    content is not stored yet; {vuln_id: revision pk} of every record given
    (a revision stored before keeps its row)."""
    if not items:
        return {}
    vuln_pks = [pk for pk, *_ in items]
    have = {
        (vuln_pk, sha256): pk
        for chunk in chunks(vuln_pks)
        for pk, vuln_pk, sha256 in AdvisoryRevision.objects.filter(
            vulnerability_id__in=chunk
        ).values_list("pk", "vulnerability_id", "sha256")
    }
    AdvisoryRevision.objects.bulk_create(
        [
            AdvisoryRevision(
                vulnerability_id=vuln_pk,
                modified_at=parsed.modified_at,
                withdrawn_at=parsed.withdrawn_at,
                sha256=parsed.source_sha256,
                raw=parsed.record,
                applied=applied,
                changes=changes,
                source=source[:255],
                imported_at=now,
            )
            for vuln_pk, parsed, applied, changes in items
            if (vuln_pk, parsed.source_sha256) not in have
        ],
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    stored = {
        (vuln_pk, sha256): pk
        for chunk in chunks(vuln_pks)
        for pk, vuln_pk, sha256 in AdvisoryRevision.objects.filter(
            vulnerability_id__in=chunk
        ).values_list("pk", "vulnerability_id", "sha256")
    }
    return {
        parsed.vuln_id: stored[(vuln_pk, parsed.source_sha256)]
        for vuln_pk, parsed, _, _ in items
    }


def revisions_link_imports(
    revisions: dict[str, tuple[int, tuple[str, str, str] | None]],
    imports: Iterable[AdvisoryImport],
) -> None:
    """Point each revision at the import row of its record's first ecosystem."""
    by_key = {(i.ecosystem, i.purl_type, i.distro): i.pk for i in imports}
    grouped: dict[int, list[int]] = defaultdict(list)
    for revision_pk, key in revisions.values():
        if key is not None and key in by_key:
            grouped[by_key[key]].append(revision_pk)
    for import_pk, revision_pks in grouped.items():
        for chunk in chunks(revision_pks):
            AdvisoryRevision.objects.filter(
                pk__in=chunk, advisory_import__isnull=True
            ).update(advisory_import_id=import_pk)


# --------------------------------------------------------------------------
# Findings following their advisory
# --------------------------------------------------------------------------


@dataclass
class RevisedFindings:
    withdrawn: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    fixed_version_changed: int = 0
    fix_times_set: list[int] = field(default_factory=list)
    rematched_digests: int = 0

    @property
    def touched(self) -> list[int]:
        return sorted({*self.withdrawn, *self.restored, *self.fix_times_set})


_FINDING_ROW = (
    "pk",
    "vulnerability_id",
    "status",
    "fixed_version",
    "fixed_published_at",
    "digest_id",
    "component__type",
    "component__namespace",
    "component__name",
    "component__version",
    "component__source_name",
    "component__source_version",
    "component__distro",
)


Entry = tuple[Affected, tuple[str, str]]


def _affected_of(vuln_pks: list[int]) -> dict[int, list[Entry]]:
    """Each record's affected entries as matching reads them, with the
    (purl_type, package_name) each names."""
    found: dict[int, list[Entry]] = defaultdict(list)
    for chunk in chunks(vuln_pks):
        for (
            pk,
            vuln_pk,
            ecosystem,
            purl_type,
            name,
            distro,
            ranges,
            versions,
        ) in AffectedPackage.objects.filter(vulnerability_id__in=chunk).values_list(
            "pk",
            "vulnerability_id",
            "ecosystem",
            "purl_type",
            "package_name",
            "distro",
            "ranges",
            "versions",
        ):
            entry = Affected(
                id=pk,
                vulnerability_id=vuln_pk,
                ecosystem=ecosystem,
                distro=distro,
                ranges=ranges or [],
                versions=frozenset(versions or []),
            )
            found[vuln_pk].append((entry, (purl_type, name)))
    return found


def _still_affects(
    matcher: Matcher, entries: list[Entry], row: tuple
) -> tuple[bool, str]:
    """Does the record still name the finding's component, and fixed where?"""
    type_, namespace, name, version, source_name, source_version, distro = row[6:]
    key = component_package(
        type=type_, namespace=namespace, name=name, source_name=source_name
    )
    match_version = component_match_version(
        type=type_, version=version, source_version=source_version
    )
    for entry, package in entries:
        if package != key or not distro_matches(entry.distro, distro):
            continue
        hit, fixed = matcher.affects(entry, match_version)
        if hit:
            return True, fixed
    return False, ""


def findings_revise(
    revised: list[tuple[int, ParsedVulnerability, InForce]], *, now: datetime
) -> RevisedFindings:
    """Bring the findings of applied revisions in line with them (see the
    module's docstring); the SLA ledger is told which findings changed."""
    result = RevisedFindings()
    if not revised:
        return result
    vuln_pks = [pk for pk, _, _ in revised]
    changes = _FindingChanges()
    entries = _affected_of(vuln_pks)
    matcher = Matcher()
    for vuln_pk, parsed, before in revised:
        _findings_judge(changes, matcher, vuln_pk, parsed, entries.get(vuln_pk, []))
        ranges_changed = _parsed_signature(parsed) != before.affected
        if parsed.withdrawn_at is None and (
            before.withdrawn_at is not None or ranges_changed
        ):
            changes.rematch |= _digests_carrying(parsed)
    _findings_change(changes, result, now)
    result.fix_times_set = finding_fix_times_fill(vulnerability_ids=vuln_pks)
    if changes.rematch:
        # Newly named components get findings; restored ones are checked
        # against newer builds that may have fixed them meanwhile.
        from .findings import findings_match

        result.rematched_digests = len(changes.rematch)
        findings_match(digests=sorted(changes.rematch), now=now)
    if result.touched:
        from apps.sla.triggers import findings_revised

        findings_revised(finding_ids=result.touched)
    return result


@dataclass
class _FindingChanges:
    """What revisions do to findings, gathered before any is written."""

    # reason -> pks of the findings withdrawn for it
    withdraw: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # (pk, whether it was fixed) of the findings that come back
    restore: list[tuple[int, bool]] = field(default_factory=list)
    # fixed version -> pks of the findings that now name it
    fixed_versions: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # builds to match again
    rematch: set[int] = field(default_factory=set)


def _findings_judge(
    changes: _FindingChanges,
    matcher: Matcher,
    vuln_pk: int,
    parsed: ParsedVulnerability,
    entries: list[Entry],
) -> None:
    """Each finding of one record: withdrawn, restored, or its fixed version
    followed, as the record now says."""
    label = revision_label(parsed.vuln_id, parsed.modified_at)
    rows = Finding.objects.filter(vulnerability_id=vuln_pk).values_list(*_FINDING_ROW)
    for row in rows.iterator(chunk_size=5000):
        pk, _, status, fixed_version, fixed_published_at, digest_id = row[:6]
        withdrawn = status == Finding.Status.WITHDRAWN
        if parsed.withdrawn_at is not None:
            if not withdrawn:
                changes.withdraw[
                    f"{parsed.vuln_id} was withdrawn {_day(parsed.withdrawn_at)}."
                ].append(pk)
            continue
        hit, fixed = _still_affects(matcher, entries, row)
        if not hit:
            if not withdrawn:
                changes.withdraw[
                    f"{label} no longer names this component's version as affected."
                ].append(pk)
            continue
        if withdrawn:
            changes.restore.append((pk, fixed_published_at is not None))
            changes.rematch.add(digest_id)
        if fixed[:255] != fixed_version:
            changes.fixed_versions[fixed[:255]].append(pk)


def _findings_change(
    changes: _FindingChanges, result: RevisedFindings, now: datetime
) -> None:
    """Write what the revisions do to findings, in batches."""
    for reason, pks in changes.withdraw.items():
        for chunk in chunks(pks):
            Finding.objects.filter(pk__in=chunk).exclude(
                status=Finding.Status.WITHDRAWN
            ).update(
                status=Finding.Status.WITHDRAWN,
                withdrawn_at=now,
                withdrawn_reason=reason,
            )
        result.withdrawn += pks
    for was_fixed in (True, False):
        pks = [pk for pk, fixed in changes.restore if fixed is was_fixed]
        for chunk in chunks(pks):
            Finding.objects.filter(
                pk__in=chunk, status=Finding.Status.WITHDRAWN
            ).update(
                status=Finding.Status.FIXED if was_fixed else Finding.Status.AFFECTED,
                withdrawn_at=None,
                withdrawn_reason="",
            )
        result.restored += pks
    for fixed, pks in changes.fixed_versions.items():
        for chunk in chunks(pks):
            result.fixed_version_changed += Finding.objects.filter(pk__in=chunk).update(
                fixed_version=fixed
            )


def _digests_carrying(parsed: ParsedVulnerability) -> set[int]:
    """Builds whose SBOM lists a component of a package the record names."""
    wanted = {(a.purl_type, a.package_name) for a in parsed.affected}
    if not wanted:
        return set()
    # A component's own name is the last part of the package name its
    # advisories use (npm scope, Go module path and Maven group aside).
    last = {name.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for _, name in wanted}
    components = Component.objects.filter(
        Q(name__in=last) | Q(source_name__in={name for _, name in wanted})
    ).values_list("pk", "type", "namespace", "name", "source_name")
    pks = [
        pk
        for pk, type_, namespace, name, source_name in components.iterator(5000)
        if component_package(
            type=type_, namespace=namespace, name=name, source_name=source_name
        )
        in wanted
    ]
    digests: set[int] = set()
    for chunk in chunks(pks):
        digests.update(
            DigestComponent.objects.filter(component_id__in=chunk).values_list(
                "digest_id", flat=True
            )
        )
    return digests


def finding_fix_times_fill(
    *,
    vulnerability_ids: list[int] | None = None,
    digest_ids: list[int] | None = None,
    detected_at: datetime | None = None,
) -> list[int]:
    """Give findings without an upstream fix time the one their advisory's
    entry for their package holds (the first sighting of a fix); returns the
    findings set. A finding already fixed by a newer build gets it too: it is
    a fact about the finding, and the same queries run whatever the statuses.
    Findings are narrowed by advisory, build and detection time."""
    findings = Finding.objects.filter(upstream_fix_at__isnull=True).exclude(
        status=Finding.Status.WITHDRAWN
    )
    if detected_at is not None:
        findings = findings.filter(detected_at=detected_at)
    batches = [findings]
    if vulnerability_ids is not None:
        batches = [
            findings.filter(vulnerability_id__in=c) for c in chunks(vulnerability_ids)
        ]
    elif digest_ids is not None:
        batches = [findings.filter(digest_id__in=c) for c in chunks(digest_ids, 2000)]
    rows = [
        row
        for batch in batches
        for row in batch.values_list(
            "pk",
            "vulnerability_id",
            "component__type",
            "component__namespace",
            "component__name",
            "component__source_name",
            "component__distro",
        ).iterator(chunk_size=5000)
    ]
    if not rows:
        return []
    sightings: dict[tuple[int, str, str], list[tuple[str, Any, Any]]]
    sightings = defaultdict(list)
    for chunk in chunks(sorted({row[1] for row in rows})):
        for (
            vuln_pk,
            purl_type,
            name,
            distro,
            seen,
            seen_in,
        ) in AffectedPackage.objects.filter(
            vulnerability_id__in=chunk, fix_seen_at__isnull=False
        ).values_list(
            "vulnerability_id",
            "purl_type",
            "package_name",
            "distro",
            "fix_seen_at",
            "fix_seen_in_id",
        ):
            sightings[(vuln_pk, purl_type, name)].append((distro, seen, seen_in))
    found_rows: list[tuple[int, Any, Any]] = []
    for pk, vuln_pk, type_, namespace, name, source_name, distro in rows:
        purl_type, package = component_package(
            type=type_, namespace=namespace, name=name, source_name=source_name
        )
        found = [
            (seen, seen_in)
            for advisory_distro, seen, seen_in in sightings.get(
                (vuln_pk, purl_type_normalize(purl_type), package), ()
            )
            if distro_matches(advisory_distro, distro)
        ]
        if found:
            first_seen, first_in = min(found, key=lambda s: s[0])
            found_rows.append((pk, first_seen, first_in))
    # One statement per batch of findings, however many advisories they name.
    bulk_set(Finding, ["upstream_fix_at", "upstream_fix_revision_id"], found_rows)
    return sorted(row[0] for row in found_rows)
