from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import ListView, TemplateView

from apps.core.forms import apply_validation_error
from apps.core.inputs import ascii_int
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from . import selectors, services
from .forms import WebhookEndpointForm
from .models import WebhookEndpoint


def _secret_response(view, *, endpoint, secret, status):
    # Shown in this response only: the page after a redirect could not.
    context = view.get_context_data()
    context["new_endpoint"] = endpoint
    context["new_secret"] = secret
    response = view.render_to_response(context, status=status)
    response["Cache-Control"] = "no-store"
    return response


class WebhooksView(OrgMixin, TemplateView):
    permission = Perm.ORG_VIEW
    template_name = "notifications/webhooks.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["endpoints"] = selectors.webhook_endpoint_list(org=self.org)
        context["can_manage"] = self.access.can(Perm.ORG_MANAGE)
        context["form"] = kwargs.get("form") or WebhookEndpointForm()
        return context

    def post(self, request, *args, **kwargs):
        if not self.access.can(Perm.ORG_MANAGE):
            raise PermissionDenied("Your role does not allow this.")
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                endpoint, secret = services.webhook_endpoint_create(
                    org=self.org,
                    actor=request.user,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                return _secret_response(
                    self, endpoint=endpoint, secret=secret, status=201
                )
        return self.render_to_response(self.get_context_data(form=form), status=400)


class WebhookDisableView(OrgMixin, View):
    permission = Perm.ORG_MANAGE

    def post(self, request, org_slug, pk):
        endpoint = get_object_or_404(self.scoped(WebhookEndpoint.objects), pk=pk)
        try:
            services.webhook_endpoint_disable(
                endpoint=endpoint, actor=request.user, request=request
            )
            messages.success(request, f"Endpoint {endpoint.url} disabled.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("notifications:webhooks", org_slug=self.org.slug)


class WebhookRotateView(WebhooksView):
    permission = Perm.ORG_MANAGE
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        endpoint = get_object_or_404(
            self.scoped(WebhookEndpoint.objects), pk=kwargs["pk"]
        )
        try:
            endpoint, secret = services.webhook_endpoint_rotate_secret(
                endpoint=endpoint, actor=request.user, request=request
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("notifications:webhooks", org_slug=self.org.slug)
        return _secret_response(self, endpoint=endpoint, secret=secret, status=200)


class DeliveriesView(OrgMixin, ListView):
    permission = Perm.ORG_VIEW
    template_name = "notifications/deliveries.html"
    context_object_name = "deliveries"
    paginate_by = 25

    def get_queryset(self):
        self.endpoint = None
        chosen = self.request.GET.get("endpoint", "")
        if chosen:
            pk = ascii_int(chosen)
            if pk is None:
                raise Http404("No such endpoint.")
            self.endpoint = get_object_or_404(
                self.scoped(WebhookEndpoint.objects), pk=pk
            )
        return selectors.delivery_list(org=self.org, endpoint=self.endpoint)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["endpoint"] = self.endpoint
        context["endpoints"] = WebhookEndpoint.objects.for_org(self.org).only(
            "pk", "url", "enabled"
        )
        return context
