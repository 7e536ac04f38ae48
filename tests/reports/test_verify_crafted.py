"""Crafted PDFs on the public verify page and ``manage.py verify_report``:
each is "not a valid report" (the file is damaged), in a bounded time, never
a server error; a PDF that would hold the reader too long is stopped by the
bounded child process (apps.core.bounded)."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from apps.reports import signing
from apps.reports.formats.pdf_signature import (
    MAX_FIELD_DEPTH,
    signature_facts,
)
from apps.reports.models import Report
from tests.reports.test_signing import (
    signed_report,
    signing_dir,  # noqa: F401  (autouse: the key in the test's directory)
)

pytestmark = pytest.mark.django_db
FORM = "reports_verify:form"
# Each crafted file is judged in well under this on a loaded machine; before
# the reader was bounded, the /Kids chain alone took seconds and then failed.
BOUND_SECONDS = 1.0


def build_pdf(objects: list[bytes]) -> bytes:
    """A PDF of ``objects`` (numbered from 1, the catalog first) with a
    correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] >> >>"
_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def signature_value_is_an_array() -> bytes:
    return build_pdf(
        [_CATALOG, _PAGES, _PAGE, b"<< /FT /Sig /T (ReportSignature) /V [1 2 3] >>"]
    )


def nested_arrays(depth: int = 20_000) -> bytes:
    value = b"[" * depth + b"]" * depth
    return build_pdf(
        [_CATALOG, _PAGES, _PAGE, b"<< /FT /Sig /T (x) /V " + value + b" >>"]
    )


def kids_chain(depth: int = 3_000) -> bytes:
    fields = [f"<< /T (f{i}) /Kids [{5 + i} 0 R] >>".encode() for i in range(depth - 1)]
    return build_pdf([_CATALOG, _PAGES, _PAGE, *fields, b"<< /FT /Sig /T (leaf) >>"])


CRAFTED = {
    "sig-value-array": signature_value_is_an_array,
    "nested-arrays": nested_arrays,
    "kids-chain": kids_chain,
}


def _upload(client: Client, url: str, content: bytes):
    return client.post(
        url,
        {"document": SimpleUploadedFile("r.pdf", content, "application/pdf")},
    )


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.REPORT_VERIFY_RATE = "1000/min"


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_pdf_on_the_verify_page_is_damaged_not_an_error(name):
    content = CRAFTED[name]()
    client = Client(raise_request_exception=False)
    _upload(client, reverse(FORM), b"%PDF-1.7 warm-up")
    started = time.perf_counter()
    response = _upload(client, reverse(FORM), content)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Not valid" in body
    assert "The file is damaged: it cannot be read as a PDF." in body
    assert elapsed < BOUND_SECONDS, f"{name} took {elapsed:.2f}s"


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_pdf_against_a_record_is_damaged_not_an_error(org, name):
    report, _ = signed_report(org)
    client = Client(raise_request_exception=False)
    url = reverse("reports_verify:detail", args=[report.public_id])
    response = _upload(client, url, CRAFTED[name]())
    assert response.status_code == 200
    assert "The file is damaged" in response.content.decode()


@pytest.mark.parametrize("name", CRAFTED)
def test_verify_report_command_says_damaged(tmp_path, name):
    path = tmp_path / "crafted.pdf"
    path.write_bytes(CRAFTED[name]())
    with pytest.raises(CommandError, match="the file is damaged"):
        call_command("verify_report", str(path))


def test_a_reader_that_runs_too_long_is_stopped_and_called_damaged(monkeypatch):
    def stuck(content, **kwargs):
        time.sleep(60)

    monkeypatch.setattr(signing, "signature_facts", stuck)
    monkeypatch.setattr(signing, "VERIFY_TIMEOUT_SECONDS", 0.5)
    started = time.perf_counter()
    verification = signing.verify_document(signature_value_is_an_array())
    assert time.perf_counter() - started < 3
    assert signing.DAMAGED in verification.problems
    assert not verification.ok


def test_a_file_larger_than_any_report_is_not_read(settings, monkeypatch):
    settings.EVIDENCE_MAX_BYTES = 1_000

    def never(*args, **kwargs):
        raise AssertionError("read")

    monkeypatch.setattr(signing, "run_bounded", never)
    verification = signing.verify_document(b"%PDF-1.7\n" + b"0" * 2_000)
    assert signing.TOO_LARGE in verification.problems


def test_an_issued_report_still_verifies_through_the_bounded_reader(org):
    report, content = signed_report(org)
    verification = signing.verify_document(content, expected=report)
    assert verification.ok, verification.problems
    assert verification.report == report
    assert verification.signer


# --------------------------------------------------------------------------
# The reader itself (pure)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CRAFTED)
def test_the_reader_calls_a_crafted_file_unreadable(name):
    facts = signature_facts(CRAFTED[name](), trust_roots=[], field_name="x")
    assert facts["readable"] is False
    assert facts["detail"]


def test_a_form_tree_at_the_depth_bound_is_read():
    facts = signature_facts(kids_chain(MAX_FIELD_DEPTH), trust_roots=[], field_name="x")
    assert facts == {"readable": True, "signed": False}


def test_a_form_tree_one_past_the_depth_bound_is_unreadable():
    facts = signature_facts(
        kids_chain(MAX_FIELD_DEPTH + 1), trust_roots=[], field_name="x"
    )
    assert facts["readable"] is False
    assert "nested over" in facts["detail"]


def test_a_cycle_in_the_form_tree_is_unreadable():
    content = build_pdf(
        [
            _CATALOG,
            _PAGES,
            _PAGE,
            b"<< /T (a) /Kids [5 0 R] >>",
            b"<< /T (b) /Kids [4 0 R] >>",
        ]
    )
    facts = signature_facts(content, trust_roots=[], field_name="x")
    assert facts["readable"] is False
    assert "cycle" in facts["detail"]


def test_the_reader_reports_the_signature_of_an_issued_report(org):
    report, content = signed_report(org)
    assert report.status == Report.Status.READY
    facts = signature_facts(content, trust_roots=[], field_name="ReportSignature")
    for fact in ("signed", "checked", "intact", "valid", "entire_file"):
        assert facts[fact] is True, fact
    assert facts["chain_ok"] is False  # no trusted roots given
    assert facts["reason"] == f"Report {report.public_id}"
