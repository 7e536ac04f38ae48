"""The organization's Component Definition: one component per image family
(catalog repository) it mirrored by the window's end, each with what the
publisher's evidence shows for four controls of NIST SP 800-53 Rev. 5:

- SC-13 (cryptographic protection): the CMVP-validated modules the FIPS
  builds attest, with their status at the cut-off;
- SI-2 (flaw remediation): the organization's SLA clocks on the family that
  ran during the window, by state;
- RA-5 (vulnerability monitoring and scanning): what may be said of the
  latest build of each variant, against which advisory sources;
- CM-6 (configuration settings): the latest STIG scan of the STIG builds.

Each statement says only what the evidence supports. Where there is none
(no FIPS attestation, no SLA entitlement, no SBOM, no STIG scan) the
requirement says "Not assessed" and why, and carries the ``evidence``
property ``not-assessed``; partial evidence is ``partial``. The sections are
read as the compliance report reads them (``evidence.mirrored``), so the
two never disagree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from apps.catalog.models import Variant
from apps.entitlements.models import Mirror
from apps.entitlements.selectors import has_feature
from apps.sla.models import SlaClock

from ..evidence import mirrored
from ..evidence.common import window_bounds
from ..evidence.ledger import clocks_in_window
from ..formats import oscal as fmt
from ..models import Report
from . import common

NOT_ASSESSED = "not-assessed"
PARTIAL = "partial"
ASSESSED = "assessed"


def _mirrors(report: Report, end: datetime) -> list[Mirror]:
    org = common.report_org(report)
    return list(
        Mirror.objects.for_org(org)
        .filter(created_at__lt=end)
        .select_related("repository")
        .order_by("repository__name", "id")
    )


def _requirement(
    report: Report, mirror: Mirror, control: str, evidence: str, text: str, props=()
) -> fmt.Requirement:
    org = common.report_org(report)
    return fmt.Requirement(
        uuid=common.identity(
            "implemented-requirement", org.pk, mirror.repository_id, control
        ),
        control_id=control,
        description=text,
        evidence=evidence,
        props=tuple(props),
    )


def _sc13(report, mirror: Mirror, modules: list[dict], has_fips: bool):
    name = mirror.repository.name
    if not has_fips:
        return NOT_ASSESSED, f"Not assessed: {name} has no FIPS variant.", ()
    if not mirror.include_fips:
        return (
            NOT_ASSESSED,
            f"Not assessed: this organization's mirror of {name} does not include "
            "the FIPS variants.",
            (),
        )
    mine = [m for m in modules if any(c["repository"] == name for c in m["carriers"])]
    if not mine:
        return (
            NOT_ASSESSED,
            f"Not assessed: no FIPS attestation names a validated module in a FIPS "
            f"build of {name}.",
            (),
        )
    day = report.data_cutoff.astimezone(UTC).date()
    lines = [
        " ".join(part for part in (m["name"], m["version"]) if part)
        + f" by {m['vendor']}: CMVP certificate #{m['certificate']}, "
        f"{m['standard']}, {m['status_label']} on {day}"
        + (f", sunset {m['sunset_date']}" if m["sunset_date"] else "")
        for m in mine
    ]
    lapsed = [m for m in mine if m["status"] != "active"]
    text = (
        f"The FIPS builds of {name} carry these FIPS 140 validated cryptographic "
        "modules, as the publisher's FIPS attestations state: " + "; ".join(lines) + "."
    )
    if lapsed:
        text += (
            " A module whose certificate is not active does not support SC-13: "
            + ", ".join(f"#{m['certificate']}" for m in lapsed)
            + "."
        )
    props = [("fips-certificate", str(m["certificate"])) for m in mine]
    return (PARTIAL if lapsed else ASSESSED), text, props


def _si2(report, mirror: Mirror, states: Counter, entitled: bool):
    name = mirror.repository.name
    org = common.report_org(report)
    window = f"{report.window_start} to {report.window_end}"
    if not entitled:
        return (
            NOT_ASSESSED,
            f"Not assessed: {org.name} held no CVE patch SLA for {name} at the "
            "data cut-off, so its flaws are not on the SLA ledger.",
            (),
        )
    total = sum(states.values())
    if not total:
        return (
            ASSESSED,
            f"No SLA clock on {name} ran for {org.name} during {window}: the "
            "matching found no flaw in scope of the SLA policy.",
            (("sla-clocks", "0"),),
        )
    order = [s for s in SlaClock.State.values if states.get(s)]
    labels = dict(SlaClock.State.choices)
    counts = ", ".join(f"{states[s]} {labels[s].lower()}" for s in order)
    return (
        ASSESSED,
        f"The publisher's SLA ledger held {total} clock(s) on {name} for "
        f"{org.name} during {window} (states at the data cut-off): {counts}. "
        "Each is a flaw found in a mirrored image and the deadline for a rebuilt "
        "image; the Assessment Results and POA&M list them one by one.",
        tuple((f"sla-clocks-{s}", str(states[s])) for s in order),
    )


def _ra5(mirror: Mirror, builds: list[dict], kev: dict | None):
    name = mirror.repository.name
    mine = [b for b in builds if b["repository"] == name]
    if not mine:
        return (
            NOT_ASSESSED,
            f"Not assessed: no build of {name} that this organization takes was "
            "made by the window's end.",
            (),
        )
    lines = [f"{b['image']} ({b['digest']}): {b['text']}" for b in mine]
    states = {b["state"] for b in mine}
    if states == {"assessed"}:
        evidence = ASSESSED
    elif "assessed" in states or "partial" in states:
        evidence = PARTIAL
    else:
        evidence = NOT_ASSESSED
    text = (
        f"The latest build of each variant of {name} this organization takes, "
        "its SBOM matched against the advisory sources imported by the data "
        "cut-off: " + "; ".join(lines) + "."
    )
    if evidence == NOT_ASSESSED:
        text = f"Not assessed: no build of {name} this organization takes could be "
        text += "matched against advisory sources: " + "; ".join(lines) + "."
    sources = sorted(
        {
            f"{source['name']} (imported {source['imported_at']})"
            for b in mine
            for ecosystem in b["ecosystems"]
            for source in ecosystem["sources"]
        }
    )
    if sources:
        text += " Advisory sources: " + ", ".join(sources) + "."
    if kev is None:
        text += " No CISA KEV catalog had been imported."
    else:
        version = f" {kev['catalog_version']}" if kev["catalog_version"] else ""
        text += f" The CISA KEV catalog{version} was imported {kev['imported_at']}."
    props = tuple(("assessment", f"{b['image']}: {b['state']}") for b in mine)
    return evidence, text, props


def _cm6(mirror: Mirror, scans: list[dict], has_stig: bool):
    name = mirror.repository.name
    if not has_stig:
        return NOT_ASSESSED, f"Not assessed: {name} has no STIG variant.", ()
    if not mirror.include_stig:
        return (
            NOT_ASSESSED,
            f"Not assessed: this organization's mirror of {name} does not include "
            "the STIG variants.",
            (),
        )
    mine = [r for r in scans if r["repository"] == name]
    if not mine:
        return (
            NOT_ASSESSED,
            f"Not assessed: no STIG scan of a STIG build of {name}.",
            (),
        )
    latest = max(mine, key=lambda r: (r["built_at"] or "", r["digest"]))
    parts = []
    props = []
    for scan in latest["scans"]:
        statuses = scan["statuses"]
        cats = "; ".join(
            f"{row['cat']}: "
            + ", ".join(
                f"{n} {label.lower()}"
                for label, n in zip(statuses, row["figures"], strict=True)
                if n
            )
            for row in scan["cats"]
            if row["total"]
        )
        parts.append(
            f"{scan['benchmark_title'] or scan['benchmark_id']}"
            + (f" {scan['benchmark_version']}" if scan["benchmark_version"] else "")
            + f", scanned {scan['finished_at'] or 'at an unstated time'}"
            + (f" with {scan['scanner']}" if scan["scanner"] else "")
            + f" ({cats or 'no rule results'})"
        )
        props.append(("stig-benchmark", scan["benchmark_id"]))
    text = (
        f"The latest scanned STIG build of {name}, {latest['image']} "
        f"({latest['digest']}), against " + "; ".join(parts) + ". Failed rules "
        "are deviations from the benchmark the organization reviews."
    )
    return ASSESSED, text, tuple(props)


def _ledger_states(report: Report, start, end) -> dict[str, Counter]:
    """Per repository name, the window's clocks by state at the cut-off."""
    org = common.report_org(report)
    found: dict[str, Counter] = defaultdict(Counter)
    clocks = clocks_in_window(org, start, end).select_related(
        "finding__digest__variant__series__repository"
    )
    for clock in clocks.iterator(chunk_size=common.CHUNK):
        name = clock.finding.digest.variant.series.repository.name
        found[name][common.state_at(clock, report.data_cutoff)] += 1
    return found


def _variants(repository_ids: list[int]) -> dict[int, set[str]]:
    """Per repository id, which of ``fips`` and ``stig`` its variants include."""
    kinds: dict[int, set[str]] = defaultdict(set)
    rows = Variant.objects.filter(series__repository_id__in=repository_ids).values(
        "series__repository_id", "fips", "stig"
    )
    for row in rows:
        if row["fips"]:
            kinds[row["series__repository_id"]].add("fips")
        if row["stig"]:
            kinds[row["series__repository_id"]].add("stig")
    return kinds


def _sections(report: Report, mirrors: list[Mirror]) -> dict[str, Any]:
    org = common.report_org(report)
    start, end = window_bounds(report)
    cutoff = report.data_cutoff
    assessment = mirrored.vulnerability_assessment(mirrors, end, cutoff)
    return {
        "fips": mirrored.fips_modules(org, cutoff.astimezone(UTC).date(), mirrors),
        "stig": mirrored.stig_results(mirrors, end, start),
        "builds": assessment["builds"],
        "kev": assessment["kev"],
        "ledger": _ledger_states(report, start, end),
        "variants": _variants([m.repository_id for m in mirrors]),
    }


def oscal_component_definition(report: Report) -> bytes:
    """The Component Definition of the report's window, as OSCAL 1.1.2 JSON."""
    org = common.report_org(report)
    _, end = window_bounds(report)
    mirrors = _mirrors(report, end)
    sections = _sections(report, mirrors)
    components = []
    for mirror in mirrors:
        repository = mirror.repository
        kinds = sections["variants"].get(repository.pk, set())
        entitled = has_feature(
            org=org, feature="sla", repository=repository, at=report.data_cutoff
        )
        decided = {
            "sc-13": _sc13(report, mirror, sections["fips"], "fips" in kinds),
            "si-2": _si2(
                report,
                mirror,
                sections["ledger"].get(repository.name, Counter()),
                entitled,
            ),
            "ra-5": _ra5(mirror, sections["builds"], sections["kev"]),
            "cm-6": _cm6(mirror, sections["stig"], "stig" in kinds),
        }
        family = common.family(repository)
        components.append(
            fmt.DefinedComponent(
                uuid=family.uuid,
                implementation_uuid=common.identity(
                    "control-implementation", org.pk, repository.pk
                ),
                name=repository.name,
                title=family.title,
                description=family.description,
                href=family.href,
                requirements=tuple(
                    _requirement(report, mirror, control, *decided[control])
                    for control in ("sc-13", "si-2", "ra-5", "cm-6")
                ),
                props=(
                    ("fips-included", "yes" if mirror.include_fips else "no"),
                    ("stig-included", "yes" if mirror.include_stig else "no"),
                ),
            )
        )
    window = f"{report.window_start} to {report.window_end}"
    head = common.head(
        report,
        kind="component-definition",
        title=f"Component Definition: images {org.name} mirrors, {window}",
        subject=f"org/{org.pk}/window/{report.window_start}/{report.window_end}",
        remarks=(
            "One component per image family the organization mirrored by the "
            "window's end, with what the publisher's evidence shows for SC-13, "
            "SI-2, RA-5 and CM-6. A requirement whose evidence property is "
            "not-assessed has no evidence behind it; its description says why."
        ),
    )
    return fmt.component_definition_json(head=head, components=components)
