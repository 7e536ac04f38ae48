"""A report's HTML laid out by WeasyPrint as PDF/A-3b, with its canonical
evidence JSON attached as ``evidence.json`` (relationship Data)."""

from __future__ import annotations

from datetime import datetime

PDF_VARIANT = "pdf/a-3b"


def _fetcher():
    from weasyprint.urls import URLFetcher

    # The report draws nothing from outside itself: no file, no network.
    return URLFetcher(allowed_protocols=("data",), fail_on_errors=True)


def write_pdf(
    html: str,
    *,
    evidence_json: bytes,
    created: datetime,
    base_url: str | None = None,
) -> tuple[bytes, int]:
    """Lay ``html`` out once, count its pages and write it as PDF/A-3b with
    the evidence attached (relationship Data)."""
    from weasyprint import HTML, Attachment

    document = HTML(string=html, base_url=base_url, url_fetcher=_fetcher()).render(
        pdf_variant=PDF_VARIANT
    )
    pages = len(document.pages)
    attachment = Attachment(
        string=evidence_json,
        name="evidence.json",
        description="The report's evidence, canonical JSON (application/json)",
        created=created,
        modified=created,
        relationship="Data",
    )
    content = document.write_pdf(pdf_variant=PDF_VARIANT, attachments=[attachment])
    return content, pages
