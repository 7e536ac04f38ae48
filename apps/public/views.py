"""The public catalog pages: repositories and builds with what every domain
knows of them (findings and their assessment, VEX, STIG scans, FIPS modules,
evidence). Anyone may read them, signed in or not; guarded evidence follows
``apps.evidence.access``."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.generic import TemplateView

from apps.catalog import selectors
from apps.catalog.forms import RepositoryFilterForm
from apps.evidence.access import evidence_access
from apps.fips.selectors import digest_crypto_module_rows
from apps.stig.views import digest_stig_section
from apps.vulns import selectors as vuln_selectors
from apps.vulns.selectors import assessment as vuln_assessment

from .forms import FindingFilterForm

REPOSITORIES_PER_PAGE = 25
HISTORY_PER_PAGE = 50
FINDINGS_PER_PAGE = 50
COMPONENTS_PER_PAGE = 100
VEX_SHOWN = 100


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
            "current_tags": _with_pull_refs(
                selectors.repository_current_tags(repository=repository), today
            ),
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
        evidence = evidence_access(image=image, user=self.request.user)
        lifecycle = selectors.lifecycle_of(series=image.variant.series, day=today)
        tag_events = list(selectors.digest_tag_events(image=image))
        return {
            **super().get_context_data(**kwargs),
            "image": image,
            "series": image.variant.series,
            "lifecycle": lifecycle,
            "repository": image.variant.series.repository,
            "tag_events": tag_events,
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
            "pull": _pull(image, status=lifecycle.status, tag_events=tag_events),
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
    return digest_crypto_module_rows(image=image)


def _with_pull_refs(tag_events, today) -> list:
    """The current tags, each with ``pull_ref`` (``host/path:tag``) and
    ``pull_needs`` (apps.registry.mapping) when a registry host is set."""
    from django.conf import settings

    from apps.catalog.models import Series
    from apps.registry.mapping import variant_pull_path

    rows = list(tag_events)
    host = settings.REGISTRY_PUBLIC_HOST
    for t in rows:
        t.pull_ref = t.pull_needs = ""
        if host:
            variant = t.digest.variant
            els = variant.series.status_on(today) == Series.Status.ELS_ONLY
            where = variant_pull_path(variant=variant, els=els)
            t.pull_ref = f"{host}/{where.path}:{t.tag}"
            t.pull_needs = where.needs
    return rows


def _pull(image, *, status: str, tag_events) -> dict | None:
    """The pull commands of a build, by digest and by its current tags, and
    what pulling it needs (apps.registry.mapping); None without a registry."""
    from django.conf import settings

    from apps.catalog.models import Series
    from apps.registry.mapping import variant_pull_path

    host = settings.REGISTRY_PUBLIC_HOST
    if not host:
        return None
    els = status == Series.Status.ELS_ONLY
    where = variant_pull_path(variant=image.variant, els=els)
    reference = f"{host}/{where.path}"
    return {
        "by_digest": f"docker pull {reference}@{image.digest}",
        "by_tag": [
            f"docker pull {reference}:{t.tag}"
            for t in tag_events
            if t.removed_at is None
        ],
        "needs": where.needs,
    }


def _stig_section(image, evidence):
    """A STIG build's scans: counts for all, rules for those ``evidence`` allows."""
    return digest_stig_section(image=image, evidence=evidence)
