"""The evidence bundle carries what checks its signatures offline: the portal's
DSSE signature of evidence.json, each attestation's detached signature beside
it, the public keys of the signers involved and the portal's, the Sigstore
trust root when a Sigstore bundle is in it, every verdict, and a guide whose
openssl steps are run here, as printed, on the unpacked bundle."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.catalog.models import Attestation
from apps.evidence.ingest import evidence_import
from apps.reports.bundle_signatures import OPENSSL_STEPS
from apps.reports.checks.files import readme_names
from apps.reports.signing import current_signing_key
from tests.catalog import signing
from tests.factories import UserFactory

from .test_bundle import make, path_of, unpack, world  # noqa: F401

pytestmark = pytest.mark.django_db

SIGSTORE = Path(__file__).resolve().parents[1] / "data" / "sigstore"


def _tools() -> None:
    missing = [t for t in ("openssl", "jq", "base64") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"the guide's tools are missing: {', '.join(missing)}")


@pytest.fixture
def signed(world):  # noqa: F811
    """The world's build with an attestation of each verdict and a provenance
    that is itself a key-signed envelope, plus a keyless Sigstore bundle about
    another artifact that staff attached by override."""
    image = world.image
    rows = signing.one_of_each(image)
    release = signing.private_key()
    signing.register(release, "Provenance key")
    own = signing.envelope(
        release, signing.statement(image.digest, name="registry.example/payments")
    )
    rows["own"] = signing.load(image, "provenance", own)
    evidence_import(
        kind="provenance",
        content=(SIGSTORE / "sigstore-go__bundle-provenance.json").read_bytes(),
        digest=image.digest,
        actor=UserFactory(is_staff=True),
        match=False,
        subject_override_reason="Kept to show a Sigstore bundle in the bundle.",
    )
    rows["sigstore"] = Attestation.objects.get(
        digest=image, media_type__startswith="application/vnd.dev.sigstore.bundle"
    )
    return world, rows


def _unpacked(tmp_path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "bundle"
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def _guide_steps(guide: str) -> list[str]:
    lines = guide.splitlines()
    start = lines.index(
        "   Set ENVELOPE and KEY to a pair below; in the unpacked bundle, run:"
    )
    steps = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        steps.append(line.removeprefix("    "))
    return steps


def _pairs(guide: str) -> dict[str, str]:
    """ENVELOPE -> KEY, as the guide lists them."""
    lines = guide.splitlines()
    pairs = {}
    for i, line in enumerate(lines):
        if line.startswith("     ENVELOPE="):
            assert lines[i + 1].startswith("     KEY=")
            pairs[line.split("=", 1)[1]] = lines[i + 1].split("=", 1)[1]
    return pairs


def _run(root: Path, envelope: str, key: str, steps: list[str], *extra: str):
    script = "\n".join([f"ENVELOPE={envelope}", f"KEY={key}", *steps, *extra])
    return subprocess.run(
        ["bash", "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_bundle_carries_signatures_keys_trust_root_and_verdicts(signed):
    w, rows = signed
    files = unpack(make(w.report))
    docs = {k: path_of(a, "payments") for k, a in rows.items()}
    # Detached signatures beside their documents; none for one signing itself.
    for key in ("verified", "untrusted", "revoked"):
        assert files[f"{docs[key]}.sig.json"] == rows[key].signature_file.read()
    assert f"{docs['own']}.sig.json" not in files
    assert f"{docs['unverified']}.sig.json" not in files
    # The keys of the signers involved, as registered; the unknown key is not
    # there: nobody registered it.
    verified_signer = rows["verified"].signature_signer
    key_files = sorted(p for p in files if p.startswith("signatures/keys/"))
    portal = current_signing_key()
    short = portal.key_id.removeprefix("sha256:")[:16]
    assert f"signatures/keys/portal-{short}.pem" in key_files
    assert f"signatures/keys/portal-{short}.crt" in key_files
    assert files[f"signatures/keys/{verified_signer.fingerprint[:16]}.pem"] == (
        verified_signer.public_key_pem.encode()
    )
    revoked_signer = rows["revoked"].signature_signer
    assert f"signatures/keys/{revoked_signer.fingerprint[:16]}.pem" in key_files
    assert len(key_files) == 2 + 3  # portal pem, crt; release, retired, provenance
    # The trust root the portal checked Sigstore bundles against.
    from django.conf import settings

    assert (
        files["signatures/sigstore-trusted-root.json"]
        == Path(settings.SIGSTORE_TRUSTED_ROOT_FILE).read_bytes()
    )
    verdicts = json.loads(files["signatures/verdicts.json"])
    assert verdicts["evidence"]["key_id"] == portal.key_id
    by_doc = {v["document"]: v for v in verdicts["attestations"]}
    assert {k: by_doc[d]["status"] for k, d in docs.items()} == {
        "verified": "verified",
        "unverified": "unverified",
        "invalid": "invalid",
        "untrusted": "untrusted",
        "revoked": "untrusted",
        "own": "verified",
        "sigstore": "invalid",
    }
    assert by_doc[docs["revoked"]]["check"] == "revoked"
    assert by_doc[docs["revoked"]]["signer_revoked_at"] is not None
    assert by_doc[docs["invalid"]]["check_label"] == "signature over the content"
    assert by_doc[docs["sigstore"]]["form"] == "sigstore"
    assert by_doc[docs["verified"]]["signer"] == verified_signer.name
    # The README names what is there (as the bundle's own check reads it).
    readme = files["README.txt"].decode()
    assert "signatures/VERIFY.txt" in readme
    named, folders = readme_names(readme)
    assert {"evidence.json.dsse.json", "evidence.json"} <= named <= set(files)
    assert "signatures/" in folders


def test_the_guide_s_openssl_steps_check_each_envelope(signed, tmp_path):
    _tools()
    w, rows = signed
    files = unpack(make(w.report))
    guide = files["signatures/VERIFY.txt"].decode()
    steps = _guide_steps(guide)
    assert steps == list(OPENSSL_STEPS)
    pairs = _pairs(guide)
    docs = {k: path_of(a, "payments") for k, a in rows.items()}
    # The evidence signature, the detached ones and the self-signed envelope:
    # every key-signed envelope whose key is in the bundle, the tampered one
    # among them (it names its key).
    assert set(pairs) == {
        "evidence.json.dsse.json",
        f"{docs['verified']}.sig.json",
        f"{docs['revoked']}.sig.json",
        docs["invalid"],
        docs["own"],
    }
    root = _unpacked(tmp_path, files)

    done = _run(
        root,
        "evidence.json.dsse.json",
        pairs["evidence.json.dsse.json"],
        steps,
        "cmp payload evidence.json",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Verified OK"

    for key in ("verified", "revoked"):
        envelope = f"{docs[key]}.sig.json"
        done = _run(
            root,
            envelope,
            pairs[envelope],
            steps,
            "jq -r '.subject[].digest.sha256' payload",
        )
        assert done.returncode == 0, done.stderr
        verified, subject = done.stdout.splitlines()
        assert verified == "Verified OK"
        # The statement names the document beside it.
        assert subject == hashlib.sha256(files[docs[key]]).hexdigest()

    done = _run(
        root,
        docs["own"],
        pairs[docs["own"]],
        steps,
        "jq -r '.subject[].digest.sha256' payload",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Verified OK",
        w.image.digest.removeprefix("sha256:"),
    ]

    # The tampered provenance: the key it names did not sign this payload.
    done = _run(root, docs["invalid"], pairs[docs["invalid"]], steps)
    assert done.returncode != 0
    assert "Verification failure" in done.stdout


def test_the_guide_s_steps_fail_on_a_changed_file(signed, tmp_path):
    _tools()
    w, _ = signed
    files = unpack(make(w.report))
    guide = files["signatures/VERIFY.txt"].decode()
    steps = _guide_steps(guide)
    key = _pairs(guide)["evidence.json.dsse.json"]
    root = _unpacked(tmp_path, files)
    (root / "evidence.json").write_bytes(files["evidence.json"] + b" ")
    done = _run(
        root, "evidence.json.dsse.json", key, steps, "cmp payload evidence.json"
    )
    assert done.returncode != 0
    assert "Verified OK" in done.stdout  # the envelope is intact ...
    assert "cmp:" in done.stderr  # ... and carries another file
    envelope = json.loads(files["evidence.json.dsse.json"])
    envelope["payload"] = envelope["payload"][:-4] + "AAAA"
    (root / "evidence.json.dsse.json").write_text(json.dumps(envelope))
    done = _run(root, "evidence.json.dsse.json", key, steps)
    assert done.returncode != 0
    assert "Verification failure" in done.stdout


def test_the_evidence_signature_verifies_with_verify_evidence(signed, tmp_path, capsys):
    from django.core.management import call_command

    w, _ = signed
    files = unpack(make(w.report))
    root = _unpacked(tmp_path, files)
    call_command(
        "verify_evidence",
        str(root / "evidence.json"),
        str(root / "evidence.json.dsse.json"),
    )
    assert "Valid." in capsys.readouterr().out


def test_a_bundle_without_sigstore_documents_carries_no_trust_root(world):  # noqa: F811
    files = unpack(make(world.report))
    assert "signatures/sigstore-trusted-root.json" not in files
    guide = files["signatures/VERIFY.txt"].decode()
    assert (
        "2. A Sigstore bundle (cosign, or sigstore-python)\n\n   None in this bundle."
        in guide
    )
    verdicts = json.loads(files["signatures/verdicts.json"])
    assert verdicts["trust_root"] is None
    assert {v["status"] for v in verdicts["attestations"]} == {"unverified"}
