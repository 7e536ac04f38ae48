"""Writers of outside formats every app shares: the spreadsheet cells of the
CSV and XLSX exports (``spreadsheet``). Pure: plain data in, text or bytes
out; no Django, no app."""
