"""Writes for vulnerabilities: OSV and CISA KEV feeds, and matching to findings."""

from .feeds import KevImportReport, OsvImportReport, kev_import, osv_import
from .findings import MatchReport, findings_match

__all__ = [
    "KevImportReport",
    "MatchReport",
    "OsvImportReport",
    "findings_match",
    "kev_import",
    "osv_import",
]
