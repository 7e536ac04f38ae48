"""Reads of STIG scans for the digest page, the diff page and the API, and a
stored scan as a STIG Viewer checklist (``checklist_from_scan``).

Each function runs a fixed number of queries however many rules a scan has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

from django.db.models import QuerySet

from apps.catalog.models import ImageDigest

from .formats.checklist import Asset, Checklist, Stig, StigInfo, Vuln, named_uuid
from .formats.parsed import status_for
from .models import StigRuleResult, StigScan

CATS = (("1", "CAT I"), ("2", "CAT II"), ("3", "CAT III"), ("none", "No CAT"))
# The STIG Viewer statuses, in the order the pages show them.
STATUSES = (
    ("NotAFinding", "Pass"),
    ("Open", "Fail"),
    ("Not_Applicable", "Not applicable"),
    ("Not_Reviewed", "Not reviewed"),
)
REVIEW_RESULTS = (StigRuleResult.Result.FAIL, StigRuleResult.Result.NOT_APPLICABLE)
# Columns a diff needs: not the long texts.
_DIFF_FIELDS = ("rule_id", "vuln_id", "stig_id", "title", "severity", "cat", "result")


@dataclass(frozen=True)
class CatRow:
    """One CAT's results in a scan, by STIG Viewer status."""

    key: str
    label: str
    figures: tuple[int, ...]  # in STATUSES order

    @property
    def total(self) -> int:
        return sum(self.figures)


@dataclass
class ScanSummary:
    scan: StigScan
    rows: list[CatRow]
    totals: tuple[int, ...]
    not_selected: int

    @property
    def total(self) -> int:
        return sum(self.totals)


def scan_summary(scan: StigScan) -> ScanSummary:
    """Counts by CAT I/II/III (and rules without a CAT, if any) and status."""
    rows = []
    totals = [0] * len(STATUSES)
    not_selected = 0
    order = [key for key, _ in STATUSES]
    for key, label in CATS:
        results = scan.counts.get(key)
        if results is None and key == "none":
            continue
        figures = [0] * len(STATUSES)
        for result, n in (results or {}).items():
            if result == StigRuleResult.Result.NOT_SELECTED:
                # Rules outside the profile: not part of the review.
                not_selected += n
                continue
            figures[order.index(status_for(result))] += n
        totals = [a + b for a, b in zip(totals, figures, strict=True)]
        rows.append(CatRow(key, label, tuple(figures)))
    return ScanSummary(scan, rows, tuple(totals), not_selected)


def digest_latest_scans(*, image: ImageDigest) -> list[StigScan]:
    """The latest scan of each benchmark the build was scanned against."""
    scans = (
        StigScan.objects.filter(digest=image)
        .select_related("attestation")
        .order_by("benchmark_id", "-finished_at", "-created_at", "-pk")
    )
    latest: dict[str, StigScan] = {}
    for scan in scans:
        # The caller's row, with its variant and series already joined.
        scan.digest = scan.attestation.digest = image
        latest.setdefault(scan.benchmark_id, scan)
    return list(latest.values())


def scans_review_rules(
    *, scans: list[StigScan], limit: int
) -> dict[int, list[StigRuleResult]]:
    """Failed and not-applicable rules of each scan (at most ``limit`` + 1 per
    scan, so a page can say there are more), failed first, by CAT."""
    found: dict[int, list[StigRuleResult]] = {scan.pk: [] for scan in scans}
    rows = StigRuleResult.objects.filter(
        scan__in=[s.pk for s in scans], result__in=REVIEW_RESULTS
    ).order_by("scan_id", "result", "cat", "vuln_id", "rule_id")
    # "fail" sorts before "notapplicable": failures come first.
    for row in rows:
        bucket = found[row.scan_id]
        if len(bucket) <= limit:
            bucket.append(row)
    return found


def scan_previous(*, scan: StigScan) -> StigScan | None:
    """The latest scan of the same benchmark on an earlier build of the same
    series: what the diff link compares against."""
    image = scan.digest
    return (
        StigScan.objects.select_related("digest__variant__series__repository")
        .filter(
            benchmark_id=scan.benchmark_id,
            digest__variant__series_id=image.variant.series_id,
            digest__built_at__lt=image.built_at,
        )
        .order_by("-digest__built_at", "-finished_at", "-pk")
        .first()
    )


def scans_rules(*, scans: list[StigScan]) -> QuerySet[StigRuleResult]:
    """Every rule result of the scans, by scan, CAT and V-number (one query)."""
    return StigRuleResult.objects.filter(scan__in=[s.pk for s in scans]).order_by(
        "scan_id", "cat", "vuln_id", "rule_id"
    )


@dataclass
class RuleChange:
    before: StigRuleResult
    after: StigRuleResult

    @property
    def rule(self) -> StigRuleResult:
        return self.after


@dataclass
class StigDiff:
    """What changed from scan ``a`` to scan ``b``, rule by rule."""

    a: StigScan
    b: StigScan
    changed: list[RuleChange] = field(default_factory=list)
    only_a: list[StigRuleResult] = field(default_factory=list)
    only_b: list[StigRuleResult] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.changed or self.only_a or self.only_b)


def _diff_order(rule: StigRuleResult) -> tuple:
    return (rule.cat or 9, rule.vuln_id, rule.rule_id)


def stig_diff(scan_a: StigScan, scan_b: StigScan) -> StigDiff:
    """Rules whose result differs between two scans, and rules in only one;
    two queries, joined by rule id."""
    before = {
        r.rule_id: r
        for r in StigRuleResult.objects.filter(scan=scan_a).only(*_DIFF_FIELDS)
    }
    diff = StigDiff(a=scan_a, b=scan_b)
    for rule in StigRuleResult.objects.filter(scan=scan_b).only(*_DIFF_FIELDS):
        old = before.pop(rule.rule_id, None)
        if old is None:
            diff.only_b.append(rule)
        elif old.result != rule.result:
            diff.changed.append(RuleChange(old, rule))
        else:
            diff.unchanged += 1
    diff.only_a = sorted(before.values(), key=_diff_order)
    diff.only_b.sort(key=_diff_order)
    diff.changed.sort(key=lambda c: _diff_order(c.after))
    return diff


def digest_stig_diffs(
    *, image: ImageDigest, against: ImageDigest
) -> tuple[list[StigDiff], list[str]]:
    """Diffs of each benchmark both builds were scanned against (``against``
    is the "before"), and the benchmarks only one of them has."""
    mine = {s.benchmark_id: s for s in digest_latest_scans(image=image)}
    theirs = {s.benchmark_id: s for s in digest_latest_scans(image=against)}
    diffs = [stig_diff(theirs[key], mine[key]) for key in sorted(mine) if key in theirs]
    unmatched = sorted(set(mine) ^ set(theirs))
    return diffs, unmatched


def checklist_from_scan(
    scan: StigScan,
    *,
    host_name: str = "",
    host_ip: str = "",
    host_mac: str = "",
    host_fqdn: str = "",
    target_comment: str = "",
    tech_area: str = "",
    role: str = "None",
    asset_type: str = "Computing",
    marking: str = "",
) -> Checklist:
    """A checklist of a stored ``StigScan``: its benchmark as the STIG, one entry
    per rule result (ordered by vuln id and rule id)."""
    title = scan.benchmark_title or scan.benchmark_id
    info = StigInfo(
        version=scan.benchmark_version,
        classification="UNCLASSIFIED",
        stigid=scan.benchmark_id,
        releaseinfo=scan.release_info,
        title=title,
        uuid=named_uuid(scan.benchmark_id, scan.benchmark_version, scan.release_info),
        source="STIG.DOD.MIL",
    )
    release = ", ".join(p for p in (scan.benchmark_version, scan.release_info) if p)
    stig_ref = f"{title} :: Version {release}" if release else title
    stamp = scan.finished_at or scan.created_at
    stamped = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    results = StigRuleResult.objects.filter(scan=scan).order_by("vuln_id", "rule_id")
    vulns = [
        Vuln(
            vuln_num=r.vuln_id,
            severity=r.severity,
            rule_id=r.rule_id,
            rule_ver=r.stig_id,
            rule_title=r.title,
            vuln_discuss=r.description,
            check_content=r.check_text,
            fix_text=r.fix_text,
            check_content_ref="M",
            weight=f"{r.weight:.1f}" if r.weight is not None else "10.0",
            class_="Unclass",
            stig_ref=stig_ref,
            stig_uuid=info.uuid,
            ccis=list(r.ccis),
            status=status_for(r.result),
            finding_details=r.finding_details,
            comments=r.comments,
            created_at=stamped,
            updated_at=stamped,
        )
        for r in results
    ]
    asset = Asset(
        role=role,
        asset_type=asset_type,
        marking=marking,
        host_name=host_name,
        host_ip=host_ip,
        host_mac=host_mac,
        host_fqdn=host_fqdn,
        target_comment=target_comment,
        tech_area=tech_area,
    )
    return Checklist(
        asset=asset,
        stigs=[Stig(info=info, vulns=vulns)],
        title=host_name,
    )
