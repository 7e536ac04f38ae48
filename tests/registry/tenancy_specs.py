"""Tenancy walker specs for the registry token service (tests/test_tenancy.py).

The token endpoint answers registries, not browsers: it takes no session, and
a request without a ``service`` is refused with 400 whoever sends it, with
nothing written. The JWKS is public. tests/registry/test_token.py covers who
gets which access.
"""

from tests.walker import Expect, SiteRoute

SPECS = [
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
]
