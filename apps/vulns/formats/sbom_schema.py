"""An SBOM against its official schema: what is refused, what is only recorded.

Real tools break their format's schema in fields the portal never reads: Syft's
SPDX 2.2 packages lack ``copyrightText``, npm writes ``git@github.com:owner/repo``
as a URL. Such a document is imported and every deviation is kept as a warning,
grouped ("14 packages lack copyrightText"). A deviation in what the portal
reads (``USED`` below: package URLs, names, versions, licenses, what the
document says it is about) refuses the document, naming the first place and
how many share the problem.

A schema error is classified by where it points:

- a missing property: refused when the portal needs it (``needed``);
- a wrong value at a field the portal reads, or inside one: refused, unless
  its keyword is one the portal reads past (an SPDX licence id newer than the
  schema's list is still a licence);
- the wrong type of an object or array that holds a field the portal reads
  (``components`` not a list): refused;
- anything else: a warning.

The schemas are CycloneDX's as cyclonedx-python-lib ships them and the SPDX
project's in ``apps/vulns/schemas/`` (see ATTRIBUTION.md), checked by the compiled
``jsonschema_rs`` validator. A valid document costs one ``is_valid`` call.
Pure functions: nothing here touches the database.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cyclonedx.schema
import jsonschema_rs

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
SPDX_SCHEMAS = {"SPDX-2.2": "spdx-2.2.schema.json", "SPDX-2.3": "spdx-2.3.schema.json"}

ERRORS_READ = 100_000  # a document breaking more rules than this is not read on
WARNINGS_KEPT = 50  # groups of deviations recorded; the rest are counted
MESSAGE_MAX = 300

Pattern = tuple[str, ...]


@dataclass(frozen=True)
class SbomWarning:
    """One kind of deviation from the schema, and how many places show it."""

    message: str
    count: int
    path: str  # the first place, as a JSON path

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "count": self.count, "path": self.path}


@dataclass(frozen=True)
class SchemaReview:
    """Deviations the portal reads past, and the first that it cannot."""

    warnings: tuple[SbomWarning, ...] = ()
    refusal: str = ""


VALID = SchemaReview()


@dataclass(frozen=True)
class _Rules:
    used: dict[Pattern, frozenset[str]]  # field -> keywords read past there
    needed: frozenset[Pattern]
    holders: frozenset[Pattern]  # objects and arrays that hold a used field


def _rules(used: dict[Pattern, Iterable[str]], needed: Iterable[Pattern]) -> _Rules:
    holders = {p[:n] for p in used for n in range(len(p))}
    return _Rules(
        used={p: frozenset(keywords) for p, keywords in used.items()},
        needed=frozenset(needed),
        holders=frozenset(holders),
    )


# "*" is any array index. Nested CycloneDX components are read like top-level
# ones, so their paths are folded onto components[*] before matching.
_COMPONENT: Pattern = ("components", "*")
_TOOL_FIELDS = ("vendor", "group", "name", "version")

CYCLONEDX_RULES = _rules(
    used={
        ("bomFormat",): (),
        ("specVersion",): (),
        **{(*_COMPONENT, key): () for key in ("type", "name", "version", "purl")},
        # The licence id is kept as written; the schema's list of SPDX ids
        # trails the SPDX licence list.
        (*_COMPONENT, "licenses", "*", "license", "id"): ("enum",),
        (*_COMPONENT, "licenses", "*", "license", "name"): (),
        (*_COMPONENT, "licenses", "*", "expression"): (),
        # Where Trivy and Syft state a distro binary's source package.
        (*_COMPONENT, "properties", "*", "name"): (),
        (*_COMPONENT, "properties", "*", "value"): (),
        # What the document is about (apps.catalog.formats.subject).
        **{
            ("metadata", "component", key): ()
            for key in ("type", "name", "version", "purl", "bom-ref")
        },
        ("metadata", "component", "hashes", "*", "alg"): (),
        ("metadata", "component", "hashes", "*", "content"): (),
        ("metadata", "component", "properties", "*", "name"): (),
        ("metadata", "component", "properties", "*", "value"): (),
        # The tools, named in the attestation's summary.
        **{("metadata", "tools", "*", key): () for key in _TOOL_FIELDS},
        **{
            ("metadata", "tools", group, "*", key): ()
            for group in ("components", "services")
            for key in _TOOL_FIELDS
        },
    },
    needed=[(*_COMPONENT, "type"), (*_COMPONENT, "name")],
)

_PACKAGE: Pattern = ("packages", "*")
_RELATIONSHIP_FIELDS = ("spdxElementId", "relationshipType", "relatedSpdxElement")

SPDX_RULES = _rules(
    used={
        ("spdxVersion",): (),
        ("name",): (),
        ("creationInfo", "created"): (),
        ("creationInfo", "creators"): (),
        ("documentDescribes",): (),
        **{
            (*_PACKAGE, key): ()
            for key in (
                "SPDXID",
                "name",
                "versionInfo",
                "licenseConcluded",
                "licenseDeclared",
                "sourceInfo",
            )
        },
        # Read as "CONTAINER or something else"; a purpose the schema does
        # not list is something else.
        (*_PACKAGE, "primaryPackagePurpose"): ("enum",),
        (*_PACKAGE, "externalRefs", "*", "referenceType"): (),
        (*_PACKAGE, "externalRefs", "*", "referenceLocator"): (),
        (*_PACKAGE, "checksums", "*", "algorithm"): ("enum",),
        (*_PACKAGE, "checksums", "*", "checksumValue"): (),
        # Only DESCRIBES and DESCRIBED_BY are read; other types are skipped.
        ("relationships", "*", "relationshipType"): ("enum",),
        ("relationships", "*", "spdxElementId"): (),
        ("relationships", "*", "relatedSpdxElement"): (),
    },
    needed=[
        ("spdxVersion",),
        ("name",),
        ("creationInfo",),
        ("creationInfo", "created"),
        ("creationInfo", "creators"),
        (*_PACKAGE, "SPDXID"),
        (*_PACKAGE, "name"),
        (*_PACKAGE, "externalRefs", "*", "referenceType"),
        (*_PACKAGE, "externalRefs", "*", "referenceLocator"),
        (*_PACKAGE, "checksums", "*", "algorithm"),
        (*_PACKAGE, "checksums", "*", "checksumValue"),
        *(("relationships", "*", key) for key in _RELATIONSHIP_FIELDS),
    ],
)

# Keywords that say an object or array is not one: nothing inside it can be read.
_STRUCTURAL = frozenset({"type", "anyOf", "oneOf", "falseSchema"})
_UNDEFINED = frozenset({"additionalProperties", "unevaluatedProperties"})
# More than one branch of a oneOf matched: there is no closer branch to blame.
_ONE_OF_MANY = jsonschema_rs.ValidationErrorKind.OneOfMultipleValid


# --- Validators -----------------------------------------------------------------

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
def cyclonedx_validator(version: str) -> Any:
    schema = json.loads(
        (_CYCLONEDX_RES / f"bom-{version}.SNAPSHOT.schema.json").read_text("utf-8")
    )
    return jsonschema_rs.validator_for(
        schema, validate_formats=True, retriever=_cyclonedx_retrieve
    )


@cache
def spdx_validator(version: str) -> Any:
    schema = json.loads((SCHEMA_DIR / SPDX_SCHEMAS[version]).read_text("utf-8"))
    return jsonschema_rs.validator_for(schema, validate_formats=True)


# --- Review ---------------------------------------------------------------------


def cyclonedx_review(doc: dict[str, Any], version: str) -> SchemaReview:
    return _review(
        cyclonedx_validator(version), doc, CYCLONEDX_RULES, f"CycloneDX {version}"
    )


def spdx_review(doc: dict[str, Any], version: str) -> SchemaReview:
    return _review(spdx_validator(version), doc, SPDX_RULES, version.replace("-", " "))


@dataclass(frozen=True)
class _Problem:
    path: tuple[str | int, ...]  # where it is (for a missing property: its owner)
    pattern: Pattern  # the field it concerns, indices as "*"
    keyword: str
    detail: str  # the missing or undefined property, the format, the types
    message: str

    @property
    def group(self) -> tuple[Pattern, str, str]:
        return self.pattern, self.keyword, self.detail


def _review(
    validator: Any, doc: dict[str, Any], rules: _Rules, schema: str
) -> SchemaReview:
    if validator.is_valid(doc):
        return VALID
    errors = itertools.islice(validator.iter_errors(doc), ERRORS_READ)
    problems = [p for error in errors for p in _problems(error)]
    refused = [p for p in problems if _refused(rules, p)]
    if refused:
        first = min(refused, key=_path_key)
        sharing = sum(1 for p in refused if p.group == first.group)
        tail = ""
        if sharing > 1:
            tail = f" ({sharing} {_noun(first.pattern)} share this problem)"
        message = first.message
        if len(message) > MESSAGE_MAX:
            message = message[:MESSAGE_MAX] + "..."
        return SchemaReview(
            refusal=f"Not valid {schema} at {json_path(first.path)}: {message}{tail}"
        )
    return SchemaReview(warnings=_grouped(problems))


def _problems(error: Any) -> Iterator[_Problem]:
    """The leaf problems of one error: anyOf/oneOf descend to the closest branch."""
    kind = error.kind
    keyword = kind.name
    if keyword in ("anyOf", "oneOf") and getattr(kind, "context", None):
        branches = [branch for branch in kind.context if branch]
        if branches and not isinstance(kind, _ONE_OF_MANY):
            # The branch whose problems lie deepest is the one the document
            # meant (an object, not the legacy array); then the fewest.
            branch = max(
                branches,
                key=lambda errs: (min(len(e.instance_path) for e in errs), -len(errs)),
            )
            for sub in branch:
                yield from _problems(sub)
            return
    path = tuple(error.instance_path)
    if keyword == "required":
        prop = str(kind.property)
        yield _Problem(path, _pattern((*path, prop)), keyword, prop, error.message)
    elif keyword in _UNDEFINED:
        for prop in kind.unexpected:
            yield _Problem(
                path,
                _pattern((*path, prop)),
                keyword,
                str(prop),
                f"{prop!r} is not a property the schema defines here",
            )
    else:
        detail = ""
        if keyword == "format":
            detail = str(kind.format)
        elif keyword == "type":
            detail = " or ".join(kind.types)
        yield _Problem(path, _pattern(path), keyword, detail, error.message)


def _pattern(path: Iterable[str | int]) -> Pattern:
    pattern = tuple("*" if isinstance(p, int) else str(p) for p in path)
    while pattern[:4] == _COMPONENT * 2:
        pattern = pattern[2:]
    return pattern


def _refused(rules: _Rules, problem: _Problem) -> bool:
    pattern, keyword = problem.pattern, problem.keyword
    if keyword in _UNDEFINED:
        return False
    if keyword == "required":
        return pattern in rules.needed
    for end in range(len(pattern), 0, -1):
        read_past = rules.used.get(pattern[:end])
        if read_past is not None:
            return keyword not in read_past
    return pattern in rules.holders and keyword in _STRUCTURAL


def _path_key(problem: _Problem) -> tuple:
    return tuple((isinstance(p, str), p) for p in problem.path)


def json_path(path: Iterable[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


# --- Warnings -------------------------------------------------------------------


def _grouped(problems: list[_Problem]) -> tuple[SbomWarning, ...]:
    groups: dict[tuple[Pattern, str, str], list[_Problem]] = {}
    for problem in sorted(problems, key=_path_key):
        groups.setdefault(problem.group, []).append(problem)
    warnings = [_warning(found) for found in groups.values()]
    if len(warnings) > WARNINGS_KEPT:
        rest = warnings[WARNINGS_KEPT - 1 :]
        places = sum(w.count for w in rest)
        warnings = [
            *warnings[: WARNINGS_KEPT - 1],
            SbomWarning(
                message=f"{len(rest)} more kinds of deviation from the schema, "
                f"in {places:,} places",
                count=places,
                path=rest[0].path,
            ),
        ]
    return tuple(warnings)


def _warning(found: list[_Problem]) -> SbomWarning:
    first = found[0]
    where = json_path(first.path)
    if len(found) == 1:
        message = first.message
        if len(message) > MESSAGE_MAX:
            message = message[:MESSAGE_MAX] + "..."
        return SbomWarning(message=f"{where}: {message}", count=1, path=where)
    things = f"{len(found):,} {_noun(first.pattern)}"
    field = _field(first.pattern)
    keyword, detail = first.keyword, first.detail
    if keyword == "required":
        said = f"lack {detail}"
    elif keyword in _UNDEFINED:
        said = f"carry {detail}, which the schema does not define"
    elif keyword == "format":
        said = f"have a {field} that is not a valid {detail}"
    elif keyword == "type":
        said = f"have a {field} that is not of type {detail}"
    elif keyword == "enum":
        said = f"have a {field} that is not one of the values the schema lists"
    elif keyword == "pattern":
        said = f"have a {field} that does not match the schema's pattern"
    else:
        said = f"have a {field} that breaks the schema's {keyword} rule"
    return SbomWarning(
        message=f"{things} {said} (e.g. {where})", count=len(found), path=where
    )


def _noun(pattern: Pattern) -> str:
    """What the last array in a pattern lists ("packages", "externalRefs")."""
    if "*" not in pattern:
        return "places"
    last = len(pattern) - 1 - pattern[::-1].index("*")
    return pattern[last - 1] if last else "items"


def _field(pattern: Pattern) -> str:
    """The field of an array's element a pattern ends at ("url", "license.id")."""
    if "*" not in pattern:
        return ".".join(pattern) or "value"
    last = len(pattern) - 1 - pattern[::-1].index("*")
    return ".".join(pattern[last + 1 :]) or "value"
