"""The public catalog API: reads for anyone, filters, cursor pages, bad input."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.services import api_token_create
from apps.api.throttling import TokenRateThrottle
from apps.catalog.models import Series
from apps.vulns.models import Finding, VexStatement
from tests.factories import MembershipFactory

from . import builders as b
from .test_views import STATUS_CASES

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def api():
    return Client()


def get(client, path, params=None, status=200, **headers):
    response = client.get(f"{API}{path}", params or {}, **headers)
    assert response.status_code == status, (path, response.content[:500])
    return response.json()


def results(client, path, params=None) -> list[dict]:
    return get(client, path, params)["results"]


@pytest.fixture
def world():
    """Two repositories with builds, findings and VEX statements."""
    python = b.repository("python", tags=["language"], description="Interpreter")
    py312 = b.series(python, "3.12", support=400, els=900)
    py38 = b.series(python, "3.8", ga=-2500, support=-300)
    image = b.build(py312, tags=["3.12", "latest"])
    fips = b.build(py312, fips=True, tags=["3.12-fips"])
    old = b.build(py38, flavor="dev")
    nginx = b.repository("nginx", category="web", tags=["web"])
    web = b.build(b.series(nginx, "1.28"), stig=True, tags=["1.28"])
    sbom = b.sbom(image)
    openssl, zlib = b.component("openssl", "3.3.1-r0"), b.component("zlib", "1.3-r0")
    b.contains(image, openssl, sbom)
    b.contains(image, zlib, sbom)
    b.contains(web, zlib, b.sbom(web))
    crit = b.vulnerability(
        "CVE-2024-0001", "critical", kev=True, aliases=["GHSA-aaaa-bbbb-cccc"]
    )
    low = b.vulnerability("CVE-2024-0002", "low", aliases=["CVE-2024-00021"])
    findings = {
        "crit": b.finding(image, crit, openssl, fixed_version="3.3.2-r0"),
        "low": b.finding(image, low, zlib, status=Finding.Status.FIXED),
        "web": b.finding(web, low, zlib),
        "fips": b.finding(fips, crit, openssl),
    }
    statements = {
        "image": b.vex(low, image=image, impact_statement="Not reachable."),
        "repo": b.vex(crit, repo=nginx, status=VexStatement.Status.UNDER_INVESTIGATION),
    }
    return {
        "python": python,
        "nginx": nginx,
        "py312": py312,
        "py38": py38,
        "image": image,
        "fips": fips,
        "old": old,
        "web": web,
        "sbom": sbom,
        "openssl": openssl,
        "zlib": zlib,
        "crit": crit,
        "low": low,
        "findings": findings,
        "statements": statements,
    }


# --------------------------------------------------------------------------
# Lists and details, for anyone
# --------------------------------------------------------------------------


def test_repositories_list_and_detail(api, world):
    rows = results(api, "/repositories/")
    assert [r["name"] for r in rows] == ["nginx", "python"]  # by name
    python = rows[1]
    assert python["has_fips"] is True
    assert python["has_dev"] is True
    assert python["has_els"] is True
    assert python["has_stig"] is False
    assert python["page"] == "http://testserver/catalog/python/"
    detail = get(api, "/repositories/python/")
    assert [s["name"] for s in detail["series"]] == ["3.12", "3.8"]
    py312 = detail["series"][0]
    assert py312["status"] == "supported"
    assert py312["support_end"] == world["py312"].support_end.isoformat()
    assert [(v["flavor"], v["fips"]) for v in py312["variants"]] == [
        ("runtime", False),
        ("runtime", True),
    ]
    assert detail["series"][1]["status"] == "eol"
    get(api, "/repositories/nope/", status=404)


def test_series_list_and_detail(api, world):
    rows = results(api, "/series/", {"repository": "python"})
    assert {r["name"] for r in rows} == {"3.12", "3.8"}
    detail = get(api, f"/series/{world['py312'].pk}/")
    assert detail["repository"] == "python"
    assert detail["els_end"] == world["py312"].els_end.isoformat()
    assert [v["suffix"] for v in detail["variants"]] == ["", "fips"]


def test_digests_list_and_detail(api, world):
    image = world["image"]
    rows = results(api, "/digests/", {"repository": "python"})
    assert {r["digest"] for r in rows} == {
        image.digest,
        world["fips"].digest,
        world["old"].digest,
    }
    detail = get(api, f"/digests/{image.digest}/")
    assert detail["repository"] == "python"
    assert detail["series"] == "3.12"
    assert detail["series_id"] == world["py312"].pk
    assert detail["variant"]["flavor"] == "runtime"
    assert detail["architectures"] == ["amd64", "arm64"]
    assert sorted(detail["tags"]) == ["3.12", "latest"]
    assert {t["tag"] for t in detail["tag_history"]} == {"3.12", "latest"}
    (attestation,) = detail["attestations"]
    assert attestation["kind"] == "sbom-cyclonedx"
    assert attestation["sha256"] == world["sbom"].sha256
    assert attestation["download"] == (
        f"http://testserver/catalog/attestations/{world['sbom'].pk}/download/"
    )
    assert api.get(attestation["download"]).status_code == 200


def test_digest_lookup_is_canonical_and_malformed_is_404(api, world):
    image = world["image"]
    assert get(api, f"/digests/{image.digest.upper()}/")["digest"] == image.digest
    bare = image.digest.removeprefix("sha256:")
    assert get(api, f"/digests/{bare}/")["digest"] == image.digest
    get(api, "/digests/sha256:" + "0" * 64 + "/", status=404)
    get(api, "/digests/sha256:nothex/", status=404)
    get(api, "/digests/whatever/", status=404)


def test_components_vulnerabilities_findings_and_vex_details(api, world):
    zlib = get(api, f"/components/{world['zlib'].pk}/")
    assert zlib["purl"] == world["zlib"].purl
    assert zlib["licenses"] == ["MIT"]
    vuln = get(api, "/vulnerabilities/CVE-2024-0001/")
    assert vuln["kev"] is True
    assert vuln["aliases"] == ["GHSA-aaaa-bbbb-cccc"]
    assert "details" in vuln
    get(api, "/vulnerabilities/CVE-1999-9999/", status=404)
    finding = get(api, f"/findings/{world['findings']['crit'].pk}/")
    assert finding == {
        **finding,
        "digest": world["image"].digest,
        "repository": "python",
        "series": "3.12",
        "vulnerability": "CVE-2024-0001",
        "severity": "critical",
        "kev": True,
        "status": "affected",
        "fixed_version": "3.3.2-r0",
        "fixed_in": None,
    }
    assert finding["component"]["purl"] == world["openssl"].purl
    statement = get(api, f"/vex-statements/{world['statements']['image'].pk}/")
    assert statement["vulnerability"] == "CVE-2024-0002"
    assert statement["digest"] == world["image"].digest
    assert statement["repository"] == "python"
    assert statement["status"] == "not_affected"
    assert statement["impact_statement"] == "Not reachable."
    assert statement["document"]["format"] == "openvex"
    get(api, "/findings/999999/", status=404)
    get(api, "/vex-statements/999999/", status=404)
    get(api, "/components/999999/", status=404)
    get(api, "/series/999999/", status=404)


# --------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "interp"}, ["python"]),
        ({"q": "web"}, ["nginx"]),
        ({"category": "web"}, ["nginx"]),
        ({"fips": "true"}, ["python"]),
        ({"fips": "false"}, ["nginx", "python"]),  # false: no filter
        ({"stig": "1"}, ["nginx"]),
        ({"els": "true"}, ["python"]),
        ({"flavor": "dev"}, ["python"]),
    ],
)
def test_repository_filters(api, world, params, expected):
    assert [r["name"] for r in results(api, "/repositories/", params)] == expected


@pytest.mark.parametrize(("ends", "status", "label"), STATUS_CASES)
def test_series_status_filter_agrees_with_the_model(api, ends, status, label):
    """The database filter and ``Series.status_on`` give the same answer on
    dates around every threshold."""
    support, els = ends
    repo = b.repository("python")
    target = b.series(repo, "target", support=support, els=els)
    # One series in each other state, so a wrong filter shows.
    b.series(repo, "fresh", support=400)
    b.series(repo, "nearing", support=30)
    b.series(repo, "els", support=-30, els=30)
    b.series(repo, "dead", support=-30)
    got = {r["name"] for r in results(api, "/series/", {"status": status})}
    expected = {
        s.name
        for s in Series.objects.filter(repository=repo)
        if s.status_on(b.today()) == status
    }
    assert got == expected
    assert "target" in got
    assert target.status_on(b.today()) == status


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"repository": "nginx"}, {"web"}),
        ({"series": "SERIES"}, {"image", "fips"}),
        ({"flavor": "dev"}, {"old"}),
        ({"fips": "true"}, {"fips"}),
        ({"fips": "false", "repository": "python"}, {"image", "old"}),
        ({"stig": "true"}, {"web"}),
    ],
)
def test_digest_filters(api, world, params, expected):
    params = {k: world["py312"].pk if v == "SERIES" else v for k, v in params.items()}
    got = {r["digest"] for r in results(api, "/digests/", params)}
    assert got == {world[name].digest for name in expected}


def test_component_filters(api, world):
    rows = results(api, "/components/", {"digest": world["web"].digest})
    assert [r["name"] for r in rows] == ["zlib"]
    rows = results(api, "/components/", {"name": "openssl", "type": "apk"})
    assert [r["name"] for r in rows] == ["openssl"]
    assert results(api, "/components/", {"type": "npm"}) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"id": "CVE-2024-0001"}, ["CVE-2024-0001"]),
        ({"id": "cve-2024-0001"}, ["CVE-2024-0001"]),
        ({"id": "GHSA-aaaa-bbbb-cccc"}, ["CVE-2024-0001"]),  # by alias
        ({"id": "CVE-2024-00021"}, ["CVE-2024-0002"]),
        ({"id": "GHSA-aaaa"}, []),  # whole aliases only
        ({"severity": "low"}, ["CVE-2024-0002"]),
        ({"kev": "true"}, ["CVE-2024-0001"]),
        ({"kev": "false"}, ["CVE-2024-0002"]),
    ],
)
def test_vulnerability_filters(api, world, params, expected):
    rows = results(api, "/vulnerabilities/", params)
    assert [r["vuln_id"] for r in rows] == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"crit", "low", "web", "fips"}),
        ({"repository": "nginx"}, {"web"}),
        ({"series": "SERIES"}, {"crit", "low", "fips"}),
        ({"digest": "IMAGE"}, {"crit", "low"}),
        ({"severity": "critical"}, {"crit", "fips"}),
        ({"status": "fixed"}, {"low"}),
        ({"kev": "true"}, {"crit", "fips"}),
        ({"kev": "false"}, {"low", "web"}),
        ({"vulnerability": "CVE-2024-0002"}, {"low", "web"}),
        (
            {"repository": "python", "severity": "critical", "kev": "true"},
            {"crit", "fips"},
        ),
    ],
)
def test_finding_filters(api, world, params, expected):
    swap = {"SERIES": world["py312"].pk, "IMAGE": world["image"].digest}
    params = {k: swap.get(v, v) for k, v in params.items()}
    got = {r["id"] for r in results(api, "/findings/", params)}
    assert got == {world["findings"][name].pk for name in expected}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"image", "repo"}),
        ({"digest": "IMAGE"}, {"image"}),
        ({"repository": "nginx"}, {"repo"}),
        ({"status": "under_investigation"}, {"repo"}),
        ({"vulnerability": "CVE-2024-0002"}, {"image"}),
    ],
)
def test_vex_statement_filters(api, world, params, expected):
    params = {
        k: world["image"].digest if v == "IMAGE" else v for k, v in params.items()
    }
    got = {r["id"] for r in results(api, "/vex-statements/", params)}
    assert got == {world["statements"][name].pk for name in expected}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/findings/", {"severity": "apocalyptic"}, "severity"),
        ("/findings/", {"status": "maybe"}, "status"),
        ("/findings/", {"kev": "perhaps"}, "kev"),
        ("/findings/", {"digest": "sha256:nothex"}, "digest"),
        ("/findings/", {"series": "three"}, "series"),
        ("/findings/", {"series": "0"}, "series"),
        ("/findings/", {"severty": "high"}, "severty"),  # a typo is not ignored
        ("/repositories/", {"category": "bogus"}, "category"),
        ("/repositories/", {"q": "x" * 201}, "q"),
        ("/repositories/", {"fips": "maybe"}, "fips"),
        ("/series/", {"status": "immortal"}, "status"),
        ("/digests/", {"flavor": "spicy"}, "flavor"),
        ("/components/", {"digest": "nope"}, "digest"),
        ("/vulnerabilities/", {"severity": "meh"}, "severity"),
        ("/vex-statements/", {"status": "sure"}, "status"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(api, world, path, params, field):
    payload = get(api, path, params, status=400)
    assert list(payload) == [field]
    assert payload[field]


def test_digest_filter_message_says_what_a_digest_is(api, world):
    payload = get(api, "/findings/", {"digest": "abc"}, status=400)
    assert payload == {
        "digest": ["Not a sha256 digest: expected sha256: and 64 hex digits."]
    }


# --------------------------------------------------------------------------
# Cursor pages
# --------------------------------------------------------------------------


def test_cursor_pages_walk_every_row_once(api):
    image = b.build(b.series(b.repository("python")))
    for i in range(7):
        comp = b.component(f"pkg-{i}")
        b.finding(image, b.vulnerability(f"CVE-2025-{i:04d}"), comp)
        b.repository(f"repo-{i}")
    for path, key in (("/findings/", "id"), ("/repositories/", "name")):
        seen = []
        url = f"{API}{path}?page_size=3"
        pages = 0
        while url:
            payload = api.get(url).json()
            assert len(payload["results"]) <= 3
            seen += [r[key] for r in payload["results"]]
            url = payload["next"]
            pages += 1
        assert len(seen) == len(set(seen))
        assert pages == 3
    assert len(seen) == 8
    assert seen == sorted(seen)  # repositories by name


def test_page_size_is_capped_and_a_tampered_cursor_is_404(api, world):
    payload = get(api, "/findings/", {"page_size": "100000"})
    assert len(payload["results"]) == 4
    get(api, "/findings/", {"cursor": "garbage"}, status=404)


# --------------------------------------------------------------------------
# Open, but not unguarded
# --------------------------------------------------------------------------


def test_writes_are_not_served(api, world):
    for method in ("post", "put", "patch", "delete"):
        for path in ("/repositories/", "/repositories/python/", "/findings/"):
            response = getattr(api, method)(
                f"{API}{path}", {}, content_type="application/json"
            )
            assert response.status_code == 405, (method, path)
    assert get(api, "/repositories/python/")["name"] == "python"


def test_a_token_is_optional_but_still_checked(api, world):
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org, name="ci", scopes=["org:read"], expires_at=None, actor=owner.user
    )
    assert get(api, "/repositories/", HTTP_AUTHORIZATION=f"Bearer {raw}")["results"]
    response = api.get(f"{API}/repositories/", HTTP_AUTHORIZATION="Bearer hip_bad")
    assert response.status_code == 401


def test_anonymous_callers_are_throttled_per_address(api, world, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "rate", "3/min", raising=False)
    for _ in range(3):
        assert api.get(f"{API}/repositories/").status_code == 200
    assert api.get(f"{API}/repositories/").status_code == 429
    # A made-up X-Forwarded-For does not buy a fresh allowance.
    spoofed = api.get(f"{API}/repositories/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert spoofed.status_code == 429
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert other.get(f"{API}/repositories/").status_code == 200


def test_schema_documents_the_filters(api):
    schema = api.get(f"{API}/schema/", {"format": "json"}).json()
    params = {
        p["name"]: p for p in schema["paths"]["/api/v1/findings/"]["get"]["parameters"]
    }
    assert {"repository", "series", "digest", "severity", "status", "kev"} <= set(
        params
    )
    assert {"cursor", "page_size"} <= set(params)
    assert params["kev"]["schema"]["type"] == "boolean"
    severity = schema["components"]["schemas"]["SeverityEnum"]
    assert "critical" in severity["enum"]
    detail = schema["paths"]["/api/v1/digests/{digest}/"]["get"]
    assert detail["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DigestDetailOut"
    }
    # Public: the operation accepts no credentials as well as a token.
    assert {} in detail["security"]


# --------------------------------------------------------------------------
# Query counts: the same at 3 rows and at 30
# --------------------------------------------------------------------------

API_LIST = 2  # one page of rows, plus one prefetch (series' variants, tags)
API_FINDINGS = 1  # findings with vulnerability, component, build, series
API_FLAT = 1  # components, vulnerabilities, VEX statements: one query
# The assessment of a page of builds (apps.vulns.selectors.assessment): their
# ecosystems, SBOMs, open vulnerabilities, and the advisory sources; for
# repositories, the latest build of each variant first.
ASSESSED_BUILDS = 4
ASSESSED_REPOSITORIES = 1 + ASSESSED_BUILDS


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("path", "pinned"),
    [
        ("/repositories/", API_FLAT + ASSESSED_REPOSITORIES),
        ("/series/", API_LIST),
        ("/digests/", API_LIST + ASSESSED_BUILDS),
        ("/components/", API_FLAT),
        ("/vulnerabilities/", API_FLAT),
        ("/findings/", API_FINDINGS),
        ("/vex-statements/", API_FLAT),
    ],
)
def test_list_queries_do_not_grow(api, path, pinned, django_assert_max_num_queries):
    made = []

    def grow(total):
        while len(made) < total:
            i = len(made)
            repo = b.repository(f"repo-{i:02d}")
            s = b.series(repo, "1", support=i * 10 - 100, els=400)
            image = b.build(s, fips=bool(i % 2), tags=["1", "latest"])
            b.build(s, flavor="dev")
            comp = b.component(f"pkg-{i}")
            b.contains(image, comp)
            vuln = b.vulnerability(f"CVE-2025-{i:04d}", kev=bool(i % 3))
            f = b.finding(image, vuln, comp)
            if i % 2:
                f.fixed_in = image
                f.save()
            b.vex(vuln, image=image, subcomponent=comp.purl)
            made.append(repo)

    counts = []
    for total in (3, 30):
        grow(total)
        with django_assert_max_num_queries(pinned):
            counts.append(_queries(api, f"{API}{path}?page_size=200"))
    assert counts[0] == counts[1], counts


def test_detail_queries_are_few(api, world, django_assert_max_num_queries):
    # Attestations verified by two signers: named without a query each.
    for n in range(2):
        b.sbom(world["image"], b'{"n": %d}' % n, verified_by=b.signer(f"Key {n}"))
    # build; current tags, tag history, attestations (with their signers) and
    # crypto modules prefetched; the build assessed
    with django_assert_max_num_queries(5 + ASSESSED_BUILDS):
        _queries(api, f"{API}/digests/{world['image'].digest}/")
    # repository, series, variants; the latest builds assessed
    with django_assert_max_num_queries(3 + ASSESSED_REPOSITORIES):
        _queries(api, f"{API}/repositories/python/")


def test_list_answers_use_cursor_pagination(api, world):
    payload = get(api, "/findings/")
    assert set(payload) == {"next", "previous", "results"}
    assert payload["next"] is None
    # Rows newest first.
    ids = [r["id"] for r in payload["results"]]
    assert ids == sorted(ids, reverse=True)
    assert world["findings"]["fips"].pk == ids[0]
