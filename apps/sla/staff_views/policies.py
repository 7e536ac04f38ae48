"""The SLA policies and their versions; a new version of a policy."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import TemplateView

from apps.core.forms import apply_validation_error
from apps.core.mixins import StaffOnlyMixin

from .. import services
from ..models import SlaPolicy, SlaPolicyVersion
from ..staff_forms import PolicyVersionForm


def _versions() -> Prefetch:
    return Prefetch(
        "versions",
        queryset=SlaPolicyVersion.objects.annotate(clock_count=Count("clocks"))
        .select_related("created_by")
        .order_by("-version"),
    )


class PoliciesView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_policies.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["policies"] = (
            SlaPolicy.objects.select_related("plan", "org")
            .prefetch_related(_versions())
            .order_by("org", "plan__position", "key")
        )
        return context


class PolicyView(StaffOnlyMixin, TemplateView):
    template_name = "sla/staff_policy.html"

    def _load(self, pk: int) -> None:
        self.policy = get_object_or_404(
            SlaPolicy.objects.select_related("plan", "org").prefetch_related(
                _versions()
            ),
            pk=pk,
        )

    def get(self, request, *args, **kwargs):
        self._load(kwargs["pk"])
        versions = list(self.policy.versions.all())
        initial = (
            {name: getattr(versions[0], name) for name in services.VERSION_FIELDS}
            if versions
            else {}
        )
        return self._render(PolicyVersionForm(initial=initial))

    def post(self, request, *args, **kwargs):
        self._load(kwargs["pk"])
        form = PolicyVersionForm(request.POST)
        if form.is_valid():
            try:
                version = services.sla_policy_version_create(
                    policy=self.policy, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Version {version.version} created; clocks opened from now "
                    "on use it, earlier clocks keep theirs.",
                )
                return redirect("staff_sla_policy", pk=self.policy.pk)
        response = self._render(form)
        response.status_code = 400
        return response

    def _render(self, form: PolicyVersionForm):
        return self.render_to_response(
            self.get_context_data(
                policy=self.policy, versions=self.policy.versions.all(), form=form
            )
        )
