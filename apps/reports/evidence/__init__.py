"""The evidence a report is made from, as plain data, and its canonical JSON.

``document.build_evidence`` reads the ledger, entitlements and catalog evidence
for a report through the same selectors the portal's pages use, so the figures
in a report are the figures on the pages, one module per kind of report:
``compliance`` (with its ``ledger`` and ``mirrored`` sections), ``dossier`` and
``performance``. Everything is turned into JSON values on the way
(``common``): times as ISO-8601 UTC strings, decimals and percentages as
strings, lists in a stable order. ``document.canonical_json`` then writes it
with sorted keys and compact separators, so the same inputs give the same bytes
and hash.

Large tables (the clock appendix, an image's components) are read in chunks
of plain values, never as a whole table of model instances.
"""
