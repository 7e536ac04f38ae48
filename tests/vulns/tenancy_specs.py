"""Tenancy walker specs for vulnerabilities, findings and VEX
(tests/test_tenancy.py)."""

from tests.walker import Expect, SiteRoute, public_api

SPECS = [
    SiteRoute(
        "staff_vex_documents",
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_vex_document",
        kwargs={"pk": "vex_document_pk"},
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_vex_withdraw",
        kwargs={"pk": "vex_document_pk"},
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        # Without a reason nothing is withdrawn: the page again, with the error.
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    # The public catalog API: read by anyone, token or not.
    *public_api("vulnerability", {"vuln_id": "vuln_id"}),
    *public_api("finding", {"pk": "finding_pk"}),
    *public_api("vexstatement", {"pk": "vex_statement_pk"}),
]
