"""What an evidence document names as its subject, read from real documents and
from the shapes real tools write (apps.catalog.formats.subject)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from apps.catalog.formats.subject import (
    cyclonedx_subject,
    scan_target_subject,
    spdx_subject,
    statement_subject,
)
from apps.stig.formats.ckl import ckl_parse
from apps.stig.formats.xccdf import xccdf_parse
from apps.vulns.formats.sbom import sbom_parse
from tests.stig import builders as stig

TESTDATA = Path(__file__).resolve().parents[2] / "apps/catalog/testdata"
STIG_DATA = Path(__file__).resolve().parents[1] / "stig/data"
ALPINE = "sha256:cbaa390ec61abd889dfa5146a411c11717c19ef9e5e18458dbdc06439076ffe7"
CSAF_IMAGE = "sha256:603a6c7216a53d02889d4da068703478dc570644f9f76b1a99f6683775f9abeb"
KUBECTL_TAR = "sha256:8bdbe9ef6db000e73125bfd8b151ab9f5ca8cfb6bffd6d3520edd91e3bcd97f3"
REPO_DIGEST = "sha256:" + "c5" * 32
CONFIG_ID = "sha256:" + "1d" * 32


def load(name: str) -> dict:
    return json.loads((TESTDATA / name).read_bytes())


def alpine_with_component(component: dict) -> dict:
    document = copy.deepcopy(load("guac__alpine-cyclonedx.json"))
    document["metadata"]["component"] = component
    return document


# --- CycloneDX -----------------------------------------------------------------


def test_syft_names_the_image_by_its_manifest_digest_as_version():
    subject = cyclonedx_subject(load("guac__alpine-cyclonedx.json"))

    assert subject.digests == {ALPINE}
    assert subject.named == "docker.io/library/alpine:latest"
    assert subject.where == "metadata.component"


def test_trivy_names_the_repo_digest_and_its_config_id_is_not_read():
    purl = (
        f"pkg:oci/alpine@{REPO_DIGEST.replace(':', '%3A')}"
        "?arch=amd64&repository_url=index.docker.io%2Flibrary%2Falpine"
    )
    document = alpine_with_component(
        {
            "bom-ref": purl,
            "type": "container",
            "name": "alpine:3.19",
            "purl": purl,
            "properties": [
                {"name": "aquasecurity:trivy:DiffID", "value": "sha256:" + "d1" * 32},
                {"name": "aquasecurity:trivy:ImageID", "value": CONFIG_ID},
                {
                    "name": "aquasecurity:trivy:RepoDigest",
                    "value": f"alpine@{REPO_DIGEST}",
                },
                {"name": "aquasecurity:trivy:RepoTag", "value": "alpine:3.19"},
            ],
        }
    )

    subject = sbom_parse(json.dumps(document).encode()).subject

    assert subject.digests == {REPO_DIGEST}  # not the config id, not a layer
    assert subject.named == "alpine:3.19"


@pytest.mark.parametrize(
    "component",
    [
        {"type": "container", "name": f"registry.example/app@{REPO_DIGEST}"},
        {
            "type": "container",
            "name": "app",
            "hashes": [{"alg": "SHA-256", "content": REPO_DIGEST[7:]}],
        },
        {
            "type": "container",
            "name": "app",
            "bom-ref": f"pkg:docker/app@{REPO_DIGEST}",
        },
    ],
    ids=["name-at-digest", "hashes", "bom-ref-purl"],
)
def test_other_ways_of_naming_the_image_digest(component):
    assert cyclonedx_subject(alpine_with_component(component)).digests == {REPO_DIGEST}


@pytest.mark.parametrize(
    "component",
    [
        # Syft scanning a directory names the path, no digest.
        {"type": "file", "name": "/src"},
        # An image named by its tag only.
        {
            "type": "container",
            "name": "alpine",
            "version": "latest",
            "purl": "pkg:oci/alpine@latest?tag=latest",
        },
    ],
    ids=["directory", "tag-only"],
)
def test_a_subject_without_a_digest_is_not_stated(component):
    subject = cyclonedx_subject(alpine_with_component(component))

    assert not subject.stated
    assert subject.named


def test_a_cyclonedx_sbom_without_metadata_component_states_nothing():
    document = load("portal__cyclonedx-1.6.json")
    document["metadata"].pop("component")

    assert not cyclonedx_subject(document).stated
    # The 1.6 example names nginx by its version, not by a digest.
    assert not cyclonedx_subject(load("portal__cyclonedx-1.6.json")).stated


# --- SPDX ----------------------------------------------------------------------


def test_spdx_described_package_checksum_is_the_subject():
    # vexctl's example: the described CONTAINER package has the image digest as
    # its SHA256 checksum (its purl misspells the algorithm, so it names none).
    subject = sbom_parse(
        (TESTDATA / "vexctl__examples_csaf_sbom.spdx.schema-valid.json").read_bytes()
    ).subject

    assert subject.digests == {CSAF_IMAGE}
    assert subject.named == "image"


def test_spdx_describes_relationship_and_syft_document_root_image():
    document = load("vexctl__examples_csaf_sbom.spdx.schema-valid.json")
    document.pop("documentDescribes")
    document.setdefault("relationships", []).append(
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Package-image",
        }
    )
    image = next(
        p for p in document["packages"] if p["SPDXID"] == "SPDXRef-Package-image"
    )
    # As Syft writes its DocumentRoot-Image package: digest, purl and checksum.
    image["versionInfo"] = REPO_DIGEST
    image["checksums"] = [{"algorithm": "SHA256", "checksumValue": REPO_DIGEST[7:]}]
    image["externalRefs"][0]["referenceLocator"] = (
        f"pkg:oci/image@{REPO_DIGEST.replace(':', '%3A')}?arch=amd64"
    )

    assert spdx_subject(document).digests == {REPO_DIGEST}


def test_spdx_that_describes_no_image_states_no_subject():
    document = load("vexctl__examples_csaf_sbom.spdx.schema-valid.json")
    image = next(
        p for p in document["packages"] if p["SPDXID"] == "SPDXRef-Package-image"
    )
    image["primaryPackagePurpose"] = "APPLICATION"
    image["externalRefs"][0]["referenceLocator"] = "pkg:pypi/image@1.0"

    assert not spdx_subject(document).stated
    # Syft 0.57's SPDX 2.2 of alpine describes nothing at all.
    assert not spdx_subject(load("guac__alpine-spdx.schema-valid.json")).stated


# --- in-toto -------------------------------------------------------------------


def test_in_toto_subjects_are_every_digest_the_statement_names():
    statement = load("guac__oci-kubectl-linux-amd64-in-toto.json")

    subject = statement_subject(statement["subject"])

    # 75 release files; some are the same bytes under two names.
    assert len(statement["subject"]) == 75
    assert len(subject.digests) == 65
    assert KUBECTL_TAR in subject.digests
    assert subject.named.endswith("and 72 more")


# --- STIG scans ----------------------------------------------------------------


def test_real_openscap_results_of_a_host_state_no_image():
    scan = xccdf_parse(stig.RHEL8.read_bytes())

    assert not scan.subject.stated
    assert scan.subject.named == "localhost"


def with_target(target: str, facts: list[tuple[str, str]]) -> bytes:
    document = stig.xccdf([(1, "high", "pass")]).decode()
    extra = "".join(
        f'<fact name="{name}" type="string">{value}</fact>' for name, value in facts
    )
    document = document.replace(
        "<target>build-host</target>", f"<target>{target}</target>"
    ).replace("<target-facts>", f"<target-facts>{extra}")
    return document.encode()


@pytest.mark.parametrize(
    ("target", "facts", "digests"),
    [
        (f"podman-image://registry.example/app@{REPO_DIGEST}", [], {REPO_DIGEST}),
        (
            "build-host",
            [("urn:xccdf:fact:asset:identifier:image_digest", REPO_DIGEST)],
            {REPO_DIGEST},
        ),
        (
            "build-host",
            [("urn:xccdf:fact:container:image", f"registry.example/app@{REPO_DIGEST}")],
            {REPO_DIGEST},
        ),
        # An image id (the config's digest) or a container id is no manifest
        # digest: it names the target, it is not compared with the build.
        (f"podman-image://{CONFIG_ID[7:]}", [], set()),
        ("build-host", [("urn:xccdf:fact:container:id", "ab" * 32)], set()),
    ],
    ids=["target-reference", "digest-fact", "reference-fact", "image-id", "container"],
)
def test_xccdf_target_and_facts(target, facts, digests):
    scan = xccdf_parse(with_target(target, facts))

    assert set(scan.subject.digests) == digests
    assert scan.subject.named == target


def test_checklist_asset_naming_an_image_reference():
    content = (STIG_DATA / "saf__small_ckl_overrides.ckl").read_bytes()
    assert not ckl_parse(content).subject.stated

    subject = scan_target_subject(
        "app",
        [("target_comment", f"image registry.example/app@{REPO_DIGEST}")],
        where="the checklist's asset",
    )
    assert subject.digests == {REPO_DIGEST}
