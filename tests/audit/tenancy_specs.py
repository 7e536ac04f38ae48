"""Tenancy walker specs for the audit log (tests/test_tenancy.py)."""

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from tests.walker import MANAGERS, ApiOp, ApiRoute, Expect, OrgRoute, SiteRoute, ids

Scope = ApiToken.Scope


def _staff_audit(p: str) -> Expect:
    if p == "staff":
        return Expect(200, contains=("Acme", "Globex"), shows_victim=True)
    return Expect(403)


SPECS = [
    OrgRoute("audit:org_log", get=MANAGERS),
    SiteRoute(
        "staff_audit",
        get=_staff_audit,
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    ApiRoute(
        "api:auditevent-list",
        get=ApiOp(Scope.AUDIT_READ, other="list"),
        rows=ids(AuditEvent),
    ),
    ApiRoute(
        "api:auditevent-detail",
        kwargs={"pk": "event_pk"},
        get=ApiOp(Scope.AUDIT_READ),
    ),
]
