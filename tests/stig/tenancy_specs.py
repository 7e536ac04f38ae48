"""Tenancy walker specs for STIG evidence (tests/test_tenancy.py)."""

from apps.audit.models import AuditEvent
from tests.walker import LOGIN, ApiRoute, Expect, Outcome, SiteRoute


def _stig_checklist_downloaded(o: Outcome) -> None:
    (event,) = o.new_events(AuditEvent.Action.EVIDENCE_DOWNLOADED)
    assert event.details["via"].startswith("staff:")


def _stig_checklist(p: str) -> Expect:
    """STIG evidence: sign in; then publisher staff only (no org is entitled)."""
    if p == "anonymous":
        return Expect(302, LOGIN)
    if p == "staff":
        return Expect(200, effect=_stig_checklist_downloaded)
    return Expect(403)


def _stig_diff(p: str) -> Expect:
    """STIG evidence, like the checklists; read-only (no download is logged)."""
    if p == "anonymous":
        return Expect(302, LOGIN)
    if p == "staff":
        return Expect(200, contains=("No earlier build",))
    return Expect(403, contains=("need the STIG entitlement",))


SPECS = [
    *(
        SiteRoute(
            name,
            kwargs={"digest": "stig_scan_digest"},
            get=_stig_checklist,
            post=lambda p: Expect(405),
            requires_login=False,
        )
        for name in ("stig_checklist:ckl", "stig_checklist:cklb")
    ),
    SiteRoute(
        "stig:diff",
        kwargs={"digest": "stig_scan_digest"},
        get=_stig_diff,
        post=lambda p: Expect(405),
        requires_login=False,
    ),
    # A STIG build's scan counts are public; its rules need an entitled token
    # (tests/stig/test_api.py), which no organization of the walk holds.
    ApiRoute(
        "api:digest-stig", {"digest": "stig_scan_digest"}, public=True, formats=(None,)
    ),
]
