"""Tenancy walker specs for FIPS (tests/test_tenancy.py)."""

from apps.accounts.models import ApiToken
from tests.walker import AUDITOR, ROLES, ApiOp, ApiRoute, OrgRoute

Scope = ApiToken.Scope

SPECS = [
    OrgRoute("fips:org_fips", get=frozenset({*ROLES, AUDITOR})),
    ApiRoute("api:fipsmodule-list", get=ApiOp(Scope.EVIDENCE_READ, other="figures")),
]
