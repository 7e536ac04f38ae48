"""VEX exports downloaded from the catalog pages validate against their schemas."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from apps.catalog import services as catalog
from apps.vulns.services import vex_import

pytestmark = pytest.mark.django_db
VEX = Path(__file__).resolve().parents[2] / "apps/vulns/testdata/vex"
SCHEMA = Path(__file__).resolve().parents[2] / "apps/vulns/schemas"
DIGEST = "sha256:" + "5e" * 32


@pytest.fixture
def busybox():
    repository = catalog.repository_upsert(name="busybox", category="tool")
    series = catalog.series_upsert(repository=repository, name="1.37")
    image = catalog.digest_register(
        variant=catalog.variant_get_or_create(series=series),
        digest=DIGEST,
        built_at=datetime(2025, 8, 1, tzinfo=UTC),
    )
    # Docker Hardened Images' own published VEX for busybox.
    vex_import(content=(VEX / "dhi/dhi-busybox.vex.json").read_bytes())
    return image


def _openvex_schema():
    return json.loads((SCHEMA / "openvex_json_schema.json").read_text())


def test_repository_openvex_download_validates(client, busybox):
    response = client.get("/catalog/busybox/vex/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/openvex+json"
    assert 'filename="busybox.openvex.json"' in response["Content-Disposition"]
    document = json.loads(response.content)
    jsonschema.validate(document, _openvex_schema())
    assert document["statements"]


def test_digest_openvex_and_cyclonedx_downloads_validate(client, busybox):
    openvex = client.get(f"/catalog/digest/{DIGEST}/vex/")
    assert openvex.status_code == 200
    jsonschema.validate(json.loads(openvex.content), _openvex_schema())
    cdx = client.get(f"/catalog/digest/{DIGEST}/vex/", {"format": "cyclonedx"})
    assert cdx.status_code == 200
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx.content.decode())
    assert errors is None


def test_same_inputs_give_the_same_document(client, busybox):
    first = client.get("/catalog/busybox/vex/").content
    assert client.get("/catalog/busybox/vex/").content == first


def test_unknown_or_malformed_targets_are_404(client, busybox, db):
    assert client.get("/catalog/nothing-here/vex/").status_code == 404
    assert client.get("/catalog/digest/sha256:zz/vex/").status_code == 404
    assert client.get(f"/catalog/digest/sha256:{'0' * 64}/vex/").status_code == 404
    upper = client.get(f"/catalog/digest/{DIGEST.upper()}/vex/")
    assert upper.status_code == 301


def test_repository_without_statements_has_no_openvex(client, db):
    catalog.repository_upsert(name="quiet", category="tool")
    assert client.get("/catalog/quiet/vex/").status_code == 404


def test_api_serves_the_same_openvex(client, busybox):
    page = json.loads(client.get("/catalog/busybox/vex/").content)
    api = client.get("/api/v1/repositories/busybox/openvex/")
    assert api.status_code == 200
    assert api.json() == page
    digest = client.get(f"/api/v1/digests/{DIGEST}/openvex/")
    jsonschema.validate(digest.json(), _openvex_schema())
    cdx = client.get(f"/api/v1/digests/{DIGEST}/cyclonedx-vex/")
    assert cdx.status_code == 200
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(json.dumps(cdx.json())) is None
    assert client.get("/api/v1/repositories/nope/openvex/").status_code == 404
