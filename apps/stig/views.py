"""STIG results on the catalog's digest page, and the diff between two builds.

The counts by CAT are public, like the rest of the catalog page; the rules
themselves (what failed, why, how to fix it) are STIG evidence, shown to those
``evidence_access`` allows: publisher staff and organizations entitled to STIG
for the repository.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from apps.catalog import selectors as catalog
from apps.catalog.models import ImageDigest
from apps.evidence.access import EvidenceAccess, evidence_access

from . import selectors
from .models import StigRuleResult

# Failed and not-applicable rules listed per scan on the digest page.
REVIEW_RULES_SHOWN = 200


@dataclass
class ScanSection:
    summary: selectors.ScanSummary
    review: list[StigRuleResult] | None  # None: the requester may not see rules
    more: bool
    previous: object  # the StigScan a diff compares against, or None

    @property
    def scan(self):
        return self.summary.scan


def digest_stig_section(
    *, image: ImageDigest, evidence: EvidenceAccess
) -> list[ScanSection] | None:
    """The digest page's STIG section: None for a build that is not STIG."""
    if not image.variant.stig:
        return None
    scans = selectors.digest_latest_scans(image=image)
    review = {}
    if evidence.allowed and scans:
        review = selectors.scans_review_rules(scans=scans, limit=REVIEW_RULES_SHOWN)
    sections = []
    for scan in scans:
        rules = review.get(scan.pk) if evidence.allowed else None
        sections.append(
            ScanSection(
                summary=selectors.scan_summary(scan),
                review=rules[:REVIEW_RULES_SHOWN] if rules is not None else None,
                more=rules is not None and len(rules) > REVIEW_RULES_SHOWN,
                previous=selectors.scan_previous(scan=scan),
            )
        )
    return sections


def _bad_request(request, image, message: str):
    return render(
        request,
        "stig/diff_error.html",
        {"image": image, "message": message},
        status=400,
    )


class DigestStigDiffView(View):
    """Rules whose result changed between two builds of one series.

    ``?against=<digest>`` names the earlier build; without it the diff is
    against the latest earlier build of the series that has a scan.
    """

    def get(self, request, digest: str):
        canonical = catalog.digest_lookup(digest)
        if canonical is None:
            raise Http404("Not a sha256 digest.")
        if canonical != digest:
            url = reverse("stig:diff", kwargs={"digest": canonical})
            query = request.META.get("QUERY_STRING", "")
            return redirect(f"{url}?{query}" if query else url, permanent=True)
        image = catalog.digest_get(digest=canonical)
        if image is None:
            raise Http404("No such digest.")
        if not image.variant.stig:
            raise Http404("This build is not a STIG variant: it has no STIG scans.")

        against = None
        raw = request.GET.get("against", "").strip()
        if raw:
            other = catalog.digest_lookup(raw)
            if other is None:
                return _bad_request(
                    request, image, f"{raw[:80]!r} is not a sha256 digest."
                )
            against = catalog.digest_get(digest=other)
            if against is None:
                raise Http404("No such digest to compare with.")
            if against.variant.series_id != image.variant.series_id:
                return _bad_request(
                    request,
                    image,
                    f"{against.digest} is a build of {against.variant.series}, not "
                    f"of {image.variant.series}: STIG results are compared within "
                    "one series.",
                )
            if against.pk == image.pk:
                return _bad_request(request, image, "A build compared with itself.")

        access = evidence_access(image=image, user=request.user)
        if access.allowed and against is not None:
            access = evidence_access(image=against, user=request.user)
        if not access.allowed:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            return render(
                request,
                "stig/diff_refused.html",
                {"access": access, "image": image},
                status=403,
            )

        if against is None:
            for scan in selectors.digest_latest_scans(image=image):
                previous = selectors.scan_previous(scan=scan)
                if previous is not None:
                    against = previous.digest
                    break
        diffs, unmatched = (
            selectors.digest_stig_diffs(image=image, against=against)
            if against is not None
            else ([], [])
        )
        return render(
            request,
            "stig/diff.html",
            {
                "image": image,
                "against": against,
                "series": image.variant.series,
                "repository": image.variant.series.repository,
                "diffs": diffs,
                "unmatched": unmatched,
                "access": access,
            },
        )
