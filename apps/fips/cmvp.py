"""Reading one CMVP certificate record (the NIST-CMVP-API JSON layout).

Pure parsing: bytes in, a ``CmvpRecord`` out, or a ValidationError that names
every problem found. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.boundedjson import JsonRefusedError, bounded_loads
from apps.core.inputs import ascii_int

_STANDARDS = {"fips 140-2": "140-2", "fips 140-3": "140-3"}
_STATUSES = {"active": "active", "historical": "historical", "revoked": "revoked"}
_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d")


@dataclass(frozen=True)
class CmvpRecord:
    """The fields of a certificate record the module registry keeps."""

    certificate_number: int
    name: str
    vendor: str
    standard: str
    status: str
    validation_date: date
    sunset_date: date | None
    security_policy_url: str

    def fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "standard": self.standard,
            "status": self.status,
            "validation_date": self.validation_date,
            "sunset_date": self.sunset_date,
            "security_policy_url": self.security_policy_url,
        }


def _parse_date(value: str, where: str, errors: list[str]) -> date | None:
    text = value.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a date)
        except ValueError:
            continue
    errors.append(f"{where}: {value!r} is not a date (M/D/YYYY).")
    return None


def _text(cert: dict[str, Any], key: str, errors: list[str]) -> str:
    value = cert.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"certificate.{key}: missing or not text.")
        return ""
    return value.strip()


def _certificate_number(value: Any, errors: list[str]) -> int:
    if isinstance(value, bool) or value is None or value == "":
        errors.append("certificate.certificate_number: missing.")
        return 0
    number = ascii_int(str(value).strip())
    if number is None or number < 1:
        errors.append(
            f"certificate.certificate_number: {value!r} is not a positive whole number."
        )
        return 0
    return number


def _validation_date(cert: dict[str, Any], errors: list[str]) -> date | None:
    dates = cert.get("validation_dates")
    where = "certificate.validation_dates"
    if dates is None:
        single = cert.get("validation_date")
        if not isinstance(single, str) or not single.strip():
            errors.append("certificate.validation_date: missing.")
            return None
        dates = [part for part in single.split(",") if part.strip()]
        where = "certificate.validation_date"
    if (
        not isinstance(dates, list)
        or not dates
        or not all(isinstance(d, str) for d in dates)
    ):
        errors.append(f"{where}: expected a non-empty list of dates.")
        return None
    parsed = [_parse_date(d, where, errors) for d in dates]
    known = [d for d in parsed if d is not None]
    if len(known) != len(parsed):
        return None
    # The first validation; later dates are updates to the same certificate.
    return min(known)


def cmvp_record_parse(*, content: bytes) -> CmvpRecord:
    """Parse one CMVP certificate record; raise ValidationError on bad input."""
    try:
        document = bounded_loads(content, max_bytes=settings.EVIDENCE_MAX_BYTES)
    except JsonRefusedError as exc:
        if exc.line:
            raise ValidationError(
                f"The CMVP record is not valid JSON: line {exc.line} column "
                f"{exc.column}: {exc.reason}"
            ) from None
        raise ValidationError(f"The CMVP record is refused: {exc.message}") from None
    if not isinstance(document, dict) or not isinstance(
        document.get("certificate"), dict
    ):
        raise ValidationError(
            "The CMVP record is not a certificate record: expected a JSON object "
            'with a "certificate" object.'
        )
    cert: dict[str, Any] = document["certificate"]
    errors: list[str] = []
    number = _certificate_number(cert.get("certificate_number"), errors)
    name = _text(cert, "module_name", errors)
    vendor = cert.get("vendor_name")
    if not isinstance(vendor, str) or not vendor.strip():
        nested = cert.get("vendor")
        vendor = nested.get("name") if isinstance(nested, dict) else None
    if not isinstance(vendor, str) or not vendor.strip():
        errors.append("certificate.vendor_name: missing or not text.")
        vendor = ""
    standard_text = _text(cert, "standard", errors)
    standard = _STANDARDS.get(standard_text.lower(), "")
    if standard_text and not standard:
        errors.append(
            f"certificate.standard: {standard_text!r} is not FIPS 140-2 or FIPS 140-3."
        )
    status_text = _text(cert, "status", errors)
    status = _STATUSES.get(status_text.lower(), "")
    if status_text and not status:
        errors.append(
            f"certificate.status: {status_text!r} is not Active, Historical or Revoked."
        )
    validated = _validation_date(cert, errors)
    sunset: date | None = None
    raw_sunset = cert.get("sunset_date")
    if isinstance(raw_sunset, str) and raw_sunset.strip():
        sunset = _parse_date(raw_sunset, "certificate.sunset_date", errors)
    elif raw_sunset not in (None, ""):
        errors.append("certificate.sunset_date: not text.")
    policy_url = cert.get("security_policy_url") or ""
    if not isinstance(policy_url, str):
        errors.append("certificate.security_policy_url: not text.")
        policy_url = ""
    if errors:
        raise ValidationError(errors)
    assert validated is not None  # noqa: S101 (errors is empty)
    return CmvpRecord(
        certificate_number=number,
        name=name,
        vendor=vendor.strip(),
        standard=standard,
        status=status,
        validation_date=validated,
        sunset_date=sunset,
        security_policy_url=policy_url.strip(),
    )
