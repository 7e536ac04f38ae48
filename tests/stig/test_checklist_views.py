"""Downloading a digest's STIG scan as a STIG Viewer checklist, guarded like the
scan document; and real checklists imported through the evidence door."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog.models import Attestation
from apps.evidence.ingest import evidence_import
from apps.orgs.models import Role
from apps.stig.formats.ckl import ckl_loads
from apps.stig.formats.cklb import cklb_loads
from apps.stig.formats.parsed import status_for
from apps.stig.models import StigRuleResult, StigScan
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

from . import builders as b
from .test_checklist import RHEL7_CKL, SAMPLE_CKLB, SMALL_CKL

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()


@pytest.fixture
def image():
    return b.stig_build()


@pytest.fixture
def scan(image):
    """The real OpenSCAP RHEL 8 results, imported as a scan of the build."""
    evidence_import(
        kind="stig", content=b.RHEL8.read_bytes(), digest=image.digest, actor=None
    )
    return StigScan.objects.get(digest=image)


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


@pytest.fixture
def acme():
    return OrganizationFactory(name="Acme", slug="acme", features=())


def _url(image, fmt: str = "ckl", **query) -> str:
    url = reverse(f"stig_checklist:{fmt}", args=[image.digest])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _downloads():
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.EVIDENCE_DOWNLOADED))


def _bearer(org, scopes) -> dict:
    creator = MembershipFactory(org=org, role=Role.OWNER).user
    _, raw = api_token_create(
        org=org, name="ci", scopes=scopes, expires_at=None, actor=creator
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# --- what is served ---------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "loads"), [("ckl", ckl_loads), ("cklb", cklb_loads)])
def test_a_stored_scan_reads_back_rule_by_rule(fmt, loads, image, scan, staff):
    response = _client(staff).get(_url(image, fmt))
    assert response.status_code == 200, response.content[:300]
    checklist = loads(response.content)

    (stig,) = checklist.stigs
    rows = {r.rule_id: r for r in StigRuleResult.objects.filter(scan=scan)}
    assert len(stig.vulns) == len(rows) == scan.rule_count > 200
    for vuln in stig.vulns:
        row = rows[vuln.rule_id]
        assert vuln.status == status_for(row.result), vuln.rule_id
        assert vuln.finding_details == row.finding_details
        assert vuln.comments == row.comments
        assert vuln.ccis == row.ccis
        assert (vuln.vuln_num, vuln.rule_ver, vuln.severity) == (
            row.vuln_id,
            row.stig_id,
            row.severity,
        )
        assert vuln.check_content == row.check_text
        assert vuln.fix_text == row.fix_text
    statuses = [v.status for v in stig.vulns]
    # The file's 61 pass, 166 fail, 21 error (not reviewed).
    assert statuses.count("NotAFinding") == 61
    assert statuses.count("Open") == 166
    assert statuses.count("Not_Reviewed") == 21


def test_the_checklist_names_the_image_and_the_benchmark(image, scan, staff):
    checklist = ckl_loads(_client(staff).get(_url(image)).content)
    assert checklist.asset.host_name == "rhel-base:9-stig"
    assert checklist.asset.target_comment == image.digest
    assert checklist.asset.role == "None"
    assert checklist.asset.asset_type == "Computing"
    info = checklist.stigs[0].info
    assert info.stigid == scan.benchmark_id
    assert info.title == scan.benchmark_title
    assert info.version == scan.benchmark_version
    assert info.releaseinfo == scan.release_info
    assert info.stigid == "RHEL_8_STIG"


def test_downloads_are_named_after_the_build(image, scan, staff):
    digest12 = image.digest.removeprefix("sha256:")[:12]
    ckl = _client(staff).get(_url(image, "ckl"))
    assert ckl["Content-Type"] == "application/xml; charset=utf-8"
    assert ckl["Content-Disposition"] == (
        f'attachment; filename="rhel-base_9_stig_{digest12}.ckl"'
    )
    assert ckl["Cache-Control"] == "private, no-store"
    assert ckl.content.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!--DISA STIG Viewer :: 2.17-->\n'
    )
    cklb = _client(staff).get(_url(image, "cklb"))
    assert cklb["Content-Type"] == "application/json"
    assert cklb["Content-Disposition"].endswith(f'{digest12}.cklb"')
    assert json.loads(cklb.content)["target_data"]["host_name"] == "rhel-base:9-stig"


def test_the_same_scan_gives_the_same_file(image, scan, staff):
    client = _client(staff)
    for fmt in ("ckl", "cklb"):
        assert (
            client.get(_url(image, fmt)).content == client.get(_url(image, fmt)).content
        )


def test_the_latest_scan_is_served_or_the_benchmark_asked_for(image, scan, staff):
    other = b.scan(image, [(1, "high", "fail"), (2, "low", "pass")])
    client = _client(staff)
    latest = ckl_loads(client.get(_url(image)).content)
    assert latest.stigs[0].info.stigid == other.benchmark_id != scan.benchmark_id
    picked = ckl_loads(
        client.get(_url(image, benchmark=scan.benchmark_id)).content
    ).stigs[0]
    assert picked.info.stigid == scan.benchmark_id
    assert client.get(_url(image, benchmark="nope")).status_code == 404


def test_unknown_digest_and_build_without_scan_are_not_found(image, staff):
    client = _client(staff)
    assert client.get(_url(image)).status_code == 404  # no scan yet
    missing = "sha256:" + "0" * 64
    assert client.get(reverse("stig_checklist:ckl", args=[missing])).status_code == 404
    assert (
        client.get(reverse("stig_checklist:cklb", args=["nonsense"])).status_code == 404
    )
    assert _downloads() == []


def test_a_download_costs_the_same_queries_however_many_rules(
    image, staff, django_assert_num_queries
):
    small = b.stig_build(days_ago=3)
    b.scan(small, [(1, "high", "fail")])
    big = b.stig_build(days_ago=2)
    b.scan(big, [(n, "medium", "pass") for n in range(1, 41)])
    client = _client(staff)
    client.get(_url(small))  # warm the session
    # Session, user and allauth's session tracking (7); the digest with its
    # variant, series and repository, the latest scan with its attestation, its
    # rule results (3); the audit record: chain head and insert in a savepoint,
    # inside the request's (6), on PostgreSQL under an advisory lock (1); the
    # staff's second factor (1).
    expected = 17 + (connection.vendor == "postgresql")
    with django_assert_num_queries(expected) as small_queries:
        assert client.get(_url(small)).status_code == 200
    with django_assert_num_queries(len(small_queries.captured_queries)):
        assert client.get(_url(big)).status_code == 200


# --- who may download -------------------------------------------------------------


def test_anonymous_browser_is_sent_to_sign_in(image, scan):
    url = _url(image)
    response = Client().get(url)
    assert response.status_code == 302
    login, query = response["Location"].split("?", 1)
    assert login == reverse("account_login")
    assert QueryDict(query)["next"] == url
    assert _downloads() == []


def test_member_without_the_stig_entitlement_is_refused(acme, image, scan):
    person = MembershipFactory(org=acme).user
    response = _client(person).get(_url(image, "cklb"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "needs the STIG entitlement" in page
    assert 'href="/pricing/"' in page
    assert _downloads() == []


def test_member_of_an_entitled_org_downloads_and_it_is_logged(acme, image, scan):
    entitle(acme, "stig")
    person = MembershipFactory(org=acme).user
    response = _client(person).get(_url(image, "ckl"))
    assert response.status_code == 200
    (event,) = _downloads()
    assert event.org == acme
    assert event.actor == person
    assert event.target_id == str(scan.attestation_id)
    assert event.details["via"] == "member:ckl"
    assert event.details["kind"] == "stig-scan"
    assert event.details["entitlements"] == ["stig"]


def test_token_with_evidence_read_downloads(acme, image, scan):
    entitle(acme, "stig")
    response = Client().get(_url(image, "cklb"), **_bearer(acme, [Scope.EVIDENCE_READ]))
    assert response.status_code == 200
    assert cklb_loads(response.content).stigs[0].info.stigid == scan.benchmark_id
    (event,) = _downloads()
    assert event.details["via"] == "token:cklb"


def test_token_without_the_scope_is_refused(acme, image, scan):
    entitle(acme, "stig")
    response = Client().get(_url(image), **_bearer(acme, [Scope.ORG_READ]))
    assert response.status_code == 403
    assert "evidence:read" in response.json()["detail"]
    assert _downloads() == []


def test_token_of_an_unentitled_org_gets_json_403(acme, image, scan):
    response = Client().get(_url(image), **_bearer(acme, [Scope.EVIDENCE_READ]))
    assert response.status_code == 403
    assert response.json()["entitlements"] == ["stig"]
    assert _downloads() == []


def test_a_bad_token_gets_401(image, scan):
    response = Client().get(_url(image), HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert _downloads() == []


# --- the digest page -------------------------------------------------------------


def test_the_digest_page_offers_both_checklists(image, scan):
    page = Client().get(image.get_absolute_url()).content.decode()
    ckl = reverse("stig_checklist:ckl", args=[image.digest])
    cklb = reverse("stig_checklist:cklb", args=[image.digest])
    assert f'href="{ckl}?benchmark={scan.benchmark_id}"' in page
    assert f'href="{cklb}?benchmark={scan.benchmark_id}"' in page


# --- real checklists through the evidence door ----------------------------------


def _import(image, path):
    return evidence_import(
        kind="stig", content=path.read_bytes(), digest=image.digest, actor=None
    )


def test_real_checklists_import_through_the_evidence_door(image):
    _import(image, SMALL_CKL)
    _import(image, RHEL7_CKL)
    _import(image, SAMPLE_CKLB)
    scans = {s.benchmark_id: s for s in StigScan.objects.filter(digest=image)}
    assert set(scans) == {
        "RHEL_9_STIG",
        "disa_stig-el7",
        "redhat-enterprise-linux-8-stig-baseline",
    }
    assert scans["RHEL_9_STIG"].source_format == "ckl"
    assert scans["RHEL_9_STIG"].rule_count == 11
    cklb = scans["redhat-enterprise-linux-8-stig-baseline"]
    assert cklb.source_format == "cklb"
    results = dict(cklb.results.values_list("rule_id", "result"))
    assert results == {
        "SV-230221r858734_rule": "pass",
        "SV-230222r627750_rule": "fail",
        "SV-230223r928585_rule": "notapplicable",
        "SV-230328r902723_rule": "notchecked",
    }
    rhel7 = scans["disa_stig-el7"].results.get(rule_id="SV-86473r2_rule")
    assert rhel7.finding_details.startswith("failed :: TEST not important")
    assert rhel7.ccis == ["CCI-001494", "CCI-001496"]
    assert rhel7.cat == 1
    # The documents are kept byte for byte.
    stored = Attestation.objects.get(stig_scan=scans["RHEL_9_STIG"])
    assert stored.document.open().read() == SMALL_CKL.read_bytes()


def test_an_imported_checklist_exports_its_review_again(image, staff):
    _import(image, RHEL7_CKL)
    exported = ckl_loads(_client(staff).get(_url(image)).content)
    original = ckl_loads(RHEL7_CKL.read_bytes())
    assert [
        (v.rule_id, v.status, v.finding_details) for v in exported.stigs[0].vulns
    ] == [(v.rule_id, v.status, v.finding_details) for v in original.stigs[0].vulns]


def _nothing_written(image) -> bool:
    return (
        not StigScan.objects.exists()
        and not Attestation.objects.filter(digest=image).exists()
        and not AuditEvent.objects.filter(
            action=AuditEvent.Action.EVIDENCE_IMPORTED
        ).exists()
    )


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: c.replace(b"</HOST_NAME>", b"</HOST>", 1), "line 8"),
        (
            lambda c: c.replace(b"<STATUS>Open</STATUS>", b"<STATUS>Bad</STATUS>", 1),
            "Rule SV-86473r2_rule",
        ),
        (
            lambda c: c.replace(
                b"<CHECKLIST>",
                b'<!DOCTYPE CHECKLIST [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<CHECKLIST>",
                1,
            ),
            "entities",
        ),
    ],
    ids=["malformed", "unknown-status", "external-entity"],
)
def test_a_bad_checklist_is_refused_at_the_door_with_nothing_written(
    image, mutate, fragment
):
    content = mutate(RHEL7_CKL.read_bytes())
    with pytest.raises(ValidationError) as caught:
        evidence_import(kind="stig", content=content, digest=image.digest, actor=None)
    assert fragment in " ".join(caught.value.message_dict["document"])
    assert _nothing_written(image)


def test_a_cklb_without_stigs_is_refused_at_the_door(image):
    with pytest.raises(ValidationError) as caught:
        evidence_import(
            kind="stig", content=b'{"stigs": []}', digest=image.digest, actor=None
        )
    assert "no STIG" in caught.value.message_dict["document"][0]
    assert _nothing_written(image)


def test_an_oversized_checklist_is_refused_at_the_door(image, settings):
    settings.EVIDENCE_MAX_BYTES = len(SMALL_CKL.read_bytes()) - 1
    with pytest.raises(ValidationError) as caught:
        _import(image, SMALL_CKL)
    assert "the limit is" in caught.value.message_dict["document"][0]
    assert _nothing_written(image)
