"""The organization's FedRAMP CR26 page: its certification class, each
mirrored repository's IRV and PAIN (with their history), the rules they
select; and a clock's own evaluation, posted from the clock's page.

Everyone who reads the SLA ledger reads these (members, auditors); owners
and admins change them (``org.manage``). Every change is audited by its
service.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from apps.core.forms import apply_validation_error
from apps.entitlements.models import Mirror
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from .fedramp_context import exposure_form, fedramp_settings_context
from .fedramp_forms import FedrampClockEvaluationForm, FedrampProfileForm
from .models import SlaClock
from .selectors.clocks import sla_clock_get
from .services import fedramp as services
from .views import ClockDetailView, SlaReader


class FedrampView(OrgMixin, SlaReader, TemplateView):
    """GET: the page; POST (owners and admins): the class and package URI."""

    permission = None
    template_name = "sla/fedramp.html"

    def post(self, request, *args, **kwargs):
        if not self.access.can(Perm.ORG_MANAGE):
            raise PermissionDenied("Only owners and admins change FedRAMP settings.")
        form = FedrampProfileForm(request.POST)
        if form.is_valid():
            try:
                services.fedramp_profile_set(
                    org=self.org,
                    actor=request.user,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, "FedRAMP settings saved.")
                return redirect("sla:fedramp", org_slug=self.org.slug)
        return self.render_to_response(
            self.get_context_data(profile_form=form), status=400
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        slug = self.org.slug
        context.update(
            fedramp_settings_context(
                org=self.org,
                can_manage=self.access.can(Perm.ORG_MANAGE),
                profile_action=reverse("sla:fedramp", args=[slug]),
                exposure_action=lambda m: reverse(
                    "sla:fedramp_exposure", args=[slug, m.pk]
                ),
                profile_form=kwargs.get("profile_form"),
                failed_exposure=kwargs.get("failed_exposure"),
            )
        )
        return context


class FedrampExposureView(OrgMixin, View):
    """POST (owners and admins): one mirrored repository's IRV and PAIN."""

    permission = Perm.ORG_MANAGE

    def post(self, request, org_slug, pk):
        mirror = get_object_or_404(
            self.scoped(Mirror.objects).select_related("repository"), pk=pk
        )
        form = exposure_form(mirror, None, request.POST)
        if form.is_valid():
            try:
                services.fedramp_exposure_set(
                    org=self.org,
                    repository=mirror.repository,
                    actor=request.user,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request, f"{mirror.repository.name}: IRV and PAIN saved."
                )
                return redirect("sla:fedramp", org_slug=self.org.slug)
        page = FedrampView()
        page.setup(request, org_slug=org_slug)
        page.org, page.access = self.org, self.access
        context = page.get_context_data(failed_exposure=(mirror.pk, form))
        return page.render_to_response(context, status=400)


class ClockEvaluateView(OrgMixin, View):
    """POST (owners and admins): a clock's own CR26 evaluation."""

    permission = Perm.ORG_MANAGE

    def post(self, request, org_slug, pk):
        try:
            clock = sla_clock_get(org=self.org, pk=pk)
        except SlaClock.DoesNotExist:
            raise Http404("No such clock.") from None
        form = FedrampClockEvaluationForm(request.POST)
        if form.is_valid():
            try:
                services.fedramp_clock_evaluate(
                    clock=clock,
                    actor=request.user,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, "Evaluation saved.")
                return redirect("sla:clock_detail", org_slug=self.org.slug, pk=clock.pk)
        page = ClockDetailView()
        page.setup(request, org_slug=org_slug, pk=pk)
        page.org, page.access, page.clock = self.org, self.access, clock
        context = page.get_context_data(evaluation_form=form)
        return page.render_to_response(context, status=400)
