"""Checks of the OSCAL documents: each is a valid OSCAL 1.1.2 document of its
kind (parsed with compliance-trestle's model) whose references resolve inside
it; the POA&M's items are the clocks running at the cut-off, the Assessment
Results' findings the clocks of the window and the Component Definition's
components the mirrored image families, each recounted from the ledger; and
an evidence bundle carries all three, valid."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Iterator

from django.db.models import Q

from apps.entitlements.models import Mirror
from apps.sla.models import SlaClock

from ..formats import oscal as fmt
from ..oscal.documents import OSCAL_KINDS
from .base import (
    Check,
    Kind,
    Subject,
    check,
    compare_with_ledger,
    report_org,
    window_bounds,
)
from .files import _on_mirrored

CHECKS: list[Check] = []
CONTROLS = ("sc-13", "si-2", "ra-5", "cm-6")


def _document_problems(content: bytes, model: str) -> Iterator[str]:
    try:
        summary = fmt.oscal_summary(content, model)
    except fmt.OscalInvalid as exc:
        yield str(exc)[:2000]
        return
    repeated = sorted(u for u, n in Counter(summary.uuids).items() if n > 1)
    if repeated:
        yield f"UUIDs used more than once: {', '.join(repeated[:5])}."
    dangling = sorted(set(summary.references) - set(summary.uuids))
    if dangling:
        yield f"References to UUIDs the document does not define: {dangling[:5]}."


@check(CHECKS, "oscal_document_valid", kinds=set(OSCAL_KINDS), reads="oscal")
def oscal_document_valid(subject: Subject) -> Iterator[str]:
    """The document parses as OSCAL 1.1.2 with trestle's model of its kind,
    uses each UUID once, and every UUID it references is defined in it."""
    model = OSCAL_KINDS[subject.report.kind].model
    yield from _document_problems(subject.oscal or b"", model)


def _clock_ids(subject: Subject) -> list[int]:
    model = OSCAL_KINDS[subject.report.kind].model
    return fmt.oscal_summary(subject.oscal or b"", model).clock_ids


def _running_at_cutoff(subject: Subject):
    cutoff = subject.report.data_cutoff
    return (
        _on_mirrored(subject.report)
        .filter(started_at__lt=cutoff)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=cutoff))
    )


@check(CHECKS, "oscal_poam_matches_ledger", kinds={Kind.OSCAL_POAM}, reads="oscal")
def oscal_poam_matches_ledger(subject: Subject) -> Iterator[str]:
    """The POA&M's items are the org's clocks running at the cut-off on
    repositories it mirrors, recounted from the ledger."""
    yield from compare_with_ledger(
        subject, _clock_ids(subject), _running_at_cutoff(subject), "The POA&M's items"
    )


@check(CHECKS, "oscal_results_match_ledger", kinds={Kind.OSCAL_RESULTS}, reads="oscal")
def oscal_results_match_ledger(subject: Subject) -> Iterator[str]:
    """The Assessment Results' findings are the org's clocks that ran during
    the window (started before its end, not stopped before its start)."""
    report = subject.report
    start, end = window_bounds(report)
    ran = (
        SlaClock.objects.for_org(report_org(report))
        .filter(started_at__lt=end)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
    )
    yield from compare_with_ledger(
        subject, _clock_ids(subject), ran, "The Assessment Results' findings"
    )


@check(
    CHECKS,
    "oscal_components_match_mirrors",
    kinds={Kind.OSCAL_COMPONENTS},
    reads="oscal",
)
def oscal_components_match_mirrors(subject: Subject) -> Iterator[str]:
    """The Component Definition has one component per repository the org
    mirrored by the window's end, each stating SC-13, SI-2, RA-5 and CM-6."""
    report = subject.report
    _, end = window_bounds(report)
    mirrored = set(
        Mirror.objects.for_org(report_org(report))
        .filter(created_at__lt=end)
        .values_list("repository__name", flat=True)
    )
    body = json.loads(subject.oscal or b"{}").get(fmt.COMPONENT_DEFINITION, {})
    found: list[str] = []
    for component in body.get("components", []):
        names = [
            p["value"]
            for p in component.get("props", [])
            if p.get("name") == "image-family" and p.get("ns") == fmt.NS
        ]
        name = names[0] if names else component.get("title", "?")
        found.append(name)
        controls = [
            r["control-id"]
            for ci in component.get("control-implementations", [])
            for r in ci.get("implemented-requirements", [])
        ]
        if sorted(controls) != sorted(CONTROLS):
            yield f"The component {name} states {controls}, not {list(CONTROLS)}."
    for name in sorted(n for n, k in Counter(found).items() if k > 1):
        yield f"The image family {name} is a component more than once."
    for name in sorted(mirrored - set(found)):
        yield f"The mirrored repository {name} has no component."
    for name in sorted(set(found) - mirrored):
        yield f"The component {name} is not a repository the org mirrored."


@check(CHECKS, "bundle_oscal_valid", kinds={Kind.EVIDENCE_BUNDLE}, reads="bundle")
def bundle_oscal_valid(subject: Subject) -> Iterator[str]:
    """The bundle carries the OSCAL POA&M (unless no clock was running at
    the cut-off), Assessment Results and Component Definition, each a valid
    OSCAL 1.1.2 document of its kind."""
    assert subject.bundle is not None  # noqa: S101 - run only with a bundle
    subject.bundle.seek(0)
    with zipfile.ZipFile(subject.bundle) as zf:
        names = set(zf.namelist())
        for key, kind in OSCAL_KINDS.items():
            if kind.bundle_path not in names:
                # OSCAL has no POA&M without an item: absent only when no
                # clock was running at the cut-off.
                if key != Kind.OSCAL_POAM or _running_at_cutoff(subject).exists():
                    yield f"The bundle has no {kind.bundle_path}."
                continue
            for problem in _document_problems(zf.read(kind.bundle_path), kind.model):
                yield f"{kind.bundle_path}: {problem}"
