"""Outside formats the vulnerability data comes in and goes out as: CycloneDX and
SPDX SBOMs, OSV records, the CISA KEV catalog, OpenVEX and CycloneDX VEX.

Pure readers and writers, from bytes to plain data and back; nothing here
touches the database (the services store what the readers return).
"""
