"""The FedRAMP POA&M export: a customer's open items inherited from the images,
in the columns of FedRAMP's POA&M template (Rev 5), as an XLSX workbook.

The workbook itself (columns, sheets, fixed bytes) is written by
``formats.poam_xlsx``; this module chooses the items and words each row.

Which items: the org's SLA clocks that were running at ``report.data_cutoff``
(started before it, not stopped before it) on findings in repositories it
mirrors. Each is a vendor dependency: the fix is a rebuilt image from the
publisher. The "Closed POA&M Items" sheet lists the org's clocks stopped
(met, missed, exempt) inside the report's window, up to the cut-off.

Last Vendor Check-in Date is the latest thing the vendor (the publisher)
said about the item by the cut-off: the newest of the finding's detection,
the clock's start and the newest VEX statement about the vulnerability in
that build (or its whole repository). The Status Date is the cut-off for an
open item and the day it closed for a closed one.

The same inputs give the same bytes: the workbook's properties are fixed to
the cut-off and the site's name, and the zip container's timestamps to the
cut-off.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from apps.entitlements.models import Mirror
from apps.sla.models import SlaClock
from apps.vulns.models import VexStatement

from .formats.poam_xlsx import poam_workbook

CONTROLS = "RA-5; SI-2"

# FedRAMP rates risk High, Moderate or Low; a critical finding is High.
RISK_RATING = {
    "critical": "High",
    "high": "High",
    "medium": "Moderate",
    "low": "Low",
}

CHUNK = 2000
_ROW_FIELDS = (
    "finding__vulnerability",
    "finding__component",
    "finding__digest__variant__series__repository",
)


def risk_rating(severity: str) -> str:
    """FedRAMP's rating for a finding severity (critical -> High)."""
    try:
        return RISK_RATING[severity]
    except KeyError:
        raise ValueError(f"No FedRAMP risk rating for severity {severity!r}.") from None


def _window_bounds(report) -> tuple[datetime | None, datetime]:
    """[start, end) of the report's window in UTC, the end capped at the cut-off."""
    cutoff = report.data_cutoff
    start = end = None
    if report.window_start is not None:
        start = datetime.combine(report.window_start, time.min, tzinfo=UTC)
    if report.window_end is not None:
        end = datetime.combine(
            report.window_end + timedelta(days=1), time.min, tzinfo=UTC
        )
    return start, min(end, cutoff) if end is not None else cutoff


def _latest_vex(cutoff: datetime) -> Subquery:
    return Subquery(
        VexStatement.objects.in_force_at(cutoff)
        .filter(
            Q(digest_id=OuterRef("finding__digest_id"))
            | Q(
                digest__isnull=True,
                repository_id=OuterRef(
                    "finding__digest__variant__series__repository_id"
                ),
            ),
            vulnerability_id=OuterRef("finding__vulnerability_id"),
            timestamp__lt=cutoff,
        )
        .order_by("-timestamp")
        .values("timestamp")[:1]
    )


def _mirrored(report) -> QuerySet[SlaClock]:
    repositories = (
        Mirror.objects.for_org(report.org)
        .filter(created_at__lt=report.data_cutoff)
        .values("repository_id")
    )
    return SlaClock.objects.for_org(report.org).filter(
        finding__digest__variant__series__repository_id__in=repositories
    )


def open_items(report) -> QuerySet[SlaClock]:
    """The org's clocks running at the cut-off on mirrored repositories."""
    cutoff = report.data_cutoff
    return (
        _mirrored(report)
        .filter(started_at__lt=cutoff)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=cutoff))
        .annotate(last_vex_at=_latest_vex(cutoff))
        .select_related(*_ROW_FIELDS)
        .order_by("due_at", "id")
    )


def closed_items(report) -> QuerySet[SlaClock]:
    """The org's clocks stopped inside the window, up to the cut-off."""
    start, end = _window_bounds(report)
    clocks = _mirrored(report).filter(
        state__in=[SlaClock.State.MET, SlaClock.State.MISSED, SlaClock.State.EXEMPT],
        stopped_at__lt=end,
    )
    if start is not None:
        clocks = clocks.filter(stopped_at__gte=start)
    return (
        clocks.annotate(last_vex_at=_latest_vex(report.data_cutoff))
        .select_related(*_ROW_FIELDS)
        .order_by("stopped_at", "id")
    )


def _day(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    return timezone.localtime(moment, UTC).date()


def _cve(vulnerability) -> str:
    if vulnerability.vuln_id.upper().startswith("CVE-"):
        return vulnerability.vuln_id
    for alias in vulnerability.aliases or []:
        if isinstance(alias, str) and alias.upper().startswith("CVE-"):
            return alias
    return ""


def _product(image) -> str:
    variant = image.variant
    suffix = f"-{variant.suffix}" if variant.suffix else ""
    return f"{variant.series.repository.name}:{variant.series.name}{suffix}"


def last_vendor_check_in(clock: SlaClock) -> date | None:
    """The newest of detection, clock start and the newest VEX statement."""
    moments = [clock.finding.detected_at, clock.started_at]
    last_vex = getattr(clock, "last_vex_at", None)
    if last_vex is not None:
        moments.append(last_vex)
    return _day(max(m for m in moments if m is not None))


_NO_DIGEST = "sha256:" + "0" * 64


def _digest_url_template() -> str:
    """The digest page's URL with a placeholder: one reverse() per workbook."""
    from django.urls import reverse

    path = reverse("catalog:digest", kwargs={"digest": _NO_DIGEST})
    return settings.SITE_URL.rstrip("/") + path


def _row(clock: SlaClock, *, report, closed: bool, digest_url: str = "") -> list[Any]:
    finding = clock.finding
    vulnerability = finding.vulnerability
    component = finding.component
    image = finding.digest
    repository = image.variant.series.repository
    product = _product(image)
    fix = (
        f"{component.name} {finding.fixed_version}"
        if finding.fixed_version
        else f"a fixed {component.name}"
    )
    description = (vulnerability.summary or vulnerability.details or "").strip()
    if not description:
        description = f"{vulnerability.vuln_id} affects {component.purl}."
    due = _day(clock.due_at)
    state = clock.get_state_display()
    if closed:
        comments = (
            f"Vendor Dependency closed: {state} on {_day(clock.stopped_at)}"
            + (f" ({clock.get_stop_reason_display()})" if clock.stop_reason else "")
            + "."
        )
    else:
        comments = (
            f"Vendor Dependency: awaiting the publisher's rebuilt {product} image "
            f"with {fix}. SLA clock {state.lower()}, due {due}."
        )
    if vulnerability.kev:
        comments += " Listed in CISA KEV."
    site = settings.SITE_NAME
    return [
        f"V-{clock.pk}",
        CONTROLS,
        f"{vulnerability.vuln_id} in {component.name} {component.version}".strip(),
        description,
        f"{site} (SBOM vulnerability matching)",
        vulnerability.vuln_id,
        f"{product}@{image.digest}",
        f"{site} (image publisher)",
        "None",
        (
            f"Vendor dependency: the publisher rebuilds {product} with {fix}; "
            "deploy the fixed digest once it is published."
        ),
        _day(finding.detected_at),
        due,
        f"(1) {due}: publisher ships a fixed {product} digest.",
        "",
        # A closed item's status last changed when it closed.
        _day(clock.stopped_at) if closed else _day(report.data_cutoff),
        "Yes",
        last_vendor_check_in(clock),
        product,
        risk_rating(clock.severity),
        "",
        "No",
        "No",
        "No",
        "",
        (digest_url or _digest_url_template()).replace(_NO_DIGEST, image.digest),
        comments,
        "No",
        "Yes" if vulnerability.kev else "No",
        vulnerability.kev_due_date,
        _cve(vulnerability),
        repository.display_name,
    ]


def _rows(clocks: QuerySet[SlaClock], *, report, closed: bool) -> Iterator[list]:
    digest_url = _digest_url_template()
    for clock in clocks.iterator(chunk_size=CHUNK):
        yield _row(clock, report=report, closed=closed, digest_url=digest_url)


def poam_xlsx(report) -> bytes:
    """The org's POA&M workbook as of ``report.data_cutoff``."""
    if report.org_id is None:
        raise ValueError("A POA&M is an organization's: this report has none.")
    return poam_workbook(
        open_rows=_rows(open_items(report), report=report, closed=False),
        closed_rows=_rows(closed_items(report), report=report, closed=True),
        title=f"POA&M {report.org.name} {report.public_id}",
        identifier=str(report.public_id),
        creator=settings.SITE_NAME,
        moment=report.data_cutoff,
    )
