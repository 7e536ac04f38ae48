"""What a VEX document says, counted as it says it; linked to what the catalog
registers later; replaced by its newer versions; withdrawn by staff. At each
step the SLA clocks follow the statements in force."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog.builds import build_register
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaClock
from apps.sla.services import sla_clocks_open_for_mirror
from apps.vulns.formats.vex_parsed import image_purl
from apps.vulns.models import VexDocument, VexStatement
from apps.vulns.services import vex_document_withdraw, vex_import
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers
from tests.factories import MembershipFactory, UserFactory
from tests.sla.builders import NOW, finding, mirror, plan_org

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
State = SlaClock.State
TESTDATA = Path(__file__).resolve().parents[2] / "apps/vulns/testdata/vex"
DOC_ID = "https://vex.example/docs/python"
BUILD_B = "sha256:" + "b2" * 32


@pytest.fixture(autouse=True)
def sla_defaults(db):
    ensure_tiers()
    defaults_load()


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """The ledger's tasks run once the write commits, as on a worker."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def statement(vuln: str, product: str, status: str = "not_affected") -> dict:
    body = {"vulnerability": {"name": vuln}, "products": [{"@id": product}]}
    body["status"] = status
    if status == "not_affected":
        body["justification"] = "vulnerable_code_not_in_execute_path"
    if status == "affected":
        body["action_statement"] = "Update to the next build."
    return body


def openvex(
    statements: list[dict],
    *,
    version: int = 1,
    timestamp: str = "2026-03-01T00:00:00Z",
    doc_id: str = DOC_ID,
) -> bytes:
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": doc_id,
            "author": "Publisher Security",
            "timestamp": timestamp,
            "version": version,
            "statements": statements,
        }
    ).encode()


@pytest.fixture
def ledger():
    """An org with the SLA mirroring ``python``, one finding with a running
    clock on its build."""
    org = plan_org("select")
    repo = catalog.repository("python")
    series = catalog.series(repo, "3.12")
    m = mirror(org, repo)
    found = finding(series, severity="high")
    sla_clocks_open_for_mirror(mirror=m, now=NOW)
    return SimpleNamespace(org=org, repo=repo, series=series, mirror=m, found=found)


def _clock(found) -> SlaClock:
    return SlaClock.objects.get(finding=found)


# --- counting ------------------------------------------------------------------


def test_debian_base_counts_the_53_statements_it_states_not_its_rows():
    """DHI's debian-base VEX states 53 statements; each names the image twice
    (pkg:docker/dhi/... and pkg:oci/dhi%2F...) and the packages in it, which
    once made the import report 2,133 "statements"."""
    out = io.StringIO()
    path = TESTDATA / "dhi/dhi-debian-base.vex.json"
    call_command("import_vex", str(path), stdout=out)
    document = VexDocument.objects.get()
    assert document.statement_count == 53
    assert "53 statements" in out.getvalue()
    # One row per (vulnerability, product, component): the two spellings of
    # the image are one product, so no row is stored twice.
    rows = document.statements
    assert rows.count() == 1406
    keys = rows.values_list("vulnerability_id", "product", "subcomponent")
    assert len(set(keys)) == rows.count()
    assert set(rows.values_list("product", flat=True)) >= {"pkg:oci/debian-base"}
    assert not rows.filter(product__startswith="pkg:docker/").exists()


def test_the_evidence_api_reports_the_count_the_document_states(client):
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org,
        name="loader",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=UserFactory(is_staff=True),
    )
    content = (TESTDATA / "dhi/dhi-static.vex.json").read_bytes()
    response = client.post(
        "/api/v1/evidence/",
        {"kind": "vex", "document": SimpleUploadedFile("v.json", content)},
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 201, response.content
    assert response.json()["statements"] == 8
    assert VexStatement.objects.count() > 8


def test_every_dhi_document_stays_in_force_though_they_share_one_id():
    """Docker Hardened Images publish every image's VEX under the same @id:
    the images each is about keep them apart, so none replaces another."""
    documents = [
        vex_import(content=(TESTDATA / f"dhi/dhi-{name}.vex.json").read_bytes())
        for name in ("alpine-base", "busybox", "debian-base", "pkg-openssl", "static")
    ]
    assert len({d.document_id for d in documents}) == 1
    assert len({d.identity for d in documents}) == 5
    assert VexDocument.objects.in_force().count() == 5


# --- linking what the catalog registers later -------------------------------------


def test_a_statement_about_a_build_registered_later_exempts_its_clocks_then(
    ledger, run
):
    repo = ledger.repo
    series = ledger.series
    m = ledger.mirror
    found = ledger.found
    vuln = found.vulnerability.vuln_id
    with run():
        document = vex_import(
            content=openvex([statement(vuln, image_purl("python", BUILD_B))])
        )
    row = document.statements.get()
    # About a build the catalog lacks: linked to nothing, not to the whole
    # repository (that would exempt the clocks of every other build).
    assert (row.repository, row.digest, row.named_digest) == (None, None, BUILD_B)
    assert _clock(found).state == State.OPEN

    with run():
        result = build_register(
            repository="python",
            series="3.12",
            digest=BUILD_B,
            built_at=NOW - timedelta(days=1),
        )
    row.refresh_from_db()
    assert (row.digest, row.repository) == (result.image, repo)
    # Its SBOM arrives: the finding's clock opens and stops at once.
    later = finding(series, image=result.image, vuln=found.vulnerability)
    with run():
        sla_clocks_open_for_mirror(mirror=m, now=NOW)
    assert _clock(later).state == State.EXEMPT
    assert _clock(later).vex_statement == row
    assert _clock(found).state == State.OPEN


def test_a_statement_about_a_repository_registered_later_links_and_exempts(run):
    with run():
        document = vex_import(
            content=openvex([statement("CVE-2026-10001", "pkg:oci/dhi%2Fnode")])
        )
    row = document.statements.get()
    assert (row.product, row.repository, row.named_repository) == (
        "pkg:oci/node",
        None,
        "node",
    )
    org = plan_org("select")
    with run():
        result = build_register(
            repository="node", series="22", digest=BUILD_B, built_at=NOW
        )
    row.refresh_from_db()
    assert row.repository == result.image.variant.series.repository
    assert row.digest is None  # every build of node
    m = mirror(org, row.repository)
    found = finding(
        result.image.variant.series,
        image=result.image,
        vuln=row.vulnerability,
    )
    with run():
        sla_clocks_open_for_mirror(mirror=m, now=NOW)
    assert _clock(found).state == State.EXEMPT


# --- versions ----------------------------------------------------------------------


def test_a_corrected_version_replaces_the_old_and_the_clocks_follow(ledger, run):
    org = ledger.org
    found = ledger.found
    vuln = found.vulnerability.vuln_id
    v1 = openvex([statement(vuln, "pkg:oci/python")])
    with run():
        first = vex_import(content=v1)
    assert _clock(found).state == State.EXEMPT

    # The same bytes again: nothing changes.
    with run():
        assert vex_import(content=v1) == first
    assert VexDocument.objects.count() == 1

    # Version 2 says the image is affected after all.
    v2 = openvex([statement(vuln, "pkg:oci/python", "affected")], version=2)
    with run():
        second = vex_import(content=v2)
    first.refresh_from_db()
    assert (first.superseded_by, first.in_force) == (second, False)
    assert first.superseded_at is not None
    clock = _clock(found)
    # Resumed with its original deadline, in the state that deadline gives.
    assert clock.state in SlaClock.RUNNING
    assert (clock.stop_reason, clock.stopped_at, clock.vex_statement) == (
        "",
        None,
        None,
    )
    resumed = AuditEvent.objects.get(action=Action.SLA_CLOCKS_VEX_RESUMED)
    assert resumed.org == org
    assert resumed.details["clocks"] == [clock.pk]
    assert "Superseded by version 2" in resumed.details["reason"]
    assert AuditEvent.objects.filter(action=Action.VEX_SUPERSEDED).count() == 1
    # The superseded statements are out of the exports and pages.
    assert list(VexStatement.objects.in_force()) == list(second.statements.all())

    # Version 3 says not_affected again: the clock stops by the new statement.
    v3 = openvex([statement(vuln, "pkg:oci/python")], version=3)
    with run():
        third = vex_import(content=v3)
    clock = _clock(found)
    assert clock.state == State.EXEMPT
    assert clock.vex_statement.document == third


def test_an_older_version_arriving_after_a_newer_one_is_refused(ledger, run):
    found = ledger.found
    vuln = found.vulnerability.vuln_id
    newer = openvex([statement(vuln, "pkg:oci/python", "affected")], version=2)
    older = openvex([statement(vuln, "pkg:oci/python")], version=1)
    same_version_later = openvex(
        [statement(vuln, "pkg:oci/python")],
        version=2,
        timestamp="2026-03-02T00:00:00Z",
    )
    with run():
        kept = vex_import(content=newer)
    for content in (older, newer.replace(b"Update", b"Upgrade")):
        with pytest.raises(ValidationError) as refused:
            vex_import(content=content)
        assert refused.value.error_dict["document"][0].code == "stale_version"
    assert list(VexDocument.objects.all()) == [kept]
    assert _clock(found).state == State.OPEN
    # The same version with a later timestamp is newer.
    with run():
        replacing = vex_import(content=same_version_later)
    kept.refresh_from_db()
    assert kept.superseded_by == replacing
    assert _clock(found).state == State.EXEMPT


def test_a_cyclonedx_vex_is_replaced_by_its_next_version_under_the_same_serial():
    def bom(version: int, state: str) -> bytes:
        analysis = {"state": state}
        if state == "not_affected":
            analysis["justification"] = "code_not_reachable"
        return json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.5",
                "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
                "version": version,
                "metadata": {"component": {"type": "container", "name": "python",
                                           "purl": "pkg:oci/python"}},
                "vulnerabilities": [{"id": "CVE-2026-2", "analysis": analysis}],
            }
        ).encode()  # fmt: skip

    first = vex_import(content=bom(1, "not_affected"))
    second = vex_import(content=bom(2, "exploitable"))
    first.refresh_from_db()
    assert first.document_id == second.document_id
    assert first.superseded_by == second
    with pytest.raises(ValidationError):
        vex_import(content=bom(1, "in_triage"))


# --- withdrawing ----------------------------------------------------------------------


def test_withdrawing_needs_staff_and_a_reason_and_resumes_the_clocks(ledger, run):
    found = ledger.found
    with run():
        document = vex_import(
            content=openvex([statement(found.vulnerability.vuln_id, "pkg:oci/python")])
        )
    assert _clock(found).state == State.EXEMPT
    staff = UserFactory(is_staff=True)
    for actor, reason in ((staff, "  "), (UserFactory(), "Wrong image")):
        with pytest.raises(ValidationError):
            vex_document_withdraw(document=document, actor=actor, reason=reason)
    assert VexDocument.objects.in_force().count() == 1

    with run():
        vex_document_withdraw(document=document, actor=staff, reason="Wrong image")
    document.refresh_from_db()
    assert (document.withdrawn_by, document.withdrawn_reason) == (staff, "Wrong image")
    assert _clock(found).state in SlaClock.RUNNING
    withdrawn = AuditEvent.objects.get(action=Action.VEX_WITHDRAWN)
    assert (withdrawn.actor, withdrawn.details["reason"]) == (staff, "Wrong image")
    resumed = AuditEvent.objects.get(action=Action.SLA_CLOCKS_VEX_RESUMED)
    assert "withdrawn: Wrong image" in resumed.details["reason"]
    with pytest.raises(ValidationError, match="was withdrawn"):
        vex_document_withdraw(document=document, actor=staff, reason="Again")


def test_a_clock_another_statement_in_force_covers_stays_stopped(ledger, run):
    found = ledger.found
    vuln = found.vulnerability.vuln_id
    with run():
        first = vex_import(content=openvex([statement(vuln, "pkg:oci/python")]))
        vex_import(
            content=openvex(
                [statement(vuln, "pkg:oci/python")], doc_id="https://vex.example/b"
            )
        )
    with run():
        vex_document_withdraw(
            document=first, actor=UserFactory(is_staff=True), reason="Duplicate"
        )
    clock = _clock(found)
    assert clock.state == State.EXEMPT
    assert clock.vex_statement.document.document_id == "https://vex.example/b"


# --- pages ---------------------------------------------------------------------------


def _vex_links(html: str) -> list[str]:
    return sorted(
        set(
            re.findall(r'href="(/catalog/[^"]*/vex/[^"]*)"', html.replace("&amp;", "&"))
        )
    )


def test_every_vex_download_a_page_offers_answers_with_a_document(client, run):
    image = catalog.build(catalog.series(catalog.repository("python"), "3.12"))
    pages = [f"/catalog/{'python'}/", f"/catalog/digest/{image.digest}/"]

    def offered() -> list[str]:
        html = "".join(client.get(page).content.decode() for page in pages)
        return _vex_links(html)

    # No statement about it: no page offers a download.
    assert offered() == []
    with run():
        document = vex_import(
            content=openvex([statement("CVE-2026-3", "pkg:oci/python")])
        )
    links = offered()
    assert len(links) == 3  # the repository's OpenVEX; the build's OpenVEX, CDX
    for link in links:
        response = client.get(link)
        assert response.status_code == 200, link
        body = json.loads(response.content)
        assert body.get("statements") or body.get("vulnerabilities"), link
    with run():
        vex_document_withdraw(
            document=document, actor=UserFactory(is_staff=True), reason="Wrong"
        )
    assert offered() == []


def test_staff_pages_list_documents_with_their_count_and_withdraw_one(client, run):
    content = (TESTDATA / "dhi/dhi-static.vex.json").read_bytes()
    with run():
        document = vex_import(content=content)
    customer = UserFactory()
    client.force_login(customer)
    assert client.get("/staff/vex/").status_code == 403
    withdraw = f"/staff/vex/{document.pk}/withdraw/"
    assert client.post(withdraw, {"reason": "x"}).status_code == 403
    staff = UserFactory(is_staff=True, email="vex-staff@publisher.example")
    client.force_login(staff)
    listing = client.get("/staff/vex/")
    assert listing.status_code == 200
    assert '<td class="num">8</td>' in listing.content.decode()
    page = client.get(f"/staff/vex/{document.pk}/").content.decode()
    assert '<dd id="statement-count">8</dd>' in page
    assert page.count("<tr>") - 1 == 8  # one row per statement, not per product

    refused = client.post(f"/staff/vex/{document.pk}/withdraw/", {"reason": ""})
    assert refused.status_code == 400
    assert VexDocument.objects.in_force().count() == 1
    with run():
        done = client.post(
            f"/staff/vex/{document.pk}/withdraw/", {"reason": "Published in error"}
        )
    assert done.status_code == 302
    page = client.get(f"/staff/vex/{document.pk}/").content.decode()
    assert "vex-staff@publisher.example: Published in error" in page
    assert 'id="withdraw"' not in page
    again = client.post(f"/staff/vex/{document.pk}/withdraw/", {"reason": "Again"})
    assert again.status_code == 400


# --- query counts ---------------------------------------------------------------------

# A signed-in staff page starts with 7 queries (session, user, allauth's session
# tracking; see tests/test_query_counts.py) and ends with the base template's
# organization switcher.
# count, one page of documents, the images they name; the second factor
VEX_LIST_PAGE = 7 + 3 + 1 + 1
VEX_DOCUMENT_PAGE = 7 + 5 + 1 + 1  # the document, clocks, its rows, the images it
# names, other versions; the second factor


def _queries(client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_staff_vex_pages_do_not_query_more_with_more_rows(client):
    client.force_login(UserFactory(is_staff=True))
    made = []

    def grow(total: int) -> None:
        while len(made) < total:
            n = len(made)
            made.append(
                vex_import(
                    content=openvex(
                        [
                            statement(f"CVE-2026-{n:05d}", f"pkg:oci/image-{n}"),
                            statement(f"CVE-2027-{n:05d}", f"pkg:oci/image-{n}"),
                        ],
                        doc_id=f"https://vex.example/{n}",
                    )
                )
            )

    counts = []
    for total in (3, 60):
        grow(total)
        client.get("/staff/vex/")  # warm up
        counts.append(_queries(client, "/staff/vex/"))
    assert counts[0] == counts[1] <= VEX_LIST_PAGE

    def document_with(n: int) -> VexDocument:
        return vex_import(
            content=openvex(
                [statement(f"CVE-2028-{i:05d}", "pkg:oci/python") for i in range(n)],
                doc_id=f"https://vex.example/big-{n}",
            )
        )

    small, big = document_with(2), document_with(80)
    client.get(f"/staff/vex/{small.pk}/")
    counts = [_queries(client, f"/staff/vex/{d.pk}/") for d in (small, big)]
    assert counts[0] == counts[1] <= VEX_DOCUMENT_PAGE


def test_reports_read_the_statements_in_force_at_their_cut_off(run):
    """A report as of a past cut-off states what was in force then: a document
    withdrawn later still counts; one superseded before does not."""
    with run():
        first = vex_import(content=openvex([statement("CVE-2026-4", "pkg:oci/python")]))
    with run():
        second = vex_import(
            content=openvex([statement("CVE-2026-4", "pkg:oci/python")], version=2)
        )
    first.refresh_from_db()
    before = first.superseded_at - timedelta(seconds=1)
    at = VexStatement.objects.in_force_at
    assert {s.document for s in at(before)} == {first, second}
    assert {s.document for s in at(first.superseded_at)} == {second}
    with run():
        vex_document_withdraw(
            document=second, actor=UserFactory(is_staff=True), reason="Wrong"
        )
    second.refresh_from_db()
    just_before = second.withdrawn_at - timedelta(microseconds=1)
    assert {s.document for s in at(just_before)} == {second}
    assert not at(second.withdrawn_at).exists()


def test_authored_statements_count_and_a_withdrawn_authored_document_stays_out(run):
    from apps.vulns.services import vex_statement_author

    staff = UserFactory(is_staff=True)
    repo = catalog.repository("python")

    def author(vuln: str) -> VexStatement:
        return vex_statement_author(
            author=staff,
            vulnerability_id=vuln,
            repository=repo,
            status="not_affected",
            justification="component_not_present",
        )

    first, second = author("CVE-2026-5"), author("CVE-2026-6")
    document = first.document
    document.refresh_from_db()
    assert second.document == document
    assert (document.statement_count, first.statement_index) == (2, 0)
    assert second.statement_index == 1
    with run():
        vex_document_withdraw(document=document, actor=staff, reason="Redo")
    # New words after a withdrawal start a new document; the old stays out.
    third = author("CVE-2026-7")
    assert third.document != document
    assert third.document.in_force
    assert set(VexStatement.objects.in_force()) == {third}


def test_the_import_command_names_what_a_version_replaces_and_refuses_older(
    tmp_path,
):
    from django.core.management.base import CommandError

    old, new = tmp_path / "v1.json", tmp_path / "v2.json"
    old.write_bytes(openvex([statement("CVE-2026-8", "pkg:oci/python")]))
    new.write_bytes(
        openvex([statement("CVE-2026-8", "pkg:oci/python", "fixed")], version=2)
    )
    call_command("import_vex", str(old), stdout=io.StringIO())
    out = io.StringIO()
    call_command("import_vex", str(new), stdout=out)
    first = VexDocument.objects.get(version=1)
    assert "version 2: 1 statement, 0 about images" in out.getvalue()
    assert f"It replaces document {first.pk}." in out.getvalue()
    old.write_bytes(old.read_bytes() + b"\n")
    with pytest.raises(CommandError, match="was imported before"):
        call_command("import_vex", str(old), stdout=io.StringIO())
    assert VexDocument.objects.count() == 2


def test_the_statements_api_names_the_count_of_their_document(client):
    catalog.repository("static")
    vex_import(content=(TESTDATA / "dhi/dhi-static.vex.json").read_bytes())
    rows = client.get("/api/v1/vex-statements/", {"repository": "static"}).json()
    assert rows["results"]
    for row in rows["results"]:
        assert row["document"]["statement_count"] == 8
        assert 0 <= row["statement_index"] < 8


def test_a_lost_resume_is_named_by_the_ledger_check_and_repaired_by_the_sweep(
    ledger, run
):
    from datetime import timedelta

    from apps.sla.ledger_checks import ledger_violations
    from apps.sla.services.ledger import sla_ledger_reconcile

    found = ledger.found
    with run():
        document = vex_import(
            content=openvex([statement(found.vulnerability.vuln_id, "pkg:oci/python")])
        )
    assert _clock(found).state == State.EXEMPT
    # Withdrawn, and the task that resumes its clocks never ran.
    staff = UserFactory(is_staff=True)
    vex_document_withdraw(document=document, actor=staff, reason="Wrong image")
    assert _clock(found).state == State.EXEMPT
    document.refresh_from_db()
    later = document.withdrawn_at + timedelta(hours=2)

    _, violations = ledger_violations(at=later)
    named = [v for v in violations if v.check == "clock_stopped_by_vex_out_of_force"]
    assert [v.subject for v in named] == [
        f"clock {_clock(found).pk} (org {ledger.org.slug})"
    ]
    assert sla_ledger_reconcile(now=later)["resumed"] == 1
    assert _clock(found).state in SlaClock.RUNNING
    _, violations = ledger_violations(at=later)
    assert not [v for v in violations if v.check == "clock_stopped_by_vex_out_of_force"]
