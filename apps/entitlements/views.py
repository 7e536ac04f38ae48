"""Org pages (mirrors, entitlements) and the staff desk for contracts and trials."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from apps.core.forms import apply_validation_error
from apps.core.mixins import StaffOnlyMixin
from apps.orgs.mixins import OrgMixin, OrgServiceFormMixin
from apps.orgs.permissions import Perm

from . import selectors, services
from .forms import EntitlementEndForm, EntitlementGrantForm, MirrorForm
from .models import Entitlement, Mirror


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


class MirrorsView(OrgServiceFormMixin, OrgMixin, TemplateView):
    permission = Perm.ORG_VIEW
    template_name = "entitlements/mirrors.html"
    form_class = MirrorForm
    post_permission = Perm.MIRRORS_MANAGE
    success_url_name = "entitlements:mirrors"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["mirrors"] = selectors.mirror_list(org=self.org)
        context["can_manage"] = self.access.can(Perm.MIRRORS_MANAGE)
        context["form"] = kwargs.get("form") or MirrorForm()
        return context

    def perform(self, form) -> str:
        mirror = services.mirror_add(
            org=self.org,
            actor=self.request.user,
            request=self.request,
            **form.cleaned_data,
        )
        return f"{mirror.repository.name} is mirrored."


class MirrorRemoveView(OrgMixin, View):
    permission = Perm.MIRRORS_MANAGE

    def post(self, request, org_slug, pk):
        mirror = get_object_or_404(self.scoped(Mirror.objects), pk=pk)
        services.mirror_remove(mirror=mirror, actor=request.user, request=request)
        messages.success(request, f"{mirror.repository.name} is no longer mirrored.")
        return redirect("entitlements:mirrors", org_slug=self.org.slug)


class EntitlementsView(OrgMixin, TemplateView):
    permission = Perm.ORG_VIEW
    template_name = "entitlements/org_entitlements.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(selectors.entitlement_list(org=self.org))
        for row in rows:
            row.current_status = row.status()
        context["current"] = [r for r in rows if r.current_status != "ended"]
        context["history"] = [r for r in rows if r.current_status == "ended"]
        return context


class StaffEntitlementsView(StaffOnlyMixin, TemplateView):
    template_name = "entitlements/staff_entitlements.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(selectors.entitlement_list_all()[:200])
        for row in rows:
            row.current_status = row.status()
        context["entitlements"] = rows
        context["form"] = kwargs.get("form") or EntitlementGrantForm()
        context["end_form"] = EntitlementEndForm()
        return context

    def post(self, request, *args, **kwargs):
        form = EntitlementGrantForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            grant = (
                services.entitlement_grant_trial
                if data.pop("source") == Entitlement.Source.TRIAL
                else services.entitlement_grant_contract
            )
            try:
                entitlement = grant(actor=request.user, request=request, **data)
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"Granted: {entitlement}.")
                return redirect("staff_entitlements")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class StaffEntitlementEndView(StaffOnlyMixin, View):
    def post(self, request, pk):
        entitlement = get_object_or_404(Entitlement, pk=pk)
        form = EntitlementEndForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give a reason and a valid time.")
            return redirect("staff_entitlements")
        try:
            services.entitlement_end(
                entitlement=entitlement,
                actor=request.user,
                request=request,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            messages.error(request, _errors(exc))
        else:
            messages.success(request, f"Ended: {entitlement}.")
        return redirect("staff_entitlements")
