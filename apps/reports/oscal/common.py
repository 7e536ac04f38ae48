"""What the three OSCAL documents share: the identities (version 5 UUIDs in a
namespace of this portal), the parties, the matching tool, and one SLA clock
as an observed finding with its risk, milestones and log.

A clock is described as it stood at the report's data cut-off: a clock that
stopped after the cut-off was running then, and a running clock's state is
read from its times (at risk, breached) rather than from the last sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from apps.catalog.models import ImageDigest, Repository
from apps.orgs.models import Organization
from apps.sla.models import SlaClock, SlaWaiver

from ..formats import oscal as fmt
from ..models import Report
from ..poam import risk_rating

State = SlaClock.State
CHUNK = 2000

# What reading one clock needs, in one query per chunk.
CLOCK_FIELDS = (
    "finding__vulnerability",
    "finding__component",
    "finding__digest__variant__series__repository",
    "policy_version__policy",
)

CONTROLS = ("ra-5", "si-2")
SSP_PLACEHOLDER = "REPLACE-WITH-YOUR-SSP.json"
AP_PLACEHOLDER = "REPLACE-WITH-YOUR-ASSESSMENT-PLAN.json"


def namespace() -> uuid.UUID:
    """This portal's namespace for OSCAL UUIDs: two portals never mint the
    same UUID for different subjects, one portal always mints the same."""
    return uuid.uuid5(uuid.NAMESPACE_URL, settings.SITE_URL.rstrip("/") + "/oscal")


def identity(*parts: object) -> str:
    return fmt.oscal_uuid(namespace(), *parts)


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def head(report: Report, *, kind: str, title: str, subject: str, remarks: str):
    """The document's head: its UUID names ``kind`` for ``subject``, its
    version and last-modified time are the report's data cut-off."""
    org = report_org(report)
    cutoff = report.data_cutoff
    return fmt.Head(
        uuid=identity(kind, subject),
        title=title,
        last_modified=cutoff,
        version=cutoff.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        publisher=fmt.Party(
            uuid=identity("party", "publisher"),
            name=settings.SITE_NAME,
            href=site_url("/"),
        ),
        customer=fmt.Party(uuid=identity("party", "org", org.pk), name=org.name),
        props=(
            ("report-id", str(report.public_id)),
            ("data-cut-off", cutoff.astimezone(UTC).isoformat()),
        ),
        remarks=remarks,
    )


def report_org(report: Report) -> Organization:
    if report.org is None:
        raise ValueError("An OSCAL document is an organization's: this has none.")
    return report.org


def tool() -> fmt.Tool:
    return fmt.Tool(
        uuid=identity("tool", "sbom-matching"),
        platform_uuid=identity("platform", "portal"),
        title=f"{settings.SITE_NAME} SBOM vulnerability matching",
        description=(
            "Matches the components each image's SBOM names against the advisory "
            "records the publisher imports (OSV feeds, the CISA KEV catalog), "
            "with each ecosystem's version rules."
        ),
    )


def family(repository: Repository) -> fmt.Family:
    return fmt.Family(
        uuid=identity("repository", repository.pk),
        name=repository.name,
        title=repository.display_name or repository.name,
        description=repository.description,
        href=site_url(repository.get_absolute_url()),
    )


def product(image: ImageDigest) -> str:
    """``payments-api:2.4-fips``: the variant's tag (as the XLSX names it)."""
    variant = image.variant
    suffix = f"-{variant.suffix}" if variant.suffix else ""
    return f"{variant.series.repository.name}:{variant.series.name}{suffix}"


def build(image: ImageDigest) -> fmt.Build:
    return fmt.Build(
        uuid=identity("image", image.digest),
        family_uuid=identity("repository", image.variant.series.repository_id),
        digest=image.digest,
        image=product(image),
        href=site_url(image.get_absolute_url()),
    )


def clocks_with_waivers(clocks: QuerySet[SlaClock]) -> QuerySet[SlaClock]:
    """The clocks with what an item reads: finding, policy and waivers."""
    return clocks.select_related(*CLOCK_FIELDS).prefetch_related(
        Prefetch("waivers", queryset=SlaWaiver.objects.order_by("created_at", "id"))
    )


def state_at(clock: SlaClock, cutoff: datetime) -> str:
    """The clock's state at the cut-off, from its times."""
    if clock.stopped_at is not None and clock.stopped_at < cutoff:
        return clock.state
    if clock.due_at <= cutoff:
        return State.BREACHED
    if clock.at_risk_at <= cutoff:
        return State.AT_RISK
    return State.OPEN


def _waiver_pending(clock: SlaClock, cutoff: datetime) -> bool:
    for waiver in clock.waivers.all():
        decided = waiver.approved_at or waiver.rejected_at or waiver.expired_at
        if waiver.created_at < cutoff and (decided is None or decided >= cutoff):
            return True
    return False


def risk_status(clock: SlaClock, state: str, cutoff: datetime) -> str:
    """OSCAL's risk status: a running clock is open (or a deviation
    requested while a waiver waits); a fixed one closed; a waived one an
    approved deviation; a VEX not_affected or withdrawn one closed."""
    if state in SlaClock.RUNNING:
        return "deviation-requested" if _waiver_pending(clock, cutoff) else "open"
    if state == State.EXEMPT and clock.stop_reason == SlaClock.StopReason.WAIVER:
        return "deviation-approved"
    return "closed"


def _cve(vulnerability) -> str:
    cve = vulnerability.cve_id
    return cve if cve.upper().startswith("CVE-") else ""


def _fix(finding) -> str:
    component = finding.component
    if finding.fixed_version:
        return f"{component.name} {finding.fixed_version}"
    return f"a fixed {component.name}"


def _milestones(clock: SlaClock) -> tuple[fmt.Milestone, ...]:
    version = clock.policy_version
    vulnerability = clock.finding.vulnerability
    due_note = "The publisher's SLA deadline for a rebuilt image"
    if clock.kev_capped:
        due_note += f", capped by the CISA KEV due date {vulnerability.kev_due_date}"
    milestones = [
        fmt.Milestone(
            uuid=identity("sla-clock", clock.pk, "milestone", "at-risk"),
            title="SLA clock at risk",
            description=(
                f"{version.at_risk_percent} % of the time to the deadline has passed."
            ),
            on=clock.at_risk_at,
        ),
        fmt.Milestone(
            uuid=identity("sla-clock", clock.pk, "milestone", "due"),
            title="Fixed image due",
            description=due_note + ".",
            on=clock.due_at,
        ),
    ]
    if vulnerability.kev_due_date is not None:
        kev_due = datetime.combine(
            vulnerability.kev_due_date, datetime.min.time(), tzinfo=UTC
        )
        milestones.append(
            fmt.Milestone(
                uuid=identity("sla-clock", clock.pk, "milestone", "kev-due"),
                title="CISA KEV due date",
                description="The remediation date CISA's KEV catalog sets.",
                on=kev_due,
            )
        )
    milestones.sort(key=lambda m: (m.on, m.title))
    return tuple(milestones)


def _log(clock: SlaClock, state: str, cutoff: datetime) -> tuple[fmt.LogEntry, ...]:
    finding = clock.finding
    entries: list[fmt.LogEntry] = []

    def add(key: str, title: str, description: str, at, status: str = "") -> None:
        if at is not None and at <= cutoff:
            entries.append(
                fmt.LogEntry(
                    uuid=identity("sla-clock", clock.pk, "log", key),
                    title=title,
                    description=description,
                    start=at,
                    status_change=status,
                )
            )

    add(
        "detected",
        "Detected",
        f"Found by SBOM matching in {product(finding.digest)}.",
        finding.detected_at,
    )
    add(
        "started",
        "SLA clock started",
        f"Started from: {clock.get_start_event_display()}.",
        clock.started_at,
        "open",
    )
    stopped = clock.stopped_at if state not in SlaClock.RUNNING else None
    if stopped is None or clock.at_risk_at < stopped:
        add("at-risk", "SLA clock at risk", "", clock.at_risk_at)
    if stopped is None or clock.due_at < stopped:
        add("due", "Deadline passed unfixed", "", clock.due_at)
    for waiver in clock.waivers.all():
        n = waiver.pk
        add(
            f"waiver-{n}-requested",
            "Waiver requested",
            waiver.reason,
            waiver.created_at,
            "deviation-requested",
        )
        add(f"waiver-{n}-approved", "Waiver approved", "", waiver.approved_at)
        add(
            f"waiver-{n}-rejected",
            "Waiver rejected",
            waiver.rejection_reason,
            waiver.rejected_at,
            "open",
        )
        add(f"waiver-{n}-expired", "Waiver expired", "", waiver.expired_at, "open")
    if stopped is not None:
        reason = clock.get_stop_reason_display() if clock.stop_reason else ""
        if clock.exempt_reason:
            reason = (
                f"{reason}: {clock.exempt_reason}" if reason else clock.exempt_reason
            )
        add(
            "stopped",
            f"SLA clock stopped: {clock.get_state_display()}",
            reason,
            stopped,
            risk_status(clock, state, cutoff),
        )
    entries.sort(key=lambda e: (e.start, e.uuid))
    return tuple(entries)


def _props(clock: SlaClock, state: str) -> fmt.Props:
    finding = clock.finding
    v = finding.vulnerability
    pairs = [
        ("sla-state", state),
        ("sla-policy", str(clock.policy_version)),
        ("sla-start-event", clock.start_event),
        ("sla-started", clock.started_at.astimezone(UTC).isoformat()),
        ("kev-capped", "yes" if clock.kev_capped else "no"),
        ("cvss-v3-vector", v.cvss_v3_vector),
        ("cvss-v3-base-score", v.cvss_v3_score if v.cvss_v3_score is not None else ""),
        ("cvss-v4-vector", v.cvss_v4_vector),
        ("cvss-v4-base-score", v.cvss_v4_score if v.cvss_v4_score is not None else ""),
        ("fixed-version", finding.fixed_version),
        ("image-digest", finding.digest.digest),
    ]
    if v.kev and v.kev_ransomware:
        pairs.append(("kev-known-ransomware-use", "yes"))
    return tuple((name, str(value)) for name, value in pairs if str(value))


def item(
    clock: SlaClock, *, cutoff: datetime, item_kind: str, digest_url: str
) -> fmt.Item:
    """One clock as an OSCAL item; ``item_kind`` names what the item is
    (``poam-item`` or ``finding``), which its UUID is minted for."""
    finding = clock.finding
    vulnerability = finding.vulnerability
    component = finding.component
    image = finding.digest
    name = product(image)
    state = state_at(clock, cutoff)
    status = risk_status(clock, state, cutoff)
    fix = _fix(finding)
    title = f"{vulnerability.vuln_id} in {component.name} {component.version}".strip()
    description = (vulnerability.summary or vulnerability.details or "").strip()
    statement = (
        f"The image {name} ({image.digest}) ships {component.purl}, which "
        f"{vulnerability.vuln_id} affects"
        + (f"; {finding.fixed_version} fixes it" if finding.fixed_version else "")
        + "."
    )
    if vulnerability.kev:
        statement += " It is listed in CISA's Known Exploited Vulnerabilities catalog."
    if state in SlaClock.RUNNING:
        plan = (
            f"Vendor dependency: the publisher rebuilds {name} with {fix} under "
            f"the SLA policy {clock.policy_version}; the clock started "
            f"{when(clock.started_at)} and is due {when(clock.due_at)}."
        )
    elif state in (State.MET, State.MISSED):
        plan = (
            f"The publisher published a rebuilt image on {when(clock.stopped_at)} "
            f"({clock.get_state_display().lower()}; due {when(clock.due_at)})."
        )
    else:
        plan = (
            f"No rebuild is owed: the clock stopped {when(clock.stopped_at)} "
            f"({clock.get_stop_reason_display() or 'exempt'})."
        )
    objective, remarks = _objective(clock, state)
    return fmt.Item(
        clock_id=clock.pk,
        observation_uuid=identity("sla-clock", clock.pk, "observation"),
        risk_uuid=identity("sla-clock", clock.pk, "risk"),
        item_uuid=identity("sla-clock", clock.pk, item_kind),
        recommendation_uuid=identity("sla-clock", clock.pk, "recommendation"),
        plan_uuid=identity("sla-clock", clock.pk, "plan"),
        title=title,
        description=description or f"{vulnerability.vuln_id} affects {component.purl}.",
        statement=statement,
        vuln_id=vulnerability.vuln_id,
        cve_id=_cve(vulnerability),
        severity=clock.severity,
        risk_rating=risk_rating(clock.severity),
        status=status,
        deadline=clock.due_at,
        detected_at=finding.detected_at,
        detection_source=(
            f"{settings.SITE_NAME} SBOM vulnerability matching: the image's SBOM "
            f"against the {vulnerability.vuln_id} advisory"
        ),
        package_url=component.purl,
        family_uuid=identity("repository", image.variant.series.repository_id),
        build_uuid=identity("image", image.digest),
        build_title=f"{name}@{image.digest}",
        evidence_href=digest_url.replace(_NO_DIGEST, image.digest),
        evidence_description=(
            f"The image's page on {settings.SITE_NAME}: its SBOMs, findings, "
            "VEX statements and attestations."
        ),
        recommendation=(
            f"Deploy the publisher's rebuilt {name} image with {fix} once it is "
            "published."
        ),
        plan=plan,
        plan_lifecycle="completed" if state in (State.MET, State.MISSED) else "planned",
        controls=CONTROLS,
        kev=vulnerability.kev,
        kev_due=vulnerability.kev_due_date,
        cvss_v3_vector=vulnerability.cvss_v3_vector,
        milestones=_milestones(clock),
        log=_log(clock, state, cutoff),
        props=_props(clock, state),
        objective_status=objective,
        objective_remarks=remarks,
    )


def _objective(clock: SlaClock, state: str) -> tuple[str, str]:
    """SI-2(c) for this flaw: satisfied when fixed by the deadline, not
    satisfied when fixed late or still unfixed past it; otherwise not decided."""
    due = when(clock.due_at)
    if state == State.MET:
        return "satisfied", f"Fixed {when(clock.stopped_at)}, by the deadline {due}."
    if state == State.MISSED:
        return (
            "not-satisfied",
            f"Fixed {when(clock.stopped_at)}, after the deadline {due}.",
        )
    if state == State.BREACHED:
        return "not-satisfied", f"Unfixed past the deadline {due}."
    if state == State.EXEMPT:
        reason = clock.get_stop_reason_display() or "exempt"
        if clock.exempt_reason:
            reason += f": {clock.exempt_reason}"
        return "", f"Not judged: the clock was stopped as exempt ({reason})."
    return "", f"Not judged yet: the clock runs until {due}."


_NO_DIGEST = "sha256:" + "0" * 64


def digest_url_template() -> str:
    """The digest page's URL with a placeholder: one reverse() per document."""
    return site_url(reverse("catalog:digest", kwargs={"digest": _NO_DIGEST}))


def items_and_subjects(
    clocks: QuerySet[SlaClock], *, cutoff: datetime, item_kind: str
) -> tuple[list[fmt.Item], list[fmt.Family], list[fmt.Build]]:
    """The items of ``clocks`` (read in chunks) and the image families and
    builds they name, each once, in name order."""
    digest_url = digest_url_template()
    items: list[fmt.Item] = []
    families: dict[int, fmt.Family] = {}
    builds: dict[str, fmt.Build] = {}
    for clock in clocks_with_waivers(clocks).iterator(chunk_size=CHUNK):
        image = clock.finding.digest
        repository = image.variant.series.repository
        families.setdefault(repository.pk, family(repository))
        builds.setdefault(image.digest, build(image))
        items.append(
            item(clock, cutoff=cutoff, item_kind=item_kind, digest_url=digest_url)
        )
    return (
        items,
        sorted(families.values(), key=lambda f: f.name),
        sorted(builds.values(), key=lambda b: (b.image, b.digest)),
    )


def sorted_items(items: Iterable[fmt.Item]) -> list[fmt.Item]:
    return sorted(items, key=lambda i: (i.deadline, i.clock_id))
