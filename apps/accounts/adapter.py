from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.shortcuts import redirect

from .models import OrgSsoConnection


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """SSO logins are trusted only for the email domains the organization claims.

    Without this check an organization's identity provider could assert any
    address and sign in as a person of another organization.
    """

    def _connection(self, sociallogin) -> OrgSsoConnection | None:
        return (
            OrgSsoConnection.objects.filter(
                social_app__provider_id=sociallogin.account.provider, enabled=True
            )
            .select_related("org")
            .first()
        )

    def pre_social_login(self, request, sociallogin):
        connection = self._connection(sociallogin)
        emails = [e.email.lower() for e in sociallogin.email_addresses]
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
