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
