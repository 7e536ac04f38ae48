"""Tenancy walker specs for the registry token service (tests/test_tenancy.py).

The token endpoint answers registries, not browsers: it takes no session, and
a request without a ``service`` is refused with 400 whoever sends it, with
nothing written. The JWKS is public. tests/registry/test_token.py covers who
gets which access. The pull log is read through the API with
``registry:read``, one organization's rows only, and so are the images it
pulled. The registry's notifications need its secret, not a session.
"""

from apps.accounts.models import ApiToken
from apps.registry.models import PullLogEntry, RegistryEvent
from tests.walker import MANAGERS, ApiOp, ApiRoute, Expect, OrgRoute, SiteRoute, ids

SPECS = [
    OrgRoute("registry_log:overview", get=MANAGERS),
    SiteRoute(
        "registry:token",
        get=lambda p: Expect(400, contains=("UNSUPPORTED",)),
        post=lambda p: Expect(405),
        requires_login=False,
    ),
    SiteRoute(
        "registry:jwks",
        get=lambda p: Expect(200, contains=("ES256",)),
        post=lambda p: Expect(405),
        requires_login=False,
    ),
    SiteRoute(
        "registry:notifications",
        get=lambda p: Expect(405),
        post=lambda p: Expect(401),
        requires_login=False,
    ),
    ApiRoute(
        "api:imagesrun-list",
        get=ApiOp(ApiToken.Scope.REGISTRY_READ, other="digests"),
        rows=lambda org: set(
            RegistryEvent.objects.for_org(org).values_list("digest", flat=True)
        ),
    ),
    ApiRoute(
        "api:pulllog-list",
        get=ApiOp(ApiToken.Scope.REGISTRY_READ, other="list"),
        rows=ids(PullLogEntry),
    ),
]
