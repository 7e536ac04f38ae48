"""A report checked against itself and the ledger before it is signed.

Each check is named, reads one part of a report (its evidence, the PDF, the
evidence bundle or the POA&M workbook) and returns violations, each with a
message a person can act on; a check that returns none holds. The pipeline
(``services.pipeline``) runs them after the evidence is built and the file made, and
a report that fails one is neither signed nor offered for download.

The ledger recounts are written here, not borrowed from the code that made
the report, so they can disagree with it. A recount runs while the ledger
keeps moving: clocks created after the build began may or may not be in the
report, so the report must hold every clock of its window the ledger had when
the build began and none it did not have when the build ended.

``reports_check_stored`` runs the same checks on stored ready reports, from
their stored evidence JSON and files.

The checks come in four families, run in this order: ``contents`` (what the
evidence says, against itself and the ledger), ``fedramp`` (the FedRAMP VER
documents the evidence carries), ``files`` (the PDF, the POA&M workbook, the
evidence bundle's zip and the stored files) and ``oscal`` (the OSCAL
documents, alone and in a bundle); ``base`` holds what they share and
``runner`` runs them.
"""
