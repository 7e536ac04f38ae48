"""Reading SBOMs: CycloneDX JSON 1.4-1.6 and SPDX JSON 2.2/2.3.

A document is checked against its official schema before anything is read from
it: CycloneDX by cyclonedx-python-lib's strict validator (it ships the CycloneDX
schemas), SPDX by the SPDX project's own JSON schemas in ``schemas/`` (see
ATTRIBUTION.md). A refusal is a ``ValidationError`` on ``document`` that says what
is wrong and where in the document (a JSON path). Nothing here touches the
database; ``apps.catalog.evidence`` stores what this returns.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import cyclonedx.schema
import jsonschema_rs
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from django.conf import settings
from django.core.exceptions import ValidationError
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from packageurl import PackageURL
from rfc3986_validator import validate_rfc3986

from apps.catalog.formats.subject import (
    NOT_STATED,
    StatedSubject,
    cyclonedx_subject,
    spdx_described,
    spdx_subject,
)

from .osv import purl_package
from .source_package import (
    SourceHint,
    from_cyclonedx,
    from_spdx,
    from_upstream,
    tools_state_sources,
    with_epoch,
)

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

CYCLONEDX = "cyclonedx"
SPDX = "spdx"
CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
SPDX_VERSIONS = {"SPDX-2.2": "spdx-2.2.schema.json", "SPDX-2.3": "spdx-2.3.schema.json"}
MEDIA_TYPES = {
    CYCLONEDX: "application/vnd.cyclonedx+json",
    SPDX: "application/spdx+json",
}
FORMAT_LABELS = {CYCLONEDX: "CycloneDX", SPDX: "SPDX"}

# Syft before 0.60 wrote Alpine packages as pkg:alpine/<name>; the purl spec's type
# is apk with the distro as namespace, which is what advisories are matched on.
LEGACY_PURL_TYPES = {"alpine": ("apk", "alpine")}
# Distro binaries whose vulnerabilities are filed under the source package.
SOURCE_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})
# Column widths of apps.vulns.models.Component.
FIELD_LIMITS = {
    "type": 32,
    "namespace": 255,
    "name": 255,
    "version": 255,
    "source_name": 255,
    "source_version": 255,
    "distro": 64,
}
NO_LICENSE = frozenset({"", "NOASSERTION", "NONE"})
ERRORS_READ = 50  # schema errors gathered before picking the one to report


def refuse(message: str, code: str) -> ValidationError:
    """The one shape of a refused document, so forms and the API show it alike."""
    return ValidationError({"document": ValidationError(message, code=code)})


@dataclass(frozen=True)
class SbomComponent:
    """One package of an SBOM, named by its normalized package URL."""

    purl: str
    purl_sha256: str
    type: str
    namespace: str
    name: str
    version: str
    source_name: str
    distro: str
    licenses: tuple[str, ...] = ()
    # The version advisories' ranges are compared with, where it is not
    # ``version``: the source package's, or the binary's with its epoch.
    source_version: str = ""
    # False for a distro binary whose document said nothing of its source.
    source_known: bool = True


@dataclass(frozen=True)
class ParsedSbom:
    """What an SBOM says, once it has passed its schema."""

    format: str
    spec_version: str
    media_type: str
    components: tuple[SbomComponent, ...]
    entries: int
    without_purl: int
    summary: dict[str, Any] = field(default_factory=dict)
    # The image the document says it is about (metadata.component, or the
    # package an SPDX document describes).
    subject: StatedSubject = NOT_STATED


# --- Reading the bytes ----------------------------------------------------------


def document_json(content: bytes) -> Any:
    """Parse an evidence document, refusing oversize, non-UTF-8 and non-JSON input.

    The size is checked before a byte is parsed.
    """
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise refuse(
            f"The document is {len(content):,} bytes; the limit is {limit:,} bytes.",
            "too_large",
        )
    if not content.strip():
        raise refuse("The document is empty.", "invalid_json")
    if content.lstrip()[:1] == b"<":
        raise refuse(
            "This looks like XML; only JSON documents are accepted.", "unknown_format"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(
            f"The document is not UTF-8 text (byte {exc.start}).", "invalid_json"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise refuse(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            "invalid_json",
        ) from None
    except (RecursionError, ValueError) as exc:
        raise refuse(f"Not valid JSON: {exc}.", "invalid_json") from None


def _reject_constant(name: str) -> None:
    # Python's json reads NaN and Infinity; JSON has neither.
    raise ValueError(f"{name} is not a JSON value")


# --- Formats and schemas --------------------------------------------------------


def sbom_parse(content: bytes) -> ParsedSbom:
    """Detect the format, validate against its schema, read the components."""
    doc = document_json(content)
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
        version = doc.get("specVersion")
        if not isinstance(version, str) or version not in CYCLONEDX_VERSIONS:
            raise refuse(
                f"CycloneDX {str(version)[:20]!r} is not supported; "
                f"use CycloneDX {', '.join(CYCLONEDX_VERSIONS[:-1])} or "
                f"{CYCLONEDX_VERSIONS[-1]}.",
                "unsupported_version",
            )
        if not _fast_cyclonedx(version).is_valid(doc):
            _schema_check(
                lambda: _cyclonedx_validator(version).validate_str(
                    content.decode("utf-8-sig"), all_errors=True
                ),
                f"CycloneDX {version}",
                unwrap=True,
            )
            _fast_refusal(_fast_cyclonedx(version), doc, f"CycloneDX {version}")
        return _cyclonedx_read(doc)
    if isinstance(doc, dict) and "spdxVersion" in doc:
        version = doc["spdxVersion"]
        if not isinstance(version, str) or version not in SPDX_VERSIONS:
            raise refuse(
                f"{str(version)[:20]!r} is not supported; "
                f"use {' or '.join(SPDX_VERSIONS)} JSON.",
                "unsupported_version",
            )
        if not _fast_spdx(version).is_valid(doc):
            _schema_check(
                lambda: _spdx_validator(version).iter_errors(doc),
                version.replace("-", " "),
            )
            _fast_refusal(_fast_spdx(version), doc, version.replace("-", " "))
        return _spdx_read(doc)
    raise refuse(
        "Not an SBOM this portal reads: expected CycloneDX JSON "
        '("bomFormat": "CycloneDX") or SPDX JSON ("spdxVersion").',
        "unknown_format",
    )


def _schema_check(
    validate: Callable[[], Iterable[Any] | None], schema: str, unwrap=False
) -> None:
    """Refuse with the first problem in document order, named by its JSON path."""
    try:
        errors = validate() or ()
        found: list[SchemaError] = [
            error.data if unwrap else error
            for error in itertools.islice(errors, ERRORS_READ)
        ]
    except RecursionError:
        # Components may nest; the validator recurses once per level.
        raise refuse(
            f"The document nests too deeply to check against the {schema} schema.",
            "schema",
        ) from None
    if not found:
        return
    error = min(found, key=_path_key)
    # "not valid under any of the given schemas" says little; the branch that
    # came closest names the property that is actually wrong.
    while error.context:
        error = best_match(error.context)
    more = len(found) - 1
    tail = ""
    if more:
        at_least = "at least " if len(found) == ERRORS_READ else ""
        tail = f" (and {at_least}{more} more problem{'s' if more > 1 else ''})"
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    raise refuse(
        f"Not valid {schema} at {error.json_path}: {message}{tail}",
        "schema",
    )


def _path_key(error: SchemaError) -> tuple:
    return tuple((isinstance(p, str), p) for p in error.absolute_path)


# CycloneDX's schemas check "iri-reference" with rfc3987-syntax, an Earley parser
# that spends ~50 ms per URL: a 300-package Alpine SBOM carries 300 of them. An
# IRI is valid when its RFC 3987 mapping to a URI is (section 3.1), which the
# regex-based rfc3986-validator checks in microseconds.
_UCSCHAR = (
    (0xA0, 0xD7FF),
    (0xF900, 0xFDCF),
    (0xFDF0, 0xFFEF),
    *((plane, plane + 0xFFFD) for plane in range(0x10000, 0xE0000, 0x10000)),
    (0xE1000, 0xEFFFD),
)
_IPRIVATE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))


def _in_ranges(codepoint: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= codepoint <= high for low, high in ranges)


def _iri_as_uri(value: str) -> str | None:
    """RFC 3987's IRI-to-URI mapping; None when a character is not allowed."""
    out: list[str] = []
    part = "main"
    for char in value:
        codepoint = ord(char)
        if codepoint < 0x80:
            if char == "#":
                part = "fragment"
            elif char == "?" and part == "main":
                part = "query"
            out.append(char)
            continue
        private_ok = part == "query" and _in_ranges(codepoint, _IPRIVATE)
        if not (_in_ranges(codepoint, _UCSCHAR) or private_ok):
            return None
        out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
    return "".join(out)


def _iri_check(rule: str):
    def check(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        uri = _iri_as_uri(instance)
        return uri is not None and validate_rfc3986(uri, rule=rule) is not None

    return check


@cache
def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft7Validator.FORMAT_CHECKER.checkers)
    checker.checks("iri")(_iri_check("URI"))
    checker.checks("iri-reference")(_iri_check("URI_reference"))
    return checker


class _CycloneDxValidator(JsonStrictValidator):
    """The library's strict validator and schemas, with the fast IRI check."""

    _fast = None

    @property
    def _validator(self):
        if self._fast is None:
            self._fast = super()._validator.evolve(format_checker=_format_checker())
        return self._fast


@cache
def _cyclonedx_validator(version: str) -> _CycloneDxValidator:
    return _CycloneDxValidator(SchemaVersion.from_version(version))


# The same official schemas, checked by a compiled validator: about a thousand
# times faster than pure-Python jsonschema on a 300-component SBOM. It decides;
# the Python validator runs only on a refusal, to name the first problem by its
# JSON path in the words the tests and users see.
_CYCLONEDX_RES = Path(cyclonedx.schema.__file__).parent / "_res"
_CYCLONEDX_BASE = "http://cyclonedx.org/schema/"


def _cyclonedx_retrieve(uri: str) -> Any:
    if not uri.startswith(_CYCLONEDX_BASE):
        raise ValueError(f"refusing to fetch {uri}")
    name = uri.removeprefix(_CYCLONEDX_BASE).replace(
        ".schema.json", ".SNAPSHOT.schema.json"
    )
    name = name.replace(".SNAPSHOT.SNAPSHOT.", ".SNAPSHOT.")
    return json.loads((_CYCLONEDX_RES / name).read_text("utf-8"))


@cache
def _fast_cyclonedx(version: str) -> Any:
    schema = json.loads(
        (_CYCLONEDX_RES / f"bom-{version}.SNAPSHOT.schema.json").read_text("utf-8")
    )
    return jsonschema_rs.validator_for(
        schema, validate_formats=True, retriever=_cyclonedx_retrieve
    )


@cache
def _fast_spdx(version: str) -> Any:
    schema = json.loads((SCHEMA_DIR / SPDX_VERSIONS[version]).read_text("utf-8"))
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def _fast_refusal(validator: Any, doc: Any, schema: str) -> None:
    """Refuse when only the compiled validator found a problem."""
    error = next(iter(validator.iter_errors(doc)), None)
    if error is not None:
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path
        )
        raise refuse(f"Not valid {schema} at {path}: {error.message[:300]}", "schema")


@cache
def _spdx_validator(version: str) -> Draft7Validator:
    schema = json.loads((SCHEMA_DIR / SPDX_VERSIONS[version]).read_text("utf-8"))
    return Draft7Validator(schema)


# --- Package URLs ---------------------------------------------------------------


def component_from_purl(
    purl: str,
    *,
    licenses: Iterable[str] = (),
    where: str = "purl",
    source: SourceHint | None = None,
) -> SbomComponent:
    """Normalize a package URL into the component it names.

    ``where`` is the document path reported when the purl is refused;
    ``source`` is what the document says of a distro binary's source package
    outside the purl (properties, pedigree, sourceInfo), which wins over the
    purl's ``upstream`` qualifier.
    """
    try:
        parsed = PackageURL.from_string(purl.strip())
    except ValueError as exc:
        reason = str(exc).rstrip(".")
        raise refuse(
            f"{where}: not a package URL ({reason}).", "invalid_purl"
        ) from None
    qualifiers: dict[str, str] = parsed.qualifiers or {}  # type: ignore[assignment]
    legacy = LEGACY_PURL_TYPES.get(parsed.type)
    if legacy and not parsed.namespace:
        parsed = PackageURL(
            type=legacy[0],
            namespace=legacy[1],
            name=parsed.name,
            version=parsed.version,
            qualifiers=qualifiers,
            subpath=parsed.subpath,
        )
    canonical = parsed.to_string()
    name = parsed.name
    version = parsed.version or ""
    match_version = version
    source_known = True
    distro = qualifiers.get("distro", "")
    if parsed.type in SOURCE_PACKAGE_TYPES:
        source = source or from_upstream(parsed.type, qualifiers.get("upstream", ""))
        source_known = source is not None
        source_name = source.name if source else name
        match_version = (source and source.version) or with_epoch(version, qualifiers)
        if parsed.type == "apk" and distro[:1].isdigit():
            # Trivy names an Alpine release by its number alone.
            distro = f"{parsed.namespace or 'alpine'}-{distro}"
    else:
        # Advisories name Go modules, npm scopes and Maven artifacts in full.
        source_name = purl_package(parsed.type, parsed.namespace or "", name)
    component = SbomComponent(
        purl=canonical,
        purl_sha256=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        type=parsed.type,
        namespace=parsed.namespace or "",
        name=name,
        version=version,
        source_name=source_name,
        distro=distro,
        licenses=tuple(dict.fromkeys(lic for lic in licenses if lic not in NO_LICENSE)),
        source_version="" if match_version == version else match_version,
        source_known=source_known,
    )
    for attr, limit in FIELD_LIMITS.items():
        if len(getattr(component, attr)) > limit:
            raise refuse(
                f"{where}: the {attr.replace('_', ' ')} is longer than {limit} "
                "characters.",
                "invalid_purl",
            )
    return component


# --- CycloneDX ------------------------------------------------------------------


def _cyclonedx_read(doc: dict[str, Any]) -> ParsedSbom:
    entries = 0
    without_purl = 0
    components: dict[str, SbomComponent] = {}
    for path, item in _cyclonedx_components(doc):
        entries += 1
        purl = item.get("purl")
        if not purl:
            without_purl += 1
            continue
        component = component_from_purl(
            purl,
            licenses=_cyclonedx_licenses(item),
            where=f"{path}.purl",
            source=from_cyclonedx(item) if _distro_purl(purl) else None,
        )
        components.setdefault(component.purl, component)
    metadata = doc.get("metadata") or {}
    subject = metadata.get("component") or {}
    summary = {
        "format": FORMAT_LABELS[CYCLONEDX],
        "spec_version": doc["specVersion"],
        "serial_number": doc.get("serialNumber", ""),
        "created": metadata.get("timestamp", ""),
        "tools": _cyclonedx_tools(metadata.get("tools")),
        "subject": {
            key: subject[key]
            for key in ("type", "name", "version", "purl")
            if isinstance(subject.get(key), str)
        },
    }
    return _parsed(
        CYCLONEDX,
        doc["specVersion"],
        components,
        entries,
        without_purl,
        summary,
        cyclonedx_subject(doc),
    )


# Real images nest components a few levels (an archive inside an archive); far
# deeper nesting is a malformed or hostile document.
MAX_COMPONENT_DEPTH = 32


def _cyclonedx_components(doc: dict[str, Any]) -> Iterator[tuple[str, dict]]:
    """Every component, nested ones included, in document order, with its path."""
    stack = [
        (f"$.components[{i}]", item, 1)
        for i, item in enumerate(doc.get("components") or [])
    ]
    stack.reverse()
    while stack:
        path, item, depth = stack.pop()
        if depth > MAX_COMPONENT_DEPTH:
            raise refuse(
                f"Components nest deeper than {MAX_COMPONENT_DEPTH} levels at {path}.",
                "schema",
            )
        yield path, item
        children = [
            (f"{path}.components[{i}]", child, depth + 1)
            for i, child in enumerate(item.get("components") or [])
        ]
        stack.extend(reversed(children))


def _cyclonedx_licenses(item: dict[str, Any]) -> list[str]:
    found = []
    for choice in item.get("licenses") or []:
        if "expression" in choice:
            found.append(choice["expression"])
        elif "license" in choice:
            license_ = choice["license"]
            found.append(license_.get("id") or license_.get("name") or "")
    return found


def _cyclonedx_tools(tools: Any) -> list[str]:
    # 1.4 lists tools; 1.5 and later may name them as components and services.
    if isinstance(tools, dict):
        tools = [*tools.get("components", []), *tools.get("services", [])]
    names = []
    for tool in tools or []:
        vendor = tool.get("vendor") or (tool.get("group") or "")
        words = [vendor, tool.get("name", ""), tool.get("version", "")]
        names.append(" ".join(word for word in words if isinstance(word, str) and word))
    return names


# --- SPDX -----------------------------------------------------------------------


def _spdx_read(doc: dict[str, Any]) -> ParsedSbom:
    described = spdx_described(doc)
    entries = 0
    without_purl = 0
    subject: dict[str, str] = {}
    components: dict[str, SbomComponent] = {}
    for i, package in enumerate(doc.get("packages") or []):
        path = f"$.packages[{i}]"
        purl, purl_path = _spdx_purl(package, path)
        if package["SPDXID"] in described and _is_image(package, purl):
            # The image the SBOM is about, not something inside it.
            subject = {
                "name": package["name"],
                "version": package.get("versionInfo", ""),
            }
            if purl:
                subject["purl"] = purl
            continue
        entries += 1
        if not purl:
            without_purl += 1
            continue
        licenses = [
            package.get("licenseConcluded", ""),
            package.get("licenseDeclared", ""),
        ]
        component = component_from_purl(
            purl,
            licenses=licenses,
            where=purl_path,
            source=from_spdx(package, _spdx_purls(package))
            if _distro_purl(purl)
            else None,
        )
        components.setdefault(component.purl, component)
    creation = doc["creationInfo"]
    summary = {
        "format": FORMAT_LABELS[SPDX],
        "spec_version": doc["spdxVersion"],
        "name": doc["name"],
        "document_namespace": doc.get("documentNamespace", ""),
        "created": creation["created"],
        "tools": list(creation["creators"]),
        "subject": subject,
    }
    version = doc["spdxVersion"].removeprefix("SPDX-")
    return _parsed(
        SPDX, version, components, entries, without_purl, summary, spdx_subject(doc)
    )


def _spdx_purl(package: dict[str, Any], path: str) -> tuple[str, str]:
    for j, ref in enumerate(package.get("externalRefs") or []):
        if ref["referenceType"] == "purl":
            return ref["referenceLocator"], f"{path}.externalRefs[{j}].referenceLocator"
    return "", ""


def _spdx_purls(package: dict[str, Any]) -> list[str]:
    return [
        ref["referenceLocator"]
        for ref in package.get("externalRefs") or ()
        if ref.get("referenceType") == "purl"
    ][1:]


def _distro_purl(purl: str) -> bool:
    return purl.lstrip().lower().startswith(_DISTRO_PURL_PREFIXES)


_DISTRO_PURL_PREFIXES = tuple(
    f"pkg:{t}/" for t in (*SOURCE_PACKAGE_TYPES, *LEGACY_PURL_TYPES)
)


def _sources_known(
    components: dict[str, SbomComponent], tools: list[str]
) -> dict[str, SbomComponent]:
    """Mark every distro binary's source known when the document states any.

    Tools write a binary's source only where it differs from the binary's
    name, so in a document that states some (or comes from a tool known to),
    a binary without one is its own source. A document stating none leaves
    its distro binaries matched by name only: partial coverage.
    """
    unknown = [c for c in components.values() if not c.source_known]
    if not unknown:
        return components
    stated = len(unknown) < sum(
        1 for c in components.values() if c.type in SOURCE_PACKAGE_TYPES
    )
    if stated or tools_state_sources(tools):
        for component in unknown:
            components[component.purl] = replace(component, source_known=True)
    return components


def _is_image(package: dict[str, Any], purl: str) -> bool:
    if package.get("primaryPackagePurpose") == "CONTAINER":
        return True
    return purl.startswith(("pkg:oci/", "pkg:docker/"))


def _parsed(
    fmt: str,
    version: str,
    components: dict[str, SbomComponent],
    entries: int,
    without_purl: int,
    summary: dict[str, Any],
    subject: StatedSubject,
) -> ParsedSbom:
    components = _sources_known(components, summary.get("tools") or [])
    summary |= {
        "components": entries,
        "components_with_purl": entries - without_purl,
        "components_without_purl": without_purl,
        "unique_purls": len(components),
        "source_unknown": sum(1 for c in components.values() if not c.source_known),
    }
    return ParsedSbom(
        format=fmt,
        spec_version=version,
        media_type=MEDIA_TYPES[fmt],
        components=tuple(components.values()),
        entries=entries,
        without_purl=without_purl,
        summary=summary,
        subject=subject,
    )
