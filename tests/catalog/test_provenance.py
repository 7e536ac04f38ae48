"""SLSA provenance ingestion: in-toto statements, bare or in DSSE envelopes.

The Tekton Chains DSSE envelope and the kubectl release statement are real
(apps/catalog/testdata, see ATTRIBUTION.md); the SLSA v1 statement is ours.
"""

import base64
import copy
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
from apps.catalog.provenance import provenance_import
from apps.vulns.models import Component, DigestComponent

TESTDATA = Path(services.__file__).resolve().parent / "testdata"
TEKTON_DIGEST = (
    "sha256:9e183c89765d92a440f44ac7059385c778cbadad0ee8fe3208360efb07c0ba09"
)
KUBECTL_TAR_DIGEST = (
    "sha256:8bdbe9ef6db000e73125bfd8b151ab9f5ca8cfb6bffd6d3520edd91e3bcd97f3"
)
V1_DIGEST = "sha256:5b0a8e2b6c0e3a1f9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e"
OTHER_DIGEST = "sha256:" + "c" * 64

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def make_image(digest: str) -> ImageDigest:
    repository = services.repository_upsert(name="example", category="application")
    series = services.series_upsert(repository=repository, name="1")
    variant = services.variant_get_or_create(series=series)
    return services.digest_register(
        variant=variant, digest=digest, built_at=datetime(2023, 1, 6, tzinfo=UTC)
    )


def data(name: str) -> bytes:
    return (TESTDATA / name).read_bytes()


def envelope(statement: bytes | str, **fields) -> bytes:
    payload = statement if isinstance(statement, str) else base64.b64encode(statement)
    document = {
        "payloadType": "application/vnd.in-toto+json",
        "payload": payload if isinstance(payload, str) else payload.decode(),
        "signatures": [{"keyid": "test-key", "sig": "c2lnbmF0dXJl"}],
    }
    document.update(fields)
    return json.dumps(document).encode()


def kubectl_with(change) -> bytes:
    statement = copy.deepcopy(
        json.loads(data("guac__oci-kubectl-linux-amd64-in-toto.json"))
    )
    change(statement)
    return json.dumps(statement).encode()


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


def test_tekton_dsse_envelope_is_stored_with_its_builder_and_key_id(media):
    image = make_image(TEKTON_DIGEST)
    content = data("guac__oci-dsse-att.json")

    attestation = provenance_import(image=image, content=content)

    assert attestation.kind == Attestation.Kind.SLSA_PROVENANCE
    assert attestation.spec_version == "0.2"
    assert attestation.media_type == "application/vnd.dsse.envelope.v1+json"
    assert (
        attestation.signer_key_id
        == "SHA256:Q2hrAmo3UuVRU6SOErQ+0EgKZolzlZdRu9eoKUii+kc"
    )
    # The importer reads key ids; the evidence door checks the signature.
    assert attestation.signature_status == Attestation.SignatureStatus.UNVERIFIED
    assert attestation.signature_checked_at is None
    summary = attestation.summary
    assert summary["predicate_type"] == "https://slsa.dev/provenance/v0.2"
    assert summary["statement_type"] == "https://in-toto.io/Statement/v0.1"
    assert summary["builder_id"] == "https://tekton.dev/chains/v2"
    assert summary["build_type"] == "tekton.dev/v1beta1/TaskRun"
    assert summary["materials"] == []
    assert summary["subjects"] == [
        {
            "name": "ttl.sh/b46737a24c11fd47c240f357a558be31/example-sample",
            "digest": {"sha256": TEKTON_DIGEST.removeprefix("sha256:")},
        }
    ]
    assert summary["envelope"] == "dsse"
    assert summary["started_on"] == "2022-12-20T14:09:04Z"
    with attestation.document.open("rb") as stored:
        assert stored.read() == content  # the envelope, byte for byte
    assert len(stored_files(media)) == 1


def test_kubectl_statement_matches_one_of_its_75_subjects():
    image = make_image(KUBECTL_TAR_DIGEST)

    attestation = provenance_import(
        image=image, content=data("guac__oci-kubectl-linux-amd64-in-toto.json")
    )

    summary = attestation.summary
    assert attestation.media_type == "application/vnd.in-toto+json"
    assert attestation.signer_key_id == ""
    assert len(summary["subjects"]) == 75
    assert summary["builder_id"] == (
        "Project Collection Build Service (AzureContainerUpstream)"
    )
    assert summary["build_type"] == ""  # the document has none
    assert summary["materials"] == [
        {
            "uri": "https://github.com/kubernetes/kubernetes",
            "digest": {"sha256": "8dc49c4b984b897d423aab4971090e1879eb4f23"},
        }
    ]
    assert summary["config_source"]["entryPoint"] == "ep"
    assert summary["invocation_id"] == "119656"
    assert summary["envelope"] == ""


def test_slsa_v1_statement_records_resolved_dependencies_as_materials():
    image = make_image(V1_DIGEST)

    attestation = provenance_import(
        image=image, content=data("portal__slsa-v1-statement.json")
    )

    summary = attestation.summary
    assert attestation.spec_version == "1"
    assert summary["statement_type"] == "https://in-toto.io/Statement/v1"
    assert summary["builder_id"] == "https://github.com/actions/runner/github-hosted"
    assert summary["build_type"] == "https://actions.github.io/buildtypes/workflow/v1"
    assert [m["uri"] for m in summary["materials"]] == [
        "git+https://github.com/example/hardened-images@refs/heads/main",
        "pkg:docker/debian@12-slim",
    ]
    assert summary["materials"][1]["digest"]["sha256"] == (
        "d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0"
    )
    assert summary["finished_on"] == "2025-01-15T09:58:00Z"


def test_slsa_v1_in_a_dsse_envelope_records_every_signer():
    image = make_image(V1_DIGEST)
    statement = data("portal__slsa-v1-statement.json")
    content = envelope(
        # URL-safe and unpadded, as some signers write it.
        base64.urlsafe_b64encode(statement).decode().rstrip("="),
        signatures=[
            {"keyid": "key-one", "sig": "AAAA"},
            {"keyid": "", "sig": "BBBB"},
            {"keyid": "key-two", "sig": "CCCC"},
        ],
    )

    attestation = provenance_import(image=image, content=content)

    assert attestation.signer_key_id == "key-one, key-two"
    assert attestation.signature_checked_at is None
    assert attestation.summary["signatures"] == 3
    assert attestation.summary["key_ids"] == ["key-one", "key-two"]


def test_importing_the_same_provenance_twice_is_a_no_op(media):
    image = make_image(TEKTON_DIGEST)
    content = data("guac__oci-dsse-att.json")
    first = provenance_import(image=image, content=content)

    again = provenance_import(image=image, content=content)

    assert again.pk == first.pk
    assert counts() == (1, 0, 0)
    assert len(stored_files(media)) == 1


# --- Refusals: nothing is written --------------------------------------------------

STATEMENT = (TESTDATA / "portal__slsa-v1-statement.json").read_bytes()


def _pop(key):
    return lambda statement: statement.pop(key)


def _set(path: list, value):
    def change(statement):
        target = statement
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


BAD_DOCUMENTS = {
    "invalid-json": (b'{"_type": ', "invalid_json", "Not valid JSON"),
    "dsse-payload-not-base64": (
        envelope("%%% this is not base64 %%%"),
        "schema",
        "at $.payload: not base64",
    ),
    "dsse-payload-not-json": (
        envelope(b"\x00\x01 not json"),
        "schema",
        "at $.payload: the decoded payload is not JSON",
    ),
    "dsse-wrong-payload-type": (
        envelope(STATEMENT, payloadType="application/json"),
        "schema",
        "at $.payloadType: expected application/vnd.in-toto+json",
    ),
    "dsse-signatures-not-a-list": (
        envelope(STATEMENT, signatures={"keyid": "k"}),
        "schema",
        "at $.signatures: expected a list",
    ),
    "no-subjects": (
        kubectl_with(_set(["subject"], [])),
        "schema",
        "at $.subject: the statement names no subjects",
    ),
    "subject-missing": (
        kubectl_with(_pop("subject")),
        "schema",
        "the statement names no subjects",
    ),
    "subject-without-digest": (
        kubectl_with(lambda s: s["subject"][4].pop("digest")),
        "schema",
        "at $.subject[4].digest: expected an object",
    ),
    "subject-bad-sha256": (
        kubectl_with(_set(["subject", 2, "digest", "sha256"], "abc")),
        "schema",
        "at $.subject[2].digest.sha256: not a sha256 digest",
    ),
    "builder-without-id": (
        kubectl_with(_set(["predicate", "builder"], {})),
        "schema",
        "at $.predicate.builder.id: expected a non-empty string",
    ),
    "not-slsa-provenance": (
        kubectl_with(_set(["predicateType"], "https://in-toto.io/attestation/vulns")),
        "schema",
        "at $.predicateType: 'https://in-toto.io/attestation/vulns' is not SLSA",
    ),
    "unknown-statement-type": (
        kubectl_with(_set(["_type"], "https://in-toto.io/Statement/v9")),
        "schema",
        "at $._type: unsupported statement type",
    ),
    "v1-without-build-type": (
        envelope(
            json.dumps(
                {
                    **json.loads(STATEMENT),
                    "predicate": {
                        "buildDefinition": {},
                        "runDetails": {"builder": {"id": "https://builder"}},
                    },
                }
            ).encode()
        ),
        "schema",
        "at $.payload(decoded).predicate.buildDefinition.buildType",
    ),
    "unknown-format-sbom": (
        (TESTDATA / "guac__busybox-cyclonedx.json").read_bytes(),
        "unknown_format",
        "Not SLSA provenance",
    ),
    "unknown-format-xml": (b"<statement/>", "unknown_format", "XML"),
}


@pytest.mark.parametrize("name", BAD_DOCUMENTS)
def test_bad_provenance_is_refused_and_nothing_is_written(name, media):
    content, code, message = BAD_DOCUMENTS[name]
    image = make_image(KUBECTL_TAR_DIGEST)

    with pytest.raises(ValidationError) as exc:
        provenance_import(image=image, content=content)

    assert refusal(exc)[0] == code
    assert message in refusal(exc)[1]
    assert counts() == (0, 0, 0)
    assert stored_files(media) == []


def test_provenance_about_another_digest_is_refused(media):
    image = make_image(OTHER_DIGEST)

    with pytest.raises(ValidationError) as exc:
        provenance_import(
            image=image, content=data("guac__oci-kubectl-linux-amd64-in-toto.json")
        )

    code, message = refusal(exc)
    assert code == "digest_mismatch"
    assert "This SLSA provenance is about another image" in message
    # 75 subjects, 65 distinct digests, none of them this build.
    assert "and 62 more" in message
    assert f"the build it was loaded for is {OTHER_DIGEST}" in message
    assert counts() == (0, 0, 0)
    assert stored_files(media) == []


def test_oversize_provenance_is_refused_before_parsing(settings):
    settings.EVIDENCE_MAX_BYTES = 2000
    image = make_image(TEKTON_DIGEST)

    with pytest.raises(ValidationError) as exc:
        provenance_import(image=image, content=data("guac__oci-dsse-att.json"))

    assert refusal(exc)[0] == "too_large"
    assert counts() == (0, 0, 0)


# --- The command -------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_provenance", *args, stdout=out)
    return out.getvalue()


def test_import_provenance_command_attaches_and_reports():
    make_image(TEKTON_DIGEST)

    output = run(TEKTON_DIGEST, str(TESTDATA / "guac__oci-dsse-att.json"))

    assert f"Attached SLSA 0.2 provenance to {TEKTON_DIGEST}" in output
    assert "builder 'https://tekton.dev/chains/v2'" in output
    # Tekton's key is not registered: the signature is not trusted, and said so.
    assert "Signature: No registered key verifies this signature" in output
    attestation = Attestation.objects.get()
    assert attestation.signer_key_id.startswith("SHA256:Q2hr")
    assert attestation.signature_status == Attestation.SignatureStatus.UNTRUSTED


@pytest.mark.parametrize(
    ("digest", "file", "message"),
    [
        (OTHER_DIGEST, "guac__oci-dsse-att.json", f"No image digest {OTHER_DIGEST}"),
        ("sha256:xyz", "guac__oci-dsse-att.json", "Not a sha256 digest"),
        (KUBECTL_TAR_DIGEST, "missing.json", "Cannot read"),
        (KUBECTL_TAR_DIGEST, "guac__oci-dsse-att.json", "about another image"),
        (KUBECTL_TAR_DIGEST, "guac__alpine-cyclonedx.json", "Not SLSA provenance"),
    ],
)
def test_import_provenance_command_refuses_bad_input_and_writes_nothing(
    digest, file, message, media
):
    make_image(KUBECTL_TAR_DIGEST)

    with pytest.raises(CommandError) as exc:
        run(digest, str(TESTDATA / file))

    assert message in str(exc.value)
    assert counts() == (0, 0, 0)
    assert stored_files(media) == []


# A command run from argv closes the database connections when it ends, which a
# test wrapped in a transaction would not survive on PostgreSQL.
@pytest.mark.django_db(transaction=True)
def test_import_provenance_command_exits_non_zero_on_a_digest_mismatch(capsys):
    make_image(KUBECTL_TAR_DIGEST)
    path = TESTDATA / "guac__oci-dsse-att.json"

    with pytest.raises(SystemExit) as exc:
        ManagementUtility(
            ["manage.py", "import_provenance", KUBECTL_TAR_DIGEST, str(path)]
        ).execute()

    assert exc.value.code == 1
    assert "is about another image" in capsys.readouterr().err
    assert counts() == (0, 0, 0)
