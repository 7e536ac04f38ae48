"""Tenancy walker specs for the public catalog and the publisher staff's
evidence pages (tests/test_tenancy.py)."""

from tests.walker import ApiRoute, Expect, SiteRoute, public_api, public_page

SPECS = [
    SiteRoute(
        "staff_evidence",
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        # Staff posting nothing get the form back with errors; nothing is loaded.
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_build_register",
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        # Staff posting nothing get the form back with errors; nothing is written.
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_signers",
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        # Staff posting nothing get the forms back with errors; nothing is written.
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_signer_rotate",
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_signer_revoke",
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    public_page("catalog:list"),
    public_page("catalog:lifecycle"),
    public_page("catalog:lifecycle_ics"),
    public_page("catalog:repository", name="repository_name"),
    public_page("catalog:digest", digest="digest"),
    public_page("catalog:digest_vex", digest="digest"),
    public_page("catalog:repository_vex", name="repository_name"),
    public_page("catalog:attestation_download", pk="attestation_pk"),
    # The public catalog API: read by anyone, token or not.
    *public_api("repository", {"name": "repository_name"}),
    *public_api("series", {"pk": "series_pk"}),
    *public_api("digest", {"digest": "digest"}),
    *public_api("component", {"pk": "component_pk"}),
    # The publisher's VEX exports, public like the rest of the catalog.
    ApiRoute("api:repository-openvex", {"name": "repository_name"}, public=True),
    ApiRoute("api:digest-openvex", {"digest": "digest"}, public=True),
    ApiRoute("api:digest-cyclonedx-vex", {"digest": "digest"}, public=True),
    # The same, as a DSSE envelope signed by the portal: public too.
    *(
        ApiRoute(name, kwargs, public=True, query=(("signature", "dsse"),))
        for name, kwargs in (
            ("api:repository-openvex", {"name": "repository_name"}),
            ("api:digest-openvex", {"digest": "digest"}),
            ("api:digest-cyclonedx-vex", {"digest": "digest"}),
        )
    ),
]
