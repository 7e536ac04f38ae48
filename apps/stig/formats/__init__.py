"""STIG results documents: XCCDF/ARF results and STIG Viewer checklists.

Pure readers and writers, from bytes to plain data and back; nothing here
touches the database. ``parsed`` is the shape every reader returns.
"""
