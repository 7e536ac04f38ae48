"""Running the checks: on the parts of a report being built (the pipeline),
or on stored ready reports from their stored files."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from datetime import datetime
from typing import IO

from django.db import DatabaseError
from django.utils import timezone

from ..models import Report
from . import contents, fedramp, files, oscal
from .base import Check, Kind, Subject, Violation, subject_label

# Beyond this many messages a check says how many more it found.
MESSAGES_PER_CHECK = 20
# In the order they run: what the evidence says, then the files.
CHECKS: tuple[Check, ...] = (
    *contents.CHECKS,
    *fedramp.CHECKS,
    *files.CHECKS,
    *oscal.CHECKS,
)


def check_names() -> list[str]:
    return [c.name for c in CHECKS]


def _has_part(subject: Subject, reads: str) -> bool:
    return getattr(subject, reads) is not None


def subject_check(subject: Subject) -> list[Violation]:
    """Every check that applies to the subject's kind and parts."""
    label = subject_label(subject.report)
    violations: list[Violation] = []
    for c in CHECKS:
        if subject.report.kind not in c.kinds or not _has_part(subject, c.reads):
            continue
        try:
            messages = list(c.run(subject))
        except DatabaseError:
            # The database went away: the build is retried, not judged.
            raise
        except Exception as exc:
            # A report the check cannot read is not a report it can pass.
            messages = [f"The check could not read the report ({exc!r})."]
        if len(messages) > MESSAGES_PER_CHECK:
            more = len(messages) - MESSAGES_PER_CHECK
            messages = [*messages[:MESSAGES_PER_CHECK], f"... and {more} more."]
        violations.extend(Violation(c.name, label, m) for m in messages)
    return violations


def report_checks(
    *,
    report: Report,
    evidence: dict | None = None,
    evidence_json: bytes | None = None,
    pdf: bytes | None = None,
    bundle: bytes | IO[bytes] | None = None,
    workbook: bytes | None = None,
    oscal: bytes | None = None,
    built_until: datetime | None = None,
) -> list[Violation]:
    """Check the parts of ``report`` given; an empty list when all hold.

    The pipeline calls this twice for an evidence bundle: with the evidence
    and the unsigned PDF before signing, then with the zip once it is packed.
    ``built_until``: when the build finished reading (None: it still is)."""
    subject = Subject(
        report=report,
        evidence=evidence,
        evidence_json=evidence_json,
        pdf=pdf,
        bundle=io.BytesIO(bundle) if isinstance(bundle, bytes) else bundle,
        workbook=workbook,
        oscal=oscal,
        # A report built outside the pipeline is being built now.
        built_from=report.started_at or timezone.now(),
        built_until=built_until,
    )
    return subject_check(subject)


def reports_check_stored(*, report: Report | None = None) -> list[Violation]:
    """Re-run the checks on stored ready reports, from their stored files.

    ``reports_check_stored(*, report: Report | None = None) -> list[Violation]``

    ``report``: one report (it must be ready), or None for every ready report,
    read one at a time in id order. Each report's evidence comes from its
    stored evidence JSON and its file (PDF, evidence bundle zip, POA&M
    workbook or OSCAL document) from storage; the files are also checked
    against their recorded SHA-256. Ledger recounts count the clocks that
    existed when the report was built (``started_at`` to ``finished_at``), so
    a clock created later is not held against it.

    Returns every violation found (``check``, ``subject`` "report <id>",
    ``message``; ``as_dict()`` for JSON); an empty list when all hold.
    """
    if report is not None:
        reports: Iterable[Report] = [report]
    else:
        reports = (
            Report.objects.filter(status=Report.Status.READY)
            .select_related("org", "digest")
            .order_by("pk")
            .iterator(chunk_size=100)
        )
    violations: list[Violation] = []
    for one in reports:
        violations.extend(_stored_report_check(one))
    return violations


def _open(field_file) -> IO[bytes]:
    # From the storage, leaving the report's own file handle alone.
    return field_file.storage.open(field_file.name, "rb")


def _stored_report_check(report: Report) -> list[Violation]:
    label = subject_label(report)

    def failed(message: str) -> list[Violation]:
        return [Violation("stored_files_intact", label, message)]

    if report.status != Report.Status.READY:
        return failed(f"The report is {report.status}, not ready: no stored files.")
    try:
        evidence_json = None
        if report.evidence_file:
            with _open(report.evidence_file) as handle:
                evidence_json = handle.read()
        stored = _open(report.file)
    except OSError as exc:
        return failed(f"A stored file cannot be read ({exc!r}).")
    with stored:
        subject = Subject(
            report=report,
            evidence_json=evidence_json,
            built_from=report.started_at or report.data_cutoff,
            built_until=report.finished_at or report.data_cutoff,
            stored=stored,
        )
        if evidence_json is not None:
            try:
                subject.evidence = json.loads(evidence_json)
            except ValueError as exc:
                return failed(f"The stored evidence JSON does not parse ({exc}).")
        if report.kind == Kind.EVIDENCE_BUNDLE:
            # A bundle may be large: read where it lies, not into memory.
            subject.bundle = stored
            try:
                with zipfile.ZipFile(stored) as zf:
                    subject.pdf = zf.read("report.pdf")
            except (KeyError, zipfile.BadZipFile):
                subject.pdf = None  # the bundle checks say what is wrong
        elif report.kind == Kind.POAM:
            subject.workbook = stored.read()
        elif report.kind in oscal.OSCAL_KINDS:
            subject.oscal = stored.read()
        else:
            subject.pdf = stored.read()
        return subject_check(subject)
