"""The severity rule (DESIGN.md section 4) and CVSS scores computed from vectors.

Vendor advisory severity wins when present, else the CVSS v4 base score, else
CVSS v3.x: critical >= 9.0, high >= 7.0, medium >= 4.0, low > 0, none = 0;
unknown when there is nothing to go on.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

from .models import SEVERITY_ORDER, Severity

# Words advisories use for their own rating, mapped to ours. Words that say
# nothing about impact ("negligible", "unimportant", "untriaged", "not yet
# assigned") are left out on purpose: the CVSS score then decides.
VENDOR_LABELS = {
    "critical": Severity.CRITICAL,
    "important": Severity.HIGH,  # Red Hat, SUSE
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,  # GitHub, Red Hat
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
}


class CvssError(ValueError):
    """A CVSS vector that cannot be scored."""


def vendor_severity(label: object) -> str:
    """Our severity for an advisory's own label, or "" when it does not map."""
    if not isinstance(label, str):
        return ""
    return VENDOR_LABELS.get(label.strip().lower(), "")


def most_severe(labels: list[str]) -> str:
    """The most severe of several severities ("" for none)."""
    known = [label for label in labels if label]
    if not known:
        return ""
    return min(known, key=lambda label: SEVERITY_ORDER[Severity(label)])


def severity_from_score(score: Decimal | float | None) -> str:
    if score is None:
        return Severity.UNKNOWN
    score = Decimal(str(score))
    if score >= Decimal("9.0"):
        return Severity.CRITICAL
    if score >= Decimal("7.0"):
        return Severity.HIGH
    if score >= Decimal("4.0"):
        return Severity.MEDIUM
    if score > 0:
        return Severity.LOW
    return Severity.NONE


def severity_decide(
    *,
    vendor: str = "",
    cvss_v4_score: Decimal | None = None,
    cvss_v3_score: Decimal | None = None,
) -> str:
    """Vendor severity if present, else CVSS v4, else CVSS v3.x, else unknown."""
    if vendor:
        return vendor
    if cvss_v4_score is not None:
        return severity_from_score(cvss_v4_score)
    return severity_from_score(cvss_v3_score)


# Feeds repeat a few thousand vectors across all their records, and parsing
# one is the costliest step of reading a record.
@functools.lru_cache(maxsize=8192)
def cvss_v3_score(vector: str) -> Decimal:
    """Base score of a CVSS v3.0 or v3.1 vector."""
    if not vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
        raise CvssError(f"not a CVSS v3 vector: {vector[:80]!r}")
    try:
        return Decimal(str(CVSS3(vector).base_score))
    except CVSSError as exc:
        raise CvssError(f"invalid CVSS v3 vector {vector[:80]!r}: {exc}") from exc


@functools.lru_cache(maxsize=8192)
def cvss_v4_score(vector: str) -> Decimal:
    """Base score of a CVSS v4.0 vector."""
    if not vector.startswith("CVSS:4.0/"):
        raise CvssError(f"not a CVSS v4 vector: {vector[:80]!r}")
    try:
        return Decimal(str(CVSS4(vector).base_score))
    except CVSSError as exc:
        raise CvssError(f"invalid CVSS v4 vector {vector[:80]!r}: {exc}") from exc
