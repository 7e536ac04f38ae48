"""Reading and writing VEX documents: OpenVEX (v0.2.0 and legacy v0.0.1) and
CycloneDX VEX (JSON 1.4 to 1.6, and XML).

Pure functions, no database: ``parse_vex`` turns bytes into a ``ParsedDocument``
or refuses them with a ``ValidationError`` on ``document`` whose code says why
(``too_large``, ``invalid_json``, ``invalid_xml``, ``unsafe_xml``,
``unknown_format``, ``unsupported_version``, ``schema``, ``invalid_statement``,
``not_vex``). The formats are read in ``openvex`` and ``cyclonedx_vex``, into
the shape of ``vex_parsed``; ``openvex.build_openvex`` and
``cyclonedx_vex.build_cyclonedx`` turn statements into documents that validate
against their schemas. ``apps.vulns.services.vex`` does the writes around them
and ``apps.vulns.selectors.vex`` the reads.

Decisions, so that they are made once:

- A document that declares OpenVEX v0.2.0 (``@context``
  ``https://openvex.dev/ns/v0.2.0``) must validate against the official schema.
  vexctl's ``v020-*.vex.json`` test documents (no document timestamp) and its
  SARIF examples (a non-schema ``statement`` field) are refused with the path.
- A document with the pre-0.2 context (``https://openvex.dev/ns`` or
  ``.../v0.0.1``) takes the legacy path: ``vulnerability`` and ``products`` may be
  plain strings, statement-level ``subcomponents`` apply to every product,
  ``version`` and ``timestamp`` may be missing. It is normalized to the v0.2.0
  shape and checked field by field (with paths) instead of by the schema.
- Anything else, including an empty ``@context``, is an unknown format.
- A document's count of statements is what it states (OpenVEX ``statements``,
  CycloneDX ``vulnerabilities`` with an analysis). Each is stored as one row per
  (vulnerability, product, subcomponent), carrying the statement's index: a
  product without subcomponents is one row with an empty subcomponent. Within a
  document the newest statement for a key wins, as OpenVEX says later statements
  do.
- Products that name the same image are one product: ``pkg:docker/dhi/busybox``
  and ``pkg:oci/dhi%2Fbusybox`` are both stored as ``pkg:oci/busybox``, so a
  statement listing both is not stored twice (DHI's documents list both).
- A document's identity is its own id (OpenVEX ``@id``, CycloneDX
  ``serialNumber``) together with the images it is about: Docker Hardened
  Images publish every image's VEX under one ``@id``, so the id alone would
  make the VEX of one image replace another's. A document with the same
  identity and a higher (version, timestamp) replaces the older one.
- A not_affected statement carries a justification or an impact statement, and
  OpenVEX v0.2.0 allows only one of them: when a legacy or CycloneDX document
  gives both, the justification is kept and the impact statement moves to the
  status notes, so what is stored can always be exported validly.
- An affected statement needs an action statement (OpenVEX v0.2.0); a legacy or
  CycloneDX document without one gets ``NO_ACTION_STATED``.
"""

from __future__ import annotations

from apps.catalog.formats.document import document_loads, refuse

from .cyclonedx_vex import cyclonedx_vex_parse, cyclonedx_vex_xml_parse
from .openvex import OPENVEX_LEGACY_CONTEXTS, openvex_legacy_parse, openvex_parse
from .vex_parsed import OPENVEX_CONTEXT, ParsedDocument, unknown_format


def parse_vex(content: bytes, *, max_bytes: int) -> ParsedDocument:
    """Read an OpenVEX or CycloneDX VEX document, or refuse it with the reason."""
    try:
        return _parse(content, max_bytes=max_bytes)
    except RecursionError:
        # Schema validation walks the document recursively; a deep enough
        # nesting (inside the size limit) must be a refusal, not a crash.
        raise refuse("The document is nested too deeply.", "schema") from None


def _parse(content: bytes, *, max_bytes: int) -> ParsedDocument:
    if len(content) > max_bytes:
        raise refuse(
            f"The document is {len(content):,} bytes; the limit is {max_bytes:,}.",
            "too_large",
        )
    if not content.strip():
        raise refuse("The document is empty.", "invalid_json")
    if content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return cyclonedx_vex_xml_parse(content)
    # Bounded, and refusing NUL, which PostgreSQL stores in neither text nor jsonb.
    data = document_loads(content, max_bytes=max_bytes)
    if not isinstance(data, dict):
        raise unknown_format("the document is not a JSON object")
    if data.get("bomFormat") == "CycloneDX":
        return cyclonedx_vex_parse(data)
    context = data.get("@context")
    if isinstance(context, str) and "openvex.dev/ns" in context:
        if context.rstrip("/") == OPENVEX_CONTEXT:
            return openvex_parse(data)
        if context.rstrip("/") in OPENVEX_LEGACY_CONTEXTS:
            return openvex_legacy_parse(data)
        raise refuse(
            f"Unsupported OpenVEX version {context!r}: this portal reads "
            f"{OPENVEX_CONTEXT} and the legacy https://openvex.dev/ns.",
            "unsupported_version",
        )
    if "@context" in data:
        raise unknown_format(f"@context is {context!r}, not an OpenVEX context")
    if isinstance(data.get("document"), dict) and "csaf_version" in data["document"]:
        raise unknown_format("CSAF documents are not imported")
    if "spdxVersion" in data or "bomFormat" in data:
        raise unknown_format("this looks like an SBOM, not VEX")
    raise unknown_format("neither an OpenVEX @context nor bomFormat CycloneDX")
