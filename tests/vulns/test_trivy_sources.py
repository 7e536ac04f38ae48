"""Trivy-shaped Ubuntu SBOMs against Ubuntu's own OSV record, through the
commands the publisher's pipeline runs: findings exactly as the advisory
implies, no false negatives from source packages named only in properties.

The advisory is Ubuntu's real record of CVE-2023-0286 (OpenSSL X.400 type
confusion), filed under the *source* package ``openssl`` with these ranges
(checked by hand against apps/vulns/testdata/osv/ubuntu/CVE-2023-0286.json):

- Ubuntu:20.04:LTS openssl: introduced 0, fixed 1.1.1f-1ubuntu2.17
- Ubuntu:22.04:LTS openssl: introduced 0, fixed 3.0.2-0ubuntu1.8
- Ubuntu:22.04:LTS nodejs: fixed 12.22.9~dfsg-1ubuntu3.3; edk2 on 20.04 and
  22.04: introduced 0, no fix (every version).

The SBOMs (tests/vulns/data, written by make_trivy_shaped.py) name the source
only in ``aquasecurity:trivy:Src*`` properties, as Trivy does.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.db.models import F
from django.test import TestCase

from apps.catalog.models import ImageDigest
from apps.vulns.matching import component_match_version
from apps.vulns.models import Component, Finding
from apps.vulns.selectors.assessment import digest_assessment
from apps.vulns.selectors.assessment_states import PARTIAL

DATA = Path(__file__).resolve().parent / "data"
OSV = (
    Path(__file__).resolve().parents[2]
    / "apps/vulns/testdata/osv/ubuntu/CVE-2023-0286.json"
)
MONGO = DATA / "trivy-shaped__mongo-ubuntu-20.04.cdx.json"
JAMMY = DATA / "trivy-shaped__ubuntu-22.04.cdx.json"


def _digest(path: Path) -> str:
    return (
        json.loads(path.read_text())["metadata"]["component"]["purl"]
        .split("@")[1]
        .replace("%3A", ":")
    )


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _register(repository: str, series: str, digest: str) -> None:
    _run(
        "register_build", repository, series, digest, "--built-at", "2024-11-04T09:00Z"
    )


def _import(digest: str, path: Path) -> None:
    _run("import_sbom", digest, str(path))


def _match_version(component: Component) -> str:
    return component_match_version(
        type=component.type,
        version=component.version,
        source_version=component.source_version,
    )


def _findings(digest: str) -> set[tuple[str, str, str]]:
    return set(
        Finding.objects.filter(digest__digest=digest).values_list(
            "vulnerability__vuln_id", "component__name", "fixed_version"
        )
    )


def _jammy_at(libssl3: str, tmp: Path) -> tuple[str, Path]:
    """The 22.04 image at another openssl version, as the script writes it."""
    doc = json.loads(JAMMY.read_text())
    for item in doc["components"]:
        if item.get("name") == "libssl3":
            item["version"] = libssl3
            item["purl"] = item["bom-ref"] = item["purl"].replace(
                "3.0.2-0ubuntu1.12", libssl3
            )
            for prop in item["properties"]:
                if prop["name"] == "aquasecurity:trivy:SrcRelease":
                    prop["value"] = libssl3.split("-", 1)[1]
    digest = "sha256:" + "7" * 64
    doc["metadata"]["component"]["purl"] = f"pkg:oci/ubuntu@{digest}"
    path = tmp / "jammy-old.cdx.json"
    path.write_text(json.dumps(doc))
    return digest, path


def _binary_names_only(path: Path, tmp: Path) -> Path:
    """The same SBOM as a tool that states no source package writes it."""
    doc = json.loads(path.read_text())
    doc["metadata"]["tools"] = {"components": [{"type": "application", "name": "x"}]}
    for item in doc["components"]:
        item.pop("properties", None)
    out = tmp / "no-sources.cdx.json"
    out.write_text(json.dumps(doc))
    return out


class TrivyUbuntuSboms(TestCase):
    @classmethod
    def setUpTestData(cls):
        import tempfile

        tmp = Path(tempfile.mkdtemp())
        _run("import_osv", str(OSV))
        cls.mongo = _digest(MONGO)
        cls.jammy = _digest(JAMMY)
        cls.jammy_old, jammy_old = _jammy_at("3.0.2-0ubuntu1.7", tmp)
        cls.plain = "sha256:" + "8" * 64
        _register("mongo", "6", cls.mongo)
        _register("ubuntu", "22.04", cls.jammy)
        _register("ubuntu-old", "22.04", cls.jammy_old)
        _register("mongo-plain", "6", cls.plain)
        _import(cls.mongo, MONGO)
        _import(cls.jammy, JAMMY)
        _import(cls.jammy_old, jammy_old)
        cls.plain_path = _binary_names_only(MONGO, tmp)
        # Another image whose SBOM states no sources, with the same package
        # URLs as the mongo one except Trivy's: a distinct set of rows.
        doc = json.loads(cls.plain_path.read_text())
        for item in doc["components"]:
            if "purl" in item:
                item["purl"] = item["purl"].replace(
                    "distro=ubuntu-20.04", "distro=ubuntu-20.04.6"
                )
        doc["metadata"]["component"]["purl"] = f"pkg:oci/mongo@{cls.plain}"
        cls.plain_path.write_text(json.dumps(doc))
        _import(cls.plain, cls.plain_path)
        _run("match_findings")

    def test_binaries_of_other_names_are_matched_by_their_source_package(self):
        # libssl1.1 and openssl, both built from openssl 1.1.1f-1ubuntu2.16,
        # which is before the 20.04 fix: two findings. No binary of the
        # image comes from edk2 or nodejs.
        assert _findings(self.mongo) == {
            ("CVE-2023-0286", "libssl1.1", "1.1.1f-1ubuntu2.17"),
            ("CVE-2023-0286", "openssl", "1.1.1f-1ubuntu2.17"),
        }

    def test_a_version_past_the_fix_is_a_true_negative(self):
        # libssl3 3.0.2-0ubuntu1.12 is after the 22.04 fix 3.0.2-0ubuntu1.8
        # (Debian ordering: 12 > 8); no finding, and the build is assessed.
        assert _findings(self.jammy) == set()
        image = ImageDigest.objects.get(digest=self.jammy)
        assessment = digest_assessment(digest=image)
        assert assessment.assessed, assessment.text
        assert assessment.summary == "No known vulnerabilities"

    def test_a_version_before_the_fix_is_found_under_the_binary_name(self):
        # libssl3 3.0.2-0ubuntu1.7 < 3.0.2-0ubuntu1.8.
        assert _findings(self.jammy_old) == {
            ("CVE-2023-0286", "libssl3", "3.0.2-0ubuntu1.8"),
        }

    def test_sources_and_versions_come_from_the_properties(self):
        libssl = Component.objects.get(
            purl="pkg:deb/ubuntu/libssl1.1@1.1.1f-1ubuntu2.16"
            "?arch=amd64&distro=ubuntu-20.04"
        )
        assert (libssl.source_name, libssl.source_version, libssl.source_known) == (
            "openssl",
            "",  # the same as the binary's
            True,
        )
        # bsdutils carries epoch 1 (a purl qualifier); its source util-linux
        # does not: ranges speak of 2.34-0.1ubuntu9.3, not 1:2.34-0.1ubuntu9.3.
        bsdutils = Component.objects.get(
            name="bsdutils", distro="ubuntu-20.04", version="2.34-0.1ubuntu9.3"
        )
        assert bsdutils.source_name == "util-linux"
        assert _match_version(bsdutils) == "2.34-0.1ubuntu9.3"
        # zlib1g and its source zlib both carry epoch 1.
        zlib = Component.objects.get(name="zlib1g", distro="ubuntu-20.04")
        assert zlib.source_name == "zlib"
        assert _match_version(zlib) == "1:1.2.11.dfsg-2ubuntu1.3"
        differing = Component.objects.filter(
            appearances__digest__digest=self.mongo, type="deb"
        ).exclude(source_name=F("name"))
        # 117 of the 153 Ubuntu binaries have a source of another name.
        assert differing.count() == 117

    def test_without_sources_the_binary_name_is_matched_and_coverage_is_partial(self):
        # The same packages, no source stated: openssl is its own source and
        # is found; libssl1.1 is not, and the build says why it is partial.
        assert _findings(self.plain) == {
            ("CVE-2023-0286", "openssl", "1.1.1f-1ubuntu2.17"),
        }
        assessment = digest_assessment(
            digest=ImageDigest.objects.get(digest=self.plain)
        )
        assert assessment.state == PARTIAL
        assert "153 distribution packages matched by binary name only" in (
            assessment.text
        )
        assert assessment.summary == "1 open vulnerability; partially assessed"

    def test_the_public_digest_page_shows_the_findings_and_the_partial_coverage(self):
        page = self.client.get(f"/catalog/digest/{self.mongo}/").content.decode()
        assert "CVE-2023-0286" in page
        assert "libssl1.1" in page
        page = self.client.get(f"/catalog/digest/{self.plain}/").content.decode()
        assert "Partially assessed" in page
        assert "153 matched by binary name only" in page
