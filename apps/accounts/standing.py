"""A token acts with its creator's current standing in its organization.

An API token is minted by someone allowed to manage tokens, for scopes their
role covers. It is not a copy of their rights taken at that moment: every use
asks again whether the creator still holds them. A token is **suspended**
(refused with 403 and the reason, not deleted) while:

- its creator's account is deactivated;
- the organization requires two-factor authentication and the creator has
  no second factor (the same rule that keeps them out of its pages);
- it carries an organization scope and its creator is no longer a member
  (leaving also revokes their tokens), or their role no longer allows
  managing tokens or no longer covers one of its scopes (an admin demoted to
  member);
- it carries ``catalog:write`` and its creator is no longer publisher staff
  with a second factor (a token with only that scope, a publisher
  pipeline's, needs nothing else).

It works again, unchanged, as soon as the creator's standing holds again
(the second factor set up, the role given back). An organization that wants
it gone for good revokes it. SECURITY.md states the rule.
"""

from __future__ import annotations

from apps.core.mixins import staff_in_standing
from apps.orgs.permissions import Perm
from apps.orgs.selectors import org_access_get, org_mfa_unmet

from .models import ApiToken

Scope = ApiToken.Scope

# The permission a role must hold for a token to carry the scope: the same
# permission the matching pages ask for.
SCOPE_PERMISSIONS: dict[str, Perm] = {
    Scope.ORG_READ: Perm.ORG_VIEW,
    Scope.MEMBERS_READ: Perm.MEMBERS_VIEW,
    Scope.AUDIT_READ: Perm.AUDIT_VIEW,
    Scope.AUDITORS_READ: Perm.AUDITORS_MANAGE,
    Scope.AUDITORS_WRITE: Perm.AUDITORS_MANAGE,
    Scope.TOKENS_READ: Perm.TOKENS_MANAGE,
    Scope.EVIDENCE_READ: Perm.EVIDENCE_VIEW,
    Scope.CUSTOMIZATIONS_READ: Perm.ORG_VIEW,
    Scope.CUSTOMIZATIONS_WRITE: Perm.MIRRORS_MANAGE,
    Scope.SLA_READ: Perm.ORG_VIEW,
    Scope.SLA_WRITE: Perm.ORG_MANAGE,
    Scope.REPORTS_WRITE: Perm.EVIDENCE_VIEW,
    Scope.REGISTRY_PULL: Perm.ORG_VIEW,
    Scope.REGISTRY_READ: Perm.AUDIT_VIEW,
}
# Minting and keeping any token needs this permission.
MINTING_PERMISSION = Perm.TOKENS_MANAGE
STAFF_SCOPES = frozenset({Scope.CATALOG_WRITE})


class TokenSuspended(Exception):
    """The token is valid but its creator's standing does not hold now."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def token_suspension(token: ApiToken) -> str | None:
    """Why ``token`` may not act now, or None when it may."""
    creator, org = token.created_by, token.org
    if not creator.is_active:
        return "its creator's account is deactivated"
    if org_mfa_unmet(org=org, user=creator):
        return (
            f"{org.name} requires two-factor authentication and the token's "
            "creator has not set it up"
        )
    scopes = set(token.scopes)
    if scopes & STAFF_SCOPES and not staff_in_standing(creator):
        return (
            "its creator is no longer publisher staff with a second factor "
            "(two-factor authentication)"
        )
    org_scopes = scopes - STAFF_SCOPES
    if not org_scopes:
        # A publisher pipeline's token: staff standing is all it carries.
        return None
    access = org_access_get(user=creator, org=org)
    if access is None or access.membership is None:
        return f"its creator is no longer a member of {org.name}"
    needed = {MINTING_PERMISSION} | {
        SCOPE_PERMISSIONS[scope] for scope in org_scopes if scope in SCOPE_PERMISSIONS
    }
    lacking = sorted(str(perm) for perm in needed if not access.can(perm))
    if lacking:
        return (
            f"its creator's role ({access.role}) no longer allows {', '.join(lacking)}"
        )
    return None


def token_check_standing(token: ApiToken) -> None:
    """Raise TokenSuspended unless the token may act now."""
    reason = token_suspension(token)
    if reason is not None:
        raise TokenSuspended(reason)
