"""Reading SBOMs: CycloneDX JSON 1.4-1.7 and SPDX JSON 2.2/2.3.

A document is reviewed against its official schema before anything is read
from it (``sbom_schema``): deviations in fields the portal does not read are
returned as warnings, as the tools users run write such documents; one in what
the portal reads refuses it. A refusal is a ``ValidationError`` on ``document``
that says what is wrong, where in the document (a JSON path) and how many places
share the problem. Nothing here touches the database; ``apps.vulns.services.sbom``
stores what this returns. The formats are read in ``cyclonedx`` and ``spdx``;
what they return is ``sbom_parsed``.
"""

from __future__ import annotations

from apps.catalog.formats.document import document_json, refuse

from .cyclonedx import CYCLONEDX_VERSIONS, cyclonedx_parse
from .sbom_parsed import ParsedSbom
from .spdx import SPDX_VERSIONS, is_spdx_3, spdx_parse


def sbom_parse(content: bytes) -> ParsedSbom:
    """Detect the format, review it against its schema, read the components.

    Deviations from the schema in fields the portal does not read come back as
    ``warnings``; one in what it reads refuses the document (``sbom_schema``).
    """
    doc = document_json(content)
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        return cyclonedx_parse(doc)
    if isinstance(doc, dict) and "spdxVersion" in doc:
        return spdx_parse(doc)
    if isinstance(doc, dict) and is_spdx_3(doc):
        raise refuse(
            "SPDX 3 (JSON-LD) is not supported; the portal reads SPDX 2.2 and "
            "2.3 JSON and CycloneDX JSON "
            f"{', '.join(CYCLONEDX_VERSIONS[:-1])} and {CYCLONEDX_VERSIONS[-1]}.",
            "unsupported_version",
        )
    if isinstance(doc, dict) and "SPDXID" in doc:
        raise refuse(
            'An SPDX document without "spdxVersion": the portal reads '
            f"{' and '.join(SPDX_VERSIONS)} JSON, which state it.",
            "unsupported_version",
        )
    raise refuse(
        "Not an SBOM this portal reads: expected CycloneDX JSON "
        '("bomFormat": "CycloneDX") or SPDX JSON ("spdxVersion").',
        "unknown_format",
    )
