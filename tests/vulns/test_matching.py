"""Matching components to advisories, with each ecosystem's version rules."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.models import ImageDigest, Variant
from apps.vulns.formats.osv import osv_parse
from apps.vulns.matching import (
    Affected,
    Matcher,
    component_package,
    distro_matches,
)
from apps.vulns.models import Finding, Severity, Vulnerability
from apps.vulns.services import findings_match, osv_import

from .feed_helpers import LOG4SHELL, OSV, build, osv_record, variant

# Purls exactly as the mongo image's CycloneDX SBOM (guac big-mongo, Syft)
# lists them: Ubuntu 20.04's OpenSSL at 1.1.1f-1ubuntu2.16.
MONGO_LIBSSL = (
    "pkg:deb/ubuntu/libssl1.1@1.1.1f-1ubuntu2.16?arch=amd64&upstream=openssl"
    "&distro=ubuntu-20.04"
)
MONGO_OPENSSL = (
    "pkg:deb/ubuntu/openssl@1.1.1f-1ubuntu2.16?arch=amd64&distro=ubuntu-20.04"
)
MONGO_LIBC = (
    "pkg:deb/ubuntu/libc6@2.31-0ubuntu9.9?arch=amd64&upstream=glibc&distro=ubuntu-20.04"
)
# The same packages after Ubuntu's fix (USN-5844-1).
FIXED_LIBSSL = MONGO_LIBSSL.replace("2.16", "2.17")
FIXED_OPENSSL = MONGO_OPENSSL.replace("2.16", "2.17")

T0 = datetime(2023, 1, 10, tzinfo=UTC)


@pytest.fixture
def now():
    return datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


def affected_from(record: dict, index: int = 0) -> Affected:
    """An advisory's affected entry as matching reads it, from a real record."""
    parsed = osv_parse(record).affected[index]
    return Affected(
        id=index,
        vulnerability_id=1,
        ecosystem=parsed.ecosystem,
        distro=parsed.distro,
        ranges=parsed.ranges,
        versions=frozenset(parsed.versions),
    )


def entry(ecosystem, events, *, range_type="ECOSYSTEM", versions=(), distro=""):
    return Affected(
        id=id(events),
        vulnerability_id=1,
        ecosystem=ecosystem,
        distro=distro,
        ranges=[{"type": range_type, "events": events}],
        versions=frozenset(versions),
    )


def ubuntu(ecosystem: str) -> Affected:
    record = osv_record("ubuntu/CVE-2023-0286.json")
    index = next(
        n
        for n, item in enumerate(record["affected"])
        if item["package"]["ecosystem"] == ecosystem
        and item["package"]["name"] == "openssl"
    )
    return affected_from(record, index)


# --------------------------------------------------------------------------
# Version rules, ecosystem by ecosystem
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "hit"),
    [
        ("1.1.1f-1ubuntu2.16", True),  # what the mongo image ships
        ("1.1.1f-1ubuntu2.9", True),  # .9 is before .16: not a string comparison
        ("1.1.1f-1ubuntu2.17", False),  # the fix
        ("1.1.1f-1ubuntu2.20", False),
        ("1.1.1-1ubuntu2", True),
    ],
)
def test_ubuntu_focal_openssl(version, hit):
    assert Matcher().affects(ubuntu("Ubuntu:20.04:LTS"), version)[0] is hit


def test_ubuntu_fixed_version_is_reported():
    assert Matcher().affects(ubuntu("Ubuntu:20.04:LTS"), "1.1.1f-1ubuntu2.16") == (
        True,
        "1.1.1f-1ubuntu2.17",
    )


def test_debian_tilde_and_epoch_ordering():
    # Bionic's backport 1.1.1-1ubuntu2.1~18.04.21 fixes it: "~" sorts before
    # anything, so ~18.04.20 is older; an epoch outranks every upstream version.
    bionic = ubuntu("Ubuntu:18.04:LTS")
    matcher = Matcher()
    assert matcher.affects(bionic, "1.1.1-1ubuntu2.1~18.04.20")[0] is True
    assert matcher.affects(bionic, "1.1.1-1ubuntu2.1~18.04.21")[0] is False
    debian = entry("Debian:11", [{"introduced": "0"}, {"fixed": "1:2.0-1"}])
    assert matcher.affects(debian, "9.9-1")[0] is True  # epoch 0 < epoch 1
    assert matcher.affects(debian, "1:2.0~rc1-1")[0] is True
    assert matcher.affects(debian, "1:2.0-1")[0] is False


def test_jammy_libssl3_past_the_fix_is_not_affected():
    # The trivy ubuntu:22.04 SBOM's libssl3 3.0.2-0ubuntu1.12 is after the fix.
    jammy = ubuntu("Ubuntu:22.04:LTS")
    assert Matcher().affects(jammy, "3.0.2-0ubuntu1.12") == (False, "")
    assert Matcher().affects(jammy, "3.0.2-0ubuntu1.7") == (True, "3.0.2-0ubuntu1.8")


def test_alpine_revisions_compare_as_numbers():
    # Alpine 3.16's busybox fix for CVE-2022-30065 is 1.35.0-r15 (secdb).
    busybox = entry("Alpine:v3.16", [{"introduced": "0"}, {"fixed": "1.35.0-r15"}])
    matcher = Matcher()
    assert matcher.affects(busybox, "1.35.0-r9")[0] is True  # r9 < r15
    assert matcher.affects(busybox, "1.35.0-r14")[0] is True
    assert matcher.affects(busybox, "1.35.0-r15")[0] is False
    assert matcher.affects(busybox, "1.35.0-r17")[0] is False  # the alpine SBOM
    assert matcher.affects(busybox, "1.34.1-r7")[0] is True


@pytest.mark.parametrize(
    ("version", "hit"),
    [
        ("2.2.1", False),  # before the introduction
        ("2.3.0", True),  # introduced is inclusive
        ("2.30.0", True),
        ("2.31.0rc1", True),  # PEP 440: a release candidate precedes the release
        ("2.31.0", False),  # fixed is exclusive
        ("2.31.0.post1", False),
    ],
)
def test_pypi_range_boundaries(version, hit):
    # GHSA-j8r2-6x86-q33q: requests >= 2.3.0, < 2.31.0.
    requests = affected_from(osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json"))
    assert Matcher().affects(requests, version)[0] is hit


def test_pypi_prerelease_introduction():
    # GHSA-q2jf-h9jm-m7p4 names Django's 4.1 line from 4.1a1 on.
    record = osv_record("ghsa-pysec/GHSA-q2jf-h9jm-m7p4.json")
    line = next(
        affected_from(record, n)
        for n in range(3)
        if affected_from(record, n).ranges[0]["events"][0] == {"introduced": "4.1a1"}
    )
    matcher = Matcher()
    assert matcher.affects(line, "4.1rc1") == (True, "4.1.6")
    assert matcher.affects(line, "4.1.5") == (True, "4.1.6")
    assert matcher.affects(line, "4.1.6")[0] is False
    assert matcher.affects(line, "4.0.9")[0] is False


def test_npm_semver_prereleases():
    affected = entry("npm", [{"introduced": "2.0.0-alpha.2"}, {"fixed": "2.0.0"}])
    matcher = Matcher()
    assert matcher.affects(affected, "2.0.0-alpha.1")[0] is False
    # Numeric prerelease identifiers compare as numbers: alpha.10 > alpha.2.
    assert matcher.affects(affected, "2.0.0-alpha.10")[0] is True
    assert matcher.affects(affected, "2.0.0-rc.1")[0] is True
    assert matcher.affects(affected, "2.0.0")[0] is False
    assert matcher.affects(affected, "1.9.9")[0] is False


def test_go_pseudo_versions():
    # GO-2023-1571 (CVE-2022-41723): golang.org/x/net before 0.7.0.
    net = entry(
        "Go",
        [{"introduced": "0"}, {"fixed": "0.7.0"}],
        range_type="SEMVER",
    )
    matcher = Matcher()
    pseudo = "v0.0.0-20220722155237-a158d28d115b"
    assert matcher.affects(net, pseudo) == (True, "0.7.0")
    assert matcher.affects(net, "v0.6.0")[0] is True
    assert matcher.affects(net, "v0.7.0")[0] is False
    assert matcher.affects(net, "v0.7.1-0.20230214201333-88ed8ca3307d")[0] is False
    # An ECOSYSTEM range for Go is read with Go's own rules too.
    eco = entry("Go", [{"introduced": "0"}, {"fixed": "0.7.0"}])
    assert matcher.affects(eco, pseudo)[0] is True


@pytest.mark.parametrize(
    ("version", "hit"),
    [
        ("2.0-alpha1", False),  # alpha precedes beta9
        ("2.0-beta9", True),
        ("2.0-rc1", True),
        ("2.3", True),
        ("2.3.1", False),
        ("2.12.1", True),
        ("2.12.2", False),
        ("2.14.1", True),
        ("2.15.0-rc1", True),  # a qualifier precedes the release
        ("2.15.0", False),
    ],
)
def test_maven_qualifiers_log4shell(version, hit):
    log4j = affected_from(LOG4SHELL)
    assert Matcher().affects(log4j, version)[0] is hit


def test_composer_boundary():
    # GHSA-25mq-v84q-4j7r: guzzlehttp/guzzle >= 7.0.0, < 7.4.5.
    record = osv_record("ghsa-pysec/GHSA-25mq-v84q-4j7r.json")
    seven = affected_from(record, 1)
    assert Matcher().affects(seven, "7.4.4") == (True, "7.4.5")
    assert Matcher().affects(seven, "7.4.5")[0] is False


@pytest.mark.parametrize(
    ("version", "hit", "fixed"),
    [
        ("3.8.16", True, "3.8.17"),
        ("3.8.17", False, ""),
        ("3.9.16", True, "3.9.17"),
        ("3.9.17", False, ""),
        ("3.11.4", False, ""),  # the 3.11 line is not in the advisory
        ("3.12.0-alpha2", True, "3.12.0-beta1"),
        ("3.12.0", False, ""),
    ],
)
def test_dhi_branch_ranges(version, hit, fixed):
    # DHI CVE-2007-4559: one SEMVER range with a branch per CPython line.
    python = affected_from(osv_record("dhi-python/CVE-2007-4559.json"))
    assert Matcher().affects(python, version) == (hit, fixed)


def test_last_affected_and_limit():
    matcher = Matcher()
    last = entry("PyPI", [{"introduced": "1.0"}, {"last_affected": "1.4"}])
    assert matcher.affects(last, "1.4")[0] is True
    assert matcher.affects(last, "1.4.1")[0] is False
    limited = entry("PyPI", [{"introduced": "0"}, {"limit": "2.0"}])
    assert matcher.affects(limited, "1.9")[0] is True
    assert matcher.affects(limited, "2.0")[0] is False


def test_unordered_events_are_evaluated_in_version_order():
    # PYSEC-2022-190 lists its branches newest first.
    django = affected_from(osv_record("ghsa-pysec/PYSEC-2022-190.json"))
    matcher = Matcher()
    assert matcher.affects(django, "3.2.12") == (True, "3.2.13")
    assert matcher.affects(django, "3.2.13")[0] is False
    assert matcher.affects(django, "4.0.3") == (True, "4.0.4")
    assert matcher.affects(django, "2.1")[0] is False


def test_explicit_versions_list_is_matched_exactly():
    # CVE-2023-50094 (reNgine) has only a GIT range: its versions list decides.
    git = Affected(
        id=1,
        vulnerability_id=1,
        ecosystem="GIT",
        distro="",
        ranges=[
            {"type": "GIT", "events": [{"introduced": "0"}, {"last_affected": "fd5"}]}
        ],
        versions=frozenset(["v2.0.2", "v1.3.6"]),
    )
    matcher = Matcher()
    assert matcher.affects(git, "v2.0.2")[0] is True
    assert matcher.affects(git, "v2.0.3")[0] is False


def test_unreadable_versions_do_not_match_and_are_reported():
    matcher = Matcher()
    pypi = entry("PyPI", [{"introduced": "0"}, {"fixed": "2.0"}])
    assert matcher.affects(pypi, "not a version!")[0] is False
    assert ("PyPI", "not a version!") in matcher.unparsable
    broken = entry("PyPI", [{"introduced": "0"}, {"fixed": "???"}], versions=["1.0"])
    assert matcher.affects(broken, "1.5")[0] is False
    assert matcher.affects(broken, "1.0")[0] is True  # the list still counts


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (("deb", "ubuntu", "libssl1.1", "openssl"), ("deb", "openssl")),
        (("deb", "ubuntu", "mount", "util-linux"), ("deb", "util-linux")),
        (("apk", "alpine", "libcrypto1.1", "openssl"), ("apk", "openssl")),
        (("alpine", "", "busybox", "busybox"), ("apk", "busybox")),
        (("pypi", "", "Jinja2", "Jinja2"), ("pypi", "jinja2")),
        (("npm", "@babel", "traverse", "traverse"), ("npm", "@babel/traverse")),
        (
            ("golang", "github.com/golang", "snappy", "snappy"),
            ("golang", "github.com/golang/snappy"),
        ),
        (
            ("maven", "org.apache.logging.log4j", "log4j-core", "log4j-core"),
            ("maven", "org.apache.logging.log4j:log4j-core"),
        ),
        (
            ("composer", "GuzzleHttp", "Guzzle", "Guzzle"),
            ("composer", "guzzlehttp/guzzle"),
        ),
    ],
)
def test_components_are_named_as_advisories_name_packages(fields, expected):
    type_, namespace, name, source = fields
    assert (
        component_package(
            type=type_, namespace=namespace, name=name, source_name=source
        )
        == expected
    )


@pytest.mark.parametrize(
    ("advisory", "component", "applies"),
    [
        ("ubuntu-20.04", "ubuntu-20.04", True),
        ("ubuntu-20.04", "ubuntu-22.04", False),
        ("alpine-3.16", "alpine-3.16.2", True),
        ("alpine-3.1", "alpine-3.16.2", False),
        ("debian-11", "debian-12", False),
        ("debian-11", "", False),  # unknown release: no guess
        ("", "", True),
    ],
)
def test_distro_releases(advisory, component, applies):
    assert distro_matches(advisory, component) is applies


# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------


@pytest.fixture
def openssl_advisory(db):
    osv_import(records=[osv_record("ubuntu/CVE-2023-0286.json")])
    return Vulnerability.objects.get(vuln_id="CVE-2023-0286")


def test_mongo_openssl_is_found(openssl_advisory, now):
    image = build(variant(), T0, [MONGO_LIBSSL, MONGO_OPENSSL, MONGO_LIBC])
    report = findings_match(now=now)
    assert (report.components_affected, report.findings_created) == (2, 2)
    findings = Finding.objects.filter(digest=image).select_related("component")
    assert {f.component.name for f in findings} == {"libssl1.1", "openssl"}
    for finding in findings:
        assert finding.vulnerability == openssl_advisory
        assert finding.status == Finding.Status.AFFECTED
        assert finding.severity == Severity.HIGH
        assert finding.disclosed_at == datetime(2023, 2, 7, tzinfo=UTC)
        assert finding.fixed_version == "1.1.1f-1ubuntu2.17"
        # OSV gives no fix date: the record's modified time, when the portal
        # first saw it name a fix.
        assert finding.upstream_fix_at == openssl_advisory.modified_at
        assert finding.detected_at == now
        assert (finding.fixed_published_at, finding.fixed_in) == (None, None)


def test_mongo_openssl_through_the_sbom_importers_component_rows(openssl_advisory, now):
    # Component rows exactly as the SBOM importer derives them from the purl.
    from apps.vulns.formats.sbom_parsed import component_from_purl
    from apps.vulns.models import Component

    parsed = component_from_purl(MONGO_LIBSSL)
    component = Component.objects.create(
        purl=parsed.purl,
        purl_sha256=parsed.purl_sha256,
        type=parsed.type,
        namespace=parsed.namespace,
        name=parsed.name,
        version=parsed.version,
        source_name=parsed.source_name,
        source_version=parsed.source_version,
        distro=parsed.distro,
    )
    image = build(variant(), T0, [])
    from apps.catalog.models import Attestation
    from apps.vulns.models import DigestComponent

    sbom = Attestation.objects.create(
        digest=image, kind="sbom-cyclonedx", document="x.json", sha256="0", size=1
    )
    DigestComponent.objects.create(digest=image, component=component, attestation=sbom)
    findings_match(now=now)
    assert Finding.objects.get().component == component


def test_fixed_and_other_release_packages_are_not_found(openssl_advisory, now):
    build(variant(), T0, [FIXED_LIBSSL, FIXED_OPENSSL])
    # The same version on a release the advisory does not name (Debian 11,
    # Ubuntu 23.04), or with no release at all: no finding. (On Ubuntu 22.04 it
    # would be one: jammy's entry covers everything before 3.0.2-0ubuntu1.8.)
    build(
        variant("other"),
        T0,
        [
            "pkg:deb/debian/openssl@1.1.1f-1ubuntu2.16?distro=debian-11",
            MONGO_OPENSSL.replace("ubuntu-20.04", "ubuntu-23.04"),
            "pkg:deb/ubuntu/openssl@1.1.1f-1ubuntu2.16?arch=amd64",
        ],
    )
    report = findings_match(now=now)
    assert (report.components_affected, report.findings_created) == (0, 0)
    assert not Finding.objects.exists()


def test_rerunning_is_idempotent(openssl_advisory, now):
    build(variant(), T0, [MONGO_LIBSSL, MONGO_OPENSSL])
    findings_match(now=now)
    before = list(Finding.objects.order_by("pk").values())
    report = findings_match(now=now + timedelta(days=3))
    assert report.findings_created == 0
    assert list(Finding.objects.order_by("pk").values()) == before


def test_withdrawn_advisories_do_not_match(db, now):
    record = osv_record("ubuntu/CVE-2023-0286.json")
    record["withdrawn"] = "2024-09-01T00:00:00Z"
    osv_import(records=[record])
    build(variant(), T0, [MONGO_OPENSSL])
    assert findings_match(now=now).findings_created == 0


def test_pypi_components_match_ghsa_and_pysec_as_one_finding(db, now):
    osv_import(path=OSV / "ghsa-pysec")
    image = build(
        variant("python-app"),
        T0,
        [
            "pkg:pypi/requests@2.30.0",  # GHSA-j8r2 and PYSEC-2023-74: one CVE
            "pkg:pypi/Jinja2@3.1.2",  # GHSA-h5c8 (fixed in 3.1.3) says "jinja2"
            "pkg:pypi/requests-toolbelt@1.0.0",  # a different package
            "pkg:pypi/jinja2@3.1.3",
        ],
    )
    findings_match(now=now)
    found = {
        (f.component.name, f.component.version, f.vulnerability.vuln_id)
        for f in Finding.objects.filter(digest=image).select_related(
            "component", "vulnerability"
        )
    }
    assert found == {
        ("requests", "2.30.0", "GHSA-j8r2-6x86-q33q"),
        ("jinja2", "3.1.2", "GHSA-h5c8-rqwp-cp95"),  # purls lowercase PyPI names
    }


def test_alias_found_later_does_not_duplicate_a_finding(db, now):
    osv_import(records=[osv_record("ghsa-pysec/PYSEC-2023-74.json")])
    build(variant("python-app"), T0, ["pkg:pypi/requests@2.30.0"])
    findings_match(now=now)
    assert Finding.objects.get().vulnerability.vuln_id == "PYSEC-2023-74"
    # GitHub's record of the same CVE arrives: still one finding.
    osv_import(records=[osv_record("ghsa-pysec/GHSA-j8r2-6x86-q33q.json")])
    assert findings_match(now=now).findings_created == 0
    assert Finding.objects.count() == 1


def test_maven_alpine_npm_go_and_dhi_components(db, now):
    osv_import(
        records=[
            LOG4SHELL,
            osv_record("dhi-python/CVE-2007-4559.json"),
            {
                "id": "TEST-ALPINE-BUSYBOX",
                "modified": "2022-06-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "Alpine:v3.16", "name": "busybox"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [
                                    {"introduced": "0"},
                                    {"fixed": "1.35.0-r15"},
                                ],
                            }
                        ],
                    }
                ],
            },
            {
                "id": "TEST-GO-NET",
                "modified": "2023-02-17T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "Go", "name": "golang.org/x/net"},
                        "ranges": [
                            {
                                "type": "SEMVER",
                                "events": [{"introduced": "0"}, {"fixed": "0.7.0"}],
                            }
                        ],
                    }
                ],
            },
            {
                "id": "TEST-NPM-SCOPED",
                "modified": "2023-10-16T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": "@babel/traverse"},
                        "ranges": [
                            {
                                "type": "SEMVER",
                                "events": [
                                    {"introduced": "8.0.0-alpha.0"},
                                    {"fixed": "8.0.0-alpha.4"},
                                ],
                            }
                        ],
                    }
                ],
            },
        ]
    )
    image = build(
        variant("mixed"),
        T0,
        [
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            "pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1",  # not named
            # Syft's pre-0.60 spelling, from the alpine SBOM:
            "pkg:alpine/busybox@1.35.0-r9?arch=x86_64&upstream=busybox"
            "&distro=alpine-3.16.2",
            "pkg:alpine/ssl_client@1.35.0-r17?arch=x86_64&upstream=busybox"
            "&distro=alpine-3.16.2",
            "pkg:golang/golang.org/x/net@v0.0.0-20220722155237-a158d28d115b",
            "pkg:npm/%40babel/traverse@8.0.0-alpha.2",
            "pkg:dhi/python@3.9.16",
        ],
    )
    findings_match(now=now)
    found = {
        (f.component.name, f.vulnerability.vuln_id, f.fixed_version)
        for f in Finding.objects.filter(digest=image).select_related(
            "component", "vulnerability"
        )
    }
    assert found == {
        ("log4j-core", "GHSA-jfh8-c2jp-5v3q", "2.15.0"),
        ("busybox", "TEST-ALPINE-BUSYBOX", "1.35.0-r15"),
        ("net", "TEST-GO-NET", "0.7.0"),
        ("traverse", "TEST-NPM-SCOPED", "8.0.0-alpha.4"),
        ("python", "CVE-2007-4559", "3.9.17"),
    }


# --------------------------------------------------------------------------
# Fixed by a newer build
# --------------------------------------------------------------------------


def test_newer_build_without_the_vulnerable_version_fixes_the_finding(
    openssl_advisory, now
):
    runtime = variant()
    old = build(runtime, T0, [MONGO_LIBSSL, MONGO_LIBC])
    still = build(runtime, T0 + timedelta(days=5), [MONGO_LIBSSL, MONGO_LIBC])
    fixed = build(runtime, T0 + timedelta(days=9), [FIXED_LIBSSL, MONGO_LIBC])
    report = findings_match(now=now)
    assert (report.findings_created, report.findings_fixed) == (2, 2)
    for image in (old, still):
        finding = Finding.objects.get(digest=image)
        assert finding.status == Finding.Status.FIXED
        assert finding.fixed_published_at == fixed.built_at
        assert finding.fixed_in == fixed
        assert finding.detected_at == now
    assert not Finding.objects.filter(digest=fixed).exists()

    # A re-run changes nothing, timestamps included.
    before = list(Finding.objects.order_by("pk").values())
    assert findings_match(now=now + timedelta(days=1)).findings_fixed == 0
    assert list(Finding.objects.order_by("pk").values()) == before


def test_matching_only_the_new_build_fixes_the_old_ones(openssl_advisory, now):
    runtime = variant()
    old = build(runtime, T0, [MONGO_LIBSSL])
    findings_match(digests=[old], now=now)
    assert Finding.objects.get(digest=old).status == Finding.Status.AFFECTED

    new = build(runtime, T0 + timedelta(days=2), [FIXED_LIBSSL])
    report = findings_match(digests=[new.digest], now=now)
    assert report.findings_fixed == 1
    finding = Finding.objects.get(digest=old)
    assert (finding.status, finding.fixed_in) == (Finding.Status.FIXED, new)


def test_matching_an_old_build_also_matches_its_newer_builds(openssl_advisory, now):
    runtime = variant()
    old = build(runtime, T0, [MONGO_LIBSSL])
    newer = build(runtime, T0 + timedelta(days=2), [MONGO_LIBSSL])
    report = findings_match(digests=[old], now=now)
    # The newer build is vulnerable too: the old finding stays open.
    assert report.digests == 2
    assert Finding.objects.get(digest=old).status == Finding.Status.AFFECTED
    assert Finding.objects.get(digest=newer).status == Finding.Status.AFFECTED


def test_other_variants_and_builds_without_sbom_fix_nothing(openssl_advisory, now):
    runtime = variant()
    old = build(runtime, T0, [MONGO_LIBSSL])
    # The dev variant of the same series lacks openssl altogether, and a newer
    # runtime build has no SBOM yet: neither says the runtime image is fixed.
    build(variant(flavor=Variant.Flavor.DEV), T0 + timedelta(days=1), [MONGO_LIBC])
    build(runtime, T0 + timedelta(days=2), [])
    findings_match(now=now)
    assert Finding.objects.get(digest=old).status == Finding.Status.AFFECTED


def test_a_not_affected_newer_build_still_carries_the_package(openssl_advisory, now):
    runtime = variant()
    old = build(runtime, T0, [MONGO_LIBSSL])
    newer = build(runtime, T0 + timedelta(days=2), [MONGO_LIBSSL])
    findings_match(now=now)
    # The publisher's VEX says the newer build is not affected; it still ships
    # the vulnerable version, so it did not fix the old build.
    Finding.objects.filter(digest=newer).update(status=Finding.Status.NOT_AFFECTED)
    findings_match(now=now)
    assert Finding.objects.get(digest=old).status == Finding.Status.AFFECTED


def test_unknown_digest_is_refused(db):
    with pytest.raises(ValidationError, match="Unknown digest"):
        findings_match(digests=["sha256:" + "0" * 64])
    with pytest.raises(ValidationError, match="Not a sha256 digest"):
        findings_match(digests=["latest"])


# --------------------------------------------------------------------------
# Scale: queries do not grow with components or digests
# --------------------------------------------------------------------------


def _catalog(name: str, builds: int, packages: int):
    runtime = variant(name)
    for n in range(builds):
        purls = [f"pkg:pypi/package-{p}@1.{n % 3}.0" for p in range(packages)] + [
            MONGO_LIBSSL if n % 2 else FIXED_LIBSSL
        ]
        build(runtime, T0 + timedelta(days=n), purls)


def _advisories(count: int):
    osv_import(
        records=[
            {
                "id": f"TEST-PYPI-{p}",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": f"Package_{p}"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": "0"}, {"fixed": "1.1.0"}],
                            }
                        ],
                    }
                ],
            }
            for p in range(count)
        ]
        + [osv_record("ubuntu/CVE-2023-0286.json")]
    )


def _queries_for_match(now) -> int:
    with CaptureQueriesContext(connection) as context:
        findings_match(now=now)
    return len(context.captured_queries)


def _fixing_builds() -> int:
    return Finding.objects.exclude(fixed_in=None).values("fixed_in").distinct().count()


@pytest.mark.django_db
def test_queries_do_not_grow_with_components(now):
    _advisories(60)
    _catalog("small", builds=3, packages=5)
    small = _queries_for_match(now)
    small_findings = Finding.objects.count()
    ImageDigest.objects.all().delete()

    _catalog("large", builds=3, packages=60)
    large = _queries_for_match(now)
    assert Finding.objects.count() > 10 * small_findings
    assert large == small


@pytest.mark.django_db
def test_queries_do_not_grow_with_builds(now):
    _advisories(20)
    _catalog("small", builds=3, packages=20)
    small = _queries_for_match(now)
    small_fixing = _fixing_builds()
    ImageDigest.objects.all().delete()

    _catalog("large", builds=13, packages=20)
    large = _queries_for_match(now)
    # New findings a newer build already fixed are written fixed: no UPDATE
    # per fixing build.
    assert _fixing_builds() > small_fixing
    # Perhaps one more INSERT batch on SQLite (about 99 findings a statement).
    assert small <= large <= small + (connection.vendor != "postgresql")


def test_born_fixed_findings_equal_fixes_found_later(openssl_advisory, now):
    # All builds matched at once, or each as it is published: the same
    # findings, with the same fix times.
    purls = [[MONGO_LIBSSL], [MONGO_LIBSSL], [FIXED_LIBSSL]]

    def state(images):
        return [
            list(
                Finding.objects.filter(digest=image).values_list(
                    "status", "fixed_published_at", "fixed_in__built_at"
                )
            )
            for image in images
        ]

    together = [
        build(variant("together"), T0 + timedelta(days=n), p)
        for n, p in enumerate(purls)
    ]
    findings_match(now=now)
    one_by_one = []
    for n, p in enumerate(purls):
        one_by_one.append(build(variant("one-by-one"), T0 + timedelta(days=n), p))
        findings_match(digests=[one_by_one[-1]], now=now)
    assert state(together) == state(one_by_one)
    fixed = (Finding.Status.FIXED, T0 + timedelta(days=2), T0 + timedelta(days=2))
    assert state(together) == [[fixed], [fixed], []]


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


def test_command_matches_and_reports(openssl_advisory):
    image = build(variant(), T0, [MONGO_LIBSSL, MONGO_OPENSSL])
    out = io.StringIO()
    call_command("match_findings", "--digest", image.digest, stdout=out)
    assert "1 digests, 1 packages: 2 affected components, 2 new findings" in (
        out.getvalue()
    )
    out = io.StringIO()
    call_command("match_findings", stdout=out)
    assert "0 new findings, 0 findings marked fixed" in out.getvalue()


def test_command_refuses_unknown_digest(db):
    with pytest.raises(CommandError, match="Unknown digest"):
        call_command("match_findings", "--digest", "sha256:" + "a" * 64)
