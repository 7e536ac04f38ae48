"""Pages and API say what may be said of a build's vulnerabilities: a count of
zero reads "no known vulnerabilities" only where the build was assessed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from apps.vulns.services import findings_match, osv_import
from tests.vulns.feed_helpers import OSV

from . import builders as b

pytestmark = pytest.mark.django_db

API = "/api/v1"
IMPORTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UBUNTU = "ubuntu-22.04"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def anon():
    return Client()


def ubuntu_component(name: str, version: str = "2.35-0ubuntu3.1"):
    """A Jammy package no advisory of the test feed names."""
    comp = b.component(name, version, kind="deb")
    comp.namespace, comp.distro = "ubuntu", UBUNTU
    comp.purl = f"pkg:deb/ubuntu/{name}@{version}?distro={UBUNTU}"
    comp.save()
    return comp


@pytest.fixture
def builds():
    """Three builds: no SBOM; an Alpine package and no Alpine source; a Jammy
    package, covered by the imported Ubuntu feed, with no finding."""
    with time_machine.travel(IMPORTED, tick=False):
        osv_import(path=OSV / "ubuntu", source="ubuntu")
    bare = b.build(b.series(b.repository("busybox"), "1.37"))
    alpine = b.build(b.series(b.repository("nginx"), "1.27"))
    b.contains(alpine, b.component("musl", "1.2.5-r0"))  # alpine-3.20 (apk)
    jammy = b.build(b.series(b.repository("ubuntu-base"), "22.04"))
    b.contains(jammy, ubuntu_component("glibc-tools"))
    findings_match()
    return {"bare": bare, "alpine": alpine, "jammy": jammy}


def text(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


# --------------------------------------------------------------------------
# Digest page
# --------------------------------------------------------------------------


def test_digest_page_of_a_build_without_sbom_says_not_assessed(anon, builds):
    page = text(anon.get(builds["bare"].get_absolute_url()))
    statement = page.split('id="assessment-text"')[1].split("</p>")[0]
    assert statement.endswith(">Not assessed</span>: no SBOM.")
    assert "Not assessed: no SBOM." in page  # where the findings would be
    assert "No known vulnerabilities" not in page
    # No severity cards of zeros.
    assert 'class="severity-cards"' not in page


def test_digest_page_of_an_alpine_build_without_source_is_not_assessed(anon, builds):
    # Its only ecosystem has no advisory source: nothing was checked at all.
    page = text(anon.get(builds["alpine"].get_absolute_url()))
    statement = page.split('id="assessment-text"')[1].split("</p>")[0]
    assert statement.endswith(
        ">Not assessed</span>: no advisory source for alpine-3.20 (apk)."
    )
    assert "No known vulnerabilities" not in page
    ecosystems = page.split('id="assessment-ecosystems"')[1].split("</table>")[0]
    assert "alpine-3.20 (apk)" in ecosystems
    assert "No advisory source" in ecosystems


def test_digest_page_of_a_covered_build_names_sources_and_times(anon, builds):
    page = text(anon.get(builds["jammy"].get_absolute_url()))
    statement = page.split('id="assessment-text"')[1].split("</p>")[0]
    assert statement.endswith(
        ">Assessed</span> against OSV Ubuntu:22.04:LTS as of 2026-03-02 09:00 UTC."
    )
    assert "No known vulnerabilities in this build." in page
    ecosystems = page.split('id="assessment-ecosystems"')[1].split("</table>")[0]
    assert "ubuntu-22.04 (deb)" in ecosystems
    assert "OSV Ubuntu:22.04:LTS" in ecosystems
    assert "2026-03-02 09:00" in ecosystems
    assert "1 record" in ecosystems


# --------------------------------------------------------------------------
# Catalog list and repository page
# --------------------------------------------------------------------------


def _row(page: str, name: str) -> str:
    return page.split(f'<code class="muted">{name}</code>')[1].split("</li>")[0]


def test_catalog_list_states_the_assessment_of_each_repository(anon, builds):
    page = text(anon.get("/catalog/"))
    busybox = _row(page, "busybox")
    assert "Not assessed" in busybox
    assert "no SBOM for the latest builds" in busybox
    assert "No known vulnerabilities" not in busybox
    nginx = _row(page, "nginx")
    assert "Not assessed" in nginx
    assert "no advisory source for alpine-3.20 (apk)" in nginx
    ubuntu = _row(page, "ubuntu-base")
    assert "No known vulnerabilities in the latest builds" in ubuntu
    assert "OSV Ubuntu:22.04:LTS as of 2026-03-02 09:00 UTC" in ubuntu  # its title


def test_repository_page_states_the_assessment_of_its_latest_builds(anon, builds):
    page = text(anon.get(builds["bare"].variant.series.repository.get_absolute_url()))
    header = page.split('id="repository-assessment"')[1].split("</p>")[0]
    assert header.endswith(">Not assessed</span>: no SBOM for the latest builds.")
    series = page.split('id="series-table"')[1].split("</table>")[0]
    assert 'title="Not assessed: no SBOM">Not assessed<' in series
    page = text(anon.get(builds["jammy"].variant.series.repository.get_absolute_url()))
    header = page.split('id="repository-assessment"')[1].split("</p>")[0]
    assert "No known vulnerabilities in the latest builds" in header


def test_open_vulnerabilities_are_counted_where_assessed(anon, builds):
    jammy = builds["jammy"]
    b.finding(jammy, b.vulnerability("CVE-2025-0001"), ubuntu_component("tar"))
    page = text(anon.get("/catalog/"))
    assert "1 open vulnerability in the latest builds" in _row(page, "ubuntu-base")
    page = text(anon.get(jammy.get_absolute_url()))
    assert "No known vulnerabilities" not in page


# --------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------


def test_api_digest_states_assessment_with_sources_per_ecosystem(anon, builds):
    bare = anon.get(f"{API}/digests/{builds['bare'].digest}/").json()
    assert bare["vulnerabilities"]["state"] == "not_assessed"
    assert bare["vulnerabilities"]["text"] == "Not assessed: no SBOM"
    assert bare["vulnerabilities"]["open_vulnerabilities"] is None

    alpine = anon.get(f"{API}/digests/{builds['alpine'].digest}/").json()
    assert alpine["vulnerabilities"]["state"] == "not_assessed"
    assert alpine["vulnerabilities"]["open_vulnerabilities"] is None
    (eco,) = alpine["vulnerabilities"]["ecosystems"]
    assert (eco["ecosystem"], eco["covered"], eco["sources"]) == (
        "apk/alpine-3.20",
        False,
        [],
    )

    jammy = anon.get(f"{API}/digests/{builds['jammy'].digest}/").json()
    found = jammy["vulnerabilities"]
    assert found["state"] == "assessed"
    assert found["open_vulnerabilities"] == 0
    (eco,) = found["ecosystems"]
    assert eco["ecosystem"] == "deb/ubuntu-22.04"
    assert eco["sources"] == [
        {
            "name": "OSV Ubuntu:22.04:LTS",
            "ecosystem": "Ubuntu:22.04:LTS",
            "imported_at": "2026-03-02T09:00:00Z",
            "records": 1,
            "records_in_last_import": 1,
            "imported_from": "ubuntu",
        }
    ]


def test_api_lists_state_assessment_per_row(anon, builds):
    rows = {
        r["digest"]: r["vulnerabilities"]["state"]
        for r in anon.get(f"{API}/digests/").json()["results"]
    }
    assert rows == {
        builds["bare"].digest: "not_assessed",
        builds["alpine"].digest: "not_assessed",
        builds["jammy"].digest: "assessed",
    }
    repositories = {
        r["name"]: r["vulnerabilities"]
        for r in anon.get(f"{API}/repositories/").json()["results"]
    }
    assert repositories["busybox"]["state"] == "not_assessed"
    assert repositories["busybox"]["open_vulnerabilities"] is None
    assert repositories["nginx"]["uncovered_ecosystems"] == ["alpine-3.20 (apk)"]
    assert repositories["ubuntu-base"]["state"] == "assessed"
    assert repositories["ubuntu-base"]["open_vulnerabilities"] == 0
    detail = anon.get(f"{API}/repositories/busybox/").json()
    assert detail["vulnerabilities"]["text"] == (
        "Not assessed: no SBOM for the latest builds"
    )


def test_cached_repository_answers_follow_matching(anon, settings, builds):
    settings.API_CATALOG_CACHE_SECONDS = 300
    url = f"{API}/repositories/busybox/"
    assert anon.get(url).json()["vulnerabilities"]["state"] == "not_assessed"
    bare = builds["bare"]
    b.contains(bare, ubuntu_component("zlib1g", "1:1.2.11.dfsg-2ubuntu9.2"))
    # The SBOM alone is not matched yet; the run that matches it renews answers.
    findings_match(digests=[bare])
    assert anon.get(url).json()["vulnerabilities"]["state"] == "assessed"
