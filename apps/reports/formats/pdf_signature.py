"""What a PDF someone uploaded says about its signature, as plain data.

Pure (bytes and trusted certificates in, a dict out, no database), so that
``apps.reports.signing`` can run it in a bounded child process
(``apps.core.bounded``): an uploaded PDF is anyone's, and pyHanko reading a
crafted one recurses (20,000 nested arrays), does quadratic work (a
3,000-deep ``/Kids`` chain) or meets shapes it does not expect (a signature
field whose ``/V`` is an array). Here the form tree is walked first with a
depth and a count bound, and anything pyHanko raises while reading is an
unreadable file, never an error of the caller.

The answer is JSON-ready: ``{"readable": False, "detail": ...}``, or
``{"readable": True, "signed": False}``, or the signature's facts (see
``_facts``), with ``"checked": False`` when it could not be validated.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

# A report has one signature field at the top of its form; real forms nest a
# few levels. pyHanko walks the tree recursively, re-reading each field's
# parents, so the bound keeps that walk short.
MAX_FIELD_DEPTH = 16
MAX_FIELDS = 2_000
# What is kept of strings the file chose (a signature's /Reason).
MAX_TEXT = 500


class UnreadablePdfError(Exception):
    """The file's structure is outside what a report can be."""


def signature_facts(
    content: bytes, *, trust_roots: list[bytes], field_name: str
) -> dict[str, Any]:
    """The signature named ``field_name`` (else the first) of a PDF, checked
    against ``trust_roots`` (DER certificates)."""
    try:
        reader = PdfFileReader(io.BytesIO(content), strict=False)
        form_tree_check(reader)
        embedded = list(reader.embedded_signatures)
        if not embedded:
            return {"readable": True, "signed": False}
        sig = next((s for s in embedded if s.field_name == field_name), embedded[0])
        reason = str(_value(sig.sig_object, "/Reason") or "")[:MAX_TEXT]
    except Exception as exc:  # any failure to read is "unreadable"
        return {"readable": False, "detail": _detail(exc)}
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(der) for der in trust_roots],
        allow_fetching=False,
    )
    try:
        status = validate_pdf_signature(sig, context, skip_diff=True)
        return _facts(status, reason)
    except Exception as exc:  # a signature that cannot be checked
        return {
            "readable": True,
            "signed": True,
            "checked": False,
            "detail": _detail(exc),
        }


def _facts(status, reason: str) -> dict[str, Any]:
    signed_at = status.signer_reported_dt
    return {
        "readable": True,
        "signed": True,
        "checked": True,
        "reason": reason,
        "intact": bool(status.intact),
        "valid": bool(status.valid),
        # pyHanko's ``trusted`` also needs an intact signature; the chain is
        # judged on its own so that each failure gets its own message.
        "chain_ok": status.trust_problem_indic is None
        and status.validation_path is not None,
        "entire_file": status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        "signing_cert": base64.b64encode(status.signing_cert.dump()).decode(),
        "signer": str(status.signing_cert.subject.human_friendly)[:MAX_TEXT],
        "signed_at": signed_at.isoformat() if signed_at else None,
    }


def form_tree_check(reader: PdfFileReader) -> None:
    """Walk the interactive form's field tree without recursion, refusing a
    tree deeper than MAX_FIELD_DEPTH, larger than MAX_FIELDS or with a cycle."""
    form = _value(reader.root, "/AcroForm")
    fields = _value(form, "/Fields")
    if not isinstance(fields, generic.ArrayObject):
        return
    stack: list[tuple[Any, int, frozenset]] = [(ref, 1, frozenset()) for ref in fields]
    count = 0
    while stack:
        ref, depth, above = stack.pop()
        count += 1
        if count > MAX_FIELDS:
            raise UnreadablePdfError(f"more than {MAX_FIELDS} form fields")
        if depth > MAX_FIELD_DEPTH:
            raise UnreadablePdfError(f"form fields nested over {MAX_FIELD_DEPTH} deep")
        if not isinstance(ref, generic.IndirectObject):
            continue
        if ref.reference in above:
            raise UnreadablePdfError("a cycle in the form's fields")
        kids = _value(ref.get_object(), "/Kids")
        if isinstance(kids, generic.ArrayObject):
            path = above | {ref.reference}
            stack.extend((kid, depth + 1, path) for kid in kids)


def _value(container: Any, key: str) -> Any:
    """``container[key]`` dereferenced, or None (``dict.get`` is not)."""
    if not isinstance(container, generic.DictionaryObject) or key not in container:
        return None
    return container[key]


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_TEXT]
