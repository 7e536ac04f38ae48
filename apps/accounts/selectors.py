from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.orgs.models import Organization

from .models import ApiToken, OrgSsoConnection


def api_token_list(
    *, org: Organization, active_only: bool = False
) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.for_org(org).select_related("created_by", "revoked_by")
    if active_only:
        tokens = tokens.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )
    return tokens


def org_sso_get(*, org: Organization) -> OrgSsoConnection | None:
    return OrgSsoConnection.objects.for_org(org).select_related("social_app").first()


def org_sso_contact_refusal(*, app) -> str:
    """Why the portal may not contact this social app's identity provider yet
    ("" when it may).

    An organization's provider is contacted (discovery, keys, tokens) only
    while its connection is enabled and publisher staff verified at least one
    of its domains: until then its issuer URL is a stranger's word, and
    fetching it on an anonymous request would let anyone make the portal
    connect there.
    """
    if app is None or app.provider != "openid_connect":
        return ""
    connection = (
        OrgSsoConnection.objects.filter(social_app_id=app.pk)
        .select_related("org")
        .first()
        if app.pk
        else None
    )
    if connection is None:
        return "This sign-in provider belongs to no organization."
    if not connection.enabled:
        return (
            f"Single sign-on for {connection.org.name} is turned off. Sign in "
            "with your email and password instead."
        )
    if not connection.verified_domains:
        return (
            f"Single sign-on for {connection.org.name} is not active yet: the "
            "publisher has not verified its email domains. Sign in with your "
            "email and password instead."
        )
    return ""
