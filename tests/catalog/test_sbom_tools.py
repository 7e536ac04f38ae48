"""SBOMs as the tools users run write them, through every evidence door.

cyclonedx-py, npm and cdxgen wrote the documents in data/tools/ (see its
README: versions, commands, what was scanned); the Syft SPDX 2.2 documents are
real (apps/catalog/testdata, see ATTRIBUTION.md). Each is imported once, by the
staff upload form, the API or the ``import_sbom`` command, in
``setUpTestData``; the tests read what was stored and what each door said.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, TestCase, override_settings

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.catalog.models import Attestation
from apps.vulns.models import Component, DigestComponent
from tests.catalog import builders
from tests.factories import MembershipFactory, UserFactory

TOOLS = Path(__file__).resolve().parent / "data" / "tools"
CATALOG_DATA = Path(__file__).resolve().parents[2] / "apps" / "catalog" / "testdata"
MEDIA = tempfile.mkdtemp(prefix="sbom-tools-media-")

SYFT_ALPINE_WARNINGS = [
    "75 files lack checksums (e.g. $.files[0])",
    "75 files lack copyrightText (e.g. $.files[0])",
    "75 files lack licenseInfoInFiles (e.g. $.files[0])",
    "14 packages lack copyrightText (e.g. $.packages[0])",
]


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), "application/json")


@dataclass(frozen=True)
class Answer:
    """What a door said, kept as plain data across the tests of the class."""

    status: int
    body: str
    redirects: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()

    def json(self):
        return json.loads(self.body)


def _answer(response) -> Answer:
    context = getattr(response, "context", None)
    messages = context.get("messages", ()) if context is not None else ()
    return Answer(
        status=response.status_code,
        body=response.content.decode(),
        redirects=tuple(url for url, _ in getattr(response, "redirect_chain", ())),
        messages=tuple(str(m) for m in messages),
    )


@override_settings(MEDIA_ROOT=MEDIA)
class ToolSboms(TestCase):
    @classmethod
    def setUpTestData(cls):
        series = builders.series(builders.repository("sbom-tools"))
        cls.digests = {}
        for name in (
            "cyclonedx-py",
            "cdxgen-1.7",
            "cdxgen-1.6",
            "npm-cdx",
            "npm-spdx",
            "syft-alpine",
            "syft-oci",
        ):
            cls.digests[name] = builders.build(series).digest
        staff = UserFactory(is_staff=True)
        form = Client()
        form.force_login(staff)
        cls.form_responses = {
            name: _answer(
                form.post(
                    "/staff/evidence/",
                    {
                        "kind": "sbom",
                        "digest": cls.digests[name],
                        "document": _upload(path),
                    },
                    follow=True,
                )
            )
            for name, path in (
                ("cyclonedx-py", TOOLS / "cyclonedx-py.cdx.json"),
                ("cdxgen-1.7", TOOLS / "cdxgen.cdx.json"),
                ("npm-cdx", TOOLS / "npm-sbom.cdx.json"),
            )
        }
        _, token = api_token_create(
            org=MembershipFactory(role="owner").org,
            name="loader",
            scopes=[ApiToken.Scope.CATALOG_WRITE],
            expires_at=None,
            actor=staff,
        )
        cls.api_responses = {
            name: _answer(
                Client().post(
                    "/api/v1/evidence/",
                    {
                        "kind": "sbom",
                        "digest": cls.digests[name],
                        "document": _upload(path),
                    },
                    HTTP_AUTHORIZATION=f"Bearer {token}",
                )
            )
            for name, path in (
                ("cdxgen-1.6", TOOLS / "cdxgen-1.6.cdx.json"),
                ("npm-spdx", TOOLS / "npm-sbom.spdx.json"),
            )
        }
        cls.command_output = {}
        for name, path in (
            ("syft-alpine", CATALOG_DATA / "guac__alpine-spdx.json"),
            ("syft-oci", CATALOG_DATA / "guac__oci-spdx.json"),
        ):
            out = io.StringIO()
            call_command("import_sbom", cls.digests[name], str(path), stdout=out)
            cls.command_output[name] = out.getvalue()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(MEDIA, ignore_errors=True)

    def attestation(self, name: str) -> Attestation:
        return Attestation.objects.get(digest__digest=self.digests[name])

    def purls(self, name: str) -> set[str]:
        return set(
            DigestComponent.objects.filter(
                digest__digest=self.digests[name]
            ).values_list("component__purl", flat=True)
        )

    def test_cyclonedx_py_environment_sbom_is_imported_without_warnings(self):
        response = self.form_responses["cyclonedx-py"]
        assert response.status == 200
        assert response.redirects == ("/staff/evidence/",)
        attestation = self.attestation("cyclonedx-py")
        assert (attestation.kind, attestation.spec_version) == ("sbom-cyclonedx", "1.6")
        assert attestation.warnings == []
        assert self.purls("cyclonedx-py") >= {
            "pkg:pypi/django@3.2.4",
            "pkg:pypi/sqlparse@0.4.1",
            "pkg:pypi/asgiref@3.3.4",
            "pkg:pypi/pytz@2021.1",
        }
        assert len(self.purls("cyclonedx-py")) == 6  # and the venv's pip, setuptools
        assert attestation.summary["tools"][0].startswith(
            "CycloneDX cyclonedx-py 7.5.0"
        )

    def test_cdxgen_default_cyclonedx_1_7_is_imported(self):
        assert self.form_responses["cdxgen-1.7"].status == 200
        attestation = self.attestation("cdxgen-1.7")
        assert attestation.spec_version == "1.7"
        assert attestation.warnings == []
        purls = self.purls("cdxgen-1.7")
        assert len(purls) == 53
        assert {
            "pkg:npm/lodash@4.17.20",
            "pkg:npm/minimist@1.2.5",
            "pkg:npm/express@4.17.1",
            "pkg:npm/internal-utils@0.3.0",
        } <= purls
        assert attestation.summary["tools"] == ["@cyclonedx cdxgen 12.8.4"]
        # Its subject is the npm project, not an image: not stated.
        assert attestation.subject_status == Attestation.Subject.NOT_STATED

    def test_cdxgen_cyclonedx_1_6_names_the_same_packages_as_its_1_7(self):
        response = self.api_responses["cdxgen-1.6"]
        assert response.status == 201, response.body
        assert "warnings" not in response.json()
        assert self.attestation("cdxgen-1.6").spec_version == "1.6"
        assert self.purls("cdxgen-1.6") == self.purls("cdxgen-1.7")

    def test_npm_cyclonedx_with_scp_style_git_urls_is_imported_with_warnings(self):
        attestation = self.attestation("npm-cdx")
        assert attestation.spec_version == "1.5"
        assert [w["message"] for w in attestation.warnings] == [
            '$.components[52].externalReferences[0].url: "git@github.com:'
            'example-org/internal-utils.git" is not a "iri-reference"',
            '$.metadata.component.externalReferences[0].url: "git@github.com:'
            'example-org/sbom-fixture-app.git" is not a "iri-reference"',
        ]
        assert attestation.warnings[0]["count"] == 1
        assert attestation.warnings[0]["path"] == (
            "$.components[52].externalReferences[0].url"
        )
        assert self.purls("npm-cdx") == self.purls("cdxgen-1.7")
        # The upload form says so beside its success message.
        shown = self.form_responses["npm-cdx"].messages
        assert shown[0].startswith("Imported. Attached a CycloneDX 1.5 SBOM: ")
        assert "new to this build" in shown[0]
        assert "_" not in shown[0]  # no raw field names or codes
        assert shown[1].startswith(
            "Imported with deviations from the schema in fields the portal does "
            'not read: $.components[52].externalReferences[0].url: "git@github.com:'
        )

    def test_npm_spdx_is_imported_with_its_root_package(self):
        response = self.api_responses["npm-spdx"]
        assert response.status == 201, response.body
        attestation = self.attestation("npm-spdx")
        assert (attestation.kind, attestation.spec_version) == ("sbom-spdx", "2.3")
        assert attestation.warnings == []
        # The package it describes is the project, not an image: a component.
        assert self.purls("npm-spdx") == self.purls("cdxgen-1.7") | {
            "pkg:npm/sbom-fixture-app@1.0.0"
        }

    def test_syft_spdx_2_2_lacking_copyright_text_is_imported_with_grouped_warnings(
        self,
    ):
        attestation = self.attestation("syft-alpine")
        assert [w["message"] for w in attestation.warnings] == SYFT_ALPINE_WARNINGS
        assert attestation.warnings[3] == {
            "message": "14 packages lack copyrightText (e.g. $.packages[0])",
            "count": 14,
            "path": "$.packages[0]",
        }
        assert len(self.purls("syft-alpine")) == 14
        assert (
            "pkg:apk/alpine/busybox@1.35.0-r17?arch=x86_64&distro=alpine-3.16.2"
        ) in self.purls("syft-alpine")
        output = self.command_output["syft-alpine"]
        assert "Attached SPDX 2.2 SBOM" in output
        assert (
            "Imported with deviations from the schema in fields the portal does not "
            "read:\n  75 files lack checksums (e.g. $.files[0])\n"
        ) in output
        assert "  14 packages lack copyrightText (e.g. $.packages[0])" in output

    def test_syft_spdx_2_2_of_an_oci_image_is_imported(self):
        attestation = self.attestation("syft-oci")
        assert [w["message"] for w in attestation.warnings] == [
            "77 files lack checksums (e.g. $.files[0])",
            "77 files lack copyrightText (e.g. $.files[0])",
            "77 files lack licenseInfoInFiles (e.g. $.files[0])",
            "15 packages lack copyrightText (e.g. $.packages[0])",
        ]
        purls = self.purls("syft-oci")
        assert len(purls) == 15
        assert (
            "pkg:apk/alpine/libssl3@3.0.7-r0?arch=aarch64&distro=alpine-3.17.0"
        ) in purls
        libssl3 = Component.objects.get(purl__startswith="pkg:apk/alpine/libssl3@")
        assert libssl3.source_name == "openssl"  # from upstream=openssl

    def test_the_api_shows_each_attestation_with_its_warnings(self):
        response = Client().get(f"/api/v1/digests/{self.digests['syft-alpine']}/")
        assert response.status_code == 200
        (attestation,) = response.json()["attestations"]
        assert [w["message"] for w in attestation["warnings"]] == SYFT_ALPINE_WARNINGS
        assert attestation["warnings"][0] == {
            "message": "75 files lack checksums (e.g. $.files[0])",
            "count": 75,
            "path": "$.files[0]",
        }
        clean = Client().get(f"/api/v1/digests/{self.digests['cdxgen-1.7']}/")
        assert clean.json()["attestations"][0]["warnings"] == []

    def test_staff_see_the_warnings_on_the_build_page_and_customers_do_not(self):
        url = f"/catalog/digest/{self.digests['syft-alpine']}/"
        client = Client()
        client.force_login(UserFactory(is_staff=True))
        page = client.get(url).content.decode()
        assert "4 schema warnings" in page
        assert "14 packages lack copyrightText (e.g. $.packages[0])" in page
        public = Client().get(url).content.decode()
        assert "schema warning" not in public
        assert "lack copyrightText" not in public

    def test_the_audit_record_keeps_the_warnings(self):
        from apps.audit.models import AuditEvent

        event = AuditEvent.objects.get(
            action=AuditEvent.Action.EVIDENCE_IMPORTED,
            details__digest=self.digests["syft-alpine"],
        )
        assert event.details["warnings"] == SYFT_ALPINE_WARNINGS

    def test_every_fixture_is_valid_json_its_readme_lists(self):
        readme = (TOOLS / "README.md").read_text()
        for path in TOOLS.glob("*.json"):
            json.loads(path.read_text())
            assert f"`{path.name}`" in readme


# --- Refusals at every door: a clear error, nothing written ----------------------


def _tool_doc(name: str, change) -> bytes:
    document = json.loads((TOOLS / name).read_text())
    change(document)
    return json.dumps(document).encode()


def _all_purls(value: str):
    def change(document):
        for component in document["components"]:
            component["purl"] = value

    return change


REFUSED = {
    "components-not-a-list": (
        _tool_doc("cdxgen.cdx.json", lambda d: d.update(components={})),
        'Not valid CycloneDX 1.7 at $.components: {} is not of type "array"',
    ),
    "purls-that-do-not-parse": (
        _tool_doc("npm-sbom.cdx.json", _all_purls("npm/lodash@4.17.20")),
        "$.components[0].purl: not a package URL (purl is missing the required "
        "\"pkg\" scheme component: 'npm/lodash@4.17.20') (53 components share "
        "this problem).",
    ),
    "spdx-3": (
        json.dumps(
            {
                "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
                "@graph": [],
            }
        ).encode(),
        "SPDX 3 (JSON-LD) is not supported; the portal reads SPDX 2.2 and 2.3 JSON",
    ),
    "spdx-without-packages": (
        _tool_doc("npm-sbom.spdx.json", lambda d: d.pop("packages")),
        'the SPDX 2.3 document has no "packages"',
    ),
}


@pytest.fixture
def door_setup(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    digest = builders.build(builders.series(builders.repository("refused"))).digest
    staff = UserFactory(is_staff=True)
    _, token = api_token_create(
        org=MembershipFactory(role="owner").org,
        name="loader",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    return digest, staff, token, settings.MEDIA_ROOT


def _written(media: Path) -> tuple[int, int, list[Path]]:
    files = [p for p in media.rglob("*") if p.is_file()] if media.exists() else []
    return Attestation.objects.count(), DigestComponent.objects.count(), files


@pytest.mark.parametrize("name", REFUSED)
def test_the_upload_form_refuses_and_writes_nothing(name, door_setup, client):
    digest, staff, _, media = door_setup
    content, message = REFUSED[name]
    client.force_login(staff)

    response = client.post(
        "/staff/evidence/",
        {
            "kind": "sbom",
            "digest": digest,
            "document": SimpleUploadedFile("s.json", content, "application/json"),
        },
    )

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["document"])
    assert _written(media) == (0, 0, [])


@pytest.mark.parametrize("name", REFUSED)
def test_the_api_refuses_and_writes_nothing(name, door_setup, client):
    digest, _, token, media = door_setup
    content, message = REFUSED[name]

    response = client.post(
        "/api/v1/evidence/",
        {
            "kind": "sbom",
            "digest": digest,
            "document": SimpleUploadedFile("s.json", content, "application/json"),
        },
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 400
    assert message in " ".join(response.json()["document"])
    assert _written(media) == (0, 0, [])


@pytest.mark.parametrize("name", REFUSED)
def test_the_command_refuses_and_writes_nothing(name, door_setup, tmp_path):
    digest, _, _, media = door_setup
    content, message = REFUSED[name]
    path = tmp_path / "sbom.json"
    path.write_bytes(content)

    with pytest.raises(CommandError) as exc:
        call_command("import_sbom", digest, str(path), stdout=io.StringIO())

    assert message in str(exc.value)
    assert _written(media) == (0, 0, [])
