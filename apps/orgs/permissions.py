"""Who may do what in an organization: one table, read by every guard."""

from enum import StrEnum

from .models import Role

AUDITOR = "auditor"


class Perm(StrEnum):
    ORG_VIEW = "org.view"
    ORG_MANAGE = "org.manage"
    ORG_TRANSFER = "org.transfer"
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"
    TOKENS_MANAGE = "tokens.manage"
    AUDIT_VIEW = "audit.view"
    AUDITORS_MANAGE = "auditors.manage"
    BILLING_MANAGE = "billing.manage"
    EVIDENCE_VIEW = "evidence.view"
    MIRRORS_MANAGE = "mirrors.manage"


ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    Role.OWNER: frozenset(Perm),
    Role.ADMIN: frozenset(Perm) - {Perm.ORG_TRANSFER},
    Role.MEMBER: frozenset({Perm.ORG_VIEW, Perm.MEMBERS_VIEW, Perm.EVIDENCE_VIEW}),
    Role.BILLING: frozenset({Perm.ORG_VIEW, Perm.BILLING_MANAGE}),
    # Auditors read evidence and reports of their grant's org, nothing else.
    AUDITOR: frozenset({Perm.EVIDENCE_VIEW}),
}

# Roles a person with the given role may hand out or take away.
ASSIGNABLE_ROLES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(Role.values),
    Role.ADMIN: frozenset({Role.ADMIN, Role.MEMBER, Role.BILLING}),
}


def role_has(role: str | None, perm: Perm) -> bool:
    return role is not None and perm in ROLE_PERMISSIONS.get(role, frozenset())
