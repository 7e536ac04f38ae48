"""The public verify page and ``manage.py verify_report``."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.reports.models import Report, SigningKey
from apps.reports.signing import sign_pdf
from tests.reports.test_signing import (
    append_update,
    flip_signed_byte,
    issue,
    make_pdfa,
    new_report,
    signed_report,
    signing_dir,  # noqa: F401  (autouse: the key in the test's directory)
)

pytestmark = pytest.mark.django_db
FORM = "reports_verify:form"


def _pdf(content: bytes, name: str = "report.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def _counts() -> tuple[int, int, int]:
    return (
        Report.objects.count(),
        SigningKey.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def issued(org):
    return signed_report(org)


# --------------------------------------------------------------------------
# /reports/verify/
# --------------------------------------------------------------------------


def test_form_page_is_public(client: Client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(reverse(FORM))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'name="document"' in body
    assert 'name="sha256"' in body
    assert "csrfmiddlewaretoken" in body


def test_upload_of_an_issued_report_is_valid(
    client: Client, issued, django_assert_num_queries
):
    report, content = issued
    before = _counts()

    # The report by hash, the signing keys.
    with django_assert_num_queries(2):
        response = client.post(reverse(FORM), {"document": _pdf(content)})

    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Valid" in body
    assert str(report.public_id) in body
    assert report.signer_key_id in body
    assert report.sha256 in body
    assert "acme" not in body.lower(), "the organization is not shown"
    assert _counts() == before, "verifying writes nothing"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (flip_signed_byte, "Signature does not match the content."),
        (append_update, "The file was changed after signing."),
    ],
    ids=["byte", "appended"],
)
def test_upload_of_a_changed_report_is_invalid(client: Client, issued, change, reason):
    _, content = issued

    response = client.post(reverse(FORM), {"document": _pdf(change(content))})

    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Not valid" in body
    assert reason in body
    assert "No report has this SHA-256." in body


def test_upload_of_something_else_says_not_a_pdf(client: Client, issued):
    response = client.post(
        reverse(FORM), {"document": SimpleUploadedFile("notes.txt", b"hello")}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Not valid" in body
    assert "Not a PDF." in body


def test_hash_of_an_issued_report_finds_its_record(
    client: Client, issued, django_assert_num_queries
):
    report, _ = issued

    with django_assert_num_queries(2):  # the report, its signing key
        response = client.post(reverse(FORM), {"sha256": report.sha256.upper()})

    assert response.status_code == 200
    body = response.content.decode()
    assert "Hash found" in body
    assert str(report.public_id) in body
    assert "2026-01-01 to 2026-03-31" in body
    assert "acme" not in body.lower()


def test_unknown_hash_is_not_found(client: Client, issued):
    response = client.post(reverse(FORM), {"sha256": "ab" * 32})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Hash not found" in body
    assert "No report has this SHA-256." in body


def test_hash_of_a_report_still_rendering_is_not_found(client: Client):
    report = new_report()
    report.sha256 = "cd" * 32
    report.save()
    response = client.post(reverse(FORM), {"sha256": report.sha256})
    assert "Hash not found" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "Upload the report file or enter its SHA-256."),
        ({"sha256": "xyz"}, "A SHA-256 is 64 hexadecimal digits"),
        ({"sha256": "a" * 63}, "A SHA-256 is 64 hexadecimal digits"),
        ({"sha256": "g" * 64}, "A SHA-256 is 64 hexadecimal digits"),
        ({"document": "empty"}, "The file is empty."),
        ({"document": "big"}, "bytes; the limit is 2000."),
        ({"document": "pdf", "sha256": "a" * 64}, "not both"),
    ],
    ids=["nothing", "short-text", "63", "not-hex", "empty", "oversized", "both"],
)
def test_bad_input_is_refused_with_a_clear_error(
    client: Client, settings, issued, data, error
):
    settings.EVIDENCE_MAX_BYTES = 2000
    files = {
        "empty": SimpleUploadedFile("r.pdf", b""),
        "big": _pdf(b"%PDF-1.7\n" + b"x" * 2001),
        "pdf": _pdf(issued[1][:1000]),
    }
    if "document" in data:
        data = {**data, "document": files[data["document"]]}
    before = _counts()

    response = client.post(reverse(FORM), data)

    assert response.status_code == 400
    body = response.content.decode()
    assert error in body
    assert 'name="document"' in body, "the form is shown again"
    assert _counts() == before


def test_posts_need_the_csrf_token(issued):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse(FORM), {"document": _pdf(issued[1])})
    assert response.status_code == 403


def test_checks_are_rate_limited_per_address(client: Client, settings, issued):
    settings.REPORT_VERIFY_RATE = "2/min"
    for _ in range(2):
        assert client.post(reverse(FORM), {"sha256": "a" * 64}).status_code == 200

    response = client.post(reverse(FORM), {"document": _pdf(issued[1])})

    assert response.status_code == 429
    assert "Too many checks" in response.content.decode()
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert other.post(reverse(FORM), {"sha256": "a" * 64}).status_code == 200


# --------------------------------------------------------------------------
# /reports/verify/<public_id>/: where the QR code points.
# --------------------------------------------------------------------------


def _detail(report) -> str:
    return reverse("reports_verify:detail", args=[report.public_id])


def test_detail_shows_the_public_record_only(
    client: Client, issued, django_assert_num_queries
):
    report, _ = issued
    with django_assert_num_queries(2):  # the report, its signing key
        response = client.get(_detail(report))

    assert response.status_code == 200
    body = response.content.decode()
    for shown in (str(report.public_id), report.sha256, report.signer_key_id):
        assert shown in body
    assert "Compliance report" in body
    assert "2026-01-01 to 2026-03-31" in body
    assert "a development key" in body
    assert "acme" not in body.lower(), "no organization on a public page"
    assert 'enctype="multipart/form-data"' in body


def test_detail_is_the_url_printed_in_the_report(issued):
    from apps.reports.links import verify_path

    report, _ = issued
    assert verify_path(report.public_id) == _detail(report)


def test_detail_of_a_report_not_issued_is_404(client: Client):
    rendering = new_report()
    assert client.get(_detail(rendering)).status_code == 404
    missing = Report(public_id="00000000-0000-4000-8000-000000000000")
    assert client.get(_detail(missing)).status_code == 404


def test_detail_upload_of_its_file_is_valid(client: Client, issued):
    report, content = issued
    response = client.post(_detail(report), {"document": _pdf(content)})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Valid" in body
    assert "The record you checked against" in body


def test_detail_upload_of_another_report_is_invalid(client: Client, issued):
    report, _ = issued
    _, other_content = signed_report()

    response = client.post(_detail(report), {"document": _pdf(other_content)})

    body = response.content.decode()
    assert "<h1>Not valid" in body
    assert "This file is not the report of this record." in body


def test_detail_upload_of_a_tampered_copy_is_invalid(client: Client, issued):
    report, content = issued
    response = client.post(
        _detail(report), {"document": _pdf(flip_signed_byte(content))}
    )
    body = response.content.decode()
    assert "<h1>Not valid" in body
    assert "Signature does not match the content." in body


@pytest.mark.parametrize(
    ("document", "error"),
    [(None, "Choose the report file to check."), (b"", "The file is empty.")],
    ids=["none", "empty"],
)
def test_detail_refuses_a_missing_file(client: Client, issued, document, error):
    report, _ = issued
    data = {} if document is None else {"document": SimpleUploadedFile("r", document)}
    before = _counts()
    response = client.post(_detail(report), data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert _counts() == before


# --------------------------------------------------------------------------
# manage.py verify_report FILE
# --------------------------------------------------------------------------


def test_command_says_valid_for_an_issued_report(tmp_path, issued, capsys):
    report, content = issued
    path = tmp_path / "report.pdf"
    path.write_bytes(content)

    call_command("verify_report", str(path))

    out = capsys.readouterr().out
    assert "Valid." in out
    assert str(report.public_id) in out
    assert report.signer_key_id in out


def test_command_json_output(tmp_path, issued, capsys):
    report, content = issued
    path = tmp_path / "report.pdf"
    path.write_bytes(content)

    call_command("verify_report", str(path), "--json")

    # stdout is exactly one JSON document, nothing after it
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True
    assert result["report_id"] == str(report.public_id)
    assert result["sha256"] == hashlib.sha256(content).hexdigest()
    assert result["covers_entire_file"] is True
    assert result["problems"] == []


def test_command_fails_with_status_1_and_reasons_for_a_changed_file(
    tmp_path, issued, capsys
):
    path = tmp_path / "report.pdf"
    path.write_bytes(append_update(issued[1]))

    with pytest.raises(CommandError, match="changed after signing") as raised:
        call_command("verify_report", str(path), "--json")

    assert raised.value.returncode == 1
    assert json.loads(capsys.readouterr().out)["valid"] is False


def test_command_fails_for_a_valid_signature_without_a_record(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(sign_pdf(make_pdfa(), report=new_report()).content)
    with pytest.raises(CommandError, match="no report has this SHA-256"):
        call_command("verify_report", str(path))


@pytest.mark.parametrize("name", ["missing.pdf", "."], ids=["missing", "directory"])
def test_command_refuses_a_path_that_is_not_a_file(tmp_path, name):
    with pytest.raises(CommandError, match="no such file"):
        call_command("verify_report", str(tmp_path / name))


def test_command_refuses_an_unreadable_file(tmp_path, issued, monkeypatch):
    path = tmp_path / "report.pdf"
    path.write_bytes(issued[1])

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    # Root reads any file, so a chmod would not refuse it here.
    monkeypatch.setattr(type(path), "read_bytes", refuse)
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("verify_report", str(path))


def test_command_verifies_an_evidence_bundle_by_its_hash(tmp_path, capsys):
    bundle = b"PK\x03\x04 the bundle"
    issue(new_report(kind=Report.Kind.EVIDENCE_BUNDLE), bundle, media="application/zip")
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle)
    call_command("verify_report", str(path))
    assert "Valid." in capsys.readouterr().out


def test_upload_of_the_pdf_from_an_evidence_bundle_is_valid(client: Client):
    bundle = new_report(kind=Report.Kind.EVIDENCE_BUNDLE)
    pdf = sign_pdf(make_pdfa(), report=bundle)
    issue(bundle, b"PK\x03\x04 zip", key_id=pdf.key_id, media="application/zip")

    response = client.post(reverse(FORM), {"document": _pdf(pdf.content)})

    body = response.content.decode()
    assert "<h1>Valid" in body
    assert "the signed PDF of an evidence bundle" in body
    assert str(bundle.public_id) in body


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        (Report.Kind.POAM, "the match with the portal's record is the check"),
        (Report.Kind.EVIDENCE_BUNDLE, "the report PDF inside it is signed"),
    ],
)
def test_an_unsigned_kind_says_what_was_checked_and_promises_no_signature(
    client: Client, kind, says
):
    content = b"PK\x03\x04 " + kind.encode()
    issue(new_report(kind=kind), content, media="application/zip")
    upload = SimpleUploadedFile("file.bin", content)
    body = client.post(reverse(FORM), {"document": upload}).content.decode()
    assert "<h1>Valid" in body
    assert says in body
    assert "beside it" not in body
