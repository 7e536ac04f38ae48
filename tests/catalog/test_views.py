"""The public catalog pages: list, repository, digest, downloads, lifecycle, ICS."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.catalog.models import Repository, Series, Variant
from apps.catalog.selectors import lifecycle_of
from apps.vulns.models import Finding, VexStatement
from tests.factories import UserFactory

from . import builders as b

pytestmark = pytest.mark.django_db

LIST = reverse("catalog:list")
LIFECYCLE = reverse("catalog:lifecycle")
ICS = reverse("catalog:lifecycle_ics")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def anon():
    return Client()


def body(response) -> str:
    return response.content.decode()


def repo_names(response) -> list[str]:
    """Repository names in the order the list shows them."""
    return re.findall(r'<code class="muted">([a-z0-9-]+)</code>', body(response))


def finding_ids(table: str) -> list[str]:
    return re.findall(r'<td><span class="mono">([^<]+)</span>', table)


@pytest.fixture
def shelf():
    """A small catalog with one of each thing the filters look at."""
    python = b.repository(
        "python",
        description="The Python interpreter.",
        tags=["language", "runtime"],
    )
    s = b.series(python, "3.12", support=400, els=900)
    b.build(s, tags=["3.12"])
    b.build(s, flavor=Variant.Flavor.DEV, tags=["3.12-dev"])
    b.build(s, fips=True, tags=["3.12-fips"])
    nginx = b.repository(
        "nginx",
        category=Repository.Category.WEB,
        description="HTTP server and reverse proxy.",
        tags=["web", "proxy"],
    )
    b.build(b.series(nginx, "1.28"), stig=True)
    redis = b.repository(
        "redis", category=Repository.Category.DATABASE, tags=["cache", "key-value"]
    )
    # ELS offered once, but it ended: not "ELS available".
    b.build(b.series(redis, "7.0", support=-400, els=-10))
    return {"python": python, "nginx": nginx, "redis": redis}


# --------------------------------------------------------------------------
# The repository list
# --------------------------------------------------------------------------


def test_anyone_can_browse_the_list_without_signing_in(anon, shelf):
    response = anon.get(LIST)
    assert response.status_code == 200
    assert repo_names(response) == ["nginx", "python", "redis"]
    # The header links to the catalog on every page.
    assert f'href="{LIST}"' in body(response)


def test_signed_in_people_see_the_same_catalog(shelf):
    client = Client()
    client.force_login(UserFactory())
    assert repo_names(client.get(LIST)) == ["nginx", "python", "redis"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "python"}, ["python"]),  # name
        ({"q": "reverse proxy"}, ["nginx"]),  # description, every word
        ({"q": "key-value"}, ["redis"]),  # tag
        ({"q": "CACHE"}, ["redis"]),  # case-insensitive
        ({"q": "python proxy"}, []),  # words narrow, never widen
        ({"fips": "on"}, ["python"]),
        ({"stig": "on"}, ["nginx"]),
        ({"els": "on"}, ["python"]),  # redis's ELS has ended
        ({"flavor": "dev"}, ["python"]),
        ({"flavor": "runtime"}, ["nginx", "python", "redis"]),
        ({"category": "database"}, ["redis"]),
        ({"category": "language", "fips": "on", "q": "interpreter"}, ["python"]),
    ],
)
def test_search_and_filters(anon, shelf, query, expected):
    response = anon.get(LIST, query)
    assert response.status_code == 200
    assert repo_names(response) == expected


@pytest.mark.parametrize(
    "query",
    [
        {"category": "bogus", "stig": "on"},
        {"flavor": "nope", "stig": "on"},
        {"q": "x" * 201, "stig": "on"},
    ],
)
def test_bad_filter_values_are_form_errors_and_the_rest_still_apply(anon, shelf, query):
    response = anon.get(LIST, query)
    assert response.status_code == 200
    assert 'class="filter-errors" role="alert"' in body(response)
    assert "has-error" in body(response)
    assert repo_names(response) == ["nginx"]


def test_no_match_says_so(anon, shelf):
    response = anon.get(LIST, {"q": "cobol"})
    assert "No repository matches these filters." in body(response)


def test_htmx_gets_only_the_results(anon, shelf):
    response = anon.get(LIST, {"q": "nginx"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<html" not in body(response)
    assert "<form" not in body(response)
    assert repo_names(response) == ["nginx"]
    assert "HX-Request" in response["Vary"]
    # The browser's history restore asks for the whole page.
    restore = anon.get(
        LIST, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in body(restore)


def test_the_search_form_updates_results_through_htmx_without_inline_script(
    anon, shelf
):
    page = body(anon.get(LIST))
    assert 'hx-get="/catalog/"' in page
    assert 'hx-target="#catalog-results"' in page
    # The CSP forbids inline scripts and styles: none are used.
    assert "<script>" not in page
    assert "style=" not in page


def test_list_pages(anon):
    for i in range(30):
        b.repository(f"repo-{i:02d}")
    first = anon.get(LIST)
    assert len(repo_names(first)) == 25
    assert "page 1 of 2" in body(first)
    second = anon.get(LIST, {"page": "2"})
    assert repo_names(second) == [f"repo-{i:02d}" for i in range(25, 30)]
    # Stale or junk page numbers show a page, not an error.
    assert repo_names(anon.get(LIST, {"page": "99"})) == repo_names(second)
    assert repo_names(anon.get(LIST, {"page": "x"})) == repo_names(first)
    # Page links keep the filters.
    assert "?q=repo&amp;page=2" in body(anon.get(LIST, {"q": "repo"}))


def test_list_shows_each_series_with_its_status(anon):
    repo = b.repository("node")
    b.series(repo, "22", ga=-10, support=500)
    b.series(repo, "18", ga=-900, support=-30, els=200)
    b.series(repo, "16", ga=-1500, support=-400)
    page = body(anon.get(LIST))
    assert re.search(r'series-chip ok"[^>]*>22<', page)
    assert re.search(r'series-chip els"[^>]*>18<', page)
    assert re.search(r'series-chip danger"[^>]*>16<', page)


# --------------------------------------------------------------------------
# Lifecycle status, around every threshold
# --------------------------------------------------------------------------

STATUS_CASES = [
    # (support_end, els_end) as days from today -> the label the page shows
    ((None, None), "supported", "Supported"),
    ((91, None), "supported", "Supported"),
    ((90, None), "supported", "Supported"),
    ((89, None), "nearing_eol", "Nearing EOL"),
    ((0, None), "nearing_eol", "Nearing EOL"),
    ((0, 10), "nearing_eol", "Nearing EOL"),
    ((-1, 0), "els_only", "ELS only"),
    ((-1, 300), "els_only", "ELS only"),
    ((-2, -1), "eol", "EOL"),
    ((-1, None), "eol", "EOL"),
]


@pytest.mark.parametrize(("ends", "status", "label"), STATUS_CASES)
def test_status_labels_around_the_thresholds(anon, ends, status, label):
    support, els = ends
    repo = b.repository("python")
    s = b.series(repo, "3.12", support=support, els=els)
    assert lifecycle_of(series=s, day=b.today()).status == status
    page = body(anon.get(repo.get_absolute_url()))
    row = page[page.index(f'id="series-{s.pk}"') :]
    row = row[: row.index("</tr>")]
    assert re.search(rf'class="badge \w+" title="[^"]+">{label}</span>', row), row
    if status == "nearing_eol":
        assert f"{support} day" in row


def test_lifecycle_of_uses_the_models_rule_on_any_day():
    s = Series(support_end=date(2030, 6, 30), els_end=date(2031, 6, 30))
    assert lifecycle_of(series=s, day=date(2030, 4, 1)).status == "supported"
    assert lifecycle_of(series=s, day=date(2030, 4, 2)).status == "nearing_eol"
    assert lifecycle_of(series=s, day=date(2030, 4, 2)).days_left == 89
    assert lifecycle_of(series=s, day=date(2030, 7, 1)).days_left is None
    assert lifecycle_of(series=s, day=date(2031, 6, 30)).label == "ELS only"
    assert lifecycle_of(series=s, day=date(2031, 7, 1)).label == "EOL"


# --------------------------------------------------------------------------
# The repository page
# --------------------------------------------------------------------------


def test_repository_page_shows_series_variants_tags_and_history(anon):
    repo = b.repository("python", description="The Python interpreter.")
    s = b.series(repo, "3.12", ga=-700, eol=1000, support=1060, els=1500)
    old = b.build(s, tags=["3.12", "latest"], built_at=b.timezone.now() - timedelta(3))
    new = b.build(s, tags=["3.12", "latest"])
    dev = b.build(s, flavor="dev", tags=["3.12-dev"])
    fips = b.build(s, fips=True, tags=["3.12-fips"])
    b.withdraw(repo, "3.12-fips", "Withdrawn: rebuilt with a fixed OpenSSL")
    other = b.build(b.series(b.repository("ruby"), "3.3"), tags=["3.3"])

    response = anon.get(reverse("catalog:repository", args=["python"]))
    assert response.status_code == 200
    page = body(response)
    for day in (s.upstream_ga, s.upstream_eol, s.support_end, s.els_end):
        assert day.isoformat() in page
    # Variants with their latest build.
    series_table = page[page.index('id="series-table"') :]
    series_table = series_table[: series_table.index("</table>")]
    assert "Runtime" in series_table
    assert "Dev" in series_table
    assert "FIPS" in series_table
    assert new.digest[7:19] in series_table
    assert old.digest[7:19] not in series_table
    assert "2 builds" in series_table
    # Current tags point at the newest build; the withdrawn one is gone.
    current = page[page.index('id="current-tags"') :]
    current = current[: current.index("</table>")]
    assert "python:3.12<" in current
    assert "python:latest<" in current
    assert "python:3.12-dev<" in current
    assert "3.12-fips" not in current
    assert new.get_absolute_url() in current
    assert dev.get_absolute_url() in current
    assert old.get_absolute_url() not in current
    # History keeps every assignment, moves and the removal with its reason.
    history = page[page.index('id="tag-history"') :]
    history = history[: history.index("</table>")]
    assert history.count("<tr") == 1 + 6  # header + six assignments
    assert f"moved to {new.digest}" in history
    assert "Withdrawn: rebuilt with a fixed OpenSSL" in history
    assert fips.get_absolute_url() in history
    assert other.digest not in page
    # Subscribe to this repository's dates.
    assert f"{ICS}?repository=python" in page


def test_unknown_repository_is_404(anon):
    assert anon.get(reverse("catalog:repository", args=["nope"])).status_code == 404


def test_repository_history_pages(anon):
    repo = b.repository("python")
    s = b.series(repo)
    start = b.timezone.now() - timedelta(days=100)
    for i in range(60):
        b.build(s, tags=["3.12"], built_at=start + timedelta(hours=i))
    url = repo.get_absolute_url()
    first = body(anon.get(url))
    assert "60 events · page 1 of 2" in first
    second = body(anon.get(url, {"page": "2"}))
    history = second[second.index('id="tag-history"') :]
    assert history[: history.index("</table>")].count("<tr") == 1 + 10


# --------------------------------------------------------------------------
# The digest page
# --------------------------------------------------------------------------


@pytest.fixture
def evidence():
    """One build with components, findings of every kind, VEX and evidence."""
    repo = b.repository("python")
    s = b.series(repo)
    image = b.build(s, tags=["3.12"])
    later = b.build(s, tags=["3.12"])  # moves the tag away from ``image``
    sbom = b.sbom(image, signer_key_id="kms://catalog-key", verified_by=b.signer())
    openssl = b.component("openssl", "3.3.1-r0")
    zlib = b.component("zlib", "1.3-r0")
    b.contains(image, openssl, sbom)
    b.contains(image, zlib, sbom)
    crit = b.vulnerability("CVE-2024-0001", "critical", kev=True)
    high = b.vulnerability("CVE-2024-0002", "high")
    med = b.vulnerability("CVE-2024-0003", "medium")
    low = b.vulnerability("CVE-2024-0004", "low")
    f_crit = b.finding(image, crit, openssl, fixed_version="3.3.2-r0")
    b.finding(image, high, zlib, status=Finding.Status.FIXED, fixed_version="1.3.1-r0")
    b.finding(image, med, zlib, status=Finding.Status.NOT_AFFECTED)
    b.finding(image, low, openssl, status=Finding.Status.UNDER_INVESTIGATION)
    b.finding(later, high, zlib)  # another build's: not on this page
    b.vex(
        med,
        image=image,
        subcomponent=zlib.purl,
        impact_statement="The inflate path is never reached.",
    )
    b.vex(low, repo=repo, status=VexStatement.Status.UNDER_INVESTIGATION)  # every build
    b.vex(high, image=later)  # the other build's
    b.vex(crit, repo=b.repository("ruby"), status="affected")  # another repository
    return {"image": image, "later": later, "sbom": sbom, "f_crit": f_crit}


def test_digest_page_shows_build_components_findings_vex_and_evidence(anon, evidence):
    image = evidence["image"]
    response = anon.get(reverse("catalog:digest", args=[image.digest]))
    assert response.status_code == 200
    page = body(response)
    assert image.digest in page
    assert "amd64" in page
    assert "arm64" in page
    assert image.built_at.strftime("%Y-%m-%d %H:%M") in page
    # The tag moved on: shown as a past tag.
    assert "chip-removed" in page
    # Severity cards: open findings (affected / under investigation) and totals.
    cards = dict(
        re.findall(r'severity-card sev-(\w+)">\s*<div class="figure">(\d+)</div>', page)
    )
    assert cards == {"critical": "1", "high": "0", "medium": "0", "low": "1"}
    findings = page[page.index('id="findings"') :]
    findings = findings[: findings.index("</table>")]
    assert findings.count("<tr") == 1 + 4
    # Worst first; KEV flagged; fixed version and status shown.
    order = finding_ids(findings)
    assert order == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003", "CVE-2024-0004"]
    assert findings.count(">KEV<") == 1
    assert "3.3.2-r0" in findings
    assert "1.3.1-r0" in findings
    for label in ("Affected", "Fixed", "Not affected", "Under investigation"):
        assert f">{label}<" in findings
    # VEX: this build's and the repository-wide one, not others'.
    vex = page[page.index('id="vex-statements"') :]
    vex = vex[: vex.index("</table>")]
    assert vex.count("<tr") == 1 + 2
    assert "The inflate path is never reached." in vex
    assert "Every build of python" in vex
    assert "CVE-2024-0001" not in vex
    assert "CVE-2024-0002" not in vex
    # Attestations with a download link.
    download = reverse("catalog:attestation_download", args=[evidence["sbom"].pk])
    assert download in page
    assert ">Verified<" in page
    # Components, counted.
    assert "Components <span" in page
    assert "(2)" in page
    assert "openssl" in page
    assert "pkg:apk/alpine/zlib@1.3-r0" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"severity": "critical"}, ["CVE-2024-0001"]),
        ({"status": "fixed"}, ["CVE-2024-0002"]),
        ({"kev": "on"}, ["CVE-2024-0001"]),
        ({"severity": "low", "status": "affected"}, []),
    ],
)
def test_digest_findings_filters(anon, evidence, query, expected):
    url = reverse("catalog:digest", args=[evidence["image"].digest])
    page = body(anon.get(url, query))
    findings = page[page.index('id="findings"') :]
    findings = findings[: findings.index("</table>")]
    assert finding_ids(findings) == expected


def test_digest_bad_filter_is_a_form_error_not_a_500(anon, evidence):
    url = reverse("catalog:digest", args=[evidence["image"].digest])
    response = anon.get(url, {"severity": "apocalyptic", "status": "fixed"})
    assert response.status_code == 200
    page = body(response)
    assert "filter-errors" in page
    findings = page[page.index('id="findings"') :]
    assert finding_ids(findings[: findings.index("</table>")]) == ["CVE-2024-0002"]


@pytest.mark.parametrize(
    "value",
    [
        "sha256:" + "0" * 64,  # well-formed, unknown
        "sha256:abc",
        "sha256:" + "g" * 64,
        "md5:" + "0" * 32,
        "not-a-digest",
        "sha256:" + "0" * 65,
    ],
)
def test_unknown_or_malformed_digest_is_404(anon, value):
    response = anon.get(f"/catalog/digest/{value}/")
    assert response.status_code == 404


def test_a_digest_with_nul_is_refused_by_the_input_guard(anon):
    response = anon.get("/catalog/digest/%00/")
    assert response.status_code == 400
    assert "path parameter \u201cdigest\u201d" in response.content.decode()


def test_uppercase_or_bare_digest_redirects_to_the_canonical_page(anon, evidence):
    image = evidence["image"]
    canonical = reverse("catalog:digest", args=[image.digest])
    for variant in (image.digest.upper(), image.digest.removeprefix("sha256:")):
        response = anon.get(f"/catalog/digest/{variant}/")
        assert response.status_code == 301
        assert response["Location"] == canonical


def test_a_build_without_an_sbom_is_not_said_to_have_no_vulnerabilities(anon):
    image = b.build(b.series(b.repository("busybox"), "1.37"))
    page = body(anon.get(image.get_absolute_url()))
    assert "No known vulnerabilities" not in page
    assert "Not assessed: no SBOM." in page
    assert "No SBOM has been imported for this build." in page
    assert "No attestations stored for this build." in page


def test_digest_components_and_findings_page(anon):
    image = b.build(b.series(b.repository("python")))
    sbom = b.sbom(image)
    for i in range(130):
        comp = b.component(f"pkg-{i:03d}")
        b.contains(image, comp, sbom)
        if i < 60:
            b.finding(image, b.vulnerability(f"CVE-2025-{i:04d}", "medium"), comp)
    url = image.get_absolute_url()
    page = body(anon.get(url))
    assert "(130)" in page
    assert "pkg-099" in page
    assert "pkg-100" not in page
    assert "60 findings · page 1 of 2" in page
    second = body(anon.get(url, {"cpage": "2", "fpage": "2"}))
    assert "pkg-100" in second
    assert "pkg-099" not in second
    findings = second[second.index('id="findings"') :]
    assert findings[: findings.index("</table>")].count("<tr") == 1 + 10


# --------------------------------------------------------------------------
# Attestation downloads
# --------------------------------------------------------------------------


def test_attestation_downloads_byte_for_byte_with_its_media_type(anon):
    image = b.build(b.series(b.repository("python"), "3.12"), fips=True)
    content = b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}'
    attestation = b.sbom(
        image,
        content=content,
        kind="slsa-provenance",
        media_type="application/vnd.in-toto+json",
    )
    # FIPS evidence: publisher staff may always download it.
    staff = Client()
    staff.force_login(UserFactory(is_staff=True))
    response = staff.get(reverse("catalog:attestation_download", args=[attestation.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "application/vnd.in-toto+json"
    hex12 = image.digest[7:19]
    assert response["Content-Disposition"] == (
        f'attachment; filename="python-3.12-fips-{hex12}-slsa-provenance.json"'
    )
    expected = base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert response["Repr-Digest"] == f"sha-256=:{expected}:"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_unknown_attestation_is_404(anon):
    url = reverse("catalog:attestation_download", args=[999999])
    assert anon.get(url).status_code == 404


def test_attestation_whose_file_is_gone_is_404_not_500(anon, caplog):
    image = b.build(b.series(b.repository("python")))
    attestation = b.sbom(image)
    attestation.document.storage.delete(attestation.document.name)
    response = anon.get(reverse("catalog:attestation_download", args=[attestation.pk]))
    assert response.status_code == 404
    assert "has no stored document" in caplog.text


# --------------------------------------------------------------------------
# The lifecycle calendar
# --------------------------------------------------------------------------


@pytest.fixture
def calendar():
    python = b.repository("python")
    b.series(python, "3.12", eol=400, support=430, els=900)
    b.series(python, "3.8", ga=-2500, eol=-400, support=-380, els=-20)
    node = b.repository("node")
    b.series(node, "22", eol=45, support=45, els=None)
    return {"python": python, "node": node}


def _events(page: str) -> list[tuple[str, str, str]]:
    """(date, series, event label) rows of the calendar, in page order."""
    return re.findall(
        r'<td class="nowrap mono">(\d{4}-\d\d-\d\d) <span class="muted">\w+</span></td>'
        r'.*?#series-\d+">([^<]+)</a></td>\s*<td><span class="badge \w+">([^<]+)<',
        page,
        re.S,
    )


def test_lifecycle_lists_upcoming_dates_soonest_first_by_month(anon, calendar):
    response = anon.get(LIFECYCLE)
    assert response.status_code == 200
    page = body(response)
    rows = _events(page)
    assert [r[1:] for r in rows] == [
        ("22", "Upstream end of life"),
        ("22", "Publisher support ends"),
        ("3.12", "Upstream end of life"),
        ("3.12", "Publisher support ends"),
        ("3.12", "Extended support ends"),
    ]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    # Grouped under month headings.
    month = b.days(45).strftime("%B %Y")
    assert f">{month} <" in page
    assert "3.8" not in [r[1] for r in rows]


def test_lifecycle_past_dates_newest_first(anon, calendar):
    rows = _events(body(anon.get(LIFECYCLE, {"when": "past"})))
    assert rows == [
        (b.days(-20).isoformat(), "3.8", "Extended support ends"),
        (b.days(-380).isoformat(), "3.8", "Publisher support ends"),
        (b.days(-400).isoformat(), "3.8", "Upstream end of life"),
    ]


def test_lifecycle_filters(anon, calendar):
    rows = _events(body(anon.get(LIFECYCLE, {"kind": "els_end"})))
    assert rows == [(b.days(900).isoformat(), "3.12", "Extended support ends")]
    rows = _events(body(anon.get(LIFECYCLE, {"q": "nod"})))
    assert {r[1] for r in rows} == {"22"}


@pytest.mark.parametrize(
    "query", [{"when": "someday"}, {"kind": "x"}, {"q": "not a slug!"}]
)
def test_lifecycle_bad_filters_are_form_errors(anon, calendar, query):
    response = anon.get(LIFECYCLE, query)
    assert response.status_code == 200
    assert "filter-errors" in body(response)
    assert len(_events(body(response))) == 5  # the default view, upcoming


# --------------------------------------------------------------------------
# The ICS feed
# --------------------------------------------------------------------------

CONTENT_LINE = re.compile(
    r"^(?P<name>[A-Z0-9-]+)(?P<params>(?:;[A-Z0-9-]+=[^;:,\"]*)*):(?P<value>.*)$"
)
TEXT_PROPERTIES = {"SUMMARY", "DESCRIPTION", "CATEGORIES", "UID", "X-WR-CALNAME"}


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _ics_day(value: str) -> date:
    assert re.fullmatch(r"\d{8}", value), value
    return date(int(value[:4]), int(value[4:6]), int(value[6:]))


def parse_ics_strictly(raw: bytes) -> tuple[dict, list[dict]]:
    """RFC 5545 as a strict reader sees it: CRLF only, lines of at most 75
    octets never split inside a UTF-8 character, folded with one space,
    balanced BEGIN/END, required properties once, TEXT escaped."""
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    physical = raw.split(b"\r\n")[:-1]
    logical: list[bytes] = []
    for line in physical:
        assert len(line) <= 75, line
        line.decode("utf-8")  # raises if a fold split a character
        if line.startswith(b" "):
            assert logical, "a continuation line opens the file"
            logical[-1] += line[1:]
        else:
            assert not line.startswith(b"\t")
            logical.append(line)
    calendar: dict = {}
    events: list[dict] = []
    stack: list[str] = []
    for line in (x.decode() for x in logical):
        match = CONTENT_LINE.match(line)
        assert match, f"not a content line: {line!r}"
        name, params, value = match["name"], match["params"], match["value"]
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                assert stack == ["VCALENDAR", "VEVENT"]
                events.append({})
            continue
        if name == "END":
            assert stack.pop() == value
            continue
        if name in TEXT_PROPERTIES:
            # Unescaped ; and , are separators; these values have none.
            assert not re.search(r"(?<!\\)(?:\\\\)*[;,]", value), line
            value = _unescape(value)
        target = events[-1] if stack[-1] == "VEVENT" else calendar
        assert name not in target, f"{name} twice"
        target[name] = (params, value)
    assert stack == []
    assert calendar["VERSION"] == ("", "2.0")
    assert calendar["PRODID"][1]
    for event in events:
        for required in ("UID", "DTSTAMP", "DTSTART"):
            assert required in event, required
        assert re.fullmatch(r"\d{8}T\d{6}Z", event["DTSTAMP"][1])
        assert event["DTSTART"][0] == ";VALUE=DATE"
        assert event["DTEND"][0] == ";VALUE=DATE"
        start = _ics_day(event["DTSTART"][1])
        end = _ics_day(event["DTEND"][1])
        assert end == start + timedelta(days=1), "an all-day event is one day"
    return calendar, events


def test_ics_feed_has_one_all_day_event_per_end_date(anon, calendar):
    response = anon.get(ICS)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "lifecycle.ics" in response["Content-Disposition"]
    _, events = parse_ics_strictly(response.content)
    # Past dates too: a calendar keeps history. 3 + 3 + 2.
    assert len(events) == 8
    by_uid = {e["UID"][1]: e for e in events}
    assert len(by_uid) == 8
    els = by_uid["els_end.python.3.12@127.0.0.1"]
    assert els["DTSTART"][1] == b.days(900).strftime("%Y%m%d")
    assert els["SUMMARY"][1] == "python 3.12: extended support ends"
    assert els["URL"][1] == "http://testserver/catalog/python/"
    assert els["DESCRIPTION"][1].endswith("\nhttp://testserver/catalog/python/")


def test_ics_uids_are_stable_and_follow_a_moved_date(anon, calendar):
    _, first = parse_ics_strictly(anon.get(ICS).content)
    b.series(calendar["node"], "22", eol=45, support=60)  # support end moves
    _, second = parse_ics_strictly(anon.get(ICS).content)
    assert {e["UID"][1] for e in first} == {e["UID"][1] for e in second}
    moved = next(e for e in second if e["UID"][1] == "support_end.node.22@127.0.0.1")
    assert moved["DTSTART"][1] == b.days(60).strftime("%Y%m%d")


def test_ics_escapes_text_and_folds_long_lines_on_character_boundaries(anon):
    repo = b.repository(
        "postgres",
        display_name=(
            "PostgreSQL; the world's most advanced, open source database — ünïcødé "
        )
        * 2,
    )
    b.series(repo, "17", support=100, eol=None)
    raw = anon.get(ICS).content
    assert b"\r\n " in raw  # something was folded
    _, events = parse_ics_strictly(raw)
    (event,) = events
    assert event["DESCRIPTION"][1].startswith(
        "Publisher support ends for PostgreSQL; the world's most advanced, open"
    )
    assert "ünïcødé" in event["DESCRIPTION"][1]


def test_ics_for_one_repository(anon, calendar):
    response = anon.get(ICS, {"repository": "node"})
    assert response.status_code == 200
    assert 'filename="node-lifecycle.ics"' in response["Content-Disposition"]
    cal, events = parse_ics_strictly(response.content)
    assert cal["X-WR-CALNAME"][1] == "Node lifecycle"
    assert {e["UID"][1].split(".")[1] for e in events} == {"node"}
    assert anon.get(ICS, {"repository": "nope"}).status_code == 404


def test_empty_ics_is_still_a_valid_calendar(anon):
    _, events = parse_ics_strictly(anon.get(ICS).content)
    assert events == []


# --------------------------------------------------------------------------
# Query counts: the same with 3 rows and with 30
# --------------------------------------------------------------------------

# Anonymous requests: no session or user queries.
# The assessment of builds (apps.vulns.selectors.assessment) is four queries: their
# ecosystems, their SBOMs, their open vulnerabilities, the advisory sources.
ASSESSMENT = 4
LIST_PAGE = 3 + 1 + ASSESSMENT  # count, one page of repositories with flags,
# their series; the latest build of each variant, assessed
REPOSITORY_PAGE = 7 + ASSESSMENT  # repository, series, variants with latest
# builds, tags, history count and page, whether it has VEX in force; the latest
# builds assessed
DIGEST_PAGE = 9 + ASSESSMENT  # build, tags, severity counts, findings count and
# page, VEX, attestations, components count and page; the build assessed


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _pinned(client, url_for, grow, pinned, assert_max) -> None:
    counts = []
    for total in (3, 30):
        grow(total)
        with assert_max(pinned):
            counts.append(_queries(client, url_for()))
    assert counts[0] == counts[1], f"queries grow with rows: {counts}"


def test_list_page_queries_do_not_grow(anon, django_assert_max_num_queries):
    made = []

    def grow(total):
        while len(made) < total:
            repo = b.repository(f"repo-{len(made):02d}", tags=["x"])
            s = b.series(repo, "1", support=10, els=100)
            image = b.build(s, fips=True, tags=["1"])
            comp = b.component(f"pkg-{len(made)}")
            b.contains(image, comp)
            b.finding(image, b.vulnerability(f"CVE-2025-{len(made):04d}"), comp)
            b.build(b.series(repo, "2"), flavor="dev")
            made.append(repo)

    _pinned(anon, lambda: LIST, grow, LIST_PAGE, django_assert_max_num_queries)


def test_repository_page_queries_do_not_grow(anon, django_assert_max_num_queries):
    repo = b.repository("python")
    made = []

    def grow(total):
        while len(made) < total:
            s = b.series(repo, f"3.{len(made)}", support=len(made) * 20 - 200, els=900)
            b.build(s, tags=[s.name])
            image = b.build(s, tags=[s.name])  # moves the tag: history grows too
            comp = b.component(f"pkg-{len(made)}")
            b.contains(image, comp)
            b.finding(image, b.vulnerability(f"CVE-2025-{len(made):04d}"), comp)
            b.build(s, flavor="dev", stig=True, tags=[f"{s.name}-dev"])
            made.append(s)

    _pinned(
        anon,
        repo.get_absolute_url,
        grow,
        REPOSITORY_PAGE,
        django_assert_max_num_queries,
    )


def test_digest_page_queries_do_not_grow(anon, django_assert_max_num_queries):
    image = b.build(b.series(b.repository("python")), tags=["3.12", "latest"])
    made = []

    def grow(total):
        while len(made) < total:
            i = len(made)
            comp = b.component(f"pkg-{i}")
            # Each verified by its own signer: the page names them all.
            attestation = b.sbom(
                image, content=b'{"n": %d}' % i, verified_by=b.signer(f"Key {i}")
            )
            b.contains(image, comp, attestation)
            vuln = b.vulnerability(f"CVE-2025-{i:04d}", ["critical", "low"][i % 2])
            b.finding(image, vuln, comp, fixed_version="2.0")
            b.vex(vuln, image=image, subcomponent=comp.purl)
            made.append(comp)

    _pinned(
        anon,
        image.get_absolute_url,
        grow,
        DIGEST_PAGE,
        django_assert_max_num_queries,
    )
