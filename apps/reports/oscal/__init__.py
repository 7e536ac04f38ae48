"""The organization's OSCAL 1.1.2 documents, made from the SLA ledger and the
mirrored images' evidence: a POA&M (``poam``), Assessment Results for a window
(``results``) and a Component Definition (``components``). What they share
(identities, parties, one clock as an item) is in ``common``; the OSCAL
itself is written by ``formats.oscal`` with compliance-trestle's models."""
