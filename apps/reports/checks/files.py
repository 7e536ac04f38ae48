"""Checks of a report's files: the PDF carries the evidence, the POA&M
workbook's items are the ledger's, the evidence bundle's README and manifest
name exactly what its zip holds, and stored files keep their recorded hashes."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections import Counter
from collections.abc import Iterator

from django.db.models import Q, QuerySet

from apps.entitlements.models import Mirror
from apps.sla.models import SlaClock

from ..formats.poam_xlsx import CLOSED_SHEET, OPEN_SHEET
from ..models import Report
from .base import (
    PDF_KINDS,
    Check,
    Kind,
    Subject,
    check,
    compare_with_ledger,
    report_org,
    window_bounds,
)

BUNDLE_MANIFEST = "MANIFEST.sha256"


BUNDLE_README = "README.txt"


# This family's checks, in the order they run.
CHECKS: list[Check] = []


def _attached_evidence(pdf: bytes) -> bytes | None:
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        attachment = document.attachments.get("evidence.json")
        return None if attachment is None else attachment.get_file().read_bytes()


@check(CHECKS, "pdf_carries_evidence", kinds=PDF_KINDS, reads="pdf")
def pdf_carries_evidence(subject: Subject) -> Iterator[str]:
    """The PDF carries, as its evidence.json attachment, the evidence the
    report was made from, byte for byte."""
    attached = _attached_evidence(subject.pdf or b"")
    if attached is None:
        yield "The PDF has no evidence.json attachment."
    elif subject.evidence_json is not None and attached != subject.evidence_json:
        yield "The PDF's evidence.json is not the evidence the report was made from."


def _poam_ids(workbook: bytes, sheet: str) -> list[int]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(workbook), read_only=True)
    try:
        rows = book[sheet].iter_rows(min_row=2, max_col=1, values_only=True)
        ids = []
        for (value,) in rows:
            if value is None:
                continue
            match = re.fullmatch(r"V-(\d+)", str(value))
            if match is None:
                raise ValueError(f"{sheet}: {value!r} is not a POA&M id")
            ids.append(int(match.group(1)))
        return ids
    finally:
        book.close()


def _on_mirrored(report: Report) -> QuerySet[SlaClock]:
    org = report_org(report)
    repositories = Mirror.objects.for_org(org).filter(created_at__lt=report.data_cutoff)
    return SlaClock.objects.for_org(org).filter(
        finding__digest__variant__series__repository_id__in=repositories.values(
            "repository_id"
        )
    )


@check(CHECKS, "poam_matches_ledger", kinds={Kind.POAM}, reads="workbook")
def poam_matches_ledger(subject: Subject) -> Iterator[str]:
    """The POA&M's open items are the org's clocks running at the cut-off on
    repositories it mirrors, and its closed items the clocks stopped (met,
    missed, exempt) in the window, recounted from the ledger."""
    report = subject.report
    cutoff = report.data_cutoff
    running = (
        _on_mirrored(report)
        .filter(started_at__lt=cutoff)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=cutoff))
    )
    yield from compare_with_ledger(
        subject,
        _poam_ids(subject.workbook or b"", OPEN_SHEET),
        running,
        "The open items sheet",
    )
    start, end = window_bounds(report)
    stopped = _on_mirrored(report).filter(
        Q(stopped_at__gte=start, stopped_at__lt=end),
        state__in=[SlaClock.State.MET, SlaClock.State.MISSED, SlaClock.State.EXEMPT],
    )
    yield from compare_with_ledger(
        subject,
        _poam_ids(subject.workbook or b"", CLOSED_SHEET),
        stopped,
        "The closed items sheet",
    )


def readme_names(readme: str) -> tuple[set[str], set[str]]:
    """The files and folders a bundle README says the zip holds: each line of
    its Contents list whose first word is a path, and every file it names."""
    files: set[str] = set()
    folders: set[str] = set()
    lines = readme.splitlines()
    if "Contents" in lines:
        for line in lines[lines.index("Contents") + 1 :]:
            if not line.strip():
                break
            if line.startswith("  ") and not line.startswith("   "):
                name = line.split()[0]
                if name.endswith("/"):
                    folders.add(name)
                elif "." in name:
                    files.add(name)
    files.update(re.findall(r"(?<![\w/.-])[\w-]+\.(?:pdf|json|sha256|txt)\b", readme))
    return files, folders


def _bundle(subject: Subject) -> zipfile.ZipFile:
    assert subject.bundle is not None  # noqa: S101 - run only with a bundle
    subject.bundle.seek(0)
    return zipfile.ZipFile(subject.bundle)


@check(
    CHECKS, "bundle_readme_lists_contents", kinds={Kind.EVIDENCE_BUNDLE}, reads="bundle"
)
def bundle_readme_lists_contents(subject: Subject) -> Iterator[str]:
    """Every file or folder the bundle's README names is in the zip, and the
    number of files it says the manifest covers is the manifest's."""
    with _bundle(subject) as zf:
        names = zf.namelist()
        if BUNDLE_README not in names:
            yield "The bundle has no README.txt."
            return
        readme = zf.read(BUNDLE_README).decode("utf-8")
    files, folders = readme_names(readme)
    for name in sorted(files - set(names)):
        yield f"README.txt names {name}, which is not in the zip."
    for folder in sorted(folders):
        if not any(n.startswith(folder) for n in names):
            yield f"README.txt names the folder {folder}, which is not in the zip."
    said = re.search(r"each of the (\d+) other files", readme)
    others = len([n for n in names if n != BUNDLE_MANIFEST])
    if said is not None and int(said.group(1)) != others:
        yield (
            f"README.txt says the manifest covers {said.group(1)} files; "
            f"the zip holds {others} besides it."
        )


@check(CHECKS, "bundle_manifest_complete", kinds={Kind.EVIDENCE_BUNDLE}, reads="bundle")
def bundle_manifest_complete(subject: Subject) -> Iterator[str]:
    """Every file in the zip is in MANIFEST.sha256 with its SHA-256, every
    manifest line names a file in the zip, and the zip's evidence.json and
    report.pdf are the report's evidence and a PDF carrying it."""
    with _bundle(subject) as zf:
        names = zf.namelist()
        counted = Counter(names)
        for name in sorted(n for n, k in counted.items() if k > 1):
            yield f"The zip holds {name} more than once."
        if BUNDLE_MANIFEST not in counted:
            yield "The bundle has no MANIFEST.sha256."
            return
        listed: dict[str, str] = {}
        for line in zf.read(BUNDLE_MANIFEST).decode("utf-8").splitlines():
            hexdigest, _, path = line.partition("  ")
            if not path or len(hexdigest) != 64:
                yield f"MANIFEST.sha256 has a malformed line: {line[:80]!r}."
                continue
            listed[path] = hexdigest
        for name in sorted(set(names) - set(listed) - {BUNDLE_MANIFEST}):
            yield f"{name} is in the zip but not in MANIFEST.sha256."
        for name in sorted(set(listed) - set(names)):
            yield f"MANIFEST.sha256 lists {name}, which is not in the zip."
        for name in sorted(set(listed) & set(names)):
            digest = hashlib.sha256()
            with zf.open(name) as member:
                while chunk := member.read(1024 * 1024):
                    digest.update(chunk)
            if digest.hexdigest() != listed[name]:
                yield f"{name} does not match its SHA-256 in MANIFEST.sha256."
        inside = zf.read("evidence.json") if "evidence.json" in counted else None
        if subject.evidence_json is not None and inside != subject.evidence_json:
            yield "The zip's evidence.json is not the report's evidence."
        if "report.pdf" in counted:
            attached = _attached_evidence(zf.read("report.pdf"))
            if attached is None or attached != inside:
                yield "The zip's report.pdf does not carry the zip's evidence.json."
        else:
            yield "The bundle has no report.pdf."


@check(CHECKS, "stored_files_intact", kinds=set(Kind.values), reads="stored")
def stored_files_intact(subject: Subject) -> Iterator[str]:
    """The stored file and evidence JSON still have the SHA-256 recorded
    for them when the report was issued."""
    report = subject.report
    assert subject.stored is not None  # noqa: S101 - run only when stored
    subject.stored.seek(0)
    content = hashlib.sha256()
    while chunk := subject.stored.read(1024 * 1024):
        content.update(chunk)
    if content.hexdigest() != report.sha256:
        yield "The stored file does not match the SHA-256 recorded for it."
    if report.evidence_sha256:
        evidence = subject.evidence_json or b""
        if hashlib.sha256(evidence).hexdigest() != report.evidence_sha256:
            yield "The stored evidence JSON does not match its recorded SHA-256."
