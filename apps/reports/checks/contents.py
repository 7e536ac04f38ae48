"""Checks of what a report's evidence says, against itself and the ledger: the
mirrored scope, the clocks, the appendix, the figures and their totals, the
STIG scans, the dossier's findings and the control map."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q

from apps.registry.models import RegistryEvent
from apps.sla.models import SLA_SEVERITIES, SlaClock

from .base import (
    COMPLIANCE,
    Check,
    Kind,
    Subject,
    check,
    compare_with_ledger,
    ids_text,
    plural,
    report_org,
    window_bounds,
)

FIGURES = ("met", "missed", "breached", "open_breaches", "at_risk")


# This family's checks, in the order they run.
CHECKS: list[Check] = []


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _percent(met: int, judged: int) -> str | None:
    return f"{round(100 * met / judged, 1):.1f}" if judged else None


@check(CHECKS, "mirrors_cover_sections", kinds=COMPLIANCE)
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
                    f"{title} section lists {plural(len(rows), 'entry', 'entries')}."
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


@check(CHECKS, "clocks_match_ledger", kinds=COMPLIANCE)
def clocks_match_ledger(subject: Subject) -> Iterator[str]:
    """The clocks the report says ran during the window are the ledger's:
    recounted from the org's clocks started before the window's end and not
    stopped before its start, with the window the report states."""
    report, e = subject.report, subject.evidence or {}
    start, end = window_bounds(report)
    period = e["period"]
    if period != {"start": _stamp(start), "end": _stamp(end)}:
        yield (
            f"The report states the window {period['start']} to {period['end']}; "
            f"its request is {_stamp(start)} to {_stamp(end)}."
        )
        return
    clocks = (
        SlaClock.objects.for_org(report_org(report))
        .filter(started_at__lt=end)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
    )
    reported = [row["id"] for row in e["appendix"]["clocks"]]
    yield from compare_with_ledger(subject, reported, clocks, "Appendix A")


@check(CHECKS, "pulls_match_registry", kinds=COMPLIANCE)
def pulls_match_registry(subject: Subject) -> Iterator[str]:
    """The images the report says were pulled during the window are the
    registry's reported pulls, recounted: each digest with its count."""
    report, e = subject.report, subject.evidence or {}
    if "images_pulled" not in e:
        return
    start, end = window_bounds(report)
    counted = Counter(
        RegistryEvent.objects.for_org(report_org(report))
        .filter(
            action=RegistryEvent.Action.PULL,
            occurred_at__gte=start,
            occurred_at__lt=end,
        )
        .values_list("repository", "digest")
    )
    stated = Counter(
        {(row["repository"], row["digest"]): row["pulls"] for row in e["images_pulled"]}
    )
    if stated != counted:
        differing = sorted(
            set(stated) ^ set(counted)
            | {
                key
                for key in stated.keys() & counted.keys()
                if stated[key] != counted[key]
            }
        )
        yield (
            f"The report counts pulls of {len(stated)} image(s); the registry "
            f"reported {len(counted)}; they differ for "
            + ", ".join(f"{repo}@{digest[:19]}" for repo, digest in differing[:5])
            + "."
        )


@check(CHECKS, "appendix_matches_summary", kinds=COMPLIANCE)
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
            yield f"{title} names clock(s) {ids_text(absent)}, not in appendix A."


@check(CHECKS, "late_clocks_match_figures", kinds=COMPLIANCE)
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
        yield f"Section 5 lists clock(s) {ids_text(not_exempt)} that are not exempt."


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
    CHECKS,
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


@check(CHECKS, "overlay_totals", kinds=COMPLIANCE)
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


@check(CHECKS, "stig_totals", kinds={*COMPLIANCE, Kind.IMAGE_DOSSIER})
def stig_totals(subject: Subject) -> Iterator[str]:
    """Each STIG scan's CAT rows add up to its totals, and those to its rules."""
    e = subject.evidence or {}
    if subject.report.kind == Kind.IMAGE_DOSSIER:
        scans = [(s, e["image"]["variant"]) for s in e["stig"]]
    else:
        scans = [(s, b["image"]) for b in e["stig"] for s in b["scans"]]
    for scan, image in scans:
        yield from _scan_totals(scan, f"STIG {scan['benchmark_id']} of {image}")


@check(CHECKS, "findings_by_severity", kinds={Kind.IMAGE_DOSSIER})
def findings_by_severity(subject: Subject) -> Iterator[str]:
    """The dossier's counts by severity are its findings, counted."""
    e = subject.evidence or {}
    counted = dict(Counter(f["severity"] for f in e["findings"]))
    if counted != e["finding_counts"]:
        yield (
            f"Counts by severity {e['finding_counts']} are not the findings "
            f"listed ({counted})."
        )


SIGNATURE_VERDICTS = ("verified", "unverified", "invalid", "untrusted")


def _signature_counts_hold(
    counts: dict[str, int], attestations: int, revoked: int | None, where: str
) -> Iterator[str]:
    verdicts = sum(counts.get(v, 0) for v in SIGNATURE_VERDICTS)
    if verdicts != attestations:
        yield (
            f"{where}: the signature verdicts add up to {verdicts}, not the "
            f"{plural(attestations, 'attestation', 'attestations')} counted."
        )
    later = counts.get("no_longer_trusted", 0)
    if later > counts.get("untrusted", 0):
        yield (
            f"{where}: {later} no longer trusted, more than the "
            f"{counts.get('untrusted', 0)} untrusted."
        )
    if revoked is not None and later != revoked:
        yield (
            f"{where}: {later} said no longer trusted; the attestations listed "
            f"have {revoked} untrusted by a revoked signer."
        )


@check(CHECKS, "signature_counts", kinds={*COMPLIANCE, Kind.IMAGE_DOSSIER})
def signature_counts(subject: Subject) -> Iterator[str]:
    """The signature verdicts counted are the attestations' own: the dossier's
    counts are its attestations' verdicts, counted; the compliance report's
    add up to the attestations it counts by kind."""
    e = subject.evidence or {}
    if subject.report.kind == Kind.IMAGE_DOSSIER:
        counts = e.get("signature_counts")
        if counts is None:  # a report made before signatures were counted
            return
        listed = [a.get("signature", {}) for a in e["attestations"]]
        recounted = Counter(s.get("status") for s in listed)
        for verdict in SIGNATURE_VERDICTS:
            if counts.get(verdict, 0) != recounted.get(verdict, 0):
                yield (
                    f"Signatures {verdict}: {counts.get(verdict, 0)} counted, "
                    f"{recounted.get(verdict, 0)} listed."
                )
        revoked = sum(
            1
            for s in listed
            if s.get("status") == "untrusted" and s.get("check") == "revoked"
        )
        yield from _signature_counts_hold(
            counts, len(listed), revoked, "The attestations"
        )
        return
    counts = e.get("attestation_signatures")
    if counts is None:
        return
    kinds = sum(e.get("attestation_kinds", {}).values())
    yield from _signature_counts_hold(counts, kinds, None, "Signatures")


SECTION_OF_EVIDENCE = {
    "sla_ledger": ("appendix", "clocks"),
    "stig_scans": ("stig",),
    "fips_modules": ("fips_modules",),
    "els_coverage": ("els",),
}


@check(CHECKS, "controls_match_sections", kinds=COMPLIANCE)
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
                    f"section has {plural(len(section), 'entry', 'entries')}."
                )
        if control["supported"] != any(i["present"] for i in control["evidence"]):
            yield f"{control['control_id']}: 'supported' does not follow its evidence."
