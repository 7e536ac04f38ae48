"""Writers of the outside formats reports are delivered in: the FedRAMP POA&M
workbook (``poam_xlsx``), the PDF/A-3b document with its evidence attached
(``pdfa``) and the OSCAL 1.1.2 documents (``oscal``, which reads them back
too). Pure: plain data in, bytes out; no database."""
