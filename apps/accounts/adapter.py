import logging

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core import outbound
from apps.entitlements.selectors import has_feature

from .models import OrgSsoConnection
from .selectors import org_sso_contact_refusal

logger = logging.getLogger(__name__)

SSO_LAPSED_MESSAGE = (
    "{org}'s plan no longer includes single sign-on. Sign in with your email "
    'and password instead; if you never set a password, use "Forgot your '
    'password?" to choose one.'
)


def sso_entitled(connection: OrgSsoConnection) -> bool:
    """Signing in through an organization's provider needs its ``sso`` feature
    now, whenever the connection was set up."""
    return has_feature(org=connection.org, feature="sso")


def sso_login_refuse(*, connection: OrgSsoConnection, request, step: str, email=""):
    """Log the refusal of an SSO sign-in whose organization lost the feature;
    return the message to show."""
    audit_record(
        action=AuditEvent.Action.SSO_LOGIN_REFUSED,
        org=connection.org,
        target=connection,
        request=request,
        actor_email=email,
        details={
            "provider_id": connection.social_app.provider_id,
            "reason": "sso_not_entitled",
            "step": step,
            "email": email,
        },
    )
    return SSO_LAPSED_MESSAGE.format(org=connection.org.name)


def _contact_refused(request, message: str) -> HttpResponse:
    """The answer when a provider may not be contacted: back to the sign-in
    page from a callback (as the callback's other refusals), else a 403."""
    if request is None:
        return HttpResponseForbidden(message)
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "openid_connect_callback":
        messages.error(request, message)
        return redirect("account_login")
    return render(
        request, "accounts/sso_unavailable.html", {"message": message}, status=403
    )


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """SSO logins are trusted only for the email domains the organization claims.

    Without this check an organization's identity provider could assert any
    address and sign in as a person of another organization.
    """

    def get_requests_session(self):
        # allauth makes every request to a provider (discovery, keys, token,
        # userinfo) with a session from here: all go through the outbound policy.
        return outbound.requests_session()

    def get_provider(self, request, provider, client_id=None):
        # The provider's login and callback views, and the discovery fetch,
        # look the provider up here first: a provider that may not be
        # contacted stops there, before any connection.
        found = super().get_provider(request, provider, client_id=client_id)
        refusal = org_sso_contact_refusal(app=getattr(found, "app", None))
        if refusal:
            logger.info("SSO provider %s not contacted: %s", provider, refusal)
            raise ImmediateHttpResponse(_contact_refused(request, refusal))
        return found

    def _connection(self, sociallogin) -> OrgSsoConnection | None:
        return (
            OrgSsoConnection.objects.filter(
                social_app__provider_id=sociallogin.account.provider, enabled=True
            )
            .select_related("org", "social_app")
            .first()
        )

    def pre_social_login(self, request, sociallogin):
        connection = self._connection(sociallogin)
        emails = [e.email.lower() for e in sociallogin.email_addresses]
        if connection is not None and not sso_entitled(connection):
            # The flow may have started before the plan changed: the callback
            # is checked again.
            message = sso_login_refuse(
                connection=connection,
                request=request,
                step="callback",
                email=emails[0] if emails else "",
            )
            messages.error(request, message)
            raise ImmediateHttpResponse(redirect("account_login"))
        domains = {e.rpartition("@")[2] for e in emails}
        if (
            connection is None
            or not emails
            or not all(connection.vouches_for(d) for d in domains)
        ):
            messages.error(
                request,
                "Your identity provider vouched for an address this organization "
                "does not own. Sign in with your email and password instead.",
            )
            raise ImmediateHttpResponse(redirect("account_login"))
        # The provider is the organization's own, for its own domain: its word on
        # the email address is what SSO is for.
        for address in sociallogin.email_addresses:
            address.verified = True
        sociallogin.state["org_sso_id"] = connection.pk

    def is_open_for_signup(self, request, sociallogin):
        return True

    def is_auto_signup_allowed(self, request, sociallogin):
        return True
