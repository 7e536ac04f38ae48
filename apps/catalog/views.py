"""The public catalog: anyone may read it, signed in or not."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import TemplateView
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.authentication import ApiTokenAuthentication
from apps.accounts.models import ApiToken
from apps.vulns import assessment as vuln_assessment
from apps.vulns import selectors as vuln_selectors

from . import selectors, services
from .forms import FindingFilterForm, LifecycleFilterForm, RepositoryFilterForm
from .selectors import LifecycleEvent, LifecycleFilter

logger = logging.getLogger(__name__)

REPOSITORIES_PER_PAGE = 25
HISTORY_PER_PAGE = 50
FINDINGS_PER_PAGE = 50
COMPONENTS_PER_PAGE = 100
VEX_SHOWN = 100
LIFECYCLE_SHOWN = 500


def _page(request, rows, per_page: int, param: str = "page"):
    # get_page forgives junk ("?page=x", a page past the end): a link that
    # went stale shows the nearest page instead of an error.
    return Paginator(rows, per_page).get_page(request.GET.get(param))


def _is_htmx_partial(request) -> bool:
    # A history restore asks for the whole page again, header and all.
    return bool(
        request.headers.get("HX-Request")
        and not request.headers.get("HX-History-Restore-Request")
    )


class RepositoryListView(TemplateView):
    template_name = "catalog/repository_list.html"
    partial_template_name = "catalog/_repository_results.html"

    def get_template_names(self):
        if _is_htmx_partial(self.request):
            return [self.partial_template_name]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        form = RepositoryFilterForm(self.request.GET or None)
        filters = form.filters() if form.is_bound else selectors.RepositoryFilter()
        today = timezone.now().date()
        page = _page(
            self.request,
            selectors.repository_list_with_series(filters=filters, today=today),
            REPOSITORIES_PER_PAGE,
        )
        assessments = vuln_assessment.repository_assessments(
            repository_ids=[repository.pk for repository in page]
        )
        for repository in page:
            repository.assessment = assessments[repository.pk]
            for series in repository.series.all():
                series.lifecycle = selectors.lifecycle_of(series=series, day=today)
        return {
            **super().get_context_data(**kwargs),
            "form": form,
            "page": page,
            "filtered": any(vars(filters).values()),
        }

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        patch_vary_headers(response, ["HX-Request"])
        return response


class RepositoryDetailView(TemplateView):
    template_name = "catalog/repository_detail.html"

    def get_context_data(self, **kwargs):
        repository = selectors.repository_get(name=kwargs["name"])
        if repository is None:
            raise Http404("No such repository.")
        today = timezone.now().date()
        series_list = selectors.repository_series(repository=repository, day=today)
        variants = [v for s in series_list for v in s.variants.all()]
        assessments = vuln_assessment.digest_assessments(
            digest_ids=[v.latest_id for v in variants if v.latest_id]
        )
        for variant in variants:
            variant.assessment = assessments.get(variant.latest_id)
        return {
            **super().get_context_data(**kwargs),
            "repository": repository,
            "assessment": vuln_assessment.builds_assessment(assessments.values()),
            "has_vex": vuln_selectors.repository_has_vex(repository_id=repository.pk),
            "series_list": series_list,
            "current_tags": selectors.repository_current_tags(repository=repository),
            "history": _page(
                self.request,
                selectors.repository_tag_history(repository=repository),
                HISTORY_PER_PAGE,
            ),
            "today": today,
        }


class DigestDetailView(TemplateView):
    template_name = "catalog/digest_detail.html"

    def get(self, request, *args, **kwargs):
        digest = selectors.digest_lookup(kwargs["digest"])
        if digest is None:
            raise Http404("Not a sha256 digest.")
        if digest != kwargs["digest"]:
            # Upper case or a bare hex string: one canonical address per build.
            return redirect("catalog:digest", digest=digest, permanent=True)
        self.image = selectors.digest_get(digest=digest)
        if self.image is None:
            raise Http404("No such digest.")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        image = self.image
        form = FindingFilterForm(self.request.GET or None)
        filters = form.filters() if form.is_bound else vuln_selectors.FindingFilter()
        vex = vuln_selectors.digest_vex_statements(image=image)
        vex_rows = list(vex[: VEX_SHOWN + 1])
        today = timezone.now().date()
        # One answer for all of the build's attestations: no query per row.
        evidence = selectors.evidence_access(image=image, user=self.request.user)
        return {
            **super().get_context_data(**kwargs),
            "image": image,
            "series": image.variant.series,
            "lifecycle": selectors.lifecycle_of(series=image.variant.series, day=today),
            "repository": image.variant.series.repository,
            "tag_events": selectors.digest_tag_events(image=image),
            "severity_counts": vuln_selectors.digest_severity_counts(image=image),
            "assessment": vuln_assessment.digest_assessment(digest=image),
            "form": form,
            "findings": _page(
                self.request,
                vuln_selectors.digest_finding_list(image=image, filters=filters),
                FINDINGS_PER_PAGE,
                "fpage",
            ),
            "vex_statements": vex_rows[:VEX_SHOWN],
            "vex_total": vex.count() if len(vex_rows) > VEX_SHOWN else len(vex_rows),
            "attestations": selectors.digest_attestations(image=image),
            "crypto_modules": _crypto_modules(image),
            "evidence": evidence,
            "stig": _stig_section(image, evidence),
            "components": _page(
                self.request,
                vuln_selectors.digest_component_list(image=image),
                COMPONENTS_PER_PAGE,
                "cpage",
            ),
        }


def _crypto_modules(image) -> list:
    """The validated modules a FIPS build states it carries (none for others)."""
    if not image.variant.fips:
        return []
    from apps.fips.selectors import digest_crypto_module_rows

    return digest_crypto_module_rows(image=image)


def _stig_section(image, evidence):
    """A STIG build's scans: counts for all, rules for those ``evidence`` allows."""
    from apps.stig.views import digest_stig_section

    return digest_stig_section(image=image, evidence=evidence)


def _download_name(attestation) -> str:
    image = attestation.digest
    variant = image.variant
    stem = "-".join(
        part
        for part in (
            variant.series.repository.name,
            variant.series.name,
            variant.suffix,
            image.digest.removeprefix("sha256:")[:12],
            attestation.kind,
        )
        if part
    )
    subtype = attestation.media_type.split(";")[0].rsplit("/", 1)[-1].lower()
    extension = "json" if "json" in subtype else "xml" if "xml" in subtype else "bin"
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', stem)}.{extension}"


def _bearer_token(request):
    """The API token an ``Authorization: Bearer`` header carries, or None
    without one; a bad token raises AuthenticationFailed."""
    found = ApiTokenAuthentication().authenticate(request)
    return found[1] if found else None


def _wants_json(request, token) -> bool:
    accept = request.headers.get("Accept", "")
    return token is not None or (
        "application/json" in accept and "text/html" not in accept
    )


class AttestationDownloadView(View):
    """The stored document, byte for byte, with the media type it was stored with.

    Evidence of FIPS and STIG builds is guarded (selectors.evidence_access):
    a browser signs in, a script sends an API token with ``evidence:read``.
    """

    def get(self, request, pk: int):
        attestation = selectors.attestation_get(pk=pk)
        if attestation is None:
            raise Http404("No such attestation.")
        try:
            token = _bearer_token(request)
        except AuthenticationFailed as exc:
            return _json_refusal(str(exc.detail), status=401)
        if token is not None and not token.has_scope(ApiToken.Scope.EVIDENCE_READ):
            return _json_refusal(
                f"This token lacks the {ApiToken.Scope.EVIDENCE_READ} scope.",
                status=403,
            )
        user = token.created_by if token is not None else request.user
        access = selectors.evidence_access(
            image=attestation.digest, user=user, token=token
        )
        if not access.allowed:
            return self.refuse(request, attestation, access, token)
        try:
            handle = attestation.document.open("rb")
        except (FileNotFoundError, ValueError) as exc:
            # The row outlived its file: say so in the log, not found to the reader.
            logger.error("attestation %s has no stored document: %s", pk, exc)
            raise Http404("The document is not available.") from exc
        if access.guarded:
            services.attestation_download_record(
                attestation=attestation,
                org=access.org,
                features=access.features,
                via=access.via,
                actor=user,
                request=request,
            )
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=_download_name(attestation),
            content_type=attestation.media_type,
        )
        # RFC 9530: lets a client check what it got against the published hash.
        raw = bytes.fromhex(attestation.sha256)
        response["Repr-Digest"] = f"sha-256=:{base64.b64encode(raw).decode()}:"
        if access.guarded:
            response["Cache-Control"] = "private, no-store"
        return response

    def refuse(self, request, attestation, access, token):
        if _wants_json(request, token):
            return _json_refusal(
                access.refusal,
                status=403,
                entitlements=list(access.features),
                pricing=request.build_absolute_uri(reverse("pricing")),
            )
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(
            request,
            "catalog/digest_evidence_refused.html",
            {"access": access, "attestation": attestation, "image": attestation.digest},
            status=403,
        )


def _json_refusal(detail: str, *, status: int, **extra) -> JsonResponse:
    response = JsonResponse({"detail": detail, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


class LifecycleView(TemplateView):
    template_name = "catalog/lifecycle.html"

    def get_context_data(self, **kwargs):
        today = timezone.now().date()
        form = LifecycleFilterForm(self.request.GET or None)
        if form.is_bound:
            filters, past = form.filters(today=today), form.past
        else:
            filters, past = LifecycleFilter(start=today), False
        events = selectors.lifecycle_events(filters=filters, newest_first=past)
        return {
            **super().get_context_data(**kwargs),
            "form": form,
            "past": past,
            "events": events[:LIFECYCLE_SHOWN],
            "event_total": len(events),
            "today": today,
        }


# --------------------------------------------------------------------------
# The ICS feed (RFC 5545), written by hand: it is small and fully tested.
# --------------------------------------------------------------------------

ICS_LINE_OCTETS = 75


def ics_escape(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma, newline."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def ics_fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8
    character; continuation lines start with one space."""
    raw = line.encode()
    parts = []
    limit = ICS_LINE_OCTETS
    while len(raw) > limit:
        cut = limit
        while raw[cut] & 0xC0 == 0x80:  # a continuation byte: step back
            cut -= 1
        parts.append(raw[:cut])
        raw = raw[cut:]
        limit = ICS_LINE_OCTETS - 1  # the leading space counts
    parts.append(raw)
    return "\r\n ".join(p.decode() for p in parts)


def _ics_date(day: date) -> str:
    return day.strftime("%Y%m%d")


def ics_calendar(
    *,
    events: Iterable[LifecycleEvent],
    name: str,
    host: str,
    stamp: datetime,
    url_for,
) -> str:
    """One all-day VEVENT per end date. A UID names the repository, series and
    kind of date, so a client updates an event when its date moves."""
    dtstamp = stamp.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//{ics_escape(settings.SITE_NAME)}//Catalog lifecycle//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{ics_escape(name)}",
    ]
    for event in events:
        repository, series = event.repository, event.series
        what = f"{repository.name} {series.name}"
        url = url_for(repository)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{ics_escape(f'{event.kind}.{repository.name}.{series.name}@{host}')}",
            f"DTSTAMP:{dtstamp}",
            f"DTSTART;VALUE=DATE:{_ics_date(event.day)}",
            f"DTEND;VALUE=DATE:{_ics_date(event.day + timedelta(days=1))}",
            f"SUMMARY:{ics_escape(f'{what}: {event.label.lower()}')}",
            "DESCRIPTION:"
            + ics_escape(
                f"{event.label} for {repository.display_name} {series.name} "
                f"({repository.name}:{series.name}).\n{url}"
            ),
            f"URL:{url}",
            f"CATEGORIES:{ics_escape(event.label)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(ics_fold(line) + "\r\n" for line in lines)


class LifecycleIcsView(View):
    """Subscribe to every end date, or one repository's (``?repository=name``)."""

    def get(self, request):
        name = request.GET.get("repository", "")
        title = f"{settings.SITE_NAME}: lifecycle"
        if name:
            repository = selectors.repository_get(name=name)
            if repository is None:
                raise Http404("No such repository.")
            title = f"{repository.display_name} lifecycle"
        events = selectors.lifecycle_events(filters=LifecycleFilter(repository=name))
        body = ics_calendar(
            events=events,
            name=title,
            host=urlsplit(settings.SITE_URL).hostname or "localhost",
            stamp=timezone.now(),
            url_for=lambda r: request.build_absolute_uri(r.get_absolute_url()),
        )
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        filename = f"{name or 'catalog'}-lifecycle.ics"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "public, max-age=3600"
        return response
