"""Checks of a compliance report's FedRAMP documents: each holds to its
schema and is the file its stated SHA-256 names, their vulnerabilities are
the organization's clocks (each once), and an evidence bundle's
``fedramp/`` files are those documents byte for byte."""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from collections.abc import Iterator

from apps.sla.models import SlaClock

from ..evidence.fedramp import fedramp_files
from ..formats import cmu, fedramp_ver
from .base import COMPLIANCE, Check, Kind, Subject, check, ids_text, report_org

# This family's checks, in the order they run.
CHECKS: list[Check] = []

BUNDLE_FOLDER = "fedramp/"
_TRACKING_ID = re.compile(r"V-(\d+)")


def _block(subject: Subject) -> dict | None:
    """The evidence's FedRAMP part; None for reports made before it."""
    return (subject.evidence or {}).get("fedramp")


@check(CHECKS, "fedramp_documents_valid", kinds=COMPLIANCE)
def fedramp_documents_valid(subject: Subject) -> Iterator[str]:
    """Each FedRAMP document holds to its schema (FedRAMP's for the VER
    reports, the portal's for the CMU inventory and its additions), and its
    stated SHA-256 is its file's; the VER reports are there exactly when a
    class is stated."""
    block = _block(subject)
    if block is None:
        return
    documents = block["documents"]
    expected = {"cmu"}
    if block["certification_class"]:
        expected |= set(fedramp_ver.SCHEMA_IDS)
    if set(documents) != expected:
        yield (
            f"The FedRAMP documents are {sorted(documents)}; a report "
            f"{'with' if block['certification_class'] else 'without'} a class "
            f"carries {sorted(expected)}."
        )
    for kind, document in sorted(documents.items()):
        found = (
            cmu.problems(document)
            if kind == "cmu"
            else fedramp_ver.problems(kind, document)
        )
        for problem in found:
            yield f"{kind}: {problem}"
        stated = block["files"].get(kind, {}).get("sha256")
        actual = hashlib.sha256(fedramp_ver.document_bytes(document)).hexdigest()
        if stated != actual:
            yield f"{kind}: its stated SHA-256 is not its file's."


def _tracking_ids(block: dict) -> dict[str, list[int]]:
    documents = block["documents"]
    found: dict[str, list[int]] = {}
    for kind in fedramp_ver.SCHEMA_IDS:
        if kind in documents:
            found[kind] = [
                int(m.group(1))
                for _, detail in fedramp_ver.details(kind, documents[kind])
                if (m := _TRACKING_ID.fullmatch(str(detail["providerTrackingId"])))
            ]
    return found


@check(CHECKS, "fedramp_records_are_clocks", kinds=COMPLIANCE)
def fedramp_records_are_clocks(subject: Subject) -> Iterator[str]:
    """Every vulnerability of the VER reports is one of the organization's
    clocks, named by its tracking id, and none is both detailed and accepted
    in the period or twice in one document."""
    block = _block(subject)
    if block is None or not block["certification_class"]:
        return
    found = _tracking_ids(block)
    for kind, ids in found.items():
        twice = [i for i, n in Counter(ids).items() if n > 1]
        if twice:
            yield f"{kind} lists V-{ids_text(twice)} more than once."
    both = set(found.get("vdt", ())) & set(found.get("avi", ()))
    if both:
        yield f"Both detailed and accepted: {ids_text(both)}."
    named = {i for ids in found.values() for i in ids}
    ours = set(
        SlaClock.objects.for_org(report_org(subject.report))
        .filter(pk__in=named)
        .values_list("id", flat=True)
    )
    strangers = named - ours
    if strangers:
        yield f"Not the organization's clocks: {ids_text(strangers)}."


def _bundle(subject: Subject) -> zipfile.ZipFile:
    assert subject.bundle is not None  # noqa: S101 - run only with a bundle
    subject.bundle.seek(0)
    return zipfile.ZipFile(subject.bundle)


@check(
    CHECKS,
    "bundle_fedramp_files",
    kinds={Kind.EVIDENCE_BUNDLE},
    reads="bundle",
)
def bundle_fedramp_files(subject: Subject) -> Iterator[str]:
    """The bundle's ``fedramp/`` folder holds each FedRAMP document of the
    report's evidence, under its name, byte for byte, and nothing else (no
    folder when there is nothing to say: no class, no FIPS image)."""
    block = _block(subject)
    if block is None:
        return
    with _bundle(subject) as zf:
        held = {
            n[len(BUNDLE_FOLDER) :]: hashlib.sha256(zf.read(n)).hexdigest()
            for n in zf.namelist()
            if n.startswith(BUNDLE_FOLDER)
        }
    wanted = {
        path[len(BUNDLE_FOLDER) :]: hashlib.sha256(content).hexdigest()
        for path, content in fedramp_files(block)
    }
    for name in sorted(set(wanted) - set(held)):
        yield f"{BUNDLE_FOLDER}{name} is not in the zip."
    for name in sorted(set(held) - set(wanted)):
        yield f"{BUNDLE_FOLDER}{name} is in the zip but not in the evidence."
    for name in sorted(set(held) & set(wanted)):
        if held[name] != wanted[name]:
            yield f"{BUNDLE_FOLDER}{name} is not the document the evidence carries."
