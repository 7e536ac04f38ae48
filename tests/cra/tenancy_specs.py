"""Tenancy walker specs for the CRA Article 14 desk (tests/test_tenancy.py):
publisher staff only. A case may name customers (those to inform), so no one
else reaches it; a form posted empty by staff is refused with nothing
written."""

from tests.walker import Expect, SiteRoute, staff_only


def _staff_page(p: str, *contains: str) -> Expect:
    if p == "staff":
        return Expect(200, contains=contains, shows_victim=True)
    return Expect(403)


SPECS = [
    SiteRoute(
        "staff_cra",
        get=lambda p: _staff_page(p, "CRA Article 14"),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_cra_open",
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(p, Expect(400)),
    ),
    SiteRoute(
        "staff_cra_case",
        kwargs={"pk": "cra_case_pk"},
        get=lambda p: _staff_page(p, "Walker evidence"),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_cra_submit",
        kwargs={"pk": "cra_case_pk"},
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(p, Expect(400, shows_victim=True)),
    ),
    SiteRoute(
        "staff_cra_measure",
        kwargs={"pk": "cra_case_pk"},
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(p, Expect(400, shows_victim=True)),
    ),
]
