"""A digest's latest STIG scan as a DISA STIG Viewer checklist (.ckl or .cklb).

Guarded like the scan document itself (``AttestationDownloadView``): a browser
signs in with the STIG entitlement, a script sends an API token with
``evidence:read``; each download is written to the audit log.
"""

from __future__ import annotations

import re

from django.http import Http404, HttpResponse
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.models import ApiToken
from apps.catalog import selectors as catalog_selectors
from apps.catalog import services as catalog_services
from apps.evidence.access import evidence_access
from apps.evidence.downloads import (
    AttestationDownloadView,
    bearer_token,
    json_refusal,
)

from .formats.ckl import ckl_dumps
from .formats.cklb import cklb_dumps
from .models import StigScan
from .selectors import checklist_from_scan

FORMATS = {
    "ckl": (ckl_dumps, "application/xml; charset=utf-8"),
    "cklb": (cklb_dumps, "application/json"),
}


def stig_scan_latest(*, image, benchmark: str = "") -> StigScan | None:
    """The digest's most recent scan (of ``benchmark``, if given), with the
    attestation it was read from."""
    scans = StigScan.objects.filter(digest=image)
    if benchmark:
        scans = scans.filter(benchmark_id=benchmark)
    return (
        scans.select_related("attestation")
        .order_by("-finished_at", "-created_at", "-pk")
        .first()
    )


def image_reference(image) -> str:
    """``repository:series`` with the variant's suffix, e.g. ``python:3.12-stig``."""
    variant = image.variant
    series = variant.series
    tag = f"{series.name}-{variant.suffix}" if variant.suffix else series.name
    return f"{series.repository.name}:{tag}"


def download_name(image, fmt: str) -> str:
    variant = image.variant
    parts = (
        variant.series.repository.name,
        variant.series.name,
        variant.suffix,
        image.digest.removeprefix("sha256:")[:12],
    )
    stem = "_".join(p for p in parts if p)
    return f"{re.sub(r'[^A-Za-z0-9.-]+', '_', stem)}.{fmt}"


class ChecklistDownloadView(AttestationDownloadView):
    """GET .../stig.ckl or .../stig.cklb: built from the stored scan each time;
    ``?benchmark=<id>`` picks the benchmark of a build scanned against several."""

    fmt = "ckl"

    def get(self, request, digest: str):
        canonical = catalog_selectors.digest_lookup(digest)
        image = catalog_selectors.digest_get(digest=canonical) if canonical else None
        if image is None:
            raise Http404("No such digest.")
        benchmark = request.GET.get("benchmark", "")
        scan = stig_scan_latest(image=image, benchmark=benchmark)
        if scan is None:
            raise Http404("This build has no STIG scan.")
        try:
            token = bearer_token(request)
        except AuthenticationFailed as exc:
            return json_refusal(str(exc.detail), status=401)
        if token is not None and not token.has_scope(ApiToken.Scope.EVIDENCE_READ):
            return json_refusal(
                f"This token lacks the {ApiToken.Scope.EVIDENCE_READ} scope.",
                status=403,
            )
        user = token.created_by if token is not None else request.user
        access = evidence_access(image=image, user=user, token=token)
        if not access.allowed:
            return self.refuse(request, scan.attestation, access, token)
        checklist = checklist_from_scan(
            scan,
            host_name=image_reference(image),
            target_comment=image.digest,
            tech_area="UNIX OS",
        )
        dumps, content_type = FORMATS[self.fmt]
        content = dumps(checklist)
        if access.guarded:
            scan.attestation.digest = image  # loaded already, with its series
            catalog_services.attestation_download_record(
                attestation=scan.attestation,
                org=access.org,
                features=access.features,
                via=f"{access.via}:{self.fmt}",
                actor=user,
                request=request,
            )
        response = HttpResponse(content, content_type=content_type)
        name = download_name(image, self.fmt)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        if access.guarded:
            response["Cache-Control"] = "private, no-store"
        return response
