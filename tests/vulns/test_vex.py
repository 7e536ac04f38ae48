"""VEX: import (OpenVEX v0.2.0 and legacy, CycloneDX JSON and XML), authoring in
the admin, and OpenVEX / CycloneDX exports validated against their schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.catalog.services import (
    digest_register,
    repository_upsert,
    series_upsert,
    variant_get_or_create,
)
from apps.vulns.formats.openvex import openvex_schema_errors
from apps.vulns.formats.vex import parse_vex
from apps.vulns.formats.vex_parsed import (
    NO_ACTION_STATED,
    canonical_product,
    image_purl,
    product_target,
)
from apps.vulns.models import VexDocument, VexStatement, Vulnerability
from apps.vulns.selectors import (
    NoVexStatements,
    cyclonedx_vex_export_for_digest,
    openvex_export_for_digest,
    openvex_export_for_repository,
)
from apps.vulns.services import vex_import, vex_statement_author
from tests.factories import UserFactory

TESTDATA = Path(__file__).resolve().parents[2] / "apps" / "vulns" / "testdata" / "vex"
DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32
# The alpine build vexctl's images.vex.json names.
ALPINE_DIGEST = (
    "sha256:f271e74b17ced29b915d351685fd4644785c6d1559dd1f2d4189a5e851ef753a"
)
BUSYBOX_APK = "pkg:apk/alpine/busybox@1.37.0-r19?os_name=alpine&os_version=3.22"

DHI = {
    "dhi/dhi-alpine-base.vex.json": ("alpine-base", 2),
    "dhi/dhi-busybox.vex.json": ("busybox", 2),
    "dhi/dhi-debian-base.vex.json": ("debian-base", 53),
    "dhi/dhi-pkg-openssl.vex.json": ("pkg-openssl", 14),
    "dhi/dhi-static.vex.json": ("static", 8),
}


def read(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def counts() -> tuple[int, int, int]:
    return (
        VexDocument.objects.count(),
        VexStatement.objects.count(),
        Vulnerability.objects.count(),
    )


def refusal(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    """(code, message) of a refused document."""
    error = exc.value.error_dict["document"][0]
    return error.code, error.messages[0]


def register(name: str, digest: str, *, series: str = "1") -> object:
    repository = repository_upsert(name=name, category="base")
    variant = variant_get_or_create(
        series=series_upsert(repository=repository, name=series)
    )
    return digest_register(
        variant=variant, digest=digest, built_at=datetime(2025, 9, 1, tzinfo=UTC)
    )


def openvex(statements: list[dict], **document) -> bytes:
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.com/vex/test",
            "author": "Test",
            "timestamp": "2025-01-01T00:00:00Z",
            "version": 1,
            "statements": statements,
            **document,
        }
    ).encode()


def cyclonedx(vulnerabilities: list[dict], **bom) -> bytes:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "version": 1,
            "vulnerabilities": vulnerabilities,
            **bom,
        }
    ).encode()


def expected_keys(document: dict) -> set[tuple[str, str, str]]:
    """(vulnerability, product, subcomponent) the way the brief counts them."""
    keys = set()
    for statement in document["statements"]:
        for product in statement["products"]:
            subs = [s["@id"] for s in product.get("subcomponents", [])] or [""]
            # Two spellings of one image are one product (vex.canonical_product).
            named = canonical_product(product["@id"])
            keys.update((statement["vulnerability"]["name"], named, s) for s in subs)
    return keys


def stored_keys(document: VexDocument) -> set[tuple[str, str, str]]:
    return set(
        document.statements.values_list(
            "vulnerability__vuln_id", "product", "subcomponent"
        )
    )


@pytest.fixture
def busybox(db):
    return register("busybox", DIGEST_A, series="1.37")


def cdx_errors(document: dict) -> object:
    return JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))


# --------------------------------------------------------------------------
# OpenVEX v0.2.0: Docker Hardened Images' own documents and vexctl's examples
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(DHI))
def test_dhi_openvex_imports_one_statement_per_vulnerability_product_component(name):
    source = json.loads(read(name))
    document = vex_import(content=read(name))

    assert document.format == VexDocument.Format.OPENVEX
    assert document.spec_version == "0.2.0"
    assert document.author == "Docker Hardened Images <dhi@docker.com>"
    assert document.document_id == source["@id"]
    assert document.raw == source
    assert stored_keys(document) == expected_keys(source)
    assert document.statements.count() == len(expected_keys(source))
    assert len(source["statements"]) == DHI[name][1]
    # What the import reports is what the document states, not its rows.
    assert document.statement_count == DHI[name][1]
    # Each row names the statement it comes from (a statement repeated later
    # in the document for the same product and component gives way to it).
    indexes = set(document.statements.values_list("statement_index", flat=True))
    assert indexes <= set(range(DHI[name][1]))
    assert max(indexes) == DHI[name][1] - 1
    vulns = set(document.statements.values_list("vulnerability__vuln_id", flat=True))
    assert vulns == {s["vulnerability"]["name"] for s in source["statements"]}


@pytest.mark.django_db
def test_debian_base_keeps_every_not_affected_justification_and_note():
    document = vex_import(content=read("dhi/dhi-debian-base.vex.json"))
    statement = document.statements.get(
        vulnerability__vuln_id="CVE-2025-62813",
        product="pkg:oci/debian-base",
        subcomponent="pkg:deb/debian/liblz4-1",
    )
    assert statement.status == "not_affected"
    assert (
        statement.justification == "vulnerable_code_cannot_be_controlled_by_adversary"
    )
    assert "lz4/lz4/issues/1667" in statement.status_notes
    assert statement.timestamp == datetime(2025, 10, 25, 14, 37, 19, 272000, tzinfo=UTC)
    assert statement.author == "Docker Hardened Images <dhi@docker.com>"
    assert Vulnerability.objects.filter(vuln_id="CVE-2025-62813").exists()


@pytest.mark.django_db
def test_dhi_products_link_to_the_repository_without_the_dhi_namespace(busybox):
    document = vex_import(content=read("dhi/dhi-busybox.vex.json"))

    # The document names the image twice (pkg:docker/dhi/busybox and
    # pkg:oci/dhi%2Fbusybox): one product, stored once.
    for product in ("pkg:oci/busybox",):
        rows = document.statements.filter(product=product)
        assert rows.count() == 2
        assert {r.repository.name for r in rows} == {"busybox"}
        assert {r.subcomponent for r in rows} == {BUSYBOX_APK}
        # No digest in the product: it covers every build.
        assert all(r.digest is None for r in rows)
    # The package itself as a product names nothing in the catalog.
    assert (
        document.statements.get(
            product=BUSYBOX_APK, vulnerability__vuln_id="CVE-2024-58251"
        ).repository
        is None
    )


@pytest.mark.django_db
def test_a_product_with_a_digest_links_the_build_else_the_repository(busybox):
    unknown = "sha256:" + "c3" * 32
    document = vex_import(
        content=openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2025-0001"},
                    "products": [
                        {"@id": image_purl("busybox", DIGEST_A)},
                        {"@id": f"pkg:oci/busybox@{unknown.replace(':', '%3A')}"},
                        {"@id": DIGEST_A},
                    ],
                    "status": "fixed",
                }
            ]
        )
    )
    by_product = {s.product: s for s in document.statements.all()}
    build = by_product[image_purl("busybox", DIGEST_A)]
    assert (build.digest, build.repository) == (
        busybox,
        busybox.variant.series.repository,
    )
    assert by_product[DIGEST_A].digest == busybox
    # A statement about a build the catalog lacks says nothing about the
    # repository's other builds: it is linked once that build is registered.
    other = by_product[image_purl("busybox", unknown)]
    assert (other.digest, other.repository, other.named_digest) == (None, None, unknown)
    later = register("busybox", unknown, series="1.37")
    other.refresh_from_db()
    assert (other.digest, other.repository) == (
        later,
        busybox.variant.series.repository,
    )


@pytest.mark.django_db
def test_importing_the_same_document_twice_is_a_no_op():
    first = vex_import(content=read("dhi/dhi-static.vex.json"))
    before = counts()
    second = vex_import(content=read("dhi/dhi-static.vex.json"))
    assert second.pk == first.pk
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "status", "products"),
    [
        (
            "vexctl__examples_openvex_demo.vex.json",
            "fixed",
            {
                "pkg:apk/distro/git@2.39.0-r1?arch=armv7",
                "pkg:apk/distro/git@2.39.0-r1?arch=x86_64",
            },
        ),
        ("vexctl__examples_openvex_document1.vex.json", "under_investigation", None),
        ("vexctl__examples_openvex_document2.vex.json", "fixed", None),
        ("vexctl__examples_csaf_openvex.json", "fixed", None),
        (
            "vexctl__pkg_ctl_testdata_templates_oci-vexctl.openvex.json",
            "not_affected",
            {"pkg:oci/vexctl"},
        ),
    ],
)
def test_vexctl_v020_examples_import(name, status, products):
    document = vex_import(content=read(name))
    assert document.spec_version == "0.2.0"
    statements = list(document.statements.all())
    assert {s.status for s in statements} == {status}
    if products:
        assert {s.product for s in statements} == products


@pytest.mark.django_db
def test_within_a_document_the_newest_statement_for_a_key_wins():
    document = vex_import(
        content=openvex(
            [
                {
                    "vulnerability": {"name": "CVE-2025-0002"},
                    "timestamp": "2025-02-01T00:00:00Z",
                    "products": [{"@id": "pkg:oci/app"}],
                    "status": "not_affected",
                    "justification": "component_not_present",
                },
                {
                    "vulnerability": {"name": "CVE-2025-0002"},
                    "timestamp": "2025-01-01T00:00:00Z",
                    "products": [{"@id": "pkg:oci/app"}],
                    "status": "under_investigation",
                },
            ]
        )
    )
    assert list(document.statements.values_list("status", flat=True)) == [
        "not_affected"
    ]


# --------------------------------------------------------------------------
# OpenVEX documents that fail the v0.2.0 schema: refused or taken as legacy
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "vexctl__pkg_ctl_testdata_v020-1.vex.json",
        "vexctl__pkg_ctl_testdata_v020-2.vex.json",
    ],
)
def test_a_v020_document_without_its_timestamp_is_refused_with_the_path(name):
    # They declare v0.2.0, so they are held to it: no lenient path for them.
    with pytest.raises(ValidationError) as exc:
        vex_import(content=read(name))
    code, message = refusal(exc)
    assert code == "schema"
    assert "$: 'timestamp' is a required property" in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_v020_document_with_a_field_outside_the_schema_is_refused():
    with pytest.raises(ValidationError) as exc:
        vex_import(content=read("vexctl__examples_sarif_sample-2vulns.openvex.json"))
    code, message = refusal(exc)
    assert code == "schema"
    assert "$.statements[0]: Additional properties are not allowed" in message
    assert "'statement' was unexpected" in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_an_empty_context_is_an_unknown_format():
    with pytest.raises(ValidationError) as exc:
        vex_import(content=read("guac__open-vex-affected.json"))
    code, message = refusal(exc)
    assert code == "unknown_format"
    assert "@context is ''" in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_legacy_v001_strings_are_normalized():
    document = vex_import(content=read("vexctl__pkg_ctl_testdata_v001-1.vex.json"))
    assert (document.spec_version, document.document_id) == ("0.0.1", "my-vexdoc2")
    statement = document.statements.get()
    assert statement.vulnerability.vuln_id == "CVE-1234-5678"
    assert statement.product == "pkg:apk/wolfi/bash@1.0.0"
    assert statement.status == "under_investigation"
    assert statement.timestamp == datetime(2022, 12, 22, 21, 36, 43, tzinfo=UTC)

    # The same @id, no version and no document timestamp: the later
    # statements make it the newer version, which replaces the first.
    newer = vex_import(content=read("vexctl__pkg_ctl_testdata_v001-2.vex.json"))
    assert newer.pk != document.pk
    assert newer.statements.get().status == "fixed"
    document.refresh_from_db()
    assert (document.superseded_by, document.in_force) == (newer, False)
    with pytest.raises(ValidationError) as refused:
        vex_import(content=read("vexctl__pkg_ctl_testdata_v001-1.vex.json") + b" ")
    assert refused.value.error_dict["document"][0].code == "stale_version"


@pytest.mark.django_db
def test_legacy_statements_without_products_are_kept_and_target_nothing():
    document = vex_import(content=read("vexctl__pkg_ctl_testdata_test.vex.json"))
    rows = {s.vulnerability.vuln_id: s for s in document.statements.all()}
    assert set(rows) == {"CVE-2009-4487", "CVE-2021-44228"}
    assert rows["CVE-2021-44228"].status == "affected"
    assert rows["CVE-2021-44228"].action_statement == "Customers are advised to upgrade"
    assert rows["CVE-2009-4487"].justification == "vulnerable_code_not_in_execute_path"
    assert all(s.product == "" and s.repository is None for s in rows.values())
    # No document version in the legacy file: it is the first.
    assert document.version == 1


@pytest.mark.django_db
def test_legacy_image_products_link_to_a_registered_build():
    alpine = register("alpine", ALPINE_DIGEST)
    document = vex_import(content=read("vexctl__pkg_ctl_testdata_images.vex.json"))
    assert document.statements.count() == 4
    linked = document.statements.get(digest__isnull=False)
    assert linked.digest == alpine
    assert linked.repository.name == "alpine"
    # "nginx" and registry references are not purls: kept, not linked.
    assert document.statements.filter(product="nginx", repository=None).exists()


@pytest.mark.django_db
def test_legacy_justification_and_impact_both_keep_the_justification():
    document = vex_import(content=read("guac__open-vex-not-affected.json"))
    rows = list(document.statements.all())
    assert len(rows) == 2  # two subcomponents of one product
    for row in rows:
        assert row.justification == "inline_mitigations_already_exist"
        assert row.impact_statement == ""
        assert row.status_notes == "Included git is mitigated against CVE-2023-12345 !"


@pytest.mark.django_db
def test_a_legacy_statement_with_a_bad_status_is_refused_with_its_index():
    content = json.dumps(
        {
            "@context": "https://openvex.dev/ns",
            "@id": "legacy",
            "statements": [
                {"vulnerability": "CVE-1", "products": ["x"], "status": "fixed"},
                {"vulnerability": "CVE-2", "products": ["x"], "status": "maybe"},
            ],
        }
    ).encode()
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    code, message = refusal(exc)
    assert code == "schema"
    assert message.startswith("$.statements[1].status: 'maybe' is not one of")
    assert counts() == (0, 0, 0)


# --------------------------------------------------------------------------
# The model's rule: not_affected needs a justification or an impact statement
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_v020_not_affected_statement_without_justification_is_refused():
    fine = {
        "vulnerability": {"name": "CVE-2025-0003"},
        "products": [{"@id": "pkg:oci/app"}],
        "status": "fixed",
    }
    bare = {**fine, "status": "not_affected"}
    with pytest.raises(ValidationError) as exc:
        vex_import(
            content=openvex([fine, fine | {"timestamp": "2025-01-02T00:00:00Z"}, bare])
        )
    code, message = refusal(exc)
    assert code == "schema"
    assert "$.statements[2]: a not_affected statement needs a justification" in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_legacy_not_affected_statement_without_justification_is_refused():
    content = json.dumps(
        {
            "@context": "https://openvex.dev/ns",
            "@id": "legacy",
            "statements": [
                {"vulnerability": "CVE-1", "products": ["x"], "status": "fixed"},
                {"vulnerability": "CVE-2", "products": ["x"], "status": "not_affected"},
            ],
        }
    ).encode()
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    code, message = refusal(exc)
    assert code == "invalid_statement"
    assert message.startswith("$.statements[1]: a not_affected statement needs")
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_cyclonedx_not_affected_analysis_without_reason_is_refused():
    content = cyclonedx(
        [
            {
                "id": "CVE-2025-0004",
                "analysis": {"state": "in_triage"},
                "affects": [{"ref": "pkg:npm/left-pad@1.0.0"}],
            },
            {
                "id": "CVE-2025-0005",
                "analysis": {"state": "not_affected"},
                "affects": [{"ref": "pkg:npm/left-pad@1.0.0"}],
            },
        ]
    )
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    code, message = refusal(exc)
    assert code == "invalid_statement"
    assert message.startswith("$.vulnerabilities[1]: a not_affected statement needs")
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_legacy_affected_without_action_gets_the_stated_placeholder():
    content = json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.0.1",
            "@id": "legacy",
            "statements": [
                {"vulnerability": "CVE-9", "products": ["x"], "status": "affected"}
            ],
        }
    ).encode()
    statement = vex_import(content=content).statements.get()
    assert statement.action_statement == NO_ACTION_STATED


# --------------------------------------------------------------------------
# CycloneDX VEX
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_cyclonedx_not_affected_maps_state_and_justification():
    document = vex_import(content=read("guac__cyclonedx-unaffected-vex.json"))
    assert (document.format, document.spec_version) == ("cyclonedx", "1.4")
    statement = document.statements.get()
    assert statement.vulnerability.vuln_id == "CVE-2020-25649"
    # No metadata.component: the component affects[] names is the product.
    assert statement.product == (
        "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar"
    )
    assert statement.subcomponent == ""
    assert statement.status == "not_affected"
    assert statement.justification == "vulnerable_code_not_in_execute_path"
    assert statement.status_notes.startswith("Automated dataflow analysis")
    assert "CycloneDX response: will_not_fix, update." in statement.status_notes
    assert statement.timestamp == datetime(2021, 10, 26, tzinfo=UTC)


@pytest.mark.django_db
def test_cyclonedx_exploitable_is_affected_with_its_detail_as_action():
    statement = vex_import(
        content=read("guac__cyclonedx-vex-affected.json")
    ).statements.get()
    assert statement.status == "affected"
    assert statement.product == "product-ABC"  # the BOM's subject, by bom-ref
    assert statement.subcomponent == ""
    assert statement.action_statement.startswith("Versions of Product ABC are affected")


@pytest.mark.django_db
def test_cyclonedx_false_positive_is_not_affected_and_says_so():
    document = vex_import(content=read("guac__cyclonedx-vex-false-positive.json"))
    rows = {s.vulnerability.vuln_id: s for s in document.statements.all()}
    assert {s.status for s in rows.values()} == {"not_affected"}
    assert all("false_positive" in s.status_notes for s in rows.values())
    first = rows["CVE-2024-0002"]
    # The BOM-Link names the subject itself: the whole product.
    assert (first.product, first.subcomponent) == ("test-component-2", "")
    assert first.impact_statement.startswith("Vulnerability was falsely identified")
    second = rows["CVE-2024-0004"]
    assert second.subcomponent == "test-component-2-no-detail"
    assert second.impact_statement  # the constraint holds without a detail
    # The serial number names the BOM across its versions.
    assert document.document_id == "urn:uuid:4e671687-395b-41f5-a30f-a58921a69b80"


@pytest.mark.django_db
def test_cyclonedx_resolved_with_pedigree_is_fixed():
    document = vex_import(
        content=read("guac__cyclonedx-vex-resolved-with-pedigree.json")
    )
    assert set(document.statements.values_list("status", flat=True)) == {"fixed"}
    assert all(
        "resolved_with_pedigree" in s.status_notes for s in document.statements.all()
    )


@pytest.mark.django_db
def test_jfrog_xray_vulnerability_names_its_component_by_bom_ref():
    statement = vex_import(content=read("guac__xray-cdx-vulns.json")).statements.get()
    assert statement.status == "under_investigation"
    assert statement.subcomponent == "pkg:deb/debian:buster:apt@1.8.2.2"
    assert "workaround_available" in statement.status_notes


@pytest.mark.django_db
def test_cyclonedx_without_any_analysis_is_not_vex():
    with pytest.raises(ValidationError) as exc:
        vex_import(content=read("guac__cyclonedx-vex-no-analysis.json"))
    code, message = refusal(exc)
    assert code == "not_vex"
    assert "vulnerabilities[].analysis" in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "justification"),
    [
        ("code_not_present", "vulnerable_code_not_present"),
        ("code_not_reachable", "vulnerable_code_not_in_execute_path"),
        ("requires_configuration", "vulnerable_code_cannot_be_controlled_by_adversary"),
        ("requires_dependency", "vulnerable_code_cannot_be_controlled_by_adversary"),
        ("requires_environment", "vulnerable_code_cannot_be_controlled_by_adversary"),
        ("protected_by_compiler", "inline_mitigations_already_exist"),
        ("protected_at_runtime", "inline_mitigations_already_exist"),
        ("protected_at_perimeter", "inline_mitigations_already_exist"),
        ("protected_by_mitigating_control", "inline_mitigations_already_exist"),
    ],
)
def test_cyclonedx_justifications_map_to_the_nearest_openvex_one(code, justification):
    content = cyclonedx(
        [
            {
                "id": "CVE-2025-0006",
                "analysis": {"state": "not_affected", "justification": code},
                "affects": [{"ref": "pkg:npm/left-pad@1.0.0"}],
            }
        ]
    )
    statement = vex_import(content=content).statements.get()
    assert statement.justification == justification
    # The original code survives where the mapping is many to one.
    lossless = code in {
        "code_not_present",
        "code_not_reachable",
        "requires_environment",
        "protected_by_mitigating_control",
    }
    assert (f"CycloneDX justification: {code}." in statement.status_notes) != lossless


@pytest.mark.django_db
def test_cyclonedx_xml_vex_is_read_safely():
    document = vex_import(content=read("guac__cyclonedx-vex.xml"))
    assert (document.format, document.spec_version) == ("cyclonedx", "1.5")
    statement = document.statements.get()
    assert statement.vulnerability.vuln_id == "CVE-2018-7489"
    assert statement.product == "jackson-databind-2.8.0"
    assert statement.status == "not_affected"
    assert statement.justification == "vulnerable_code_not_in_execute_path"


@pytest.mark.django_db
def test_cyclonedx_xml_with_a_bad_state_is_refused_with_the_path():
    xml = read("guac__cyclonedx-vex.xml").replace(
        b"<state>not_affected</state>", b"<state>maybe</state>"
    )
    with pytest.raises(ValidationError) as exc:
        vex_import(content=xml)
    code, message = refusal(exc)
    assert code == "schema"
    assert "vulnerabilities[0].analysis.state" in message
    assert counts() == (0, 0, 0)


# --------------------------------------------------------------------------
# Bad input: every refusal is clear and leaves nothing behind
# --------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1">
 <vulnerabilities><vulnerability><id>&lol9;</id></vulnerability></vulnerabilities>
</bom>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE bom [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1">
 <vulnerabilities><vulnerability><id>&secret;</id></vulnerability></vulnerabilities>
</bom>"""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        (b'{"statements": [', "invalid_json", "Not valid JSON: Expecting value"),
        (b"", "invalid_json", "empty"),
        (b"\xff\xfe{}", "invalid_json", "not UTF-8"),
        (b"[1, 2]", "unknown_format", "not a JSON object"),
        (b'{"hello": "world"}', "unknown_format", "Unknown format"),
        (
            read("vexctl__examples_openvex_demo.vex.json").replace(b"v0.2.0", b"v0.9"),
            "unsupported_version",
            "Unsupported OpenVEX version",
        ),
        (cyclonedx([], specVersion="1.3"), "unsupported_version", "specVersion '1.3'"),
        (b'{"spdxVersion": "SPDX-2.3"}', "unknown_format", "SBOM, not VEX"),
        (BILLION_LAUGHS, "unsafe_xml", "DTD or entity"),
        (EXTERNAL_ENTITY, "unsafe_xml", "DTD or entity"),
        (b"<bom><unclosed></bom>", "invalid_xml", "Invalid XML"),
        (b"[" * 100_000, "invalid_json", "nested too deeply"),
        (b'{"@context": "https://openvex.dev/ns", "x": NaN}', "invalid_json", "NaN"),
        (b'{"author": "a\\u0000b"}', "invalid_json", "NUL character"),
        (openvex([], version=2**40), "schema", "$.statements: [] should be non-empty"),
        (
            read("vexctl__examples_csaf_openvex.json").replace(
                b'"version": 1', b'"version": 1099511627776'
            ),
            "schema",
            "$.version: at most 2147483647",
        ),
        (b"<html><body/></html>", "unknown_format", "not a CycloneDX bom"),
    ],
    ids=[
        "invalid-json",
        "empty",
        "not-utf8",
        "json-array",
        "unknown-json",
        "unknown-openvex-version",
        "old-cyclonedx",
        "spdx",
        "billion-laughs",
        "external-entity",
        "malformed-xml",
        "deeply-nested-json",
        "nan",
        "nul-character",
        "no-statements",
        "huge-version",
        "other-xml",
    ],
)
def test_bad_input_is_refused_clearly_and_nothing_is_written(content, code, says):
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    assert refusal(exc)[0] == code
    assert says in refusal(exc)[1]
    assert counts() == (0, 0, 0)


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:2]):
            yield from _paths(child, (*path, index))


def _replaced(document, path, value):
    if not path:
        return value
    document = json.loads(json.dumps(document))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("name", "under", "values"),
    [
        ("vexctl__pkg_ctl_testdata_images.vex.json", (), [None, 1, "x", [], {}, [1]]),
        ("guac__open-vex-not-affected.json", (), [None, 1, "x", [], {}, [1], [[]]]),
        ("dhi/dhi-alpine-base.vex.json", (), [None, 1, "x", [], {}, [1]]),
        ("guac__xray-cdx-vulns.json", ("vulnerabilities",), [None, 1, "x", [1], {}]),
        (
            "guac__cyclonedx-unaffected-vex.json",
            ("vulnerabilities", 0, "affects"),
            [None, 1, "x", [1], {}, [{}]],
        ),
    ],
)
def test_a_document_bent_out_of_shape_is_refused_never_crashes(name, under, values):
    # Every value in the document replaced by wrong types, one at a time: the
    # parser either reads it or refuses it; it never fails another way.
    original = json.loads(read(name))
    refused = 0
    for path in _paths(original):
        if path[: len(under)] != under:
            continue
        for value in values:
            bent = json.dumps(_replaced(original, path, value)).encode()
            try:
                parse_vex(bent, max_bytes=1_000_000)
            except ValidationError:
                refused += 1
    assert refused > 0


@pytest.mark.django_db
def test_deeply_nested_components_are_refused_not_a_crash():
    # Valid JSON a few hundred levels deep, written out by hand: json.dumps
    # itself would give up first.
    depth = 400
    nested = '{"type": "library", "name": "x", "components": [' * depth
    nested += '{"type": "library", "name": "x"}' + "]}" * depth
    content = (
        '{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, '
        f'"components": [{nested}], "vulnerabilities": [{{"id": "CVE-1", '
        '"analysis": {"state": "in_triage"}, "affects": [{"ref": "x"}]}]}'
    ).encode()
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    code, message = refusal(exc)
    # Refused by the bounded reader before a byte is decoded.
    assert code == "invalid_json"
    assert "nested too deeply" in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_cyclonedx_schema_violation_names_its_path():
    content = cyclonedx(
        [{"id": "CVE-1", "analysis": {"state": "maybe"}, "affects": [{"ref": "x"}]}]
    )
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    code, message = refusal(exc)
    assert code == "schema"
    assert "$.vulnerabilities[0].analysis.state" in message


@pytest.mark.django_db
def test_a_document_over_the_size_limit_is_refused_before_parsing(settings):
    content = read("dhi/dhi-static.vex.json")
    settings.EVIDENCE_MAX_BYTES = len(content) - 1
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    code, message = refusal(exc)
    assert code == "too_large"
    assert f"limit is {len(content) - 1:,}" in message
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_refused_document_leaves_known_vulnerabilities_untouched():
    vex_import(content=read("dhi/dhi-busybox.vex.json"))
    before = counts()
    broken = json.loads(read("dhi/dhi-debian-base.vex.json"))
    broken["statements"][52]["status"] = "maybe"  # the last of 53
    with pytest.raises(ValidationError) as exc:
        vex_import(content=json.dumps(broken).encode())
    assert "$.statements[52].status" in refusal(exc)[1]
    assert counts() == before


# --------------------------------------------------------------------------
# Authoring
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_authored_statements_share_one_document_per_repository(busybox):
    staff = UserFactory(is_staff=True)
    repository = busybox.variant.series.repository
    first = vex_statement_author(
        author=staff,
        vulnerability_id="CVE-2025-1000",
        repository=repository,
        subcomponent=BUSYBOX_APK,
        status="not_affected",
        justification="vulnerable_code_not_in_execute_path",
    )
    second = vex_statement_author(
        author=staff,
        vulnerability_id="CVE-2025-1001",
        image=busybox,
        status="affected",
        action_statement="Update to the 2025-10 build.",
    )
    other = vex_statement_author(
        author=staff,
        vulnerability_id="CVE-2025-1000",
        image=register("nginx", DIGEST_B),
        status="fixed",
    )

    assert first.document == second.document != other.document
    first.document.refresh_from_db()
    assert first.document.format == VexDocument.Format.AUTHORED
    assert first.document.version == 2
    assert first.product == "pkg:oci/busybox"
    assert (first.repository, first.digest) == (repository, None)
    assert second.product == image_purl("busybox", DIGEST_A)
    assert (second.repository, second.digest) == (repository, busybox)
    assert first.author == staff.email
    assert Vulnerability.objects.filter(vuln_id="CVE-2025-1001").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"status": "not_affected"}, "justification", "needs a justification"),
        (
            {
                "status": "not_affected",
                "justification": "component_not_present",
                "impact_statement": "Not shipped.",
            },
            "impact_statement",
            "not both",
        ),
        ({"status": "affected"}, "action_statement", "needs an action statement"),
        (
            {"status": "fixed", "subcomponent": "openssl 3"},
            "subcomponent",
            "package URL",
        ),
        ({"status": "fixed", "vulnerability_id": ""}, "vulnerability_id", "Name the"),
        ({"status": "done"}, "status", "Choose one of"),
        (
            {"status": "fixed", "repository": None},
            "repository",
            "Choose the repository",
        ),
    ],
)
def test_authoring_refuses_what_openvex_would_not_accept(busybox, fields, field, says):
    arguments = {
        "author": UserFactory(is_staff=True),
        "vulnerability_id": "CVE-2025-1002",
        "repository": busybox.variant.series.repository,
        **fields,
    }
    with pytest.raises(ValidationError) as exc:
        vex_statement_author(**arguments)
    assert says in " ".join(exc.value.message_dict[field])
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_authoring_refuses_a_digest_of_another_repository(busybox):
    nginx = repository_upsert(name="nginx", category="web")
    with pytest.raises(ValidationError) as exc:
        vex_statement_author(
            author=None,
            vulnerability_id="CVE-2025-1003",
            repository=nginx,
            image=busybox,
            status="fixed",
        )
    assert "is a build of busybox" in exc.value.message_dict["repository"][0]


# --------------------------------------------------------------------------
# The admin: staff author statements through the service
# --------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_staff_author_a_statement_in_the_admin(staff_client, busybox):
    url = reverse("admin:vulns_vexstatement_add")
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(
        url,
        {
            "vulnerability_id": "CVE-2025-2000",
            "repository": "",
            "image_digest": DIGEST_A,
            "subcomponent": BUSYBOX_APK,
            "status": "not_affected",
            "justification": "vulnerable_code_not_present",
            "impact_statement": "",
            "action_statement": "",
            "status_notes": "Built without the applet.",
        },
    )
    assert response.status_code == 302
    statement = VexStatement.objects.get()
    assert statement.document.format == VexDocument.Format.AUTHORED
    assert statement.digest == busybox
    assert statement.product == image_purl("busybox", DIGEST_A)
    assert statement.status_notes == "Built without the applet."
    # The admin's view page and lists show it, read-only.
    view = reverse("admin:vulns_vexstatement_change", args=[statement.pk])
    page = staff_client.get(view)
    assert page.status_code == 200
    assert b"CVE-2025-2000" in page.content
    assert (
        staff_client.get(reverse("admin:vulns_vexstatement_changelist")).status_code
        == 200
    )
    assert (
        staff_client.get(reverse("admin:vulns_vexdocument_changelist")).status_code
        == 200
    )
    document_page = reverse(
        "admin:vulns_vexdocument_change", args=[statement.document_id]
    )
    assert staff_client.get(document_page).status_code == 200
    delete = reverse("admin:vulns_vexstatement_delete", args=[statement.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert VexStatement.objects.count() == 1


@pytest.mark.django_db
def test_the_admin_shows_what_is_wrong_and_writes_nothing(staff_client, busybox):
    response = staff_client.post(
        reverse("admin:vulns_vexstatement_add"),
        {
            "vulnerability_id": "CVE-2025-2001",
            "repository": busybox.variant.series.repository.pk,
            "image_digest": "",
            "subcomponent": "",
            "status": "not_affected",
            "justification": "",
            "impact_statement": "",
            "action_statement": "",
            "status_notes": "",
        },
    )
    assert response.status_code == 200
    assert b"needs a justification or an impact statement" in response.content
    assert counts() == (0, 0, 0)

    response = staff_client.post(
        reverse("admin:vulns_vexstatement_add"),
        {
            "vulnerability_id": "CVE-2025-2001",
            "image_digest": "sha256:" + "0" * 64,
            "status": "fixed",
        },
    )
    assert response.status_code == 200
    assert b"No build has this digest" in response.content
    assert counts() == (0, 0, 0)


# --------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------


@pytest.fixture
def busybox_vex(busybox):
    """DHI's busybox VEX (about every build) plus a newer word about one build."""
    vex_import(content=read("dhi/dhi-busybox.vex.json"))
    vex_statement_author(
        author=None,
        vulnerability_id="CVE-2025-46394",
        image=busybox,
        subcomponent=BUSYBOX_APK,
        status="not_affected",
        justification="vulnerable_code_not_in_execute_path",
        timestamp=datetime(2025, 9, 2, tzinfo=UTC),
    )
    return busybox


@pytest.mark.django_db
def test_openvex_export_for_a_digest_validates_and_says_what_is_in_force(busybox_vex):
    document = openvex_export_for_digest(image=busybox_vex)

    assert openvex_schema_errors(document) == []
    product = image_purl("busybox", DIGEST_A)
    assert product == f"pkg:oci/busybox@{DIGEST_A}"
    by_vuln = {s["vulnerability"]["name"]: s for s in document["statements"]}
    assert set(by_vuln) == {"CVE-2024-58251", "CVE-2025-46394"}
    # DHI's word for the repository, shown as this build.
    assert by_vuln["CVE-2024-58251"]["status"] == "under_investigation"
    assert by_vuln["CVE-2024-58251"]["products"] == [
        {"@id": product, "subcomponents": [{"@id": BUSYBOX_APK}]}
    ]
    # The newer statement about this build replaces DHI's older one.
    assert by_vuln["CVE-2025-46394"]["status"] == "not_affected"
    assert by_vuln["CVE-2025-46394"]["justification"] == (
        "vulnerable_code_not_in_execute_path"
    )
    assert document["timestamp"] == "2025-09-02T00:00:00Z"
    assert document["@context"] == "https://openvex.dev/ns/v0.2.0"


@pytest.mark.django_db
def test_openvex_export_is_deterministic_and_its_id_follows_its_content(busybox_vex):
    first = openvex_export_for_digest(image=busybox_vex)
    assert json.dumps(openvex_export_for_digest(image=busybox_vex)) == json.dumps(first)
    names = [s["vulnerability"]["name"] for s in first["statements"]]
    assert names == sorted(names)

    vex_statement_author(
        author=None,
        vulnerability_id="CVE-2025-9999",
        image=busybox_vex,
        status="fixed",
    )
    changed = openvex_export_for_digest(image=busybox_vex)
    assert changed["@id"] != first["@id"]
    assert changed["timestamp"] > first["timestamp"]


@pytest.mark.django_db
def test_openvex_export_round_trips_through_import(busybox_vex):
    exported = openvex_export_for_digest(image=busybox_vex)
    document = vex_import(content=json.dumps(exported).encode())

    expanded = {
        (
            s["vulnerability"]["name"],
            product["@id"],
            sub["@id"],
            s["status"],
            s.get("justification", ""),
            s.get("impact_statement", ""),
            s.get("action_statement", ""),
            s.get("status_notes", ""),
            datetime.fromisoformat(s["timestamp"]),
        )
        for s in exported["statements"]
        for product in s["products"]
        for sub in product.get("subcomponents") or [{"@id": ""}]
    }
    imported = set(
        document.statements.values_list(
            "vulnerability__vuln_id",
            "product",
            "subcomponent",
            "status",
            "justification",
            "impact_statement",
            "action_statement",
            "status_notes",
            "timestamp",
        )
    )
    assert imported == expanded
    assert set(document.statements.values_list("digest", flat=True)) == {busybox_vex.pk}
    # Exporting again after the round trip gives the very same document.
    assert openvex_export_for_digest(image=busybox_vex) == exported


@pytest.mark.django_db
def test_openvex_export_for_a_repository_names_builds_and_the_repository(busybox_vex):
    document = openvex_export_for_repository(
        repository=busybox_vex.variant.series.repository
    )
    assert openvex_schema_errors(document) == []
    products = {
        product["@id"] for s in document["statements"] for product in s["products"]
    }
    assert products == {"pkg:oci/busybox", image_purl("busybox", DIGEST_A)}
    # The repository-wide statements keep their own status for every build.
    statuses = {
        (s["vulnerability"]["name"], p["@id"]): s["status"]
        for s in document["statements"]
        for p in s["products"]
    }
    assert statuses[("CVE-2025-46394", "pkg:oci/busybox")] == "under_investigation"
    assert statuses[("CVE-2025-46394", image_purl("busybox", DIGEST_A))] == (
        "not_affected"
    )


@pytest.mark.django_db
def test_a_large_real_document_exports_valid_openvex_and_cyclonedx():
    image = register("debian-base", DIGEST_B)
    source = json.loads(read("dhi/dhi-debian-base.vex.json"))
    vex_import(content=read("dhi/dhi-debian-base.vex.json"))
    vulns = {s["vulnerability"]["name"] for s in source["statements"]}
    openvex_document = openvex_export_for_digest(image=image)
    assert openvex_schema_errors(openvex_document) == []
    assert {s["vulnerability"]["name"] for s in openvex_document["statements"]} == vulns
    cdx = cyclonedx_vex_export_for_digest(image=image)
    assert cdx_errors(cdx) is None
    assert {v["id"] for v in cdx["vulnerabilities"]} == vulns


@pytest.mark.django_db
def test_cyclonedx_export_validates_and_refers_to_its_components(busybox_vex):
    vex_statement_author(
        author=None,
        vulnerability_id="CVE-2025-3000",
        image=busybox_vex,
        status="affected",
        action_statement="Update to the next build.",
        status_notes="Exploitable through the httpd applet.",
    )
    document = cyclonedx_vex_export_for_digest(image=busybox_vex)

    assert cdx_errors(document) is None
    assert document["specVersion"] == "1.6"
    subject = document["metadata"]["component"]
    assert subject["purl"] == subject["bom-ref"] == image_purl("busybox", DIGEST_A)
    refs = {c["bom-ref"] for c in document["components"]} | {subject["bom-ref"]}
    by_id = {v["id"]: v for v in document["vulnerabilities"]}
    assert all(a["ref"] in refs for v in by_id.values() for a in v["affects"])
    assert by_id["CVE-2024-58251"]["analysis"]["state"] == "in_triage"
    assert by_id["CVE-2025-46394"]["analysis"]["state"] == "not_affected"
    assert by_id["CVE-2025-46394"]["analysis"]["justification"] == "code_not_reachable"
    affected = by_id["CVE-2025-3000"]
    assert affected["analysis"]["state"] == "exploitable"
    assert affected["recommendation"] == "Update to the next build."
    assert affected["affects"] == [{"ref": subject["bom-ref"]}]
    assert cyclonedx_vex_export_for_digest(image=busybox_vex) == document


@pytest.mark.django_db
def test_cyclonedx_export_round_trips_through_import(busybox_vex):
    exported = cyclonedx_vex_export_for_digest(image=busybox_vex)
    in_force = openvex_export_for_digest(image=busybox_vex)
    document = vex_import(content=json.dumps(exported).encode())

    assert document.format == "cyclonedx"
    rows = list(document.statements.all())
    assert {r.product for r in rows} == {image_purl("busybox", DIGEST_A)}
    assert {r.digest_id for r in rows} == {busybox_vex.pk}
    assert {r.subcomponent for r in rows} == {BUSYBOX_APK}
    assert {(r.vulnerability.vuln_id, r.status, r.justification) for r in rows} == {
        ("CVE-2024-58251", "under_investigation", ""),
        ("CVE-2025-46394", "not_affected", "vulnerable_code_not_in_execute_path"),
    }
    # The re-imported statements are newer rows saying exactly the same thing.
    assert openvex_export_for_digest(image=busybox_vex) == in_force


@pytest.mark.django_db
def test_an_image_without_statements_has_no_openvex_but_an_empty_cyclonedx(busybox):
    with pytest.raises(NoVexStatements):
        openvex_export_for_digest(image=busybox)
    with pytest.raises(NoVexStatements):
        openvex_export_for_repository(repository=busybox.variant.series.repository)
    document = cyclonedx_vex_export_for_digest(image=busybox)
    assert cdx_errors(document) is None
    assert document["vulnerabilities"] == []


@pytest.mark.django_db
def test_exports_settle_rows_written_outside_the_services(busybox):
    # A row that both justifies and explains (OpenVEX allows one) still exports.
    document = vex_import(content=read("dhi/dhi-busybox.vex.json"))
    VexStatement.objects.create(
        document=document,
        vulnerability=Vulnerability.objects.create(vuln_id="CVE-2025-4000"),
        product="pkg:oci/busybox",
        repository=busybox.variant.series.repository,
        status="not_affected",
        justification="component_not_present",
        impact_statement="Not shipped.",
        timestamp=datetime(2025, 9, 3, tzinfo=UTC),
    )
    exported = openvex_export_for_digest(image=busybox)
    assert openvex_schema_errors(exported) == []
    assert cdx_errors(cyclonedx_vex_export_for_digest(image=busybox)) is None


# --------------------------------------------------------------------------
# parse_vex directly: statement timestamps fall back to the document's
# --------------------------------------------------------------------------


def test_statement_without_timestamp_takes_the_documents():
    parsed = parse_vex(
        read("vexctl__pkg_ctl_testdata_test.vex.json"), max_bytes=1_000_000
    )
    moment = datetime(2022, 8, 29, 22, 48, 53, 697543, tzinfo=UTC)
    assert parsed.issued_at == moment
    assert {s.timestamp for s in parsed.statements} == {moment}


@pytest.mark.django_db
def test_a_timestamp_that_is_not_rfc3339_is_refused_with_its_path():
    content = openvex(
        [
            {
                "vulnerability": {"name": "CVE-2025-5000"},
                "timestamp": "yesterday",
                "products": [{"@id": "pkg:oci/app"}],
                "status": "fixed",
            }
        ]
    )
    with pytest.raises(ValidationError) as exc:
        vex_import(content=content)
    assert refusal(exc) == (
        "schema",
        "$.statements[0].timestamp: 'yesterday' is not an RFC 3339 timestamp.",
    )


@pytest.mark.parametrize(
    ("product", "target"),
    [
        ("pkg:docker/dhi/busybox", (None, "busybox")),
        ("pkg:oci/dhi%2Fbusybox", (None, "busybox")),
        ("pkg:docker/dhi/busybox@1.37", (None, "busybox")),
        (f"pkg:oci/busybox@{DIGEST_A.replace(':', '%3A')}", (DIGEST_A, "busybox")),
        (f"pkg:oci/busybox@{DIGEST_A}?repository_url=dhi.io", (DIGEST_A, "busybox")),
        (DIGEST_A.upper().replace("SHA256", "sha256"), (DIGEST_A, None)),
        # Another publisher's namespace is another image.
        ("pkg:docker/bitnami/busybox", (None, "bitnami/busybox")),
        ("pkg:deb/debian/busybox@1.37", (None, None)),
        ("registry.k8s.io/kube-apiserver:v1.26.0", (None, None)),
    ],
)
def test_product_identifiers_name_builds_and_repositories(product, target):
    assert product_target(product) == target


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


def run(*args) -> str:
    out = StringIO()
    call_command("import_vex", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_import_vex_command_imports_and_repeats_as_a_no_op(busybox):
    path = str(TESTDATA / "dhi" / "dhi-busybox.vex.json")
    output = run(path)
    assert "Imported OpenVEX 0.2.0 document" in output
    # The document states 2 statements (stored as 4 rows: the image and its
    # package are both products).
    assert "2 statements, 2 about images in the catalog" in output
    before = counts()
    assert "already imported; nothing changed" in run(path)
    assert counts() == before


@pytest.mark.django_db
def test_import_vex_command_reads_cyclonedx_xml():
    assert "Imported CycloneDX VEX 1.5" in run(
        str(TESTDATA / "guac__cyclonedx-vex.xml")
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"{not json", "Not valid JSON: Expecting property name"),
        (
            read("vexctl__pkg_ctl_testdata_v020-1.vex.json"),
            "$: 'timestamp' is a required",
        ),
        (b'{"hello": "world"}', "Unknown format"),
        (BILLION_LAUGHS, "DTD or entity"),
        (read("guac__cyclonedx-vex-no-analysis.json"), "not VEX"),
    ],
    ids=["invalid-json", "schema", "unknown-format", "xml-bomb", "not-vex"],
)
def test_import_vex_command_refuses_bad_input(tmp_path, content, says):
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    with pytest.raises(CommandError) as exc:
        run(str(path))
    assert str(exc.value).startswith(f"{path}: ")
    assert says in str(exc.value)
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_import_vex_command_refuses_an_oversize_file_and_a_missing_one(
    tmp_path, settings
):
    settings.EVIDENCE_MAX_BYTES = 100
    path = tmp_path / "big.json"
    path.write_bytes(read("dhi/dhi-busybox.vex.json"))
    with pytest.raises(CommandError, match="the limit is 100"):
        run(str(path))
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "missing.json"))
    assert counts() == (0, 0, 0)
