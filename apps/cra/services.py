"""Opening Article 14 cases and recording what was reported, each change an
audit event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import ImageDigest
from apps.vulns.models import Finding, Vulnerability

from . import rules
from .models import CraCase, CraSubmission
from .selectors import cra_case_get

Action = AuditEvent.Action
EVIDENCE_MAX = 4000
REFERENCE_MAX = 100
NOTE_MAX = 4000
DIGESTS_MAX = 200
# A stated time before this is a typo, not a fact.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _require_staff(actor) -> None:
    if actor is None or not actor.is_staff:
        raise ValidationError("Only publisher staff record Article 14 reports.")


@transaction.atomic
def cra_cases_open(*, now: datetime | None = None) -> int:
    """Open a case for each vulnerability on the KEV list that affects a
    catalog build and has none. Awareness is when both were known here:
    the later of the KEV listing and the first affected finding."""
    now = now or timezone.now()
    firsts = (
        Finding.objects.filter(
            status=Finding.Status.AFFECTED,
            vulnerability__kev=True,
            vulnerability__cra_case__isnull=True,
        )
        .values(
            "vulnerability_id",
            "vulnerability__vuln_id",
            "vulnerability__kev_flagged_at",
        )
        .annotate(first=Min("detected_at"))
    )
    opened = 0
    for row in firsts:
        listed = row["vulnerability__kev_flagged_at"] or now
        case = CraCase.objects.create(
            vulnerability_id=row["vulnerability_id"],
            source=CraCase.Source.KEV,
            aware_at=max(listed, row["first"]),
            created_at=now,
        )
        audit_record(
            action=Action.CRA_CASE_OPENED,
            target=case,
            details={
                "source": case.source,
                "vulnerability": row["vulnerability__vuln_id"],
                "aware_at": case.aware_at.isoformat(),
            },
        )
        opened += 1
    return opened


def _vulnerability(name: str) -> Vulnerability:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"vulnerability": "A vulnerability id (CVE, GHSA, ...)."})
    found = Vulnerability.objects.filter(vuln_id=name).first()
    if found is None:
        # An alias (the CVE of a GHSA record): read as text, then checked.
        for candidate in Vulnerability.objects.filter(aliases__icontains=name)[:20]:
            if name in (candidate.aliases or []):
                found = candidate
                break
    if found is None:
        raise ValidationError(
            {
                "vulnerability": f"No vulnerability {name} is known here: "
                "import its advisory first."
            }
        )
    return found


def _digests(values: list[str]) -> list[ImageDigest]:
    wanted = [v.strip() for v in values if v.strip()]
    if not wanted:
        raise ValidationError(
            {"digests": "Name at least one affected build (sha256:…)."}
        )
    if len(wanted) > DIGESTS_MAX:
        raise ValidationError({"digests": f"At most {DIGESTS_MAX} builds."})
    found = {d.digest: d for d in ImageDigest.objects.filter(digest__in=wanted)}
    unknown = [w for w in wanted if w not in found]
    if unknown:
        raise ValidationError(
            {
                "digests": "Not catalog builds: "
                + ", ".join(u[:80] for u in unknown[:5])
                + "."
            }
        )
    return list(found.values())


def _moment(
    value: datetime | None, field: str, *, now: datetime, earliest=None
) -> datetime:
    if value is None:
        raise ValidationError({field: "A date and time."})
    if value > now + timedelta(minutes=1):
        raise ValidationError({field: "Not in the future."})
    if value < (earliest or EARLIEST):
        raise ValidationError({field: "Too long ago to be right."})
    return value


@transaction.atomic
def cra_case_open_staff(
    *,
    vulnerability: str,
    digests: list[str],
    aware_at: datetime | None,
    evidence: str,
    actor,
    now: datetime | None = None,
    request=None,
) -> CraCase:
    """Staff open a case for an actively exploited vulnerability outside
    KEV, stating their evidence and when they became aware."""
    _require_staff(actor)
    now = now or timezone.now()
    vuln = _vulnerability(vulnerability)
    builds = _digests(digests)
    aware = _moment(aware_at, "aware_at", now=now)
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError(
            {"evidence": "State the evidence of active exploitation."}
        )
    if len(evidence) > EVIDENCE_MAX:
        raise ValidationError({"evidence": f"At most {EVIDENCE_MAX} characters."})
    if CraCase.objects.filter(vulnerability=vuln).exists():
        raise ValidationError({"vulnerability": f"{vuln.vuln_id} already has a case."})
    try:
        with transaction.atomic():
            case = CraCase.objects.create(
                vulnerability=vuln,
                source=CraCase.Source.STAFF,
                aware_at=aware,
                evidence=evidence,
                opened_by=actor,
                created_at=now,
            )
    except IntegrityError:
        raise ValidationError(
            {"vulnerability": f"{vuln.vuln_id} already has a case."}
        ) from None
    case.digests.set(builds)
    audit_record(
        action=Action.CRA_CASE_OPENED,
        actor=actor,
        target=case,
        request=request,
        details={
            "source": case.source,
            "vulnerability": vuln.vuln_id,
            "aware_at": aware.isoformat(),
            "evidence": evidence,
            "digests": sorted(b.digest for b in builds),
        },
    )
    return case


@transaction.atomic
def cra_measure_record(
    *,
    case: CraCase,
    measure_at: datetime | None,
    measure: str,
    actor,
    now=None,
    request=None,
) -> CraCase:
    """Staff state a corrective or mitigating measure is available (one not
    read from a published fix): the final report is due 14 days later."""
    _require_staff(actor)
    now = now or timezone.now()
    at = _moment(measure_at, "measure_at", now=now)
    measure = (measure or "").strip()
    if not measure or len(measure) > NOTE_MAX:
        raise ValidationError(
            {"measure": f"Describe the measure (1 to {NOTE_MAX} characters)."}
        )
    case = CraCase.objects.select_for_update().get(pk=case.pk)
    previous = (case.measure_at, case.measure)
    case.measure_at, case.measure = at, measure
    case.save(update_fields=["measure_at", "measure"])
    audit_record(
        action=Action.CRA_MEASURE_RECORDED,
        actor=actor,
        target=case,
        request=request,
        details={
            "measure_at": at.isoformat(),
            "measure": measure,
            "previous_at": previous[0].isoformat() if previous[0] else None,
        },
    )
    return case


@transaction.atomic
def cra_submission_record(
    *,
    case: CraCase,
    stage: str,
    submitted_at: datetime | None,
    reference: str,
    note: str,
    actor,
    now: datetime | None = None,
    request=None,
) -> CraSubmission:
    """Record that a stage was sent to the single reporting platform."""
    _require_staff(actor)
    now = now or timezone.now()
    if stage not in rules.STAGE_BY_KEY:
        raise ValidationError({"stage": "Early warning, notification or final report."})
    at = _moment(submitted_at, "submitted_at", now=now)
    reference = (reference or "").strip()
    note = (note or "").strip()
    if len(reference) > REFERENCE_MAX:
        raise ValidationError({"reference": f"At most {REFERENCE_MAX} characters."})
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": f"At most {NOTE_MAX} characters."})
    view = cra_case_get(pk=case.pk, now=now)
    if stage == rules.FINAL_REPORT and view.corrective_at is None:
        raise ValidationError(
            {
                "stage": "The final report follows a corrective or mitigating "
                "measure: none is available yet (publish a fixed build or record "
                "the measure)."
            }
        )
    if any(s.stage.key == stage and s.submission for s in view.stages):
        raise ValidationError({"stage": "This stage was already recorded."})
    try:
        with transaction.atomic():
            submission = CraSubmission.objects.create(
                case=case,
                stage=stage,
                submitted_at=at,
                submitted_by=actor,
                reference=reference,
                note=note,
                created_at=now,
            )
    except IntegrityError:
        raise ValidationError({"stage": "This stage was already recorded."}) from None
    due = next(s.due for s in view.stages if s.stage.key == stage)
    audit_record(
        action=Action.CRA_STAGE_SUBMITTED,
        actor=actor,
        target=case,
        request=request,
        details={
            "stage": stage,
            "submitted_at": at.isoformat(),
            "reference": reference,
            "due": due.isoformat() if due else None,
            "late": bool(due and at > due),
        },
    )
    return submission
