"""Matching components to advisories: findings, and fixes by newer builds."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, Field, Min, OuterRef
from django.utils import timezone

from apps.catalog.generation import catalog_changed
from apps.catalog.models import ImageDigest
from apps.catalog.services import normalize_digest

from ..matching import (
    Affected,
    Matcher,
    component_match_version,
    component_package,
    distro_matches,
    purl_type_normalize,
)
from ..models import (
    AffectedPackage,
    Component,
    DigestComponent,
    Finding,
    Severity,
    Vulnerability,
)
from .feeds import BATCH, _chunks

# Findings a newer build can fix: a VEX not_affected or a fixed one stays.
OPEN_STATUSES = (Finding.Status.AFFECTED, Finding.Status.UNDER_INVESTIGATION)
# Matching reads and writes findings for a slice of whole variants holding
# about this many builds at a time, so memory stays flat.
VARIANT_SLICE_BUILDS = 200


@dataclass
class MatchReport:
    digests: int = 0
    packages: int = 0  # distinct (purl type, package name) in the digests
    components_affected: int = 0
    findings_created: int = 0
    findings_fixed: int = 0
    unparsable_versions: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Vuln:
    pk: int
    vuln_id: str
    names: frozenset[str]
    disclosed_at: datetime | None
    severity: str


@dataclass(frozen=True)
class _Plan:
    """The finding to file for a component matched by an alias group."""

    members: frozenset[int]  # the group's vulnerability pks
    chosen: _Vuln  # the one it is filed under
    fixed: str
    disclosed_at: datetime | None
    fix_seen_at: datetime | None
    fix_seen_in: int | None


def _id_rank(vuln: _Vuln) -> tuple:
    # The finding for a group of aliases names the CVE when there is one, then
    # the GitHub advisory, and prefers a record whose severity is known.
    prefix = 0 if vuln.vuln_id.startswith("CVE-") else 1
    prefix += 0 if vuln.vuln_id.startswith(("CVE-", "GHSA-")) else 1
    return (vuln.severity == Severity.UNKNOWN, prefix, vuln.vuln_id)


def _alias_groups(vulns: list[_Vuln]) -> list[list[_Vuln]]:
    """Split vulnerabilities into groups that name each other as aliases."""
    parent = list(range(len(vulns)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    owner: dict[str, int] = {}
    for index, vuln in enumerate(vulns):
        for name in vuln.names:
            if name in owner:
                parent[root(index)] = root(owner[name])
            else:
                owner[name] = index
    groups: dict[int, list[_Vuln]] = defaultdict(list)
    for index, vuln in enumerate(vulns):
        groups[root(index)].append(vuln)
    return list(groups.values())


def _resolve_digests(digests: Iterable[ImageDigest | int | str]) -> list[int]:
    pks: set[int] = set()
    names: set[str] = set()
    for digest in digests:
        if isinstance(digest, ImageDigest):
            pks.add(digest.pk)
        elif isinstance(digest, int):
            pks.add(digest)
        else:
            names.add(normalize_digest(digest))
    if names:
        found = dict(
            ImageDigest.objects.filter(digest__in=names).values_list("digest", "pk")
        )
        missing = sorted(names - set(found))
        if missing:
            raise ValidationError(
                {"digests": f"Unknown digest: {', '.join(missing[:5])}."}
            )
        pks |= set(found.values())
    return sorted(pks)


def _match_scope(digests: Iterable[ImageDigest | int | str]) -> list[int]:
    """The digests to match: those given, and the newer builds of their variants.

    Newer builds are matched again too, so deciding which old findings a newer
    build fixed never reads a build whose findings were not computed.
    """
    given = _resolve_digests(digests)
    oldest = dict(
        ImageDigest.objects.filter(pk__in=given)
        .values("variant_id")
        .annotate(first=Min("built_at"))
        .values_list("variant_id", "first")
    )
    scope = set(given)
    for chunk in _chunks(list(oldest)):
        for pk, variant_id, built_at in ImageDigest.objects.filter(
            variant_id__in=chunk
        ).values_list("pk", "variant_id", "built_at"):
            if built_at >= oldest[variant_id]:
                scope.add(pk)
    return sorted(scope)


def _in_scope(queryset, field_name: str, scope: list[int] | None):
    """Rows of a queryset for the digests in scope, in chunks of ids."""
    if scope is None:
        yield queryset
        return
    for chunk in _chunks(scope, 2000):
        yield queryset.filter(**{f"{field_name}__in": chunk})


@transaction.atomic
def findings_match(
    *,
    digests: Iterable[ImageDigest | int | str] | None = None,
    now: datetime | None = None,
) -> MatchReport:
    """Match components of digests against advisories and record findings.

    ``digests`` (rows, ids or ``sha256:`` names) limits the run to those
    builds and the newer builds of their variants; None matches everything.
    Existing findings are never rewritten: re-running is a no-op. Afterwards,
    an open finding whose package a newer build of the same variant no longer
    carries at a vulnerable version is marked fixed by that build.
    """
    now = now or timezone.now()
    scope = None if digests is None else _match_scope(digests)
    report = MatchReport()
    matcher = Matcher()

    # 1. The distinct packages in scope, then every advisory for them in a few
    #    queries per purl type.
    components = Component.objects.all()
    if scope is not None:
        if not scope:
            return report
        report.digests = len(scope)
    else:
        report.digests = ImageDigest.objects.filter(
            Exists(DigestComponent.objects.filter(digest=OuterRef("pk")))
        ).count()
    packages: set[tuple[str, str]] = set()
    for queryset in _in_scope(components, "appearances__digest_id", scope):
        for type_, namespace, name, source_name in queryset.values_list(
            "type", "namespace", "name", "source_name"
        ).distinct():
            packages.add(
                component_package(
                    type=type_, namespace=namespace, name=name, source_name=source_name
                )
            )
    report.packages = len(packages)
    candidates = _advisories_for(packages)

    # 2. Each component that has advisories, version against ranges once.
    matches: dict[int, list[tuple[int, str, datetime | None, int | None]]] = {}
    for queryset in _in_scope(components, "appearances__digest_id", scope):
        rows = queryset.values_list(
            "pk",
            "type",
            "namespace",
            "name",
            "version",
            "source_name",
            "source_version",
            "distro",
        ).distinct()
        for row in rows.iterator(chunk_size=5000):
            pk, type_, namespace, name, version, source_name, source_version, distro = (
                row
            )
            if pk in matches:
                continue
            key = component_package(
                type=type_, namespace=namespace, name=name, source_name=source_name
            )
            found = []
            match_version = component_match_version(
                type=type_, version=version, source_version=source_version
            )
            for affected in candidates.get(key, ()):
                if not distro_matches(affected.distro, distro):
                    continue
                hit, fixed = matcher.affects(affected, match_version)
                if hit:
                    found.append(
                        (
                            affected.vulnerability_id,
                            fixed,
                            affected.fix_seen_at,
                            affected.fix_seen_in,
                        )
                    )
            if found:
                matches[pk] = found
    report.unparsable_versions = sorted(matcher.unparsable)
    # Cached catalog answers state what builds were assessed against and
    # what was found: a run (after new SBOMs or advisories) makes them stale.
    catalog_changed()
    report.components_affected = len(matches)

    # 3. Findings, a slice of variants at a time: new ones for the digests in
    #    scope, then which open ones a newer build of the variant has fixed.
    vulns = _vulnerabilities({hit[0] for found in matches.values() for hit in found})
    plans = _component_plans(matches, vulns)
    for variant_ids in _variant_slices(_variants(scope)):
        created, fixes = _variant_findings(variant_ids, scope, plans, now)
        report.findings_created += created
        report.findings_fixed += fixes
    if report.findings_created or report.findings_fixed:
        # New findings start clocks; fixed ones are met or missed by the
        # ledger's next transition run.
        from apps.sla.triggers import findings_matched

        findings_matched(digest_ids=scope)
    # The builds matched, as of the run's start: an assessment names its
    # sources only for builds matched since those sources were imported.
    if scope is None:
        ImageDigest.objects.update(matched_at=now)
    else:
        for chunk in _chunks(scope):
            ImageDigest.objects.filter(pk__in=chunk).update(matched_at=now)
    return report


# A new finding: the columns computed for it, in this order.
FINDING_COLUMNS = (
    "digest_id",
    "component_id",
    "vulnerability_id",
    "severity",
    "disclosed_at",
    "fixed_version",
    "status",
    "fixed_published_at",
    "fixed_in_id",
    "upstream_fix_at",
    "upstream_fix_revision_id",
)


def _variants(scope: list[int] | None) -> list[int]:
    """Variants with builds in scope (all variants with an SBOM'd build)."""
    builds = ImageDigest.objects.filter(
        Exists(DigestComponent.objects.filter(digest=OuterRef("pk")))
    )
    variant_ids: set[int] = set()
    if scope is None:
        variant_ids.update(builds.values_list("variant_id", flat=True))
    for chunk in _chunks(scope or []):
        variant_ids.update(
            ImageDigest.objects.filter(pk__in=chunk).values_list(
                "variant_id", flat=True
            )
        )
    return sorted(variant_ids)


def _variant_findings(
    variant_ids: list[int],
    scope: list[int] | None,
    plans: dict[int, list[_Plan]],
    now: datetime,
) -> tuple[int, int]:
    """New findings for the builds in scope, and fixes, for whole variants.

    Returns (findings created, findings marked fixed). Existing findings are
    never rewritten except to mark them fixed. A new finding whose package a
    newer build no longer has is written fixed at once, rather than inserted
    and then updated.
    """
    history: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    builds = ImageDigest.objects.filter(
        variant_id__in=variant_ids,
        pk__in=DigestComponent.objects.values("digest_id"),
    ).values_list("pk", "variant_id", "built_at")
    for pk, variant_id, built_at in builds:
        history[variant_id].append((pk, built_at))
    build_ids = [pk for builds_ in history.values() for pk, _ in builds_]
    in_scope = build_ids if scope is None else sorted(set(scope) & set(build_ids))

    existing = list(
        Finding.objects.filter(digest__variant_id__in=variant_ids).values_list(
            "pk", "digest_id", "component_id", "vulnerability_id", "status"
        )
    )
    have = {(digest, component, vuln) for _, digest, component, vuln, _ in existing}
    new: list[list[Any]] = []
    for chunk in _chunks(in_scope):
        pairs = DigestComponent.objects.filter(digest_id__in=chunk).values_list(
            "digest_id", "component_id"
        )
        for digest_id, component_id in pairs.iterator(chunk_size=10000):
            for plan in plans.get(component_id, ()):
                if any((digest_id, component_id, v) in have for v in plan.members):
                    continue
                new.append(
                    [
                        digest_id,
                        component_id,
                        plan.chosen.pk,
                        plan.chosen.severity,
                        plan.disclosed_at,
                        plan.fixed[:255],
                        Finding.Status.AFFECTED,
                        None,
                        None,
                        plan.fix_seen_at,
                        plan.fix_seen_in,
                    ]
                )
    if not existing and not new:
        return 0, 0

    # What each build carries: (package, alias group) numbers, whatever the
    # finding's status (a VEX not_affected build still ships the package).
    packages, binaries = _package_numbers(
        {row[2] for row in existing} | {row[1] for row in new}
    )
    groups = _alias_group_numbers(
        {row[3] for row in existing} | {row[2] for row in new}
    )
    carried: dict[int, set[tuple[int, int]]] = defaultdict(set)
    open_items: dict[int, list[tuple[int, tuple[int, int]]]] = defaultdict(list)
    by_binary: dict[tuple[str, str, str], set[tuple[int, int]]] = defaultdict(set)
    for pk, digest_id, component_id, vuln_pk, status in existing:
        key = (packages[component_id], groups[vuln_pk])
        carried[digest_id].add(key)
        by_binary[binaries[component_id]].add(key)
        if status in OPEN_STATUSES:
            open_items[digest_id].append((pk, key))
    for index, row in enumerate(new):
        key = (packages[row[1]], groups[row[2]])
        carried[row[0]].add(key)
        by_binary[binaries[row[1]]].add(key)
        open_items[row[0]].append((-1 - index, key))  # new rows count down
    # A build listing a distro binary without its source package cannot show
    # that package gone (it may be the same package under its binary name):
    # as far as fixes go, it carries every key found on a binary of that name.
    for digest_id, names in _source_unknown_binaries(build_ids).items():
        for name in names:
            carried[digest_id] |= by_binary.get(name, set())

    updates: dict[tuple[int, datetime], list[int]] = defaultdict(list)
    for builds_ in history.values():
        for item, (build_pk, built_at) in _fixes_in(builds_, carried, open_items):
            if item < 0:
                new[-1 - item][6:9] = [Finding.Status.FIXED, built_at, build_pk]
            else:
                updates[(build_pk, built_at)].append(item)
    _findings_insert(new, now)
    born_fixed = sum(1 for row in new if row[6] == Finding.Status.FIXED)
    return len(new), born_fixed + _findings_mark_fixed(updates)


def _findings_insert(rows: list[list[Any]], now: datetime) -> None:
    """Insert new findings (FINDING_COLUMNS), skipping any that exist by now.

    On PostgreSQL the rows are streamed with COPY into a temporary table and
    inserted from there: a third of the time of ORM inserts, which build a
    model instance and bind a dozen parameters per finding. Elsewhere
    (SQLite) bulk_create does it. Both skip a finding another run inserted
    meanwhile, by the unique constraint.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        Finding.objects.bulk_create(
            [
                Finding(**dict(zip(FINDING_COLUMNS, row, strict=True)), detected_at=now)
                for row in rows
            ],
            ignore_conflicts=True,
            batch_size=2000,
        )
        return
    with connection.cursor() as cursor:
        columns = ", ".join(
            _pg_load(
                cursor,
                "finding_load",
                # Columns without a database default are given their value.
                [*FINDING_COLUMNS, "detected_at", "withdrawn_reason"],
                ((*row, now, "") for row in rows),
            )
        )
        table = connection.ops.quote_name(Finding._meta.db_table)
        loaded = f"SELECT {columns} FROM finding_load"  # noqa: S608
        cursor.execute(
            f"INSERT INTO {table} ({columns}) {loaded} ON CONFLICT DO NOTHING"
        )


def _findings_mark_fixed(fixes: dict[tuple[int, datetime], list[int]]) -> int:
    """Mark open findings fixed: {(fixing build pk, its built_at): finding pks}.

    One UPDATE per fixing build, or on PostgreSQL one UPDATE joined to the
    fixes loaded by COPY (bulk_update's CASE per row is far slower than both).
    """
    if not fixes:
        return 0
    if connection.vendor != "postgresql":
        fixed = 0
        for (build_pk, built_at), finding_pks in fixes.items():
            for chunk in _chunks(finding_pks, 2000):
                fixed += Finding.objects.filter(
                    pk__in=chunk, status__in=OPEN_STATUSES
                ).update(
                    status=Finding.Status.FIXED,
                    fixed_published_at=built_at,
                    fixed_in_id=build_pk,
                )
        return fixed
    with connection.cursor() as cursor:
        pk, fixed_in, fixed_at = _pg_load(
            cursor,
            "fix_load",
            ["id", "fixed_in_id", "fixed_published_at"],
            (
                (finding_pk, build_pk, built_at)
                for (build_pk, built_at), finding_pks in fixes.items()
                for finding_pk in finding_pks
            ),
        )
        table = connection.ops.quote_name(Finding._meta.db_table)
        status = _finding_column("status")
        cursor.execute(
            f"UPDATE {table} AS f SET {status} = %s, "  # noqa: S608
            f"{fixed_in} = l.{fixed_in}, {fixed_at} = l.{fixed_at} "
            f"FROM fix_load AS l WHERE f.{pk} = l.{pk} AND f.{status} IN (%s, %s)",
            [Finding.Status.FIXED, *OPEN_STATUSES],
        )
        return cursor.rowcount


def _finding_column(name: str) -> str:
    """The quoted column of a Finding field (by name or attname)."""
    field = cast(Field, Finding._meta.get_field(name))
    return connection.ops.quote_name(str(field.column))


def _pg_load(cursor, load_table: str, fields: list[str], rows: Iterable) -> list[str]:
    """COPY rows into a table of these findings columns, kept for the transaction.

    Returns the quoted column names. Identifiers come from the model's metadata
    and values travel by COPY: no input reaches the SQL text.
    """
    columns = [_finding_column(name) for name in fields]
    joined = ", ".join(columns)
    table = connection.ops.quote_name(Finding._meta.db_table)
    shape = f"AS SELECT {joined} FROM {table} WITH NO DATA"  # noqa: S608
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {load_table} ON COMMIT DROP {shape}"
    )
    cursor.execute(f"TRUNCATE {load_table}")
    with cursor.cursor.copy(f"COPY {load_table} ({joined}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return columns


def _advisories_for(packages: set[tuple[str, str]]) -> dict[tuple[str, str], list]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for purl_type, name in packages:
        by_type[purl_type].append(name)
    candidates: dict[tuple[str, str], list[Affected]] = defaultdict(list)
    for purl_type, names in by_type.items():
        for chunk in _chunks(sorted(names)):
            rows = AffectedPackage.objects.filter(
                purl_type=purl_type,
                package_name__in=chunk,
                vulnerability__withdrawn_at__isnull=True,
            ).values_list(
                "pk",
                "vulnerability_id",
                "ecosystem",
                "package_name",
                "distro",
                "ranges",
                "versions",
                "fix_seen_at",
                "fix_seen_in_id",
            )
            for (
                pk,
                vuln_pk,
                ecosystem,
                name,
                distro,
                ranges,
                versions,
                seen_at,
                seen_in,
            ) in rows:
                candidates[(purl_type, name)].append(
                    Affected(
                        id=pk,
                        vulnerability_id=vuln_pk,
                        ecosystem=ecosystem,
                        distro=distro,
                        ranges=ranges or [],
                        versions=frozenset(versions or []),
                        fix_seen_at=seen_at,
                        fix_seen_in=seen_in,
                    )
                )
    return candidates


def _vulnerabilities(pks: set[int]) -> dict[int, _Vuln]:
    vulns = {}
    for chunk in _chunks(sorted(pks)):
        rows = Vulnerability.objects.filter(pk__in=chunk).values_list(
            "pk", "vuln_id", "aliases", "disclosed_at", "severity"
        )
        for pk, vuln_id, aliases, disclosed_at, severity in rows:
            names = {vuln_id, *(a for a in aliases or [] if isinstance(a, str))}
            vulns[pk] = _Vuln(pk, vuln_id, frozenset(names), disclosed_at, severity)
    return vulns


def _component_plans(
    matches: dict[int, list[tuple[int, str, datetime | None, int | None]]],
    vulns: dict[int, _Vuln],
) -> dict[int, list[_Plan]]:
    """Per component, one plan per alias group of the advisories it matched.

    GHSA and PYSEC records of one CVE both match a PyPI package: one finding is
    filed, under the CVE-named or best-rated record, disclosed when the
    earliest of them was published, its upstream fix time the first sighting
    of a fix in the chosen record's entries that matched.
    """
    plans = {}
    for component_pk, found in matches.items():
        fixed_by: dict[int, str] = {}
        seen_by: dict[int, tuple[datetime, int | None]] = {}
        for vuln_pk, fixed, seen, seen_in in found:
            fixed_by.setdefault(vuln_pk, fixed)
            if seen is not None and (
                vuln_pk not in seen_by or seen < seen_by[vuln_pk][0]
            ):
                seen_by[vuln_pk] = (seen, seen_in)
        plan = []
        for group in _alias_groups([vulns[pk] for pk in fixed_by]):
            chosen = min(group, key=_id_rank)
            dates = [v.disclosed_at for v in group if v.disclosed_at is not None]
            seen_at, seen_in = seen_by.get(chosen.pk, (None, None))
            plan.append(
                _Plan(
                    members=frozenset(v.pk for v in group),
                    chosen=chosen,
                    fixed=fixed_by[chosen.pk],
                    disclosed_at=min(dates) if dates else None,
                    fix_seen_at=seen_at,
                    fix_seen_in=seen_in,
                )
            )
        plans[component_pk] = plan
    return plans


def _variant_slices(variant_ids: list[int]) -> Iterator[list[int]]:
    """Slices of whole variants holding about VARIANT_SLICE_BUILDS builds each."""
    builds: dict[int, int] = {}
    for chunk in _chunks(variant_ids):
        builds.update(
            ImageDigest.objects.filter(variant_id__in=chunk)
            .values("variant_id")
            .annotate(n=Count("pk"))
            .values_list("variant_id", "n")
        )
    piece: list[int] = []
    size = 0
    for variant_id in variant_ids:
        piece.append(variant_id)
        size += builds.get(variant_id, 0)
        if size >= VARIANT_SLICE_BUILDS or len(piece) >= BATCH:
            yield piece
            piece, size = [], 0
    if piece:
        yield piece


def _fixes_in(
    history: list[tuple[int, datetime]],
    carried: dict[int, set[tuple[int, int]]],
    open_findings: dict[int, list[tuple[int, tuple[int, int]]]],
) -> Iterator[tuple[int, tuple[int, datetime]]]:
    """(finding pk, fixing build) for one variant's builds (pk, built_at)."""
    history.sort(key=lambda build: (build[1], build[0]))
    # clean_after[i][key]: the first build after i without ``key``, kept for
    # the keys build i carries; computed newest first, so each open finding
    # costs one lookup however long the variant's history is.
    clean_after: list[dict[tuple[int, int], int | None]] = [{} for _ in history]
    for index in range(len(history) - 1, -1, -1):
        nxt = index + 1
        for key in carried.get(history[index][0], ()):
            if nxt >= len(history):
                clean_after[index][key] = None
            elif key not in carried.get(history[nxt][0], ()):
                clean_after[index][key] = nxt
            else:
                clean_after[index][key] = clean_after[nxt][key]
    for index, (digest_id, built_at) in enumerate(history):
        for finding_pk, key in open_findings.get(digest_id, ()):
            fixed_at = clean_after[index][key]
            # A build of the same instant is not newer.
            if fixed_at is not None and built_at < history[fixed_at][1]:
                yield finding_pk, history[fixed_at]


def _package_numbers(
    component_pks: set[int],
) -> tuple[dict[int, int], dict[int, tuple[str, str, str]]]:
    """A number per component (components of one package share it), and each
    component's binary: (purl type, name, distro)."""
    numbers: dict[tuple[str, str], int] = {}
    packages = {}
    binaries = {}
    for chunk in _chunks(sorted(component_pks)):
        rows = Component.objects.filter(pk__in=chunk).values_list(
            "pk", "type", "namespace", "name", "source_name", "distro"
        )
        for pk, type_, namespace, name, source, distro in rows:
            key = component_package(
                type=type_, namespace=namespace, name=name, source_name=source
            )
            packages[pk] = numbers.setdefault(key, len(numbers))
            binaries[pk] = (purl_type_normalize(type_), name, distro)
    return packages, binaries


def _source_unknown_binaries(
    build_ids: list[int],
) -> dict[int, set[tuple[str, str, str]]]:
    """Per build, the distro binaries its SBOMs list without a source package."""
    found: dict[int, set[tuple[str, str, str]]] = defaultdict(set)
    for chunk in _chunks(build_ids):
        rows = DigestComponent.objects.filter(
            digest_id__in=chunk, component__source_known=False
        ).values_list(
            "digest_id", "component__type", "component__name", "component__distro"
        )
        for digest_id, type_, name, distro in rows:
            found[digest_id].add((purl_type_normalize(type_), name, distro))
    return found


def _alias_group_numbers(vuln_pks: set[int]) -> dict[int, int]:
    """A group number per vulnerability: records naming each other share one."""
    vulns = _vulnerabilities(vuln_pks)
    return {
        vuln.pk: number
        for number, group in enumerate(_alias_groups(list(vulns.values())))
        for vuln in group
    }
