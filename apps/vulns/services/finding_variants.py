"""Findings for whole variants at a time: new ones for the builds in scope, and
which open ones a newer build of the same variant has fixed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef

from apps.catalog.models import ImageDigest

from ..matching import component_package, purl_type_normalize
from ..models import Component, DigestComponent, Finding
from .batches import BATCH, chunks
from .finding_plans import Plan, alias_group_numbers
from .finding_rows import OPEN_STATUSES, findings_insert, findings_mark_fixed

# Matching reads and writes findings for a slice of whole variants holding
# about this many builds at a time, so memory stays flat.
VARIANT_SLICE_BUILDS = 200

# What a build carries, as far as fixes go: (package number, alias group number).
Key = tuple[int, int]
# (finding pk, or for a finding not inserted yet -1 - its index; its key)
OpenItem = tuple[int, Key]
Binary = tuple[str, str, str]  # (purl type, name, distro)


def variants_in_scope(scope: list[int] | None) -> list[int]:
    """Variants with builds in scope (all variants with an SBOM'd build)."""
    builds = ImageDigest.objects.filter(
        Exists(DigestComponent.objects.filter(digest=OuterRef("pk")))
    )
    variant_ids: set[int] = set()
    if scope is None:
        variant_ids.update(builds.values_list("variant_id", flat=True))
    for chunk in chunks(scope or []):
        variant_ids.update(
            ImageDigest.objects.filter(pk__in=chunk).values_list(
                "variant_id", flat=True
            )
        )
    return sorted(variant_ids)


def variant_slices(variant_ids: list[int]) -> Iterator[list[int]]:
    """Slices of whole variants holding about VARIANT_SLICE_BUILDS builds each."""
    builds: dict[int, int] = {}
    for chunk in chunks(variant_ids):
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


def variant_findings(
    variant_ids: list[int],
    scope: list[int] | None,
    plans: dict[int, list[Plan]],
    now: datetime,
) -> tuple[int, int]:
    """New findings for the builds in scope, and fixes, for whole variants.

    Returns (findings created, findings marked fixed). Existing findings are
    never rewritten except to mark them fixed. A new finding whose package a
    newer build no longer has is written fixed at once, rather than inserted
    and then updated.
    """
    history = _variant_builds(variant_ids)
    build_ids = [pk for builds_ in history.values() for pk, _ in builds_]
    in_scope = build_ids if scope is None else sorted(set(scope) & set(build_ids))

    existing = list(
        Finding.objects.filter(digest__variant_id__in=variant_ids).values_list(
            "pk", "digest_id", "component_id", "vulnerability_id", "status"
        )
    )
    have = {(digest, component, vuln) for _, digest, component, vuln, _ in existing}
    new = _new_rows(in_scope, plans, have)
    if not existing and not new:
        return 0, 0

    carried, open_items = _carried(existing, new, build_ids)
    updates: dict[tuple[int, datetime], list[int]] = defaultdict(list)
    for builds_ in history.values():
        for item, (build_pk, built_at) in _fixes_in(builds_, carried, open_items):
            if item < 0:
                new[-1 - item][6:9] = [Finding.Status.FIXED, built_at, build_pk]
            else:
                updates[(build_pk, built_at)].append(item)
    findings_insert(new, now)
    born_fixed = sum(1 for row in new if row[6] == Finding.Status.FIXED)
    return len(new), born_fixed + findings_mark_fixed(updates)


def _variant_builds(variant_ids: list[int]) -> dict[int, list[tuple[int, datetime]]]:
    """Per variant, its builds with an SBOM: (pk, built_at)."""
    history: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    builds = ImageDigest.objects.filter(
        variant_id__in=variant_ids,
        pk__in=DigestComponent.objects.values("digest_id"),
    ).values_list("pk", "variant_id", "built_at")
    for pk, variant_id, built_at in builds:
        history[variant_id].append((pk, built_at))
    return history


def _new_rows(
    in_scope: list[int],
    plans: dict[int, list[Plan]],
    have: set[tuple[int, int, int]],
) -> list[list[Any]]:
    """The findings (FINDING_COLUMNS) the builds in scope lack, open."""
    new: list[list[Any]] = []
    for chunk in chunks(in_scope):
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
    return new


def _carried(
    existing: list[tuple[int, int, int, int, str]],
    new: list[list[Any]],
    build_ids: list[int],
) -> tuple[dict[int, set[Key]], dict[int, list[OpenItem]]]:
    """What each build carries, and its open findings with their keys.

    A build carries (package, alias group) numbers whatever the finding's
    status (a VEX not_affected build still ships the package).
    """
    packages, binaries = _package_numbers(
        {row[2] for row in existing} | {row[1] for row in new}
    )
    groups = alias_group_numbers({row[3] for row in existing} | {row[2] for row in new})
    carried: dict[int, set[Key]] = defaultdict(set)
    open_items: dict[int, list[OpenItem]] = defaultdict(list)
    by_binary: dict[Binary, set[Key]] = defaultdict(set)
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
    return carried, open_items


def _fixes_in(
    history: list[tuple[int, datetime]],
    carried: dict[int, set[Key]],
    open_findings: dict[int, list[OpenItem]],
) -> Iterator[tuple[int, tuple[int, datetime]]]:
    """(finding pk, fixing build) for one variant's builds (pk, built_at)."""
    history.sort(key=lambda build: (build[1], build[0]))
    # clean_after[i][key]: the first build after i without ``key``, kept for
    # the keys build i carries; computed newest first, so each open finding
    # costs one lookup however long the variant's history is.
    clean_after: list[dict[Key, int | None]] = [{} for _ in history]
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
) -> tuple[dict[int, int], dict[int, Binary]]:
    """A number per component (components of one package share it), and each
    component's binary: (purl type, name, distro)."""
    numbers: dict[tuple[str, str], int] = {}
    packages = {}
    binaries = {}
    for chunk in chunks(sorted(component_pks)):
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


def _source_unknown_binaries(build_ids: list[int]) -> dict[int, set[Binary]]:
    """Per build, the distro binaries its SBOMs list without a source package."""
    found: dict[int, set[Binary]] = defaultdict(set)
    for chunk in chunks(build_ids):
        rows = DigestComponent.objects.filter(
            digest_id__in=chunk, component__source_known=False
        ).values_list(
            "digest_id", "component__type", "component__name", "component__distro"
        )
        for digest_id, type_, name, distro in rows:
            found[digest_id].add((purl_type_normalize(type_), name, distro))
    return found
