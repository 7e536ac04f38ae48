"""Where SBOM tools write a distro binary's source package, read from each."""

from __future__ import annotations

import json

import pytest

from apps.vulns.formats.sbom import sbom_parse
from apps.vulns.matching import component_match_version


def _cyclonedx(*components: dict, tool: str = "example-tool") -> bytes:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "version": 1,
            "metadata": {
                "tools": {"components": [{"type": "application", "name": tool}]}
            },
            "components": [{"type": "library", **c} for c in components],
        }
    ).encode()


def _spdx(*packages: dict, tool: str = "Tool: example-1.0") -> bytes:
    return json.dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "example",
            "documentNamespace": "https://example.com/spdx/1",
            "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": [tool]},
            "packages": [
                {
                    "SPDXID": f"SPDXRef-Package-{i}",
                    "downloadLocation": "NONE",
                    "filesAnalyzed": False,
                    **p,
                }
                for i, p in enumerate(packages)
            ],
        }
    ).encode()


def _read(content: bytes) -> dict[str, tuple[str, str, bool]]:
    """name -> (source name, version matched against advisories, source known)."""
    return {
        c.name: (
            c.source_name,
            component_match_version(
                type=c.type, version=c.version, source_version=c.source_version
            ),
            c.source_known,
        )
        for c in sbom_parse(content).components
    }


def _props(**values: str) -> list[dict]:
    return [{"name": f"aquasecurity:trivy:{k}", "value": v} for k, v in values.items()]


def test_trivy_rpm_properties_give_source_epoch_version_and_release():
    found = _read(
        _cyclonedx(
            {
                "name": "openssl-libs",
                "version": "1:3.0.7-27.el9",
                "purl": "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9"
                "?arch=x86_64&distro=redhat-9.4&epoch=1",
                "properties": _props(
                    SrcName="openssl",
                    SrcEpoch="1",
                    SrcVersion="3.0.7",
                    SrcRelease="27.el9",
                ),
            },
            tool="trivy",
        )
    )
    assert found["openssl-libs"] == ("openssl", "1:3.0.7-27.el9", True)


def test_trivy_alpine_release_number_is_named_as_alpine_releases_are():
    parsed = sbom_parse(
        _cyclonedx(
            {
                "name": "libcrypto1.1",
                "version": "1.1.1l-r7",
                "purl": "pkg:apk/alpine/libcrypto1.1@1.1.1l-r7?distro=3.15.0",
                "properties": _props(SrcName="openssl", SrcVersion="1.1.1l-r7"),
            }
        )
    )
    (component,) = parsed.components
    assert (component.source_name, component.distro) == ("openssl", "alpine-3.15.0")


def test_a_binary_epoch_in_the_purl_qualifier_is_compared():
    # A document naming no source at all: the binary's own name and its
    # version with the epoch, coverage partial.
    found = _read(
        _cyclonedx(
            {
                "name": "passwd",
                "purl": "pkg:deb/ubuntu/passwd@4.8.1-2ubuntu2.2"
                "?arch=amd64&distro=ubuntu-22.04&epoch=1",
            }
        )
    )
    assert found["passwd"] == ("passwd", "1:4.8.1-2ubuntu2.2", False)


def test_syft_properties_and_upstream_qualifier():
    found = _read(
        _cyclonedx(
            {
                "name": "libzstd1",
                "purl": "pkg:deb/debian/libzstd1@1.5.4+dfsg2-5?arch=amd64"
                "&distro=debian-12",
                "properties": [
                    {"name": "syft:metadata:source", "value": "libzstd"},
                    {"name": "syft:metadata:sourceVersion", "value": "1.5.4+dfsg2-5"},
                ],
            },
            {
                "name": "libc6",
                "purl": "pkg:deb/debian/libc6@2.36-9+deb12u4+b1?arch=amd64"
                "&upstream=glibc%402.36-9%2Bdeb12u4&distro=debian-12",
            },
            {
                "name": "openssl-libs",
                "purl": "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64"
                "&upstream=openssl-3.0.7-27.el9.src.rpm&distro=rhel-9.4",
            },
            {
                "name": "tzdata",
                "purl": "pkg:deb/debian/tzdata@2024a-0+deb12u1?distro=debian-12",
            },
            tool="syft",
        )
    )
    assert found["libzstd1"] == ("libzstd", "1.5.4+dfsg2-5", True)
    # A binNMU: the source version is without the +b1.
    assert found["libc6"] == ("glibc", "2.36-9+deb12u4", True)
    assert found["openssl-libs"] == ("openssl", "3.0.7-27.el9", True)
    # Syft states every differing source: silence means the same package.
    assert found["tzdata"] == ("tzdata", "2024a-0+deb12u1", True)


def test_cyclonedx_pedigree_ancestor_names_the_source():
    found = _read(
        _cyclonedx(
            {
                "name": "libssl3",
                "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12",
                "pedigree": {
                    "ancestors": [
                        {
                            "type": "library",
                            "name": "openssl",
                            "purl": "pkg:deb/debian/openssl@3.0.11-1~deb12u2"
                            "?arch=source",
                        }
                    ]
                },
            }
        )
    )
    assert found["libssl3"] == ("openssl", "3.0.11-1~deb12u2", True)


def test_spdx_source_info_as_trivy_writes_it():
    found = _read(
        _spdx(
            {
                "name": "libc-utils",
                "versionInfo": "0.7.2-r3",
                "sourceInfo": "built package from: libc-dev 0.7.2-r3",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:apk/alpine/libc-utils@0.7.2-r3"
                        "?arch=x86_64&distro=3.15.11",
                    }
                ],
            },
            tool="Tool: trivy-0.58.0",
        )
    )
    assert found["libc-utils"] == ("libc-dev", "0.7.2-r3", True)


def test_spdx_second_purl_naming_the_source_package():
    found = _read(
        _spdx(
            {
                "name": "libssl3",
                "versionInfo": "3.0.11-1~deb12u2",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": locator,
                    }
                    for locator in (
                        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12",
                        "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=source",
                    )
                ],
            }
        )
    )
    assert found["libssl3"] == ("openssl", "3.0.11-1~deb12u2", True)


@pytest.mark.parametrize(
    ("stated", "expected"),
    [
        # One binary with a stated source makes the document source-aware.
        (True, True),
        # No binary with a source, an unknown tool: every binary partial.
        (False, False),
    ],
)
def test_a_document_stating_any_source_states_them_all(stated, expected):
    libssl = {
        "name": "libssl3",
        "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12",
    }
    if stated:
        libssl["properties"] = _props(SrcName="openssl")
    found = _read(
        _cyclonedx(
            libssl,
            {
                "name": "bash",
                "purl": "pkg:deb/debian/bash@5.2.15-2+b2?distro=debian-12",
            },
            {"name": "flask", "purl": "pkg:pypi/flask@2.0.0"},
        )
    )
    assert found["bash"][2] is expected
    assert found["flask"][2] is True  # not a distro binary: its own name
    summary = sbom_parse(
        _cyclonedx(
            libssl,
            {
                "name": "bash",
                "purl": "pkg:deb/debian/bash@5.2.15-2+b2?distro=debian-12",
            },
        )
    ).summary
    assert summary["source_unknown"] == (0 if stated else 2)


@pytest.mark.django_db
def test_a_source_stated_later_is_learned_and_earlier_builds_are_matched_again(
    django_capture_on_commit_callbacks,
):
    from datetime import UTC, datetime

    from apps.evidence.ingest import evidence_import
    from apps.vulns.models import Component, Finding
    from apps.vulns.services import osv_import
    from tests.factories import UserFactory
    from tests.vulns.feed_helpers import build, osv_record, variant

    staff_user = UserFactory(is_staff=True)
    osv_import(records=[osv_record("ubuntu/CVE-2023-0286.json")])
    purl = "pkg:deb/ubuntu/libssl1.1@1.1.1f-1ubuntu2.16?arch=amd64&distro=ubuntu-20.04"
    first = build(variant("first"), datetime(2024, 1, 1, tzinfo=UTC), [])
    second = build(variant("second"), datetime(2024, 1, 2, tzinfo=UTC), [])

    def sbom(image, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            evidence_import(
                kind="sbom",
                digest=image.digest,
                actor=staff_user,
                content=_cyclonedx({"name": "libssl1.1", "purl": purl, **extra}),
            )

    sbom(first)  # no source stated: matched as "libssl1.1", nothing found
    assert not Component.objects.get(name="libssl1.1").source_known
    assert not Finding.objects.exists()

    sbom(second, properties=_props(SrcName="openssl"))
    row = Component.objects.get(name="libssl1.1")
    assert (row.source_name, row.source_known) == ("openssl", True)
    # The first build shares the row and is matched again with it.
    assert set(Finding.objects.values_list("digest__digest", flat=True)) == {
        first.digest,
        second.digest,
    }


JAMMY = "arch=amd64&distro=ubuntu-22.04"


def _jammy_libssl3(version: str, **extra) -> dict:
    return {
        "name": "libssl3",
        "purl": f"pkg:deb/ubuntu/libssl3@{version}?{JAMMY}",
        **extra,
    }


@pytest.fixture
def jammy(db, django_capture_on_commit_callbacks):
    """Ubuntu's CVE-2023-0286 record (22.04: openssl fixed in 3.0.2-0ubuntu1.8)
    and a way to attach an SBOM to a new build of one variant, matched as
    the evidence door matches."""
    from datetime import UTC, datetime, timedelta

    from apps.evidence.ingest import evidence_import
    from apps.vulns.services import osv_import
    from tests.factories import UserFactory
    from tests.vulns.feed_helpers import build, osv_record, variant

    staff = UserFactory(is_staff=True)
    osv_import(records=[osv_record("ubuntu/CVE-2023-0286.json")])
    line = variant("ubuntu")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    made = []

    def attach(content: bytes, image=None):
        if image is None:
            image = build(line, start + timedelta(days=len(made)), [])
            made.append(image)
        with django_capture_on_commit_callbacks(execute=True):
            evidence_import(
                kind="sbom", digest=image.digest, actor=staff, content=content
            )
        return image

    return attach


def _cve(image) -> list[tuple[str, str]]:
    from apps.vulns.models import Finding

    return list(
        Finding.objects.filter(digest=image).values_list("component__name", "status")
    )


def test_syft_and_trivy_sboms_of_one_build_name_one_component(jammy):
    from apps.vulns.models import Component

    # Syft writes the source in the purl, Trivy in properties: one package.
    image = jammy(
        _cyclonedx(
            {
                "name": "libssl3",
                "purl": f"pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.7?{JAMMY}"
                "&upstream=openssl",
            },
            tool="syft",
        )
    )
    jammy(
        _cyclonedx(
            _jammy_libssl3("3.0.2-0ubuntu1.7", properties=_props(SrcName="openssl")),
            tool="trivy",
        ),
        image=image,
    )
    assert Component.objects.filter(name="libssl3").count() == 1
    assert _cve(image) == [("libssl3", "affected")]


def test_a_stated_source_corrects_one_an_earlier_sbom_left_to_inference(jammy):
    # A Syft-labelled document without the qualifier: the source is taken
    # to be the binary itself, and nothing is found under "libssl3".
    first = jammy(_cyclonedx(_jammy_libssl3("3.0.2-0ubuntu1.5"), tool="syft"))
    assert _cve(first) == []
    # Another build's SBOM states the source of the same package: the row is
    # corrected and the first build matched again.
    second = jammy(
        _cyclonedx(
            _jammy_libssl3("3.0.2-0ubuntu1.5", properties=_props(SrcName="openssl")),
            tool="trivy",
        )
    )
    assert _cve(second) == [("libssl3", "affected")]
    assert _cve(first) == [("libssl3", "affected")]


def test_a_newer_build_whose_sbom_states_no_source_does_not_fix_a_finding(jammy):
    older = jammy(
        _cyclonedx(
            _jammy_libssl3("3.0.2-0ubuntu1.7", properties=_props(SrcName="openssl")),
            tool="trivy",
        )
    )
    assert _cve(older) == [("libssl3", "affected")]
    # A newer build lists libssl3 (older still) with no source: it cannot
    # show openssl gone, so the older build's finding stays open.
    newer = jammy(_cyclonedx(_jammy_libssl3("3.0.2-0ubuntu1.4")))
    assert _cve(older) == [("libssl3", "affected")]
    assert _cve(newer) == []
    # A newer build past the fix, its source stated, does fix it.
    jammy(
        _cyclonedx(
            _jammy_libssl3("3.0.2-0ubuntu1.8", properties=_props(SrcName="openssl")),
            tool="trivy",
        )
    )
    assert _cve(older) == [("libssl3", "fixed")]
