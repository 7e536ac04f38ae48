"""Writes for vulnerabilities: OSV and CISA KEV feeds, matching to findings,
and VEX (imported documents and the publisher's own statements)."""

from .findings import MatchReport, findings_match
from .kev import KevImportReport, kev_import
from .osv import OsvImportReport, osv_import
from .vex import (
    VexImported,
    vex_document_withdraw,
    vex_import,
    vex_imported,
    vex_statements_link,
)
from .vex_authoring import vex_statement_author

__all__ = [
    "KevImportReport",
    "MatchReport",
    "OsvImportReport",
    "VexImported",
    "findings_match",
    "kev_import",
    "osv_import",
    "vex_document_withdraw",
    "vex_import",
    "vex_imported",
    "vex_statement_author",
    "vex_statements_link",
]
