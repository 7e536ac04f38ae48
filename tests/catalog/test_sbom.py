"""SBOM ingestion: CycloneDX 1.4-1.7 and SPDX 2.2/2.3, from real documents.

The Syft SBOMs (alpine, mongo, distroless, busybox) and the SPDX documents are
real (apps/catalog/testdata, see ATTRIBUTION.md); the CycloneDX 1.5 and 1.6
documents are ours, small and schema-valid.
"""

import copy
import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from apps.catalog import services
from apps.catalog.models import Attestation, ImageDigest
from apps.vulns.models import Component, DigestComponent
from apps.vulns.services.sbom import sbom_import

TESTDATA = Path(services.__file__).resolve().parent / "testdata"
# The images the real SBOMs are about (their metadata.component): an SBOM is
# attached to the build it names.
DIGEST_A = "sha256:cbaa390ec61abd889dfa5146a411c11717c19ef9e5e18458dbdc06439076ffe7"
DIGEST_B = "sha256:" + "b" * 64
MONGO = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"
DISTROLESS = "sha256:6ad5b696af3ca05a048bd29bf0f623040462638cb0b29c8d702cbb2805687388"
BUSYBOX = "sha256:bf5e28853a83134e949201fb5979927a9e5cc74cb747b7a080d96eaba1303411"
PORTAL_PYTHON = (
    "sha256:5b0a8e2b6c0e3a1f9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e"
)
CSAF_IMAGE = "sha256:603a6c7216a53d02889d4da068703478dc570644f9f76b1a99f6683775f9abeb"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_image(digest: str = DIGEST_A) -> ImageDigest:
    repository = services.repository_upsert(name="alpine", category="base")
    series = services.series_upsert(repository=repository, name="3.16")
    variant = services.variant_get_or_create(series=series)
    return services.digest_register(
        variant=variant, digest=digest, built_at=datetime(2022, 10, 7, tzinfo=UTC)
    )


def data(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def doc(name: str) -> dict:
    return json.loads(data(name))


def dumps(document: dict) -> bytes:
    return json.dumps(document).encode()


def counts() -> tuple[int, int, int]:
    return (
        Attestation.objects.count(),
        Component.objects.count(),
        DigestComponent.objects.count(),
    )


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def refusal(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    error = exc.value.error_dict["document"][0]
    return error.code, " ".join(exc.value.messages)


# --- Good documents ---------------------------------------------------------------


def test_alpine_cyclonedx_yields_busybox_as_an_apk_of_alpine_3_16_2(media):
    image = make_image()
    content = data("guac__alpine-cyclonedx.json")

    result = sbom_import(image=image, content=content)

    assert result.created
    assert (result.format, result.spec_version) == ("cyclonedx", "1.4")
    assert result.components == 14
    assert result.skipped_without_purl == 1  # the operating-system entry
    assert (result.components_created, result.links_created) == (14, 14)
    busybox = Component.objects.get(name="busybox")
    assert busybox.type == "apk"
    assert busybox.namespace == "alpine"  # Syft 0.58 wrote pkg:alpine/busybox
    assert busybox.version == "1.35.0-r17"
    assert busybox.distro == "alpine-3.16.2"
    assert busybox.source_name == "busybox"
    assert busybox.licenses == ["GPL-2.0-only"]
    # The upstream qualifier is read as the source, not kept in the identity.
    assert busybox.purl == (
        "pkg:apk/alpine/busybox@1.35.0-r17?arch=x86_64&distro=alpine-3.16.2"
    )
    assert busybox.purl_sha256 == hashlib.sha256(busybox.purl.encode()).hexdigest()
    libssl = Component.objects.get(name="libssl1.1")
    assert (libssl.source_name, libssl.version) == ("openssl", "1.1.1q-r0")

    attestation = result.attestation
    assert attestation.kind == Attestation.Kind.SBOM_CYCLONEDX
    assert attestation.spec_version == "1.4"
    assert attestation.media_type == "application/vnd.cyclonedx+json"
    assert attestation.sha256 == hashlib.sha256(content).hexdigest()
    assert attestation.size == len(content)
    with attestation.document.open("rb") as stored:
        assert stored.read() == content
    assert attestation.summary["tools"] == ["anchore syft 0.58.0"]
    assert attestation.summary["subject"]["name"] == "docker.io/library/alpine:latest"
    assert attestation.summary["components_without_purl"] == 1
    assert set(
        DigestComponent.objects.filter(digest=image).values_list(
            "attestation_id", flat=True
        )
    ) == {attestation.pk}
    assert len(stored_files(media)) == 1


def test_mongo_cyclonedx_yields_ubuntu_openssl_in_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    image = make_image(MONGO)

    # 173 distinct purls: the query count must not grow with them.
    with django_assert_max_num_queries(12):
        result = sbom_import(
            image=image, content=data("guac__big-mongo-cyclonedx.json")
        )

    summary = result.attestation.summary
    assert summary["components"] == 293
    assert summary["components_with_purl"] == 292
    assert result.skipped_without_purl == 1
    # Go modules repeat across mongo's tools: one row per distinct purl.
    assert result.components == summary["unique_purls"] == 173
    assert DigestComponent.objects.filter(digest=image).count() == 173
    libssl = Component.objects.get(name="libssl1.1")
    assert libssl.type == "deb"
    assert libssl.namespace == "ubuntu"
    assert libssl.version == "1.1.1f-1ubuntu2.16"
    assert libssl.source_name == "openssl"
    assert libssl.distro == "ubuntu-20.04"
    snappy = Component.objects.get(type="golang", name="snappy")
    assert snappy.source_name == "github.com/golang/snappy"  # as OSV names it
    assert snappy.version == "v0.0.1"


def test_distroless_cyclonedx_yields_debian_11_packages():
    result = sbom_import(
        image=make_image(DISTROLESS), content=data("guac__distroless-cyclonedx.json")
    )

    assert result.components == 3
    assert set(Component.objects.values_list("name", flat=True)) == {
        "base-files",
        "netbase",
        "tzdata",
    }
    assert set(Component.objects.values_list("distro", flat=True)) == {"debian-11"}
    assert Component.objects.get(name="base-files").version == "11.1+deb11u5"


def test_busybox_cyclonedx_without_packages_is_stored_with_no_components():
    result = sbom_import(
        image=make_image(BUSYBOX), content=data("guac__busybox-cyclonedx.json")
    )

    assert result.created
    assert result.components == 0
    assert result.skipped_without_purl == 1
    assert counts() == (1, 0, 0)


def test_cyclonedx_1_5_reads_nested_components_and_normalizes_purls():
    result = sbom_import(
        image=make_image(PORTAL_PYTHON), content=data("portal__cyclonedx-1.5.json")
    )

    assert result.spec_version == "1.5"
    assert result.components == 5
    assert result.skipped_without_purl == 1  # the nested setuptools
    assert Component.objects.filter(purl="pkg:pypi/pip@24.3.1").exists()  # nested
    drf = Component.objects.get(type="pypi", version="3.15.2")
    assert drf.purl == "pkg:pypi/django-rest-framework@3.15.2"  # PEP 503
    assert drf.licenses == ["BSD License"]
    rpm = Component.objects.get(type="rpm")
    assert rpm.source_name == "openssl"  # from upstream=openssl-3.0.7-27.el9.src.rpm
    assert rpm.distro == "rhel-9.4"
    assert Component.objects.get(name="libssl3").source_name == "openssl"
    assert Component.objects.get(name="python").licenses == ["PSF-2.0"]
    assert result.attestation.summary["tools"] == ["anchore syft 1.18.1"]


def test_cyclonedx_1_6_names_go_and_npm_packages_in_full():
    result = sbom_import(image=make_image(), content=data("portal__cyclonedx-1.6.json"))

    assert result.spec_version == "1.6"
    assert result.components == 4
    go = Component.objects.get(type="golang")
    assert (go.namespace, go.name) == ("golang.org/x", "net")
    assert go.source_name == "golang.org/x/net"
    npm = Component.objects.get(type="npm")
    assert npm.purl == "pkg:npm/%40angular/core@19.0.5"
    assert npm.source_name == "@angular/core"
    assert Component.objects.get(name="busybox").distro == "alpine-3.21.2"


def test_spdx_2_2_from_syft_names_the_same_components_as_its_cyclonedx():
    image_a = make_image(DIGEST_A)
    image_b = make_image(DIGEST_B)
    sbom_import(image=image_a, content=data("guac__alpine-cyclonedx.json"))

    result = sbom_import(
        image=image_b, content=data("guac__alpine-spdx.schema-valid.json")
    )

    assert (result.format, result.spec_version) == ("spdx", "2.2")
    assert result.attestation.kind == Attestation.Kind.SBOM_SPDX
    assert result.attestation.media_type == "application/spdx+json"
    assert result.components == 14
    # Same purls in both formats: the rows are shared, only links are new.
    assert (result.components_created, result.links_created) == (0, 14)
    assert Component.objects.count() == 14
    busybox = Component.objects.get(name="busybox")
    assert busybox.appearances.filter(digest=image_b).exists()


def test_spdx_2_3_skips_the_image_it_describes():
    result = sbom_import(
        image=make_image(CSAF_IMAGE),
        content=data("vexctl__examples_csaf_sbom.spdx.schema-valid.json"),
    )

    assert result.spec_version == "2.3"
    assert result.components == 2
    assert set(Component.objects.values_list("purl", flat=True)) == {
        "pkg:generic/component1@1.3.4",
        "pkg:generic/component2@2.39.0-r1",
    }
    assert result.attestation.summary["subject"]["name"] == "image"
    assert Component.objects.get(name="component2").licenses == ["Apache-2.0"]


def test_importing_the_same_document_twice_is_a_no_op(media):
    image = make_image()
    content = data("guac__alpine-cyclonedx.json")
    first = sbom_import(image=image, content=content)
    before = counts()

    again = sbom_import(image=image, content=content)

    assert not again.created
    assert again.attestation.pk == first.attestation.pk
    assert (again.components_created, again.links_created) == (0, 0)
    assert counts() == before == (1, 14, 14)
    assert len(stored_files(media)) == 1


def test_another_sbom_of_the_same_digest_adds_its_new_components():
    image = make_image()
    first = sbom_import(image=image, content=data("guac__alpine-cyclonedx.json"))
    newer = doc("guac__alpine-cyclonedx.json")
    newer["serialNumber"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    newer["components"].append(
        {
            "type": "library",
            "name": "curl",
            "version": "7.83.1-r3",
            "purl": "pkg:apk/alpine/curl@7.83.1-r3?arch=x86_64&distro=alpine-3.16.2",
        }
    )

    second = sbom_import(image=image, content=dumps(newer))

    assert second.created
    assert (second.components_created, second.links_created) == (1, 1)
    assert Attestation.objects.filter(digest=image).count() == 2
    assert DigestComponent.objects.filter(digest=image).count() == 15
    link = DigestComponent.objects.get(digest=image, component__name="curl")
    assert link.attestation_id == second.attestation.pk
    # Components already there keep the SBOM that first named them.
    link = DigestComponent.objects.get(digest=image, component__name="busybox")
    assert link.attestation_id == first.attestation.pk


# --- Refusals: nothing is written --------------------------------------------------


def alpine_with(change) -> bytes:
    document = copy.deepcopy(doc("guac__alpine-cyclonedx.json"))
    change(document)
    return dumps(document)


def _set(path: list, value):
    def change(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def spdx_with(change) -> bytes:
    document = copy.deepcopy(doc("guac__alpine-spdx.json"))
    change(document)
    return dumps(document)


def _each(key: str, field: str, value):
    def change(document):
        for item in document[key]:
            item[field] = value

    return change


def _purl_refs(change):
    def apply(document):
        for package in document["packages"]:
            for ref in package.get("externalRefs", []):
                if ref["referenceType"] == "purl":
                    change(ref)

    return apply


def nested_components(depth: int) -> bytes:
    component = '{"type": "library", "name": "leaf"}'
    for level in range(depth):
        component = (
            f'{{"type": "library", "name": "n{level}", "components": [{component}]}}'
        )
    return (
        '{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, '
        f'"components": [{component}]}}'
    ).encode()


BAD_DOCUMENTS = {
    "invalid-json": (
        b'{"bomFormat": "CycloneDX", "specVersion": "1.4",',
        "invalid_json",
        "Not valid JSON",
    ),
    "not-utf8": (b'{"name": "\xff\xfe"}', "invalid_json", "not UTF-8"),
    "nan": (b'{"bomFormat": "CycloneDX", "version": NaN}', "invalid_json", "NaN"),
    "empty": (b"  \n", "invalid_json", "empty"),
    "cyclonedx-bad-enum": (
        alpine_with(_set(["components", 3, "type"], "nope")),
        "schema",
        'Not valid CycloneDX 1.4 at $.components[3].type: "nope" is not one of',
    ),
    "cyclonedx-missing-required": (
        alpine_with(lambda d: d["components"][2].pop("name")),
        "schema",
        'at $.components[2]: "name" is a required property',
    ),
    # What the portal reads, broken: refused even where the rest of the
    # document only deviates in fields the portal does not read.
    "cyclonedx-components-not-a-list": (
        alpine_with(_set(["components"], {"busybox": "1.35.0-r17"})),
        "schema",
        'Not valid CycloneDX 1.4 at $.components: {"busybox":"1.35.0-r17"} is not '
        'of type "array"',
    ),
    "cyclonedx-component-not-an-object": (
        alpine_with(_set(["components", 4], "busybox")),
        "schema",
        'at $.components[4]: "busybox" is not of type "object"',
    ),
    "cyclonedx-purl-not-a-string": (
        alpine_with(_set(["components", 4, "purl"], 42)),
        "schema",
        'at $.components[4].purl: 42 is not of type "string"',
    ),
    "cyclonedx-versions-not-strings": (
        alpine_with(_each("components", "version", 1)),
        "schema",
        'at $.components[0].version: 1 is not of type "string" (15 components '
        "share this problem)",
    ),
    "cyclonedx-license-not-an-object": (
        alpine_with(_set(["components", 2, "licenses", 0, "license"], "MIT")),
        "schema",
        'at $.components[2].licenses[0].license: "MIT" is not of type "object"',
    ),
    "cyclonedx-nested-component-purl-not-a-string": (
        alpine_with(
            _set(
                ["components", 4, "components"],
                [{"type": "library", "name": "inner", "purl": ["pkg:npm/x@1"]}],
            )
        ),
        "schema",
        "at $.components[4].components[0].purl:",
    ),
    "cyclonedx-subject-version-not-a-string": (
        alpine_with(_set(["metadata", "component", "version"], {"sha256": "cbaa"})),
        "schema",
        'at $.metadata.component.version: {"sha256":"cbaa"} is not of type "string"',
    ),
    "cyclonedx-tools-not-objects": (
        alpine_with(_set(["metadata", "tools"], ["syft 0.58.0"])),
        "schema",
        'at $.metadata.tools[0]: "syft 0.58.0" is not of type "object"',
    ),
    "cyclonedx-purls-that-do-not-parse": (
        alpine_with(
            lambda d: [
                c.update(purl="alpine/" + c["name"]) for c in d["components"][:3]
            ]
        ),
        "invalid_purl",
        "$.components[0].purl: not a package URL (purl is missing the required "
        "\"pkg\" scheme component: 'alpine/alpine-baselayout') (3 components "
        "share this problem).",
    ),
    "spdx-versions-not-strings": (
        spdx_with(_each("packages", "versionInfo", 3)),
        "schema",
        'Not valid SPDX 2.2 at $.packages[0].versionInfo: 3 is not of type "string" '
        "(14 packages share this problem)",
    ),
    "spdx-package-without-name": (
        spdx_with(lambda d: d["packages"][2].pop("name")),
        "schema",
        'Not valid SPDX 2.2 at $.packages[2]: "name" is a required property',
    ),
    "spdx-package-without-spdxid": (
        spdx_with(lambda d: d["packages"][5].pop("SPDXID")),
        "schema",
        'at $.packages[5]: "SPDXID" is a required property',
    ),
    "spdx-purl-reference-not-a-string": (
        spdx_with(_purl_refs(lambda ref: ref.update(referenceLocator=None))),
        "schema",
        'null is not of type "string" (14 externalRefs share this problem)',
    ),
    "spdx-relationship-without-its-element": (
        spdx_with(lambda d: d["relationships"][1].pop("relatedSpdxElement")),
        "schema",
        'at $.relationships[1]: "relatedSpdxElement" is a required property',
    ),
    "spdx-without-creation-info": (
        spdx_with(lambda d: d.pop("creationInfo")),
        "schema",
        'at $: "creationInfo" is a required property',
    ),
    "spdx-packages-not-a-list": (
        spdx_with(_set(["packages"], "none")),
        "schema",
        'at $.packages: "none" is not of type "array"',
    ),
    "spdx-without-packages": (
        spdx_with(lambda d: d.pop("packages")),
        "schema",
        'Not an SBOM this portal reads: the SPDX 2.2 document has no "packages".',
    ),
    "spdx-purls-that-do-not-parse": (
        spdx_with(_purl_refs(lambda ref: ref.update(referenceLocator="pkg:apk"))),
        "invalid_purl",
        "$.packages[0].externalRefs[6].referenceLocator: not a package URL "
        "(purl is missing the required type component: 'pkg:apk') (14 packages "
        "share this problem).",
    ),
    "spdx-3-json-ld": (
        json.dumps(
            {
                "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
                "@graph": [{"type": "SpdxDocument", "rootElement": ["urn:x"]}],
            }
        ).encode(),
        "unsupported_version",
        "SPDX 3 (JSON-LD) is not supported; the portal reads SPDX 2.2 and 2.3 "
        "JSON and CycloneDX JSON 1.4, 1.5, 1.6 and 1.7.",
    ),
    "spdx-without-spdx-version": (
        spdx_with(lambda d: d.pop("spdxVersion")),
        "unsupported_version",
        'An SPDX document without "spdxVersion"',
    ),
    "components-nested-too-deep": (
        nested_components(40),
        "schema",
        "Components nest deeper than 32 levels",
    ),
    "json-nested-too-deep": (
        nested_components(3000),
        "invalid_json",
        "nested too deeply: arrays and objects 6,003 levels deep; the limit is 100",
    ),
    "invalid-purl": (
        alpine_with(_set(["components", 0, "purl"], "not-a-purl")),
        "invalid_purl",
        "$.components[0].purl: not a package URL",
    ),
    "purl-name-too-long": (
        alpine_with(_set(["components", 0, "purl"], "pkg:generic/" + "x" * 300)),
        "invalid_purl",
        "the name is longer than 255 characters",
    ),
    "unknown-format-openvex": (
        b'{"@context": "https://openvex.dev/ns/v0.2.0", "statements": []}',
        "unknown_format",
        "Not an SBOM",
    ),
    "unknown-format-provenance": (
        (TESTDATA / "guac__oci-dsse-att.json").read_bytes(),
        "unknown_format",
        "Not an SBOM",
    ),
    "unknown-format-array": (b"[]", "unknown_format", "Not an SBOM"),
    "xml": (
        b'<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.4"/>',
        "unknown_format",
        "XML",
    ),
    "cyclonedx-1.3": (
        alpine_with(_set(["specVersion"], "1.3")),
        "unsupported_version",
        "CycloneDX '1.3' is not supported; use CycloneDX 1.4, 1.5, 1.6 or 1.7.",
    ),
    "spdx-version-not-a-string": (
        b'{"spdxVersion": ["SPDX-2.3"]}',
        "unsupported_version",
        "is not supported; use SPDX-2.2 or SPDX-2.3 JSON",
    ),
    "spdx-2.1": (
        b'{"spdxVersion": "SPDX-2.1", "SPDXID": "SPDXRef-DOCUMENT"}',
        "unsupported_version",
        "'SPDX-2.1' is not supported",
    ),
}


@pytest.mark.parametrize("name", BAD_DOCUMENTS)
def test_a_bad_document_is_refused_and_nothing_is_written(name, media):
    content, code, message = BAD_DOCUMENTS[name]
    image = make_image()

    with pytest.raises(ValidationError) as exc:
        sbom_import(image=image, content=content)

    assert refusal(exc)[0] == code
    assert message in refusal(exc)[1]
    assert counts() == (0, 0, 0)
    assert stored_files(media) == []


# --- Deviations the portal reads past: imported, with warnings ---------------------

TOLERATED = {
    "cyclonedx-unknown-property": (
        alpine_with(_set(["components", 3, "licenses", 0, "license", "bogus"], 1)),
        [
            "$.components[3].licenses[0].license: 'bogus' is not a property the "
            "schema defines here"
        ],
    ),
    "cyclonedx-bad-url": (
        alpine_with(
            _set(["components", 0, "externalReferences", 0, "url"], "http://a b")
        ),
        [
            '$.components[0].externalReferences[0].url: "http://a b" is not a '
            '"iri-reference"'
        ],
    ),
    "cyclonedx-license-ids-newer-than-the-schema": (
        alpine_with(
            lambda d: [
                c["licenses"][0]["license"].update(id="Not-On-The-List-1.0")
                for c in d["components"][:3]
            ]
        ),
        [
            "3 licenses have a license.id that is not one of the values the schema "
            "lists (e.g. $.components[0].licenses[0].license.id)"
        ],
    ),
    "cyclonedx-unused-field-of-the-wrong-type-everywhere": (
        alpine_with(_each("components", "description", 7)),
        [
            "15 components have a description that is not of type string (e.g. "
            "$.components[0].description)"
        ],
    ),
    "cyclonedx-serial-number-not-a-urn": (
        alpine_with(_set(["serialNumber"], "run-42")),
        ['$.serialNumber: "run-42" does not match "^urn:uuid:'],
    ),
    "spdx-2.3-packages-without-download-location": (
        data("vexctl__examples_csaf_sbom.spdx.json"),
        ["2 packages lack downloadLocation (e.g. $.packages[1])"],
    ),
    "spdx-2.2-without-checksums-or-copyright-text": (
        data("guac__alpine-spdx.json"),
        [
            "75 files lack checksums (e.g. $.files[0])",
            "75 files lack copyrightText (e.g. $.files[0])",
            "75 files lack licenseInfoInFiles (e.g. $.files[0])",
            "14 packages lack copyrightText (e.g. $.packages[0])",
        ],
    ),
    "spdx-purpose-and-checksum-algorithm-the-schema-does-not-list": (
        spdx_with(
            lambda d: d["packages"][0].update(
                primaryPackagePurpose="CONTAINER-IMAGE",
                checksums=[{"algorithm": "SHA3-256", "checksumValue": "ab"}],
            )
        ),
        [
            '$.packages[0].checksums[0].algorithm: "SHA3-256" is not one of',
            # SPDX 2.2 has no primaryPackagePurpose yet.
            "$.packages[0]: 'primaryPackagePurpose' is not a property the schema "
            "defines here",
        ],
    ),
}


@pytest.mark.parametrize("name", TOLERATED)
def test_a_deviation_the_portal_reads_past_is_imported_with_a_warning(name):
    content, expected = TOLERATED[name]
    # The vexctl SBOM is about its own image.
    image = make_image(CSAF_IMAGE if "download-location" in name else DIGEST_A)

    result = sbom_import(image=image, content=content)

    warnings = [w["message"] for w in result.attestation.warnings]
    for message in expected:
        assert any(w.startswith(message) for w in warnings), (message, warnings)
    assert result.warnings == tuple(warnings)
    assert result.components > 0


def test_a_valid_document_has_no_warnings():
    result = sbom_import(
        image=make_image(), content=data("guac__alpine-cyclonedx.json")
    )

    assert result.attestation.warnings == []
    assert result.warnings == ()


def test_many_kinds_of_deviation_are_kept_as_fifty_groups():
    document = doc("guac__alpine-cyclonedx.json")
    for i in range(60):
        document["components"][0][f"x-{i:02d}"] = i

    result = sbom_import(image=make_image(), content=dumps(document))

    warnings = result.attestation.warnings
    assert len(warnings) == 50
    assert warnings[-1] == {
        "message": "11 more kinds of deviation from the schema, in 11 places",
        "count": 11,
        "path": "$.components[0]",
    }


def test_an_oversize_document_is_refused_before_parsing(settings):
    settings.EVIDENCE_MAX_BYTES = 1000
    image = make_image()

    for content in (data("guac__alpine-cyclonedx.json"), b"{" * 1001):
        with pytest.raises(ValidationError) as exc:
            sbom_import(image=image, content=content)
        code, message = refusal(exc)
        assert code == "too_large"  # not invalid_json: the size came first
        assert "the limit is 1,000 bytes" in message
    assert counts() == (0, 0, 0)


def test_a_refused_sbom_leaves_earlier_imports_untouched(media):
    image = make_image()
    sbom_import(image=image, content=data("portal__cyclonedx-1.6.json"))
    before = counts()

    with pytest.raises(ValidationError):
        sbom_import(
            image=image,
            content=alpine_with(_set(["components", 13, "purl"], "pkg:")),
        )

    assert counts() == before
    assert len(stored_files(media)) == 1


# --- The command -------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_sbom", *args, stdout=out)
    return out.getvalue()


def test_import_sbom_command_attaches_and_reports():
    make_image()
    path = TESTDATA / "guac__alpine-cyclonedx.json"

    output = run(DIGEST_A, str(path))

    assert "Attached CycloneDX 1.4 SBOM to " + DIGEST_A in output
    assert "14 components (14 new to the catalog, 14 new to this digest)" in output
    assert "1 without a purl skipped" in output
    assert "Its subject is this build." in output
    # The digest bare, in uppercase hex.
    assert "already attached" in run(DIGEST_A[7:].upper(), str(path))
    assert counts() == (1, 14, 14)


@pytest.mark.parametrize(
    ("digest", "file", "message"),
    [
        ("sha256:nothex", "guac__alpine-cyclonedx.json", "Not a sha256 digest"),
        (DIGEST_B, "guac__alpine-cyclonedx.json", f"No image digest {DIGEST_B}"),
        (DIGEST_A, "no-such-file.json", "Cannot read"),
        (DIGEST_A, "guac__oci-kubectl-linux-amd64-in-toto.json", "Not an SBOM"),
    ],
)
def test_import_sbom_command_refuses_bad_input_and_writes_nothing(
    digest, file, message, media
):
    make_image()

    with pytest.raises(CommandError) as exc:
        run(digest, str(TESTDATA / file))

    assert message in str(exc.value)
    assert counts() == (0, 0, 0)
    assert stored_files(media) == []


def test_import_sbom_command_refuses_an_oversize_file_unread(settings, tmp_path):
    settings.EVIDENCE_MAX_BYTES = 100
    make_image()
    path = tmp_path / "big.json"
    path.write_bytes(b"{" * 101)

    with pytest.raises(CommandError) as exc:
        run(DIGEST_A, str(path))

    assert "101 bytes; the limit is 100 bytes" in str(exc.value)
    assert counts() == (0, 0, 0)


# A command run from argv closes the database connections when it ends, which a
# test wrapped in a transaction would not survive on PostgreSQL.
@pytest.mark.django_db(transaction=True)
def test_import_sbom_command_exits_non_zero_on_invalid_json(tmp_path, capsys):
    make_image()
    path = tmp_path / "broken.json"
    path.write_bytes(b'{"bomFormat": ')

    with pytest.raises(SystemExit) as exc:
        ManagementUtility(["manage.py", "import_sbom", DIGEST_A, str(path)]).execute()

    assert exc.value.code == 1
    assert "Not valid JSON" in capsys.readouterr().err
    assert counts() == (0, 0, 0)
