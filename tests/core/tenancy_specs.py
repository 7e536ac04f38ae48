"""Tenancy walker specs for health, metrics and the API schema
(tests/test_tenancy.py)."""

from tests.walker import ApiRoute, Expect, SiteRoute

SPECS = [
    SiteRoute(
        "healthz",
        get=lambda p: Expect(200),
        post=lambda p: Expect(405),
        requires_login=False,
    ),
    SiteRoute(
        "readyz",
        get=lambda p: Expect(200),
        post=lambda p: Expect(405),
        requires_login=False,
    ),
    # Without METRICS_TOKEN or an allowed network (as in the walk) there is
    # nothing here for anyone; tests/core/test_metrics.py covers the way in.
    SiteRoute(
        "metrics",
        get=lambda p: Expect(404),
        post=lambda p: Expect(404),
        requires_login=False,
    ),
    ApiRoute("api:schema", formats=(None,), public=True),
]
