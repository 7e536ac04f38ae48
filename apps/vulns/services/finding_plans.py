"""What to file for a matched component: advisories read for the packages in
scope, and one finding per group of advisories that name each other."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from ..matching import Affected
from ..models import AffectedPackage, Severity, Vulnerability
from .batches import chunks

# An advisory entry a component's version falls in: (vulnerability pk, fixed
# version, first sighting of a fix, the revision that sighted it).
Hit = tuple[int, str, datetime | None, int | None]


@dataclass(frozen=True)
class Vuln:
    pk: int
    vuln_id: str
    names: frozenset[str]
    disclosed_at: datetime | None
    severity: str


@dataclass(frozen=True)
class Plan:
    """The finding to file for a component matched by an alias group."""

    members: frozenset[int]  # the group's vulnerability pks
    chosen: Vuln  # the one it is filed under
    fixed: str
    disclosed_at: datetime | None
    fix_seen_at: datetime | None
    fix_seen_in: int | None


def _id_rank(vuln: Vuln) -> tuple:
    # The finding for a group of aliases names the CVE when there is one, then
    # the GitHub advisory, and prefers a record whose severity is known.
    prefix = 0 if vuln.vuln_id.startswith("CVE-") else 1
    prefix += 0 if vuln.vuln_id.startswith(("CVE-", "GHSA-")) else 1
    return (vuln.severity == Severity.UNKNOWN, prefix, vuln.vuln_id)


def _alias_groups(vulns: list[Vuln]) -> list[list[Vuln]]:
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
    groups: dict[int, list[Vuln]] = defaultdict(list)
    for index, vuln in enumerate(vulns):
        groups[root(index)].append(vuln)
    return list(groups.values())


def advisories_for(
    packages: set[tuple[str, str]],
) -> dict[tuple[str, str], list[Affected]]:
    """The affected entries of advisories in force, by (purl type, package)."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for purl_type, name in packages:
        by_type[purl_type].append(name)
    candidates: dict[tuple[str, str], list[Affected]] = defaultdict(list)
    for purl_type, names in by_type.items():
        for chunk in chunks(sorted(names)):
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


def vulnerabilities_read(pks: set[int]) -> dict[int, Vuln]:
    vulns = {}
    for chunk in chunks(sorted(pks)):
        rows = Vulnerability.objects.filter(pk__in=chunk).values_list(
            "pk", "vuln_id", "aliases", "disclosed_at", "severity"
        )
        for pk, vuln_id, aliases, disclosed_at, severity in rows:
            names = {vuln_id, *(a for a in aliases or [] if isinstance(a, str))}
            vulns[pk] = Vuln(pk, vuln_id, frozenset(names), disclosed_at, severity)
    return vulns


def component_plans(
    matches: dict[int, list[Hit]], vulns: dict[int, Vuln]
) -> dict[int, list[Plan]]:
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
                Plan(
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


def alias_group_numbers(vuln_pks: set[int]) -> dict[int, int]:
    """A group number per vulnerability: records naming each other share one."""
    vulns = vulnerabilities_read(vuln_pks)
    return {
        vuln.pk: number
        for number, group in enumerate(_alias_groups(list(vulns.values())))
        for vuln in group
    }
