import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import FormView, TemplateView

from apps.core import outbound
from apps.core.forms import apply_validation_error
from apps.entitlements.selectors import has_feature
from apps.orgs.mixins import OrgMixin, OrgServiceFormMixin
from apps.orgs.permissions import Perm

from . import selectors, services
from .adapter import sso_entitled, sso_login_refuse
from .forms import ApiTokenForm, SsoLoginForm, SsoSettingsForm
from .models import ApiToken

logger = logging.getLogger(__name__)


class TokensView(OrgMixin, TemplateView):
    permission = Perm.TOKENS_MANAGE
    template_name = "accounts/tokens.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tokens"] = selectors.api_token_list(org=self.org)
        context["form"] = kwargs.get("form") or ApiTokenForm(
            staff=self.request.user.is_staff
        )
        return context

    def post(self, request, *args, **kwargs):
        form = ApiTokenForm(request.POST, staff=request.user.is_staff)
        if form.is_valid():
            try:
                token, raw = services.api_token_create(
                    org=self.org,
                    actor=request.user,
                    request=request,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                # Rendered once, never stored: the page after a redirect could not
                # show it, so this response shows it directly.
                context = self.get_context_data()
                context["new_token"] = token
                context["new_secret"] = raw
                response = self.render_to_response(context, status=201)
                response["Cache-Control"] = "no-store"
                return response
        return self.render_to_response(self.get_context_data(form=form), status=400)


class TokenRevokeView(OrgMixin, View):
    permission = Perm.TOKENS_MANAGE

    def post(self, request, org_slug, pk):
        token = get_object_or_404(self.scoped(ApiToken.objects), pk=pk)
        try:
            services.api_token_revoke(token=token, actor=request.user, request=request)
            messages.success(request, f"Token {token.name} revoked.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("accounts:tokens", org_slug=self.org.slug)


class SsoSettingsView(OrgServiceFormMixin, OrgMixin, TemplateView):
    permission = Perm.ORG_MANAGE
    template_name = "accounts/sso_settings.html"
    form_class = SsoSettingsForm
    success_url_name = "accounts:sso"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        connection = selectors.org_sso_get(org=self.org)
        context["connection"] = connection
        context["sso_entitled"] = has_feature(org=self.org, feature="sso")
        initial = {}
        if connection is not None:
            initial = {
                "issuer_url": connection.social_app.settings.get("server_url", ""),
                "client_id": connection.social_app.client_id,
                "email_domains": ", ".join(connection.email_domains),
                "enabled": connection.enabled,
            }
        context["form"] = kwargs.get("form") or SsoSettingsForm(initial=initial)
        return context

    def perform(self, form) -> str:
        services.org_sso_configure(
            org=self.org,
            actor=self.request.user,
            request=self.request,
            **form.cleaned_data,
        )
        return "Single sign-on saved."


class SsoLoginView(FormView):
    """Start SSO from a work email: find the organization, go to its provider."""

    template_name = "accounts/sso_login.html"
    form_class = SsoLoginForm

    def form_valid(self, form):
        connection = services.org_sso_for_email(email=form.cleaned_data["email"])
        if connection is None:
            form.add_error(
                "email", "No organization has single sign-on for this email domain."
            )
            return self.form_invalid(form)
        if not sso_entitled(connection):
            message = sso_login_refuse(
                connection=connection,
                request=self.request,
                step="start",
                email=form.cleaned_data["email"].lower(),
            )
            form.add_error("email", message)
            return self.render_to_response(self.get_context_data(form=form), status=403)
        provider = connection.social_app.get_provider(self.request)
        try:
            # Reads the provider's discovery document, through the outbound policy.
            return provider.redirect(self.request, process="login")
        except (outbound.SessionError, KeyError):
            logger.warning(
                "SSO discovery failed for %s", connection.provider_id, exc_info=True
            )
            form.add_error(
                "email",
                "Your organization's identity provider cannot be reached right "
                "now. Try again later or sign in with your email and password.",
            )
            return self.render_to_response(self.get_context_data(form=form), status=502)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        response.status_code = 400
        return response
