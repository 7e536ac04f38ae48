"""A report checked against itself and the ledger before it is signed.

Each check is named, reads one part of a report (its evidence, the PDF, the
evidence bundle or the POA&M workbook) and returns violations, each with a
message a person can act on; a check that returns none holds. The pipeline
(``services``) runs them after the evidence is built and the file made, and
a report that fails one is neither signed nor offered for download.

The ledger recounts are written here, not borrowed from the code that made
the report, so they can disagree with it. A recount runs while the ledger
keeps moving: clocks created after the build began may or may not be in the
report, so the report must hold every clock of its window the ledger had when
the build began and none it did not have when the build ended.

``reports_check_stored`` runs the same checks on stored ready reports, from
their stored evidence JSON and files.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import IO, Any

from django.db import DatabaseError
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.sla.models import SLA_SEVERITIES, SlaClock

from .models import Report

Kind = Report.Kind

COMPLIANCE = frozenset({Kind.ORG_COMPLIANCE, Kind.EVIDENCE_BUNDLE})
PDF_KINDS = frozenset(
    {
        Kind.ORG_COMPLIANCE,
        Kind.IMAGE_DOSSIER,
        Kind.SLA_PERFORMANCE,
        Kind.EVIDENCE_BUNDLE,
    }
)
# Beyond this many messages a check says how many more it found.
MESSAGES_PER_CHECK = 20
IDS_IN_MESSAGE = 10
FIGURES = ("met", "missed", "breached", "open_breaches", "at_risk")
BUNDLE_MANIFEST = "MANIFEST.sha256"
BUNDLE_README = "README.txt"
_OPEN_SHEET = "Open POA&M Items"
_CLOSED_SHEET = "Closed POA&M Items"


@dataclass(frozen=True)
class Violation:
    """One way a report contradicts itself or the ledger."""

    check: str
    subject: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Subject:
    """What the checks read of one report. A part left None is not checked
    (the bundle's own checks run once the zip exists)."""

    report: Report
    evidence: dict | None = None
    evidence_json: bytes | None = None
    pdf: bytes | None = None
    bundle: IO[bytes] | None = None
    workbook: bytes | None = None
    # The build read the ledger between these instants; None: until now.
    built_from: datetime | None = None
    built_until: datetime | None = None
    # The stored file, open (only when re-checking stored reports).
    stored: IO[bytes] | None = None


CheckFn = Callable[[Subject], Iterable[str]]


@dataclass(frozen=True)
class Check:
    name: str
    kinds: frozenset[str]
    # The part of the report the check reads: evidence, pdf, bundle,
    # workbook or stored.
    reads: str
    run: CheckFn
    description: str


CHECKS: list[Check] = []


def check(name: str, *, kinds: Iterable[str], reads: str = "evidence"):
    """Register a check: ``run(subject)`` yields one message per violation."""

    def add(run: CheckFn) -> CheckFn:
        doc = (run.__doc__ or "").strip().split("\n\n")[0]
        CHECKS.append(Check(name, frozenset(kinds), reads, run, " ".join(doc.split())))
        return run

    return add


def check_names() -> list[str]:
    return [c.name for c in CHECKS]


# --- running -------------------------------------------------------------------


def _has_part(subject: Subject, reads: str) -> bool:
    return getattr(subject, reads) is not None


def _subject_label(report: Report) -> str:
    return f"report {report.public_id}"


def subject_check(subject: Subject) -> list[Violation]:
    """Every check that applies to the subject's kind and parts."""
    label = _subject_label(subject.report)
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
    stored evidence JSON and its file (PDF, evidence bundle zip or POA&M
    workbook) from storage; the files are also checked against their
    recorded SHA-256. Ledger recounts count the clocks that existed when the
    report was built (``started_at`` to ``finished_at``), so a clock created
    later is not held against it.

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
    label = _subject_label(report)

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
        else:
            subject.pdf = stored.read()
        return subject_check(subject)


# --- helpers -------------------------------------------------------------------


def _ids(ids: Iterable[int]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(str(i) for i in ordered[:IDS_IN_MESSAGE])
    if len(ordered) > IDS_IN_MESSAGE:
        shown += f" and {len(ordered) - IDS_IN_MESSAGE} more"
    return shown


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _ledger_ids(subject: Subject, clocks: QuerySet[SlaClock]) -> tuple[set, set]:
    """The ids the ledger held when the build began, and when it ended."""
    began = subject.built_from
    held_before = set(
        clocks.filter(created_at__lt=began).values_list("id", flat=True)
        if began is not None
        else ()
    )
    until = clocks
    if subject.built_until is not None:
        until = clocks.filter(created_at__lte=subject.built_until)
    return held_before, set(until.values_list("id", flat=True))


def _compare_with_ledger(
    subject: Subject, reported: list[int], clocks: QuerySet[SlaClock], what: str
) -> Iterator[str]:
    duplicates = [i for i, n in Counter(reported).items() if n > 1]
    if duplicates:
        yield f"{what} lists clock(s) {_ids(duplicates)} more than once."
    held_before, held_after = _ledger_ids(subject, clocks)
    ids = set(reported)
    missing = held_before - ids
    extra = ids - held_after
    if missing or extra:
        parts = [
            f"{what} counts {_plural(len(ids), 'clock')}; the ledger, "
            f"recounted, has {len(held_before)} to {len(held_after)}"
        ]
        if missing:
            parts.append(f"not in the report: {_ids(missing)}")
        if extra:
            parts.append(f"not in the ledger: {_ids(extra)}")
        yield "; ".join(parts) + "."


def _bounds(report: Report) -> tuple[datetime, datetime]:
    """[start, end) of the window in UTC, the end capped at the cut-off: the
    window the compliance evidence states (``period``)."""
    if report.window_start is None or report.window_end is None:
        raise ValueError("the report has no window")
    start = datetime.combine(report.window_start, time.min, tzinfo=UTC)
    end = datetime.combine(report.window_end + timedelta(days=1), time.min, tzinfo=UTC)
    return start, min(end, report.data_cutoff)


def _org(report: Report) -> Organization:
    if report.org is None:
        raise ValueError("the report has no organization")
    return report.org


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _percent(met: int, judged: int) -> str | None:
    return f"{round(100 * met / judged, 1):.1f}" if judged else None


# --- the compliance evidence ---------------------------------------------------


@check("mirrors_cover_sections", kinds=COMPLIANCE)
def mirrors_cover_sections(subject: Subject) -> Iterator[str]:
    """Every FIPS, STIG and ELS entry belongs to a repository the scope
    section lists as mirrored (with FIPS, STIG or ELS included as the entry
    says), and "no repository was mirrored" never stands beside entries."""
    e = subject.evidence or {}
    mirrors = {m["repository"]: m for m in e["mirrors"]}
    sections = (
        ("FIPS module inventory", e["fips_modules"]),
        ("STIG results", e["stig"]),
        ("lifecycle and ELS", e["els"]),
    )
    if not mirrors:
        for title, rows in sections:
            if rows:
                yield (
                    f"The scope section says no repository was mirrored, but the "
                    f"{title} section lists {_plural(len(rows), 'entry', 'entries')}."
                )
        return
    for module in e["fips_modules"]:
        for carrier in module["carriers"]:
            repository = carrier["repository"]
            mirror = mirrors.get(repository)
            where = f"FIPS module #{module['certificate']} in {carrier['variant']}"
            if mirror is None:
                yield f"{where}: {repository} is not a mirrored repository."
            elif not mirror["include_fips"]:
                yield f"{where}: {repository} is mirrored without FIPS."
    for build in e["stig"]:
        repository = build["repository"]
        mirror = mirrors.get(repository)
        where = f"STIG results of {build['image']} ({build['digest'][:19]})"
        if mirror is None:
            yield f"{where}: {repository} is not a mirrored repository."
        elif not mirror["include_stig"]:
            yield f"{where}: {repository} is mirrored without STIG."
    for series in e["els"]:
        repository = series["repository"]
        mirror = mirrors.get(repository)
        where = f"Lifecycle row {repository}:{series['series']}"
        if mirror is None:
            yield f"{where}: {repository} is not a mirrored repository."
        elif series["include_els"] != mirror["include_els"]:
            said = "included" if series["include_els"] else "not included"
            yield (
                f"{where} says ELS is {said}; the mirror says "
                f"{'included' if mirror['include_els'] else 'not included'}."
            )


@check("clocks_match_ledger", kinds=COMPLIANCE)
def clocks_match_ledger(subject: Subject) -> Iterator[str]:
    """The clocks the report says ran during the window are the ledger's:
    recounted from the org's clocks started before the window's end and not
    stopped before its start, with the window the report states."""
    report, e = subject.report, subject.evidence or {}
    start, end = _bounds(report)
    period = e["period"]
    if period != {"start": _stamp(start), "end": _stamp(end)}:
        yield (
            f"The report states the window {period['start']} to {period['end']}; "
            f"its request is {_stamp(start)} to {_stamp(end)}."
        )
        return
    clocks = (
        SlaClock.objects.for_org(_org(report))
        .filter(started_at__lt=end)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
    )
    reported = [row["id"] for row in e["appendix"]["clocks"]]
    yield from _compare_with_ledger(subject, reported, clocks, "Appendix A")


@check("appendix_matches_summary", kinds=COMPLIANCE)
def appendix_matches_summary(subject: Subject) -> Iterator[str]:
    """The summary's clock count and counts by state are the appendix's
    rows, and every clock sections 4 and 5 name is in the appendix."""
    appendix = (subject.evidence or {})["appendix"]
    rows = appendix["clocks"]
    if appendix["count"] != len(rows):
        yield (
            f"The summary says {appendix['count']} clocks ran during the window; "
            f"appendix A lists {len(rows)}."
        )
    states = Counter(row["state"] for row in rows)
    if dict(states) != appendix["states"]:
        said = ", ".join(f"{n} {s}" for s, n in sorted(appendix["states"].items()))
        listed = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        yield (
            f"The summary counts {said or 'none'}; appendix A lists {listed or 'none'}."
        )
    in_appendix = {row["id"] for row in rows}
    for key, title in (("late_clocks", "Section 4"), ("exemptions", "Section 5")):
        absent = {c["id"] for c in (subject.evidence or {})[key]} - in_appendix
        if absent:
            yield f"{title} names clock(s) {_ids(absent)}, not in appendix A."


@check("late_clocks_match_figures", kinds=COMPLIANCE)
def late_clocks_match_figures(subject: Subject) -> Iterator[str]:
    """The breached and missed clocks listed in section 4 are, severity by
    severity, those counted in section 3.1; exempted clocks are exempt."""
    e = subject.evidence or {}
    contract = e["sla"]["contract"]
    listed = Counter((c["state"], c["severity"]) for c in e["late_clocks"])
    rows = [*contract["severities"], {"severity": None, **contract["overall"]}]
    for row in rows:
        severity = row["severity"]
        for state in ("breached", "missed"):
            n = (
                sum(v for (s, _), v in listed.items() if s == state)
                if severity is None
                else listed[(state, severity)]
            )
            if n != row[state]:
                label = "all severities" if severity is None else severity
                yield (
                    f"Section 3.1 counts {row[state]} {state} ({label}); "
                    f"section 4 lists {n}."
                )
    other = {c["state"] for c in e["late_clocks"]} - {"breached", "missed"}
    if other:
        yield f"Section 4 lists clocks in state(s) {', '.join(sorted(other))}."
    not_exempt = [c["id"] for c in e["exemptions"] if c["state"] != "exempt"]
    if not_exempt:
        yield f"Section 5 lists clock(s) {_ids(not_exempt)} that are not exempt."


def _figure_rows(block: dict, where: str) -> Iterator[str]:
    """Severities sum to the total; judged and attainment follow the counts."""
    for row in [*block["severities"], {"severity": "all", **block["overall"]}]:
        judged = row["met"] + row["missed"] + row["breached"]
        if row["judged"] != judged:
            yield (
                f"{where}, {row['severity']}: judged {row['judged']}, but met, "
                f"missed and breached add up to {judged}."
            )
        if row["attainment"] != _percent(row["met"], judged):
            yield (
                f"{where}, {row['severity']}: attainment {row['attainment']} % "
                f"is not {row['met']} met of {judged} judged."
            )
    unknown = {r["severity"] for r in block["severities"]} - set(SLA_SEVERITIES)
    if unknown:
        yield f"{where}: unknown severities {', '.join(sorted(unknown))}."
    for name in FIGURES:
        total = sum(r[name] for r in block["severities"])
        if total != block["overall"][name]:
            yield (
                f"{where}: {name.replace('_', ' ')} by severity add up to {total}; "
                f"the total says {block['overall'][name]}."
            )


@check(
    "severity_totals",
    kinds={Kind.ORG_COMPLIANCE, Kind.EVIDENCE_BUNDLE, Kind.SLA_PERFORMANCE},
)
def severity_totals(subject: Subject) -> Iterator[str]:
    """Figures by severity add up to the total; judged is met, missed and
    breached; attainment is met over judged. Across customers, the
    customers' met, missed and breached add up to the all-customers row."""
    e = subject.evidence or {}
    if subject.report.kind != Kind.SLA_PERFORMANCE:
        yield from _figure_rows(e["sla"]["contract"], "SLA under the contract")
        return
    yield from _figure_rows(e["all_customers"], "All customers")
    for customer in e["customers"]:
        yield from _figure_rows(customer, customer["org"]["name"])
    for name in ("met", "missed", "breached"):
        total = sum(c["overall"][name] for c in e["customers"])
        if total != e["all_customers"]["overall"][name]:
            yield (
                f"Customers' {name} add up to {total}; all customers: "
                f"{e['all_customers']['overall'][name]}."
            )


@check("overlay_totals", kinds=COMPLIANCE)
def overlay_totals(subject: Subject) -> Iterator[str]:
    """Each overlay judges every clock it measured once, and the clocks it
    measured are the appendix's clocks started in the window."""
    e = subject.evidence or {}
    # Every appendix clock started before the window's end; the times are to
    # the second, so one started in the cut-off's own second shows it.
    started = {
        row["id"]
        for row in e["appendix"]["clocks"]
        if e["period"]["start"] <= row["started_at"]
    }
    for overlay in e["sla"]["overlays"]:
        counts = overlay["counts"]
        name = overlay["name"]
        if sum(counts.values()) != overlay["measured"]:
            yield (
                f"{name}: outcomes add up to {sum(counts.values())}, "
                f"not the {overlay['measured']} clocks measured."
            )
        judged = sum(counts.get(k, 0) for k in ("met", "missed", "breached"))
        if overlay["judged"] != judged or overlay["attainment"] != _percent(
            counts.get("met", 0), judged
        ):
            yield f"{name}: judged or attainment does not follow from its counts."
        if overlay["measured"] > overlay["total"]:
            yield f"{name}: measured {overlay['measured']} of {overlay['total']}."
        if overlay["total"] != len(started):
            yield (
                f"{name}: {overlay['total']} clocks started in the window; "
                f"appendix A lists {len(started)} started in it."
            )


def _scan_totals(scan: dict, where: str) -> Iterator[str]:
    columns = [0] * len(scan["statuses"])
    for row in scan["cats"]:
        added = sum(row["figures"])
        if added != row["total"]:
            yield f"{where}, {row['cat']}: figures add to {added}, not {row['total']}."
        columns = [a + b for a, b in zip(columns, row["figures"], strict=True)]
    if columns != list(scan["totals"]):
        yield f"{where}: the CAT rows add up to {columns}; totals say {scan['totals']}."
    if sum(scan["totals"]) != scan["rules"]:
        yield (
            f"{where}: the totals add up to {sum(scan['totals'])}, "
            f"not {scan['rules']} rules."
        )


@check("stig_totals", kinds={*COMPLIANCE, Kind.IMAGE_DOSSIER})
def stig_totals(subject: Subject) -> Iterator[str]:
    """Each STIG scan's CAT rows add up to its totals, and those to its rules."""
    e = subject.evidence or {}
    if subject.report.kind == Kind.IMAGE_DOSSIER:
        scans = [(s, e["image"]["variant"]) for s in e["stig"]]
    else:
        scans = [(s, b["image"]) for b in e["stig"] for s in b["scans"]]
    for scan, image in scans:
        yield from _scan_totals(scan, f"STIG {scan['benchmark_id']} of {image}")


@check("findings_by_severity", kinds={Kind.IMAGE_DOSSIER})
def findings_by_severity(subject: Subject) -> Iterator[str]:
    """The dossier's counts by severity are its findings, counted."""
    e = subject.evidence or {}
    counted = dict(Counter(f["severity"] for f in e["findings"]))
    if counted != e["finding_counts"]:
        yield (
            f"Counts by severity {e['finding_counts']} are not the findings "
            f"listed ({counted})."
        )


SECTION_OF_EVIDENCE = {
    "sla_ledger": ("appendix", "clocks"),
    "stig_scans": ("stig",),
    "fips_modules": ("fips_modules",),
    "els_coverage": ("els",),
}


@check("controls_match_sections", kinds=COMPLIANCE)
def controls_match_sections(subject: Subject) -> Iterator[str]:
    """The control map marks the ledger, STIG, FIPS and ELS evidence held
    exactly when their sections have entries."""
    e = subject.evidence or {}
    for control in e["controls"]:
        for item in control["evidence"]:
            path = SECTION_OF_EVIDENCE.get(item["kind"])
            if path is None:
                continue
            section: Any = e
            for key in path:
                section = section[key]
            if item["present"] != bool(section):
                said = "held" if item["present"] else "not held"
                yield (
                    f"{control['control_id']} marks {item['label']} {said}; its "
                    f"section has {_plural(len(section), 'entry', 'entries')}."
                )
        if control["supported"] != any(i["present"] for i in control["evidence"]):
            yield f"{control['control_id']}: 'supported' does not follow its evidence."


# --- the files -----------------------------------------------------------------


def _attached_evidence(pdf: bytes) -> bytes | None:
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        attachment = document.attachments.get("evidence.json")
        return None if attachment is None else attachment.get_file().read_bytes()


@check("pdf_carries_evidence", kinds=PDF_KINDS, reads="pdf")
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
    org = _org(report)
    repositories = Mirror.objects.for_org(org).filter(created_at__lt=report.data_cutoff)
    return SlaClock.objects.for_org(org).filter(
        finding__digest__variant__series__repository_id__in=repositories.values(
            "repository_id"
        )
    )


@check("poam_matches_ledger", kinds={Kind.POAM}, reads="workbook")
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
    yield from _compare_with_ledger(
        subject,
        _poam_ids(subject.workbook or b"", _OPEN_SHEET),
        running,
        "The open items sheet",
    )
    start, end = _bounds(report)
    stopped = _on_mirrored(report).filter(
        Q(stopped_at__gte=start, stopped_at__lt=end),
        state__in=[SlaClock.State.MET, SlaClock.State.MISSED, SlaClock.State.EXEMPT],
    )
    yield from _compare_with_ledger(
        subject,
        _poam_ids(subject.workbook or b"", _CLOSED_SHEET),
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


@check("bundle_readme_lists_contents", kinds={Kind.EVIDENCE_BUNDLE}, reads="bundle")
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


@check("bundle_manifest_complete", kinds={Kind.EVIDENCE_BUNDLE}, reads="bundle")
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


# --- stored files --------------------------------------------------------------


@check("stored_files_intact", kinds=set(Kind.values), reads="stored")
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
