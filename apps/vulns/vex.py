"""Reading and writing VEX documents: OpenVEX (v0.2.0 and legacy v0.0.1) and
CycloneDX VEX (JSON 1.4 to 1.6, and XML).

Pure functions, no database: ``parse_vex`` turns bytes into a ``ParsedDocument``
or refuses them with a ``ValidationError`` on ``document`` whose code says why
(``too_large``, ``invalid_json``, ``invalid_xml``, ``unsafe_xml``,
``unknown_format``, ``unsupported_version``, ``schema``, ``invalid_statement``,
``not_vex``);
``build_openvex`` and ``build_cyclonedx`` turn statements into documents that
validate against their schemas. ``vex_services`` does the reads and writes.

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

import hashlib
import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from django.core.exceptions import ValidationError
from django.utils import timezone
from jsonschema import Draft202012Validator
from packageurl import PackageURL

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
OPENVEX_LEGACY_CONTEXTS = ("https://openvex.dev/ns", "https://openvex.dev/ns/v0.0.1")
CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
CYCLONEDX_EXPORT_VERSION = "1.6"
CYCLONEDX_SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
NO_ACTION_STATED = "No action statement was given in the source document."
VULN_ID_MAX = 100  # Vulnerability.vuln_id
DOCUMENT_ID_MAX = 500  # VexDocument.document_id
AUTHOR_MAX = 255
VERSION_MAX = 2_147_483_647  # VexDocument.version

# Image namespaces of the catalog's own registry: ``pkg:docker/dhi/busybox`` and
# ``pkg:oci/dhi%2Fbusybox`` both name the repository ``busybox``.
CATALOG_NAMESPACES = ("dhi",)
IMAGE_PURL_TYPES = ("oci", "docker")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

# CycloneDX analysis.state -> OpenVEX status.
CDX_STATE_TO_STATUS = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "exploitable": "affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "in_triage": "under_investigation",
}
STATUS_TO_CDX_STATE = {
    "not_affected": "not_affected",
    "affected": "exploitable",
    "fixed": "resolved",
    "under_investigation": "in_triage",
}
# CycloneDX analysis.justification -> the nearest OpenVEX justification.
# code_* map one to one. requires_configuration/_dependency/_environment all say
# "the vulnerable code is there but an attacker cannot reach the condition it
# needs", which is OpenVEX's vulnerable_code_cannot_be_controlled_by_adversary
# (a missing dependency is not component_not_present: the vulnerable component
# itself is present). protected_* all say a control outside the vulnerable code
# stops the attack: inline_mitigations_already_exist. Where the mapping is not
# one to one the original code is kept in the status notes.
CDX_JUSTIFICATION = {
    "code_not_present": "vulnerable_code_not_present",
    "code_not_reachable": "vulnerable_code_not_in_execute_path",
    "requires_configuration": "vulnerable_code_cannot_be_controlled_by_adversary",
    "requires_dependency": "vulnerable_code_cannot_be_controlled_by_adversary",
    "requires_environment": "vulnerable_code_cannot_be_controlled_by_adversary",
    "protected_by_compiler": "inline_mitigations_already_exist",
    "protected_at_runtime": "inline_mitigations_already_exist",
    "protected_at_perimeter": "inline_mitigations_already_exist",
    "protected_by_mitigating_control": "inline_mitigations_already_exist",
}
# OpenVEX justification -> the CycloneDX code an export writes. Importing that
# code gives the justification back, except component_not_present, which
# CycloneDX cannot say (code_not_present is the nearest).
JUSTIFICATION_TO_CDX = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


def _refuse(message: str, code: str) -> ValidationError:
    # The shape the other evidence importers use (apps.vulns.sbom.refuse), so
    # forms and the API show every refused document alike.
    return ValidationError({"document": ValidationError(message, code=code)})


@dataclass(frozen=True)
class ParsedStatement:
    vuln_id: str
    product: str
    subcomponent: str
    status: str
    timestamp: datetime
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    status_notes: str = ""
    index: int = 0  # the statement of the document it comes from

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.vuln_id, self.product, self.subcomponent)


@dataclass
class ParsedDocument:
    format: str  # VexDocument.Format value: "openvex" or "cyclonedx"
    spec_version: str
    document_id: str
    author: str
    issued_at: datetime | None
    version: int
    raw: dict[str, Any]
    statements: list[ParsedStatement] = field(default_factory=list)
    statement_count: int = 0

    @property
    def identity(self) -> str:
        return document_identity(
            format=self.format,
            document_id=self.document_id,
            products=[s.product for s in self.statements],
        )


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def parse_vex(content: bytes, *, max_bytes: int) -> ParsedDocument:
    """Read an OpenVEX or CycloneDX VEX document, or refuse it with the reason."""
    try:
        return _parse(content, max_bytes=max_bytes)
    except RecursionError:
        # Schema validation walks the document recursively; a deep enough
        # nesting (inside the size limit) must be a refusal, not a crash.
        raise _refuse("The document is nested too deeply.", "schema") from None


def _parse(content: bytes, *, max_bytes: int) -> ParsedDocument:
    if len(content) > max_bytes:
        raise _refuse(
            f"The document is {len(content):,} bytes; the limit is {max_bytes:,}.",
            "too_large",
        )
    if not content.strip():
        raise _refuse("The document is empty.", "invalid_json")
    if content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return _parse_cyclonedx_xml(content)
    if b"\\u0000" in content:
        # PostgreSQL stores neither text nor jsonb with a NUL in it.
        raise _refuse(
            "The document contains a NUL character (\\u0000).", "invalid_json"
        )
    try:
        data = json.loads(content.decode("utf-8-sig"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise _refuse(
            f"The document is not UTF-8 text: {exc.reason}.", "invalid_json"
        ) from None
    except json.JSONDecodeError as exc:
        raise _refuse(
            f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            "invalid_json",
        ) from None
    except RecursionError:
        raise _refuse("Invalid JSON: nested too deeply.", "invalid_json") from None
    except ValueError as exc:
        raise _refuse(f"Invalid JSON: {str(exc)[:200]}", "invalid_json") from None
    if not isinstance(data, dict):
        raise _unknown_format("the document is not a JSON object")
    if data.get("bomFormat") == "CycloneDX":
        return _parse_cyclonedx(data)
    context = data.get("@context")
    if isinstance(context, str) and "openvex.dev/ns" in context:
        if context.rstrip("/") == OPENVEX_CONTEXT:
            return _parse_openvex(data)
        if context.rstrip("/") in OPENVEX_LEGACY_CONTEXTS:
            return _parse_openvex_legacy(data)
        raise _refuse(
            f"Unsupported OpenVEX version {context!r}: this portal reads "
            f"{OPENVEX_CONTEXT} and the legacy https://openvex.dev/ns.",
            "unsupported_version",
        )
    if "@context" in data:
        raise _unknown_format(f"@context is {context!r}, not an OpenVEX context")
    if isinstance(data.get("document"), dict) and "csaf_version" in data["document"]:
        raise _unknown_format("CSAF documents are not imported")
    if "spdxVersion" in data or "bomFormat" in data:
        raise _unknown_format("this looks like an SBOM, not VEX")
    raise _unknown_format("neither an OpenVEX @context nor bomFormat CycloneDX")


def _no_constant(name: str) -> None:
    # Python reads NaN and Infinity, which JSON (and PostgreSQL's jsonb) lacks.
    raise ValueError(f"{name} is not a JSON value")


def _unknown_format(why: str) -> ValidationError:
    return _refuse(
        f"Unknown format ({why}). Expected OpenVEX (@context {OPENVEX_CONTEXT}) "
        "or CycloneDX VEX (bomFormat CycloneDX, specVersion 1.4 to 1.6).",
        "unknown_format",
    )


# --------------------------------------------------------------------------
# OpenVEX
# --------------------------------------------------------------------------


@cache
def openvex_validator() -> Draft202012Validator:
    """The official OpenVEX v0.2.0 schema. Formats are not asserted, as in the
    spec's own tooling: DHI's statement ids are bare UUIDs, not IRIs."""
    schema = json.loads((SCHEMA_DIR / "openvex_json_schema.json").read_text())
    return Draft202012Validator(schema)


def openvex_schema_errors(document: Any) -> list[str]:
    """Every schema violation, each as ``<JSON path>: <what is wrong>``."""
    messages = []
    errors = sorted(
        openvex_validator().iter_errors(document),
        key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in e.path],
    )
    for error in errors:
        path = error.json_path
        instance = error.instance
        if (
            error.validator == "oneOf"
            and isinstance(instance, dict)
            and instance.get("status") == "not_affected"
        ):
            what = (
                "a not_affected statement needs a justification or an "
                "impact_statement (exactly one)"
            )
        elif error.validator == "required" and error.validator_value == [
            "action_statement"
        ]:
            what = "an affected statement needs an action_statement"
        else:
            what = (
                error.message
                if len(error.message) <= 300
                else (error.message[:300] + "...")
            )
        messages.append(f"{path}: {what}")
    return messages


def _parse_openvex(data: dict[str, Any]) -> ParsedDocument:
    errors = openvex_schema_errors(data)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise _refuse(f"Not valid OpenVEX v0.2.0: {errors[0]}{more}.", "schema")
    return _openvex_document(data, spec_version="0.2.0")


def _parse_openvex_legacy(data: dict[str, Any]) -> ParsedDocument:
    """vexctl's pre-0.2 documents, normalized to the v0.2.0 shape and checked
    field by field (the v0.2.0 schema would refuse their shape outright)."""
    statements = data.get("statements")
    if not isinstance(statements, list) or not statements:
        raise _refuse("$.statements: a non-empty list is required.", "schema")
    for name in ("@id", "author"):
        if name in data and not isinstance(data[name], str):
            raise _refuse(f"$['{name}']: must be a string.", "schema")
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise _refuse("$.version: must be a whole number.", "schema")
    normalized = [
        _legacy_statement(statement, f"$.statements[{i}]")
        for i, statement in enumerate(statements)
    ]
    return _openvex_document(
        {**data, "version": version, "statements": normalized},
        spec_version="0.0.1",
        raw=data,
    )


def _legacy_statement(statement: Any, path: str) -> dict[str, Any]:
    if not isinstance(statement, dict):
        raise _refuse(f"{path}: a statement must be an object.", "schema")
    vulnerability = statement.get("vulnerability")
    if isinstance(vulnerability, str):
        vulnerability = {"name": vulnerability}
    elif isinstance(vulnerability, dict):
        vulnerability = {"name": vulnerability.get("name") or vulnerability.get("@id")}
    else:
        raise _refuse(
            f"{path}.vulnerability: a vulnerability id is required.", "schema"
        )
    products = statement.get("products") or []
    # v0.0.1 listed subcomponents beside the products they belong to.
    beside = statement.get("subcomponents") or []
    for name, value in (("products", products), ("subcomponents", beside)):
        if not isinstance(value, list):
            raise _refuse(f"{path}.{name}: must be a list.", "schema")
    if beside and not products:
        products = [""]
    normalized_products = []
    for j, product in enumerate(products):
        if isinstance(product, str):
            product = {"@id": product}
        if not isinstance(product, dict):
            raise _refuse(
                f"{path}.products[{j}]: must be a string or object.", "schema"
            )
        subs = product.get("subcomponents") or []
        if not isinstance(subs, list):
            raise _refuse(
                f"{path}.products[{j}].subcomponents: must be a list.", "schema"
            )
        subs = subs + beside
        normalized_products.append(
            {
                **product,
                "subcomponents": [
                    {"@id": sub} if isinstance(sub, str) else sub for sub in subs
                ],
            }
        )
    status = statement.get("status")
    if status not in STATUSES:
        raise _refuse(
            f"{path}.status: {status!r} is not one of {', '.join(STATUSES)}.", "schema"
        )
    justification = statement.get("justification") or ""
    if justification and justification not in JUSTIFICATIONS:
        raise _refuse(
            f"{path}.justification: {justification!r} is not an OpenVEX justification.",
            "schema",
        )
    for name in ("status_notes", "impact_statement", "action_statement", "timestamp"):
        if statement.get(name) is not None and not isinstance(statement[name], str):
            raise _refuse(f"{path}.{name}: must be a string.", "schema")
    return {
        **statement,
        "vulnerability": vulnerability,
        "products": normalized_products,
    }


def _openvex_document(
    data: dict[str, Any], *, spec_version: str, raw: dict[str, Any] | None = None
) -> ParsedDocument:
    issued_at = _parse_time(data.get("timestamp"), "$.timestamp")
    default_time = issued_at or timezone.now()
    document_id = (data.get("@id") or "").strip()
    if len(document_id) > DOCUMENT_ID_MAX:
        raise _refuse(f"$['@id']: longer than {DOCUMENT_ID_MAX} characters.", "schema")
    rows: dict[tuple[str, str, str], ParsedStatement] = {}
    for i, statement in enumerate(data["statements"]):
        path = f"$.statements[{i}]"
        vuln_id = _vuln_id(
            statement["vulnerability"].get("name"), f"{path}.vulnerability.name"
        )
        timestamp = (
            _parse_time(statement.get("timestamp"), f"{path}.timestamp") or default_time
        )
        fields = _settle(
            status=statement["status"],
            justification=statement.get("justification") or "",
            impact_statement=statement.get("impact_statement") or "",
            action_statement=statement.get("action_statement") or "",
            status_notes=statement.get("status_notes") or "",
            where=path,
        )
        for product, subcomponent in _openvex_targets(statement, path):
            _keep_newest(
                rows,
                ParsedStatement(
                    vuln_id=vuln_id,
                    product=canonical_product(product),
                    subcomponent=subcomponent,
                    timestamp=timestamp,
                    index=i,
                    **fields,
                ),
            )
    return ParsedDocument(
        format="openvex",
        spec_version=spec_version,
        document_id=document_id,
        author=(data.get("author") or "").strip()[:AUTHOR_MAX],
        issued_at=issued_at,
        version=_document_version(data["version"]),
        raw=raw if raw is not None else data,
        statements=list(rows.values()),
        statement_count=len(data["statements"]),
    )


def _openvex_targets(statement: dict[str, Any], path: str) -> list[tuple[str, str]]:
    products = statement.get("products") or []
    if not products:
        # Legacy statements may name no product at all; they are kept, though
        # they target nothing in the catalog.
        return [("", "")]
    targets = []
    for j, product in enumerate(products):
        product_id = _component_id(product, f"{path}.products[{j}]", allow_empty=True)
        subcomponents = product.get("subcomponents") or []
        if not subcomponents:
            targets.append((product_id, ""))
        for k, sub in enumerate(subcomponents):
            sub_id = _component_id(sub, f"{path}.products[{j}].subcomponents[{k}]")
            targets.append((product_id, sub_id))
    return targets


def _component_id(item: Any, path: str, *, allow_empty: bool = False) -> str:
    """A product or subcomponent's identifier: its @id, else a purl or CPE from
    ``identifiers``, else its sha-256 hash."""
    value: Any = item
    if isinstance(item, dict):
        identifiers = item.get("identifiers") or {}
        hashes = item.get("hashes") or {}
        value = (
            item.get("@id")
            or identifiers.get("purl")
            or identifiers.get("@cpe23")
            or identifiers.get("@cpe22")
            or (f"sha256:{hashes['sha-256']}" if hashes.get("sha-256") else "")
        )
    if not isinstance(value, str):
        raise _refuse(f"{path}: the identifier must be a string.", "schema")
    value = value.strip()
    if not value and not allow_empty:
        raise _refuse(
            f"{path}: names nothing (give @id or identifiers.purl).", "schema"
        )
    return value


# --------------------------------------------------------------------------
# CycloneDX
# --------------------------------------------------------------------------


@cache
def _cyclonedx_validator(spec_version: str) -> JsonStrictValidator:
    # Building one reads the schema: ~50 ms, so once per version.
    return JsonStrictValidator(SchemaVersion.from_version(spec_version))


def cyclonedx_schema_error(document: dict[str, Any], spec_version: str) -> str | None:
    """The first violation of the official CycloneDX schema (strict: no unknown
    properties), as ``<JSON path>: <what is wrong>``, or None."""
    error = _cyclonedx_validator(spec_version).validate_str(json.dumps(document))
    if error is None:
        return None
    detail = error.data
    message = getattr(detail, "message", str(detail))
    path = getattr(detail, "json_path", "$")
    return f"{path}: {message[:300]}"


def _parse_cyclonedx(data: dict[str, Any]) -> ParsedDocument:
    spec_version = data.get("specVersion")
    if spec_version not in CYCLONEDX_VERSIONS:
        raise _refuse(
            f"Unsupported CycloneDX specVersion {spec_version!r}: this portal reads "
            f"{', '.join(CYCLONEDX_VERSIONS)}.",
            "unsupported_version",
        )
    error = cyclonedx_schema_error(data, spec_version)
    if error:
        raise _refuse(f"Not valid CycloneDX {spec_version}: {error}.", "schema")
    metadata = data.get("metadata") or {}
    issued_at = _parse_time(metadata.get("timestamp"), "$.metadata.timestamp")
    default_time = issued_at or timezone.now()

    refs: dict[str, str] = {}  # bom-ref -> the identifier statements use
    subject = ""
    subject_ref = None
    if metadata.get("component"):
        subject = _cdx_component_id(metadata["component"])
        subject_ref = metadata["component"].get("bom-ref")
    for component in _cdx_components(data.get("components") or []):
        if component.get("bom-ref"):
            refs[component["bom-ref"]] = _cdx_component_id(component)

    rows: dict[tuple[str, str, str], ParsedStatement] = {}
    stated = 0
    for i, vulnerability in enumerate(data.get("vulnerabilities") or []):
        path = f"$.vulnerabilities[{i}]"
        analysis = vulnerability.get("analysis")
        if not analysis:
            # A vulnerability without an analysis is a report, not a VEX
            # statement: nothing is said about exploitability.
            continue
        stated += 1
        if not analysis.get("state"):
            raise _refuse(f"{path}.analysis.state: the VEX state is missing.", "schema")
        vuln_id = _vuln_id(vulnerability.get("id"), f"{path}.id")
        timestamp = default_time
        for name, value in (
            ("analysis.lastUpdated", analysis.get("lastUpdated")),
            ("analysis.firstIssued", analysis.get("firstIssued")),
            ("updated", vulnerability.get("updated")),
            ("published", vulnerability.get("published")),
            ("created", vulnerability.get("created")),
        ):
            found = _parse_time(value, f"{path}.{name}")
            if found:
                timestamp = found
                break
        fields = _cdx_fields(vulnerability, analysis, where=path)

        targets = []
        for k, affect in enumerate(vulnerability.get("affects") or []):
            # The 1.4 schema's affects items have no "type": it lets 1 through.
            if not isinstance(affect, dict) or not isinstance(affect.get("ref"), str):
                raise _refuse(f"{path}.affects[{k}]: needs a ref.", "schema")
            targets.append(_cdx_ref_target(affect["ref"], refs))
        if not targets and vulnerability.get("bom-ref") in refs:
            # JFrog Xray names the affected component by giving the
            # vulnerability the component's bom-ref instead of an affects list.
            targets.append(refs[vulnerability["bom-ref"]])
        if not targets and not subject:
            raise _refuse(
                f"{path}.affects: names no product (no affects[] and no "
                "metadata.component).",
                "invalid_statement",
            )
        for target in targets or [subject]:
            # The BOM's subject is the product; what affects[] names inside it
            # is the subcomponent. Without a subject each target is a product.
            if not subject:
                product, subcomponent = target, ""
            elif target in (subject, subject_ref):
                product, subcomponent = subject, ""
            else:
                product, subcomponent = subject, target
            _keep_newest(
                rows,
                ParsedStatement(
                    vuln_id=vuln_id,
                    product=canonical_product(product),
                    subcomponent=subcomponent,
                    timestamp=timestamp,
                    index=i,
                    **fields,
                ),
            )
    if not rows:
        raise _refuse(
            "This CycloneDX document carries no VEX analysis "
            "(vulnerabilities[].analysis): it is an SBOM or a vulnerability "
            "report, not VEX.",
            "not_vex",
        )
    # The serial number names the BOM across its versions (CycloneDX: a
    # modified BOM keeps it and increments ``version``).
    serial = data.get("serialNumber") or ""
    return ParsedDocument(
        format="cyclonedx",
        spec_version=spec_version,
        document_id=serial[:DOCUMENT_ID_MAX],
        author=_cdx_author(metadata)[:AUTHOR_MAX],
        issued_at=issued_at,
        version=_document_version(data.get("version", 1)),
        raw=data,
        statements=list(rows.values()),
        statement_count=stated,
    )


def _cdx_components(components: list[dict[str, Any]]):
    for component in components:
        yield component
        yield from _cdx_components(component.get("components") or [])


def _cdx_component_id(component: dict[str, Any]) -> str:
    if component.get("purl"):
        return component["purl"]
    if component.get("bom-ref"):
        return component["bom-ref"]
    name = component.get("name", "")
    return f"{name}@{component['version']}" if component.get("version") else name


def _cdx_ref_target(ref: str, refs: dict[str, str]) -> str:
    # A BOM-Link (urn:cdx:<serial>/<version>#<bom-ref>, percent-encoded) names a
    # component of this or another BOM by its bom-ref; some tools write the
    # serial number form (urn:uuid:...#<bom-ref>) instead.
    fragment = ref
    if ref.startswith(("urn:cdx:", "urn:uuid:")) and "#" in ref:
        fragment = unquote(ref.split("#", 1)[1])
    return refs.get(fragment, refs.get(ref, fragment))


def _cdx_author(metadata: dict[str, Any]) -> str:
    names = [a.get("name", "") for a in metadata.get("authors") or [] if a.get("name")]
    if names:
        return ", ".join(names)
    for key in ("supplier", "manufacturer", "manufacture"):
        if (metadata.get(key) or {}).get("name"):
            return metadata[key]["name"]
    return ""


def _cdx_fields(
    vulnerability: dict[str, Any], analysis: dict[str, Any], *, where: str
) -> dict[str, str]:
    state = analysis["state"]
    status = CDX_STATE_TO_STATUS[state]
    code = analysis.get("justification") or ""
    detail = (analysis.get("detail") or "").strip()
    responses = analysis.get("response") or []
    recommendation = (vulnerability.get("recommendation") or "").strip()

    notes: list[str] = []
    if STATUS_TO_CDX_STATE[status] != state:
        notes.append(f"CycloneDX analysis state: {state}.")
    justification = ""
    if code:
        mapped = CDX_JUSTIFICATION[code]
        if status == "not_affected":
            justification = mapped
        if status != "not_affected" or JUSTIFICATION_TO_CDX[mapped] != code:
            notes.append(f"CycloneDX justification: {code}.")
    if responses:
        notes.append(f"CycloneDX response: {', '.join(responses)}.")

    impact = action = ""
    if status == "not_affected":
        if justification:
            notes.insert(0, detail)
        elif detail:
            impact = detail
        elif state == "false_positive":
            impact = "The vulnerability was reported in error (a false positive)."
    elif status == "affected":
        action = recommendation or detail
        if recommendation:
            notes.insert(0, detail)
        elif responses and not detail:
            action = f"Response: {', '.join(responses)}."
    else:
        notes.insert(0, detail)
    return _settle(
        status=status,
        justification=justification,
        impact_statement=impact,
        action_statement=action,
        status_notes="\n".join(note for note in notes if note),
        where=where,
    )


_XML_NS_RE = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(\d+\.\d+)\}bom$")


def _parse_cyclonedx_xml(content: bytes) -> ParsedDocument:
    """CycloneDX XML VEX, read with defusedxml (no DTDs, no entities: an XML
    bomb or an external entity is refused before anything expands) and turned
    into the JSON shape, which is then validated against the JSON schema. Only
    what VEX needs is carried over; other elements are ignored."""
    try:
        root = SafeET.fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _refuse(
            "XML with a DTD or entity declarations is refused (it could be an "
            f"XML bomb or reach outside the document): {type(exc).__name__}.",
            "unsafe_xml",
        ) from None
    except SafeET.ParseError as exc:
        raise _refuse(f"Invalid XML: {exc}.", "invalid_xml") from None
    match = _XML_NS_RE.match(root.tag)
    if not match:
        raise _unknown_format(
            f"the XML root is {root.tag[:100]!r}, not a CycloneDX bom"
        )
    ns = match.group(0)[1:].split("}")[0]
    return _parse_cyclonedx(_cyclonedx_xml_to_json(root, ns, match.group(1)))


def _cyclonedx_xml_to_json(root: Any, ns: str, spec_version: str) -> dict[str, Any]:
    def q(name: str) -> str:
        return f"{{{ns}}}{name}"

    def text(element: Any, name: str) -> str | None:
        child = element.find(q(name))
        if child is None or child.text is None:
            return None
        return child.text.strip()

    def component(element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": element.get("type", "library")}
        if element.get("bom-ref"):
            out["bom-ref"] = element.get("bom-ref")
        for name in ("group", "name", "version", "purl"):
            if text(element, name) is not None:
                out[name] = text(element, name)
        out.setdefault("name", "")
        return out

    version = root.get("version", "1")
    bom: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": spec_version,
        "version": int(version) if version.isdigit() else version,
    }
    if root.get("serialNumber"):
        bom["serialNumber"] = root.get("serialNumber")
    metadata = root.find(q("metadata"))
    if metadata is not None:
        bom["metadata"] = {}
        if text(metadata, "timestamp"):
            bom["metadata"]["timestamp"] = text(metadata, "timestamp")
        if metadata.find(q("component")) is not None:
            bom["metadata"]["component"] = component(metadata.find(q("component")))
        authors = [
            {"name": text(a, "name")}
            for a in metadata.findall(f"{q('authors')}/{q('author')}")
            if text(a, "name")
        ]
        if authors:
            bom["metadata"]["authors"] = authors
    components = root.find(q("components"))
    if components is not None:
        bom["components"] = [component(c) for c in components.iter(q("component"))]
    vulnerabilities = []
    for element in root.findall(f"{q('vulnerabilities')}/{q('vulnerability')}"):
        vulnerability: dict[str, Any] = {}
        if element.get("bom-ref"):
            vulnerability["bom-ref"] = element.get("bom-ref")
        for name in ("id", "recommendation", "created", "published", "updated"):
            if text(element, name) is not None:
                vulnerability[name] = text(element, name)
        analysis = element.find(q("analysis"))
        if analysis is not None:
            out: dict[str, Any] = {}
            for name in (
                "state",
                "justification",
                "detail",
                "firstIssued",
                "lastUpdated",
            ):
                if text(analysis, name) is not None:
                    out[name] = text(analysis, name)
            responses = [
                r.text.strip()
                for r in analysis.findall(f"{q('responses')}/{q('response')}")
                if r.text
            ]
            if responses:
                out["response"] = responses
            vulnerability["analysis"] = out
        affects = [
            {"ref": text(target, "ref") or ""}
            for target in element.findall(f"{q('affects')}/{q('target')}")
        ]
        if affects:
            vulnerability["affects"] = affects
        vulnerabilities.append(vulnerability)
    if vulnerabilities:
        bom["vulnerabilities"] = vulnerabilities
    return bom


# --------------------------------------------------------------------------
# Shared rules
# --------------------------------------------------------------------------


def _settle(
    *,
    status: str,
    justification: str,
    impact_statement: str,
    action_statement: str,
    status_notes: str,
    where: str,
) -> dict[str, str]:
    """Apply the model's and OpenVEX's rules to one statement's fields."""
    justification = justification.strip()
    impact_statement = impact_statement.strip()
    action_statement = action_statement.strip()
    status_notes = status_notes.strip()
    if status == "not_affected":
        if not justification and not impact_statement:
            raise _refuse(
                f"{where}: a not_affected statement needs a justification or an "
                "impact statement.",
                "invalid_statement",
            )
        if justification and impact_statement:
            status_notes = "\n".join(
                part for part in (impact_statement, status_notes) if part
            )
            impact_statement = ""
    if status == "affected" and not action_statement:
        action_statement = NO_ACTION_STATED
    return {
        "status": status,
        "justification": justification,
        "impact_statement": impact_statement,
        "action_statement": action_statement,
        "status_notes": status_notes,
    }


def statement_problems(
    *,
    vuln_id: str,
    status: str,
    justification: str = "",
    impact_statement: str = "",
    action_statement: str = "",
    subcomponent: str = "",
) -> dict[str, str]:
    """What is wrong with a statement a person writes, by field (empty if
    nothing). Stricter than import: nothing is moved or filled in for them."""
    problems: dict[str, str] = {}
    vuln_id = vuln_id.strip()
    if not vuln_id:
        problems["vulnerability_id"] = "Name the vulnerability (e.g. CVE-2024-1234)."
    elif len(vuln_id) > VULN_ID_MAX or re.search(r"\s", vuln_id):
        problems["vulnerability_id"] = (
            "A vulnerability id is one word, at most 100 characters."
        )
    if status not in STATUSES:
        problems["status"] = f"Choose one of {', '.join(STATUSES)}."
    if justification and justification not in JUSTIFICATIONS:
        problems["justification"] = "Choose an OpenVEX justification."
    if status == "not_affected":
        if not justification and not impact_statement.strip():
            problems["justification"] = (
                "A not_affected statement needs a justification or an impact statement."
            )
        elif justification and impact_statement.strip():
            problems["impact_statement"] = (
                "OpenVEX allows a justification or an impact statement, not both: "
                "put the explanation in the status notes."
            )
    if status == "affected" and not action_statement.strip():
        problems["action_statement"] = (
            "An affected statement needs an action statement (what to do)."
        )
    if subcomponent.strip():
        try:
            PackageURL.from_string(subcomponent.strip())
        except ValueError as exc:
            problems["subcomponent"] = f"Not a package URL: {exc}"
    return problems


def _document_version(value: int) -> int:
    # VexDocument.version is a 32-bit column; the schemas allow any integer.
    if value > VERSION_MAX:
        raise _refuse(f"$.version: at most {VERSION_MAX}.", "schema")
    return value


def _vuln_id(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _refuse(f"{path}: a vulnerability id is required.", "schema")
    value = value.strip()
    if len(value) > VULN_ID_MAX:
        raise _refuse(
            f"{path}: a vulnerability id is at most {VULN_ID_MAX} characters.",
            "schema",
        )
    return value


def _parse_time(value: Any, path: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _refuse(f"{path}: a timestamp must be a string.", "schema")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _refuse(
            f"{path}: {value[:60]!r} is not an RFC 3339 timestamp.", "schema"
        ) from None
    if moment.tzinfo is None:
        # RFC 3339 requires an offset; a bare time is read as UTC.
        moment = moment.replace(tzinfo=UTC)
    return moment


def _keep_newest(
    rows: dict[tuple[str, str, str], ParsedStatement], row: ParsedStatement
) -> None:
    current = rows.get(row.key)
    if current is None or row.timestamp >= current.timestamp:
        rows[row.key] = row


# --------------------------------------------------------------------------
# Catalog identifiers
# --------------------------------------------------------------------------


def image_purl(repository_name: str, digest: str | None = None) -> str:
    """``pkg:oci/<name>@sha256:<hex>``, or without a version for every build."""
    return PackageURL(type="oci", name=repository_name, version=digest).to_string()


def product_target(product: str) -> tuple[str | None, str | None]:
    """(digest, repository name) a product identifier names in the catalog.

    ``pkg:oci/<name>@sha256:...`` and ``pkg:docker/...`` name an image; a bare
    ``sha256:`` digest names a build. The catalog's own registry namespace
    (``dhi/``) is not part of the repository name.
    """
    value = product.strip()
    if DIGEST_RE.match(value.lower()):
        return value.lower(), None
    try:
        purl = PackageURL.from_string(value)
    except ValueError:
        return None, None
    if purl.type not in IMAGE_PURL_TYPES:
        return None, None
    name = "/".join(part for part in (purl.namespace, purl.name) if part)
    for namespace in CATALOG_NAMESPACES:
        if name.startswith(f"{namespace}/"):
            name = name[len(namespace) + 1 :]
    version = (purl.version or "").lower()
    digest = version if DIGEST_RE.match(version) else None
    return digest, name or None


def canonical_product(product: str) -> str:
    """One spelling per image: ``pkg:oci/<name>[@sha256:...]`` (or the bare
    digest); a product that names no image is kept as written."""
    digest, name = product_target(product)
    if name:
        return image_purl(name, digest)
    return digest or product


def document_identity(*, format: str, document_id: str, products: list[str]) -> str:
    """Which document a version belongs to: its own id and the images its
    products name (sorted), hashed; "" for a document without an id."""
    if not document_id:
        return ""
    images: set[str] = set()
    for product in products:
        digest, name = product_target(product)
        image = name or digest
        if image:
            images.add(image)
    blob = "\n".join([format, document_id, *sorted(images)])
    return hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportStatement:
    vuln_id: str
    product: str
    subcomponent: str
    status: str
    timestamp: datetime
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    status_notes: str = ""
    aliases: tuple[str, ...] = ()

    def content(self) -> tuple:
        """What makes two statements say the same thing (products aside)."""
        return (
            self.vuln_id,
            self.timestamp,
            self.status,
            self.justification,
            self.impact_statement,
            self.action_statement,
            self.status_notes,
            self.aliases,
        )

    def exportable(self) -> ExportStatement:
        # Rows written other than through our services may break OpenVEX's
        # rules; settle them as the import does so that exports stay valid.
        impact = self.impact_statement
        if self.status == "not_affected" and not (self.justification or impact):
            impact = self.status_notes or "Not affected."
        fields = _settle(
            status=self.status,
            justification=self.justification,
            impact_statement=impact,
            action_statement=self.action_statement,
            status_notes=self.status_notes,
            where=self.vuln_id,
        )
        return ExportStatement(
            vuln_id=self.vuln_id,
            product=self.product,
            subcomponent=self.subcomponent,
            timestamp=self.timestamp,
            aliases=self.aliases,
            **fields,
        )


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _content_hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def build_openvex(
    *, statements: list[ExportStatement], author: str, id_prefix: str
) -> dict[str, Any]:
    """An OpenVEX v0.2.0 document. The same statements give the same bytes and
    the same ``@id``; statements are grouped by what they say and ordered."""
    if not statements:
        raise ValueError("OpenVEX needs at least one statement.")
    groups: dict[tuple, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    settled = [statement.exportable() for statement in statements]
    for statement in settled:
        groups[statement.content()][statement.product].add(statement.subcomponent)
    out = []
    for content in sorted(groups):
        vuln_id, timestamp, status, justification, impact, action, notes, aliases = (
            content
        )
        vulnerability: dict[str, Any] = {"name": vuln_id}
        if aliases:
            vulnerability["aliases"] = list(aliases)
        products: list[dict[str, Any]] = []
        for product, subcomponents in sorted(groups[content].items()):
            if "" in subcomponents:
                products.append({"@id": product})
            named = sorted(sub for sub in subcomponents if sub)
            if named:
                products.append(
                    {"@id": product, "subcomponents": [{"@id": s} for s in named]}
                )
        item: dict[str, Any] = {
            "vulnerability": vulnerability,
            "timestamp": format_time(timestamp),
            "products": products,
            "status": status,
        }
        texts = {
            "justification": justification,
            "impact_statement": impact,
            "action_statement": action,
            "status_notes": notes,
        }
        item.update({name: value for name, value in texts.items() if value})
        out.append(item)
    newest = max(statement.timestamp for statement in settled)
    body = {"author": author, "statements": out}
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": f"{id_prefix}{_content_hash(body)}",
        "author": author,
        "timestamp": format_time(newest),
        "version": 1,
        "statements": out,
    }


def _cdx_component(purl_or_ref: str, component_type: str = "library") -> dict:
    out: dict[str, Any] = {"type": component_type, "bom-ref": purl_or_ref}
    try:
        purl = PackageURL.from_string(purl_or_ref)
    except ValueError:
        out["name"] = purl_or_ref
        return out
    if purl.namespace:
        out["group"] = purl.namespace
    out["name"] = purl.name
    if purl.version:
        out["version"] = purl.version
    out["purl"] = purl_or_ref
    return out


def build_cyclonedx(
    *,
    statements: list[ExportStatement],
    subject: str,
    author: str,
    fallback_timestamp: datetime,
) -> dict[str, Any]:
    """A CycloneDX 1.6 VEX: the image is the BOM's subject, subcomponents are its
    components and each vulnerability's ``affects`` refers to them."""
    settled = [statement.exportable() for statement in statements]
    groups: dict[tuple, set[str]] = defaultdict(set)
    for statement in settled:
        groups[statement.content()].add(statement.subcomponent or subject)
    vulnerabilities = []
    for content in sorted(groups):
        vuln_id, timestamp, status, justification, impact, action, notes, _ = content
        analysis: dict[str, Any] = {"state": STATUS_TO_CDX_STATE[status]}
        if justification:
            analysis["justification"] = JUSTIFICATION_TO_CDX[justification]
        detail = impact if status == "not_affected" and impact else notes
        if detail:
            analysis["detail"] = detail
        analysis["lastUpdated"] = format_time(timestamp)
        vulnerability: dict[str, Any] = {"id": vuln_id, "analysis": analysis}
        if action:
            vulnerability["recommendation"] = action
        vulnerability["affects"] = [{"ref": ref} for ref in sorted(groups[content])]
        vulnerabilities.append(vulnerability)
    subcomponents = sorted(
        {
            s.subcomponent
            for s in settled
            if s.subcomponent and s.subcomponent != subject
        }
    )
    newest = max((s.timestamp for s in settled), default=fallback_timestamp)
    subject_component = _cdx_component(subject, "container")
    body: dict[str, Any] = {
        "metadata": {
            "timestamp": format_time(newest),
            "authors": [{"name": author}],
            "component": subject_component,
        },
        "components": [_cdx_component(sub) for sub in subcomponents],
        "vulnerabilities": vulnerabilities,
    }
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"{subject}#{_content_hash(body)}")
    return {
        "$schema": CYCLONEDX_SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": CYCLONEDX_EXPORT_VERSION,
        "serialNumber": serial.urn,
        "version": 1,
        **body,
    }
