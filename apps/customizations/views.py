"""The organization's customizations page: list, create, archive."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from apps.orgs.mixins import OrgMixin, OrgServiceFormMixin
from apps.orgs.permissions import Perm

from . import selectors, services
from .forms import CustomizationForm
from .models import Customization


class CustomizationsView(OrgServiceFormMixin, OrgMixin, TemplateView):
    permission = Perm.ORG_VIEW
    template_name = "customizations/list.html"
    form_class = CustomizationForm
    post_permission = Perm.MIRRORS_MANAGE
    success_url_name = "customizations:list"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        usage = selectors.customization_usage(org=self.org)
        context["customizations"] = selectors.customization_list(org=self.org)
        context["usage"] = usage
        context["limit_message"] = (
            "" if usage.can_create else services.limit_message(usage)
        )
        context["can_manage"] = self.access.can(Perm.MIRRORS_MANAGE)
        context["form"] = kwargs.get("form") or CustomizationForm()
        return context

    def perform(self, form) -> str:
        customization = services.customization_create(
            org=self.org,
            actor=self.request.user,
            request=self.request,
            **form.cleaned_data,
        )
        return f"Customization {customization.name} created."


class CustomizationArchiveView(OrgMixin, View):
    permission = Perm.MIRRORS_MANAGE

    def post(self, request, org_slug, pk):
        customization = get_object_or_404(
            self.scoped(Customization.objects.active()), pk=pk
        )
        try:
            services.customization_archive(
                customization=customization, actor=request.user, request=request
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Customization {customization.name} archived.")
        return redirect("customizations:list", org_slug=self.org.slug)
