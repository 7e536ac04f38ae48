"""Assessment: what may be said of a build's vulnerabilities, from stored facts.

"No known vulnerabilities" needs an SBOM and an imported advisory source for
every ecosystem of the build's components; the sources are named with their
import time and record count. Imports record themselves per ecosystem.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from packageurl import PackageURL

from apps.vulns.formats.osv import ecosystem_package
from apps.vulns.matching import component_ecosystem
from apps.vulns.models import AdvisoryImport
from apps.vulns.selectors.assessment import (
    advisory_sources,
    digest_assessment,
    digest_assessments,
    kev_last_import,
    repository_assessments,
)
from apps.vulns.selectors.assessment_states import (
    ASSESSED,
    NOT_ASSESSED,
    PARTIAL,
    PENDING,
    AdvisorySource,
)
from apps.vulns.services import findings_match, osv_import

from .feed_helpers import KEV, LOG4SHELL, OSV, build, osv_record, variant

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=3, hours=5)

JAMMY_OPENSSL = "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.7?arch=amd64&distro=ubuntu-22.04"
JAMMY_LIBC = (
    "pkg:deb/ubuntu/libc6@2.35-0ubuntu3.1?arch=amd64&upstream=glibc&distro=ubuntu-22.04"
)
ALPINE_MUSL = "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4"
DJANGO = "pkg:pypi/django@4.2.1"
SIX = "pkg:pypi/six@1.16.0"  # no advisory names it


def ubuntu_feed(at: datetime = T0) -> None:
    with time_machine.travel(at, tick=False):
        osv_import(path=OSV / "ubuntu", source="ubuntu")


def pypi_feed(at: datetime = T0) -> None:
    with time_machine.travel(at, tick=False):
        osv_import(path=OSV / "ghsa-pysec", source="ghsa-pysec")


# --------------------------------------------------------------------------
# Ecosystems: real purls, the way matching sees them
# --------------------------------------------------------------------------


def _ecosystem(purl: str) -> tuple[str, str]:
    parsed = PackageURL.from_string(purl)
    return component_ecosystem(
        type=parsed.type, distro=(parsed.qualifiers or {}).get("distro", "")
    )


def _source(osv_ecosystem: str, purl: str = "") -> AdvisorySource:
    purl_type, _, distro = ecosystem_package(osv_ecosystem, "x", purl)
    return AdvisorySource(
        ecosystem=osv_ecosystem,
        purl_type=purl_type,
        distro=distro,
        source="",
        imported_at=T0,
        records=1,
        records_imported=1,
    )


@pytest.mark.parametrize(
    ("purl", "ecosystem"),
    [
        (JAMMY_OPENSSL, ("deb", "ubuntu-22.04")),
        (
            "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12",
            ("deb", "debian-12"),
        ),
        ("pkg:deb/debian/libc6@2.36-9", ("deb", "")),
        (ALPINE_MUSL, ("apk", "alpine-3.18.4")),
        ("pkg:alpine/musl@1.2.4-r2?distro=3.18.4", ("apk", "3.18.4")),
        (DJANGO, ("pypi", "")),
        ("pkg:npm/%40babel/core@7.22.0", ("npm", "")),
        ("pkg:golang/golang.org/x/net@v0.17.0", ("golang", "")),
        ("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", ("maven", "")),
        (
            "pkg:rpm/redhat/openssl@3.0.7-1.el9?arch=x86_64&distro=rhel-9.2",
            ("rpm", "rhel-9.2"),
        ),
    ],
)
def test_a_component_ecosystem_is_its_purl_type_and_distro_release(purl, ecosystem):
    assert _ecosystem(purl) == ecosystem


@pytest.mark.parametrize(
    ("osv_ecosystem", "purl", "covered"),
    [
        ("Ubuntu:22.04:LTS", JAMMY_OPENSSL, True),
        ("Ubuntu:Pro:22.04:LTS", JAMMY_OPENSSL, True),
        ("Ubuntu:20.04:LTS", JAMMY_OPENSSL, False),
        ("Debian:12", "pkg:deb/debian/libc6@2.36-9?distro=debian-12", True),
        ("Debian:11", "pkg:deb/debian/libc6@2.36-9?distro=debian-12", False),
        # A distro package that names no release is matched by no distro advisory.
        ("Debian:12", "pkg:deb/debian/libc6@2.36-9", False),
        ("Ubuntu:22.04:LTS", "pkg:deb/debian/libc6@2.36-9?distro=debian-12", False),
        ("Alpine:v3.18", ALPINE_MUSL, True),
        ("Alpine:v3.19", ALPINE_MUSL, False),
        ("PyPI", DJANGO, True),
        ("PyPI", "pkg:npm/lodash@4.17.20", False),
        ("npm", "pkg:npm/lodash@4.17.20", True),
        ("Go", "pkg:golang/golang.org/x/net@v0.17.0", True),
        ("Maven", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", True),
        ("Red Hat", "pkg:rpm/redhat/openssl@3.0.7-1.el9?distro=rhel-9.2", True),
        ("Red Hat", ALPINE_MUSL, False),
    ],
)
def test_a_source_covers_the_ecosystems_matching_would_search(
    osv_ecosystem, purl, covered
):
    assert _source(osv_ecosystem).covers(*_ecosystem(purl)) is covered


# --------------------------------------------------------------------------
# Imports record what they brought, per ecosystem
# --------------------------------------------------------------------------


def test_an_osv_import_records_each_ecosystem_with_time_and_counts():
    ubuntu_feed()
    rows = {
        row.ecosystem: row
        for row in AdvisoryImport.objects.filter(feed=AdvisoryImport.Feed.OSV)
    }
    # CVE-2023-0286 names six Ubuntu ecosystems.
    assert set(rows) == {
        "Ubuntu:Pro:14.04:LTS",
        "Ubuntu:Pro:16.04:LTS",
        "Ubuntu:18.04:LTS",
        "Ubuntu:Pro:18.04:LTS",
        "Ubuntu:20.04:LTS",
        "Ubuntu:22.04:LTS",
    }
    jammy = rows["Ubuntu:22.04:LTS"]
    assert (jammy.purl_type, jammy.distro) == ("deb", "ubuntu-22.04")
    assert jammy.imported_at == T0
    assert jammy.source == "ubuntu"
    assert (jammy.records_imported, jammy.records_held) == (1, 1)


def test_the_last_import_of_an_ecosystem_is_the_one_named():
    pypi_feed(T0)
    # A later, smaller import of the same ecosystem: one record.
    with time_machine.travel(T1, tick=False):
        osv_import(records=[osv_record("ghsa-pysec/GHSA-2gwj-7jmv-h26r.json")])
    (pypi,) = [s for s in advisory_sources() if s.ecosystem == "PyPI"]
    assert pypi.imported_at == T1
    assert pypi.records_imported == 1
    # Held: every PyPI record stored, not only those of the last import.
    assert pypi.records > 1
    assert pypi.records == _pypi_records_stored()
    # As of a time before the second import, the first one is named.
    (earlier,) = [s for s in advisory_sources(as_of=T0) if s.ecosystem == "PyPI"]
    assert earlier.imported_at == T0
    assert advisory_sources(as_of=T0 - timedelta(seconds=1)) == []


def _pypi_records_stored() -> int:
    from apps.vulns.models import AffectedPackage

    return (
        AffectedPackage.objects.filter(ecosystem="PyPI")
        .values("vulnerability_id")
        .distinct()
        .count()
    )


def test_the_import_command_names_the_source(tmp_path):
    with time_machine.travel(T0, tick=False):
        call_command("import_osv", str(OSV / "ubuntu"), stdout=None)
    assert set(AdvisoryImport.objects.values_list("source", flat=True)) == {"ubuntu"}


def test_a_kev_import_is_recorded_with_the_catalog_version():
    osv_import(records=[LOG4SHELL])
    with time_machine.travel(T1, tick=False):
        call_command(
            "import_kev", str(KEV / "known_exploited_vulnerabilities.json"), stdout=None
        )
    kev = kev_last_import()
    assert kev is not None
    assert kev.imported_at == T1
    assert kev.version
    assert kev.records_imported > 1000
    assert kev.records_held == 1  # Log4Shell, flagged by its CVE alias
    assert kev_last_import(as_of=T0) is None
    # KEV flags vulnerabilities; it covers no ecosystem.
    assert all(s.ecosystem for s in advisory_sources())


def test_a_refused_import_records_nothing():
    bad = {**LOG4SHELL, "modified": "yesterday"}
    with pytest.raises(Exception, match="modified"):
        osv_import(records=[osv_record("ubuntu/CVE-2023-0286.json"), bad])
    assert not AdvisoryImport.objects.exists()


# --------------------------------------------------------------------------
# States
# --------------------------------------------------------------------------


def test_a_build_without_an_sbom_is_not_assessed():
    ubuntu_feed()
    image = build(variant(), T0, [])
    found = digest_assessment(digest=image)
    assert found.state == NOT_ASSESSED
    assert found.text == "Not assessed: no SBOM"
    assert found.summary == "Not assessed"
    assert found.ecosystems == ()


def test_an_alpine_build_without_an_alpine_source_is_partially_assessed():
    ubuntu_feed()
    pypi_feed()
    image = build(variant(), T0, [ALPINE_MUSL, SIX])
    findings_match()
    found = digest_assessment(digest=image)
    assert found.state == PARTIAL
    assert (
        found.text == "Partially assessed: no advisory source for alpine-3.18.4 (apk)"
    )
    by_key = {e.key: e for e in found.ecosystems}
    assert set(by_key) == {"apk/alpine-3.18.4", "pypi"}
    assert not by_key["apk/alpine-3.18.4"].covered
    assert [s.name for s in by_key["pypi"].sources] == ["OSV PyPI"]
    # A count of zero is not "no known vulnerabilities" here.
    assert found.open_vulnerabilities == 0
    assert found.summary == "Partially assessed"


def test_a_covered_build_without_findings_is_assessed_naming_sources_and_times():
    ubuntu_feed(T0)
    pypi_feed(T1)
    image = build(variant(), T0, [JAMMY_LIBC, SIX])
    findings_match()
    found = digest_assessment(digest=image)
    assert found.state == ASSESSED
    assert found.open_vulnerabilities == 0
    assert found.summary == "No known vulnerabilities"
    assert found.text == (
        "Assessed against OSV PyPI as of 2026-03-05 14:00 UTC, "
        "OSV Ubuntu:22.04:LTS as of 2026-03-02 09:00 UTC"
    )
    jammy = next(e for e in found.ecosystems if e.distro == "ubuntu-22.04")
    assert jammy.label == "ubuntu-22.04 (deb)"
    assert [(s.ecosystem, s.records) for s in jammy.sources] == [
        ("Ubuntu:22.04:LTS", 1)
    ]


def test_findings_of_an_assessed_build_are_counted_by_advisory():
    ubuntu_feed()
    image = build(variant(), T0, [JAMMY_OPENSSL])
    findings_match()
    found = digest_assessment(digest=image)
    assert found.state == ASSESSED
    assert found.open_vulnerabilities == 1  # CVE-2023-0286, fixed in ...1.8
    assert found.summary == "1 open vulnerability"
    assert found.tone == "danger"


def test_a_source_imported_after_the_cutoff_does_not_count_for_it():
    ubuntu_feed(T1)
    image = build(variant(), T0, [JAMMY_LIBC])
    findings_match()
    # No source by then covered any of its ecosystems: nothing was checked.
    assert digest_assessment(digest=image, as_of=T0).state == NOT_ASSESSED
    assert digest_assessment(digest=image, as_of=T1).state == ASSESSED


def test_many_builds_are_assessed_in_a_fixed_number_of_queries(
    django_assert_num_queries,
):
    ubuntu_feed()
    pypi_feed()
    images = [
        build(variant(series=f"1.{i}"), T0, [JAMMY_LIBC, DJANGO] if i % 3 else [])
        for i in range(12)
    ]
    findings_match()
    # ecosystems, SBOMs, open findings, sources
    with django_assert_num_queries(4):
        found = digest_assessments(digest_ids=[i.pk for i in images])
    assert [found[i.pk].state for i in images[:3]] == [NOT_ASSESSED, ASSESSED, ASSESSED]


def test_a_repository_takes_the_latest_build_of_each_variant():
    ubuntu_feed()
    runtime = variant(repository="python", series="3.12")
    dev = variant(repository="python", series="3.12", flavor="dev")
    build(runtime, T0 - timedelta(days=2), [])  # an older build without an SBOM
    build(runtime, T0, [JAMMY_LIBC])
    findings_match()
    repo_id = runtime.series.repository_id
    found = repository_assessments(repository_ids=[repo_id])[repo_id]
    assert found.state == ASSESSED
    assert found.summary == "No known vulnerabilities in the latest builds"
    build(dev, T0, [])
    found = repository_assessments(repository_ids=[repo_id])[repo_id]
    assert found.state == PARTIAL
    assert found.text == "Partially assessed: 1 of 2 latest builds not assessed"


def test_a_build_not_matched_since_its_evidence_arrived_is_pending():
    """An SBOM or an advisory source newer than the last match: the findings
    are not known yet, so nothing is claimed, not even a count of zero."""
    ubuntu_feed(T0)
    image = build(variant(), T0, [JAMMY_LIBC])
    found = digest_assessment(digest=image)
    assert found.state == PENDING
    assert found.stated_open is None
    assert found.summary == "Assessment pending"
    assert "not been matched" in found.text
    findings_match()
    assert digest_assessment(digest=image).state == ASSESSED
    # A newer import of the source: pending again until matching runs.
    later = timezone.now() + timedelta(hours=1)
    ubuntu_feed(later)
    again = digest_assessment(digest=image)
    assert again.state == PENDING
    assert "matching has not run since" in again.text
    findings_match(now=later + timedelta(minutes=5))
    assert digest_assessment(digest=image).state == ASSESSED
