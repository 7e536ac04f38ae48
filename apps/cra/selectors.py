"""Reading Article 14 cases: each stage's deadline and state, the builds and
customers affected, and the field pack each stage's web form asks for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Min, Prefetch

from apps.catalog.models import ImageDigest
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.registry.mapping import variant_pull_path
from apps.registry.models import RegistryEvent
from apps.vulns.models import Finding, Vulnerability

from . import rules
from .models import CraCase, CraSubmission

SENT = "sent"
SENT_LATE = "sent_late"
OVERDUE = "overdue"
DUE = "due"
WAITING = "waiting"  # the final report, before any corrective measure


@dataclass(frozen=True)
class StageState:
    stage: rules.Stage
    due: datetime | None
    submission: CraSubmission | None
    now: datetime

    @property
    def status(self) -> str:
        if self.submission is not None:
            late = self.due is not None and self.submission.submitted_at > self.due
            return SENT_LATE if late else SENT
        if self.due is None:
            return WAITING
        return OVERDUE if self.now > self.due else DUE

    @property
    def open(self) -> bool:
        return self.submission is None


@dataclass
class CaseView:
    case: CraCase
    corrective_at: datetime | None
    corrective_source: str
    stages: list[StageState] = field(default_factory=list)

    @property
    def vulnerability(self) -> Vulnerability:
        return self.case.vulnerability

    @property
    def clock_start(self) -> datetime:
        return rules.clock_start(self.case.aware_at)

    @property
    def next_due(self) -> StageState | None:
        waiting = [s for s in self.stages if s.open and s.due is not None]
        return min(waiting, key=lambda s: s.due) if waiting else None  # type: ignore[arg-type,return-value]

    @property
    def done(self) -> bool:
        return all(not s.open for s in self.stages)


def _affected_findings(vulnerability_ids: Iterable[int]):
    """Findings of these vulnerabilities on catalog builds, affected now or
    fixed since (a fixed one says when the corrective build came out)."""
    return Finding.objects.filter(
        vulnerability_id__in=list(vulnerability_ids),
        status__in=[Finding.Status.AFFECTED, Finding.Status.FIXED],
    )


def _fixes(vulnerability_ids: list[int]) -> dict[int, datetime]:
    return dict(
        _affected_findings(vulnerability_ids)
        .filter(fixed_published_at__isnull=False)
        .values("vulnerability_id")
        .annotate(first=Min("fixed_published_at"))
        .values_list("vulnerability_id", "first")
    )


def _view(case: CraCase, fixed: datetime | None, now: datetime) -> CaseView:
    candidates = [
        (at, source)
        for at, source in (
            (fixed, "a fixed build was published"),
            (case.measure_at, "staff recorded a measure"),
        )
        if at is not None
    ]
    corrective_at, source = min(candidates) if candidates else (None, "")
    sent = {s.stage: s for s in case.submissions.all()}
    view = CaseView(case=case, corrective_at=corrective_at, corrective_source=source)
    view.stages = [
        StageState(
            stage=stage,
            due=rules.stage_due(
                stage, aware_at=case.aware_at, corrective_at=corrective_at
            ),
            submission=sent.get(stage.key),
            now=now,
        )
        for stage in rules.STAGES
    ]
    return view


def _cases():
    return CraCase.objects.select_related(
        "vulnerability", "opened_by"
    ).prefetch_related(
        Prefetch(
            "submissions",
            queryset=CraSubmission.objects.select_related("submitted_by"),
        )
    )


def cra_case_list(*, now: datetime) -> list[CaseView]:
    """Every case, those with an open stage first, by the nearest deadline.
    Four queries whatever the number of cases."""
    cases = list(_cases())
    fixes = _fixes([c.vulnerability_id for c in cases])
    views = [_view(c, fixes.get(c.vulnerability_id), now) for c in cases]
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def order(view: CaseView):
        nxt = view.next_due
        return (view.done, nxt.due if nxt and nxt.due else far, -view.case.pk)

    return sorted(views, key=order)


def cra_case_get(*, pk: int, now: datetime) -> CaseView:
    case = _cases().get(pk=pk)
    return _view(case, _fixes([case.vulnerability_id]).get(case.vulnerability_id), now)


@dataclass(frozen=True)
class DeskFigures:
    open_cases: int
    overdue: int
    due_within_24h: int
    next_due: StageState | None
    next_case: CaseView | None


def cra_desk_figures(*, now: datetime) -> DeskFigures:
    """What the SLA desk's CRA panel says."""
    views = [v for v in cra_case_list(now=now) if not v.done]
    stages = [(s, v) for v in views for s in v.stages if s.open and s.due]
    overdue = sum(1 for s, _ in stages if s.status == OVERDUE)
    soon = sum(
        1
        for s, _ in stages
        if s.status == DUE
        and s.due is not None
        and (s.due - now).total_seconds() <= 86400
    )
    nearest = min(stages, key=lambda pair: pair[0].due) if stages else (None, None)  # type: ignore[arg-type,return-value]
    return DeskFigures(len(views), overdue, soon, nearest[0], nearest[1])


# --- Who and what is affected ---------------------------------------------------


def cra_affected_digests(view: CaseView) -> list[ImageDigest]:
    """The catalog builds the vulnerability affects (KEV cases: from the
    findings, affected now; staff cases: the builds staff named)."""
    if view.case.source == CraCase.Source.STAFF:
        digests = view.case.digests.all()
    else:
        digests = ImageDigest.objects.filter(
            findings__vulnerability=view.case.vulnerability,
            findings__status=Finding.Status.AFFECTED,
        ).distinct()
    return list(
        digests.select_related("variant__series__repository").order_by(
            "variant__series__repository__name", "-built_at"
        )
    )


def cra_fixed_digests(view: CaseView) -> list[ImageDigest]:
    """The builds published with the fix (the corrective measure users take)."""
    return list(
        ImageDigest.objects.filter(
            fixes__vulnerability=view.case.vulnerability,
            fixes__status=Finding.Status.FIXED,
        )
        .distinct()
        .select_related("variant__series__repository")
        .order_by("variant__series__repository__name", "-built_at")
    )


@dataclass(frozen=True)
class AffectedCustomer:
    org: Organization
    mirrored: list[str]
    pulled: list[str]


def cra_affected_customers(digests: list[ImageDigest]) -> list[AffectedCustomer]:
    """Organizations to inform (Article 14(8)): those mirroring an affected
    repository, and those the registry saw pull an affected build."""
    repositories = {d.variant.series.repository_id for d in digests}
    mirrored: dict[int, set[str]] = {}
    for org_id, name in Mirror.objects.filter(
        repository_id__in=repositories, status=Mirror.Status.ACTIVE
    ).values_list("org_id", "repository__name"):
        mirrored.setdefault(org_id, set()).add(name)
    pulled: dict[int, set[str]] = {}
    for org_id, digest in (
        RegistryEvent.objects.filter(
            action=RegistryEvent.Action.PULL,
            image__in=digests,
            org__isnull=False,
        )
        .values_list("org_id", "digest")
        .distinct()
    ):
        pulled.setdefault(org_id, set()).add(digest)
    orgs = Organization.objects.in_bulk(mirrored.keys() | pulled.keys())
    return [
        AffectedCustomer(
            org=orgs[pk],
            mirrored=sorted(mirrored.get(pk, ())),
            pulled=sorted(pulled.get(pk, ())),
        )
        for pk in sorted(orgs, key=lambda pk: orgs[pk].name.lower())
    ]


# --- Field packs ------------------------------------------------------------------


def _product_lines(digests: list[ImageDigest]) -> str:
    host = settings.REGISTRY_PUBLIC_HOST
    lines = []
    for d in digests:
        path = variant_pull_path(variant=d.variant).path
        where = f"{host}/{path}" if host else path
        lines.append(f"{d.variant} ({where}@{d.digest})")
    return "\n".join(lines) or "(no build named)"


def _exploitation(view: CaseView) -> str:
    vuln = view.vulnerability
    if view.case.source == CraCase.Source.KEV:
        added = vuln.kev_date_added.isoformat() if vuln.kev_date_added else "unknown"
        return (
            "Yes: listed in CISA's Known Exploited Vulnerabilities catalog "
            f"(date added {added})."
        )
    return f"Yes: {view.case.evidence}"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "not yet"


def cra_field_pack(
    view: CaseView, stage: str, *, digests: list[ImageDigest], fixed: list[ImageDigest]
) -> list[tuple[str, str]]:
    """The stage's fields, as the single reporting platform's form asks
    for them, filled from the case (what the portal cannot know is marked
    for the person submitting)."""
    vuln = view.vulnerability
    ids = ", ".join([vuln.vuln_id, *vuln.aliases]) if vuln.aliases else vuln.vuln_id
    score = vuln.cvss_v3_score or vuln.cvss_v4_score
    vector = vuln.cvss_v3_vector or vuln.cvss_v4_vector
    severity = (
        f"{vuln.get_severity_display()}"
        + (f", CVSS {score}" if score is not None else "")
        + (f" ({vector})" if vector else "")
    )
    common = [
        ("Manufacturer", settings.CRA_MANUFACTURER_NAME),
        ("Products with digital elements affected", _product_lines(digests)),
        ("Vulnerability", ids),
        ("Actively exploited", _exploitation(view)),
        ("Became aware", _when(view.case.aware_at)),
    ]
    if stage == rules.EARLY_WARNING:
        return [
            *common,
            (
                "Member States where the product is made available",
                "To be completed by the submitter: the images are published "
                f"worldwide through {settings.REGISTRY_PUBLIC_HOST or 'the registry'}.",
            ),
        ]
    measures = (
        "Fixed builds published:\n" + _product_lines(fixed)
        if fixed
        else (view.case.measure or "None available yet.")
    )
    if view.case.measure and fixed:
        measures += f"\nAlso: {view.case.measure}"
    users = (
        "Pull the fixed builds above (by digest, or by their current tags)."
        if fixed
        else "No fixed build yet; follow the publisher's advisory."
    )
    if stage == rules.NOTIFICATION:
        return [
            *common,
            (
                "General nature of the vulnerability",
                vuln.summary
                or vuln.details[:2000]
                or "(no description in the advisory)",
            ),
            ("Severity", severity),
            ("Corrective or mitigating measures taken", measures),
            ("Measures users can take", users),
            ("Sensitivity of the information", "To be set by the submitter."),
        ]
    ransomware = (
        "Known use in ransomware campaigns (CISA KEV)."
        if vuln.kev_ransomware
        else "No information on the actor."
    )
    return [
        *common,
        (
            "Description, severity and impact",
            f"{vuln.summary or vuln.vuln_id}. Severity: {severity}.",
        ),
        ("Malicious actor", ransomware),
        ("Security update or corrective measure", measures),
        ("Corrective measure available since", _when(view.corrective_at)),
    ]
