"""Writers of the outside formats reports are delivered in: the FedRAMP POA&M
workbook (``poam_xlsx``) and the PDF/A-3b document with its evidence attached
(``pdfa``). Pure: plain data in, bytes out; no database."""
