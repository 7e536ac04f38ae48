"""Writers of the SLA ledger's outside formats (CSV exports)."""
